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
            assert!(
                op["responses"]["200"].is_object(),
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

/// Checks one real answer against what the document says for its route and status.
async fn check(doc: &Value, template: &str, r: reqwest::Response) -> Value {
    let status = r.status().as_u16().to_string();
    let documented = &doc["paths"][template]["get"]["responses"][&status];
    assert!(
        documented.is_object(),
        "GET {template} answered {status}, which the document does not list"
    );
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
        "GET {template} {status} answered {media}, the document says {}",
        documented["content"]
    );
    let bytes = r.bytes().await.expect("body");
    if media != "application/json" {
        assert_eq!(
            content["schema"]["contentMediaType"].as_str(),
            Some(media),
            "GET {template}: binary content is described by its media type"
        );
        assert!(!bytes.is_empty());
        return Value::Null;
    }
    let body: Value = serde_json::from_slice(&bytes).expect("a JSON body");
    let errors = mismatches(content, doc, &body);
    assert!(
        errors.is_empty(),
        "GET {template} {status}: the answer does not match the document: {errors:?}\n{body:#}"
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
    app.state.importer.run_account("acct").await.expect("run");
    let list = app.api("/messages").await;
    let id = list["items"][0]["id"].to_string();

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
