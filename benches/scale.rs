//! `cargo bench --bench scale`: how many mailboxes one Mailport keeps polled on time.
//!
//! Each scenario starts the sandbox and `mailport serve` as separate processes: the sandbox
//! with N mailboxes behind a Graph-like link (30 ms round trip, 20 ms server time, set for
//! all of them in one control call), Mailport with one client-credentials credential and N
//! accounts in `keep` mode created through `POST /api/v1/accounts`. After a warm-up of one
//! poll interval (counted from the last account's creation), the sandbox's request log is
//! cleared and three intervals are measured.
//!
//! Scenarios (pick with `MAILPORT_BENCH=name[,name...]`; default all, about 20 minutes):
//! - `n1000-60s`, `n10000-60s`: 1,000 and 10,000 mailboxes polled every 60 s;
//! - `n1000-10s`: 1,000 mailboxes polled every 10 s;
//! - `fairness`: 1,000 mailboxes polled every 60 s while one more imports 20,000 messages.
//!
//! Printed per scenario: polls per second needed and achieved, poll lag p50/p99/max (from
//! the sandbox's log: the gaps between one mailbox's delta requests minus the interval, for
//! each mailbox the time since its last request beyond the interval at the end, and for a
//! mailbox never polled in the window the window minus the interval, a lower bound), the
//! mailboxes never polled in the window, Mailport's CPU (cores, averaged over the window)
//! and peak RSS, database growth per hour, and the time of `GET /accounts` and
//! `GET /api/v1/accounts` (median of 5).
//!
//! `MAILPORT_BENCH_BIN=/path/to/mailport` measures another build of Mailport (the sandbox
//! is always this build's). A build without the accounts API gets its accounts through the
//! form, as an administrator would have created them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use mailport::import::lag::percentile;
use mailport::sandbox::world::{DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_TENANT_ID};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

mod common;

use common::{cpu_secs, start_sandbox};

const ADMIN: &str = "admin";
const PASSWORD: &str = "bench password 1234";
const DOMAIN: &str = "contoso.onmicrosoft.com";

struct Scenario {
    name: &'static str,
    mailboxes: usize,
    interval: u64,
    /// Messages waiting in one extra mailbox (imported while the others are polled).
    backlog: usize,
}

const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "n1000-60s",
        mailboxes: 1000,
        interval: 60,
        backlog: 0,
    },
    Scenario {
        name: "n1000-10s",
        mailboxes: 1000,
        interval: 10,
        backlog: 0,
    },
    Scenario {
        name: "n10000-60s",
        mailboxes: 10_000,
        interval: 60,
        backlog: 0,
    },
    Scenario {
        name: "fairness",
        mailboxes: 1000,
        interval: 60,
        backlog: 20_000,
    },
];

/// A child process killed when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

fn mailport_bin() -> PathBuf {
    std::env::var_os("MAILPORT_BENCH_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_mailport")))
}

