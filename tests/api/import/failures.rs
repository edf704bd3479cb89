//! Failed and dropped downloads, oversized and vanished messages, fault storms, expired
//! delta tokens and lasting throttling: nothing lost, nothing twice.

use super::*;

/// `count` downloads whose body the sandbox drops half way.
fn dropped_downloads(count: usize) -> Vec<FaultSpec> {
    (0..count)
        .map(|_| FaultSpec {
            fault: Fault::DropBody,
            target: FaultTarget::Value,
            mailbox: None,
        })
        .collect()
}

#[tokio::test]
async fn a_dropped_download_leaves_nothing_and_is_retried() {
    let app = app_with_account("move").await;
    let seeded = seed(&app, "inbox", 2, false);
    app.graph().push_faults(dropped_downloads(10)).unwrap();
    let s = app.state.importer.run_account("acct").await.unwrap();
    assert_eq!(s.imported, 0, "{s:?}");
    assert!(s.failed >= 1);
    assert!(app.stored("acct").await.is_empty());
    assert_eq!(
        app.graph().messages(ADELE, "inbox").unwrap().len(),
        2,
        "mailbox untouched"
    );
    let tmp = app.data_dir.path().join("blobs/tmp");
    let leftovers = std::fs::read_dir(&tmp).map(|d| d.count()).unwrap_or(0);
    assert_eq!(leftovers, 0, "no partial files");

    app.graph().clear_faults();
    app.state.importer.run_account("acct").await.unwrap();
    assert_stored_once(&app, &seeded).await;
}

#[tokio::test]
async fn in_delta_mode_a_failed_download_keeps_the_cursor_before_its_page() {
    for mode in ["keep", "mark_read"] {
        let app = app_with_account(mode).await;
        let seeded = seed(&app, "inbox", 1, false);
        // More drops than the client's attempts: this run cannot download the message.
        app.graph().push_faults(dropped_downloads(10)).unwrap();
        let s = app.state.importer.run_account("acct").await.unwrap();
        assert_eq!((s.imported, s.failed), (0, 1), "{mode}: {s:?}");
        assert!(
            s.log.iter().any(|l| l.contains("reads the page again")),
            "{mode}: {:?}",
            s.log
        );

        app.graph().clear_faults();
        let s = app.state.importer.run_account("acct").await.unwrap();
        assert_eq!(s.imported, 1, "{mode}: the next run gets it: {s:?}");
        assert_stored_once(&app, &seeded).await;
        // The round is done: nothing new (mark_read's own change comes back once, as in
        // Exchange, and is skipped).
        let s = app.state.importer.run_account("acct").await.unwrap();
        assert_eq!(s.imported, 0, "{mode}: {s:?}");
        if mode == "keep" {
            assert_eq!(s.listed, 0, "{s:?}");
        }
    }
}

#[tokio::test]
async fn an_oversized_message_is_recorded_once_and_never_downloaded() {
    let app = app_with_account("move").await;
    sqlx::query("UPDATE email_accounts SET max_message_bytes = 20000")
        .execute(&app.state.db)
        .await
        .unwrap();
    let big = app
        .graph()
        .seed_generated(
            ADELE,
            "inbox",
            &GenerateSpec {
                count: 1,
                size: 60_000,
                ..GenerateSpec::default()
            },
        )
        .unwrap();
    let small = seed(&app, "inbox", 1, false);
    app.graph().reset_request_log();
    for _ in 0..3 {
        app.state.importer.run_account("acct").await.unwrap();
    }
    let value_requests = app
        .graph()
        .request_log()
        .totals
        .get("value")
        .copied()
        .unwrap_or(0);
    assert_eq!(value_requests, 1, "only the small message was downloaded");
    let stored = app.stored("acct").await;
    let too_large: Vec<_> = stored
        .iter()
        .filter(|(_, _, state, _)| state == "too_large")
        .collect();
    assert_eq!(too_large.len(), 1);
    assert_eq!(too_large[0].0, big[0].immutable_id);
    assert_stored_once(&app, &small).await;
    assert_eq!(
        app.graph().messages(ADELE, "inbox").unwrap().len(),
        1,
        "left in the mailbox"
    );
}

#[tokio::test]
async fn a_fault_storm_still_imports_everything_once() {
    let app = app_with_account("move").await;
    let seeded = seed(&app, "inbox", 200, false);
    app.graph().set_storm(Some(StormSpec {
        probability: 0.3,
        seed: 11,
        target: FaultTarget::Any,
    }));
    let mut runs = 0;
    let mut retries = 0;
    let mut logged_retry = false;
    while !app.folder("inbox").is_empty() && runs < 30 {
        let s = app.state.importer.run_account("acct").await.unwrap();
        retries += s.retries;
        logged_retry |= s.log.iter().any(|l| l.contains("retry"));
        runs += 1;
    }
    app.graph().set_storm(None);
    app.state.importer.run_account("acct").await.unwrap();
    assert_stored_once(&app, &seeded).await;
    assert_eq!(app.folder("Imported").len(), 200);
    assert!(app.stored("acct").await.iter().all(|(_, _, _, done)| *done));
    assert_eq!(app.api("/accounts/acct").await["status"], "ok");
    let log = app.graph().request_log();
    let faults = log.entries.iter().filter(|e| e.fault.is_some()).count();
    assert!(faults > 50, "the storm injected faults: {faults}");
    assert!(
        retries > 0 && logged_retry,
        "retries are counted and logged"
    );
    // Bounded: a handful of requests per message even at 30 % failures.
    assert!(
        log.total < 200 * 6,
        "{} requests for 200 messages",
        log.total
    );
    println!(
        "storm: 200 messages, {runs} runs, {faults} injected faults, {retries} retries, {} requests, 0 lost, 0 duplicated",
        log.total
    );
}

