//! The importer against the Graph sandbox: every post-import action, paging, delta,
//! crash safety, faults, size limits, consent loss and shutdown.

use std::collections::{HashMap, HashSet};

use mailport::sandbox::graph::{Fault, FaultSpec, FaultTarget, GenerateSpec, StormSpec};
use reqwest::StatusCode;

use crate::helpers::*;

async fn app_with_account(after_import: &str) -> TestApp {
    let app = TestApp::signed_in().await;
    app.app_credential().await;
    let r = app
        .create_account("acct", &[("after_import", after_import)])
        .await;
    assert_is_redirect_to(&r, "/accounts/acct");
    app
}

fn seed(
    app: &TestApp,
    folder: &str,
    count: usize,
    is_read: bool,
) -> Vec<mailport::sandbox::graph::MessageInfo> {
    app.graph()
        .seed_generated(
            ADELE,
            folder,
            &GenerateSpec {
                count,
                size: 6000,
                attachments: 1,
                is_read,
                ..GenerateSpec::default()
            },
        )
        .expect("seed")
}

/// Every seeded message is stored exactly once with the sandbox's sha256.
async fn assert_stored_once(app: &TestApp, seeded: &[mailport::sandbox::graph::MessageInfo]) {
    let stored = app.stored("acct").await;
    let by_id: HashMap<_, _> = stored
        .iter()
        .map(|(g, sha, _, _)| (g.clone(), sha.clone()))
        .collect();
    assert_eq!(by_id.len(), stored.len(), "duplicate rows");
    for m in seeded {
        assert_eq!(
            by_id.get(&m.immutable_id).cloned().flatten().as_deref(),
            Some(m.sha256.as_str()),
            "message {} stored with its bytes",
            m.subject
        );
        let blob = app.state.blobs.read(&m.sha256).await.expect("blob on disk");
        assert_eq!(blob.len(), m.size);
    }
}

#[tokio::test]
async fn move_imports_everything_once_and_moves_it() {
    let app = app_with_account("move").await;
    let seeded = seed(&app, "inbox", 7, false);
    let summary = app.state.importer.run_account("acct").await.unwrap();
    assert_eq!(
        (summary.outcome.as_str(), summary.imported),
        ("ok", 7),
        "{summary:?}"
    );
    assert_stored_once(&app, &seeded).await;
    assert!(app.graph().messages(ADELE, "inbox").unwrap().is_empty());
    let moved = app.folder("Imported");
    assert_eq!(moved.len(), 7);
    assert!(app.stored("acct").await.iter().all(|(_, _, _, done)| *done));
    let busiest = app
        .graph()
        .request_log()
        .max_concurrent
        .values()
        .copied()
        .max();
    assert!(
        busiest.is_some_and(|n| n <= 4),
        "Microsoft's 4 in flight per mailbox: {busiest:?}"
    );

    let again = app.state.importer.run_account("acct").await.unwrap();
    assert_eq!(again.imported, 0);
    let page = app.get_text("/accounts/acct").await;
    assert!(page.contains("7 imported"), "run shown on the account page");

    // Each import commit synced its WAL (FULL); every pooled connection is back at NORMAL.
    let mut held = Vec::new();
    for _ in 0..app.state.db.size() {
        let mut conn = app.state.db.acquire().await.unwrap();
        let level: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        assert_eq!(level, 1, "a connection left at synchronous level {level}");
        held.push(conn);
    }
    assert!(!held.is_empty());
}

#[tokio::test]
async fn mark_read_uses_delta_and_imports_mail_already_read() {
    let app = app_with_account("mark_read").await;
    let unread = seed(&app, "inbox", 3, false);
    let read = seed(&app, "inbox", 2, true);
    let s = app.state.importer.run_account("acct").await.unwrap();
    assert_eq!(s.imported, 5, "{s:?}");
    let all: Vec<_> = unread.iter().chain(read.iter()).cloned().collect();
    assert_stored_once(&app, &all).await;
    assert!(
        app.graph()
            .messages(ADELE, "inbox")
            .unwrap()
            .iter()
            .all(|m| m.is_read)
    );
    let delta_requests = app
        .graph()
        .request_log()
        .totals
        .get("delta")
        .copied()
        .unwrap_or(0);
    assert!(delta_requests >= 1, "delta was used");

    let s = app.state.importer.run_account("acct").await.unwrap();
    assert_eq!(s.imported, 0, "second run imports nothing: {s:?}");
    let later = seed(&app, "inbox", 1, true);
    let s = app.state.importer.run_account("acct").await.unwrap();
    assert_eq!(s.imported, 1);
    let all: Vec<_> = all.into_iter().chain(later).collect();
    assert_stored_once(&app, &all).await;
}

