//! Reliability under process death: `mailport serve` is SIGKILLed at random moments during
//! an import of 2,000 messages with attachments, restarted each time, and must in the end
//! hold every message exactly once with every post-import action applied.
//!
//! The sandbox and Mailport run as real processes on loopback ports. One test per mode
//! (`move`, `mark_read`, `delete`), and one with a webhook endpoint (every message delivered at
//! least once, duplicates only under the same webhook-id). `MAILPORT_KILLS` and `MAILPORT_KILL_MESSAGES` override the
//! defaults (20 kills, 2,000 messages).

mod backends;
mod harness;
mod instances;
mod load;

use std::collections::HashSet;
use std::time::Duration;

use serde_json::Value;

use harness::*;

async fn kill_test(mode: &str) {
    let messages = env_number("MAILPORT_KILL_MESSAGES", 2000);
    let kills = env_number("MAILPORT_KILLS", 20);
    let sandbox = Sandbox::start();
    let seeded = sandbox.seed(messages).await;
    // About 100 messages a second: the import spans most of the kills.
    sandbox.set_delay_ms(20).await;
    let data = prepare_data_dir(&sandbox, mode).await;
    let mut rng = Lcg(0x5eed ^ mode.len() as u64);

    let mut killed_mid_import = 0;
    for _ in 0..kills {
        let mut server = Server::start(&data, &sandbox);
        server.wait_ready().await;
        // A random moment: from right after start to well into an import.
        tokio::time::sleep(Duration::from_millis(200 + rng.next() % 1800)).await;
        if sandbox.remaining(mode).await > 0 {
            killed_mid_import += 1;
        }
        server.kill();
    }

    sandbox.set_delay_ms(0).await;
    let mut server = Server::start(&data, &sandbox);
    server.wait_ready().await;
    // A liveness bound, generous for a busy machine; the pace is measured in `cargo bench`.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(600);
    while sandbox.remaining(mode).await > 0 || pending_actions(&data).await > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the import did not finish"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    server.terminate().await;
    // The next start sweeps partial downloads and orphaned blobs.
    let mut server = Server::start(&data, &sandbox);
    server.wait_ready().await;
    server.terminate().await;

    let stored = stored_messages(&data).await;
    let ids: HashSet<_> = stored.iter().map(|m| m.graph_id.clone()).collect();
    assert_eq!(stored.len(), messages, "{mode}: rows");
    assert_eq!(ids.len(), messages, "{mode}: duplicated graph ids");
    let shas: HashSet<_> = stored.iter().map(|m| m.sha256.clone()).collect();
    let mids: HashSet<_> = stored
        .iter()
        .map(|m| m.internet_message_id.clone())
        .collect();
    assert_eq!(mids.len(), messages, "{mode}: duplicated Message-IDs");
    for s in &seeded {
        assert!(
            shas.contains(&s.sha256),
            "{mode}: lost message {}",
            s.internet_message_id
        );
        assert!(
            mids.contains(&s.internet_message_id),
            "{mode}: lost Message-ID"
        );
    }
    assert!(
        stored.iter().all(|m| m.post_action_done),
        "{mode}: post-action pending"
    );
    sandbox.assert_tidied(mode, messages).await;
    assert_eq!(integrity_check(&data).await, "ok");
    let (tmp, orphans) = blob_leftovers(&data, &shas).await;
    assert_eq!(
        (tmp, orphans),
        (0, 0),
        "{mode}: temporary or orphaned blob files"
    );
    println!(
        "kill test {mode}: {messages} messages, {kills} SIGKILLs ({killed_mid_import} during the import): 0 lost, 0 duplicated"
    );
}

