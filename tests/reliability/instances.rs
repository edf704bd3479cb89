//! Several `mailport serve` instances on one database: mailbox leases, takeover, fencing.
//!
//! The instances are real processes sharing the database the harness gives them
//! ([`SharedDb`]: one SQLite file in WAL mode, which SQLite locks across processes, or with
//! `MAILPORT_TEST_BACKEND=postgres` one PostgreSQL database). They talk to one sandbox
//! process, whose request log names each request's instance (Mailport puts it in the
//! `User-Agent`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use mailport::store::accounts::{self, AfterImport};
use serde_json::{Value, json};

use crate::harness::*;

/// Leases last 3 s in these tests (30 s by default), so takeovers are quick.
const LEASE: &str = "3s";
const LEASE_SECS: u64 = 3;
const DOMAIN: &str = "contoso.onmicrosoft.com";

/// The database the instances share, as the harness provides it.
pub struct SharedDb {
    installation: Installation,
}

impl std::ops::Deref for SharedDb {
    type Target = Installation;
    fn deref(&self) -> &Installation {
        &self.installation
    }
}

impl SharedDb {
    /// SIGSTOPs `server` at a moment it holds no write lock on the database. A SQLite
    /// writer paused inside a transaction keeps the database file locked, and every other
    /// process waits for it (up to its busy timeout) whatever the leases say: SQLite's
    /// limit, not one of leases. PostgreSQL locks rows, and ends a transaction left idle
    /// longer than Mailport's `idle_in_transaction_session_timeout`, so there the instance
    /// is paused wherever it is.
    pub async fn pause_between_writes(&self, server: &Server) {
        if self.is_postgres() {
            signal(server, "STOP");
            return;
        }
        use std::str::FromStr;
        let url = format!("sqlite://{}", self.path().join("mailport.db").display());
        let options = sqlx::sqlite::SqliteConnectOptions::from_str(&url)
            .expect("url")
            .busy_timeout(Duration::from_millis(300));
        for _ in 0..50 {
            signal(server, "STOP");
            let mut probe = sqlx::ConnectOptions::connect(&options).await.expect("db");
            let free = sqlx::query("BEGIN IMMEDIATE")
                .execute(&mut probe)
                .await
                .is_ok();
            if free {
                let _ = sqlx::query("ROLLBACK").execute(&mut probe).await;
                return;
            }
            signal(server, "CONT");
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        panic!("the instance held the database's write lock at every attempt to pause it");
    }
}

/// The `n`-th bulk-created sandbox mailbox.
pub fn mailbox(n: usize) -> String {
    format!("box{n:05}@{DOMAIN}")
}

/// Creates `count` mailboxes (`box00001@…`), each answering after `delay_ms`.
pub async fn create_mailboxes(sandbox: &Sandbox, count: usize, delay_ms: u64) {
    let r = sandbox
        .http
        .post(format!("{}/_sandbox/graph/mailboxes", sandbox.base))
        .json(&json!({"count": count, "settings": {"delay_ms": delay_ms}}))
        .send()
        .await
        .expect("mailboxes");
    assert!(r.status().is_success(), "mailboxes: {}", r.status());
}

/// Puts `count` generated messages into a mailbox's inbox.
pub async fn seed_mailbox(sandbox: &Sandbox, user: &str, count: usize, seed: u64) -> Vec<Seeded> {
    let r: Value = sandbox
        .http
        .post(format!(
            "{}/_sandbox/graph/mailboxes/{user}/folders/inbox/generate",
            sandbox.base
        ))
        .json(
            &json!({"count": count, "size": 3000, "attachments": 1, "seed": seed,
            "subject_prefix": format!("{user} {seed}")}),
        )
        .send()
        .await
        .expect("seed")
        .json()
        .await
        .expect("seed json");
    r["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| Seeded {
            sha256: m["sha256"].as_str().unwrap_or_default().to_string(),
            internet_message_id: m["internet_message_id"]
                .as_str()
                .unwrap_or_default()
                .trim_matches(|c| c == '<' || c == '>')
                .to_string(),
        })
        .collect()
}

