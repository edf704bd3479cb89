//! The authorization-code flow's defences: `state` is single-use, bound to the session that
//! pressed the key and expires after ten minutes; PKCE (S256) is always used; the token
//! client never follows a redirect; an id_token from another tenant is refused.

use std::collections::HashSet;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mailport::sandbox::world::DEMO_TENANT_ID;
use mailport::web::session::PENDING_AUTH_TTL_SECS;
use reqwest::StatusCode;
use sha2::{Digest, Sha256};
use tower_sessions::session::Id;
use tower_sessions::session_store::SessionStore;

use crate::helpers::*;
use crate::hostile::{Answer, Hostile, form};
use crate::sessions::cookie_id;

/// Moves a pending sign-in's start back in time, in the session store itself.
async fn age_pending(app: &TestApp, session_id: &str, state: &str, age_secs: i64) {
    let id = Id::from_str(session_id).expect("id");
    let mut record = app
        .state
        .session_store
        .load(&id)
        .await
        .expect("store")
        .expect("session");
    let pending = record
        .data
        .get_mut("pending_oauth")
        .and_then(|v| v.as_array_mut())
        .expect("pending sign-ins");
    let entry = pending
        .iter_mut()
        .find(|p| p["state"] == state)
        .expect("the pending sign-in");
    entry["created_at"] = (mailport::store::now() - age_secs).into();
    app.state.session_store.save(&record).await.expect("save");
}

fn code_exchanges(app: &TestApp) -> usize {
    app.sandbox
        .sandbox
        .world
        .identity()
        .token_log()
        .iter()
        .filter(|e| e.grant_type.as_deref() == Some("authorization_code"))
        .count()
}

#[tokio::test]
async fn state_is_single_use_bound_to_the_session_and_expires_after_ten_minutes() {
    assert_eq!(PENDING_AUTH_TTL_SECS, 600, "the README promises 10 minutes");
    let app = TestApp::spawn().await;
    app.create_admin(ADMIN, ADMIN_PASSWORD).await;
    let r = app.login(ADMIN, ADMIN_PASSWORD).await;
    let session = r
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("mailport_session="))
        .map(cookie_id)
        .expect("session cookie");
    app.create_credential("d", "authorization_code", &[]).await;
    let stale = app.sign_in_at_sandbox("d", ADELE, true).await;
    let fresh = app.sign_in_at_sandbox("d", ADELE, true).await;
    let stale_state = param(&stale, "state").expect("state");
    let fresh_state = param(&fresh, "state").expect("state");
    assert_ne!(stale_state, fresh_state);
    age_pending(&app, &session, &stale_state, PENDING_AUTH_TTL_SECS + 1).await;
    age_pending(&app, &session, &fresh_state, PENDING_AUTH_TTL_SECS - 30).await;

    // Ten minutes and a second old: refused before the code is redeemed.
    let r = app.client.get(&stale).send().await.expect("callback");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.expect("page").contains("expired"));
    assert_eq!(code_exchanges(&app), 0);

    // Another signed-in session of the same administrator cannot use this session's state.
    let other = TestApp::spawn_client(&app);
    other.login(ADMIN, ADMIN_PASSWORD).await;
    let r = other.client.get(&fresh).send().await.expect("callback");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(code_exchanges(&app), 0);
    assert_eq!(app.credential("d").await["token"]["status"], "none");

    // Nine and a half minutes old, in its own session: accepted, once.
    let r = app.client.get(&fresh).send().await.expect("callback");
    assert_is_redirect_to(&r, "/credentials/d");
    assert_eq!(app.credential("d").await["token"]["status"], "valid");
    let r = app.client.get(&fresh).send().await.expect("replay");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(code_exchanges(&app), 1);
}

/// An authorization-code credential whose token URL is the hostile server (for the
/// sandbox's demo tenant), signed in at the real sandbox.
async fn hostile_credential(app: &TestApp, hostile: &Hostile, id: &str) {
    credential_with_token_path(app, hostile, id, DEMO_TENANT_ID).await;
}

