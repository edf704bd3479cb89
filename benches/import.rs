//! `cargo bench --bench import`: imports mail from a sandbox running in its own process and
//! compares with the raw-download limit measured in the same run.
//!
//! Scenarios (pick with MAILPORT_BENCH=name[,name...]; default all):
//! - small: 2,000 messages of about 30 KB, `move` mode, over loopback;
//! - large: 20 messages of about 20 MB, `move` mode, over loopback (peak RSS);
//! - wan-move, wan-keep: 1,000 messages of about 30 KB, `move` or `keep` mode, with the
//!   sandbox emulating a Graph-like link (round trip, server time, per-download throughput);
//! - wan-large: 20 messages of about 20 MB, `move` mode, on that link;
//! - sustained-move, sustained-keep: 1,000 messages of about 30 KB on that link with the
//!   mailbox's request budget binding (Microsoft's rate over a short window).
//!
//! For each it prints messages per second for the importer and for a bare HTTP client that
//! fetches the same `$value` bytes with the same concurrency (4) over the same link, Graph
//! requests per imported message from the sandbox's counters, and the importer's CPU time and
//! peak RSS.
//!
//! Each import scenario runs on SQLite and then, when PostgreSQL is installed, again on a
//! fresh database of a throwaway PostgreSQL cluster (`tests/common/postgres.rs`; the data dir
//! is moved there with `mailport migrate-to-postgres`, raw messages go into the database),
//! with a fresh sandbox; it prints PostgreSQL's import rate as a ratio of SQLite's.
//! MAILPORT_BENCH_BACKENDS=sqlite (or postgres) runs one backend only.
//!
//! - webhooks: the import of 2,000 x 30 KB over loopback without an endpoint, with one that
//!   nothing sends for (the outbox rows alone), and with one whose deliveries a `mailport serve`
//!   on the same data dir sends to the sandbox's receiver meanwhile; then JSON deliveries per
//!   second to that receiver for 2,000 queued messages;
//! - webhooks-wan: the same with 1,000 messages on the Graph-like link (the deliveries still
//!   over loopback), where the import waits for Graph as in production.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use mailport::sandbox::world::{DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_TENANT_ID};
use mailport::store::accounts;
use serde_json::{Value, json};

mod common;

use common::{Sandbox, cpu_secs, move_to_postgres, postgres, start_sandbox};

const USER: &str = "adele@contoso.onmicrosoft.com";
const CONCURRENCY: usize = 4;

async fn seed(http: &reqwest::Client, sandbox: &Sandbox, count: usize, size: usize) {
    // Generate in batches so that no single control request holds everything.
    let mut left = count;
    while left > 0 {
        let n = left.min(200);
        let r = http
            .post(format!(
                "{}/_sandbox/graph/mailboxes/{USER}/folders/inbox/generate",
                sandbox.base
            ))
            .json(&json!({"count": n, "size": size, "attachments": 1, "seed": left as u64}))
            .send()
            .await
            .expect("seed");
        assert!(r.status().is_success(), "seed failed: {}", r.status());
        left -= n;
    }
}

async fn app_token(http: &reqwest::Client, sandbox: &Sandbox) -> String {
    let r: Value = http
        .post(format!(
            "{}/{DEMO_TENANT_ID}/oauth2/v2.0/token",
            sandbox.base
        ))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", DEMO_CLIENT_ID),
            ("client_secret", DEMO_CLIENT_SECRET),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("token json");
    r["access_token"]
        .as_str()
        .expect("access_token")
        .to_string()
}

/// The importer's view of the budget: requests per window, the window a little longer than
/// the sandbox's. Exchange counts a request when it arrives, a client dates it when it leaves;
/// the margin covers the way in between (the emulated link's 30 ms round trip here).
fn client_budget(budget: (u64, u64)) -> (usize, Duration) {
    let (requests, window) = budget;
    let margin = (window as f64 / 600.0).max(0.05);
    (
        requests as usize,
        Duration::from_secs_f64(window as f64 + margin),
    )
}

