//! Getting tokens with both grants against the Entra ID sandbox, refresh rotation,
//! single-flight, error classification and hostile token endpoints.

use std::collections::HashSet;

use mailport::sandbox::identity::faults::FaultKind;
use mailport::sandbox::world::{DEMO_CLIENT_ID, DEMO_CLIENT_SECRET};
use reqwest::StatusCode;

use crate::credentials::contains;
use crate::helpers::*;

#[tokio::test]
async fn authorization_code_end_to_end() {
    let app = TestApp::signed_in().await;
    app.create_credential("delegated", "authorization_code", &[])
        .await;
    let r = app.post_form("/credentials/delegated/token", &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let authorize = location(&r);
    assert!(authorize.starts_with(&app.tenant_url("authorize?")));
    assert_eq!(
        param(&authorize, "prompt").as_deref(),
        Some("select_account"),
        "existing query kept"
    );
    assert_eq!(
        param(&authorize, "client_id").as_deref(),
        Some(DEMO_CLIENT_ID)
    );
    assert_eq!(param(&authorize, "response_type").as_deref(), Some("code"));
    assert_eq!(
        param(&authorize, "redirect_uri").unwrap(),
        app.url("/OAuth2Callback")
    );
    assert_eq!(
        param(&authorize, "code_challenge_method").as_deref(),
        Some("S256")
    );
    assert!(param(&authorize, "code_challenge").unwrap().len() >= 43);
    assert!(
        param(&authorize, "state").unwrap().len() >= 22,
        "at least 128 bits"
    );
    let scope = param(&authorize, "scope").unwrap();
    for s in ["Mail.ReadWrite", "offline_access", "openid", "profile"] {
        assert!(scope.split(' ').any(|x| x == s), "{s} in {scope}");
    }

    let callback = walk_sandbox(
        &app.client,
        &authorize,
        ADELE,
        mailport::sandbox::world::DEMO_PASSWORD,
        true,
    )
    .await;
    assert!(callback.starts_with(&app.url("/OAuth2Callback")));
    assert!(param(&callback, "session_state").is_some());
    let r = app.client.get(&callback).send().await.unwrap();
    assert_is_redirect_to(&r, "/credentials/delegated");
    let page = app.get_text("/credentials/delegated").await;
    assert!(
        page.contains("Signed in as Adele Vance (adele@contoso.onmicrosoft.com)")
            && page.contains("Valid until <time datetime=\""),
        "{page}"
    );

    let json = app.credential("delegated").await;
    assert_eq!(json["token"]["status"], "valid");
    assert_eq!(json["token"]["has_refresh_token"], true);
    assert_eq!(json["token"]["account"]["username"], ADELE);
    assert_eq!(
        json["token"]["account"]["tid"],
        mailport::sandbox::world::DEMO_TENANT_ID
    );
    assert!(json["token"]["expires_at"].as_str().unwrap().ends_with('Z'));

    // The tokens the sandbox issued are nowhere on disk in plaintext, nor in the page or JSON.
    let log = app.sandbox.sandbox.world.identity().token_log();
    let issued_rt = log.last().unwrap().issued_refresh_token.clone().unwrap();
    let access = app.state.tokens.access_token("delegated").await.unwrap();
    let disk = app.data_dir_bytes();
    for secret in [issued_rt.as_str(), access.expose(), DEMO_CLIENT_SECRET] {
        assert!(
            !contains(&disk, secret.as_bytes()),
            "secret in plaintext on disk"
        );
        assert!(!page.contains(secret) && !json.to_string().contains(secret));
    }

    // The callback URL cannot be replayed.
    let replay = app.client.get(&callback).send().await.unwrap();
    assert_eq!(replay.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn client_credentials_with_post_and_basic() {
    let app = TestApp::signed_in().await;
    for (id, auth) in [("app-post", "post"), ("app-basic", "basic")] {
        app.create_credential(id, "client_credentials", &[("client_auth", auth)])
            .await;
        let r = app
            .post_form(&format!("/credentials/{id}/token"), &[])
            .await;
        assert_is_redirect_to(&r, &format!("/credentials/{id}"));
        let page = app.get_text(&format!("/credentials/{id}")).await;
        assert!(
            page.contains("Got an access token, valid for 60 minutes."),
            "{page}"
        );
        let json = app.credential(id).await;
        assert_eq!(json["token"]["status"], "valid");
        assert_eq!(json["token"]["has_refresh_token"], false);
        let entry = app
            .sandbox
            .sandbox
            .world
            .identity()
            .token_log()
            .last()
            .cloned()
            .unwrap();
        assert_eq!(entry.grant_type.as_deref(), Some("client_credentials"));
        let method = format!("{:?}", entry.auth_method).to_lowercase();
        assert!(method.contains(auth), "{method}");
        assert_eq!(entry.result, "ok");
    }
}

#[tokio::test]
async fn refresh_rotates_and_only_when_needed() {
    let app = TestApp::signed_in().await;
    app.create_credential("d", "authorization_code", &[]).await;
    app.authorize("d").await;
    let control = app.sandbox.sandbox.world.identity();
    let first = app.state.tokens.access_token("d").await.unwrap();
    let second = app.state.tokens.access_token("d").await.unwrap();
    assert_eq!(first, second, "no refresh while the token is fresh");
    let before = control.token_log().len();

    let mut seen = HashSet::new();
    for _ in 0..3 {
        app.expire_token_in("d", 60).await;
        let t = app.state.tokens.access_token("d").await.unwrap();
        assert!(
            seen.insert(t.expose().to_string()),
            "a new access token each refresh"
        );
    }
    let log = control.token_log();
    let refreshes: Vec<_> = log[before..]
        .iter()
        .filter(|e| e.grant_type.as_deref() == Some("refresh_token"))
        .collect();
    assert_eq!(refreshes.len(), 3);
    for pair in refreshes.windows(2) {
        assert_eq!(
            pair[1].presented_refresh_token, pair[0].issued_refresh_token,
            "the rotated token is used next"
        );
    }
    assert!(
        log.iter().all(|e| !e.presented_superseded_refresh_token),
        "an old refresh token was reused"
    );
}

#[tokio::test]
async fn twenty_concurrent_callers_share_one_refresh() {
    let app = TestApp::signed_in().await;
    app.create_credential("d", "authorization_code", &[]).await;
    app.authorize("d").await;
    app.expire_token_in("d", 30).await;
    let control = app.sandbox.sandbox.world.identity();
    let before = control.token_log().len();
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let tokens = app.state.tokens.clone();
            tokio::spawn(async move { tokens.access_token("d").await })
        })
        .collect();
    let mut got = HashSet::new();
    for t in tasks {
        got.insert(t.await.unwrap().unwrap().expose().to_string());
    }
    assert_eq!(got.len(), 1, "all callers got the same token");
    assert_eq!(
        control.token_log().len() - before,
        1,
        "exactly one token request"
    );
}

#[tokio::test]
async fn revoked_refresh_token_needs_consent_and_the_key_repairs_it() {
    let app = TestApp::signed_in().await;
    app.create_credential("d", "authorization_code", &[("description", "keep me")])
        .await;
    app.authorize("d").await;
    app.sandbox
        .sandbox
        .world
        .identity()
        .revoke_refresh_tokens(ADELE)
        .unwrap();
    app.expire_token_in("d", 30).await;
    let err = app.state.tokens.access_token("d").await.unwrap_err();
    assert!(format!("{err}").contains("AADSTS70008"), "{err}");
    let json = app.credential("d").await;
    assert_eq!(json["token"]["status"], "needs_consent");
    assert_eq!(json["token"]["last_error"]["code"], "AADSTS70008");
    assert!(json["token"]["last_error"]["trace_id"].as_str().is_some());
    let list = app.get_text("/credentials").await;
    assert!(list.contains("Needs consent"));
    // Not hammered: a second call does not go to the token endpoint.
    let n = app.sandbox.sandbox.world.identity().token_log().len();
    assert!(app.state.tokens.access_token("d").await.is_err());
    assert_eq!(app.sandbox.sandbox.world.identity().token_log().len(), n);

    app.authorize("d").await;
    let json = app.credential("d").await;
    assert_eq!(json["token"]["status"], "valid");
    assert_eq!(
        json["description"], "keep me",
        "settings survive the repair"
    );
    assert_eq!(json["token"]["last_error"], serde_json::Value::Null);
}

#[tokio::test]
async fn secret_errors_become_invalid_client() {
    let app = TestApp::signed_in().await;
    app.create_credential(
        "wrong",
        "client_credentials",
        &[("client_secret", "not-the-secret")],
    )
    .await;
    app.post_form("/credentials/wrong/token", &[]).await;
    let json = app.credential("wrong").await;
    assert_eq!(json["token"]["status"], "invalid_client");
    assert_eq!(json["token"]["last_error"]["code"], "AADSTS7000215");
    let page = app.get_text("/credentials/wrong").await;
    assert!(page.contains("AADSTS7000215") && page.contains("Client secret rejected"));

    app.create_credential("expired", "client_credentials", &[])
        .await;
    app.sandbox
        .sandbox
        .world
        .identity()
        .expire_secrets(DEMO_CLIENT_ID);
    app.post_form("/credentials/expired/token", &[]).await;
    let json = app.credential("expired").await;
    assert_eq!(json["token"]["status"], "invalid_client");
    assert_eq!(json["token"]["last_error"]["code"], "AADSTS7000222");

    app.create_credential(
        "unknown",
        "client_credentials",
        &[("client_id", "11111111-2222-3333-4444-555555555555")],
    )
    .await;
    app.post_form("/credentials/unknown/token", &[]).await;
    let json = app.credential("unknown").await;
    assert_eq!(json["token"]["status"], "error");
    assert_eq!(json["token"]["last_error"]["code"], "AADSTS700016");
}

#[tokio::test]
async fn transient_failures_are_retried_and_do_not_change_a_valid_status() {
    let app = TestApp::signed_in().await;
    app.create_credential("c", "client_credentials", &[]).await;
    app.post_form("/credentials/c/token", &[]).await;
    let control = app.sandbox.sandbox.world.identity();
    let status_503 = FaultKind::Status {
        status: 503,
        body: None,
        content_type: None,
    };

    // One 503, then success: the retry hides it.
    control.push_fault(status_503.clone(), 1);
    app.expire_token_in("c", 30).await;
    let before = control.token_log().len();
    app.state.tokens.access_token("c").await.expect("retried");
    assert_eq!(control.token_log().len() - before, 2);

    // A longer outage: the call fails, the status stays valid.
    control.push_fault(status_503, 10);
    app.expire_token_in("c", 30).await;
    assert!(app.state.tokens.access_token("c").await.is_err());
    let json = app.credential("c").await;
    assert_eq!(json["token"]["status"], "valid");
    assert!(
        json["token"]["last_error"]["description"]
            .as_str()
            .unwrap()
            .contains("503")
    );
    control.clear_faults();
    app.state
        .tokens
        .access_token("c")
        .await
        .expect("recovers after the outage");
}

#[tokio::test]
async fn hostile_token_endpoints_change_nothing() {
    let app = TestApp::signed_in().await;
    app.create_credential("c", "client_credentials", &[]).await;
    let control = app.sandbox.sandbox.world.identity();
    // The sandbox is not a Microsoft host: what its answers say is never quoted.
    for (fault, expect) in [
        (
            FaultKind::Html,
            "The token endpoint sent an unexpected answer.",
        ),
        (
            FaultKind::Huge {
                bytes: 10 * 1024 * 1024,
            },
            "larger than",
        ),
        (FaultKind::Hang { seconds: 5 }, "did not answer in time"),
    ] {
        control.clear_faults();
        control.push_fault(fault, 5);
        let r = app.post_form("/credentials/c/token", &[]).await;
        assert_is_redirect_to(&r, "/credentials/c");
        let page = app.get_text("/credentials/c").await;
        assert!(page.contains("No token was stored"), "{expect}");
        assert!(page.contains(expect), "expected {expect:?}");
        assert!(!page.contains("text/html") && !page.contains("HTML"));
        let json = app.credential("c").await;
        assert_eq!(json["token"]["status"], "none");
        assert_eq!(json["token"]["expires_at"], serde_json::Value::Null);
    }
}

#[tokio::test]
async fn bad_callbacks_store_nothing() {
    let app = TestApp::signed_in().await;
    app.create_credential("d", "authorization_code", &[]).await;
    for query in [
        "",
        "?code=abc",
        "?code=abc&state=unknown-state",
        "?error=access_denied&state=forged",
    ] {
        let r = app.get(&format!("/OAuth2Callback{query}")).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{query}");
        assert!(r.text().await.unwrap().contains("Nothing was stored"));
    }

    // A real callback delivered to a browser without a session, then to another session.
    let callback = app.sign_in_at_sandbox("d", ADELE, true).await;
    let r = browser().get(&callback).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let other = TestApp::spawn_client(&app);
    other.login(ADMIN, ADMIN_PASSWORD).await;
    let r = other.client.get(&callback).send().await.unwrap();
    assert_eq!(
        r.status(),
        StatusCode::BAD_REQUEST,
        "another session's state"
    );
    assert_eq!(app.credential("d").await["token"]["status"], "none");

    // The state still belongs to the first session, once.
    let r = app.client.get(&callback).send().await.unwrap();
    assert_is_redirect_to(&r, "/credentials/d");
    assert_eq!(app.credential("d").await["token"]["status"], "valid");
}

#[tokio::test]
async fn cancelled_consent_is_shown_readably() {
    let app = TestApp::signed_in().await;
    app.create_credential("d", "authorization_code", &[]).await;
    let callback = app.sign_in_at_sandbox("d", ADELE, false).await;
    assert_eq!(param(&callback, "error").as_deref(), Some("access_denied"));
    let r = app.client.get(&callback).send().await.unwrap();
    assert_is_redirect_to(&r, "/credentials/d");
    let page = app.get_text("/credentials/d").await;
    assert!(page.contains("AADSTS65004"), "{page}");
    assert!(page.contains("User declined to consent"));
    let json = app.credential("d").await;
    assert_eq!(json["token"]["status"], "none");
    assert_eq!(json["token"]["last_error"]["code"], "AADSTS65004");
}