#[tokio::test]
async fn delete_and_keep() {
    let app = app_with_account("delete").await;
    let seeded = seed(&app, "inbox", 4, false);
    app.state.importer.run_account("acct").await.unwrap();
    assert_stored_once(&app, &seeded).await;
    assert!(app.graph().messages(ADELE, "inbox").unwrap().is_empty());

    let app = app_with_account("keep").await;
    let seeded = seed(&app, "inbox", 4, false);
    app.state.importer.run_account("acct").await.unwrap();
    assert_stored_once(&app, &seeded).await;
    let left = app.graph().messages(ADELE, "inbox").unwrap();
    assert_eq!(left.len(), 4);
    assert!(left.iter().all(|m| !m.is_read), "keep changes nothing");
}

#[tokio::test]
async fn a_thousand_messages_page_by_fifty() {
    let app = TestApp::signed_in().await;
    app.app_credential().await;
    app.create_account("acct", &[("after_import", "keep")])
        .await;
    let seeded = app
        .graph()
        .seed_generated(
            ADELE,
            "inbox",
            &GenerateSpec {
                count: 1000,
                size: 1500,
                attachments: 0,
                ..GenerateSpec::default()
            },
        )
        .unwrap();
    let mut imported = 0;
    for _ in 0..5 {
        let s = app.state.importer.run_account("acct").await.unwrap();
        imported += s.imported;
        if s.imported == 0 {
            break;
        }
    }
    assert_eq!(imported, 1000);
    assert_stored_once(&app, &seeded).await;
    let log = app.graph().request_log();
    let pages = log.totals.get("delta").copied().unwrap_or(0);
    assert!((20..=30).contains(&pages), "1000 / 50 pages, got {pages}");
}

#[tokio::test]
async fn stored_but_not_acted_on_is_finished_next_run_without_duplicates() {
    let app = app_with_account("move").await;
    let seeded = seed(&app, "inbox", 3, false);
    // Every move fails: the messages are stored, the mailbox is untouched.
    let fail_moves: Vec<FaultSpec> = (0..40)
        .map(|_| FaultSpec {
            fault: Fault::ServiceUnavailable { retry_after: None },
            target: FaultTarget::Move,
            mailbox: None,
        })
        .collect();
    app.graph().push_faults(fail_moves).unwrap();
    let s = app.state.importer.run_account("acct").await.unwrap();
    assert_eq!(s.imported, 3);
    assert!(s.post_action_failures >= 3, "{s:?}");
    assert_eq!(
        app.graph().messages(ADELE, "inbox").unwrap().len(),
        3,
        "nothing moved"
    );
    assert!(
        app.stored("acct")
            .await
            .iter()
            .all(|(_, _, _, done)| !*done)
    );

    app.graph().clear_faults();
    let s = app.state.importer.run_account("acct").await.unwrap();
    assert_eq!(s.imported, 0, "no duplicate download");
    assert!(app.graph().messages(ADELE, "inbox").unwrap().is_empty());
    assert_stored_once(&app, &seeded).await;
    assert!(app.stored("acct").await.iter().all(|(_, _, _, done)| *done));
}

