//! Several `mailport serve` processes on one database (a test app's SQLite file in WAL mode,
//! which SQLite locks across processes, or its PostgreSQL database when the tests run on
//! PostgreSQL): Run now on any instance, `mailport import` under leases, token refreshes
//! that stay single-flight across instances, and a sign-in throttle they share.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::helpers::*;

/// A `mailport serve` process on a test app's data dir and sandbox.
struct Instance {
    child: Child,
    base: String,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// `mailport` with the test app's data dir and its sandbox allowed.
fn mailport(app: &TestApp, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mailport"));
    c.args(args)
        .arg("--data-dir")
        .arg(app.data_dir.path())
        .args([
            "--allow-host",
            app.sandbox.base_url.trim_start_matches("http://"),
        ])
        .env("MAILPORT_LOG", "warn")
        .env_remove("MAILPORT_SECRET_KEY")
        .env_remove("MAILPORT_DATABASE_URL");
    let config = &app.state.config;
    if let (Some(url), Some(key_file)) = (&config.database_url, &config.secret_key_file) {
        c.env("MAILPORT_DATABASE_URL", url.expose())
            .env("MAILPORT_SECRET_KEY_FILE", key_file);
    }
    c
}

impl Instance {
    /// Instance `id` with 10-second leases (a loaded machine must not lose them).
    async fn start(app: &TestApp, id: &str) -> Instance {
        let port = free_port();
        let mut child = mailport(
            app,
            &[
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--instance-id",
                id,
                "--lease-duration",
                "10s",
            ],
        )
        .stdout(Stdio::piped())
        .spawn()
        .expect("serve");
        // `serve` prints its ready line once it accepts connections and would stop
        // gracefully on SIGTERM; a loaded machine may take a while to get there.
        let stdout = child.stdout.take().expect("stdout");
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line.starts_with(mailport::app::READY_LINE) {
                    let _ = ready_tx.send(());
                }
            }
        });
        let mut instance = Instance {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            match ready_rx.try_recv() {
                Ok(()) => return instance,
                Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                    let status = instance.child.wait().expect("wait");
                    panic!("instance {id} exited before it was ready: {status}");
                }
                Err(std::sync::mpsc::TryRecvError::Empty) => {}
            }
            if let Ok(Some(status)) = instance.child.try_wait() {
                panic!("instance {id} exited before it was ready: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "instance {id} did not print its ready line within 120 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGTERM: a graceful stop, which releases the instance's leases.
    async fn terminate(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        for _ in 0..600 {
            if let Ok(Some(status)) = self.child.try_wait() {
                assert!(status.success(), "serve exited with {status}");
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("serve did not stop");
    }
}

/// A signed-in test app with credential `app` and account `acct` on Adele's inbox, whose
/// own importer is stopped: only the `serve` processes import.
async fn app_with_account() -> TestApp {
    let app = TestApp::signed_in().await;
    app.app_credential().await;
    let r = app.create_account("acct", &[]).await;
    assert_is_redirect_to(&r, "/accounts/acct");
    app.state.importer.shutdown().await;
    app
}

async fn lease_owner(app: &TestApp, account: &str) -> Option<String> {
    mailport::store::leases::of_account(&app.state.db, account)
        .await
        .expect("lease")
        .filter(|l| l.expires_at_ms > mailport::clock::now_ms())
        .and_then(|l| l.owner)
}

async fn wait_until_held(app: &TestApp, account: &str, by: &str) {
    for _ in 0..300 {
        if lease_owner(app, account).await.as_deref() == Some(by) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("instance {by} did not claim the mailbox of {account}");
}

fn seed(app: &TestApp, count: usize) {
    app.graph()
        .seed_generated(
            ADELE,
            "Inbox",
            &mailport::sandbox::graph::GenerateSpec {
                count,
                ..Default::default()
            },
        )
        .expect("seed");
}

#[tokio::test]
async fn run_now_on_an_instance_without_the_mailbox_starts_the_run_on_its_holder() {
    let app = app_with_account().await;
    let one = Instance::start(&app, "one").await;
    wait_until_held(&app, "acct", "one").await;
    let two = Instance::start(&app, "two").await;
    seed(&app, 5);

    let pressed = Instant::now();
    let csrf = app.csrf().await;
    let r = app
        .client
        .post(format!("{}/accounts/acct/import", two.base))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .expect("run now");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let run_of = || async {
        mailport::store::runs::last(&app.state.db, "acct")
            .await
            .expect("runs")
            .filter(|r| r.imported == 5)
    };
    while run_of().await.is_none() {
        assert!(
            pressed.elapsed() < Duration::from_secs(15),
            "Run now on instance two did not start a run"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let done_after = pressed.elapsed();
    let last = run_of().await.expect("a run");
    assert_eq!(
        last.instance_id.as_deref(),
        Some("one"),
        "ran on the holder"
    );
    assert_eq!(last.imported, 5);

    // Instance two's account page says where the mailbox is imported.
    let page = app
        .client
        .get(format!("{}/accounts/acct", two.base))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("text");
    assert!(
        page.contains("imported by instance one; this page is served by two"),
        "{page}"
    );
    drop(one);
    println!(
        "Run now on instance two: run on instance one done {:.2} s after the press",
        done_after.as_secs_f64()
    );
}

#[tokio::test]
async fn mailport_import_refuses_with_code_3_while_another_instance_holds_the_mailbox() {
    let app = app_with_account().await;
    let mut one = Instance::start(&app, "one").await;
    wait_until_held(&app, "acct", "one").await;
    seed(&app, 3);

    let out = mailport(&app, &["import", "--account", "acct"])
        .output()
        .expect("import");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("instance one"), "{stderr}");
    assert!(stderr.contains("--wait"), "{stderr}");
    assert_eq!(
        mailport::store::messages::count_for_account(&app.state.db, "acct")
            .await
            .expect("count"),
        0,
        "nothing was imported by the refused command (the holder polls again in a minute)"
    );

    // With --wait it runs once the holder lets go (a graceful stop releases at once).
    let mut waiting = mailport(&app, &["import", "--account", "acct", "--wait"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("import --wait");
    tokio::time::sleep(Duration::from_secs(2)).await;
    if waiting.try_wait().expect("status").is_some() {
        let out = waiting.wait_with_output().expect("output");
        panic!(
            "--wait returned while the mailbox was held: {} {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    one.terminate().await;
    // A graceful stop releases the lease at once (it was renewed moments ago and would
    // otherwise hold for 10 s): the mailbox is free, or already the waiting command's.
    assert_ne!(
        lease_owner(&app, "acct").await.as_deref(),
        Some("one"),
        "the stopped instance still holds the mailbox"
    );
    let out = tokio::task::spawn_blocking(move || waiting.wait_with_output())
        .await
        .expect("join")
        .expect("output");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The waiting command ran; the three messages are stored exactly once, whoever of
    // the two imported them (the holder may have polled before it stopped).
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("imported"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(
        mailport::store::messages::count_for_account(&app.state.db, "acct")
            .await
            .expect("count"),
        3
    );
}

/// Three instances, ten accounts on one delegated credential, access tokens that need a
/// refresh every couple of seconds, for a minute (`MAILPORT_TOKEN_RACE_SECS` changes it):
/// the holder of the mailbox imports while the other two test the accounts' connections (an
/// administrator behind a load balancer). Refreshes
/// happen on every instance, and the sandbox's token log shows each refresh token
/// presented exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_never_present_one_refresh_token_twice() {
    let secs = std::env::var("MAILPORT_TOKEN_RACE_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60u64);
    // Fresh for two seconds: the token service refreshes when less than five minutes are left.
    let app = TestApp::signed_in_with(|c| c.access_token_lifetime_secs = 302).await;
    let r = app.create_credential("me", "authorization_code", &[]).await;
    assert_is_redirect_to(&r, "/credentials/me");
    app.authorize("me").await;
    seed(&app, 40);
    for n in 0..10 {
        let r = app
            .create_account(
                &format!("t{n}"),
                &[
                    ("credential_id", "me"),
                    ("after_import", "keep"),
                    ("poll_interval", "10"),
                ],
            )
            .await;
        assert_is_redirect_to(&r, &format!("/accounts/t{n}"));
    }
    app.state.importer.shutdown().await;
    app.sandbox.sandbox.world.identity().clear_token_log();

    let instances = [
        Instance::start(&app, "r1").await,
        Instance::start(&app, "r2").await,
        Instance::start(&app, "r3").await,
    ];
    let csrf = app.csrf().await;
    let until = Instant::now() + Duration::from_secs(secs);
    let mut n = 0usize;
    while Instant::now() < until {
        let presses = instances.iter().enumerate().map(|(i, instance)| {
            let url = format!("{}/accounts/t{}/test", instance.base, (n + i) % 10);
            let request = app.client.post(url).form(&[("csrf_token", csrf.as_str())]);
            async move { request.send().await.map(|r| r.status()) }
        });
        for status in futures_util::future::join_all(presses).await {
            assert!(status.is_ok_and(|s| s.is_success() || s.is_redirection()));
        }
        n += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(instances);

    let log = app.sandbox.sandbox.world.identity().token_log();
    let refreshes: Vec<_> = log
        .iter()
        .filter(|e| e.grant_type.as_deref() == Some("refresh_token"))
        .collect();
    let mut presented = std::collections::HashMap::<&str, usize>::new();
    for e in &refreshes {
        if let Some(rt) = e.presented_refresh_token.as_deref() {
            *presented.entry(rt).or_default() += 1;
        }
    }
    let by: std::collections::HashSet<_> = refreshes
        .iter()
        .filter_map(|e| e.user_agent.clone())
        .collect();
    assert!(
        refreshes.len() >= 5,
        "too few refreshes to race: {}",
        refreshes.len()
    );
    assert!(
        by.len() >= 2,
        "refreshes came from one instance only: {by:?}"
    );
    assert!(
        presented.values().all(|&n| n == 1),
        "a refresh token was presented twice"
    );
    assert!(refreshes.iter().all(|e| e.result == "ok"));
    assert!(!log.iter().any(|e| e.presented_superseded_refresh_token));
    println!(
        "token refresh race: {} refreshes from {} instances in {secs} s, each refresh token presented once",
        refreshes.len(),
        by.len()
    );
}

/// Wrong passwords counted by one instance are refused by another: the sign-in throttle
/// lives in the shared database, so a load balancer that spreads a guesser's requests over
/// several instances gives it no more attempts (and needs no sticky sessions).
#[tokio::test]
async fn a_guesser_refused_by_one_instance_is_refused_by_the_others() {
    let app = TestApp::signed_in().await;
    let other = Instance::start(&app, "other").await;
    let guesser = TestApp::spawn_client(&app);
    for _ in 0..mailport::web::login_limit::MAX_PER_NAME_AND_ADDRESS {
        let r = guesser.login(ADMIN, "not the password").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let page = client
        .get(format!("{}/login", other.base))
        .send()
        .await
        .expect("login page")
        .text()
        .await
        .expect("text");
    let csrf = form_value(&page, "csrf_token").expect("csrf token");
    let r = client
        .post(format!("{}/login", other.base))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("username", ADMIN),
            ("password", ADMIN_PASSWORD),
        ])
        .send()
        .await
        .expect("sign in");
    assert_eq!(
        r.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the other instance let the guesser's address try again"
    );
    assert!(r.headers().contains_key(reqwest::header::RETRY_AFTER));
}
