//! The Webhooks screen and its JSON API: the secret shown once and kept encrypted, the host
//! policy on the URL, Test, failing endpoints on the screen, the API and `/healthz`, delete.

use std::time::Duration;

use super::*;

#[tokio::test]
async fn the_secret_is_shown_once_stored_encrypted_and_never_shown_again() {
    let app = app_with_account(None).await;
    let secret = create_webhook(&app, "erp", "erp", &[]).await;
    let page = app.get_text("/webhooks/erp").await;
    assert!(!page.contains(&secret), "shown again on the endpoint page");
    assert!(!app.get_text("/webhooks").await.contains(&secret));
    let api = app.api("/webhooks").await;
    assert!(!api.to_string().contains(&secret), "in the API: {api}");
    assert!(api.to_string().contains("\"id\":\"erp\""));
    assert!(
        !app.data_dir_bytes()
            .windows(secret.len())
            .any(|w| w == secret.as_bytes()),
        "the secret is in plaintext on disk"
    );
    // The list shows it with its URL, accounts and payload.
    let list = app.get_text("/webhooks").await;
    assert!(list.contains(&receiver_url(&app, "erp")));
    assert!(list.contains("All accounts"));
}

#[tokio::test]
async fn webhook_urls_on_link_local_private_or_plain_http_hosts_are_refused() {
    let app = app_with_account(None).await;
    for url in [
        "http://169.254.169.254/latest/meta-data/",
        "https://169.254.169.254/hook",
        "https://[fe80::1]/hook",
        "https://[::ffff:169.254.169.254]/hook",
        "https://0.0.0.0/hook",
        "https://10.0.0.5/hook",
        "https://192.168.1.20/hook",
        "http://erp.example.com/hook",
        "http://localhost:8080/hook",
        "https://user:pw@erp.example.com/hook",
        "ftp://erp.example.com/hook",
        "javascript:alert(1)",
    ] {
        let r = app
            .post_form(
                "/webhooks",
                &[
                    ("id", "bad"),
                    ("url", url),
                    ("accounts", "*"),
                    ("payload", "json"),
                    ("include_attachments", "0"),
                    ("enabled", "on"),
                ],
            )
            .await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{url}");
        let page = r.text().await.expect("page");
        assert!(page.contains("field-error"), "{url}: no message");
        assert!(
            page.contains(&url.replace('&', "&amp;")) || url.contains('<'),
            "{url}: the typed value is kept"
        );
    }
    assert_eq!(
        app.api("/webhooks").await,
        serde_json::json!([]),
        "nothing was saved"
    );
    // The link-local message says why.
    let r = app
        .post_form(
            "/webhooks",
            &[
                ("id", "bad"),
                ("url", "https://169.254.169.254/x"),
                ("accounts", "*"),
                ("payload", "json"),
            ],
        )
        .await;
    assert!(r.text().await.expect("page").contains("link-local"));
}

#[tokio::test]
async fn test_sends_a_signed_ping_and_shows_the_answer() {
    let app = app_with_account(None).await;
    let secret = create_webhook(&app, "erp", "erp", &[]).await;
    configure_receiver(&app, "erp", &[&secret], vec![]);
    let r = app.post_form("/webhooks/erp/test", &[]).await;
    assert_eq!(r.status(), StatusCode::OK);
    let page = r.text().await.expect("page");
    assert!(page.contains("The endpoint accepted the ping"), "{page}");
    assert!(page.contains("data-ping-status>200<"));
    let got = received(&app, "erp");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].signature_valid, Some(true));
    assert_eq!(json_body(&got[0])["type"], "ping");

    // A failing receiver: the page shows its status and the first bytes of its answer.
    configure_receiver(
        &app,
        "erp",
        &[&secret],
        vec![Fault::Status {
            status: 503,
            retry_after: None,
        }],
    );
    let page = app
        .post_form("/webhooks/erp/test", &[])
        .await
        .text()
        .await
        .expect("page");
    assert!(page.contains("The ping was not accepted"));
    assert!(page.contains("data-ping-status>503<"));
    assert!(page.contains("injected fault"), "the answer's first bytes");
    // A ping is not queued: the delivery log stays empty.
    assert_eq!(
        app.api("/webhooks/erp/deliveries").await["items"],
        serde_json::json!([])
    );
}