/// The raw limit: every message's `$value` with a bare client, same concurrency, pacing itself
/// to the same request budget as the importer (so that neither wastes time on 429s).
async fn raw_download(
    http: &reqwest::Client,
    sandbox: &Sandbox,
    budget: (u64, u64),
) -> (usize, u64, Duration) {
    let (budget_requests, budget_window) = client_budget(budget);
    let sent = tokio::sync::Mutex::new(std::collections::VecDeque::<tokio::time::Instant>::new());
    let sent = &sent;
    let list: Value = http
        .get(format!(
            "{}/_sandbox/graph/mailboxes/{USER}/folders/inbox/messages",
            sandbox.base
        ))
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("list json");
    let ids: Vec<String> = list["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter_map(|m| m["immutable_id"].as_str().map(str::to_string))
        .collect();
    let token = app_token(http, sandbox).await;
    let start = Instant::now();
    let bytes: u64 = futures_util::stream::iter(ids.iter())
        .map(|id| {
            let url = format!("{}/v1.0/users/{USER}/messages/{id}/$value", sandbox.base);
            let req = http
                .get(url)
                .bearer_auth(&token)
                .header("Prefer", "IdType=\"ImmutableId\"");
            async move {
                // Room in the budget's sliding window, in turn.
                {
                    let mut sent = sent.lock().await;
                    loop {
                        let now = tokio::time::Instant::now();
                        while sent.front().is_some_and(|t| now - *t >= budget_window) {
                            sent.pop_front();
                        }
                        if sent.len() < budget_requests {
                            sent.push_back(now);
                            break;
                        }
                        let free_at = sent[0] + budget_window;
                        tokio::time::sleep_until(free_at).await;
                    }
                }
                // Refused anyway: wait as told, as any client must.
                let response = loop {
                    let response = req
                        .try_clone()
                        .expect("clonable request")
                        .send()
                        .await
                        .expect("value");
                    if response.status() != reqwest::StatusCode::TOO_MANY_REQUESTS {
                        break response;
                    }
                    let wait = response
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<f64>().ok())
                        .unwrap_or(1.0);
                    tokio::time::sleep(Duration::from_secs_f64(wait)).await;
                };
                assert!(
                    response.status().is_success(),
                    "raw $value: {}",
                    response.status()
                );
                let mut n = 0u64;
                let mut stream = response.bytes_stream();
                while let Some(chunk) = stream.next().await {
                    n += chunk.expect("chunk").len() as u64;
                }
                n
            }
        })
        .buffer_unordered(CONCURRENCY)
        .fold(0u64, |acc, n| async move { acc + n })
        .await;
    (ids.len(), bytes, start.elapsed())
}

/// A data dir with a client-credentials credential and a disabled account on the sandbox.
async fn prepare_data_dir(sandbox: &Sandbox, after: accounts::AfterImport) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let account = accounts::AccountSettings {
        enabled: false,
        ..mailport::demo::sandbox_account("bench", "bench", &sandbox.base, after)
    };
    mailport::demo::prepare_data_dir(dir.path(), &sandbox.base, &account)
        .await
        .expect("data dir");
    dir
}

/// What `mailport import` runs measured: time, peak RSS (KiB), CPU seconds, messages imported.
struct ImportRun {
    elapsed: Duration,
    peak_kib: u64,
    cpu_secs: f64,
    imported: u64,
}

