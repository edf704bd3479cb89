//! Runs: shutdown mid-run, the Run now button, no two runs of one account at once.

use super::*;

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
