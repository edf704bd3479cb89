//! Handing mail on: webhook endpoints against the sandbox's receiver (a small business
//! application that verifies signatures itself), and the changes feed. Messages come in
//! through the real importer from the Graph sandbox, or through `messages::insert_imported`
//! (the importer's own store function, which writes the outbox in the same transaction).

mod delivery;
mod feed;
mod screen;
mod signatures;

use std::time::Duration;

use mailport::sandbox::graph::GenerateSpec;
use mailport::sandbox::receiver::{Config, Fault, Received};
use mailport::webhooks::WebhookSettings;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;

/// The sandbox receiver's URL for `name`.
fn receiver_url(app: &TestApp, name: &str) -> String {
    format!("{}/_sandbox/receiver/{name}", app.sandbox.base_url)
}

/// An app with a signed-in administrator, credential `app` and enabled account `acct`.
async fn app_with_account(webhooks: Option<WebhookSettings>) -> TestApp {
    let app = TestApp::spawn_custom(
        Options {
            webhooks,
            ..Options::default()
        },
        |_| {},
    )
    .await;
    app.create_admin(ADMIN, ADMIN_PASSWORD).await;
    app.login(ADMIN, ADMIN_PASSWORD).await;
    app.app_credential().await;
    let r = app.create_account("acct", &[]).await;
    assert_is_redirect_to(&r, "/accounts/acct");
    app
}

/// Creates an endpoint through the form; returns the signing secret shown (once) on the
/// answer.
async fn create_webhook(app: &TestApp, id: &str, receiver: &str, extra: &[(&str, &str)]) -> String {
    let url = receiver_url(app, receiver);
    let mut fields: Vec<(&str, &str)> = vec![
        ("id", id),
        ("description", "the ERP"),
        ("url", url.as_str()),
        ("accounts", "*"),
        ("payload", "json"),
        ("include_attachments", "0"),
        ("enabled", "on"),
    ];
    for (k, v) in extra {
        fields.retain(|(name, _)| name != k);
        fields.push((k, v));
    }
    let r = app.post_form("/webhooks", &fields).await;
    assert_eq!(r.status(), StatusCode::OK, "create webhook {id}");
    let page = r.text().await.expect("page");
    let secret = secret_on(&page).expect("the secret is shown on the answer");
    assert!(secret.starts_with("whsec_"), "{secret}");
    secret
}

/// The secret in the page's one-time box, if there is one.
fn secret_on(page: &str) -> Option<String> {
    let doc = scraper::Html::parse_document(page);
    let sel = scraper::Selector::parse("#new-secret").ok()?;
    doc.select(&sel)
        .next()
        .and_then(|i| i.value().attr("value").map(str::to_string))
}

/// Gives a receiver its secrets (so that it verifies signatures) and faults.
fn configure_receiver(app: &TestApp, name: &str, secrets: &[&str], faults: Vec<Fault>) {
    app.sandbox.sandbox.receiver.configure(
        name,
        Config {
            secrets: Some(secrets.iter().map(|s| s.to_string()).collect()),
            faults: Some(faults),
            storm: None,
        },
    );
}

fn received(app: &TestApp, name: &str) -> Vec<Received> {
    app.sandbox.sandbox.receiver.received(name)
}

/// Waits (bounded) until `done` holds.
async fn wait_until<F: AsyncFnMut() -> bool>(what: &str, limit: Duration, mut done: F) {
    let deadline = tokio::time::Instant::now() + limit;
    while !done().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the receiver answered 2xx to `count` distinct webhook-ids.
async fn wait_delivered(app: &TestApp, name: &str, count: usize, limit: Duration) {
    wait_until(
        &format!("{count} deliveries to {name}"),
        limit,
        async || delivered_ids(app, name).len() >= count,
    )
    .await;
}

/// The webhook-ids the receiver answered 2xx to.
fn delivered_ids(app: &TestApp, name: &str) -> std::collections::BTreeSet<String> {
    received(app, name)
        .into_iter()
        .filter(|r| r.answer == "200")
        .filter_map(|r| r.webhook_id)
        .collect()
}

/// Seeds `count` generated messages (with one attachment each) into Adele's inbox.
fn seed(app: &TestApp, count: usize) {
    app.graph()
        .seed_generated(
            ADELE,
            "inbox",
            &GenerateSpec {
                count,
                size: 4000,
                attachments: 1,
                ..GenerateSpec::default()
            },
        )
        .expect("seed");
}

/// Imports everything waiting in the inbox (several runs if needed).
async fn import_all(app: &TestApp) {
    for _ in 0..10 {
        let s = app.state.importer.run_account("acct").await.expect("run");
        assert_eq!(s.outcome, "ok", "{s:?}");
        if s.imported == 0 {
            return;
        }
    }
}

/// The JSON body of a received delivery.
fn json_body(r: &Received) -> Value {
    serde_json::from_slice(mailport::sandbox::receiver::ReceiverState::body(r)).expect("JSON body")
}

/// An API key for the JSON API.
async fn api_key(app: &TestApp) -> String {
    let key = "mp_webhook_tests_0123456789abcdefghijklmnop".to_string();
    mailport::store::api_keys::create(
        &app.state.db,
        "webhook-tests",
        &mailport::crypto::sha256_hex(key.as_bytes()),
    )
    .await
    .expect("api key");
    key
}

/// The webhook as the JSON API shows it.
async fn webhook_json(app: &TestApp, id: &str) -> Value {
    app.api(&format!("/webhooks/{id}")).await
}