#[tokio::test]
async fn a_dropped_download_leaves_nothing_and_is_retried() {
    let app = app_with_account("move").await;
    let seeded = seed(&app, "inbox", 2, false);
    let drops: Vec<FaultSpec> = (0..10)
        .map(|_| FaultSpec {
            fault: Fault::DropBody,
            target: FaultTarget::Value,
            mailbox: None,
        })
        .collect();
    app.graph().push_faults(drops).unwrap();
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
        let drops: Vec<FaultSpec> = (0..10)
            .map(|_| FaultSpec {
                fault: Fault::DropBody,
                target: FaultTarget::Value,
                mailbox: None,
            })
            .collect();
        app.graph().push_faults(drops).unwrap();
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
async fn a_revoked_refresh_token_stops_the_account_without_losing_mail() {
    let app = TestApp::signed_in().await;
    app.create_credential("app", "authorization_code", &[])
        .await;
    app.authorize("app").await;
    let r = app
        .create_account("acct", &[("mailbox", ""), ("after_import", "move")])
        .await;
    assert_is_redirect_to(&r, "/accounts/acct");
    let first = seed(&app, "inbox", 2, false);
    let s = app.state.importer.run_account("acct").await.unwrap();
    assert_eq!(s.imported, 2, "/me works with a delegated token: {s:?}");

    app.sandbox
        .sandbox
        .world
        .identity()
        .revoke_refresh_tokens(ADELE)
        .unwrap();
    app.expire_token_in("app", 10).await;
    let second = seed(&app, "inbox", 2, false);
    let s = app.state.importer.run_account("acct").await.unwrap();
    assert_eq!(s.outcome, "error");
    assert_eq!(app.api("/accounts/acct").await["status"], "needs_consent");
    assert_eq!(
        app.graph().messages(ADELE, "inbox").unwrap().len(),
        2,
        "untouched"
    );
    let list = app.get_text("/accounts").await;
    assert!(list.contains("Needs consent") && list.contains("/credentials/app"));

    app.authorize("app").await;
    assert_eq!(
        app.api("/accounts/acct").await["status"],
        "ok",
        "the key repairs the account too"
    );
    // The repair also asks for a run at once; wait for it, or run it ourselves.
    let s = match app.state.importer.run_account("acct").await {
        Ok(s) => s,
        Err(_) => {
            while app.state.importer.is_running("acct") {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            app.state.importer.run_account("acct").await.unwrap()
        }
    };
    assert_eq!(app.stored("acct").await.len(), 4, "{s:?}");
    let all: Vec<_> = first.into_iter().chain(second).collect();
    assert_stored_once(&app, &all).await;
    assert_eq!(app.api("/accounts/acct").await["status"], "ok");
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
async fn shutdown_mid_run_leaves_every_message_stored_and_acted_or_untouched() {
    let app = app_with_account("move").await;
    let seeded = seed(&app, "inbox", 30, false);
    app.graph().set_delay_ms(ADELE, 40).unwrap();
    let importer = app.state.importer.clone();
    let run = tokio::spawn(async move { importer.run_account("acct").await });
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    app.state.importer.shutdown().await;
    let s = run.await.unwrap().unwrap();
    assert_eq!(s.outcome, "cancelled", "{s:?}");
    assert!(s.imported > 0 && s.imported < 30, "stopped midway: {s:?}");
    let stored: HashSet<String> = app
        .stored("acct")
        .await
        .into_iter()
        .map(|(g, _, _, _)| g)
        .collect();
    let in_inbox: HashSet<String> = app
        .graph()
        .messages(ADELE, "inbox")
        .unwrap()
        .into_iter()
        .map(|m| m.immutable_id)
        .collect();
    for m in &seeded {
        // Either stored (and then moved, or pending its move) or still in the inbox.
        assert!(
            stored.contains(&m.immutable_id) || in_inbox.contains(&m.immutable_id),
            "lost {}",
            m.subject
        );
    }
    for m in app.folder("Imported") {
        assert!(
            stored.contains(&m.immutable_id),
            "moved without being stored"
        );
    }
}

#[tokio::test]
async fn run_now_button_imports_in_the_background() {
    let app = app_with_account("move").await;
    seed(&app, "inbox", 2, false);
    let r = app.post_form("/accounts/acct/import", &[]).await;
    assert_is_redirect_to(&r, "/accounts/acct");
    for _ in 0..100 {
        if app.stored("acct").await.len() == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(app.stored("acct").await.len(), 2);
    let json = app.api("/accounts/acct").await;
    assert_eq!(json["after_import"], "move");
    assert!(json["last_run"].is_object());
    assert_eq!(
        app.get("/api/v1/accounts/nope").await.status(),
        StatusCode::NOT_FOUND
    );
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
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
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

#[tokio::test]
async fn runs_of_one_account_never_overlap() {
    let app = app_with_account("move").await;
    seed(&app, "inbox", 10, false);
    app.graph().set_delay_ms(ADELE, 50).unwrap();
    let importer = app.state.importer.clone();
    let first = tokio::spawn(async move { importer.run_account("acct").await });
    while !app.state.importer.is_running("acct") {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let second = app.state.importer.run_account("acct").await;
    assert!(
        matches!(second, Err(mailport::import::RunError::AlreadyRunning(_))),
        "{second:?}"
    );
    assert_eq!(first.await.unwrap().unwrap().imported, 10);
}

#[tokio::test]
async fn import_since_skips_older_mail_in_delta_modes() {
    let app = app_with_account("keep").await;
    let old = app
        .graph()
        .seed_generated(
            ADELE,
            "inbox",
            &GenerateSpec {
                count: 3,
                start: Some("2025-01-01T08:00:00Z".into()),
                ..GenerateSpec::default()
            },
        )
        .unwrap();
    let new = app
        .graph()
        .seed_generated(
            ADELE,
            "inbox",
            &GenerateSpec {
                count: 2,
                start: Some("2026-06-01T08:00:00Z".into()),
                seed: 2,
                ..GenerateSpec::default()
            },
        )
        .unwrap();
    let page = app.get_text("/accounts/acct").await;
    let mut fields: Vec<(String, String)> = parse_forms(&page)
        .into_iter()
        .find(|f| f.action == "/accounts/acct")
        .unwrap()
        .fields;
    fields.retain(|(k, _)| k != "csrf_token" && k != "import_since");
    fields.push(("import_since".into(), "2026-01-01".into()));
    let borrowed: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_is_redirect_to(
        &app.post_form("/accounts/acct", &borrowed).await,
        "/accounts/acct",
    );

    let s = app.state.importer.run_account("acct").await.unwrap();
    assert_eq!(s.imported, 2, "{s:?}");
    assert_stored_once(&app, &new).await;
    let stored: HashSet<String> = app.stored("acct").await.into_iter().map(|r| r.0).collect();
    assert!(
        old.iter().all(|m| !stored.contains(&m.immutable_id)),
        "older mail stays out"
    );
}

fn new_message(account: &str, graph_id: &str) -> mailport::store::messages::NewMessage {
    mailport::store::messages::NewMessage {
        account_id: account.into(),
        graph_id: graph_id.into(),
        internet_message_id: Some(format!("<{graph_id}@example>")),
        subject: format!("subject {graph_id}"),
        from: None,
        to: vec![],
        cc: vec![],
        sent_at: None,
        received_at: None,
        size: 10,
        sha256: "0".repeat(64),
        text_body: Some("body".into()),
        html_body: None,
        attachments: vec![],
        attachment_count: 0,
        calendar: None,
    }
}

#[tokio::test]
async fn the_group_commit_stores_each_message_once_and_isolates_a_bad_one() {
    let app = app_with_account("move").await;
    let committer = mailport::store::committer::Committer::start(app.state.db.clone());
    // 40 at once (groups form while earlier ones sync), one of them twice.
    let mut ids: Vec<String> = (0..40).map(|i| format!("g{i}")).collect();
    ids.push("g7".into());
    let results = futures_util::future::join_all(
        ids.iter().map(|g| committer.insert(new_message("acct", g))),
    )
    .await;
    let mut rows = HashMap::new();
    let mut new = 0;
    for (graph_id, result) in ids.iter().zip(results) {
        let (id, is_new) = result.expect("stored");
        new += usize::from(is_new);
        if let Some(earlier) = rows.insert(graph_id.clone(), id) {
            assert_eq!(earlier, id, "the same message got two rows");
        }
    }
    assert_eq!((rows.len(), new), (40, 40));
    assert_eq!(app.stored("acct").await.len(), 40);

    // A message that cannot be stored (here a trigger refuses it) fails alone; the others of
    // its group are stored.
    sqlx::query(
        "CREATE TRIGGER refuse_h2 BEFORE INSERT ON messages WHEN NEW.graph_id = 'h2'
         BEGIN SELECT RAISE(ABORT, 'refused by the test'); END",
    )
    .execute(&app.state.db)
    .await
    .unwrap();
    let mixed = vec![
        new_message("acct", "h1"),
        new_message("acct", "h2"),
        new_message("acct", "h3"),
    ];
    let results =
        futures_util::future::join_all(mixed.into_iter().map(|m| committer.insert(m))).await;
    assert!(results[0].as_ref().is_ok_and(|(_, new)| *new));
    assert!(results[1].is_err(), "{:?}", results[1]);
    assert!(results[2].as_ref().is_ok_and(|(_, new)| *new));
    assert_eq!(app.stored("acct").await.len(), 42);
}

/// POSTs JSON to one of the sandbox's control routes.
async fn sandbox_control(app: &TestApp, path: &str, body: serde_json::Value) {
    let r = reqwest::Client::new()
        .post(format!("{}{path}", app.sandbox.base_url))
        .json(&body)
        .send()
        .await
        .expect("sandbox control");
    assert!(r.status().is_success(), "{path}: {}", r.status());
}

#[tokio::test]
async fn an_expired_client_secret_says_so_and_imports_go_on_until_the_token_expires() {
    use mailport::sandbox::world::{DEMO_CLIENT_ID, DEMO_CLIENT_SECRET};
    let app = app_with_account("move").await;
    seed(&app, "inbox", 1, false);
    assert_eq!(
        app.state
            .importer
            .run_account("acct")
            .await
            .unwrap()
            .imported,
        1
    );

    // The secret expires; Mailport's access token has two minutes left, so the next run
    // tries a refresh, which Entra ID refuses with AADSTS7000222.
    let expire = format!("/_sandbox/identity/apps/{DEMO_CLIENT_ID}/secrets/expire");
    sandbox_control(&app, &expire, serde_json::json!({})).await;
    app.expire_token_in("app", 120).await;
    seed(&app, "inbox", 1, false);
    let s = app.state.importer.run_account("acct").await.unwrap();
    assert_eq!(
        (s.outcome.as_str(), s.imported),
        ("ok", 1),
        "the token still works: {s:?}"
    );
    let cred = app.credential("app").await;
    assert_eq!(cred["token"]["status"], "invalid_client");
    assert_eq!(cred["token"]["last_error"]["code"], "AADSTS7000222");
    assert_eq!(app.api("/accounts/acct").await["status"], "invalid_client");
    let page = app.get_text("/accounts/acct").await;
    assert!(page.contains("Secret rejected"), "{page}");
    assert!(
        page.contains("client secret was rejected (AADSTS7000222)"),
        "{page}"
    );
    assert!(
        page.contains("imports use the access token issued before until"),
        "{page}"
    );
    assert!(page.contains("href=\"/credentials/app\""));
    assert!(!page.contains("Needs consent") && !page.contains("needs consent"));

    // Once that token has expired, the run stops and says what to repair.
    app.expire_token_in("app", -10).await;
    seed(&app, "inbox", 1, false);
    let s = app.state.importer.run_account("acct").await.unwrap();
    assert_eq!(s.outcome, "error");
    assert_eq!(s.error_code.as_deref(), Some("invalid_client"));
    assert!(
        s.error_message
            .as_deref()
            .unwrap_or("")
            .contains("enter a new client secret"),
        "{s:?}"
    );
    assert_eq!(
        app.graph().messages(ADELE, "inbox").unwrap().len(),
        1,
        "untouched"
    );
    let json = app.api("/accounts/acct").await;
    assert_eq!(json["status"], "invalid_client");
    let list = app.get_text("/accounts").await;
    // The account's badge (the status filter offers every status, so look at the badge).
    assert!(
        list.contains("data-status=\"invalid_client\"")
            && !list.contains("data-status=\"needs_consent\""),
        "{list}"
    );
    let page = app.get_text("/accounts/acct").await;
    assert!(
        page.contains("client secret was rejected (AADSTS7000222): enter a new client secret"),
        "{page}"
    );

    // The administrator makes a new secret (here: the sandbox's secret valid again) and
    // saves it on the credential; the next run imports the rest.
    sandbox_control(
        &app,
        &expire,
        serde_json::json!({"expires_at": mailport::store::now() + 86_400}),
    )
    .await;
    let token_url = app.tenant_url("token");
    let r = app
        .post_form(
            "/credentials/app",
            &[
                ("id", "app"),
                ("description", "test credential"),
                ("grant_type", "client_credentials"),
                ("authorization_url", ""),
                ("access_token_url", token_url.as_str()),
                ("client_id", DEMO_CLIENT_ID),
                ("client_secret", DEMO_CLIENT_SECRET),
                ("scope", "https://graph.microsoft.com/.default"),
                ("client_auth", "post"),
            ],
        )
        .await;
    assert!(r.status().is_redirection(), "{}", r.status());
    let s = app.state.importer.run_account("acct").await.unwrap();
    assert_eq!((s.outcome.as_str(), s.imported), ("ok", 1), "{s:?}");
    assert_eq!(app.api("/accounts/acct").await["status"], "ok");
    assert_eq!(app.credential("app").await["token"]["status"], "valid");
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
