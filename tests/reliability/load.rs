//! SQLite under load: pages and the API are hammered (bounded in time) while `mailport
//! serve` imports 2,000 messages. No request may fail ("database is locked" would be a
//! 500), and the import must complete; the latencies and the import's pace are printed, not
//! asserted (the machines are noisy; speed is measured in `cargo bench`).

use std::time::{Duration, Instant};

use crate::harness::*;

const CLIENTS: usize = 8;
const API_KEY: &str = "mp_load_test_key_0123456789abcdefghijklmnopqrs";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_and_api_stay_up_during_a_large_import() {
    let messages = env_number("MAILPORT_KILL_MESSAGES", 2000);
    let sandbox = Sandbox::start();
    sandbox.seed(messages).await;
    let data = prepare_data_dir(&sandbox, "move").await;
    add_admin_and_key(&data).await;
    let mut server = Server::start(&data, &sandbox);
    server.wait_ready().await;
    let base = server.base();

    let stop_at = Instant::now() + Duration::from_secs(90);
    let mut tasks = Vec::new();
    for n in 0..CLIENTS {
        let base = base.clone();
        // One after the other: parallel sign-ins of one user count against its limit.
        let client = signed_in_client(&base).await;
        tasks.push(tokio::spawn(async move {
            let paths = [
                "/credentials",
                "/accounts",
                "/mail",
                "/accounts/acct",
                "/api/v1/messages",
                "/api/v1/accounts/acct",
            ];
            let mut latencies = Vec::new();
            let mut failures = Vec::new();
            let mut i = n;
            while Instant::now() < stop_at {
                let path = paths[i % paths.len()];
                i += 1;
                let started = Instant::now();
                let request = client.get(format!("{base}{path}"));
                let request = if path.starts_with("/api") {
                    request.bearer_auth(API_KEY)
                } else {
                    request
                };
                match request.send().await {
                    Ok(r) if r.status().is_success() => latencies.push(started.elapsed()),
                    Ok(r) => failures.push(format!("{path}: {}", r.status())),
                    Err(e) => failures.push(format!("{path}: {e}")),
                }
                if latencies.len() + failures.len() >= 3000 {
                    break;
                }
            }
            (latencies, failures)
        }));
    }
    // The load lasts until the import is done or the window closes.
    let import_started = Instant::now();
    while sandbox.remaining("move").await > 0 && Instant::now() < stop_at {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let load_time = import_started.elapsed();
    let imported_under_load = messages - sandbox.remaining("move").await;
    let mut latencies = Vec::new();
    let mut failures = Vec::new();
    for t in tasks {
        let (l, f) = t.await.unwrap();
        latencies.extend(l);
        failures.extend(f);
    }
    assert!(
        failures.is_empty(),
        "failed requests under load: {:?}",
        &failures[..failures.len().min(10)]
    );
    // On a slow or busy machine the import may outlast the load window: it must still end,
    // within a generous bound (a liveness check, not a speed target).
    let deadline = Instant::now() + Duration::from_secs(600);
    while sandbox.remaining("move").await > 0 {
        assert!(Instant::now() < deadline, "the import did not finish");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    server.terminate().await;
    assert_eq!(
        stored_messages(&data).await.len(),
        messages,
        "every message was imported, once"
    );
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 - 1.0) * p) as usize];
    println!(
        "load: {} requests from {CLIENTS} clients in {:.1} s while {imported_under_load} of {messages} messages were imported: 0 failed, p50 {:.1} ms, p99 {:.1} ms",
        latencies.len(),
        load_time.as_secs_f64(),
        pct(0.5).as_secs_f64() * 1000.0,
        pct(0.99).as_secs_f64() * 1000.0
    );
}

async fn add_admin_and_key(data: &Installation) {
    let config = data.config();
    let state = mailport::app::AppState::open(config).await.unwrap();
    let hash = mailport::passwords::hash("load test password".into())
        .await
        .unwrap();
    mailport::store::users::upsert(&state.db, "admin", &hash)
        .await
        .unwrap();
    mailport::store::api_keys::create(
        &state.db,
        "load",
        &mailport::crypto::sha256_hex(API_KEY.as_bytes()),
    )
    .await
    .unwrap();
    state.db.close().await;
}

async fn signed_in_client(base: &str) -> reqwest::Client {
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = client
        .get(format!("{base}/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let marker = "name=\"csrf_token\" value=\"";
    let start = page.find(marker).expect("csrf field") + marker.len();
    let token = &page[start..start + page[start..].find('"').unwrap()];
    let r = client
        .post(format!("{base}/login"))
        .form(&[
            ("csrf_token", token),
            ("username", "admin"),
            ("password", "load test password"),
        ])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_redirection(), "login: {}", r.status());
    client
}
