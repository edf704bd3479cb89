//! Sessions (OWASP ASVS 4.0.3, 3.2 and 3.3): a new id at sign-in (no fixation), stored only
//! once someone signs in and only as a hash, ended server-side by sign-out, by a password
//! change or reset (every session of that user), by the absolute lifetime however busy, and
//! by "Sign out all other sessions"; the cookie is HttpOnly, SameSite=Lax, and Secure behind
//! an https public URL.

use std::str::FromStr;
use std::time::Duration;

use mailport::web::session::SESSION_COOKIE;
use reqwest::{Client, StatusCode, header};
use tower_sessions::session::Id;
use tower_sessions::session_store::SessionStore;

use crate::helpers::*;
use crate::routes::signed_in_csrf;

fn set_cookie(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_string)
}

fn session_cookie(r: &reqwest::Response) -> Option<String> {
    set_cookie(r, SESSION_COOKIE)
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

async fn session_rows(app: &TestApp) -> i64 {
    mailport::store::sessions::count(&app.state.db)
        .await
        .expect("count")
}

/// A browser of its own, with a user agent the sessions list can show.
fn browser_as(agent: &str) -> Client {
    Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(agent)
        .build()
        .expect("client")
}

async fn sign_in(app: &TestApp, client: &Client, password: &str) -> reqwest::Response {
    app.browser_with(client.clone())
        .login(ADMIN, password)
        .await
}

async fn signed_in(app: &TestApp, client: &Client) -> bool {
    app.browser_with(client.clone()).signed_in().await
}

/// Posts the password form of `client`'s settings page.
async fn change_password(
    app: &TestApp,
    client: &Client,
    fields: [(&str, &str); 3],
) -> reqwest::Response {
    let csrf = signed_in_csrf(client, app).await;
    let mut all = vec![("csrf_token", csrf.as_str())];
    all.extend(fields);
    client
        .post(app.url("/settings/password"))
        .form(&all)
        .send()
        .await
        .expect("POST")
}

#[tokio::test]
async fn sign_in_gives_a_new_session_and_logout_deletes_it_on_the_server() {
    let app = TestApp::spawn().await;
    app.create_admin(ADMIN, ADMIN_PASSWORD).await;
    let r = app.get("/login").await;
    assert!(session_cookie(&r).is_none(), "no session before sign-in");

    // An attacker who plants a session id in the victim's browser learns nothing: the
    // sign-in answers with an id of its own and the planted one opens nothing.
    let planted = Id::default().to_string();
    let page = app.get_text("/login").await;
    let csrf = form_value(&page, "csrf_token").expect("form token");
    let r = app
        .client
        .post(app.url("/login"))
        // The form token doubles as its cookie's value (a signed double-submit cookie).
        .header(
            header::COOKIE,
            format!(
                "{SESSION_COOKIE}={planted}; {}={csrf}",
                mailport::web::form_token::COOKIE
            ),
        )
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("username", ADMIN),
            ("password", ADMIN_PASSWORD),
        ])
        .send()
        .await
        .expect("POST");
    assert_is_redirect_to(&r, "/credentials");
    let signed_in = cookie_id(&session_cookie(&r).expect("new cookie at sign-in"));
    assert_ne!(planted, signed_in);
    assert!(!exists(&app, &planted).await, "the planted id was adopted");
    assert!(exists(&app, &signed_in).await);
    let with_planted = browser()
        .get(app.url("/credentials"))
        .header(header::COOKIE, format!("{SESSION_COOKIE}={planted}"))
        .send()
        .await
        .expect("GET");
    assert_eq!(with_planted.status(), StatusCode::SEE_OTHER);

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
async fn the_cookies_are_http_only_same_site_and_secure_behind_https() {
    for (public_url, secure) in [(None, false), (Some("https://mailport.example"), true)] {
        let app = TestApp::spawn_custom(
            Options {
                public_url: public_url.map(String::from),
                ..Options::default()
            },
            |_| {},
        )
        .await;
        app.create_admin(ADMIN, ADMIN_PASSWORD).await;
        let r = app.get("/login").await;
        let form = set_cookie(&r, mailport::web::form_token::COOKIE).expect("form cookie");
        assert!(
            form.contains("HttpOnly") && form.contains("SameSite=Strict"),
            "{form}"
        );
        assert_eq!(form.contains("Secure"), secure, "{form}");
        let r = sign_in(&app, &app.client, ADMIN_PASSWORD).await;
        assert_is_redirect_to(&r, "/credentials");
        let cookie = session_cookie(&r).expect("session cookie at sign-in");
        assert!(cookie.contains("HttpOnly"), "{cookie}");
        assert!(cookie.contains("SameSite=Lax"), "{cookie}");
        assert!(cookie.contains("Path=/"), "{cookie}");
        assert_eq!(cookie.contains("Secure"), secure, "{cookie}");
        assert!(
            !cookie.to_ascii_lowercase().contains("domain="),
            "host-only: {cookie}"
        );
    }
}