/// A shared database with credential `app` (client credentials) and one enabled account
/// per `(id, mailbox, mode)`, polled every 10 s.
pub async fn prepare_shared(sandbox: &Sandbox, accounts: &[(String, String, &str)]) -> SharedDb {
    let data = tempfile::tempdir().expect("tempdir");
    let settings: Vec<accounts::AccountSettings> = accounts
        .iter()
        .map(|(id, user, mode)| accounts::AccountSettings {
            poll_interval: 10,
            mailbox: user.clone(),
            ..mailport::demo::sandbox_account(
                id,
                "app",
                &sandbox.base,
                AfterImport::parse(mode).expect("mode"),
            )
        })
        .collect();
    mailport::demo::prepare_data_dir(data.path(), &sandbox.base, &settings[0])
        .await
        .expect("data dir");
    let db = mailport::store::connect(&data.path().join(mailport::store::DATABASE_FILE))
        .await
        .expect("db");
    for s in &settings[1..] {
        accounts::insert(&db, s).await.expect("account");
    }
    db.close().await;
    SharedDb {
        installation: Installation::from_data_dir(data).await,
    }
}

/// `mailport serve` as instance `id` on the shared database, with short leases.
pub fn start_instance(db: &SharedDb, sandbox: &Sandbox, id: &str) -> Server {
    Server::start_with(
        db,
        sandbox,
        &[
            ("MAILPORT_INSTANCE_ID", id),
            ("MAILPORT_LEASE_DURATION", LEASE),
        ],
    )
}

/// One request of the sandbox's log.
#[derive(Debug, Clone)]
pub struct Logged {
    pub mailbox: String,
    pub instance: String,
    pub received: f64,
    pub finished: f64,
}

fn unix(text: &str) -> Option<f64> {
    let t =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    Some(t.unix_timestamp_nanos() as f64 / 1e9)
}

/// Unix seconds now (to compare with the log's times).
pub fn unix_now() -> f64 {
    time::OffsetDateTime::now_utc().unix_timestamp_nanos() as f64 / 1e9
}

/// The instance named in a `User-Agent` (`Mailport/<version> (instance <id>)`).
pub fn instance_of(user_agent: &str) -> String {
    user_agent
        .split("(instance ")
        .nth(1)
        .and_then(|rest| rest.strip_suffix(')'))
        .unwrap_or(user_agent)
        .to_string()
}

/// The Graph requests the sandbox logged, with their mailbox and instance.
pub async fn graph_log(sandbox: &Sandbox) -> Vec<Logged> {
    let log: Value = sandbox
        .http
        .get(format!("{}/_sandbox/graph/log", sandbox.base))
        .send()
        .await
        .expect("log")
        .json()
        .await
        .expect("log json");
    log["entries"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|e| {
            let received = unix(e["received_at"].as_str()?)?;
            Some(Logged {
                mailbox: e["mailbox"].as_str()?.to_string(),
                instance: instance_of(e["user_agent"].as_str().unwrap_or_default()),
                finished: e["finished_at"].as_str().and_then(unix).unwrap_or(received),
                received,
            })
        })
        .collect()
}

/// Pairs of requests to one mailbox from two instances that were in flight at once.
pub fn overlapping(log: &[Logged]) -> Vec<(Logged, Logged)> {
    let mut by_mailbox: BTreeMap<&str, Vec<&Logged>> = BTreeMap::new();
    for e in log {
        by_mailbox.entry(&e.mailbox).or_default().push(e);
    }
    let mut found = Vec::new();
    for entries in by_mailbox.values_mut() {
        entries.sort_by(|a, b| a.received.total_cmp(&b.received));
        let mut active: Vec<&Logged> = Vec::new();
        for e in entries.iter() {
            active.retain(|a| a.finished > e.received);
            if let Some(other) = active.iter().find(|a| a.instance != e.instance) {
                found.push(((*other).clone(), (*e).clone()));
            }
            active.push(e);
        }
    }
    found
}

/// The refresh tokens presented to the sandbox's token endpoint more than once.
pub async fn refresh_tokens_presented_twice(sandbox: &Sandbox) -> (usize, Vec<String>) {
    let log: Value = sandbox
        .http
        .get(format!("{}/_sandbox/identity/token-log", sandbox.base))
        .send()
        .await
        .expect("token log")
        .json()
        .await
        .expect("token log json");
    let mut seen = HashMap::<String, usize>::new();
    for e in log["entries"].as_array().cloned().unwrap_or_default() {
        if let Some(rt) = e["presented_refresh_token"].as_str() {
            *seen.entry(rt.to_string()).or_default() += 1;
        }
    }
    let twice = seen
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(rt, _)| rt.chars().take(12).collect())
        .collect();
    (seen.len(), twice)
}

