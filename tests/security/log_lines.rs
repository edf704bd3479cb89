//! What strangers can make Mailport log: every string from outside is escaped, so a newline
//! in a user name or an OAuth error cannot forge a log line, and nothing an anonymous
//! request does (static paths included) reaches ERROR level.

use reqwest::StatusCode;

use crate::helpers::*;
use crate::logs::{self, lines_with};

#[tokio::test]
async fn a_newline_in_a_user_name_or_an_oauth_error_yields_one_log_line() {
    logs::capture();
    let app = TestApp::spawn().await;
    app.create_admin(ADMIN, ADMIN_PASSWORD).await;
    let marker = format!("forged-{}", mailport::crypto::random_token(6));
    let forged = format!(
        "intruder\n2026-01-01T00:00:00.000000Z  INFO mailport::web::auth: signed in user=\"admin\" {marker}\r\x1b[2K"
    );
    let visitor = TestApp::spawn_client(&app);
    // Refused for the password, then refused for the throttle: both are logged.
    for _ in 0..7 {
        visitor.login(&forged, "wrong password").await;
    }
    let lines = lines_with(&marker);
    assert!(!lines.is_empty(), "the attempts are logged");
    for line in &lines {
        assert!(
            line.contains("intruder\\n2026-01-01"),
            "the newline is escaped on one line: {line}"
        );
        assert!(
            !line.contains('\u{1b}'),
            "no terminal escape reaches the log"
        );
        assert!(
            !line.starts_with("2026-01-01T00:00:00.000000Z"),
            "forged: {line}"
        );
    }

    // The OAuth callback's error and description come from the query string.
    app.login(ADMIN, ADMIN_PASSWORD).await;
    app.create_credential("d", "authorization_code", &[]).await;
    let callback = app.sign_in_at_sandbox("d", ADELE, true).await;
    let state = param(&callback, "state").expect("state");
    let error_marker = format!("{marker}-callback");
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("state", &state)
        .append_pair(
            "error",
            &format!("access_denied\nFAKE ERROR {error_marker}"),
        )
        .append_pair("error_uri", &format!("x\r\n{error_marker}"))
        .finish();
    let r = app.get(&format!("/OAuth2Callback?{query}")).await;
    assert_is_redirect_to(&r, "/credentials/d");
    let lines = lines_with(&error_marker);
    assert!(!lines.is_empty(), "the failed sign-in is logged");
    assert!(
        lines.iter().all(|l| !l.starts_with("FAKE ERROR")),
        "{lines:?}"
    );
}

#[tokio::test]
async fn anonymous_requests_never_reach_error_level_and_static_folders_answer_404() {
    logs::capture();
    let app = TestApp::spawn().await;
    let stranger = browser();
    for path in [
        "/static",
        "/static/",
        "/static//",
        "/static/nope.css",
        "/static/../Cargo.toml",
        "/nope",
        "/api/v1/nope",
        "/OAuth2Callback?state=x&code=y",
        "/setup?token=guess",
        "/login?next=%0d%0aSet-Cookie:%20x=y",
    ] {
        let r = stranger.get(app.url(path)).send().await.expect("GET");
        assert!(!r.status().is_server_error(), "{path}: {}", r.status());
        if path.starts_with("/static") {
            assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
        }
    }
    // A malformed session cookie, a huge one, a forged form token.
    for cookie in [
        "mailport_session=%%%",
        "mailport_session=AAAAAAAAAAAAAAAAAAAAAA",
        "mailport_form=1.2.3",
    ] {
        let r = stranger
            .get(app.url("/credentials"))
            .header(reqwest::header::COOKIE, cookie)
            .send()
            .await
            .expect("GET");
        assert!(!r.status().is_server_error(), "{cookie}");
    }
    let text = logs::text();
    for line in text.lines().filter(|l| l.contains("ERROR")) {
        assert!(
            !line.contains("/static") && !line.contains("route is missing"),
            "an anonymous request logged an error: {line}"
        );
    }
}