async fn start_mailport(http: &Client, data_dir: &Path) -> (Proc, String) {
    let mut add = Command::new(mailport_bin())
        .args(["user", "add", ADMIN, "--password-stdin", "--data-dir"])
        .arg(data_dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("user add");
    {
        use std::io::Write;
        let mut stdin = add.stdin.take().expect("stdin");
        writeln!(stdin, "{PASSWORD}").expect("password");
    }
    assert!(add.wait().expect("user add").success(), "user add failed");
    let port = free_port();
    let child = Proc(
        Command::new(mailport_bin())
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--data-dir",
            ])
            .arg(data_dir)
            .env("MAILPORT_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("start mailport"),
    );
    let base = format!("http://127.0.0.1:{port}");
    for _ in 0..200 {
        if http
            .get(format!("{base}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return (child, base);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("mailport did not start");
}

fn csrf_of(page: &str) -> String {
    const FIELD: &str = "name=\"csrf_token\" value=\"";
    let at = page.find(FIELD).expect("csrf field") + FIELD.len();
    page[at..at + page[at..].find('"').expect("end")].to_string()
}

/// Signs in; returns the session's CSRF token.
async fn sign_in(http: &Client, base: &str) -> String {
    let page = http
        .get(format!("{base}/login"))
        .send()
        .await
        .expect("login page");
    let csrf = csrf_of(&page.text().await.expect("page"));
    let r = http
        .post(format!("{base}/login"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("username", ADMIN),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .expect("login");
    assert!(r.status().is_redirection(), "login: {}", r.status());
    let page = http
        .get(format!("{base}/credentials/new"))
        .send()
        .await
        .expect("form");
    csrf_of(&page.text().await.expect("page"))
}

async fn create_credential(http: &Client, base: &str, sandbox: &str, csrf: &str) {
    let token_url = format!("{sandbox}/{DEMO_TENANT_ID}/oauth2/v2.0/token");
    let r = http
        .post(format!("{base}/credentials"))
        .form(&[
            ("csrf_token", csrf),
            ("id", "app"),
            ("grant_type", "client_credentials"),
            ("access_token_url", token_url.as_str()),
            ("client_id", DEMO_CLIENT_ID),
            ("client_secret", DEMO_CLIENT_SECRET),
            ("scope", "https://graph.microsoft.com/.default"),
            ("client_auth", "post"),
        ])
        .send()
        .await
        .expect("credential");
    assert!(r.status().is_redirection(), "credential: {}", r.status());
    let r = http
        .post(format!("{base}/credentials/app/token"))
        .form(&[("csrf_token", csrf)])
        .send()
        .await
        .expect("token");
    assert!(r.status().is_redirection(), "token: {}", r.status());
}

fn mailbox(n: usize) -> String {
    format!("box{n:05}@{DOMAIN}")
}

/// Creates the accounts through the API (or the form, for a build without it), 8 at a time.
async fn create_accounts(
    http: &Client,
    base: &str,
    sandbox: &str,
    csrf: &str,
    count: usize,
    interval: u64,
) {
    let graph = format!("{sandbox}/v1.0");
    let probe = http
        .post(format!("{base}/api/v1/accounts"))
        .header("x-csrf-token", csrf)
        .json(&json!({}))
        .send()
        .await
        .expect("probe");
    let by_api = probe.status() != StatusCode::METHOD_NOT_ALLOWED;
    futures_util::stream::iter(1..=count)
        .map(|n| {
            let graph = graph.clone();
            async move {
                let id = format!("acct{n:05}");
                let mailbox = mailbox(n);
                let r = if by_api {
                    http.post(format!("{base}/api/v1/accounts"))
                        .header("x-csrf-token", csrf)
                        .json(&json!({
                            "id": id, "mailbox": mailbox, "credential_id": "app",
                            "after_import": "keep", "graph_url": graph,
                            "poll_interval": interval, "enabled": true,
                        }))
                        .send()
                        .await
                } else {
                    let interval = interval.to_string();
                    http.post(format!("{base}/accounts"))
                        .form(&[
                            ("csrf_token", csrf),
                            ("id", &id),
                            ("mailbox", &mailbox),
                            ("folder", "Inbox"),
                            ("credential_id", "app"),
                            ("after_import", "keep"),
                            ("graph_url", &graph),
                            ("poll_interval", &interval),
                            ("enabled", "on"),
                        ])
                        .send()
                        .await
                };
                let r = r.expect("create account");
                assert!(
                    r.status().is_success() || r.status().is_redirection(),
                    "account {id}: {}",
                    r.status()
                );
            }
        })
        .buffer_unordered(8)
        .collect::<Vec<()>>()
        .await;
}

fn peak_rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

/// Bytes the database holds (its pages in use, the WAL's committed pages included).
async fn db_bytes(data_dir: &Path) -> i64 {
    use sqlx::ConnectOptions;
    let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(data_dir.join("mailport.db"))
        .read_only(true)
        .connect()
        .await
        .expect("open db");
    let q = |p: &'static str| sqlx::query_scalar::<_, i64>(p);
    let pages = q("PRAGMA page_count")
        .fetch_one(&mut conn)
        .await
        .unwrap_or(0);
    let free = q("PRAGMA freelist_count")
        .fetch_one(&mut conn)
        .await
        .unwrap_or(0);
    let size = q("PRAGMA page_size")
        .fetch_one(&mut conn)
        .await
        .unwrap_or(0);
    (pages - free) * size
}

/// Median time of 5 GETs, in milliseconds.
async fn page_time(http: &Client, url: &str) -> f64 {
    let mut times = Vec::new();
    for _ in 0..5 {
        let start = Instant::now();
        let r = http.get(url).send().await.expect("page");
        assert!(r.status().is_success(), "{url}: {}", r.status());
        let _ = r.bytes().await;
        times.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    times[2]
}

fn unix_secs(rfc3339: &str) -> Option<f64> {
    let t = time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .ok()?;
    Some(t.unix_timestamp_nanos() as f64 / 1e9)
}

async fn run(s: &Scenario) {
    let http = Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(120))
        .build()
        .expect("client");
    let sandbox_proc = start_sandbox();
    let sandbox = sandbox_proc.base.clone();
    let total = s.mailboxes + usize::from(s.backlog > 0);
    let r = http
        .post(format!("{sandbox}/_sandbox/graph/mailboxes"))
        .json(&json!({"count": total, "prefix": "box", "settings": {"latency_ms": 30, "delay_ms": 20}}))
        .send()
        .await
        .expect("mailboxes");
    assert!(r.status().is_success(), "mailboxes: {}", r.status());
    // The big mailbox is the last one.
    let big = (s.backlog > 0).then(|| mailbox(total));
    if let Some(big) = &big {
        let mut left = s.backlog;
        while left > 0 {
            let n = left.min(1000);
            let r = http
                .post(format!(
                    "{sandbox}/_sandbox/graph/mailboxes/{big}/folders/inbox/generate"
                ))
                .json(&json!({"count": n, "size": 3000, "attachments": 0, "seed": left as u64}))
                .send()
                .await
                .expect("seed");
            assert!(r.status().is_success(), "seed: {}", r.status());
            left -= n;
        }
    }

    let data_dir = tempfile::tempdir().expect("tempdir");
    let (mailport, base) = start_mailport(&http, data_dir.path()).await;
    let pid = mailport.0.id();
    let csrf = sign_in(&http, &base).await;
    create_credential(&http, &base, &sandbox, &csrf).await;
    let created = Instant::now();
    create_accounts(&http, &base, &sandbox, &csrf, total, s.interval).await;
    let creating = created.elapsed();

    // Warm-up: every account has had an interval to get its first poll (and delta sync).
    tokio::time::sleep(Duration::from_secs(s.interval) + Duration::from_secs(5)).await;
    let r = http
        .delete(format!("{sandbox}/_sandbox/graph/log"))
        .send()
        .await
        .expect("log reset");
    assert!(r.status().is_success());
    let window = Duration::from_secs(3 * s.interval);
    let t0 = Instant::now();
    let cpu0 = cpu_secs(pid).unwrap_or(0.0);
    let db0 = db_bytes(data_dir.path()).await;
    tokio::time::sleep(window).await;
    let cpu1 = cpu_secs(pid).unwrap_or(0.0);
    let db1 = db_bytes(data_dir.path()).await;
    let measured = t0.elapsed().as_secs_f64();
    let log: Value = http
        .get(format!("{sandbox}/_sandbox/graph/log?kind=delta"))
        .send()
        .await
        .expect("log")
        .json()
        .await
        .expect("log json");
    let log_end = time::OffsetDateTime::now_utc().unix_timestamp_nanos() as f64 / 1e9;

    // Delta requests name the mailbox by UPN in the path; the big one stays out of the lag.
    let big_id = big.as_ref().map(|upn| upn.to_lowercase());
    let mut per_mailbox: HashMap<String, Vec<f64>> = HashMap::new();
    let mut polls = 0usize;
    let mut big_requests = 0usize;
    for e in log["entries"].as_array().into_iter().flatten() {
        let path = e["path"]
            .as_str()
            .unwrap_or_default()
            .to_lowercase()
            .replace("%40", "@");
        let Some(upn) = path
            .strip_prefix("/v1.0/users/")
            .and_then(|p| p.split('/').next())
        else {
            continue;
        };
        if big_id.as_deref() == Some(upn) {
            big_requests += 1;
            continue;
        }
        if let Some(at) = e["received_at"].as_str().and_then(unix_secs) {
            polls += 1;
            per_mailbox.entry(upn.to_string()).or_default().push(at);
        }
    }
    let interval = s.interval as f64;
    let mut lags = Vec::new();
    for times in per_mailbox.values_mut() {
        times.sort_by(f64::total_cmp);
        for pair in times.windows(2) {
            lags.push((pair[1] - pair[0] - interval).max(0.0));
        }
        if let Some(last) = times.last() {
            lags.push((log_end - last - interval).max(0.0));
        }
    }
    let never = s.mailboxes - per_mailbox.len();
    // A mailbox never polled in the window is at least this late.
    lags.extend(std::iter::repeat_n(measured - interval, never));
    lags.sort_by(f64::total_cmp);
    let accounts_page = page_time(&http, &format!("{base}/accounts")).await;
    let api_page = page_time(&http, &format!("{base}/api/v1/accounts")).await;
    let imported: i64 = {
        use sqlx::ConnectOptions;
        let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(data_dir.path().join("mailport.db"))
            .read_only(true)
            .connect()
            .await
            .expect("open db");
        sqlx::query_scalar("SELECT COUNT(*) FROM messages")
            .fetch_one(&mut conn)
            .await
            .unwrap_or(0)
    };
    println!(
        "{}: {} mailboxes every {} s{} — accounts created in {:.0} s",
        s.name,
        s.mailboxes,
        s.interval,
        if s.backlog > 0 {
            format!(", plus one importing {} messages", s.backlog)
        } else {
            String::new()
        },
        creating.as_secs_f64()
    );
    println!(
        "  polls/s needed {:.1}, achieved {:.1}; lag p50 {:.2} s, p99 {:.2} s, max {:.2} s; never polled {} of {}",
        s.mailboxes as f64 / interval,
        polls as f64 / measured,
        percentile(&lags, 0.5),
        percentile(&lags, 0.99),
        lags.last().copied().unwrap_or(0.0),
        never,
        s.mailboxes
    );
    println!(
        "  mailport CPU {:.2} cores, peak RSS {:.0} MiB; database growth {:.2} MB/hour",
        (cpu1 - cpu0) / measured,
        peak_rss_mib(pid),
        (db1 - db0) as f64 / 1e6 * 3600.0 / measured
    );
    println!("  GET /accounts {accounts_page:.1} ms, GET /api/v1/accounts {api_page:.1} ms");
    if s.backlog > 0 {
        println!(
            "  big mailbox: {imported} of {} messages imported by the end, {big_requests} delta pages in the window",
            s.backlog
        );
    }
}

#[tokio::main]
async fn main() {
    let chosen = std::env::var("MAILPORT_BENCH").ok();
    let picked: Vec<&Scenario> = SCENARIOS
        .iter()
        .filter(|s| {
            chosen
                .as_deref()
                .is_none_or(|c| c.split(',').any(|n| n.trim() == s.name))
        })
        .collect();
    if picked.is_empty() {
        let names: Vec<&str> = SCENARIOS.iter().map(|s| s.name).collect();
        eprintln!(
            "MAILPORT_BENCH names no scenario; known: {}",
            names.join(", ")
        );
        std::process::exit(2);
    }
    println!("Mailport under test: {}", mailport_bin().display());
    for s in picked {
        run(s).await;
    }
}
