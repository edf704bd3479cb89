//! How deliveries are sent: 410 disables, redelivery from the screen, dead deliveries and
//! their replay, a receiver storm against the (shortened) retry schedule, account scope, and
//! mail that existed before the endpoint.

use std::collections::HashMap;
use std::time::Duration;

use mailport::sandbox::receiver::Storm;

use super::*;

/// A sender with a short retry schedule: attempts 1 s, 2 s and 3 s after failures, then dead.
fn short_schedule() -> WebhookSettings {
    WebhookSettings {
        retry_schedule: vec![
            Duration::from_secs(1),
            Duration::from_secs(2),
            Duration::from_secs(3),
        ],
        ..test_webhook_settings()
    }
}

#[tokio::test]
async fn a_410_disables_the_endpoint_until_it_is_enabled_again() {
    let app = app_with_account(Some(short_schedule())).await;
    let secret = create_webhook(&app, "erp", "erp", &[]).await;
    configure_receiver(&app, "erp", &[&secret], vec![Fault::Gone]);
    seed(&app, 1);
    import_all(&app).await;
    wait_until(
        "the endpoint to be disabled",
        Duration::from_secs(20),
        async || webhook_json(&app, "erp").await["status"] == "gone",
    )
    .await;
    let json = webhook_json(&app, "erp").await;
    assert_eq!(json["enabled"], false);
    assert_eq!(json["backlog"]["waiting"], 1, "the delivery waits: {json}");
    let page = app.get_text("/webhooks/erp").await;
    assert!(page.contains("410 Gone"), "the screen says why");
    assert!(
        app.get_text("/webhooks")
            .await
            .contains("data-status=\"gone\"")
    );
    // Mail imported while it is disabled is not queued for it, and nothing more is sent.
    seed(&app, 1);
    import_all(&app).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(received(&app, "erp").len(), 1);
    assert_eq!(webhook_json(&app, "erp").await["backlog"]["waiting"], 1);

    // Enabled again: the waiting delivery goes out.
    let url = receiver_url(&app, "erp");
    let r = app
        .post_form(
            "/webhooks/erp",
            &[
                ("url", url.as_str()),
                ("accounts", "*"),
                ("payload", "json"),
                ("include_attachments", "0"),
                ("enabled", "on"),
            ],
        )
        .await;
    assert_is_redirect_to(&r, "/webhooks/erp");
    wait_delivered(&app, "erp", 1, Duration::from_secs(20)).await;
    // The receiver has it; the sender records the answer a moment later.
    wait_until(
        "the endpoint to be ok",
        Duration::from_secs(10),
        async || webhook_json(&app, "erp").await["status"] == "ok",
    )
    .await;
}

