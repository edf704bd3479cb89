//! Password guessing: refused with 429 after a few failures, before any password hashing,
//! while other administrators still sign in and the server answers quickly.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use reqwest::StatusCode;

use crate::helpers::*;

#[tokio::test]
async fn a_guessing_flood_is_refused_while_others_sign_in_and_healthz_answers() {
    let app = TestApp::spawn().await;
    app.create_admin(ADMIN, ADMIN_PASSWORD).await;
    app.create_admin("other", "another good password").await;
    let attacker = TestApp::spawn_client(&app);
    let csrf = attacker.csrf().await;

    // 200 guesses, 20 at a time: the first few are checked (401), the rest refused (429).
    let started = Instant::now();
    let mut statuses = Vec::new();
    let mut slowest_health = Duration::ZERO;
    for round in 0..10 {
        let guesses = (0..20).map(|i| {
            let password = format!("guess-{round}-{i}");
            let fields = [
                ("csrf_token", csrf.clone()),
                ("username", ADMIN.to_string()),
                ("password", password),
            ];
            let client = attacker.client.clone();
            let url = app.url("/login");
            async move {
                client
                    .post(url)
                    .form(&fields)
                    .send()
                    .await
                    .map(|r| r.status())
            }
        });
        let health = async {
            let t = Instant::now();
            let r = browser()
                .get(app.url("/healthz"))
                .send()
                .await
                .expect("healthz");
            assert_eq!(r.status(), StatusCode::OK);
            t.elapsed()
        };
        let (results, took) = tokio::join!(join_all(guesses), health);
        slowest_health = slowest_health.max(took);
        statuses.extend(results.into_iter().map(|r| r.expect("guess")));
    }
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    let checked = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    assert_eq!(checked + refused, 200, "{statuses:?}");
    assert!(
        checked <= 20,
        "{checked} guesses were checked against the password"
    );
    assert!(refused >= 180);
    assert!(
        slowest_health < Duration::from_secs(2),
        "healthz took {slowest_health:?} during the flood"
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "the flood took {:?}: refusals must be cheap",
        started.elapsed()
    );

    // The right password is refused too while the lock lasts...
    let r = attacker.login(ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().contains_key(reqwest::header::RETRY_AFTER));
    // ...but another administrator, from the same address, signs in at once.
    let t = Instant::now();
    let other = TestApp::spawn_client(&app);
    let r = other.login("other", "another good password").await;
    assert_is_redirect_to(&r, "/credentials");
    assert!(t.elapsed() < Duration::from_secs(5));
}

/// A browser whose connections come from `addr` (any 127.0.0.0/8 address is this machine).
fn browser_from(addr: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .local_address(addr.parse::<std::net::IpAddr>().expect("address"))
        .build()
        .expect("client")
}

async fn try_password(app: &TestApp, client: &reqwest::Client, password: &str) -> StatusCode {
    app.browser_with(client.clone())
        .login(ADMIN, password)
        .await
        .status()
}

#[tokio::test]
async fn strangers_on_many_addresses_cannot_lock_the_administrator_out() {
    let app = TestApp::spawn().await;
    app.create_admin(ADMIN, ADMIN_PASSWORD).await;
    // 31 addresses guess at once until each is refused: far more failures for the name than
    // any per-name lock would allow.
    let guessers = (10..=40).map(|n| {
        let app = &app;
        async move {
            let stranger = browser_from(&format!("127.0.0.{n}"));
            let mut failures = 0;
            loop {
                match try_password(app, &stranger, &format!("guess {n} {failures}")).await {
                    StatusCode::UNAUTHORIZED => failures += 1,
                    StatusCode::TOO_MANY_REQUESTS => break failures,
                    other => panic!("unexpected {other}"),
                }
                assert!(failures < 100, "a guesser is never throttled");
            }
        }
    });
    let failures: u32 = join_all(guessers).await.into_iter().sum();
    assert_eq!(
        failures,
        31 * 5,
        "each address gets five guesses at the name"
    );

    // The real administrator, from an address without failures, signs in at once.
    let admin = browser_from("127.0.0.2");
    let started = Instant::now();
    assert_eq!(
        try_password(&app, &admin, ADMIN_PASSWORD).await,
        StatusCode::SEE_OTHER
    );
    assert!(started.elapsed() < Duration::from_secs(5), "slowed down");

    // A guesser from one address is still refused, also with the right password...
    let guesser = browser_from("127.0.0.25");
    assert_eq!(
        try_password(&app, &guesser, ADMIN_PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // ...and an address that failed for other names is slowed down for this one, not refused.
    let sloppy = browser_from("127.0.0.3");
    let r = app
        .browser_with(sloppy.clone())
        .login("nobody", "wrong password")
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let started = Instant::now();
    assert_eq!(
        try_password(&app, &sloppy, ADMIN_PASSWORD).await,
        StatusCode::SEE_OTHER
    );
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "the per-name protection slows addresses with failures"
    );
}

#[tokio::test]
async fn a_password_reset_clears_the_counts_of_that_name() {
    let app = TestApp::spawn().await;
    app.create_admin(ADMIN, ADMIN_PASSWORD).await;
    let me = browser_from("127.0.0.5");
    for _ in 0..5 {
        assert_eq!(
            try_password(&app, &me, "mistyped password").await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        try_password(&app, &me, ADMIN_PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // What README tells a locked-out administrator: reset the password.
    mailport::store::users::upsert(
        &app.state.db,
        ADMIN,
        &mailport::passwords::hash("a fresh password".into())
            .await
            .expect("hash"),
    )
    .await
    .expect("reset");
    assert_eq!(
        try_password(&app, &me, "a fresh password").await,
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn api_keys_take_any_case_of_bearer_and_bad_keys_are_throttled_per_address() {
    let app = TestApp::spawn().await;
    let key = "mp_rate_limit_test_key_0123456789abcdefghij";
    mailport::store::api_keys::create(
        &app.state.db,
        "ci",
        &mailport::crypto::sha256_hex(key.as_bytes()),
    )
    .await
    .expect("key");
    let client = browser_from("127.0.0.7");
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let r = client
            .get(app.url("/api/v1/credentials"))
            .header(reqwest::header::AUTHORIZATION, format!("{scheme} {key}"))
            .send()
            .await
            .expect("GET");
        assert_eq!(r.status(), StatusCode::OK, "{scheme}");
    }
    let mut refused_after = None;
    for n in 0..30 {
        let r = client
            .get(app.url("/api/v1/credentials"))
            .bearer_auth(format!("mp_guess_{n}"))
            .send()
            .await
            .expect("GET");
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(r.headers().contains_key(reqwest::header::RETRY_AFTER));
            let body: serde_json::Value = r.json().await.expect("json");
            assert_eq!(body["error"]["code"], "too_many_requests");
            refused_after = Some(n);
            break;
        }
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(refused_after, Some(10), "ten bad keys, then 429");
    // Even the right key waits on that address; another address is not affected.
    let r = client
        .get(app.url("/api/v1/credentials"))
        .bearer_auth(key)
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let r = browser_from("127.0.0.8")
        .get(app.url("/api/v1/credentials"))
        .bearer_auth(key)
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), StatusCode::OK);
}
