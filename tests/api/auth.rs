//! Sign-in, first-run setup, sessions, CSRF, rate limiting and security headers.

use reqwest::{StatusCode, header};

use crate::helpers::*;

#[tokio::test]
async fn setup_link_creates_the_first_admin_once() {
    let app = TestApp::spawn().await;
    let link = app.running.setup_link.clone().expect("setup link printed");
    let page = app.client.get(&link).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let page = page.text().await.unwrap();
    let token = form_value(&page, "token").unwrap();
    let csrf = form_value(&page, "csrf_token").unwrap();

    // Mismatched passwords: refused, nothing created.
    let r = app
        .client
        .post(app.url("/setup"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("token", token.as_str()),
            ("username", "root"),
            ("password", "long enough pw"),
            ("password_confirm", "different pw!!"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        mailport::store::users::count(&app.state.db).await.unwrap(),
        0
    );

    let r = app
        .client
        .post(app.url("/setup"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("token", token.as_str()),
            ("username", "root"),
            ("password", "long enough pw"),
            ("password_confirm", "long enough pw"),
        ])
        .send()
        .await
        .unwrap();
    assert_is_redirect_to(&r, "/credentials");
    assert_eq!(app.get("/credentials").await.status(), StatusCode::OK);

    // The link is single-use.
    let again = browser().get(&link).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn private_pages_need_a_session_and_the_api_needs_a_key() {
    let app = TestApp::spawn().await;
    for path in ["/credentials", "/credentials/new", "/credentials/x", "/"] {
        let r = app.get(path).await;
        assert!(r.status().is_redirection(), "{path}");
        assert!(location(&r).starts_with("/login"), "{path}");
    }
    let r = app.get("/api/v1/credentials").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthorized");

    let bad = app
        .client
        .get(app.url("/api/v1/credentials"))
        .bearer_auth("mp_not_a_key")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);

    let key = "mp_test_key_0123456789abcdefghijklmnopqrstuv";
    mailport::store::api_keys::create(
        &app.state.db,
        "ci",
        &mailport::crypto::sha256_hex(key.as_bytes()),
    )
    .await
    .unwrap();
    let ok = browser()
        .get(app.url("/api/v1/credentials"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    let missing = browser()
        .get(app.url("/api/v1/nothing"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

fn session_cookie(r: &reqwest::Response) -> Option<String> {
    r.headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("mailport_session="))
        .map(str::to_string)
}

#[tokio::test]
async fn login_rotates_the_session_and_logout_kills_it() {
    let app = TestApp::spawn().await;
    app.create_admin(ADMIN, ADMIN_PASSWORD).await;
    let before = app.get("/login").await;
    assert!(
        session_cookie(&before).is_none(),
        "no session before sign-in: the form carries a signed token instead"
    );
    let id = |c: &str| c.split(';').next().unwrap().to_string();
    let r = app.login(ADMIN, ADMIN_PASSWORD).await;
    let first_cookie = session_cookie(&r).expect("session cookie at login");
    app.post_form("/logout", &[]).await;
    let r = app.login(ADMIN, ADMIN_PASSWORD).await;
    let after_cookie = session_cookie(&r).expect("new session cookie at login");
    assert_ne!(
        id(&first_cookie),
        id(&after_cookie),
        "every sign-in gets a new session id"
    );
    assert!(after_cookie.contains("HttpOnly"));
    assert!(after_cookie.contains("SameSite=Lax"));
    assert!(!after_cookie.contains("Secure"), "plain-http public URL");

    // Replay the signed-in cookie from another client after logout: refused.
    let stolen = id(&after_cookie);
    let r = app.post_form("/logout", &[]).await;
    assert_is_redirect_to(&r, "/login");
    let replay = browser()
        .get(app.url("/credentials"))
        .header(header::COOKIE, stolen)
        .send()
        .await
        .unwrap();
    assert!(
        replay.status().is_redirection(),
        "logged-out session still works"
    );
}

#[tokio::test]
async fn wrong_passwords_are_rate_limited_without_locking_out_others() {
    let app = TestApp::spawn().await;
    app.create_admin(ADMIN, ADMIN_PASSWORD).await;
    app.create_admin("other", "another good password").await;
    for _ in 0..5 {
        let r = app.login(ADMIN, "wrong password").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let r = app
        .post_form(
            "/login",
            &[("username", ADMIN), ("password", ADMIN_PASSWORD)],
        )
        .await;
    assert_eq!(
        r.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "even the right password waits"
    );
    assert!(r.headers().contains_key(header::RETRY_AFTER));
    assert!(r.text().await.unwrap().contains("Too many failed sign-ins"));
    // Another administrator still signs in, and the server still answers.
    let other = TestApp::spawn_client(&app);
    let r = other.login("other", "another good password").await;
    assert_is_redirect_to(&r, "/credentials");
}

#[tokio::test]
async fn csrf_is_required_on_every_post() {
    let app = TestApp::signed_in().await;
    let fields = [
        ("id", "x"),
        ("grant_type", "client_credentials"),
        (
            "access_token_url",
            "https://login.microsoftonline.com/t/oauth2/v2.0/token",
        ),
        ("client_id", "c"),
        ("client_secret", "s"),
        ("scope", "https://graph.microsoft.com/.default"),
    ];
    let r = app.post_raw("/credentials", &fields).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.text().await.unwrap().contains("nothing was changed"));
    let mut wrong = fields.to_vec();
    wrong.push(("csrf_token", "forged"));
    assert_eq!(
        app.post_raw("/credentials", &wrong).await.status(),
        StatusCode::FORBIDDEN
    );
    // Also for logout and login.
    assert_eq!(
        app.post_raw("/logout", &[]).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.post_raw(
            "/login",
            &[("username", ADMIN), ("password", ADMIN_PASSWORD)]
        )
        .await
        .status(),
        StatusCode::FORBIDDEN
    );
    assert!(app.api("/credentials").await.as_array().unwrap().is_empty());
    // With the token it works.
    let r = app.post_form("/credentials", &fields).await;
    assert_is_redirect_to(&r, "/credentials/x");
}

#[tokio::test]
async fn pages_carry_security_headers() {
    let app = TestApp::signed_in().await;
    for path in ["/login", "/credentials", "/api/v1/credentials", "/nope"] {
        let r = app.get(path).await;
        let h = r.headers();
        let csp = h
            .get(header::CONTENT_SECURITY_POLICY)
            .unwrap()
            .to_str()
            .unwrap();
        assert!(
            csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"),
            "{path}"
        );
        assert!(!csp.contains("unsafe-inline"));
        assert_eq!(h.get(header::X_CONTENT_TYPE_OPTIONS).unwrap(), "nosniff");
        assert_eq!(h.get(header::REFERRER_POLICY).unwrap(), "no-referrer");
    }
    let css = app.get("/static/app.css").await;
    assert_eq!(css.status(), StatusCode::OK);
    assert!(
        css.headers()
            .get(header::CACHE_CONTROL)
            .unwrap()
            .to_str()
            .unwrap()
            .contains("max-age")
    );
    // Pages reference nothing outside the server.
    let page = app.get_text("/credentials/new").await;
    for attr in ["src=\"http", "href=\"http", "src=\"//", "href=\"//"] {
        assert!(!page.contains(attr), "external resource: {attr}");
    }
}

#[tokio::test]
async fn a_key_mailport_does_not_hold_gets_unknown_or_revoked_api_key() {
    let app = TestApp::spawn().await;
    let key = "mp_revoked_key_0123456789abcdefghijklmnopqr";
    mailport::store::api_keys::create(
        &app.state.db,
        "soon-revoked",
        &mailport::crypto::sha256_hex(key.as_bytes()),
    )
    .await
    .unwrap();
    let listed = mailport::store::api_keys::list(&app.state.db)
        .await
        .unwrap();
    mailport::store::api_keys::delete(&app.state.db, listed[0].id)
        .await
        .unwrap();
    let message = |r: reqwest::Response| async move {
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let body: serde_json::Value = r.json().await.unwrap();
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    for sent in [key, "mp_mistyped", &"x".repeat(300)] {
        let r = browser()
            .get(app.url("/api/v1/accounts"))
            .bearer_auth(sent)
            .send()
            .await
            .unwrap();
        let text = message(r).await;
        assert!(
            text.starts_with("Unknown or revoked API key.") && text.contains("--data-dir"),
            "{text}"
        );
    }
    // Nothing sent: how to authenticate, not a verdict on a key.
    let text = message(
        browser()
            .get(app.url("/api/v1/accounts"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(text, "Send Authorization: Bearer <API key> or sign in.");
}