/// At-least-once webhooks: `serve` is SIGKILLed during an import with an endpoint
/// configured; in the end every message reached the receiver, and a message sent more than
/// once always came with the same webhook-id and the same body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_during_import_with_a_webhook_delivers_every_message_at_least_once() {
    let messages = env_number("MAILPORT_KILL_WEBHOOK_MESSAGES", 1000);
    let kills = env_number("MAILPORT_KILLS", 20);
    let sandbox = Sandbox::start();
    sandbox.seed(messages).await;
    // About 40 messages a second: the import spans most of the kills.
    sandbox.set_delay_ms(50).await;
    let data = prepare_data_dir(&sandbox, "move").await;
    add_webhook(&data, &sandbox).await;
    let mut rng = Lcg(0x3ebf00c);
    let mut killed_mid_import = 0;
    // Each start listens on another port; the public URL (which payload links use) stays,
    // as in production.
    let env = [("MAILPORT_PUBLIC_URL", "http://mailport.invalid")];
    for _ in 0..kills {
        let mut server = Server::start_with(&data, &sandbox, &env);
        server.wait_ready().await;
        tokio::time::sleep(Duration::from_millis(200 + rng.next() % 1800)).await;
        if sandbox.remaining("move").await > 0 {
            killed_mid_import += 1;
        }
        server.kill();
    }
    sandbox.set_delay_ms(0).await;
    let mut server = Server::start_with(&data, &sandbox, &env);
    server.wait_ready().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(240);
    let delivered = |got: &[Value]| {
        got.iter()
            .filter(|r| r["answer"] == "200")
            .filter_map(|r| r["webhook_id"].as_str().map(str::to_string))
            .collect::<HashSet<_>>()
            .len()
    };
    loop {
        let got = received(&sandbox, "erp").await;
        if sandbox.remaining("move").await == 0 && delivered(&got) >= messages {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not everything was delivered: {} of {messages}",
            delivered(&got)
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    server.terminate().await;

    let got = received(&sandbox, "erp").await;
    let stored = stored_messages(&data).await;
    assert_eq!(stored.len(), messages);
    // By message: every one arrived (answered 200), always under one webhook-id.
    let mut ids_of_message: std::collections::HashMap<i64, HashSet<String>> = Default::default();
    let mut bodies_of_id: std::collections::HashMap<String, HashSet<String>> = Default::default();
    let mut arrived = HashSet::new();
    for r in &got {
        assert_eq!(
            r["signature_valid"], true,
            "a delivery with a bad signature"
        );
        let id = r["webhook_id"].as_str().unwrap_or_default().to_string();
        let body: Value =
            serde_json::from_str(r["body"].as_str().unwrap_or("{}")).expect("json body");
        let message = body["data"]["message"]["id"].as_i64().expect("message id");
        ids_of_message
            .entry(message)
            .or_default()
            .insert(id.clone());
        bodies_of_id
            .entry(id)
            .or_default()
            .insert(r["body_sha256"].as_str().unwrap_or_default().to_string());
        if r["answer"] == "200" {
            arrived.insert(message);
        }
    }
    assert_eq!(arrived.len(), messages, "messages delivered");
    assert!(
        ids_of_message.values().all(|ids| ids.len() == 1),
        "a message came under two webhook-ids"
    );
    assert!(
        bodies_of_id.values().all(|b| b.len() == 1),
        "a webhook-id came with two bodies"
    );
    let duplicates = got.iter().filter(|r| r["answer"] == "200").count() - messages;
    assert_eq!(integrity_check(&data).await, "ok");
    println!(
        "kill test webhooks: {messages} messages, {kills} SIGKILLs ({killed_mid_import} during the import), {} requests to the receiver: 0 lost, {duplicates} delivered twice (same webhook-id and body)",
        got.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_during_move_import() {
    kill_test("move").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_during_mark_read_import() {
    kill_test("mark_read").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_during_delete_import() {
    kill_test("delete").await;
}

/// `serve` prints its ready line only once a SIGTERM would stop it gracefully, so a SIGTERM
/// sent the moment the line appears ends it with exit code 0, never killed by the signal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_right_after_the_ready_line_shuts_down_gracefully() {
    let sandbox = Sandbox::start();
    sandbox.seed(200).await;
    let data = prepare_data_dir(&sandbox, "move").await;
    for _ in 0..10 {
        let mut server = Server::start(&data, &sandbox);
        server.wait_ready().await;
        server.terminate().await;
    }
}
