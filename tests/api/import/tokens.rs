//! Losing the token: a revoked refresh token, an expired client secret.

use super::*;

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
