//! The importer when its surroundings fail: the token endpoint goes down mid-run, the blob
//! store becomes unwritable. Nothing may be lost, and the next run must recover.

use std::time::SystemTime;

use mailport::sandbox::graph::GenerateSpec;
use mailport::sandbox::identity::faults::FaultKind;

use crate::helpers::*;

async fn app_with_account() -> TestApp {
    let app = TestApp::signed_in().await;
    app.app_credential().await;
    let r = app.create_account("acct", &[]).await;
    assert_is_redirect_to(&r, "/accounts/acct");
    app
}

fn seed(app: &TestApp, count: usize) -> Vec<mailport::sandbox::graph::MessageInfo> {
    app.graph()
        .seed_generated(
            ADELE,
            "inbox",
            &GenerateSpec {
                count,
                size: 5000,
                attachments: 1,
                ..GenerateSpec::default()
            },
        )
        .expect("seed")
}

#[tokio::test]
async fn a_token_endpoint_outage_mid_run_stops_cleanly_and_the_next_run_completes() {
    let app = app_with_account().await;
    let seeded = seed(&app, 30);
    // Slow Graph down, start the run, then kill every access token and the token endpoint.
    app.graph().set_delay_ms(ADELE, 30).unwrap();
    let importer = app.state.importer.clone();
    let run = tokio::spawn(async move { importer.run_account("acct").await });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let identity = app.sandbox.sandbox.world.identity();
    identity.push_fault(
        FaultKind::Status {
            status: 503,
            body: None,
            content_type: None,
        },
        1000,
    );
    for grant in app.sandbox.sandbox.world.lock().access_tokens.values_mut() {
        grant.expires_at = SystemTime::now();
    }
    let s = run.await.unwrap().unwrap();
    assert_eq!(s.outcome, "error", "{s:?}");
    assert!(s.imported < 30, "stopped early: {s:?}");
    let json = app.api("/accounts/acct").await;
    assert_eq!(json["status"], "error");
    assert_eq!(
        app.credential("app").await["token"]["status"],
        "valid",
        "an outage is not a dead credential"
    );
    // Nothing was moved without being stored, and nothing is lost: every message is stored
    // (its move may still be pending) or still in the inbox.
    let stored: std::collections::HashSet<_> =
        app.stored("acct").await.into_iter().map(|r| r.0).collect();
    assert!(
        app.folder("Imported")
            .iter()
            .all(|m| stored.contains(&m.immutable_id))
    );
    let inbox: std::collections::HashSet<_> = app
        .folder("inbox")
        .into_iter()
        .map(|m| m.immutable_id)
        .collect();
    assert!(
        seeded
            .iter()
            .all(|m| stored.contains(&m.immutable_id) || inbox.contains(&m.immutable_id))
    );

    identity.clear_faults();
    app.graph().set_delay_ms(ADELE, 0).unwrap();
    let s = app.state.importer.run_account("acct").await.unwrap();
    assert_eq!(s.outcome, "ok", "{s:?}");
    assert!(app.folder("inbox").is_empty());
    let ids: std::collections::HashSet<_> =
        app.stored("acct").await.into_iter().map(|r| r.0).collect();
    assert_eq!(ids.len(), 30);
    assert!(seeded.iter().all(|m| ids.contains(&m.immutable_id)));
}

#[tokio::test]
async fn an_unwritable_blob_store_fails_the_run_and_leaves_the_mailbox_alone() {
    let app = app_with_account().await;
    seed(&app, 5);
    // A file where the blob store's tmp folder should be: every write fails, as on a
    // read-only or full disk (root ignores permission bits, so chmod would not do). On
    // PostgreSQL, where blobs are rows, a trigger refuses every chunk instead.
    let blobs = app.data_dir.path().join("blobs");
    std::fs::create_dir_all(&blobs).unwrap();
    let tmp = blobs.join("tmp");
    let pg = crate::helpers::test_backend_is_postgres();
    if pg {
        for sql in [
            "CREATE FUNCTION refuse_chunks() RETURNS trigger LANGUAGE plpgsql AS
             'BEGIN RAISE EXCEPTION ''disk full (the test)''; END'",
            "CREATE TRIGGER refuse_chunks BEFORE INSERT ON blob_chunks
             FOR EACH ROW EXECUTE FUNCTION refuse_chunks()",
        ] {
            sqlx::query(sql).execute(&app.state.db).await.unwrap();
        }
    } else {
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::write(&tmp, b"not a directory").unwrap();
    }

    let s = app.state.importer.run_account("acct").await.unwrap();
    assert_eq!(s.outcome, "error", "{s:?}");
    assert_eq!(s.error_code.as_deref(), Some("storage"));
    assert!(
        s.error_message
            .as_deref()
            .unwrap_or("")
            .contains("blob store"),
        "{s:?}"
    );
    assert_eq!(app.folder("inbox").len(), 5, "mailbox untouched");
    assert!(app.stored("acct").await.is_empty());
    let json = app.api("/accounts/acct").await;
    assert_eq!(json["status"], "error");
    let page = app.get_text("/accounts/acct").await;
    assert!(page.contains("blob store"), "the account page says why");

    if pg {
        sqlx::query("DROP TRIGGER refuse_chunks ON blob_chunks")
            .execute(&app.state.db)
            .await
            .unwrap();
    } else {
        std::fs::remove_file(&tmp).unwrap();
    }
    let s = app.state.importer.run_account("acct").await.unwrap();
    assert_eq!((s.outcome.as_str(), s.imported), ("ok", 5), "{s:?}");
    assert!(app.folder("inbox").is_empty());
}
