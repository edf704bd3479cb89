//! The OpenAPI document at `/api/v1/openapi.json`: it names every API route of
//! `web::ROUTES`, and the real answers of every documented endpoint (successes and errors)
//! match the schemas it gives for them.
//! One file per part of the check; the shared helpers live here.

use std::collections::BTreeSet;

use mailport::web::{API_PREFIX, ROUTES};
use reqwest::{StatusCode, header};
use serde_json::{Value, json};

use crate::helpers::{ADELE, TestApp, assert_is_redirect_to};

mod reads;
mod routes;
mod writes;

const API_KEY: &str = "mp_openapi_test_key_0123456789abcdefghijkl";

async fn document(app: &TestApp) -> Value {
    let anonymous = reqwest::get(app.url("/api/v1/openapi.json"))
        .await
        .expect("GET");
    assert_eq!(
        anonymous.status(),
        StatusCode::UNAUTHORIZED,
        "like the rest of the API"
    );
    let r = reqwest::Client::new()
        .get(app.url("/api/v1/openapi.json"))
        .bearer_auth(API_KEY)
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers()[header::CONTENT_TYPE],
        "application/json",
        "served as JSON"
    );
    r.json().await.expect("the document is JSON")
}

async fn add_key(app: &TestApp) {
    mailport::store::api_keys::create(
        &app.state.db,
        "openapi",
        &mailport::crypto::sha256_hex(API_KEY.as_bytes()),
    )
    .await
    .expect("key");
}

/// Every object schema of the document closed for this test: no field the document does
/// not name, and every named field present (Mailport writes `null` rather than leaving a
/// field out). So a field added, renamed or dropped without the document fails here.
fn closed(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            if let Some(Value::Object(props)) = map.get("properties") {
                let names: Vec<Value> = props.keys().cloned().map(Value::String).collect();
                map.insert("required".into(), Value::Array(names));
                map.insert("additionalProperties".into(), Value::Bool(false));
            }
            for v in map.values_mut() {
                closed(v);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(closed),
        _ => {}
    }
}

/// Checks one real answer of `method` against what the document says for its route and
/// status. An answer without a body (204) must be documented without content.
async fn check_op(doc: &Value, method: &str, template: &str, r: reqwest::Response) -> Value {
    let status = r.status().as_u16().to_string();
    let documented = &doc["paths"][template][method]["responses"][&status];
    assert!(
        documented.is_object(),
        "{method} {template} answered {status}, which the document does not list"
    );
    if r.status() == StatusCode::NO_CONTENT {
        assert!(documented["content"].is_null(), "{method} {template} 204");
        assert!(r.bytes().await.expect("body").is_empty());
        return Value::Null;
    }
    let content_type = r
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let media = content_type.split(';').next().unwrap_or_default().trim();
    let content = &documented["content"][media];
    assert!(
        content.is_object(),
        "{method} {template} {status} answered {media}, the document says {}",
        documented["content"]
    );
    let bytes = r.bytes().await.expect("body");
    if media != "application/json" {
        assert_eq!(
            content["schema"]["contentMediaType"].as_str(),
            Some(media),
            "{method} {template}: binary content is described by its media type"
        );
        assert!(!bytes.is_empty());
        return Value::Null;
    }
    let body: Value = serde_json::from_slice(&bytes).expect("a JSON body");
    let errors = mismatches(content, doc, &body);
    assert!(
        errors.is_empty(),
        "{method} {template} {status}: the answer does not match the document: {errors:?}\n{body:#}"
    );
    body
}

/// Where `body` departs from the schema of a documented `content` entry.
fn mismatches(content: &Value, doc: &Value, body: &Value) -> Vec<String> {
    let mut components = doc["components"].clone();
    closed(&mut components);
    let mut schema = content["schema"].clone();
    closed(&mut schema);
    let root = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "components": components,
        "allOf": [schema],
    });
    let validator = jsonschema::validator_for(&root)
        .unwrap_or_else(|e| panic!("the document's schema is invalid: {e}"));
    validator
        .iter_errors(body)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

/// Webhook endpoint `erp` (every account, JSON) to the sandbox's receiver `openapi`, so that
/// imports make deliveries and events.
async fn add_webhook(app: &TestApp) {
    let receiver = format!("{}/_sandbox/receiver/openapi", app.sandbox.base_url);
    let r = app
        .post_form(
            "/webhooks",
            &[
                ("id", "erp"),
                ("description", "the ERP"),
                ("url", receiver.as_str()),
                ("accounts", "*"),
                ("payload", "json"),
                ("include_attachments", "0"),
                ("enabled", "on"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK, "webhook created");
}
