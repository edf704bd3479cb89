//! Session cookies: a new id at sign-in (no fixation), logout deletes the session on the
//! server, and the cookie is HttpOnly, SameSite=Lax, and Secure behind an https public URL.

use std::str::FromStr;

use mailport::web::SESSION_COOKIE;
use reqwest::{StatusCode, header};
use tower_sessions::session::Id;
use tower_sessions::session_store::SessionStore;

use crate::helpers::*;

fn session_cookie(r: &reqwest::Response) -> Option<String> {
    r.headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{SESSION_COOKIE}=")))
        .map(str::to_string)
}

/// The session id a Set-Cookie value carries.
pub fn cookie_id(cookie: &str) -> String {
    cookie
        .split(';')
        .next()
        .and_then(|kv| kv.split_once('='))
        .map(|(_, v)| v.to_string())
        .expect("cookie value")
}

async fn exists(app: &TestApp, id: &str) -> bool {
    let id = Id::from_str(id).expect("session id");
    app.state
        .session_store
        .load(&id)
        .await
        .expect("store")
        .is_some()
}

#[tokio::test]
async fn sign_in_replaces_the_session_and_logout_deletes_it_on_the_server() {
    let app = TestApp::spawn().await;
    app.create_admin(ADMIN, ADMIN_PASSWORD).await;
    let anonymous = session_cookie(&app.get("/login").await).expect("anonymous session");
    let anonymous = cookie_id(&anonymous);
    assert!(exists(&app, &anonymous).await);

    // An attacker who planted the anonymous id learns nothing: it is gone after sign-in.
    let r = app.login(ADMIN, ADMIN_PASSWORD).await;
    let signed_in = cookie_id(&session_cookie(&r).expect("new cookie at sign-in"));
    assert_ne!(anonymous, signed_in);
    assert!(
        !exists(&app, &anonymous).await,
        "the pre-login session survived"
    );
    let planted = browser()
        .get(app.url("/credentials"))
        .header(header::COOKIE, format!("{SESSION_COOKIE}={anonymous}"))
        .send()
        .await
        .expect("GET");
    assert_eq!(planted.status(), StatusCode::SEE_OTHER);

    let r = app.post_form("/logout", &[]).await;
    assert_is_redirect_to(&r, "/login");
    assert!(
        !exists(&app, &signed_in).await,
        "logout left the session in the store"
    );
    let replay = browser()
        .get(app.url("/api/v1/credentials"))
        .header(header::COOKIE, format!("{SESSION_COOKIE}={signed_in}"))
        .send()
        .await
        .expect("GET");
    assert_eq!(replay.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_cookie_is_http_only_same_site_and_secure_behind_https() {
    let plain = TestApp::spawn().await;
    let cookie = session_cookie(&plain.get("/login").await).expect("cookie");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(!cookie.contains("Secure"), "plain http: {cookie}");
    assert!(cookie.contains("Path=/"), "{cookie}");
    assert!(
        !cookie.to_ascii_lowercase().contains("domain="),
        "host-only: {cookie}"
    );

    let https = TestApp::spawn_custom(
        Options {
            public_url: Some("https://mailport.example".into()),
            ..Options::default()
        },
        |_| {},
    )
    .await;
    https.create_admin(ADMIN, ADMIN_PASSWORD).await;
    let r = https.get("/login").await;
    let cookie = session_cookie(&r).expect("cookie");
    assert!(cookie.contains("Secure"), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    // The cookie set at sign-in too (it replaces the anonymous one).
    let page = r.text().await.expect("page");
    let csrf = form_value(&page, "csrf_token").expect("csrf");
    let r = browser()
        .post(https.url("/login"))
        .header(header::COOKIE, cookie_pair(&cookie))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("username", ADMIN),
            ("password", ADMIN_PASSWORD),
        ])
        .send()
        .await
        .expect("POST");
    assert_is_redirect_to(&r, "/credentials");
    let cookie = session_cookie(&r).expect("cookie at sign-in");
    assert!(
        cookie.contains("Secure") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
}

fn cookie_pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap_or_default().to_string()
}
