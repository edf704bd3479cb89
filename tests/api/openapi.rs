//! The OpenAPI document at `/api/v1/openapi.json`: it names every API route of
//! `web::ROUTES`, and the real answers of every documented endpoint (successes and errors)
//! match the schemas it gives for them.

use std::collections::BTreeSet;

use mailport::web::{API_PREFIX, ROUTES};
use reqwest::{StatusCode, header};
use serde_json::{Value, json};

use crate::helpers::{ADELE, TestApp, assert_is_redirect_to};

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

#[tokio::test]
async fn the_openapi_document_names_every_api_route_and_no_other() {
    let app = TestApp::spawn().await;
    add_key(&app).await;
    let doc = document(&app).await;
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "OpenAPI 3.1: {}",
        doc["openapi"]
    );
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .into_iter()
                .flat_map(|ops| ops.keys())
                .map(move |method| (method.to_uppercase(), path.clone()))
        })
        .collect();
    let routed: BTreeSet<(String, String)> = ROUTES
        .iter()
        .filter(|(_, path, _)| path.starts_with(API_PREFIX))
        .map(|(method, path, _)| (method.to_string(), path.to_string()))
        .collect();
    let undocumented: Vec<_> = routed.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "API routes missing from the OpenAPI document (annotate the handler with \
         #[utoipa::path] and list it in web::openapi::ApiDoc): {undocumented:?}"
    );
    let unrouted: Vec<_> = documented.difference(&routed).collect();
    assert!(
        unrouted.is_empty(),
        "documented but not served: {unrouted:?}"
    );
    for (_, path) in &documented {
        for (method, _) in doc["paths"][path].as_object().expect("operations") {
            let op = &doc["paths"][path][method];
            // A create answers 201 and a delete 204, so any 2xx counts as its success.
            assert!(
                op["responses"]
                    .as_object()
                    .is_some_and(|r| r.keys().any(|status| status.starts_with('2'))),
                "{method} {path} documents its success"
            );
            assert!(
                op["summary"].as_str().is_some_and(|s| !s.is_empty()),
                "{method} {path} has a summary (the handler's doc comment)"
            );
        }
    }
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