#[tokio::test]
async fn redelivering_from_the_screen_sends_the_same_webhook_id_and_body_again() {
    let app = app_with_account(None).await;
    let secret = create_webhook(&app, "erp", "erp", &[]).await;
    configure_receiver(&app, "erp", &[&secret], vec![]);
    seed(&app, 1);
    import_all(&app).await;
    wait_delivered(&app, "erp", 1, Duration::from_secs(20)).await;
    let first = received(&app, "erp").remove(0);
    wait_until(
        "the answer to be recorded",
        Duration::from_secs(10),
        async || app.api("/webhooks/erp/deliveries").await["items"][0]["status"] == "delivered",
    )
    .await;

    let page = app.get_text("/webhooks/erp").await;
    let delivery_id: i64 = sqlx::query_scalar("SELECT id FROM webhook_deliveries")
        .fetch_one(&app.state.db)
        .await
        .expect("delivery");
    assert!(
        page.contains(first.webhook_id.as_deref().unwrap_or("?")),
        "the log shows the webhook-id"
    );
    let r = app
        .post_form(
            &format!("/webhooks/erp/deliveries/{delivery_id}/redeliver"),
            &[],
        )
        .await;
    assert_is_redirect_to(&r, "/webhooks/erp");
    wait_until("the redelivery", Duration::from_secs(20), async || {
        received(&app, "erp").len() == 2
    })
    .await;
    let again = received(&app, "erp").remove(1);
    assert_eq!(again.webhook_id, first.webhook_id);
    assert_eq!(again.body_sha256, first.body_sha256, "the same body");
    assert_eq!(again.signature_valid, Some(true));
    wait_until("the attempt log", Duration::from_secs(10), async || {
        let log = app.api("/webhooks/erp/deliveries").await;
        log["items"][0]["attempt_log"].as_array().map(Vec::len) == Some(2)
    })
    .await;
    let log = app.api("/webhooks/erp/deliveries").await;
    assert_eq!(log["items"][0]["attempt_log"][1]["trigger"], "manual");
    assert_eq!(log["items"][0]["status"], "delivered");
    // A delivery of another endpoint, or none at all, is not found.
    let r = app
        .post_form("/webhooks/erp/deliveries/999999/redeliver", &[])
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

/// An app whose endpoint `erp` has one dead delivery: the receiver answered 500 to all four
/// attempts of the short schedule.
async fn app_with_dead_delivery() -> TestApp {
    let app = app_with_account(Some(short_schedule())).await;
    let secret = create_webhook(&app, "erp", "erp", &[]).await;
    let fail = || Fault::Status {
        status: 500,
        retry_after: None,
    };
    configure_receiver(&app, "erp", &[&secret], (0..4).map(|_| fail()).collect());
    seed(&app, 1);
    import_all(&app).await;
    wait_until("the delivery to die", Duration::from_secs(30), async || {
        webhook_json(&app, "erp").await["backlog"]["dead"] == 1
    })
    .await;
    app
}

#[tokio::test]
async fn a_delivery_is_dead_when_the_schedule_runs_out_and_is_replayed_from_the_screen() {
    let app = app_with_dead_delivery().await;
    // The first attempt at once, then after 1 s, 2 s and 3 s: four, as the schedule says.
    let tries = received(&app, "erp");
    assert_eq!(tries.len(), 4);
    for (i, pair) in tries.windows(2).enumerate() {
        let gap = pair[1].received_at_ms - pair[0].received_at_ms;
        assert!(
            gap >= 1000 * (i as u64 + 1),
            "retry {} came after {gap} ms",
            i + 1
        );
    }
    let dead = app.api("/webhooks/erp/deliveries?status=dead").await;
    assert_eq!(dead["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(dead["items"][0]["attempts"], 4);
    assert_eq!(dead["items"][0]["last_status_code"], 500);
    assert!(
        app.get_text("/webhooks/erp?status=dead")
            .await
            .contains("data-status=\"dead\"")
    );

    let r = app.post_form("/webhooks/erp/redeliver", &[]).await;
    assert_is_redirect_to(&r, "/webhooks/erp");
    wait_delivered(&app, "erp", 1, Duration::from_secs(20)).await;
    wait_until(
        "the replay to be recorded",
        Duration::from_secs(10),
        async || {
            let json = webhook_json(&app, "erp").await;
            json["backlog"]["dead"] == 0 && json["backlog"]["delivered"] == 1
        },
    )
    .await;
}

#[tokio::test]
async fn a_receiver_storm_still_delivers_everything_on_schedule_and_honours_retry_after() {
    let settings = WebhookSettings {
        retry_schedule: (1..=9).map(|s| Duration::from_millis(500 * s)).collect(),
        timeout: Duration::from_secs(1),
        ..test_webhook_settings()
    };
    let app = app_with_account(Some(settings)).await;
    let secret = create_webhook(&app, "erp", "erp", &[]).await;
    configure_receiver(&app, "erp", &[&secret], vec![]);
    app.sandbox.sandbox.receiver.configure(
        "erp",
        Config {
            storm: Some(Some(Storm {
                probability: 0.3,
                seed: 7,
                hang_secs: 2,
            })),
            ..Config::default()
        },
    );
    let messages = 150;
    seed(&app, messages);
    import_all(&app).await;
    wait_delivered(&app, "erp", messages, Duration::from_secs(180)).await;

    let all = received(&app, "erp");
    let mut by_id: HashMap<String, Vec<&Received>> = HashMap::new();
    for r in &all {
        by_id
            .entry(r.webhook_id.clone().unwrap_or_default())
            .or_default()
            .push(r);
    }
    assert_eq!(by_id.len(), messages, "one webhook-id per message");
    let mut faults = HashMap::<String, usize>::new();
    for (id, tries) in &by_id {
        assert!(
            tries.iter().all(|t| t.body_sha256 == tries[0].body_sha256),
            "{id}: the body changed between attempts"
        );
        assert!(
            tries.iter().all(|t| t.signature_valid == Some(true)),
            "{id}: a bad signature"
        );
        let mut step = 0;
        for pair in tries.windows(2) {
            let (before, after) = (pair[0], pair[1]);
            *faults.entry(before.answer.clone()).or_default() += 1;
            let gap = after.received_at_ms - before.received_at_ms;
            // 429 and 503 answers carry Retry-After (1 or 2 s): waited out, schedule kept.
            let wanted = match before.answer.as_str() {
                "429" => 1000,
                "503" => 1000,
                _ => {
                    step += 1;
                    500 * step
                }
            };
            assert!(
                gap >= wanted,
                "{id}: attempt after {} came {gap} ms later, wanted {wanted}",
                before.answer
            );
        }
        assert_eq!(tries.last().map(|t| t.answer.as_str()), Some("200"), "{id}");
    }
    wait_until(
        "every answer to be recorded",
        Duration::from_secs(10),
        async || webhook_json(&app, "erp").await["backlog"]["delivered"] == messages as i64,
    )
    .await;
    assert_eq!(webhook_json(&app, "erp").await["backlog"]["dead"], 0);
    println!(
        "receiver storm: {messages} messages, {} requests, faults by answer {faults:?}, 0 lost, 0 dead",
        all.len()
    );
    assert!(
        faults.values().sum::<usize>() > 20,
        "the storm hit: {faults:?}"
    );
}

#[tokio::test]
async fn an_endpoint_gets_only_its_accounts_mail_and_existing_mail_only_when_asked() {
    let app = app_with_account(None).await;
    seed(&app, 3);
    import_all(&app).await;
    let secret = create_webhook(&app, "erp", "erp", &[]).await;
    configure_receiver(&app, "erp", &[&secret], vec![]);
    let other = create_webhook(&app, "other", "other", &[("accounts", "acct")]).await;
    configure_receiver(&app, "other", &[&other], vec![]);
    // Mail from before the endpoints: not sent.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(received(&app, "erp").is_empty());

    // "Send existing mail since" queues it, once.
    let r = app
        .post_form("/webhooks/erp/send-existing", &[("since", "2000-01-01")])
        .await;
    assert_is_redirect_to(&r, "/webhooks/erp");
    wait_delivered(&app, "erp", 3, Duration::from_secs(20)).await;
    let r = app
        .post_form("/webhooks/erp/send-existing", &[("since", "2000-01-01")])
        .await;
    assert_is_redirect_to(&r, "/webhooks/erp");
    assert!(
        app.get_text("/webhooks/erp")
            .await
            .contains("0 messages received since then are queued")
    );
    // A date after all the mail queues nothing.
    app.post_form("/webhooks/other/send-existing", &[("since", "2999-01-01")])
        .await;

    // An endpoint limited to another account gets none of acct's mail.
    let r = app.create_account("second", &[("enabled", "")]).await;
    assert_is_redirect_to(&r, "/accounts/second");
    let url = receiver_url(&app, "other");
    let r = app
        .post_form(
            "/webhooks/other",
            &[
                ("url", url.as_str()),
                ("accounts", "second"),
                ("payload", "json"),
                ("enabled", "on"),
            ],
        )
        .await;
    assert_is_redirect_to(&r, "/webhooks/other");
    seed(&app, 2);
    import_all(&app).await;
    wait_delivered(&app, "erp", 5, Duration::from_secs(20)).await;
    assert!(
        received(&app, "other").is_empty(),
        "mail of acct went to an endpoint of another account"
    );
    assert_eq!(
        webhook_json(&app, "other").await["accounts"],
        serde_json::json!(["second"])
    );
}

/// `POST` to the API with `key` (no cookies, so no session and no CSRF token).
async fn post_with_key(app: &TestApp, path: &str, key: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(app.url(&format!("/api/v1{path}")))
        .bearer_auth(key)
        .send()
        .await
        .expect("POST")
}

#[tokio::test]
async fn the_api_redelivers_one_delivery_or_every_failed_one_with_an_admin_key_only() {
    let app = app_with_dead_delivery().await;
    let first = received(&app, "erp").remove(0);
    let (read_key, admin_key) = (
        "mp_redeliver_read_0123456789abcdef",
        "mp_redeliver_admin_0123456789abcdef",
    );
    app.add_api_key(
        "reader",
        read_key,
        mailport::store::api_keys::ApiScope::Read,
    )
    .await;
    app.add_api_key(
        "admin",
        admin_key,
        mailport::store::api_keys::ApiScope::Admin,
    )
    .await;

    // A read key may not, and changes nothing.
    let r = post_with_key(&app, "/webhooks/erp/redeliver", read_key).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(webhook_json(&app, "erp").await["backlog"]["dead"], 1);

    // Every failed or dead one, with an admin key: sent again with the same webhook-id.
    let r = post_with_key(&app, "/webhooks/erp/redeliver", admin_key).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["queued"], 1);
    wait_delivered(&app, "erp", 1, Duration::from_secs(20)).await;
    let again = received(&app, "erp").pop().expect("a redelivery");
    assert_eq!(again.webhook_id, first.webhook_id);
    assert_eq!(again.body_sha256, first.body_sha256, "the same body");
    wait_until(
        "the replay to be recorded",
        Duration::from_secs(10),
        async || {
            let json = webhook_json(&app, "erp").await;
            json["backlog"]["dead"] == 0 && json["backlog"]["delivered"] == 1
        },
    )
    .await;
    // Nothing failed any more: nothing queued.
    let r = post_with_key(&app, "/webhooks/erp/redeliver", admin_key).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert_eq!(r.json::<Value>().await.expect("json")["queued"], 0);

    // One delivery, whatever its status, answers with its webhook-id.
    let delivery_id = app.api("/webhooks/erp/deliveries").await["items"][0]["id"].clone();
    let delivery_id = delivery_id.as_i64().expect("the delivery's id");
    let before = received(&app, "erp").len();
    let r = post_with_key(
        &app,
        &format!("/webhooks/erp/deliveries/{delivery_id}/redeliver"),
        admin_key,
    )
    .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["queued"], 1);
    assert_eq!(body["webhook_id"].as_str(), first.webhook_id.as_deref());
    wait_until(
        "the second redelivery",
        Duration::from_secs(20),
        async || received(&app, "erp").len() == before + 1,
    )
    .await;

    // Unknown deliveries, other endpoints' ids and endpoints that do not exist are 404.
    for path in [
        "/webhooks/erp/deliveries/999999/redeliver".to_string(),
        "/webhooks/erp/deliveries/x/redeliver".to_string(),
        format!("/webhooks/nope/deliveries/{delivery_id}/redeliver"),
        "/webhooks/nope/redeliver".to_string(),
    ] {
        let r = post_with_key(&app, &path, admin_key).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
    }
    // Without a key or a session: refused (the CSRF check answers first, as for every
    // POST without an Authorization header) and nothing is queued.
    let r = reqwest::Client::new()
        .post(app.url("/api/v1/webhooks/erp/redeliver"))
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}