#[tokio::test]
async fn a_message_removed_between_listing_and_download_is_skipped_not_failed() {
    let app = app_with_account("move").await;
    let seeded = seed(&app, "inbox", 2, false);
    // The importer lists both messages, then Graph throttles the downloads for 3 seconds.
    sandbox_control(
        &app,
        "/_sandbox/graph/faults",
        serde_json::json!({"faults": [
            {"kind": "throttle", "retry_after": {"seconds": "3"}, "target": "value"},
            {"kind": "throttle", "retry_after": {"seconds": "3"}, "target": "value"},
            {"kind": "throttle", "retry_after": {"seconds": "3"}, "target": "value"},
            {"kind": "throttle", "retry_after": {"seconds": "3"}, "target": "value"}
        ]}),
    )
    .await;
    let importer = app.state.importer.clone();
    let run = tokio::spawn(async move { importer.run_account("acct").await });
    // While the importer waits (the tests cap a wait at 0.5 s; two more 429s follow), another
    // client deletes one message through Graph.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while app.graph().pending_faults().len() > 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the downloads never started"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let token = app.state.tokens.access_token("app").await.expect("token");
    let gone = &seeded[0];
    let r = reqwest::Client::new()
        .delete(format!(
            "{}/v1.0/users/{ADELE}/messages/{}",
            app.sandbox.base_url, gone.immutable_id
        ))
        .bearer_auth(token.expose())
        .send()
        .await
        .expect("DELETE");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);

    let s = run.await.expect("join").expect("run");
    assert_eq!(
        (s.outcome.as_str(), s.imported, s.failed, s.skipped),
        ("ok", 1, 0, 1),
        "{s:?}"
    );
    assert!(
        s.log
            .iter()
            .any(|l| l.contains("was gone from the mailbox")),
        "{:?}",
        s.log
    );
    let json = app.api("/accounts/acct").await;
    assert_eq!(json["status"], "ok");
    assert_eq!(json["last_run"]["failed"], 0);
    assert_eq!(json["last_run"]["outcome"], "ok");
    assert_stored_once(&app, &seeded[1..]).await;
    assert_eq!(app.stored("acct").await.len(), 1);
}

#[tokio::test]
async fn an_expired_delta_token_restarts_without_duplicates() {
    let app = app_with_account("keep").await;
    let first = seed(&app, "inbox", 5, false);
    app.state.importer.run_account("acct").await.unwrap();
    app.graph().expire_delta_tokens(ADELE).unwrap();
    let later = seed(&app, "inbox", 3, false);
    let s = app.state.importer.run_account("acct").await.unwrap();
    assert_eq!(s.outcome, "ok", "{s:?}");
    assert_eq!(s.imported, 3, "only the new mail: {s:?}");
    assert!(
        s.log.iter().any(|l| l.contains("delta token expired")),
        "{:?}",
        s.log
    );
    let all: Vec<_> = first.into_iter().chain(later).collect();
    assert_stored_once(&app, &all).await;
    assert_eq!(app.stored("acct").await.len(), 8);
}

#[tokio::test]
async fn delta_tokens_expiring_mid_round_restart_the_sync_without_duplicates() {
    let app = app_with_account("keep").await;
    // Three delta pages of 50; with 20 ms per `$value` the round lasts well over 100 ms, so
    // the tokens expire while pages are being read ahead.
    let seeded = seed(&app, "inbox", 120, false);
    app.graph().set_delay_ms(ADELE, 20).unwrap();
    let importer = app.state.importer.clone();
    let run = tokio::spawn(async move { importer.run_account("acct").await });
    // Once the first page's downloads have begun (however long the start took).
    for _ in 0..500 {
        let log = app.graph().request_log();
        if log.entries.iter().any(|e| e.path.ends_with("/$value")) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    app.graph().expire_delta_tokens(ADELE).unwrap();
    let s = run.await.unwrap().unwrap();
    app.graph().set_delay_ms(ADELE, 0).unwrap();
    assert_eq!(s.outcome, "ok", "{s:?}");
    assert!(
        s.log.iter().any(|l| l.contains("delta token expired")),
        "{:?}",
        s.log
    );
    assert_eq!(s.imported, 120, "{s:?}");
    assert_stored_once(&app, &seeded).await;
    let again = app.state.importer.run_account("acct").await.unwrap();
    assert_eq!((again.listed, again.imported), (0, 0), "{again:?}");
}

#[tokio::test]
async fn an_account_that_stays_throttled_pauses() {
    let app = app_with_account("move").await;
    seed(&app, "inbox", 1, false);
    let throttles: Vec<FaultSpec> = (0..40)
        .map(|_| FaultSpec {
            fault: Fault::Throttle { retry_after: None },
            target: FaultTarget::List,
            mailbox: None,
        })
        .collect();
    app.graph().push_faults(throttles).unwrap();
    let s = app.state.importer.run_account("acct").await.unwrap();
    assert_eq!(s.outcome, "error");
    assert!(s.retries >= 1, "{s:?}");
    let json = app.api("/accounts/acct").await;
    assert_eq!(json["status"], "throttled");
    let page = app.get_text("/accounts").await;
    assert!(page.contains("Throttled until"));
    assert_eq!(app.folder("inbox").len(), 1, "untouched");
}
