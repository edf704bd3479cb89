//! `cargo bench --bench instances`: import throughput of one and of three `mailport serve`
//! instances sharing one database, on a latency-bound workload.
//!
//! The sandbox holds 48 mailboxes with 60 messages each behind a Graph-like link (30 ms
//! round trip, 20 ms server time per request, Microsoft's 4 requests in flight per mailbox).
//! Every instance runs with `--concurrent-accounts 4`, the same slots per instance, so the
//! work is bound by how many mailboxes are polled at once: more instances, more mailboxes in
//! flight. Four, not more: on a 2-core machine that also runs the sandbox and PostgreSQL,
//! three instances with 8 slots each reach the CPU's limit (about 440 messages/s) and the
//! workload stops being latency-bound. Each scenario imports everything (post-action `move`) into a fresh database and
//! reports messages per second from the first instance's start to the last message stored;
//! the ratio of three instances to one is the figure BENCHMARKS.md reports.
//!
//! Several instances share a database in production on PostgreSQL, so that is the backend
//! measured by default (a fresh database of a throwaway cluster, durable commits, the data
//! dir moved there with `mailport migrate-to-postgres`); `MAILPORT_BENCH_BACKENDS=sqlite`
//! (or `sqlite,postgres`) measures one SQLite file in WAL mode as well.
//!
//! `MAILPORT_BENCH_MAILBOXES`, `MAILPORT_BENCH_PER_MAILBOX` and `MAILPORT_BENCH_SLOTS`
//! change the workload.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mailport::store::accounts::{self, AfterImport};
use serde_json::json;

mod common;

use common::{move_to_postgres, postgres};

const DOMAIN: &str = "contoso.onmicrosoft.com";

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

async fn count_stored(db: &mailport::store::Db) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM messages")
        .fetch_one(db)
        .await
        .expect("count the stored messages")
}

/// Imports everything with `instances` instances; returns (messages, seconds).
async fn scenario(
    on_postgres: bool,
    instances: usize,
    mailboxes: usize,
    per_mailbox: usize,
    slots: usize,
) -> (usize, f64) {
    let sandbox = common::start_sandbox();
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{}/_sandbox/graph/mailboxes", sandbox.base))
        .json(&json!({"count": mailboxes, "settings": {"latency_ms": 30, "delay_ms": 20}}))
        .send()
        .await
        .expect("mailboxes");
    assert!(r.status().is_success());
    for n in 1..=mailboxes {
        let user = format!("box{n:05}@{DOMAIN}");
        let r = http
            .post(format!(
                "{}/_sandbox/graph/mailboxes/{user}/folders/inbox/generate",
                sandbox.base
            ))
            .json(&json!({"count": per_mailbox, "size": 4000, "seed": n}))
            .send()
            .await
            .expect("seed");
        assert!(r.status().is_success());
    }
    let data = tempfile::tempdir().expect("tempdir");
    let settings: Vec<accounts::AccountSettings> = (1..=mailboxes)
        .map(|n| accounts::AccountSettings {
            mailbox: format!("box{n:05}@{DOMAIN}"),
            ..mailport::demo::sandbox_account(
                &format!("acct{n:03}"),
                "app",
                &sandbox.base,
                AfterImport::Move,
            )
        })
        .collect();
    mailport::demo::prepare_data_dir(data.path(), &sandbox.base, &settings[0])
        .await
        .expect("data dir");
    let sqlite_file = data.path().join(mailport::store::DATABASE_FILE);
    {
        let pool = mailport::store::connect(&sqlite_file).await.expect("db");
        for s in &settings[1..] {
            accounts::insert(&pool, s).await.expect("account");
        }
        pool.close().await;
    }
    let database_url = if on_postgres {
        Some(move_to_postgres(data.path()).await)
    } else {
        None
    };
    let db = match &database_url {
        Some(url) => mailport::store::connect_postgres(&url.parse().expect("url"))
            .await
            .expect("db"),
        None => mailport::store::connect(&sqlite_file).await.expect("db"),
    };
    let total = mailboxes * per_mailbox;
    let started = Instant::now();
    let mut running = Vec::new();
    for i in 0..instances {
        let mut command = Command::new(env!("CARGO_BIN_EXE_mailport"));
        if let Some(url) = &database_url {
            command.env("MAILPORT_DATABASE_URL", url).env(
                "MAILPORT_SECRET_KEY_FILE",
                data.path().join(mailport::crypto::KEY_FILE),
            );
        }
        let child = command
            .args(["serve", "--listen", &format!("127.0.0.1:{}", free_port())])
            .args(["--allow-host", sandbox.base.trim_start_matches("http://")])
            .args(["--concurrent-accounts", &slots.to_string()])
            .args(["--instance-id", &format!("bench{i}")])
            .arg("--data-dir")
            .arg(data.path())
            .env("MAILPORT_LOG", "warn")
            .env_remove("MAILPORT_SECRET_KEY")
            .stdout(Stdio::null())
            .spawn()
            .expect("serve");
        running.push(Serve(child));
    }
    let deadline = Instant::now() + Duration::from_secs(600);
    while (count_stored(&db).await as usize) < total {
        assert!(Instant::now() < deadline, "the import did not finish");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let secs = started.elapsed().as_secs_f64();
    drop(running);
    db.close().await;
    (total, secs)
}

#[tokio::main]
async fn main() {
    let mailboxes = env_number("MAILPORT_BENCH_MAILBOXES", 48);
    let per_mailbox = env_number("MAILPORT_BENCH_PER_MAILBOX", 60);
    let slots = env_number("MAILPORT_BENCH_SLOTS", 4);
    let which = std::env::var("MAILPORT_BENCH_BACKENDS").unwrap_or_else(|_| "postgres".into());
    println!(
        "instances: {mailboxes} mailboxes x {per_mailbox} messages, 30 ms link + 20 ms server time, --concurrent-accounts {slots} per instance"
    );
    for backend in ["sqlite", "postgres"] {
        if !which.split(',').any(|w| w.trim() == backend) {
            continue;
        }
        let on_postgres = backend == "postgres";
        if on_postgres {
            if !postgres::installed() {
                println!(
                    "  postgres: not measured (PostgreSQL is not installed; \
                     MAILPORT_BENCH_BACKENDS=sqlite measures one shared SQLite file)"
                );
                continue;
            }
            // Commits as durable as in production.
            postgres::DURABLE.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        let mut rates = Vec::new();
        for instances in [1, 3] {
            let (messages, secs) =
                scenario(on_postgres, instances, mailboxes, per_mailbox, slots).await;
            let rate = messages as f64 / secs;
            println!(
                "  {backend}, {instances} instance(s): {messages} messages in {secs:.1} s = {rate:.0} messages/s"
            );
            rates.push(rate);
        }
        println!(
            "-- {backend}: three instances / one: {:.2}x",
            rates[1] / rates[0]
        );
    }
}