/// Runs `mailport import` until `expected` messages are in (or a run finds nothing). `budget` is the mailbox's request
/// budget as the sandbox enforces it; the importer is told the same, as in production where
/// its default is Microsoft's (10,000 per 600 s, kept with a 1 s margin).
fn run_importer(
    data_dir: &std::path::Path,
    database_url: Option<&str>,
    sandbox_base: &str,
    budget: (u64, u64),
    expected: u64,
) -> ImportRun {
    let (requests, window) = client_budget(budget);
    let budget_arg = format!("{requests}/{}", window.as_secs_f64());
    let start = Instant::now();
    let mut run = ImportRun {
        elapsed: Duration::ZERO,
        peak_kib: 0,
        cpu_secs: 0.0,
        imported: 0,
    };
    for _ in 0..20 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mailport"))
            .args(["import", "--account", "bench", "--data-dir"])
            .arg(data_dir)
            .args(["--graph-request-budget", &budget_arg])
            .args(database_url.map_or(vec![], |url| {
                vec![
                    "--database-url".to_string(),
                    url.to_string(),
                    "--secret-key-file".to_string(),
                    data_dir.join("secret.key").display().to_string(),
                ]
            }))
            // The sandbox is the one host besides Microsoft's that may receive tokens.
            .args(["--allow-host", sandbox_base.trim_start_matches("http://")])
            .env("MAILPORT_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .expect("import");
        let pid = child.id();
        let mut cpu = 0.0;
        loop {
            if let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
                for line in status.lines() {
                    if let Some(v) = line.strip_prefix("VmHWM:") {
                        let kib: u64 = v.trim().trim_end_matches("kB").trim().parse().unwrap_or(0);
                        run.peak_kib = run.peak_kib.max(kib);
                    }
                }
            }
            cpu = cpu_secs(pid).unwrap_or(cpu);
            if child.try_wait().expect("wait").is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        run.cpu_secs += cpu;
        let out = child.wait_with_output().expect("output");
        let text = String::from_utf8_lossy(&out.stdout);
        let imported = text
            .split(", ")
            .find_map(|part| part.strip_suffix(" imported"))
            .and_then(|n| n.trim().parse::<u64>().ok())
            .unwrap_or(0);
        run.imported += imported;
        // Stop when everything is in: the raw client gets no extra round either.
        if imported == 0 || run.imported >= expected {
            break;
        }
    }
    run.elapsed = start.elapsed();
    run
}

/// How the sandbox's Graph behaves on the wire ([`MailboxSettings`] of the sandbox).
#[derive(Clone, Copy)]
struct Link {
    /// Network round trip per request (no mailbox slot held).
    latency_ms: u64,
    /// Server time per request (holding one of the mailbox's 4 slots).
    delay_ms: u64,
    /// `$value` throughput per request, bytes per second (0: unlimited).
    value_bytes_per_sec: u64,
    /// The mailbox's request budget: requests per window of seconds (Microsoft: 10,000 / 600).
    budget: (u64, u64),
}

/// Microsoft's budget: 10,000 requests per 10 minutes per app and mailbox.
const GRAPH_BUDGET: (u64, u64) = (10_000, 600);

const LOOPBACK: Link = Link {
    latency_ms: 0,
    delay_ms: 0,
    value_bytes_per_sec: 0,
    budget: GRAPH_BUDGET,
};

/// A Graph-like link: tens of milliseconds per request and a few MB/s per download.
const WAN: Link = Link {
    latency_ms: 30,
    delay_ms: 20,
    value_bytes_per_sec: 8_000_000,
    budget: GRAPH_BUDGET,
};

/// The same link where the request budget binds, as it does in any import longer than a few
/// minutes: Microsoft's rate (16.7 requests per second) over a 3-second window instead of 10
/// minutes, so that the benchmark spans 20 and more windows in a minute or two, not hours.
const WAN_SUSTAINED: Link = Link {
    budget: (50, 3),
    ..WAN
};

struct Scenario {
    name: &'static str,
    count: usize,
    size: usize,
    after: accounts::AfterImport,
    link: Link,
}

/// Which database an import scenario runs on.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Backend {
    Sqlite,
    Postgres,
}

/// Runs the scenario on each backend asked for; returns the import rates (msg/s).
async fn scenario_on_backends(sc: &Scenario) {
    let which =
        std::env::var("MAILPORT_BENCH_BACKENDS").unwrap_or_else(|_| "sqlite,postgres".into());
    let mut rates = Vec::new();
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let name = format!("{backend:?}").to_lowercase();
        if !which.split(',').any(|w| w.trim() == name) {
            continue;
        }
        if backend == Backend::Postgres && !postgres::installed() {
            continue;
        }
        // Commits as durable as SQLite's (fsync on): a fair comparison.
        postgres::DURABLE.store(true, std::sync::atomic::Ordering::Relaxed);
        rates.push((backend, scenario(sc, backend).await));
    }
    if let [(Backend::Sqlite, sqlite), (Backend::Postgres, pg)] = rates[..] {
        println!(
            "-- {}: PostgreSQL / SQLite import rate: {:.2}x ({pg:.1} / {sqlite:.1} msg/s)",
            sc.name,
            pg / sqlite
        );
    }
}

