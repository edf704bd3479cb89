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
