//! Real answers of the write operations, and their errors, match the document.

use super::*;

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
    app.add_api_key(
        "openapi-admin",
        ADMIN_KEY,
        mailport::store::api_keys::ApiScope::Admin,
    )
    .await;
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
    // The redelivery operations, on a delivery of a webhook endpoint to the sandbox's
    // receiver: 202 with an admin key, 403 with a read key, 404 for what does not exist.
    add_webhook(&app).await;
    app.graph()
        .seed_generated(
            ADELE,
            "inbox",
            &mailport::sandbox::graph::GenerateSpec {
                count: 1,
                ..Default::default()
            },
        )
        .expect("seed");
    app.state.importer.run_account("taken").await.expect("run");
    let delivery_id = app.api("/webhooks/erp/deliveries").await["items"][0]["id"]
        .as_i64()
        .expect("a delivery");
    let one = "/api/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver";
    let all = "/api/v1/webhooks/{id}/redeliver";
    let redeliveries = [
        (
            one,
            format!("/api/v1/webhooks/erp/deliveries/{delivery_id}/redeliver"),
            ADMIN_KEY,
            202,
        ),
        (
            one,
            format!("/api/v1/webhooks/erp/deliveries/{delivery_id}/redeliver"),
            API_KEY,
            403,
        ),
        (
            one,
            "/api/v1/webhooks/erp/deliveries/999999/redeliver".to_string(),
            ADMIN_KEY,
            404,
        ),
        (
            all,
            "/api/v1/webhooks/erp/redeliver".to_string(),
            ADMIN_KEY,
            202,
        ),
        (
            all,
            "/api/v1/webhooks/nope/redeliver".to_string(),
            ADMIN_KEY,
            404,
        ),
    ];
    for (template, path, key, expected) in redeliveries {
        let r = send(Method::POST, &path, key, None).await.expect("request");
        assert_eq!(r.status().as_u16(), expected, "POST {path}");
        check_op(&doc, "post", template, r).await;
        if expected == 202 {
            covered.insert(("post".to_string(), template));
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