async fn scenario(sc: &Scenario, backend: Backend) -> f64 {
    let http = reqwest::Client::new();
    let sandbox = start_sandbox();
    seed(&http, &sandbox, sc.count, sc.size).await;
    set_link(&http, &sandbox, &sc.link).await;
    let (n, bytes, raw_time) = raw_download(&http, &sandbox, sc.link.budget).await;
    if sc.link.budget.1 <= 60 {
        // Let the raw client's requests leave the budget window before the importer starts.
        tokio::time::sleep(Duration::from_secs(sc.link.budget.1)).await;
    }
    let data_dir = prepare_data_dir(&sandbox, sc.after).await;
    let database_url = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(move_to_postgres(data_dir.path()).await),
    };
    http.delete(format!("{}/_sandbox/graph/log", sandbox.base))
        .send()
        .await
        .expect("reset log");
    let run = tokio::task::spawn_blocking({
        let path = data_dir.path().to_path_buf();
        let base = sandbox.base.clone();
        let budget = sc.link.budget;
        let expected = n as u64;
        move || run_importer(&path, database_url.as_deref(), &base, budget, expected)
    })
    .await
    .expect("importer");
    let log: Value = http
        .get(format!("{}/_sandbox/graph/log", sandbox.base))
        .send()
        .await
        .expect("log")
        .json()
        .await
        .expect("log json");
    let requests = log["total"].as_u64().unwrap_or(0);
    let imported = run.imported as f64;
    let raw_rate = n as f64 / raw_time.as_secs_f64();
    let import_rate = imported / run.elapsed.as_secs_f64();
    let link = sc.link;
    println!(
        "== {} [{}]: {n} messages, {:.1} MB in total, after_import={}, link: {} ms round trip + {} ms server, {}, budget {} requests / {} s",
        sc.name,
        match backend {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        },
        bytes as f64 / 1e6,
        sc.after.as_str(),
        link.latency_ms,
        link.delay_ms,
        match link.value_bytes_per_sec {
            0 => "unlimited $value throughput".to_string(),
            r => format!("{:.1} MB/s per $value", r as f64 / 1e6),
        },
        link.budget.0,
        link.budget.1
    );
    println!(
        "raw download (bare client, {CONCURRENCY} concurrent): {raw_rate:.1} msg/s, {:.1} MB/s",
        bytes as f64 / 1e6 / raw_time.as_secs_f64()
    );
    println!(
        "mailport import (separate process):      {import_rate:.1} msg/s ({:.2}x raw), {} of {n} imported",
        import_rate / raw_rate,
        run.imported
    );
    println!(
        "graph requests per imported message:     {:.2} ({requests} requests)",
        requests as f64 / imported.max(1.0)
    );
    println!(
        "importer CPU:                            {:.2} s ({:.0} us per message)",
        run.cpu_secs,
        run.cpu_secs * 1e6 / imported.max(1.0)
    );
    println!(
        "importer peak RSS:                       {:.1} MB",
        run.peak_kib as f64 / 1024.0
    );
    import_rate
}

/// Adds a JSON webhook endpoint `id` (every account) to the sandbox's receiver `id`, and
/// gives the receiver the secret, so that it verifies every signature as an application would.
async fn add_endpoint(
    http: &reqwest::Client,
    data_dir: &std::path::Path,
    sandbox: &Sandbox,
    id: &str,
) {
    use mailport::store::webhooks;
    let db = mailport::store::connect(&data_dir.join("mailport.db"))
        .await
        .expect("db");
    let (key, _) = mailport::crypto::MasterKey::load(data_dir)
        .expect("key")
        .expect("the prepared data dir has a key");
    let secret = mailport::webhooks::signature::new_secret();
    let settings = webhooks::Settings {
        id: id.into(),
        description: String::new(),
        url: format!("{}/_sandbox/receiver/{id}", sandbox.base),
        accounts: None,
        payload: webhooks::Payload::Json,
        include_attachments_mb: 0,
        enabled: true,
    };
    let blob = key.encrypt_str(&webhooks::secret_context(id), secret.expose());
    webhooks::insert(&db, &settings, &format!("bench{id}"), &blob)
        .await
        .expect("endpoint");
    db.close().await;
    let r = http
        .put(format!("{}/_sandbox/receiver/{id}", sandbox.base))
        .json(&json!({"secrets": [secret.expose()]}))
        .send()
        .await
        .expect("receiver");
    assert!(r.status().is_success());
}

