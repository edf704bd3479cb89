//! Listing and reading messages: paging, query options, sizes, EML seeds and large values.

use super::*;

#[tokio::test]
async fn listing_1000_messages_follows_next_links() {
    let t = spawn().await;
    let seeded = t.seed("inbox", small(1000));
    let expected: HashSet<String> = seeded.iter().map(|m| m.immutable_id.clone()).collect();
    let mut seen = Vec::new();
    let mut url =
        format!("/users/{ALICE_UPN}/mailFolders/inbox/messages?$top=50&$select=receivedDateTime");
    let mut pages = 0;
    loop {
        let response = t.get_immutable(&url).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["preference-applied"], PREFER_IMMUTABLE);
        let body: Value = response.json().await.unwrap();
        assert!(body["@odata.context"].is_string());
        let value = body["value"].as_array().unwrap();
        assert!(value.len() <= 50);
        seen.extend(value.iter().map(|m| {
            (
                m["id"].as_str().unwrap().to_string(),
                m["receivedDateTime"].as_str().unwrap().to_string(),
            )
        }));
        pages += 1;
        match body["@odata.nextLink"].as_str() {
            Some(next) => {
                assert!(next.starts_with(&t.handle.base_url));
                url = next.to_string();
            }
            None => break,
        }
    }
    assert_eq!(pages, 20);
    assert_eq!(seen.len(), 1000);
    let ids: HashSet<String> = seen.iter().map(|(id, _)| id.clone()).collect();
    assert_eq!(ids, expected);
    // Default order: receivedDateTime desc.
    assert!(seen.windows(2).all(|w| w[0].1 >= w[1].1));
}

#[tokio::test]
async fn select_filter_orderby_and_query_errors() {
    let t = spawn().await;
    t.seed("inbox", small(6));
    t.seed(
        "inbox",
        GenerateSpec {
            is_read: true,
            ..small(4)
        },
    );
    let base = format!("/users/{ALICE}/mailFolders/inbox/messages");

    let body: Value = t
        .get_json(&format!("{base}?$select=subject,isRead"), APP_TOKEN)
        .await;
    let keys: HashSet<&str> = body["value"][0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        HashSet::from(["@odata.etag", "id", "subject", "isRead"])
    );

    let body: Value = t
        .get_json(&format!("{base}?$filter=isRead eq false"), APP_TOKEN)
        .await;
    assert_eq!(body["value"].as_array().unwrap().len(), 6);

    let message = assert_graph_error(
        t.get(
            &format!("{base}?$filter=isRead eq false&$orderby=receivedDateTime desc"),
            APP_TOKEN,
        )
        .await,
        StatusCode::BAD_REQUEST,
        "InefficientFilter",
    )
    .await;
    assert_eq!(
        message,
        "The restriction or sort order is too complex for this operation."
    );

    let body: Value = t
        .get(
            &format!("{base}?$filter=receivedDateTime ge 1900-01-01T00:00:00Z and isRead eq false&$orderby=receivedDateTime asc&$top=100"),
            APP_TOKEN,
        )
        .await
        .json()
        .await
        .unwrap();
    let times: Vec<&str> = body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["receivedDateTime"].as_str().unwrap())
        .collect();
    assert_eq!(times.len(), 6);
    assert!(times.windows(2).all(|w| w[0] <= w[1]));

    for bad in [
        "$top=0",
        "$top=1001",
        "$foo=1",
        "$select=nope",
        "$filter=isRead eq 'x'",
    ] {
        let (code, _) = graph_error(
            t.get(&format!("{base}?{bad}"), APP_TOKEN).await,
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert_eq!(code, "BadRequest", "{bad}");
    }
}