/// Checks one real answer of a GET against what the document says for its route and
/// status.
async fn check(doc: &Value, template: &str, r: reqwest::Response) -> Value {
    check_op(doc, "get", template, r).await
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

#[tokio::test]
async fn real_api_answers_match_the_openapi_document() {
    let app = TestApp::signed_in().await;
    add_key(&app).await;
    // Credentials in every shape: a token, a signed-in user, an error, nothing yet.
    app.app_credential().await;
    app.create_credential("signin", "authorization_code", &[])
        .await;
    app.authorize("signin").await;
    app.create_credential("fresh", "authorization_code", &[])
        .await;
    let r = app
        .create_credential("wrong", "client_credentials", &[("client_secret", "nope")])
        .await;
    assert_is_redirect_to(&r, "/credentials/wrong");
    app.post_form("/credentials/wrong/token", &[]).await;
    assert_eq!(
        app.credential("wrong").await["token"]["status"],
        "invalid_client"
    );
    // An account with a finished run over mail with an attachment, one without a run.
    app.graph()
        .seed_generated(
            ADELE,
            "inbox",
            &mailport::sandbox::graph::GenerateSpec {
                count: 3,
                attachments: 1,
                ..Default::default()
            },
        )
        .expect("seed");
    app.create_account("acct", &[]).await;
    app.create_account("idle", &[("credential_id", "fresh")])
        .await;
    // A webhook endpoint to the sandbox's receiver, so that deliveries and events exist.
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
    app.state.importer.run_account("acct").await.expect("run");
    let list = app.api("/messages").await;
    let id = list["items"][0]["id"].to_string();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    while app.api("/webhooks/erp/deliveries").await["items"][0]["attempts"]
        .as_i64()
        .unwrap_or(0)
        == 0
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "a delivery was attempted"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    let doc = document(&app).await;
    let with_key = reqwest::Client::new();
    let get = |path: String, key: Option<&'static str>| {
        let mut request = with_key.get(app.url(&path));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        request.send()
    };
    let samples: Vec<(&str, String, Option<&'static str>, u16)> = vec![
        (
            "/api/v1/openapi.json",
            "/api/v1/openapi.json".into(),
            Some(API_KEY),
            200,
        ),
        (
            "/api/v1/openapi.json",
            "/api/v1/openapi.json".into(),
            None,
            401,
        ),
        (
            "/api/v1/credentials",
            "/api/v1/credentials".into(),
            Some(API_KEY),
            200,
        ),
        (
            "/api/v1/credentials",
            "/api/v1/credentials".into(),
            None,
            401,
        ),
        (
            "/api/v1/credentials",
            "/api/v1/credentials".into(),
            Some("mp_unknown"),
            401,
        ),
        (
            "/api/v1/credentials/{id}",
            "/api/v1/credentials/signin".into(),
            Some(API_KEY),
            200,
        ),
        (
            "/api/v1/credentials/{id}",
            "/api/v1/credentials/wrong".into(),
            Some(API_KEY),
            200,
        ),
        (
            "/api/v1/credentials/{id}",
            "/api/v1/credentials/nope".into(),
            Some(API_KEY),
            404,
        ),
        (
            "/api/v1/accounts",
            "/api/v1/accounts".into(),
            Some(API_KEY),
            200,
        ),
        (
            "/api/v1/accounts/{id}",
            "/api/v1/accounts/acct".into(),
            Some(API_KEY),
            200,
        ),
        (
            "/api/v1/accounts/{id}",
            "/api/v1/accounts/idle".into(),
            Some(API_KEY),
            200,
        ),
        (
            "/api/v1/accounts/{id}",
            "/api/v1/accounts/nope".into(),
            Some(API_KEY),
            404,
        ),
        (
            "/api/v1/messages",
            "/api/v1/messages".into(),
            Some(API_KEY),
            200,
        ),
        (
            "/api/v1/messages",
            "/api/v1/messages?account=acct&q=a&page=1".into(),
            Some(API_KEY),
            200,
        ),
        (
            "/api/v1/messages",
            "/api/v1/messages?page=0".into(),
            Some(API_KEY),
            400,
        ),
        (
            "/api/v1/messages/{id}",
            format!("/api/v1/messages/{id}"),
            Some(API_KEY),
            200,
        ),
        (
            "/api/v1/messages/{id}",
            "/api/v1/messages/999999".into(),
            Some(API_KEY),
            404,
        ),
        (
            "/api/v1/messages/{id}/raw",
            format!("/api/v1/messages/{id}/raw"),
            Some(API_KEY),
            200,
        ),
        (
            "/api/v1/messages/{id}/raw",
            "/api/v1/messages/999999/raw".into(),
            Some(API_KEY),
            404,
        ),
        (
            "/api/v1/messages/{id}/attachments/{n}",
            format!("/api/v1/messages/{id}/attachments/0"),
            Some(API_KEY),
            200,
        ),
        (
            "/api/v1/messages/{id}/attachments/{n}",
            format!("/api/v1/messages/{id}/attachments/99"),
            Some(API_KEY),
            404,
        ),
        (
            "/api/v1/webhooks",
            "/api/v1/webhooks".into(),
            Some(API_KEY),
            200,
        ),
        (
            "/api/v1/webhooks/{id}",
            "/api/v1/webhooks/erp".into(),
            Some(API_KEY),
            200,
        ),
        (
            "/api/v1/webhooks/{id}",
            "/api/v1/webhooks/nope".into(),
            Some(API_KEY),
            404,
        ),
        (
            "/api/v1/webhooks/{id}/deliveries",
            "/api/v1/webhooks/erp/deliveries".into(),
            Some(API_KEY),
            200,
        ),
        (
            "/api/v1/webhooks/{id}/deliveries",
            "/api/v1/webhooks/erp/deliveries?status=lost".into(),
            Some(API_KEY),
            400,
        ),
        (
            "/api/v1/events",
            "/api/v1/events?limit=2".into(),
            Some(API_KEY),
            200,
        ),
        (
            "/api/v1/events",
            "/api/v1/events?after=nonsense".into(),
            Some(API_KEY),
            400,
        ),
        (
            "/api/v1/accounts",
            "/api/v1/accounts?per_page=0".into(),
            Some(API_KEY),
            400,
        ),
    ];
    let mut covered = BTreeSet::new();
    let mut account = Value::Null;
    for (template, path, key, expected) in &samples {
        let r = get(path.clone(), *key).await.expect("GET");
        assert_eq!(r.status().as_u16(), *expected, "GET {path}");
        let body = check(&doc, template, r).await;
        if *expected == 200 {
            covered.insert(template.to_string());
        }
        if *template == "/api/v1/accounts/{id}" && path.ends_with("acct") {
            assert!(body["last_run"].is_object(), "a run was sampled: {body}");
            account = body;
        }
    }
    // The check is not vacuous: an answer with a field too many, too few, or of the wrong
    // type does not pass.
    let content = &doc["paths"]["/api/v1/accounts/{id}"]["get"]["responses"]["200"]["content"]["application/json"];
    assert!(mismatches(content, &doc, &account).is_empty());
    for broken in [
        json!({"undocumented": 1}),
        json!({"enabled": "yes"}),
        json!({"last_run": {"listed": "many"}}),
    ] {
        let mut wrong = account.clone();
        merge(&mut wrong, &broken);
        assert!(
            !mismatches(content, &doc, &wrong).is_empty(),
            "{broken} must not pass"
        );
    }
    let mut missing = account.clone();
    missing.as_object_mut().expect("object").remove("status");
    assert!(!mismatches(content, &doc, &missing).is_empty());
    let documented: BTreeSet<String> = doc["paths"]
        .as_object()
        .expect("paths")
        .keys()
        .cloned()
        .collect();
    assert_eq!(
        covered, documented,
        "every documented endpoint has a real answer checked here"
    );
    // Wrong keys until the address is refused: the 429 is documented on every operation,
    // with its Retry-After header.
    let mut refused = None;
    for _ in 0..20 {
        let r = get("/api/v1/webhooks".into(), Some("mp_wrong"))
            .await
            .expect("GET");
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            refused = Some(r);
            break;
        }
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let r = refused.expect("wrong keys are throttled");
    assert!(r.headers().contains_key(header::RETRY_AFTER));
    let body = check(&doc, "/api/v1/webhooks", r).await;
    assert_eq!(body["error"]["code"], "too_many_requests");
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("operations") {
            assert!(
                op["responses"]["429"]["headers"]["Retry-After"].is_object(),
                "{method} {path} documents the 429"
            );
        }
    }
}

fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                merge(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (t, p) => *t = p.clone(),
    }
}

/// One write request and the status it must get: (method, route template, path, API key,
/// JSON body, status).
type WriteSample = (
    reqwest::Method,
    &'static str,
    &'static str,
    &'static str,
    Option<Value>,
    u16,
);

#[tokio::test]
async fn real_answers_of_the_write_operations_match_the_openapi_document() {
    const ADMIN_KEY: &str = "mp_openapi_admin_key_0123456789abcdefghijk";
    let app = TestApp::signed_in().await;
    add_key(&app).await;
    mailport::store::api_keys::create_with_scope(
        &app.state.db,
        "openapi-admin",
        &mailport::crypto::sha256_hex(ADMIN_KEY.as_bytes()),
        mailport::store::api_keys::ApiScope::Admin,
    )
    .await
    .expect("admin key");
    app.app_credential().await;
    app.create_account("taken", &[]).await;
    let doc = document(&app).await;
    let client = reqwest::Client::new();
    let send = |method: reqwest::Method, path: &str, key: &str, body: Option<Value>| {
        let mut request = client.request(method, app.url(path)).bearer_auth(key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send()
    };
    use reqwest::Method;
    let graph_url = format!("{}/v1.0", app.sandbox.base_url);
    let new = json!({"id": "sales", "mailbox": "sales@contoso.onmicrosoft.com", "credential_id": "app", "after_import": "keep", "graph_url": graph_url});
    // (method, template, path, key, body, expected status)
    let samples: Vec<WriteSample> = vec![
        (
            Method::POST,
            "/api/v1/accounts",
            "/api/v1/accounts",
            ADMIN_KEY,
            Some(new.clone()),
            201,
        ),
        (
            Method::POST,
            "/api/v1/accounts",
            "/api/v1/accounts",
            ADMIN_KEY,
            Some(new.clone()),
            409,
        ),
        (
            Method::POST,
            "/api/v1/accounts",
            "/api/v1/accounts",
            API_KEY,
            Some(new.clone()),
            403,
        ),
        (
            Method::POST,
            "/api/v1/accounts",
            "/api/v1/accounts",
            ADMIN_KEY,
            Some(json!({"id": "x", "poll_interval": 1})),
            422,
        ),
        (
            Method::POST,
            "/api/v1/accounts",
            "/api/v1/accounts",
            ADMIN_KEY,
            Some(json!({"nonsense": true})),
            400,
        ),
        (
            Method::PUT,
            "/api/v1/accounts/{id}",
            "/api/v1/accounts/sales",
            ADMIN_KEY,
            Some(new.clone()),
            200,
        ),
        (
            Method::PUT,
            "/api/v1/accounts/{id}",
            "/api/v1/accounts/north",
            ADMIN_KEY,
            Some(
                json!({"mailbox": "north@contoso.onmicrosoft.com", "credential_id": "app", "graph_url": graph_url}),
            ),
            201,
        ),
        (
            Method::PATCH,
            "/api/v1/accounts/{id}",
            "/api/v1/accounts/sales",
            ADMIN_KEY,
            Some(json!({"poll_interval": 120})),
            200,
        ),
        (
            Method::PATCH,
            "/api/v1/accounts/{id}",
            "/api/v1/accounts/sales",
            ADMIN_KEY,
            Some(json!({"id": "other"})),
            422,
        ),
        (
            Method::PATCH,
            "/api/v1/accounts/{id}",
            "/api/v1/accounts/nope",
            ADMIN_KEY,
            Some(json!({"enabled": false})),
            404,
        ),
        (
            Method::PATCH,
            "/api/v1/accounts",
            "/api/v1/accounts",
            ADMIN_KEY,
            Some(json!({"ids": ["sales", "north"], "enabled": false})),
            200,
        ),
        (
            Method::PATCH,
            "/api/v1/accounts",
            "/api/v1/accounts",
            ADMIN_KEY,
            Some(json!({"ids": ["unknown"], "enabled": false})),
            422,
        ),
        (
            Method::DELETE,
            "/api/v1/accounts/{id}",
            "/api/v1/accounts/north",
            ADMIN_KEY,
            None,
            204,
        ),
        (
            Method::DELETE,
            "/api/v1/accounts/{id}",
            "/api/v1/accounts/north",
            ADMIN_KEY,
            None,
            404,
        ),
        (
            Method::DELETE,
            "/api/v1/accounts/{id}",
            "/api/v1/accounts/sales",
            API_KEY,
            None,
            403,
        ),
    ];
    let mut covered = BTreeSet::new();
    for (method, template, path, key, body, expected) in samples {
        let r = send(method.clone(), path, key, body)
            .await
            .expect("request");
        if r.status().as_u16() != expected {
            let status = r.status();
            let body = r.text().await.unwrap_or_default();
            panic!("{method} {path}: expected {expected}, got {status}: {body}");
        }
        let name = method.as_str().to_lowercase();
        let answer = check_op(&doc, &name, template, r).await;
        if expected == 201 {
            assert!(answer["warnings"].is_array(), "{answer}");
        }
        if (200..300).contains(&expected) {
            covered.insert((name, template));
        }
    }
    // Every write operation of the document had a success checked here.
    let writes: BTreeSet<(String, &str)> = doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .into_iter()
                .flat_map(|ops| ops.keys())
                .filter(|method| *method != "get")
                .map(move |method| (method.clone(), path.as_str()))
        })
        .collect();
    assert_eq!(covered, writes);
}