/// Waits until the sandbox's receiver `name` answered 200 to `count` requests; the time.
async fn wait_received(
    http: &reqwest::Client,
    sandbox: &Sandbox,
    name: &str,
    count: usize,
) -> Duration {
    let start = Instant::now();
    loop {
        let got: Value = http
            .get(format!(
                "{}/_sandbox/receiver/{name}/deliveries",
                sandbox.base
            ))
            .send()
            .await
            .expect("deliveries")
            .json()
            .await
            .expect("json");
        let ok = got["deliveries"]
            .as_array()
            .map(|d| {
                d.iter()
                    .filter(|r| r["answer"] == "200" && r["signature_valid"] == true)
                    .count()
            })
            .unwrap_or(0);
        if ok >= count {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(600),
            "{name}: {ok} of {count} delivered"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A fresh sandbox holding `count` messages of about 30 KB behind `link`.
async fn webhook_sandbox(http: &reqwest::Client, count: usize, link: &Link) -> Sandbox {
    let sandbox = start_sandbox();
    seed(http, &sandbox, count, 30_000).await;
    set_link(http, &sandbox, link).await;
    sandbox
}

async fn set_link(http: &reqwest::Client, sandbox: &Sandbox, link: &Link) {
    let response = http
        .patch(format!(
            "{}/_sandbox/graph/mailboxes/{USER}/settings",
            sandbox.base
        ))
        .json(&json!({
            "latency_ms": link.latency_ms,
            "delay_ms": link.delay_ms,
            "value_bytes_per_sec": link.value_bytes_per_sec,
            "budget_requests": link.budget.0,
            "budget_window_secs": link.budget.1,
        }))
        .send()
        .await
        .expect("link settings");
    assert!(response.status().is_success(), "link settings refused");
}

/// The import with and without one endpoint, on `link` (`name` says which), then the
/// deliveries per second (those always over loopback, to the sandbox's receiver).
async fn webhooks_scenario(name: &str, count: usize, link: Link) {
    let http = reqwest::Client::new();
    println!("== {name}: {count} x 30 KB, without and with one JSON endpoint");
    // A fresh sandbox for each import, so that no import eats into the request budget
    // (10,000 per 10 minutes) of the next.
    let sandbox = webhook_sandbox(&http, count, &link).await;
    let plain = prepare_data_dir(&sandbox, accounts::AfterImport::Move).await;
    let path = plain.path().to_path_buf();
    let base = sandbox.base.clone();
    let without = tokio::task::spawn_blocking(move || {
        run_importer(&path, None, &base, GRAPH_BUDGET, count as u64)
    })
    .await
    .expect("importer");

    // With an endpoint but nothing sending: the cost of the outbox rows alone.
    drop(sandbox);
    let sandbox = webhook_sandbox(&http, count, &link).await;
    let quiet = prepare_data_dir(&sandbox, accounts::AfterImport::Move).await;
    add_endpoint(&http, quiet.path(), &sandbox, "quiet").await;
    let path = quiet.path().to_path_buf();
    let base = sandbox.base.clone();
    let outbox_only = tokio::task::spawn_blocking(move || {
        run_importer(&path, None, &base, GRAPH_BUDGET, count as u64)
    })
    .await
    .expect("importer");

    drop(sandbox);
    let sandbox = webhook_sandbox(&http, count, &link).await;
    let dir = prepare_data_dir(&sandbox, accounts::AfterImport::Move).await;
    add_endpoint(&http, dir.path(), &sandbox, "erp").await;
    // The sender: `mailport serve` on the same data dir (the account is disabled there, so
    // `mailport import` alone imports).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let mut serve = Command::new(env!("CARGO_BIN_EXE_mailport"))
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            // The sandbox (Graph, token endpoint, webhook receiver) is the one host allowed.
            "--allow-host",
            sandbox.base.trim_start_matches("http://"),
            "--data-dir",
        ])
        .arg(dir.path())
        .env("MAILPORT_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("serve");
    for _ in 0..200 {
        if http
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let path = dir.path().to_path_buf();
    let base = sandbox.base.clone();
    let started = Instant::now();
    let with = tokio::task::spawn_blocking(move || {
        run_importer(&path, None, &base, GRAPH_BUDGET, count as u64)
    })
    .await
    .expect("importer");
    let import_time = started.elapsed();
    let all_delivered = wait_received(&http, &sandbox, "erp", count).await + import_time;

    // Deliveries alone: a second endpoint is given the same 2,000 messages at once.
    add_endpoint(&http, dir.path(), &sandbox, "erp2").await;
    let db = mailport::store::connect(&dir.path().join("mailport.db"))
        .await
        .expect("db");
    let queued = mailport::store::webhooks::queue_existing_since(&db, "erp2", 0)
        .await
        .expect("queue");
    db.close().await;
    let send_time = wait_received(&http, &sandbox, "erp2", count).await;
    let _ = serve.kill();
    let _ = serve.wait();

    let rate = |n: u64, d: Duration| n as f64 / d.as_secs_f64();
    let without_rate = rate(without.imported, without.elapsed);
    let with_rate = rate(with.imported, with.elapsed);
    println!(
        "mailport import without an endpoint:     {without_rate:.1} msg/s ({} imported)",
        without.imported
    );
    let outbox_rate = rate(outbox_only.imported, outbox_only.elapsed);
    println!(
        "mailport import with one endpoint, not sending: {outbox_rate:.1} msg/s ({:.2}x without): the outbox rows alone",
        outbox_rate / without_rate
    );
    println!(
        "mailport import with one endpoint:       {with_rate:.1} msg/s ({:.2}x without), all {count} delivered {:.1} s after the import started",
        with_rate / without_rate,
        all_delivered.as_secs_f64()
    );
    println!(
        "deliveries to the sandbox receiver:      {:.1} JSON deliveries/s ({queued} queued at once, each verified by the receiver)",
        rate(queued, send_time)
    );
}

#[tokio::main]
async fn main() {
    use accounts::AfterImport::{Keep, Move};
    let scenarios = [
        (
            "small",
            Scenario {
                name: "small: 2,000 x 30 KB over loopback",
                count: 2000,
                size: 30_000,
                after: Move,
                link: LOOPBACK,
            },
        ),
        (
            "large",
            Scenario {
                name: "large: 20 x 20 MB over loopback",
                count: 20,
                size: 20_000_000,
                after: Move,
                link: LOOPBACK,
            },
        ),
        (
            "wan-move",
            Scenario {
                name: "wan-move: 1,000 x 30 KB over a Graph-like link",
                count: 1000,
                size: 30_000,
                after: Move,
                link: WAN,
            },
        ),
        (
            "wan-keep",
            Scenario {
                name: "wan-keep: 1,000 x 30 KB over a Graph-like link",
                count: 1000,
                size: 30_000,
                after: Keep,
                link: WAN,
            },
        ),
        (
            "wan-large",
            Scenario {
                name: "wan-large: 20 x 20 MB over a Graph-like link",
                count: 20,
                size: 20_000_000,
                after: Move,
                link: WAN,
            },
        ),
        (
            "sustained-move",
            Scenario {
                name: "sustained-move: 1,000 x 30 KB, the request budget binding",
                count: 1000,
                size: 30_000,
                after: Move,
                link: WAN_SUSTAINED,
            },
        ),
        (
            "sustained-keep",
            Scenario {
                name: "sustained-keep: 1,000 x 30 KB, the request budget binding",
                count: 1000,
                size: 30_000,
                after: Keep,
                link: WAN_SUSTAINED,
            },
        ),
    ];
    // `cargo bench` passes --bench; MAILPORT_BENCH picks scenarios (comma-separated names).
    let which = std::env::var("MAILPORT_BENCH").unwrap_or_else(|_| "all".into());
    let picked: Vec<&str> = which.split(',').map(str::trim).collect();
    for (key, sc) in &scenarios {
        if picked.contains(&"all") || picked.contains(key) {
            scenario_on_backends(sc).await;
        }
    }
    if picked.contains(&"all") || picked.contains(&"webhooks") {
        webhooks_scenario("webhooks: over loopback", 2000, LOOPBACK).await;
    }
    if picked.contains(&"all") || picked.contains(&"webhooks-wan") {
        webhooks_scenario("webhooks-wan: over a Graph-like link", 1000, WAN).await;
    }
}
