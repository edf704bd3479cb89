//! Real answers of the read operations match the schemas the document gives them.

use super::*;

/// Checks one real answer of a GET against what the document says for its route and
/// status.
async fn check(doc: &Value, template: &str, r: reqwest::Response) -> Value {
    check_op(doc, "get", template, r).await
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
    add_webhook(&app).await;
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
    // Paths with a GET; the write-only ones (redelivery) are the writes test's.
    let documented: BTreeSet<String> = doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .filter(|(_, item)| item.get("get").is_some())
        .map(|(path, _)| path.clone())
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
