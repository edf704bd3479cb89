//! Injected faults of every kind, queued and as storms, over the control API.

use super::*;

fn fault(fault: Fault, target: FaultTarget) -> FaultSpec {
    FaultSpec {
        fault,
        target,
        mailbox: None,
    }
}

#[tokio::test]
async fn injected_faults_of_every_kind() {
    let t = spawn().await;
    let seeded = t.seed(
        "inbox",
        GenerateSpec {
            size: 500_000,
            ..small(1)
        },
    );
    let list = format!("/users/{ALICE}/mailFolders/inbox/messages");
    let value = format!("/users/{ALICE}/messages/{}/$value", seeded[0].regular_id);
    t.state()
        .push_faults(vec![
            fault(
                Fault::Throttle {
                    retry_after: Some(RetryAfter::Seconds("1.5".into())),
                },
                FaultTarget::Value,
            ),
            fault(
                Fault::Throttle {
                    retry_after: Some(RetryAfter::HttpDateIn(30)),
                },
                FaultTarget::List,
            ),
            fault(Fault::Throttle { retry_after: None }, FaultTarget::List),
            fault(
                Fault::ServiceUnavailable {
                    retry_after: Some(RetryAfter::Seconds("2".into())),
                },
                FaultTarget::List,
            ),
            fault(Fault::GatewayTimeout, FaultTarget::List),
            fault(Fault::DropBody, FaultTarget::Any),
        ])
        .unwrap();

    // List requests skip the value-targeted fault and take the list ones in order.
    let response = t.get(&list, APP_TOKEN).await;
    let retry = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .to_string();
    let when = httpdate::parse_http_date(&retry).expect("an HTTP-date");
    assert!(when > SystemTime::now());
    assert_graph_error(response, StatusCode::TOO_MANY_REQUESTS, "TooManyRequests").await;

    let response = t.get(&list, APP_TOKEN).await;
    assert!(!response.headers().contains_key("retry-after"));
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);

    let response = t.get(&list, APP_TOKEN).await;
    assert_eq!(response.headers()["retry-after"], "2");
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        t.get(&list, APP_TOKEN).await.status(),
        StatusCode::GATEWAY_TIMEOUT
    );
    assert_eq!(t.get(&list, APP_TOKEN).await.status(), StatusCode::OK);

    let response = t.get(&value, APP_TOKEN).await;
    assert_eq!(response.headers()["retry-after"], "1.5");
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);

    // The dropped body: headers promise everything, the connection dies about halfway.
    let response = t.get(&value, APP_TOKEN).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-length"],
        seeded[0].size.to_string().as_str()
    );
    assert!(response.bytes().await.is_err(), "the body must be cut off");
    assert!(t.state().pending_faults().is_empty());

    let bytes = t.get(&value, APP_TOKEN).await.bytes().await.unwrap();
    assert_eq!(hex::encode(Sha256::digest(&bytes)), seeded[0].sha256);
    let log = t.state().request_log();
    let faults: Vec<&str> = log
        .entries
        .iter()
        .filter_map(|e| e.fault.as_deref())
        .collect();
    assert_eq!(
        faults,
        [
            "throttle",
            "throttle",
            "service_unavailable",
            "gateway_timeout",
            "throttle",
            "drop_body"
        ]
    );
}

#[tokio::test]
async fn fault_queue_and_storm_over_http() {
    let t = spawn().await;
    t.seed("inbox", small(3));
    let control = format!("{}/_sandbox/graph", t.handle.base_url);
    let list = format!("/users/{ALICE}/mailFolders/inbox/messages");
    let response = t
        .client
        .post(format!("{control}/faults"))
        .json(&json!({"faults": [{"kind": "throttle", "retry_after": {"seconds": "0.25"}, "target": "list", "mailbox": ALICE_UPN}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    // Bob's mailbox is not targeted.
    assert_eq!(
        t.get(
            &format!("/users/{BOB}/mailFolders/inbox/messages"),
            APP_TOKEN
        )
        .await
        .status(),
        StatusCode::OK
    );
    let response = t.get(&list, APP_TOKEN).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["retry-after"], "0.25");

    let response = t
        .client
        .put(format!("{control}/storm"))
        .json(&json!({"probability": 1.0, "seed": 7, "target": "list"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    for _ in 0..5 {
        let status = t.get(&list, APP_TOKEN).await.status();
        assert!([429, 503, 504].contains(&status.as_u16()), "{status}");
    }
    // Not a list request: the storm leaves it alone.
    assert_eq!(
        t.get(&format!("/users/{ALICE}/mailFolders"), APP_TOKEN)
            .await
            .status(),
        StatusCode::OK
    );
    t.client
        .delete(format!("{control}/storm"))
        .send()
        .await
        .unwrap();
    assert_eq!(t.get(&list, APP_TOKEN).await.status(), StatusCode::OK);
}