#[tokio::test]
async fn a_failing_endpoint_shows_on_the_screen_the_api_and_healthz() {
    let settings = WebhookSettings {
        failing_after: Duration::from_secs(1),
        ..test_webhook_settings()
    };
    let app = app_with_account(Some(settings)).await;
    assert_eq!(app.get_text("/healthz").await, "ok");
    let secret = create_webhook(&app, "erp", "erp", &[]).await;
    let fail = || Fault::Status {
        status: 500,
        retry_after: None,
    };
    configure_receiver(&app, "erp", &[&secret], (0..10).map(|_| fail()).collect());
    seed(&app, 2);
    import_all(&app).await;
    wait_until(
        "the endpoint to be failing",
        Duration::from_secs(20),
        async || webhook_json(&app, "erp").await["status"] == "failing",
    )
    .await;
    let json = webhook_json(&app, "erp").await;
    assert_eq!(json["backlog"]["waiting"], 2);
    assert!(
        json["backlog"]["oldest_waiting_age_secs"]
            .as_i64()
            .is_some()
    );
    assert!(json["failing_since"].is_string());
    assert!(
        app.get_text("/webhooks")
            .await
            .contains("data-status=\"failing\"")
    );
    let health = reqwest::get(app.url("/healthz")).await.expect("healthz");
    assert_eq!(health.status(), StatusCode::OK);
    let text = health.text().await.expect("text");
    assert!(text.starts_with("ok\n"), "{text}");
    assert!(text.contains("1 of 1 endpoints failing"), "{text}");
    assert!(text.contains("2 deliveries waiting"), "{text}");
    assert!(!text.contains("erp"), "healthz is public: no names");

    // It recovers: the backlog drains and the signals clear.
    configure_receiver(&app, "erp", &[&secret], vec![]);
    app.post_form("/webhooks/erp/redeliver", &[]).await;
    wait_delivered(&app, "erp", 2, Duration::from_secs(20)).await;
    wait_until(
        "the endpoint to recover",
        Duration::from_secs(10),
        async || webhook_json(&app, "erp").await["status"] == "ok",
    )
    .await;
    assert_eq!(app.get_text("/healthz").await, "ok");
}

#[tokio::test]
async fn a_form_with_mistakes_keeps_what_was_typed_and_delete_asks_first() {
    let app = app_with_account(None).await;
    let r = app
        .post_form(
            "/webhooks",
            &[
                ("id", "erp"),
                ("description", "ERP intake"),
                ("url", "https://erp.example.com/hooks"),
                ("accounts", "nobody"),
                ("payload", "json"),
                ("include_attachments", "99"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = r.text().await.expect("page");
    assert!(page.contains("There is no email server account nobody."));
    assert!(page.contains("from 0 (links only) to 25"));
    assert!(page.contains("ERP intake") && page.contains("https://erp.example.com/hooks"));
    assert!(
        !page.contains("whsec_"),
        "no secret for an endpoint that was not saved"
    );

    create_webhook(&app, "erp", "erp", &[]).await;
    let again = app
        .post_form(
            "/webhooks",
            &[
                ("id", "erp"),
                ("url", "https://erp.example.com/x"),
                ("accounts", "*"),
                ("payload", "json"),
            ],
        )
        .await;
    assert_eq!(again.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(again.text().await.expect("page").contains("already exists"));

    let confirm = app.get_text("/webhooks/erp/delete").await;
    assert!(confirm.contains("Delete webhook endpoint erp?"));
    assert_eq!(app.api("/webhooks").await.as_array().map(Vec::len), Some(1));
    let r = app.post_form("/webhooks/erp/delete", &[]).await;
    assert_is_redirect_to(&r, "/webhooks");
    assert_eq!(app.api("/webhooks").await, serde_json::json!([]));
    assert_eq!(
        app.get("/webhooks/erp").await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get("/api/v1/webhooks/erp").await.status(),
        StatusCode::NOT_FOUND
    );
    let r = app
        .get("/api/v1/webhooks/nope/deliveries?status=bogus")
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}