#[tokio::test]
async fn pkce_is_always_sent_and_an_id_token_of_another_tenant_is_refused() {
    let hostile = Hostile::spawn(Answer::tokens(
        DEMO_TENANT_ID,
        "hostile-access-1",
        "hostile-refresh-1",
    ))
    .await;
    let app = TestApp::signed_in_allowing(&[&hostile.host()]).await;
    hostile_credential(&app, &hostile, "d").await;

    // Every key press sends a fresh S256 challenge.
    let mut challenges = HashSet::new();
    for _ in 0..3 {
        let r = app.post_form("/credentials/d/token", &[]).await;
        let authorize = location(&r);
        assert_eq!(
            param(&authorize, "code_challenge_method").as_deref(),
            Some("S256")
        );
        challenges.insert(param(&authorize, "code_challenge").expect("challenge"));
    }
    assert_eq!(challenges.len(), 3);

    let r = app.post_form("/credentials/d/token", &[]).await;
    let authorize = location(&r);
    let challenge = param(&authorize, "code_challenge").expect("challenge");
    let callback = walk_sandbox(
        &app.client,
        &authorize,
        ADELE,
        mailport::sandbox::world::DEMO_PASSWORD,
        true,
    )
    .await;
    let r = app.client.get(&callback).send().await.expect("callback");
    assert_is_redirect_to(&r, "/credentials/d");
    let seen = hostile.seen();
    assert_eq!(seen.len(), 1, "one code exchange");
    assert_eq!(seen[0].method, reqwest::Method::POST);
    assert!(
        seen[0].uri.ends_with("/oauth2/v2.0/token"),
        "{}",
        seen[0].uri
    );
    let fields = form(&seen[0].body);
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(field("grant_type").as_deref(), Some("authorization_code"));
    let verifier = field("code_verifier").expect("code_verifier sent");
    assert!((43..=128).contains(&verifier.len()), "{verifier}");
    assert_eq!(
        URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())),
        challenge
    );
    assert_eq!(app.credential("d").await["token"]["status"], "valid");

    // The same flow, but the id_token says another tenant: nothing is stored.
    hostile.set(Answer::tokens(
        "11111111-2222-4333-8444-555555555555",
        "hostile-access-2",
        "hostile-refresh-2",
    ));
    hostile_credential(&app, &hostile, "e").await;
    let callback = app.sign_in_at_sandbox("e", ADELE, true).await;
    let r = app.client.get(&callback).send().await.expect("callback");
    assert_is_redirect_to(&r, "/credentials/e");
    let json = app.credential("e").await;
    assert_ne!(json["token"]["status"], "valid", "{json}");
    assert_eq!(json["token"]["expires_at"], serde_json::Value::Null);
    assert_eq!(json["token"]["last_error"]["code"], "tenant_mismatch");
    assert!(
        app.get_text("/credentials/e")
            .await
            .contains("No token was stored")
    );
    let stored: Option<Vec<u8>> =
        sqlx::query_scalar("SELECT access_token FROM credentials WHERE id = 'e'")
            .fetch_one(&app.state.db)
            .await
            .expect("row");
    assert!(stored.is_none(), "a token of another tenant was stored");
}

