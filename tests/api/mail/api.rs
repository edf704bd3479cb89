//! The messages JSON API, and who may see imported mail at all.

use reqwest::{StatusCode, header};
use serde_json::Value;

use super::fixtures::{Eml, Part, store};
use super::header_of;
use crate::helpers::{TestApp, browser};

#[tokio::test]
async fn json_message_has_the_documented_shape() {
    let app = TestApp::signed_in().await;
    let raw = Eml::new("Shape")
        .from("Adele", "adele@contoso.example")
        .to("a@x.example, \"Bee\" <b@x.example>")
        .text("t")
        .part(Part::attachment("r.pdf", "application/pdf", b"%PDF"))
        .build();
    let (id, sha) = store(&app, "sales", "graph-42", &raw, Some(1_800_000_000)).await;

    let json = app.api(&format!("/messages/{id}")).await;
    let mut keys: Vec<&str> = json
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "account",
            "attachment_count",
            "attachments",
            "attachments_truncated",
            "calendar",
            "from",
            "from_name",
            "graph_id",
            "id",
            "internet_message_id",
            "received_at",
            "sha256",
            "size",
            "state",
            "subject",
            "text_body",
            "to"
        ]
    );
    assert_eq!(json["id"], id);
    assert_eq!(json["account"], "sales");
    assert_eq!(json["graph_id"], "graph-42");
    assert_eq!(json["internet_message_id"], "m1@contoso.example");
    assert_eq!(json["subject"], "Shape");
    assert_eq!(json["from"], "adele@contoso.example");
    assert_eq!(json["from_name"], "Adele");
    assert_eq!(json["text_body"], "t");
    assert_eq!(json["calendar"], Value::Null);
    assert_eq!(json["attachment_count"], 1);
    assert_eq!(json["attachments_truncated"], false);
    assert_eq!(
        json["to"],
        serde_json::json!(["a@x.example", "b@x.example"])
    );
    assert_eq!(json["received_at"], "2027-01-15T08:00:00Z");
    assert_eq!(json["size"], raw.len());
    assert_eq!(json["sha256"], sha);
    assert_eq!(
        json["attachments"],
        serde_json::json!([{"name": "r.pdf", "content_type": "application/pdf", "size": 4}])
    );

    let list = app.api("/messages").await;
    assert_eq!(list["items"][0]["attachment_count"], 1);
    assert_eq!(list["items"][0]["attachments_truncated"], false);
    assert_eq!(list["items"][0]["from_name"], "Adele");
    assert_eq!(list["items"][0]["from"], "adele@contoso.example");

    // No sender, no date: null, not a made-up value.
    let bare = b"Subject: bare\r\n\r\nbody\r\n".to_vec();
    let (bare_id, _) = store(&app, "sales", "g-bare", &bare, None).await;
    let json = app.api(&format!("/messages/{bare_id}")).await;
    assert_eq!(json["from"], Value::Null);
    assert_eq!(json["received_at"], Value::Null);
    assert_eq!(json["to"], serde_json::json!([]));

    for missing in ["/api/v1/messages/0", "/api/v1/messages/abc"] {
        let r = app.get(missing).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{missing}");
        let body: Value = r.json().await.expect("json");
        assert_eq!(body["error"]["code"], "not_found");
    }
}

#[tokio::test]
async fn mail_needs_a_session_and_the_api_a_key() {
    let app = TestApp::signed_in().await;
    let raw = Eml::new("secret").text("x").build();
    let (id, _) = store(&app, "sales", "g1", &raw, None).await;
    let stranger = browser();
    for path in [
        "/mail".to_string(),
        format!("/mail/{id}"),
        format!("/mail/{id}/raw"),
        format!("/mail/{id}/attachments/0"),
        format!("/mail/{id}/cid/logo@x"),
    ] {
        let r = stranger.get(app.url(&path)).send().await.expect("GET");
        assert!(r.status().is_redirection(), "{path}: {}", r.status());
        assert!(
            header_of(&r, header::LOCATION).starts_with("/login"),
            "{path}"
        );
    }
    for path in [
        "/api/v1/messages".to_string(),
        format!("/api/v1/messages/{id}"),
        format!("/api/v1/messages/{id}/raw"),
    ] {
        let r = stranger.get(app.url(&path)).send().await.expect("GET");
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
        let body: Value = r.json().await.expect("json");
        assert_eq!(body["error"]["code"], "unauthorized");
    }

    let key = "mp_mail_test_key_0123456789abcdefghijklmnop";
    mailport::store::api_keys::create(
        &app.state.db,
        "mail-test",
        &mailport::crypto::sha256_hex(key.as_bytes()),
    )
    .await
    .expect("key");
    let r = stranger
        .get(app.url(&format!("/api/v1/messages/{id}/raw")))
        .bearer_auth(key)
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().await.expect("body").as_ref(), raw.as_slice());
}

#[tokio::test]
async fn a_message_with_more_than_a_thousand_attachments_says_so() {
    let app = TestApp::signed_in().await;
    let mut eml = Eml::new("Scans").text("1,005 scans");
    for i in 0..1005 {
        eml = eml.part(Part::attachment(
            &format!("scan-{i:04}.txt"),
            "text/plain",
            b"s",
        ));
    }
    let raw = eml.build();
    let (id, _) = store(&app, "sales", "g-many", &raw, None).await;

    let json = app.api(&format!("/messages/{id}")).await;
    assert_eq!(json["attachments"].as_array().map(Vec::len), Some(1000));
    assert_eq!(json["attachment_count"], 1005);
    assert_eq!(json["attachments_truncated"], true);
    assert_eq!(json["attachments"][999]["name"], "scan-0999.txt");
    let list = app.api("/messages").await;
    assert_eq!(list["items"][0]["attachment_count"], 1005);
    assert_eq!(list["items"][0]["attachments_truncated"], true);

    let page = app.get_text(&format!("/mail/{id}")).await;
    let doc = scraper::Html::parse_document(&page);
    let notice = super::select(&doc, "#attachments-truncated")
        .first()
        .map(super::text)
        .unwrap_or_default();
    assert!(
        notice.contains("1005 attachments") && notice.contains("first 1000"),
        "{notice}"
    );
    assert_eq!(super::select(&doc, "a.attachment-name").len(), 1000);

    // A message with exactly the listed number says nothing.
    let raw = Eml::new("Few")
        .part(Part::attachment("a.txt", "text/plain", b"a"))
        .build();
    let (few, _) = store(&app, "sales", "g-few", &raw, None).await;
    assert!(
        !app.get_text(&format!("/mail/{few}"))
            .await
            .contains("attachments-truncated")
    );
    assert_eq!(
        app.api(&format!("/messages/{few}")).await["attachments_truncated"],
        false
    );
}
