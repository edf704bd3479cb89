//! Real processes for the reliability tests: the sandbox, `mailport serve`, and a data dir
//! prepared with a client-credentials credential and one e-mail account.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::time::Duration;

use mailport::store::accounts;
use serde_json::{Value, json};
use sqlx::sqlite::SqliteConnectOptions;

pub const USER: &str = "adele@contoso.onmicrosoft.com";

pub fn env_number(name: &str, default: usize) -> usize {
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

/// A tiny deterministic PRNG, so a failing run can be repeated.
pub struct Lcg(pub u64);

impl Lcg {
    pub fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

pub struct Sandbox {
    child: Child,
    pub base: String,
    pub http: reqwest::Client,
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug, Clone)]
pub struct Seeded {
    pub sha256: String,
    pub internet_message_id: String,
}

impl Sandbox {
    pub fn start() -> Sandbox {
        let port = free_port();
        let mut child = Command::new(env!("CARGO_BIN_EXE_mailport"))
            .args(["sandbox", "--listen", &format!("127.0.0.1:{port}")])
            .env("MAILPORT_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .expect("start sandbox");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("sandbox banner");
        Sandbox {
            child,
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
        }
    }

    pub async fn seed(&self, count: usize) -> Vec<Seeded> {
        let mut out = Vec::new();
        let mut left = count;
        while left > 0 {
            let n = left.min(250);
            let r: Value = self
                .http
                .post(format!("{}/_sandbox/graph/mailboxes/{USER}/folders/inbox/generate", self.base))
                .json(&json!({"count": n, "size": 5000, "attachments": 1, "seed": left as u64, "subject_prefix": format!("batch {left}")}))
                .send()
                .await
                .expect("seed")
                .json()
                .await
                .expect("seed json");
            for m in r["messages"].as_array().expect("messages") {
                out.push(Seeded {
                    sha256: m["sha256"].as_str().unwrap_or_default().to_string(),
                    internet_message_id: m["internet_message_id"]
                        .as_str()
                        .unwrap_or_default()
                        .trim_matches(|c| c == '<' || c == '>')
                        .to_string(),
                });
            }
            left -= n;
        }
        out
    }

    /// Slows every Graph request to this mailbox, so that kills land inside the import.
    pub async fn set_delay_ms(&self, ms: u64) {
        let r = self
            .http
            .patch(format!(
                "{}/_sandbox/graph/mailboxes/{USER}/settings",
                self.base
            ))
            .json(&json!({"delay_ms": ms}))
            .send()
            .await
            .expect("settings");
        assert!(r.status().is_success(), "delay: {}", r.status());
    }

    async fn folder_messages(&self, folder: &str) -> Vec<Value> {
        let folders: Value = self
            .http
            .get(format!(
                "{}/_sandbox/graph/mailboxes/{USER}/folders",
                self.base
            ))
            .send()
            .await
            .expect("folders")
            .json()
            .await
            .expect("folders json");
        let id = folders["folders"].as_array().and_then(|fs| {
            fs.iter()
                .find(|f| {
                    f["display_name"]
                        .as_str()
                        .is_some_and(|n| n.eq_ignore_ascii_case(folder))
                })
                .and_then(|f| f["id"].as_str().map(str::to_string))
        });
        let Some(id) = id else { return Vec::new() };
        let r: Value = self
            .http
            .get(format!(
                "{}/_sandbox/graph/mailboxes/{USER}/folders/{id}/messages",
                self.base
            ))
            .send()
            .await
            .expect("messages")
            .json()
            .await
            .expect("messages json");
        r["messages"].as_array().cloned().unwrap_or_default()
    }

    /// Messages the mode has not dealt with yet, as seen in the mailbox.
    pub async fn remaining(&self, mode: &str) -> usize {
        let inbox = self.folder_messages("Inbox").await;
        match mode {
            "mark_read" => inbox.iter().filter(|m| m["is_read"] != true).count(),
            _ => inbox.len(),
        }
    }

    pub async fn assert_tidied(&self, mode: &str, count: usize) {
        let inbox = self.folder_messages("Inbox").await;
        match mode {
            "move" => {
                assert!(inbox.is_empty(), "inbox not empty");
                assert_eq!(self.folder_messages("Imported").await.len(), count);
            }
            "mark_read" => {
                assert_eq!(inbox.len(), count);
                assert!(
                    inbox.iter().all(|m| m["is_read"] == true),
                    "unread mail left"
                );
            }
            "delete" => assert!(inbox.is_empty(), "inbox not empty"),
            other => panic!("unknown mode {other}"),
        }
    }
}

/// A data dir with credential `app` and enabled account `acct` (poll every 10 s).
pub async fn prepare_data_dir(sandbox: &Sandbox, mode: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let account = accounts::Settings {
        poll_interval: 10,
        ..mailport::demo::sandbox_account(
            "acct",
            "app",
            &sandbox.base,
            accounts::AfterImport::parse(mode).expect("mode"),
        )
    };
    mailport::demo::prepare_data_dir(dir.path(), &sandbox.base, &account)
        .await
        .expect("data dir");
    dir
}

pub struct Server {
    child: Child,
    port: u16,
    /// Lines the server printed on stdout, read by a thread so the pipe never fills up.
    stdout: std::sync::mpsc::Receiver<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// `mailport serve` on `data`, allowed to talk to `sandbox` (`--allow-host`).
    pub fn start(data: &Path, sandbox: &Sandbox) -> Server {
        Self::start_with(data, sandbox, &[])
    }

    /// [`Server::start`] with more environment variables.
    pub fn start_with(data: &Path, sandbox: &Sandbox, env: &[(&str, &str)]) -> Server {
        let port = free_port();
        let mut child = Command::new(env!("CARGO_BIN_EXE_mailport"))
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--allow-host",
                sandbox.base.trim_start_matches("http://"),
                "--data-dir",
            ])
            .arg(data)
            .env("MAILPORT_LOG", "warn")
            .env_remove("MAILPORT_SECRET_KEY")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start serve");
        let (lines, stdout) = std::sync::mpsc::channel();
        let out = child.stdout.take().expect("stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        Server {
            child,
            port,
            stdout,
        }
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Waits for `serve`'s ready line, which it prints only once it accepts connections and
    /// has its SIGTERM handler in place: from then on a SIGTERM must stop it gracefully. An
    /// answer on /healthz alone proves neither.
    pub async fn wait_ready(&mut self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            match self.stdout.try_recv() {
                Ok(line) if line.starts_with(mailport::app::READY_LINE) => return,
                Ok(_) => continue,
                Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                    let status = self.child.wait().expect("wait");
                    panic!("mailport serve exited before it was ready: {status}");
                }
                Err(std::sync::mpsc::TryRecvError::Empty) => {}
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("mailport serve exited before it was ready: {status}");
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "mailport serve did not print {:?} within 30 s",
                mailport::app::READY_LINE
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGKILL: no chance to clean up.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait for the graceful exit.
    pub async fn terminate(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        for _ in 0..600 {
            if let Ok(Some(status)) = self.child.try_wait() {
                assert!(
                    status.success(),
                    "serve exited with {status} instead of shutting down gracefully"
                );
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("serve did not stop within 30 s of SIGTERM");
    }
}

async fn open_db(data: &Path) -> sqlx::SqlitePool {
    let url = format!("sqlite://{}", data.join("mailport.db").display());
    let options = SqliteConnectOptions::from_str(&url)
        .expect("url")
        .busy_timeout(Duration::from_secs(10));
    sqlx::SqlitePool::connect_with(options).await.expect("db")
}

#[derive(sqlx::FromRow)]
pub struct StoredRow {
    pub graph_id: String,
    pub sha256: String,
    pub internet_message_id: String,
    pub post_action_done: bool,
}

pub async fn stored_messages(data: &Path) -> Vec<StoredRow> {
    let db = open_db(data).await;
    let rows = sqlx::query_as(
        "SELECT graph_id, COALESCE(sha256, '') AS sha256, COALESCE(internet_message_id, '') AS internet_message_id,
            post_action_done FROM messages",
    )
    .fetch_all(&db)
    .await
    .expect("rows");
    db.close().await;
    rows
}

pub async fn pending_actions(data: &Path) -> i64 {
    let db = open_db(data).await;
    let n = sqlx::query_scalar("SELECT COUNT(*) FROM messages WHERE post_action_done = 0")
        .fetch_one(&db)
        .await
        .unwrap_or(0);
    db.close().await;
    n
}

pub async fn integrity_check(data: &Path) -> String {
    let db = open_db(data).await;
    let r: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&db)
        .await
        .expect("integrity_check");
    db.close().await;
    r
}

/// (files in blobs/tmp, blob files no row refers to)
pub fn blob_leftovers(data: &Path, shas: &HashSet<String>) -> (usize, usize) {
    let root: PathBuf = data.join("blobs");
    let tmp = std::fs::read_dir(root.join("tmp"))
        .map(|d| d.count())
        .unwrap_or(0);
    let mut orphans = 0;
    for dir in std::fs::read_dir(&root).into_iter().flatten().flatten() {
        if dir.file_name() == "tmp" || !dir.path().is_dir() {
            continue;
        }
        for f in std::fs::read_dir(dir.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            if !shas.contains(&f.file_name().to_string_lossy().to_string()) {
                orphans += 1;
            }
        }
    }
    (tmp, orphans)
}

/// Adds webhook endpoint `erp` (JSON, every account) pointing at the sandbox's receiver
/// `erp`, and gives that receiver the signing secret. Returns the secret.
pub async fn add_webhook(data: &Path, sandbox: &Sandbox) -> String {
    let config = mailport::config::Config::new(
        std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        data.to_path_buf(),
        None,
    );
    let state = mailport::app::AppState::open(config).await.expect("open");
    let secret = mailport::webhooks::signature::new_secret();
    let settings = mailport::store::webhooks::Settings {
        id: "erp".into(),
        description: String::new(),
        url: format!("{}/_sandbox/receiver/erp", sandbox.base),
        accounts: None,
        payload: mailport::store::webhooks::Payload::Json,
        include_attachments_mb: 0,
        enabled: true,
    };
    let blob = state.key.encrypt_str(
        &mailport::store::webhooks::secret_context("erp"),
        secret.expose(),
    );
    mailport::store::webhooks::insert(&state.db, &settings, "killtest0000", &blob)
        .await
        .expect("endpoint");
    state.db.close().await;
    let r = sandbox
        .http
        .put(format!("{}/_sandbox/receiver/erp", sandbox.base))
        .json(&json!({"secrets": [secret.expose()]}))
        .send()
        .await
        .expect("receiver");
    assert!(r.status().is_success());
    secret.expose().to_string()
}

/// What the sandbox's receiver `name` got, bodies included.
pub async fn received(sandbox: &Sandbox, name: &str) -> Vec<Value> {
    let r: Value = sandbox
        .http
        .get(format!(
            "{}/_sandbox/receiver/{name}/deliveries?bodies=1",
            sandbox.base
        ))
        .send()
        .await
        .expect("deliveries")
        .json()
        .await
        .expect("json");
    r["deliveries"].as_array().cloned().unwrap_or_default()
}