async fn folder(sandbox: &Sandbox, user: &str, name: &str) -> Vec<Value> {
    sandbox.folder_messages_of(user, name).await
}

/// Messages of a mailbox its mode has not dealt with yet.
async fn remaining_in(sandbox: &Sandbox, user: &str, mode: &str) -> usize {
    let inbox = folder(sandbox, user, "Inbox").await;
    match mode {
        "mark_read" => inbox.iter().filter(|m| m["is_read"] != true).count(),
        _ => inbox.len(),
    }
}

async fn set_mailbox(sandbox: &Sandbox, user: &str, settings: Value) {
    let r = sandbox
        .http
        .patch(format!(
            "{}/_sandbox/graph/mailboxes/{user}/settings",
            sandbox.base
        ))
        .json(&settings)
        .send()
        .await
        .expect("settings");
    assert!(r.status().is_success(), "settings: {}", r.status());
}

fn signal(server: &Server, name: &str) {
    let status = std::process::Command::new("kill")
        .args([&format!("-{name}"), &server.pid().to_string()])
        .status()
        .expect("kill");
    assert!(status.success(), "kill -{name}");
}

/// Waits until `check` holds (polled every 100 ms), up to `limit`; returns the time taken.
async fn wait_for<F, Fut>(limit: Duration, what: &str, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !check().await {
        assert!(started.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    started.elapsed()
}

/// What an account's state in the database is, for before/after comparisons.
#[derive(Debug, PartialEq, Eq)]
struct AccountState {
    delta_link: Option<String>,
    messages: i64,
    post_actions_done: i64,
}

async fn account_state(db: &SharedDb, account: &str) -> AccountState {
    let pool = db.db().await;
    let delta_link: Option<String> =
        sqlx::query_scalar("SELECT delta_link FROM email_accounts WHERE id = $1")
            .bind(account)
            .fetch_one(&pool)
            .await
            .expect("account");
    let (messages, post_actions_done): (i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), CAST(COALESCE(SUM(CASE WHEN post_action_done = 1 THEN 1 ELSE 0 END), 0) AS BIGINT)
         FROM messages WHERE account_id = $1",
    )
    .bind(account)
    .fetch_one(&pool)
    .await
    .expect("messages");
    pool.close().await;
    AccountState {
        delta_link,
        messages,
        post_actions_done,
    }
}

/// Runs recorded by `instance` that finished at or after `since` (unix seconds).
async fn runs_by(db: &SharedDb, instance: &str, since: i64) -> i64 {
    let pool = db.db().await;
    let n = sqlx::query_scalar(
        "SELECT COUNT(*) FROM import_runs WHERE instance_id = $1 AND finished_at >= $2",
    )
    .bind(instance)
    .bind(since)
    .fetch_one(&pool)
    .await
    .expect("runs");
    pool.close().await;
    n
}

/// Lease takeover and fencing: instance `pa` imports a mailbox (mark_read, so a delta
/// cursor moves) and is paused with SIGSTOP; `pb` takes the mailbox over within the lease
/// timeout. The mailbox is then taken out of service so nothing legitimate changes, and `pa`
/// is woken with SIGCONT: it sends no Graph request and writes nothing (cursor, messages,
/// post-action markers, run records). Back in service, `pb` finishes: every message once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_instance_loses_its_mailbox_and_writes_nothing_when_it_wakes() {
    let sandbox = Sandbox::start();
    create_mailboxes(&sandbox, 1, 40).await;
    let user = mailbox(1);
    let seeded = seed_mailbox(&sandbox, &user, 300, 7).await;
    let db = prepare_shared(&sandbox, &[("acct".into(), user.clone(), "mark_read")]).await;

    let mut a = start_instance(&db, &sandbox, "pa");
    a.wait_ready().await;
    wait_for(Duration::from_secs(30), "pa imports", || async {
        graph_log(&sandbox).await.iter().any(|e| e.instance == "pa")
            && account_state(&db, "acct").await.messages > 20
    })
    .await;
    let mut b = start_instance(&db, &sandbox, "pb");
    b.wait_ready().await;
    assert!(
        remaining_in(&sandbox, &user, "mark_read").await > 50,
        "pa must still be importing when it is paused"
    );

    db.pause_between_writes(&a).await;
    let paused_at = unix_now();
    let takeover = wait_for(
        Duration::from_secs(LEASE_SECS * 4 + 10),
        "pb takes the mailbox over",
        || async {
            graph_log(&sandbox)
                .await
                .iter()
                .any(|e| e.instance == "pb" && e.received > paused_at)
        },
    )
    .await;
    wait_for(Duration::from_secs(30), "pb imports", || async {
        runs_by(&db, "pb", 0).await > 0 || account_state(&db, "acct").await.messages > 100
    })
    .await;

    // Nothing legitimate may change from here: Graph refuses every request for the mailbox.
    set_mailbox(&sandbox, &user, json!({"enabled": false})).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before = account_state(&db, "acct").await;
    let woken_at = unix_now();
    signal(&a, "CONT");
    tokio::time::sleep(Duration::from_secs(LEASE_SECS + 2)).await;
    let after = account_state(&db, "acct").await;
    let log = graph_log(&sandbox).await;
    let sent_after_waking: Vec<_> = log
        .iter()
        .filter(|e| e.instance == "pa" && e.received >= woken_at)
        .collect();
    assert!(
        sent_after_waking.is_empty(),
        "the woken instance sent Graph requests: {sent_after_waking:?}"
    );
    assert_eq!(after, before, "the woken instance changed the account");
    assert_eq!(
        runs_by(&db, "pa", woken_at as i64).await,
        0,
        "the woken instance recorded a run"
    );

    // Back in service: the import completes, every message exactly once.
    set_mailbox(&sandbox, &user, json!({"enabled": true, "delay_ms": 0})).await;
    wait_for(Duration::from_secs(120), "the import completes", || async {
        remaining_in(&sandbox, &user, "mark_read").await == 0
            && account_state(&db, "acct").await.post_actions_done == seeded.len() as i64
    })
    .await;
    a.terminate().await;
    b.terminate().await;
    let stored = stored_messages(&db).await;
    let shas: HashSet<_> = stored.iter().map(|m| m.sha256.clone()).collect();
    assert_eq!(stored.len(), seeded.len(), "rows");
    assert!(seeded.iter().all(|s| shas.contains(&s.sha256)), "lost");
    let overlaps = overlapping(&graph_log(&sandbox).await);
    assert!(
        overlaps.is_empty(),
        "two instances had requests to the mailbox in flight at once: {:?}",
        &overlaps[..overlaps.len().min(3)]
    );
    println!(
        "takeover: pb continued {:.1} s after pa was paused (lease {LEASE_SECS} s); pa woke and sent 0 requests, wrote nothing",
        takeover.as_secs_f64()
    );
}