#[tokio::test]
async fn size_property_and_value_bytes() {
    let t = spawn().await;
    let seeded = t.seed(
        "inbox",
        GenerateSpec {
            size: 300_000,
            attachments: 2,
            ..small(1)
        },
    );
    let info = &seeded[0];
    assert!(
        (250_000..350_000).contains(&info.size),
        "size {}",
        info.size
    );
    let body: Value = t
        .get_immutable(&format!(
            "/users/{ALICE}/messages/{}?$select=hasAttachments&$expand=singleValueExtendedProperties($filter=id eq 'Integer 0x0E08')",
            info.immutable_id
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["hasAttachments"], true);
    assert_eq!(
        body["singleValueExtendedProperties"],
        json!([{"id": "Integer 0x0E08", "value": info.size.to_string()}])
    );

    let response = t
        .get_immutable(&format!(
            "/users/{ALICE}/messages/{}/$value",
            info.immutable_id
        ))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/plain");
    assert_eq!(
        response.headers()["content-length"],
        info.size.to_string().as_str()
    );
    let bytes = response.bytes().await.unwrap();
    assert_eq!(hex::encode(Sha256::digest(&bytes)), info.sha256);
}

#[tokio::test]
async fn eml_seed_renders_message_fields() {
    let t = spawn().await;
    let eml = "From: \"Eve Example\" <eve@example.com>\r\nTo: alice@contoso.example\r\nCc: Carol <carol@example.com>\r\nSubject: =?UTF-8?B?R3LDvMOfZQ==?=\r\nDate: Tue, 03 Mar 2026 10:00:00 +0000\r\nMessage-ID: <abc@example.com>\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Hi <b>Alice</b></p>\r\n";
    let response = t
        .client
        .post(format!(
            "{}/_sandbox/graph/mailboxes/{ALICE_UPN}/folders/inbox/eml?isRead=true",
            t.handle.base_url
        ))
        .body(eml)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let seeded: Value = response.json().await.unwrap();
    let id = seeded["messages"][0]["regular_id"].as_str().unwrap();
    let message: Value = t
        .get_json(&format!("/users/{ALICE}/messages/{id}"), APP_TOKEN)
        .await;
    assert_eq!(message["subject"], "Grüße");
    assert_eq!(message["internetMessageId"], "<abc@example.com>");
    assert_eq!(
        message["from"]["emailAddress"]["address"],
        "eve@example.com"
    );
    assert_eq!(message["from"]["emailAddress"]["name"], "Eve Example");
    assert_eq!(
        message["ccRecipients"][0]["emailAddress"]["address"],
        "carol@example.com"
    );
    assert_eq!(message["receivedDateTime"], "2026-03-03T10:00:00Z");
    assert_eq!(message["isRead"], true);
    assert_eq!(message["body"]["contentType"], "html");
    assert!(
        message["body"]["content"]
            .as_str()
            .unwrap()
            .contains("<b>Alice</b>")
    );
    let value = t
        .get(&format!("/users/{ALICE}/messages/{id}/$value"), APP_TOKEN)
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(&value[..], eml.as_bytes());
}

#[tokio::test]
async fn large_messages_stream_intact() {
    let t = spawn().await;
    let seeded = t.seed(
        "inbox",
        GenerateSpec {
            size: 20 * 1024 * 1024,
            attachments: 1,
            ..small(2)
        },
    );
    for info in &seeded {
        assert!(info.size > 19 * 1024 * 1024);
        let response = t
            .get(
                &format!("/users/{ALICE}/messages/{}/$value", info.regular_id),
                APP_TOKEN,
            )
            .await;
        let bytes = response.bytes().await.unwrap();
        assert_eq!(hex::encode(Sha256::digest(&bytes)), info.sha256);
    }

    // 2,000 messages of about 30 KB each, listed in two pages of 1,000.
    let many = t.seed(
        "archive",
        GenerateSpec {
            size: 30_000,
            attachments: 1,
            ..small(2000)
        },
    );
    assert!(many.iter().all(|m| (25_000..35_000).contains(&m.size)));
    let url = format!("/users/{ALICE}/mailFolders/archive/messages?$top=1000&$select=id");
    let page1: Value = t.get_json(&url, APP_TOKEN).await;
    let page2: Value = t
        .get_json(page1["@odata.nextLink"].as_str().unwrap(), APP_TOKEN)
        .await;
    assert_eq!(
        page1["value"].as_array().unwrap().len() + page2["value"].as_array().unwrap().len(),
        2000
    );
    assert!(page2.get("@odata.nextLink").is_none());
}

#[tokio::test]
async fn an_eml_seeded_with_a_given_immutable_id_keeps_it_and_the_id_stays_unique() {
    let t = spawn().await;
    let id = "AAkALgAAdemo0123456789abcdefghijklmnopqrstuvwxyz_-";
    let url = |query: &str| {
        format!(
            "{}/_sandbox/graph/mailboxes/{ALICE_UPN}/folders/inbox/eml?{query}",
            t.handle.base_url
        )
    };
    let eml = "Subject: Same every time\r\nMessage-ID: <same@example.com>\r\n\r\nbody\r\n";
    let first = t
        .client
        .post(url(&format!("immutableId={id}")))
        .body(eml)
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    let seeded: Value = first.json().await.unwrap();
    assert_eq!(seeded["messages"][0]["immutable_id"], id);
    let message: Value = t
        .get_json(&format!("/users/{ALICE}/messages/{id}"), APP_TOKEN)
        .await;
    assert_eq!(message["subject"], "Same every time");

    // Taken, or not an Exchange id: refused, and nothing is stored.
    for query in [
        format!("immutableId={id}"),
        "immutableId=bad%20id".to_string(),
    ] {
        let r = t.client.post(url(&query)).body(eml).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{query}");
    }
    let inbox = t.state().messages(ALICE, "inbox").unwrap();
    assert_eq!(inbox.len(), 1);
}
