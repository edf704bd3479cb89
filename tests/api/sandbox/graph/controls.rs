//! The control API: the request log, inspection, and mailboxes set up in bulk.

use super::*;

#[tokio::test]
async fn request_log_counts_requests() {
    let t = spawn().await;
    let seeded = t.seed("inbox", small(2));
    let control = format!("{}/_sandbox/graph", t.handle.base_url);
    t.client
        .delete(format!("{control}/log"))
        .send()
        .await
        .unwrap();
    t.get(
        &format!("/users/{ALICE}/mailFolders/inbox/messages?$top=1"),
        APP_TOKEN,
    )
    .await;
    t.get(
        &format!("/users/{ALICE}/messages/{}/$value", seeded[0].regular_id),
        APP_TOKEN,
    )
    .await
    .bytes()
    .await
    .unwrap();
    t.get(
        &format!("/users/{ALICE}/messages/{}/$value", seeded[1].regular_id),
        "garbage",
    )
    .await;
    t.get("/v1.0/nonsense", APP_TOKEN).await;

    let log: Value = t.control_json(&format!("{control}/log")).await;
    assert_eq!(log["total"], 4);
    assert_eq!(log["totals"]["list"], 1);
    assert_eq!(log["totals"]["value"], 2);
    assert_eq!(log["totals"]["other"], 1);
    assert_eq!(log["statuses"]["200"], 2);
    assert_eq!(log["statuses"]["401"], 1);
    let first = &log["entries"][0];
    assert_eq!(first["method"], "GET");
    assert_eq!(
        first["path"],
        format!("/v1.0/users/{ALICE}/mailFolders/inbox/messages")
    );
    assert_eq!(first["query"], "$top=1");
    assert_eq!(first["status"], 200);
    assert_eq!(first["mailbox"], ALICE.to_lowercase());
    assert_eq!(first["kind"], "list");
    assert!(first["received_at"].is_string());
    assert!(first["finished_at"].is_string());
    assert_eq!(log["max_concurrent"][ALICE.to_lowercase()], 1);

    t.state().reset_request_log();
    assert_eq!(t.state().request_log().total, 0);
}

#[tokio::test]
async fn inspection_controls_over_http() {
    let t = spawn().await;
    let control = format!("{}/_sandbox/graph/mailboxes/{ALICE_UPN}", t.handle.base_url);
    let response = t
        .client
        .post(format!("{control}/folders/archive/generate"))
        .json(&json!({"count": 3, "size": 2000, "is_read": true, "html": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let generated: Value = response.json().await.unwrap();
    assert_eq!(generated["messages"].as_array().unwrap().len(), 3);
    let listed: Value = t
        .control_json(&format!("{control}/folders/archive/messages"))
        .await;
    let listed = listed["messages"].as_array().unwrap();
    assert_eq!(listed.len(), 3);
    let distinct: HashSet<&str> = listed
        .iter()
        .map(|m| m["internet_message_id"].as_str().unwrap())
        .collect();
    assert_eq!(distinct.len(), 3);
    assert!(
        listed
            .iter()
            .all(|m| m["is_read"] == true && m["folder_name"] == "Archive")
    );
    assert!(
        listed
            .iter()
            .all(|m| m["sha256"].as_str().unwrap().len() == 64)
    );

    let folders: Value = t.control_json(&format!("{control}/folders")).await;
    let archive = folders["folders"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["well_known_name"] == "archive")
        .unwrap();
    assert_eq!(archive["total_item_count"], 3);
    assert_eq!(archive["unread_item_count"], 0);

    let response = t
        .client
        .get(format!(
            "{}/_sandbox/graph/mailboxes/nobody/folders",
            t.handle.base_url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let state = t.state();
    assert!(
        state
            .seed_eml(
                ALICE,
                "inbox",
                b"Subject: x\r\n\r\nbody".to_vec(),
                &SeedOptions::default()
            )
            .is_ok()
    );
    assert!(
        state
            .seed_eml(ALICE, "nofolder", b"x".to_vec(), &SeedOptions::default())
            .is_err()
    );
}

#[tokio::test]
async fn many_mailboxes_and_their_link_settings_come_from_one_control_call_each() {
    let t = spawn().await;
    let control = format!("{}/_sandbox/graph", t.handle.base_url);
    let r = t
        .client
        .post(format!("{control}/mailboxes"))
        .json(&json!({"count": 300, "prefix": "desk", "settings": {"delay_ms": 5}}))
        .send()
        .await
        .expect("create");
    assert_eq!(r.status(), StatusCode::CREATED);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["created"], 300);
    assert_eq!(body["first"], "desk00001@contoso.example");
    assert_eq!(body["last"], "desk00300@contoso.example");
    // Graph knows them, by UPN, with the settings given.
    let r = t
        .get(
            "/users/desk00150@contoso.example/mailFolders/inbox",
            APP_TOKEN,
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let settings = t
        .state()
        .mailbox_settings("desk00150@contoso.example")
        .expect("settings");
    assert_eq!(settings.delay_ms, 5);
    // One call sets the link of every mailbox, including ones made later.
    let r = t
        .client
        .patch(format!("{control}/mailboxes/settings"))
        .json(&json!({"latency_ms": 30, "delay_ms": 20}))
        .send()
        .await
        .expect("patch");
    assert_eq!(r.status(), StatusCode::OK);
    for user in ["desk00001@contoso.example", ALICE_UPN] {
        let s = t.state().mailbox_settings(user).expect("settings");
        assert_eq!((s.latency_ms, s.delay_ms), (30, 20), "{user}");
    }
    // Taken names, bad counts and prefixes change nothing.
    for bad in [
        json!({"count": 1, "prefix": "desk"}),
        json!({"count": 0}),
        json!({"count": 100_001}),
        json!({"count": 1, "prefix": "a/b"}),
        json!({"count": 1, "domain": "unknown.example"}),
    ] {
        let r = t
            .client
            .post(format!("{control}/mailboxes"))
            .json(&bad)
            .send()
            .await
            .expect("create");
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
    let r = t
        .get(
            "/users/desk00301@contoso.example/mailFolders/inbox",
            APP_TOKEN,
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // The log can be narrowed to one kind and to what came after a point.
    let log: Value = t.control_json(&format!("{control}/log?kind=folders")).await;
    let entries = log["entries"].as_array().expect("entries");
    assert!(!entries.is_empty());
    assert!(entries.iter().all(|e| e["kind"] == "folders"));
    let last = entries.last().and_then(|e| e["seq"].as_u64()).expect("seq");
    let later: Value = t.control_json(&format!("{control}/log?after={last}")).await;
    assert!(
        later["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .all(|e| e["seq"].as_u64() > Some(last))
    );
}
