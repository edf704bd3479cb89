//! Real processes for the reliability tests: the sandbox, `mailport serve`, and an
//! installation prepared with a client-credentials credential and one e-mail account.
//!
//! An [`Installation`] is a data dir, and with `MAILPORT_TEST_BACKEND=postgres` (see
//! `backends.rs`) also a fresh database on the throwaway PostgreSQL cluster, into which the
//! prepared data dir is moved with `migrate-to-postgres`: every test then runs its servers
//! with `--database-url` and the data dir's key, and reads its results from that database.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use mailport::store::{Db, accounts};
use serde_json::{Value, json};

#[path = "../common/postgres.rs"]
pub mod postgres;

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
        self.folder_messages_of(USER, folder).await
    }

    /// The messages of `user`'s folder named `folder` (display name), as the sandbox has them.
    pub async fn folder_messages_of(&self, user: &str, folder: &str) -> Vec<Value> {
        let folders: Value = self
            .http
            .get(format!(
                "{}/_sandbox/graph/mailboxes/{user}/folders",
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
                "{}/_sandbox/graph/mailboxes/{user}/folders/{id}/messages",
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

/// Whether this run's installations use PostgreSQL (`MAILPORT_TEST_BACKEND=postgres`).
pub fn on_postgres() -> bool {
    std::env::var("MAILPORT_TEST_BACKEND").as_deref() == Ok("postgres")
}

/// Where a test's Mailport keeps its state: a data dir (SQLite, and the key file), plus a
/// PostgreSQL database when the tests run on PostgreSQL.
pub struct Installation {
    data: tempfile::TempDir,
    database_url: Option<String>,
}

impl Installation {
    /// Takes a data dir prepared with SQLite; on PostgreSQL moves it into a fresh database
    /// (`mailport migrate-to-postgres`, which also verifies the copy).
    pub async fn from_data_dir(data: tempfile::TempDir) -> Installation {
        if !on_postgres() {
            return Installation {
                data,
                database_url: None,
            };
        }
        let cluster = postgres::available()
            .expect("MAILPORT_TEST_BACKEND=postgres, but PostgreSQL is not installed");
        let url = cluster.fresh_database().await;
        let status = Command::new(env!("CARGO_BIN_EXE_mailport"))
            .args(["migrate-to-postgres", "--data-dir"])
            .arg(data.path())
            .env("MAILPORT_DATABASE_URL", &url)
            .env("MAILPORT_LOG", "warn")
            .stdout(Stdio::null())
            .status()
            .expect("run migrate-to-postgres");
        assert!(status.success(), "migrate-to-postgres failed: {status}");
        Installation {
            data,
            database_url: Some(url),
        }
    }

    pub fn path(&self) -> &Path {
        self.data.path()
    }

    pub fn is_postgres(&self) -> bool {
        self.database_url.is_some()
    }

    /// What `mailport serve` needs besides `--data-dir` to open this installation.
    pub fn server_env(&self) -> Vec<(&'static str, String)> {
        match &self.database_url {
            Some(url) => vec![
                ("MAILPORT_DATABASE_URL", url.clone()),
                (
                    "MAILPORT_SECRET_KEY_FILE",
                    self.path()
                        .join(mailport::crypto::KEY_FILE)
                        .display()
                        .to_string(),
                ),
            ],
            None => Vec::new(),
        }
    }

    /// The configuration of an in-process Mailport on this installation.
    pub fn config(&self) -> mailport::config::Config {
        let mut config = mailport::config::Config::new(
            std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            self.path().to_path_buf(),
            None,
        );
        if let Some(url) = &self.database_url {
            config.database_url = Some(url.parse().expect("database url"));
            config.secret_key_file = Some(self.path().join(mailport::crypto::KEY_FILE));
        }
        config
    }

    /// A pool on this installation's database (SQLite with a 10 s busy timeout).
    pub async fn db(&self) -> Db {
        match &self.database_url {
            Some(url) => mailport::store::connect_postgres(&url.parse().expect("database url"))
                .await
                .expect("db"),
            None => mailport::store::connect(&self.path().join(mailport::store::DATABASE_FILE))
                .await
                .expect("db"),
        }
    }
}

/// A data dir with credential `app` and enabled account `acct` (poll every 10 s).
pub async fn prepare_data_dir(sandbox: &Sandbox, mode: &str) -> Installation {
    let dir = tempfile::tempdir().expect("tempdir");
    let account = accounts::AccountSettings {
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
    Installation::from_data_dir(dir).await
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
    pub fn start(data: &Installation, sandbox: &Sandbox) -> Server {
        Self::start_with(data, sandbox, &[])
    }

    /// [`Server::start`] with more environment variables.
    pub fn start_with(data: &Installation, sandbox: &Sandbox, env: &[(&str, &str)]) -> Server {
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
            .arg(data.path())
            .env("MAILPORT_LOG", "warn")
            .env_remove("MAILPORT_SECRET_KEY")
            .env_remove("MAILPORT_DATABASE_URL")
            .envs(data.server_env())
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

    /// The process id, for SIGSTOP and SIGCONT.
    pub fn pid(&self) -> u32 {
        self.child.id()
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

pub struct StoredRow {
    pub graph_id: String,
    pub sha256: String,
    pub internet_message_id: String,
    pub post_action_done: bool,
}

pub async fn stored_messages(data: &Installation) -> Vec<StoredRow> {
    let db = data.db().await;
    let rows: Vec<(String, String, String, i64)> = sqlx::query_as(
        "SELECT graph_id, COALESCE(sha256, '') AS sha256, COALESCE(internet_message_id, '') AS internet_message_id,
            post_action_done FROM messages",
    )
    .fetch_all(&db)
    .await
    .expect("rows");
    db.close().await;
    rows.into_iter()
        .map(|(graph_id, sha256, internet_message_id, done)| StoredRow {
            graph_id,
            sha256,
            internet_message_id,
            post_action_done: done != 0,
        })
        .collect()
}

pub async fn pending_actions(data: &Installation) -> i64 {
    let db = data.db().await;
    let n = sqlx::query_scalar("SELECT COUNT(*) FROM messages WHERE post_action_done = 0")
        .fetch_one(&db)
        .await
        .unwrap_or(0);
    db.close().await;
    n
}

/// "ok" when the store is sound: SQLite's `PRAGMA integrity_check`; on PostgreSQL (whose
/// pages are checksummed by the server) every raw message's chunks read back to its sha256.
pub async fn integrity_check(data: &Installation) -> String {
    let db = data.db().await;
    if !data.is_postgres() {
        let r: String = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(&db)
            .await
            .expect("integrity_check");
        db.close().await;
        return r;
    }
    let blobs = mailport::store::blobs::BlobStore::in_database(db.clone());
    let shas: Vec<String> = sqlx::query_scalar("SELECT sha256 FROM blobs")
        .fetch_all(&db)
        .await
        .expect("blobs");
    let mut bad = Vec::new();
    for sha in shas {
        let bytes = blobs.read(&sha).await.expect("read blob");
        if mailport::crypto::sha256_hex(&bytes) != sha {
            bad.push(sha);
        }
    }
    db.close().await;
    if bad.is_empty() {
        "ok".into()
    } else {
        format!("blobs whose chunks do not hash to their name: {bad:?}")
    }
}

/// (blobs being written: files in blobs/tmp or `tmp:` chunk keys, stored blobs no row
/// refers to)
pub async fn blob_leftovers(data: &Installation, shas: &HashSet<String>) -> (usize, usize) {
    if data.is_postgres() {
        let db = data.db().await;
        let tmp: i64 = sqlx::query_scalar(
            "SELECT COUNT(DISTINCT blob_key) FROM blob_chunks WHERE blob_key LIKE 'tmp:%'",
        )
        .fetch_one(&db)
        .await
        .expect("tmp chunks");
        let stored: Vec<String> = sqlx::query_scalar("SELECT sha256 FROM blobs")
            .fetch_all(&db)
            .await
            .expect("blobs");
        db.close().await;
        let orphans = stored.iter().filter(|s| !shas.contains(*s)).count();
        return (tmp as usize, orphans);
    }
    let root: PathBuf = data.path().join("blobs");
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
pub async fn add_webhook(data: &Installation, sandbox: &Sandbox) -> String {
    let config = data.config();
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
