//! Queued faults hit the next token requests in order.

use super::*;

#[tokio::test]
async fn queued_faults_hit_the_next_token_requests_in_order() {
    let sandbox = spawn_demo().await;
    let client = Client::new();
    let faults_url = format!("{}/_sandbox/identity/faults", sandbox.base_url);
    for fault in [
        serde_json::json!({"kind": "status", "status": 503, "count": 2}),
        serde_json::json!({"kind": "status", "status": 500, "body": "{\"error\":\"server_error\"}"}),
        serde_json::json!({"kind": "html"}),
        serde_json::json!({"kind": "huge"}),
        serde_json::json!({"kind": "hang", "seconds": 5}),
    ] {
        let response = client
            .post(&faults_url)
            .json(&fault)
            .send()
            .await
            .expect("fault");
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", DEMO_CLIENT_ID),
        ("client_secret", DEMO_CLIENT_SECRET),
        ("scope", "https://graph.microsoft.com/.default"),
    ];
    let send = || client.post(token_url(&sandbox)).form(&form).send();

    for _ in 0..2 {
        let response = send().await.expect("token");
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(response.text().await.expect("body").is_empty());
    }
    let response = send().await.expect("token");
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        response.text().await.expect("body"),
        "{\"error\":\"server_error\"}"
    );
    let response = send().await.expect("token");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()[header::CONTENT_TYPE]
            .to_str()
            .expect("ascii")
            .starts_with("text/html")
    );
    let response = send().await.expect("token");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.bytes().await.expect("body").len(),
        10 * 1024 * 1024
    );

    // The hang outlasts a client's timeout.
    let timed_out = client
        .post(token_url(&sandbox))
        .form(&form)
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(timed_out.is_err_and(|e| e.is_timeout()));

    // The queue is empty again: normal service.
    let response = send().await.expect("token");
    assert_eq!(response.status(), StatusCode::OK);
    let faults: Value = client
        .get(&faults_url)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(faults, serde_json::json!([]));
    let counters = sandbox.sandbox.world.identity().token_counters();
    assert_eq!(counters.faults, 5, "{counters:?}");
    assert_eq!(counters.successes, 1, "{counters:?}");
}