#[tokio::test]
async fn the_token_client_follows_no_redirect() {
    let hostile = Hostile::spawn(Answer::json(200, "{}")).await;
    let hostile_tokens = Hostile::spawn(Answer::tokens(
        DEMO_TENANT_ID,
        "first-access-token",
        "first-refresh-token",
    ))
    .await;
    let app = TestApp::signed_in_allowing(&[&hostile.host(), &hostile_tokens.host()]).await;
    let real_token_url = app.tenant_url("token");
    hostile.set(Answer::redirect(302, &real_token_url));
    let token_url = hostile.token_url(DEMO_TENANT_ID);
    app.create_credential(
        "c",
        "client_credentials",
        &[("access_token_url", token_url.as_str())],
    )
    .await;
    for status in [301, 302, 303, 307, 308] {
        hostile.set(Answer::redirect(status, &real_token_url));
        let r = app.post_form("/credentials/c/token", &[]).await;
        assert_is_redirect_to(&r, "/credentials/c");
        let page = app.get_text("/credentials/c").await;
        assert!(page.contains("No token was stored"), "{status}");
        let flash = page
            .split("No token was stored")
            .nth(1)
            .unwrap_or_default()
            .split("<")
            .next()
            .unwrap_or_default()
            .to_string();
        assert!(
            flash.contains(&format!("redirect (HTTP {status})")),
            "{status}: the page says why: {flash}"
        );
        assert_ne!(
            app.credential("c").await["token"]["status"],
            "valid",
            "{status}"
        );
    }
    assert!(
        app.sandbox.sandbox.world.identity().token_log().is_empty(),
        "a redirect was followed to the real token endpoint"
    );

    // A refresh meets the same: the refresh token is not sent on to the redirect target.
    let token_url = hostile_tokens.token_url(DEMO_TENANT_ID);
    app.create_credential(
        "d",
        "authorization_code",
        &[("access_token_url", token_url.as_str())],
    )
    .await;
    app.authorize("d").await;
    hostile_tokens.set(Answer::redirect(307, &real_token_url));
    app.expire_token_in("d", 10).await;
    assert!(app.state.tokens.access_token("d").await.is_err());
    assert!(
        app.sandbox
            .sandbox
            .world
            .identity()
            .token_log()
            .iter()
            .all(|e| e.grant_type.as_deref() != Some("refresh_token")),
        "the refresh was redirected"
    );
}

/// An authorization-code credential whose token URL is the hostile server with this tenant
/// path (a domain, `organizations`, a prefixed GUID), signed in at the real sandbox.
async fn credential_with_token_path(app: &TestApp, hostile: &Hostile, id: &str, path: &str) {
    let token_url = format!("{}/{path}/oauth2/v2.0/token", hostile.base);
    let r = app
        .create_credential(
            id,
            "authorization_code",
            &[("access_token_url", token_url.as_str())],
        )
        .await;
    assert_is_redirect_to(&r, &format!("/credentials/{id}"));
}

/// Signs in through the sandbox; the hostile token endpoint answers the code exchange.
async fn sign_in_through(app: &TestApp, id: &str) -> serde_json::Value {
    let callback = app.sign_in_at_sandbox(id, ADELE, true).await;
    let r = app.client.get(&callback).send().await.expect("callback");
    assert_is_redirect_to(&r, &format!("/credentials/{id}"));
    app.credential(id).await
}

const TENANT_A: &str = "aaaaaaaa-1111-4111-8111-aaaaaaaaaaaa";
const TENANT_B: &str = "bbbbbbbb-2222-4222-8222-bbbbbbbbbbbb";