#[tokio::test]
async fn anonymous_visitors_store_nothing_and_the_database_holds_no_session_id() {
    let app = TestApp::spawn().await;
    app.create_admin(ADMIN, ADMIN_PASSWORD).await;
    for _ in 0..200 {
        let r = browser().get(app.url("/login")).send().await.expect("GET");
        assert_eq!(r.status(), StatusCode::OK);
    }
    // Failed sign-ins, a visitor's form posts and pages of a stranger store nothing either.
    let visitor = TestApp::spawn_client(&app);
    for _ in 0..3 {
        let r = visitor.login(ADMIN, "not the password").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    for path in ["/credentials", "/setup?token=x", "/static/app.css", "/nope"] {
        browser().get(app.url(path)).send().await.expect("GET");
    }
    assert_eq!(
        session_rows(&app).await,
        0,
        "anonymous visits stored sessions"
    );

    // A signed-in session is stored, by the hash of its id only.
    let r = app.login(ADMIN, ADMIN_PASSWORD).await;
    let id = cookie_id(&session_cookie(&r).expect("cookie"));
    app.get_text("/settings").await;
    assert_eq!(session_rows(&app).await, 1);
    sqlx::query("PRAGMA wal_checkpoint(FULL)")
        .execute(&app.state.db)
        .await
        .expect("checkpoint");
    let bytes = app.data_dir_bytes();
    assert!(
        !bytes.windows(id.len()).any(|w| w == id.as_bytes()),
        "the session id is in the data dir"
    );
    let hash = mailport::store::sessions::id_hash(&Id::from_str(&id).expect("id"));
    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sessions WHERE id_hash = $1")
        .bind(&hash)
        .fetch_one(&app.state.db)
        .await
        .expect("row");
    assert_eq!(stored, 1);
}

#[tokio::test]
async fn a_password_reset_with_user_add_signs_the_user_out_everywhere() {
    let app = TestApp::spawn().await;
    app.create_admin(ADMIN, ADMIN_PASSWORD).await;
    app.create_admin("other", "another good password").await;
    let first = browser_as("first");
    let second = browser_as("second");
    for client in [&first, &second] {
        assert_is_redirect_to(&sign_in(&app, client, ADMIN_PASSWORD).await, "/credentials");
        assert!(signed_in(&app, client).await);
    }
    let other = TestApp::spawn_client(&app);
    other.login("other", "another good password").await;

    // `mailport user add` against the running app's data dir, as an operator would.
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_mailport"))
        .args(["user", "add", ADMIN, "--password-stdin", "--data-dir"])
        .arg(app.data_dir.path())
        .env("MAILPORT_LOG", "warn")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("user add");
    {
        use tokio::io::AsyncWriteExt;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(b"a brand new password\n")
            .await
            .expect("password");
    }
    let out = child.wait_with_output().await.expect("user add");
    assert!(out.status.success());
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("signed out"), "{said}");

    for client in [&first, &second] {
        assert!(
            !signed_in(&app, client).await,
            "a session survived the reset"
        );
    }
    let api = first
        .get(app.url("/api/v1/credentials"))
        .send()
        .await
        .expect("GET");
    assert_eq!(api.status(), StatusCode::UNAUTHORIZED);
    assert!(
        signed_in(&app, &other.client).await,
        "another user was signed out"
    );
    let r = sign_in(&app, &first, ADMIN_PASSWORD).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "the old password");
    let r = sign_in(&app, &first, "a brand new password").await;
    assert_is_redirect_to(&r, "/credentials");
}

