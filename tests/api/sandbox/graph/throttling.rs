//! Throttling: concurrent requests, request budgets, emulated latency and throughput.

use super::*;

#[tokio::test]
async fn fifth_concurrent_request_is_throttled() {
    let t = spawn().await;
    let seeded = t.seed(
        "inbox",
        GenerateSpec {
            size: 200_000,
            ..small(1)
        },
    );
    // Every request holds its slot for 400 ms, so 8 parallel requests overlap for sure.
    t.state().set_delay_ms(ALICE, 400).unwrap();
    t.state().reset_request_log();
    let url = format!(
        "{}/users/{ALICE}/messages/{}/$value",
        t.graph, seeded[0].regular_id
    );
    let requests = (0..8).map(|_| {
        let client = t.client.clone();
        let url = url.clone();
        async move { client.get(url).bearer_auth(APP_TOKEN).send().await.unwrap() }
    });
    let responses = futures_util::future::join_all(requests).await;
    let mut ok = 0;
    let mut throttled = 0;
    for response in responses {
        match response.status() {
            StatusCode::OK => {
                ok += 1;
                assert_eq!(response.bytes().await.unwrap().len(), seeded[0].size);
            }
            StatusCode::TOO_MANY_REQUESTS => {
                throttled += 1;
                assert!(response.headers().contains_key("retry-after"));
                let body: Value = response.json().await.unwrap();
                assert_eq!(body["error"]["code"], "ApplicationThrottled");
                assert_eq!(
                    body["error"]["message"],
                    "Application is over its MailboxConcurrency limit."
                );
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!((ok, throttled), (4, 4));
    let log = t.state().request_log();
    assert_eq!(log.max_concurrent[&ALICE.to_lowercase()], 4);
    assert_eq!(log.totals["value"], 8);
    // The slots are all free again.
    t.state().set_delay_ms(ALICE, 0).unwrap();
    assert_eq!(t.get(&url, APP_TOKEN).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn network_latency_and_value_throughput_are_emulated() {
    let t = spawn().await;
    let seeded = t.seed(
        "inbox",
        GenerateSpec {
            size: 400_000,
            ..small(1)
        },
    );
    let settings_url = format!(
        "{}/_sandbox/graph/mailboxes/{ALICE_UPN}/settings",
        t.handle.base_url
    );
    let patched: Value = t
        .client
        .patch(&settings_url)
        .json(&json!({"latency_ms": 300, "value_bytes_per_sec": 1_000_000}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(patched["latency_ms"], 300);
    assert_eq!(patched["value_bytes_per_sec"], 1_000_000);
    assert_eq!(patched["delay_ms"], 0);

    // Every request pays the round trip (only lower bounds: the machine may be slower).
    let started = std::time::Instant::now();
    let response = t
        .get(&format!("/users/{ALICE}/mailFolders/inbox"), APP_TOKEN)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(300));

    // `$value` streams at the configured rate: 400 KB at 1 MB/s takes 0.4 s on top.
    let started = std::time::Instant::now();
    let bytes = t
        .get(
            &format!("/users/{ALICE}/messages/{}/$value", seeded[0].regular_id),
            APP_TOKEN,
        )
        .await
        .bytes()
        .await
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(650));
    assert_eq!(hex::encode(Sha256::digest(&bytes)), seeded[0].sha256);

    // A misspelt switch is refused and changes nothing.
    let response = t
        .client
        .patch(&settings_url)
        .json(&json!({"latency": 5}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let settings = t.state().mailbox_settings(ALICE).unwrap();
    assert_eq!(settings.latency_ms, 300);
}

#[tokio::test]
async fn request_budget_per_app_and_mailbox() {
    let t = spawn().await;
    t.seed("inbox", small(1));
    // Another app, with its own budget for the same mailbox.
    let other_app = "eyJ0eXAi.other-app.sig";
    t.handle.sandbox.world.register_access_token(
        other_app.into(),
        AccessGrant {
            client_id: "0e0e0000-0000-4000-8000-0000000000bb".into(),
            ..grant(None, &["Mail.ReadWrite"], &[], 3600)
        },
    );
    let defaults = t.state().mailbox_settings(ALICE).unwrap();
    assert_eq!(
        (defaults.budget_requests, defaults.budget_window_secs),
        (10_000, 600),
        "Microsoft's budget by default"
    );
    let patch = mailport::sandbox::graph::SettingsPatch {
        budget_requests: Some(3),
        budget_window_secs: Some(60),
        ..Default::default()
    };
    t.state().update_mailbox_settings(ALICE, &patch).unwrap();
    let url = format!("/users/{ALICE}/mailFolders/inbox");
    for _ in 0..3 {
        assert_eq!(t.get(&url, APP_TOKEN).await.status(), StatusCode::OK);
    }
    let refused = t.get(&url, APP_TOKEN).await;
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "Retry-After {retry_after}");
    let message =
        assert_graph_error(refused, StatusCode::TOO_MANY_REQUESTS, "TooManyRequests").await;
    assert_eq!(message, "Please retry again later.");
    // The budget is per app and per mailbox: a second app still gets through, and so does the
    // first app on another mailbox.
    assert_eq!(t.get(&url, other_app).await.status(), StatusCode::OK);
    assert_eq!(
        t.get(&format!("/users/{BOB}/mailFolders/inbox"), APP_TOKEN)
            .await
            .status(),
        StatusCode::OK
    );
    // Lifting the budget lets the first app in again.
    let lift = mailport::sandbox::graph::SettingsPatch {
        budget_requests: Some(0),
        ..Default::default()
    };
    t.state().update_mailbox_settings(ALICE, &lift).unwrap();
    assert_eq!(t.get(&url, APP_TOKEN).await.status(), StatusCode::OK);
}