#[tokio::test]
async fn a_sign_in_whose_tenant_cannot_be_checked_is_refused() {
    let hostile = Hostile::spawn(Answer::json(200, "{}")).await;
    let app = TestApp::signed_in_allowing(&[&hostile.host()]).await;
    credential_with_token_path(&app, &hostile, "guid", DEMO_TENANT_ID).await;
    credential_with_token_path(&app, &hostile, "domain", "contoso.onmicrosoft.com").await;
    let no_tid = serde_json::json!({"oid": "o", "preferred_username": "eve@fabrikam.example"});
    for id in ["guid", "domain"] {
        hostile.set(Answer::tokens_with_claims(
            no_tid.clone(),
            "at-no-tid",
            "rt-no-tid",
        ));
        let json = sign_in_through(&app, id).await;
        assert_ne!(json["token"]["status"], "valid", "{id}: {json}");
        assert_eq!(
            json["token"]["last_error"]["code"], "tenant_unknown",
            "{id}"
        );
        // No id_token at all fails the same way.
        hostile.set(Answer::json(
            200,
            serde_json::json!({"token_type": "Bearer", "expires_in": 3599,
                "access_token": "at-none", "refresh_token": "rt-none"})
            .to_string(),
        ));
        let json = sign_in_through(&app, id).await;
        assert_ne!(json["token"]["status"], "valid", "{id}: {json}");
        assert_eq!(
            json["token"]["last_error"]["code"], "tenant_unknown",
            "{id}"
        );
    }
    // A path prefix in front of the tenant does not hide it.
    credential_with_token_path(
        &app,
        &hostile,
        "prefixed",
        &format!("entra/{DEMO_TENANT_ID}"),
    )
    .await;
    hostile.set(Answer::tokens(TENANT_B, "at-b", "rt-b"));
    let json = sign_in_through(&app, "prefixed").await;
    assert_eq!(
        json["token"]["last_error"]["code"], "tenant_mismatch",
        "{json}"
    );
    let stored: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM credentials WHERE access_token IS NOT NULL")
            .fetch_one(&app.state.db)
            .await
            .expect("count");
    assert_eq!(stored, 0, "a token of an unchecked tenant was stored");
}

#[tokio::test]
async fn domain_and_multi_tenant_credentials_pin_the_tenant_of_their_first_sign_in() {
    let hostile = Hostile::spawn(Answer::tokens(TENANT_A, "at-a", "rt-a")).await;
    let app = TestApp::signed_in_allowing(&[&hostile.host()]).await;
    for (id, path) in [
        ("domain", "contoso.onmicrosoft.com"),
        ("multi", "organizations"),
    ] {
        credential_with_token_path(&app, &hostile, id, path).await;
        hostile.set(Answer::tokens(TENANT_A, "at-a", "rt-a"));
        let json = sign_in_through(&app, id).await;
        assert_eq!(json["token"]["status"], "valid", "{json}");
        let page = app.get_text(&format!("/credentials/{id}")).await;
        assert!(page.contains(TENANT_A) && page.contains("pinned"), "{id}");

        // Another tenant later: refused, with the way out on the page.
        hostile.set(Answer::tokens(TENANT_B, "at-b", "rt-b"));
        let json = sign_in_through(&app, id).await;
        assert_eq!(
            json["token"]["last_error"]["code"], "tenant_mismatch",
            "{json}"
        );
        let page = app.get_text(&format!("/credentials/{id}")).await;
        assert!(page.contains("Forget the pinned tenant"), "{id}");
        let stored: Vec<u8> =
            sqlx::query_scalar("SELECT access_token FROM credentials WHERE id = $1")
                .bind(id)
                .fetch_one(&app.state.db)
                .await
                .expect("row");
        let token = app.state.key.decrypt_string(
            &mailport::store::credentials::access_token_context(id),
            &stored,
        );
        assert_eq!(
            token.expect("token").expose(),
            "at-a",
            "tenant A's token stays"
        );

        // Forgetting the pin lets the next sign-in pin its own tenant.
        let token_url = format!("{}/{path}/oauth2/v2.0/token", hostile.base);
        let authorize = app.tenant_url("authorize?prompt=select_account");
        let r = app
            .post_form(
                &format!("/credentials/{id}"),
                &[
                    ("description", "test credential"),
                    ("grant_type", "authorization_code"),
                    ("authorization_url", &authorize),
                    ("access_token_url", &token_url),
                    ("client_id", mailport::sandbox::world::DEMO_CLIENT_ID),
                    ("scope", "Mail.ReadWrite offline_access"),
                    ("client_auth", "post"),
                    ("forget_tenant_pin", "on"),
                ],
            )
            .await;
        assert_is_redirect_to(&r, &format!("/credentials/{id}"));
        let json = sign_in_through(&app, id).await;
        assert_eq!(json["token"]["status"], "valid", "{json}");
        let page = app.get_text(&format!("/credentials/{id}")).await;
        assert!(page.contains(TENANT_B), "pinned anew");
    }
}