#[tokio::test]
async fn a_session_ends_after_its_lifetime_however_busy_and_after_idling() {
    let app = TestApp::spawn_custom(
        Options {
            session_lifetime: Some(Duration::from_secs(5)),
            ..Options::default()
        },
        |_| {},
    )
    .await;
    app.create_admin(ADMIN, ADMIN_PASSWORD).await;
    // Times are kept in whole seconds, so a session may end up to a second before its
    // lifetime: it is used for three seconds after the sign-in began (well inside) and checked
    // six seconds after the sign-in ended.
    let started = std::time::Instant::now();
    app.login(ADMIN, ADMIN_PASSWORD).await;
    let signed_in_by = std::time::Instant::now();
    // Used every half second: still it ends five seconds after the sign-in.
    while started.elapsed() < Duration::from_millis(3000) {
        assert!(signed_in(&app, &app.client).await, "ended early");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    tokio::time::sleep(Duration::from_secs(6).saturating_sub(signed_in_by.elapsed())).await;
    assert!(!signed_in(&app, &app.client).await, "outlived its lifetime");

    // Idle: a session whose idle end passed is gone, whatever its lifetime.
    let other = TestApp::spawn_client(&app);
    other.login(ADMIN, ADMIN_PASSWORD).await;
    assert!(signed_in(&app, &other.client).await);
    sqlx::query("UPDATE sessions SET expires_at = $1")
        .bind(mailport::store::now() - 1)
        .execute(&app.state.db)
        .await
        .expect("age");
    assert!(
        !signed_in(&app, &other.client).await,
        "an idle session lived on"
    );
}

#[tokio::test]
async fn changing_the_password_needs_the_current_one_and_signs_out_the_other_sessions() {
    let app = TestApp::spawn().await;
    app.create_admin(ADMIN, ADMIN_PASSWORD).await;
    let here = browser_as("here");
    let elsewhere = browser_as("elsewhere");
    sign_in(&app, &here, ADMIN_PASSWORD).await;
    sign_in(&app, &elsewhere, ADMIN_PASSWORD).await;
    let new = "a completely new password";
    for (current, password, confirm, says) in [
        ("wrong password", new, new, "not your current password"),
        (ADMIN_PASSWORD, "short", "short", "at least 10"),
        (ADMIN_PASSWORD, new, "something else", "differ"),
    ] {
        let r = change_password(
            &app,
            &here,
            [
                ("current_password", current),
                ("password", password),
                ("password_confirm", confirm),
            ],
        )
        .await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{says}");
        assert!(r.text().await.expect("page").contains(says), "{says}");
        assert!(signed_in(&app, &elsewhere).await, "nothing changed yet");
    }
    let r = change_password(
        &app,
        &here,
        [
            ("current_password", ADMIN_PASSWORD),
            ("password", new),
            ("password_confirm", new),
        ],
    )
    .await;
    assert_is_redirect_to(&r, "/settings");
    assert!(
        signed_in(&app, &here).await,
        "the changing session continues"
    );
    assert!(
        !signed_in(&app, &elsewhere).await,
        "another session survived the change"
    );
    assert_eq!(
        sign_in(&app, &elsewhere, ADMIN_PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_is_redirect_to(&sign_in(&app, &elsewhere, new).await, "/credentials");
}

#[tokio::test]
async fn the_sessions_list_shows_every_session_and_signs_out_the_others() {
    let app = TestApp::spawn().await;
    app.create_admin(ADMIN, ADMIN_PASSWORD).await;
    let laptop = browser_as("Laptop browser/1.0");
    let phone = browser_as("Phone browser/2.0 <script>");
    sign_in(&app, &laptop, ADMIN_PASSWORD).await;
    sign_in(&app, &phone, ADMIN_PASSWORD).await;
    let page = laptop
        .get(app.url("/settings"))
        .send()
        .await
        .expect("GET")
        .text()
        .await
        .expect("page");
    assert!(page.contains("Laptop browser/1.0"));
    assert!(page.contains("Phone browser/2.0 "));
    assert!(!page.contains("<script>"), "the user agent is escaped");
    assert!(page.contains("127.0.0.1"));
    assert_eq!(page.matches("(this session)").count(), 1, "{page}");

    let csrf = signed_in_csrf(&laptop, &app).await;
    let r = laptop
        .post(app.url("/settings/sessions/sign-out-others"))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .expect("POST");
    assert_is_redirect_to(&r, "/settings");
    let page = laptop
        .get(app.url("/settings"))
        .send()
        .await
        .expect("GET")
        .text()
        .await
        .expect("page");
    assert!(page.contains("Signed out 1 other session."), "{page}");
    assert!(!page.contains("Phone browser"));
    assert!(!signed_in(&app, &phone).await);
    assert!(signed_in(&app, &laptop).await);
}
