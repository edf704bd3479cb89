//! Every post-import action, paging, delta modes, `import_since` and the group commit:
//! each message stored exactly once.

use super::*;

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

    if crate::helpers::test_backend_is_postgres() {
        return; // SQLite's WAL settings only
    }
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
    assert_is_redirect_to(
        &app.resubmit("/accounts/acct", &[("import_since", "2026-01-01")])
            .await,
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
    let trigger: &[&str] = if crate::helpers::test_backend_is_postgres() {
        &[
            "CREATE FUNCTION refuse_h2() RETURNS trigger LANGUAGE plpgsql AS
             'BEGIN IF NEW.graph_id = ''h2'' THEN RAISE EXCEPTION ''refused by the test''; END IF;
              RETURN NEW; END'",
            "CREATE TRIGGER refuse_h2 BEFORE INSERT ON messages FOR EACH ROW
             EXECUTE FUNCTION refuse_h2()",
        ]
    } else {
        &[
            "CREATE TRIGGER refuse_h2 BEFORE INSERT ON messages WHEN NEW.graph_id = 'h2'
         BEGIN SELECT RAISE(ABORT, 'refused by the test'); END",
        ]
    };
    for sql in trigger {
        sqlx::query(sql).execute(&app.state.db).await.unwrap();
    }
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