/// The kill test across instances: three `serve` instances share 20 mailboxes with 2,000
/// messages (move, mark_read and delete mixed); every second or two one of them is SIGKILLed
/// and started again (under a new id), 20 times. In the end every message is stored
/// exactly once (by sha256 and Message-ID) with its post-action applied, no two instances
/// ever had requests to one mailbox in flight at once, and no refresh token was presented
/// twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_killed_in_turn_import_every_message_exactly_once() {
    let boxes = env_number("MAILPORT_MULTI_MAILBOXES", 20);
    let messages = env_number("MAILPORT_KILL_MESSAGES", 2000);
    let kills = env_number("MAILPORT_KILLS", 20);
    let per_box = messages.div_ceil(boxes);
    let sandbox = Sandbox::start();
    // A slow server (at most 16 requests a second per mailbox): the import spans the kills.
    create_mailboxes(&sandbox, boxes, 400).await;
    let modes = ["move", "mark_read", "delete"];
    let mut seeded = Vec::new();
    let mut plan = Vec::new();
    for n in 1..=boxes {
        let user = mailbox(n);
        let count = per_box.min(messages - seeded.len());
        seeded.extend(seed_mailbox(&sandbox, &user, count, n as u64).await);
        plan.push((format!("acct{n:02}"), user, modes[n % modes.len()]));
    }
    let db = prepare_shared(&sandbox, &plan).await;

    let mut instances: Vec<Server> = (0..3)
        .map(|i| start_instance(&db, &sandbox, &format!("n{i}-g0")))
        .collect();
    for s in &mut instances {
        s.wait_ready().await;
    }
    let mut rng = Lcg(0x1ea5e);
    let mut killed_mid_import = 0;
    let started = Instant::now();
    for k in 0..kills {
        tokio::time::sleep(Duration::from_millis(700 + rng.next() % 1300)).await;
        let victim = (rng.next() % 3) as usize;
        if remaining(&sandbox, &plan).await > 0 {
            killed_mid_import += 1;
        }
        instances[victim].kill();
        instances[victim] = start_instance(&db, &sandbox, &format!("n{victim}-g{}", k + 1));
        instances[victim].wait_ready().await;
    }
    wait_for(Duration::from_secs(300), "the import completes", || async {
        remaining(&sandbox, &plan).await == 0 && pending_actions(&db).await == 0
    })
    .await;
    let import_time = started.elapsed();
    for s in &mut instances {
        s.terminate().await;
    }
    // Alone, an instance sweeps what the killed ones left in the shared blob folder.
    tokio::time::sleep(Duration::from_secs(LEASE_SECS + 1)).await;
    let mut last = start_instance(&db, &sandbox, "sweeper");
    last.wait_ready().await;
    last.terminate().await;

    let stored = stored_messages(&db).await;
    let ids: HashSet<_> = stored.iter().map(|m| m.graph_id.clone()).collect();
    let shas: HashSet<_> = stored.iter().map(|m| m.sha256.clone()).collect();
    let mids: HashSet<_> = stored
        .iter()
        .map(|m| m.internet_message_id.clone())
        .collect();
    assert_eq!(stored.len(), messages, "rows");
    assert_eq!(ids.len(), messages, "duplicated graph ids");
    assert_eq!(mids.len(), messages, "duplicated Message-IDs");
    for s in &seeded {
        assert!(shas.contains(&s.sha256), "lost {}", s.internet_message_id);
        assert!(mids.contains(&s.internet_message_id), "lost Message-ID");
    }
    assert!(
        stored.iter().all(|m| m.post_action_done),
        "post-action pending"
    );
    for (_, user, mode) in &plan {
        let inbox = folder(&sandbox, user, "Inbox").await;
        match *mode {
            "mark_read" => assert!(inbox.iter().all(|m| m["is_read"] == true), "{user}"),
            _ => assert!(inbox.is_empty(), "{user}: inbox not empty"),
        }
    }
    assert_eq!(integrity_check(&db).await, "ok");
    assert_eq!(blob_leftovers(&db, &shas).await, (0, 0), "blob leftovers");

    let log = graph_log(&sandbox).await;
    let overlaps = overlapping(&log);
    assert!(
        overlaps.is_empty(),
        "{} times two instances had requests to one mailbox in flight at once, e.g. {:?}",
        overlaps.len(),
        &overlaps[..overlaps.len().min(3)]
    );
    // This test's credential uses client credentials, which have no refresh token (so
    // `presented` is 0 here); the race between instances over one refresh token is
    // `instances_never_present_one_refresh_token_twice` in the API tests.
    let (presented, twice) = refresh_tokens_presented_twice(&sandbox).await;
    assert!(
        twice.is_empty(),
        "refresh tokens presented twice: {twice:?}"
    );
    let instances_seen: HashSet<_> = log.iter().map(|e| e.instance.clone()).collect();
    // The kills must land in the import, and the restarted processes must have taken work
    // over, or the test showed nothing about takeovers.
    assert!(
        killed_mid_import >= kills / 2,
        "only {killed_mid_import} of {kills} kills landed during the import"
    );
    assert!(
        instances_seen.len() > 3,
        "only {} instance processes sent Graph requests",
        instances_seen.len()
    );
    println!(
        "kill test across instances: {messages} messages in {boxes} mailboxes, 3 instances, {kills} SIGKILLs ({killed_mid_import} during the import), {} instance processes in the Graph log, {} requests, import done in {:.1} s: 0 lost, 0 duplicated, 0 overlapping requests, no refresh token presented twice ({presented} presented)",
        instances_seen.len(),
        log.len(),
        import_time.as_secs_f64()
    );
}

/// Messages not yet dealt with over every mailbox of the plan.
async fn remaining(sandbox: &Sandbox, plan: &[(String, String, &str)]) -> usize {
    let mut n = 0;
    for (_, user, mode) in plan {
        n += remaining_in(sandbox, user, mode).await;
    }
    n
}
