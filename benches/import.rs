//! `cargo bench --bench import`: imports mail from a sandbox running in its own process and
//! compares with the raw-download limit measured in the same run.
//!
//! Scenarios (override with MAILPORT_BENCH=small|large|all):
//! - small: 2,000 messages of about 30 KB, `move` mode;
//! - large: 20 messages of about 20 MB, `move` mode (peak RSS of the importer process).
//!
//! For each it prints messages per second for the importer and for a bare HTTP client that
//! fetches the same `$value` bytes with the same concurrency (4), Graph requests per imported
//! message from the sandbox's counters, and the importer's peak RSS.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use mailport::config::Config;
use mailport::sandbox::world::{DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_TENANT_ID};
use mailport::store::{accounts, credentials};
use serde_json::{Value, json};

const USER: &str = "adele@contoso.onmicrosoft.com";
const CONCURRENCY: usize = 4;

struct Sandbox {
    child: Child,
    base: String,
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_sandbox() -> Sandbox {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_mailport"))
        .args(["sandbox", "--listen", &format!("127.0.0.1:{port}")])
        .env("MAILPORT_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start sandbox");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("sandbox banner");
    Sandbox {
        child,
        base: format!("http://127.0.0.1:{port}"),
    }
}

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

/// The raw limit: every message's `$value` with a bare client, same concurrency.
async fn raw_download(http: &reqwest::Client, sandbox: &Sandbox) -> (usize, u64, Duration) {
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
                let mut n = 0u64;
                let mut stream = req.send().await.expect("value").bytes_stream();
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

/// A data dir with a client-credentials credential and a `move` account on the sandbox.
async fn prepare_data_dir(sandbox: &Sandbox) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = Config::new(
        "127.0.0.1:0".parse().expect("addr"),
        dir.path().to_path_buf(),
        None,
    );
    let state = mailport::app::AppState::open(config).await.expect("open");
    let credential = mailport::demo::sandbox_credential(
        "bench",
        &sandbox.base,
        credentials::GrantType::ClientCredentials,
    );
    mailport::demo::save_sandbox_credential(&state, &credential)
        .await
        .expect("credential");
    let account = accounts::Settings {
        enabled: false,
        ..mailport::demo::sandbox_account(
            "bench",
            "bench",
            &sandbox.base,
            accounts::AfterImport::Move,
        )
    };
    accounts::insert(&state.db, &account)
        .await
        .expect("account");
    state.db.close().await;
    dir
}

/// Runs `mailport import` until the folder is empty; returns elapsed time and peak RSS (KiB).
fn run_importer(data_dir: &std::path::Path) -> (Duration, u64) {
    let start = Instant::now();
    let mut peak = 0u64;
    for _ in 0..10 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mailport"))
            .args(["import", "--account", "bench", "--data-dir"])
            .arg(data_dir)
            .env("MAILPORT_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .expect("import");
        let pid = child.id();
        loop {
            if let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
                for line in status.lines() {
                    if let Some(v) = line.strip_prefix("VmHWM:") {
                        let kib: u64 = v.trim().trim_end_matches("kB").trim().parse().unwrap_or(0);
                        peak = peak.max(kib);
                    }
                }
            }
            if child.try_wait().expect("wait").is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let out = child.wait_with_output().expect("output");
        let text = String::from_utf8_lossy(&out.stdout);
        if text.contains(" 0 listed") || text.contains(", 0 imported") {
            break;
        }
    }
    (start.elapsed(), peak)
}

async fn scenario(name: &str, count: usize, size: usize) {
    let http = reqwest::Client::new();
    let sandbox = start_sandbox();
    seed(&http, &sandbox, count, size).await;
    let (n, bytes, raw_time) = raw_download(&http, &sandbox).await;
    let data_dir = prepare_data_dir(&sandbox).await;
    http.delete(format!("{}/_sandbox/graph/log", sandbox.base))
        .send()
        .await
        .expect("reset log");
    let (import_time, peak_kib) = tokio::task::spawn_blocking({
        let path = data_dir.path().to_path_buf();
        move || run_importer(&path)
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
    let left: Value = http
        .get(format!(
            "{}/_sandbox/graph/mailboxes/{USER}/folders/inbox/messages",
            sandbox.base
        ))
        .send()
        .await
        .expect("left")
        .json()
        .await
        .expect("left json");
    let remaining = left["messages"].as_array().map(Vec::len).unwrap_or(0);
    let raw_rate = n as f64 / raw_time.as_secs_f64();
    let import_rate = (n - remaining) as f64 / import_time.as_secs_f64();
    println!(
        "== {name}: {n} messages, {:.1} MB in total",
        bytes as f64 / 1e6
    );
    println!(
        "raw download (bare client, {CONCURRENCY} concurrent): {raw_rate:.1} msg/s, {:.1} MB/s",
        bytes as f64 / 1e6 / raw_time.as_secs_f64()
    );
    println!(
        "mailport import (separate process):      {import_rate:.1} msg/s ({:.2}x raw), {remaining} left in the folder",
        import_rate / raw_rate
    );
    println!(
        "graph requests per imported message:     {:.2} ({requests} requests)",
        requests as f64 / (n - remaining).max(1) as f64
    );
    println!(
        "importer peak RSS:                       {:.1} MB",
        peak_kib as f64 / 1024.0
    );
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` passes nothing: run the small one.
    let which = std::env::var("MAILPORT_BENCH").unwrap_or_else(|_| "all".into());
    if which == "small" || which == "all" {
        scenario("small: 2,000 x 30 KB", 2000, 30_000).await;
    }
    if which == "large" || which == "all" {
        scenario("large: 20 x 20 MB", 20, 20_000_000).await;
    }
}
