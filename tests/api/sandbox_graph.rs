//! The Graph sandbox, driven directly over HTTP.

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use mailport::sandbox::graph::{
    Fault, FaultSpec, FaultTarget, GenerateSpec, RetryAfter, SeedOptions,
};
use mailport::sandbox::world::AccessGrant;
use mailport::sandbox::{self, SandboxConfig, SandboxHandle};
use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const TENANT: &str = "8f1c2a4e-0000-4000-8000-00000000c0de";
const ALICE: &str = "a11ce000-0000-4000-8000-000000000001";
const BOB: &str = "b0b00000-0000-4000-8000-000000000002";
const ALICE_UPN: &str = "alice@contoso.example";
const APP_TOKEN: &str = "eyJ0eXAi.app-readwrite.sig";
const APP_TOKEN_NO_ROLE: &str = "eyJ0eXAi.app-norole.sig";
const ALICE_TOKEN: &str = "eyJ0eXAi.alice-delegated.sig";
const EXPIRED_TOKEN: &str = "eyJ0eXAi.expired.sig";
const PREFER_IMMUTABLE: &str = "IdType=\"ImmutableId\"";

struct TestGraph {
    handle: SandboxHandle,
    client: Client,
    /// `{base_url}/v1.0`
    graph: String,
}

fn grant(user: Option<&str>, roles: &[&str], scopes: &[&str], valid_for: i64) -> AccessGrant {
    let now = SystemTime::now();
    AccessGrant {
        tenant_id: TENANT.into(),
        client_id: "c11e0000-0000-4000-8000-0000000000aa".into(),
        user_id: user.map(str::to_string),
        roles: roles.iter().map(|s| s.to_string()).collect(),
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        expires_at: if valid_for >= 0 {
            now + Duration::from_secs(valid_for as u64)
        } else {
            now - Duration::from_secs((-valid_for) as u64)
        },
    }
}

async fn spawn() -> TestGraph {
    let config: SandboxConfig = serde_json::from_value(json!({
        "tenants": [{
            "id": TENANT,
            "domains": ["contoso.example"],
            "apps": [{
                "client_id": "c11e0000-0000-4000-8000-0000000000aa",
                "secrets": [{"value": "s3cret"}],
                "application_permissions": ["Mail.ReadWrite"],
                "delegated_permissions": ["Mail.ReadWrite"]
            }],
            "users": [
                {"id": ALICE, "user_principal_name": ALICE_UPN, "password": "pw"},
                {"id": BOB, "user_principal_name": "bob@contoso.example", "password": "pw"}
            ]
        }]
    }))
    .expect("config");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let handle = sandbox::spawn(listener, config).await.expect("spawn");
    let world = &handle.sandbox.world;
    world.register_access_token(
        APP_TOKEN.into(),
        grant(None, &["Mail.ReadWrite"], &[], 3600),
    );
    world.register_access_token(APP_TOKEN_NO_ROLE.into(), grant(None, &[], &[], 3600));
    world.register_access_token(
        ALICE_TOKEN.into(),
        grant(Some(ALICE), &[], &["Mail.ReadWrite"], 3600),
    );
    world.register_access_token(
        EXPIRED_TOKEN.into(),
        grant(None, &["Mail.ReadWrite"], &[], -10),
    );
    let graph = format!("{}/v1.0", handle.base_url);
    TestGraph {
        handle,
        client: Client::new(),
        graph,
    }
}

impl TestGraph {
    fn state(&self) -> &mailport::sandbox::graph::GraphState {
        &self.handle.sandbox.graph
    }

    async fn get(&self, url: &str, token: &str) -> Response {
        let url = if url.starts_with("http") {
            url.to_string()
        } else {
            format!("{}{url}", self.graph)
        };
        self.client
            .get(url)
            .bearer_auth(token)
            .send()
            .await
            .expect("send")
    }

    async fn get_immutable(&self, url: &str) -> Response {
        let url = if url.starts_with("http") {
            url.to_string()
        } else {
            format!("{}{url}", self.graph)
        };
        self.client
            .get(url)
            .bearer_auth(APP_TOKEN)
            .header("Prefer", PREFER_IMMUTABLE)
            .send()
            .await
            .expect("send")
    }

    fn seed(&self, folder: &str, spec: GenerateSpec) -> Vec<mailport::sandbox::graph::MessageInfo> {
        self.state()
            .seed_generated(ALICE, folder, &spec)
            .expect("seed")
    }
}

fn small(count: usize) -> GenerateSpec {
    GenerateSpec {
        count,
        size: 1500,
        ..GenerateSpec::default()
    }
}

async fn error_of(response: Response, status: StatusCode) -> (String, String) {
    assert_eq!(response.status(), status);
    let body: Value = response.json().await.expect("json error body");
    (
        body["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    )
}

#[tokio::test]
async fn auth_failures_look_like_graph() {
    let t = spawn().await;
    let url = format!("{}/users/{ALICE}/mailFolders", t.graph);

    let response = t
        .client
        .get(&url)
        .header("client-request-id", "my-correlation-id")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer ")
    );
    assert_eq!(response.headers()["client-request-id"], "my-correlation-id");
    let request_id = response.headers()["request-id"]
        .to_str()
        .unwrap()
        .to_string();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "InvalidAuthenticationToken");
    assert_eq!(
        body["error"]["innerError"]["client-request-id"],
        "my-correlation-id"
    );
    assert_eq!(
        body["error"]["innerError"]["request-id"],
        request_id.as_str()
    );
    assert!(body["error"]["innerError"]["date"].is_string());

    let (code, message) = error_of(t.get(&url, "garbage").await, StatusCode::UNAUTHORIZED).await;
    assert_eq!(code, "InvalidAuthenticationToken");
    assert!(message.starts_with("IDX14100: JWT is not well formed"));

    let response = t.get(&url, EXPIRED_TOKEN).await;
    assert!(response.headers().contains_key("www-authenticate"));
    let (_, message) = error_of(response, StatusCode::UNAUTHORIZED).await;
    assert_eq!(message, "Access token has expired or is not yet valid.");

    let (code, message) =
        error_of(t.get(&url, APP_TOKEN_NO_ROLE).await, StatusCode::FORBIDDEN).await;
    assert_eq!(code, "ErrorAccessDenied");
    assert_eq!(
        message,
        "Access is denied. Check credentials and try again."
    );

    let (code, _) = error_of(
        t.get("/users/nobody@contoso.example/mailFolders", APP_TOKEN)
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(code, "ErrorInvalidUser");

    // /me needs a delegated token; a delegated token reaches only its own mailbox.
    let (code, _) = error_of(
        t.get("/me/mailFolders", APP_TOKEN).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(code, "BadRequest");
    assert_eq!(
        t.get("/me/mailFolders", ALICE_TOKEN).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        t.get(&format!("/users/{ALICE_UPN}/mailFolders"), ALICE_TOKEN)
            .await
            .status(),
        StatusCode::OK
    );
    let (code, _) = error_of(
        t.get(&format!("/users/{BOB}/mailFolders"), ALICE_TOKEN)
            .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(code, "ErrorAccessDenied");
}

#[tokio::test]
async fn access_policy_and_disabled_mailbox() {
    let t = spawn().await;
    let url = format!("/users/{ALICE}/mailFolders/inbox/messages");
    t.state().set_access_policy(ALICE_UPN, true).unwrap();
    let (code, message) = error_of(t.get(&url, APP_TOKEN).await, StatusCode::FORBIDDEN).await;
    assert_eq!(code, "ErrorAccessDenied");
    assert_eq!(message, "Access to OData is disabled.");
    // The policy restricts applications, not the user signing in.
    assert_eq!(
        t.get("/me/mailFolders/inbox/messages", ALICE_TOKEN)
            .await
            .status(),
        StatusCode::OK
    );
    // Bob's mailbox is not covered by Alice's policy.
    assert_eq!(
        t.get(&format!("/users/{BOB}/messages"), APP_TOKEN)
            .await
            .status(),
        StatusCode::OK
    );

    // Turned off over the HTTP control.
    let response = t
        .client
        .patch(format!(
            "{}/_sandbox/graph/mailboxes/{ALICE}/settings",
            t.handle.base_url
        ))
        .json(&json!({"access_policy_denies_apps": false, "enabled": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let (code, message) = error_of(t.get(&url, APP_TOKEN).await, StatusCode::NOT_FOUND).await;
    assert_eq!(code, "MailboxNotEnabledForRESTAPI");
    assert!(message.contains("inactive, soft-deleted, or is hosted on-premise"));
    t.state().set_mailbox_enabled(ALICE, true).unwrap();
    assert_eq!(t.get(&url, APP_TOKEN).await.status(), StatusCode::OK);
}

async fn create_folder(t: &TestGraph, url: &str, name: &str) -> Response {
    t.client
        .post(format!("{}{url}", t.graph))
        .bearer_auth(APP_TOKEN)
        .json(&json!({"displayName": name, "isHidden": false}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn folders_list_filter_create_and_duplicate() {
    let t = spawn().await;
    let base = format!("/users/{ALICE}/mailFolders");
    let body: Value = t.get(&base, APP_TOKEN).await.json().await.unwrap();
    let names: HashSet<&str> = body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["displayName"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 7);
    for name in [
        "Inbox",
        "Archive",
        "Deleted Items",
        "Drafts",
        "Sent Items",
        "Junk Email",
        "Outbox",
    ] {
        assert!(names.contains(name), "{name} missing");
    }
    assert!(body.get("@odata.nextLink").is_none());
    let inbox = body["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["displayName"] == "Inbox")
        .unwrap()
        .clone();
    for key in [
        "id",
        "parentFolderId",
        "childFolderCount",
        "unreadItemCount",
        "totalItemCount",
        "isHidden",
    ] {
        assert!(inbox.get(key).is_some(), "{key}");
    }

    let response = create_folder(&t, &base, "Bob's Imported").await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: Value = response.json().await.unwrap();
    let (code, _) = error_of(
        create_folder(&t, &base, "bob's imported").await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(code, "ErrorFolderExists");
    for i in 0..4 {
        assert_eq!(
            create_folder(&t, &base, &format!("Extra {i}"))
                .await
                .status(),
            StatusCode::CREATED
        );
    }

    // 12 top-level folders: a page of 10 (the default) plus a nextLink to the last 2.
    let page1: Value = t.get(&base, APP_TOKEN).await.json().await.unwrap();
    assert_eq!(page1["value"].as_array().unwrap().len(), 10);
    let next = page1["@odata.nextLink"].as_str().unwrap();
    let page2: Value = t.get(next, APP_TOKEN).await.json().await.unwrap();
    assert_eq!(page2["value"].as_array().unwrap().len(), 2);

    let filtered: Value = t
        .get(
            &format!("{base}?$filter=displayName eq 'Bob''s Imported'"),
            APP_TOKEN,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(filtered["value"].as_array().unwrap().len(), 1);
    assert_eq!(filtered["value"][0]["id"], created["id"]);

    // Child folders, and the well-known name resolving to the same folder as its id.
    let child_url = format!("{base}/inbox/childFolders");
    assert_eq!(
        create_folder(&t, &child_url, "Sub").await.status(),
        StatusCode::CREATED
    );
    let children: Value = t.get(&child_url, APP_TOKEN).await.json().await.unwrap();
    assert_eq!(children["value"][0]["displayName"], "Sub");
    assert_eq!(children["value"][0]["parentFolderId"], inbox["id"]);
    let by_name: Value = t
        .get(&format!("{base}/Inbox"), APP_TOKEN)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(by_name["id"], inbox["id"]);
    assert_eq!(by_name["childFolderCount"], 1);

    let (code, _) = error_of(
        t.get(&format!("{base}/not*an*id"), APP_TOKEN).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(code, "ErrorInvalidIdMalformed");
    let (code, _) = error_of(
        t.get(&format!("{base}/AAMkAGI2AC4AAAnotthere0000"), APP_TOKEN)
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(code, "ErrorItemNotFound");
}

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
        .get(&format!("{base}?$select=subject,isRead"), APP_TOKEN)
        .await
        .json()
        .await
        .unwrap();
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
        .get(&format!("{base}?$filter=isRead eq false"), APP_TOKEN)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["value"].as_array().unwrap().len(), 6);

    let (code, message) = error_of(
        t.get(
            &format!("{base}?$filter=isRead eq false&$orderby=receivedDateTime desc"),
            APP_TOKEN,
        )
        .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(code, "InefficientFilter");
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
        let (code, _) = error_of(
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
        .get(&format!("/users/{ALICE}/messages/{id}"), APP_TOKEN)
        .await
        .json()
        .await
        .unwrap();
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

async fn move_message(t: &TestGraph, id: &str, destination: &str, immutable: bool) -> Response {
    let mut request = t
        .client
        .post(format!("{}/users/{ALICE}/messages/{id}/move", t.graph))
        .bearer_auth(APP_TOKEN)
        .json(&json!({"destinationId": destination}));
    if immutable {
        request = request.header("Prefer", PREFER_IMMUTABLE);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn move_changes_regular_id_but_not_immutable_id() {
    let t = spawn().await;
    let seeded = t.seed("inbox", small(2));
    let (first, second) = (&seeded[0], &seeded[1]);

    let response = move_message(&t, &first.regular_id, "archive", false).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let moved: Value = response.json().await.unwrap();
    let new_id = moved["id"].as_str().unwrap();
    assert_ne!(new_id, first.regular_id);
    assert_ne!(new_id, first.immutable_id);
    let archive = t
        .get(&format!("/users/{ALICE}/mailFolders/archive"), APP_TOKEN)
        .await
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(moved["parentFolderId"], archive["id"]);
    let (code, _) = error_of(
        t.get(
            &format!("/users/{ALICE}/messages/{}", first.regular_id),
            APP_TOKEN,
        )
        .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(code, "ErrorItemNotFound");
    assert_eq!(
        t.get(&format!("/users/{ALICE}/messages/{new_id}"), APP_TOKEN)
            .await
            .status(),
        StatusCode::OK
    );
    // Ids are case-sensitive.
    assert_ne!(
        t.get(
            &format!("/users/{ALICE}/messages/{}", new_id.to_lowercase()),
            APP_TOKEN
        )
        .await
        .status(),
        StatusCode::OK
    );

    // With immutable ids the id survives the move, and the immutable id still finds it.
    let response = move_message(&t, &second.immutable_id, "deleteditems", true).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["preference-applied"], PREFER_IMMUTABLE);
    let moved: Value = response.json().await.unwrap();
    assert_eq!(moved["id"], second.immutable_id.as_str());
    let fetched: Value = t
        .get_immutable(&format!("/users/{ALICE}/messages/{}", second.immutable_id))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(fetched["id"], second.immutable_id.as_str());
    let info = t.state().messages(ALICE, "deleteditems").unwrap();
    assert_eq!(info[0].immutable_id, second.immutable_id);
    assert_ne!(info[0].regular_id, second.regular_id);
}

#[tokio::test]
async fn patch_is_read_and_delete() {
    let t = spawn().await;
    let seeded = t.seed("inbox", small(1));
    let id = &seeded[0].regular_id;
    let url = format!("{}/users/{ALICE}/messages/{id}", t.graph);
    let response = t
        .client
        .patch(&url)
        .bearer_auth(APP_TOKEN)
        .json(&json!({"isRead": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["isRead"], true);
    assert_eq!(body["id"], id.as_str());
    assert!(t.state().messages(ALICE, "inbox").unwrap()[0].is_read);

    let response = t
        .client
        .patch(&url)
        .bearer_auth(APP_TOKEN)
        .json(&json!({"isRaed": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    let response = t
        .client
        .delete(&url)
        .bearer_auth(APP_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let (code, _) = error_of(t.get(&url, APP_TOKEN).await, StatusCode::NOT_FOUND).await;
    assert_eq!(code, "ErrorItemNotFound");
    assert!(t.state().messages(ALICE, "inbox").unwrap().is_empty());
}

/// Follows a delta round to its deltaLink; returns the items and the deltaLink.
async fn delta_round(t: &TestGraph, first_url: &str, page_size: usize) -> (Vec<Value>, String) {
    let mut items = Vec::new();
    let mut url = first_url.to_string();
    loop {
        let response = t
            .client
            .get(&url)
            .bearer_auth(APP_TOKEN)
            .header(
                "Prefer",
                format!("odata.maxpagesize={page_size}, {PREFER_IMMUTABLE}"),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        let value = body["value"].as_array().unwrap();
        assert!(value.len() <= page_size);
        items.extend(value.iter().cloned());
        if let Some(next) = body["@odata.nextLink"].as_str() {
            assert!(next.contains("$skiptoken="));
            url = next.to_string();
        } else {
            let delta = body["@odata.deltaLink"]
                .as_str()
                .expect("deltaLink on the last page");
            assert!(delta.contains("$deltatoken="));
            return (items, delta.to_string());
        }
    }
}

fn ids(items: &[Value]) -> HashSet<String> {
    items
        .iter()
        .filter(|i| i.get("@removed").is_none())
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn delta_initial_sync_then_changes_then_expiry() {
    let t = spawn().await;
    let seeded = t.seed("inbox", small(25));
    // Read before the first sync: still part of the initial round.
    let read_first = &seeded[3];
    t.client
        .patch(format!(
            "{}/users/{ALICE}/messages/{}",
            t.graph, read_first.immutable_id
        ))
        .bearer_auth(APP_TOKEN)
        .json(&json!({"isRead": true}))
        .send()
        .await
        .unwrap();
    let start = format!(
        "{}/users/{ALICE}/mailFolders/inbox/messages/delta?$select=subject,isRead",
        t.graph
    );

    // Page through by hand, with a message arriving mid-round.
    let response = t
        .client
        .get(&start)
        .bearer_auth(APP_TOKEN)
        .header(
            "Prefer",
            format!("odata.maxpagesize=10, {PREFER_IMMUTABLE}"),
        )
        .send()
        .await
        .unwrap();
    let first: Value = response.json().await.unwrap();
    assert_eq!(first["value"].as_array().unwrap().len(), 10);
    let late = t.seed("inbox", small(1)).remove(0);
    let (rest, delta_link) = delta_round(&t, first["@odata.nextLink"].as_str().unwrap(), 10).await;
    let mut initial: Vec<Value> = first["value"].as_array().unwrap().clone();
    initial.extend(rest);
    let initial_ids = ids(&initial);
    assert_eq!(initial.len(), 25, "every message exactly once");
    let expected: HashSet<String> = seeded.iter().map(|m| m.immutable_id.clone()).collect();
    assert_eq!(initial_ids, expected);
    let read = initial
        .iter()
        .find(|i| i["id"] == read_first.immutable_id.as_str())
        .unwrap();
    assert_eq!(read["isRead"], true);

    // Changes: read one, move one out, delete one; the mid-round arrival is also new.
    let (to_read, to_move, to_delete) = (&seeded[0], &seeded[1], &seeded[2]);
    t.client
        .patch(format!(
            "{}/users/{ALICE}/messages/{}",
            t.graph, to_read.immutable_id
        ))
        .bearer_auth(APP_TOKEN)
        .json(&json!({"isRead": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        move_message(&t, &to_move.immutable_id, "archive", true)
            .await
            .status(),
        StatusCode::CREATED
    );
    let response = t
        .client
        .delete(format!(
            "{}/users/{ALICE}/messages/{}",
            t.graph, to_delete.immutable_id
        ))
        .bearer_auth(APP_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    let (changes, delta_link2) = delta_round(&t, &delta_link, 10).await;
    assert_eq!(
        ids(&changes),
        HashSet::from([to_read.immutable_id.clone(), late.immutable_id.clone()])
    );
    let changed = changes
        .iter()
        .find(|c| c["id"] == to_read.immutable_id.as_str())
        .unwrap();
    assert_eq!(changed["isRead"], true);
    let removed: Vec<(String, String)> = changes
        .iter()
        .filter(|c| c.get("@removed").is_some())
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_string(),
                c["@removed"]["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(removed.len(), 2);
    assert!(removed.contains(&(to_move.immutable_id.clone(), "changed".into())));
    assert!(removed.contains(&(to_delete.immutable_id.clone(), "deleted".into())));

    // Nothing new: an empty round.
    let (nothing, _) = delta_round(&t, &delta_link2, 10).await;
    assert!(nothing.is_empty());

    // changeType=created only reports arrivals.
    let (_, created_link) = delta_round(&t, &format!("{start}&changeType=created"), 50).await;
    let newer = t.seed("inbox", small(1)).remove(0);
    t.client
        .patch(format!(
            "{}/users/{ALICE}/messages/{}",
            t.graph, seeded[5].immutable_id
        ))
        .bearer_auth(APP_TOKEN)
        .json(&json!({"isRead": true}))
        .send()
        .await
        .unwrap();
    let (created, _) = delta_round(&t, &created_link, 50).await;
    assert_eq!(ids(&created), HashSet::from([newer.immutable_id.clone()]));

    t.state().expire_delta_tokens(ALICE).unwrap();
    let (code, _) = error_of(t.get(&delta_link2, APP_TOKEN).await, StatusCode::GONE).await;
    assert_eq!(code, "syncStateNotFound");
    let (code, _) = error_of(
        t.get(&format!("{start}&$deltatoken=made-up"), APP_TOKEN)
            .await,
        StatusCode::GONE,
    )
    .await;
    assert_eq!(code, "syncStateNotFound");
}

#[tokio::test]
async fn fifth_concurrent_request_is_throttled() {
    let t = spawn().await;
    let seeded = t.seed(
        "inbox",
        GenerateSpec {
            size: 200_000,
            ..small(1)
        },
    );
    // Every request holds its slot for 400 ms, so 8 parallel requests overlap for sure.
    t.state().set_delay_ms(ALICE, 400).unwrap();
    t.state().reset_request_log();
    let url = format!(
        "{}/users/{ALICE}/messages/{}/$value",
        t.graph, seeded[0].regular_id
    );
    let requests = (0..8).map(|_| {
        let client = t.client.clone();
        let url = url.clone();
        async move { client.get(url).bearer_auth(APP_TOKEN).send().await.unwrap() }
    });
    let responses = futures_util::future::join_all(requests).await;
    let mut ok = 0;
    let mut throttled = 0;
    for response in responses {
        match response.status() {
            StatusCode::OK => {
                ok += 1;
                assert_eq!(response.bytes().await.unwrap().len(), seeded[0].size);
            }
            StatusCode::TOO_MANY_REQUESTS => {
                throttled += 1;
                assert!(response.headers().contains_key("retry-after"));
                let body: Value = response.json().await.unwrap();
                assert_eq!(body["error"]["code"], "ApplicationThrottled");
                assert_eq!(
                    body["error"]["message"],
                    "Application is over its MailboxConcurrency limit."
                );
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!((ok, throttled), (4, 4));
    let log = t.state().request_log();
    assert_eq!(log.max_concurrent[&ALICE.to_lowercase()], 4);
    assert_eq!(log.totals["value"], 8);
    // The slots are all free again.
    t.state().set_delay_ms(ALICE, 0).unwrap();
    assert_eq!(t.get(&url, APP_TOKEN).await.status(), StatusCode::OK);
}

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
    let (code, _) = error_of(response, StatusCode::TOO_MANY_REQUESTS).await;
    assert_eq!(code, "TooManyRequests");

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

    let log: Value = t
        .client
        .get(format!("{control}/log"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
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
        .client
        .get(format!("{control}/folders/archive/messages"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
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

    let folders: Value = t
        .client
        .get(format!("{control}/folders"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
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
    let page1: Value = t.get(&url, APP_TOKEN).await.json().await.unwrap();
    let page2: Value = t
        .get(page1["@odata.nextLink"].as_str().unwrap(), APP_TOKEN)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        page1["value"].as_array().unwrap().len() + page2["value"].as_array().unwrap().len(),
        2000
    );
    assert!(page2.get("@odata.nextLink").is_none());
}

#[tokio::test]
async fn unknown_paths_and_methods_get_graph_errors() {
    let t = spawn().await;
    let (code, message) = error_of(
        t.get(&format!("/users/{ALICE}/calendars"), APP_TOKEN).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(code, "BadRequest");
    assert!(message.contains("'calendars'"));
    let response = t
        .client
        .put(format!("{}/users/{ALICE}/mailFolders", t.graph))
        .bearer_auth(APP_TOKEN)
        .send()
        .await
        .unwrap();
    let (code, _) = error_of(response, StatusCode::METHOD_NOT_ALLOWED).await;
    assert_eq!(code, "BadRequest");
}

#[tokio::test]
async fn network_latency_and_value_throughput_are_emulated() {
    let t = spawn().await;
    let seeded = t.seed(
        "inbox",
        GenerateSpec {
            size: 400_000,
            ..small(1)
        },
    );
    let settings_url = format!(
        "{}/_sandbox/graph/mailboxes/{ALICE_UPN}/settings",
        t.handle.base_url
    );
    let patched: Value = t
        .client
        .patch(&settings_url)
        .json(&json!({"latency_ms": 300, "value_bytes_per_sec": 1_000_000}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(patched["latency_ms"], 300);
    assert_eq!(patched["value_bytes_per_sec"], 1_000_000);
    assert_eq!(patched["delay_ms"], 0);

    // Every request pays the round trip (only lower bounds: the machine may be slower).
    let started = std::time::Instant::now();
    let response = t
        .get(&format!("/users/{ALICE}/mailFolders/inbox"), APP_TOKEN)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(300));

    // `$value` streams at the configured rate: 400 KB at 1 MB/s takes 0.4 s on top.
    let started = std::time::Instant::now();
    let bytes = t
        .get(
            &format!("/users/{ALICE}/messages/{}/$value", seeded[0].regular_id),
            APP_TOKEN,
        )
        .await
        .bytes()
        .await
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(650));
    assert_eq!(hex::encode(Sha256::digest(&bytes)), seeded[0].sha256);

    // A misspelt switch is refused and changes nothing.
    let response = t
        .client
        .patch(&settings_url)
        .json(&json!({"latency": 5}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let settings = t.state().mailbox_settings(ALICE).unwrap();
    assert_eq!(settings.latency_ms, 300);
}

#[tokio::test]
async fn request_budget_per_app_and_mailbox() {
    let t = spawn().await;
    t.seed("inbox", small(1));
    // Another app, with its own budget for the same mailbox.
    let other_app = "eyJ0eXAi.other-app.sig";
    t.handle.sandbox.world.register_access_token(
        other_app.into(),
        AccessGrant {
            client_id: "0e0e0000-0000-4000-8000-0000000000bb".into(),
            ..grant(None, &["Mail.ReadWrite"], &[], 3600)
        },
    );
    let defaults = t.state().mailbox_settings(ALICE).unwrap();
    assert_eq!(
        (defaults.budget_requests, defaults.budget_window_secs),
        (10_000, 600),
        "Microsoft's budget by default"
    );
    let patch = mailport::sandbox::graph::SettingsPatch {
        budget_requests: Some(3),
        budget_window_secs: Some(60),
        ..Default::default()
    };
    t.state().update_mailbox_settings(ALICE, &patch).unwrap();
    let url = format!("/users/{ALICE}/mailFolders/inbox");
    for _ in 0..3 {
        assert_eq!(t.get(&url, APP_TOKEN).await.status(), StatusCode::OK);
    }
    let refused = t.get(&url, APP_TOKEN).await;
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "Retry-After {retry_after}");
    let (code, message) = error_of(refused, StatusCode::TOO_MANY_REQUESTS).await;
    assert_eq!(
        (code.as_str(), message.as_str()),
        ("TooManyRequests", "Please retry again later.")
    );
    // The budget is per app and per mailbox: a second app still gets through, and so does the
    // first app on another mailbox.
    assert_eq!(t.get(&url, other_app).await.status(), StatusCode::OK);
    assert_eq!(
        t.get(&format!("/users/{BOB}/mailFolders/inbox"), APP_TOKEN)
            .await
            .status(),
        StatusCode::OK
    );
    // Lifting the budget lets the first app in again.
    let lift = mailport::sandbox::graph::SettingsPatch {
        budget_requests: Some(0),
        ..Default::default()
    };
    t.state().update_mailbox_settings(ALICE, &lift).unwrap();
    assert_eq!(t.get(&url, APP_TOKEN).await.status(), StatusCode::OK);
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
        .get(&format!("/users/{ALICE}/messages/{id}"), APP_TOKEN)
        .await
        .json()
        .await
        .unwrap();
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
    let log: Value = t
        .client
        .get(format!("{control}/log?kind=folders"))
        .send()
        .await
        .expect("log")
        .json()
        .await
        .expect("json");
    let entries = log["entries"].as_array().expect("entries");
    assert!(!entries.is_empty());
    assert!(entries.iter().all(|e| e["kind"] == "folders"));
    let last = entries.last().and_then(|e| e["seq"].as_u64()).expect("seq");
    let later: Value = t
        .client
        .get(format!("{control}/log?after={last}"))
        .send()
        .await
        .expect("log")
        .json()
        .await
        .expect("json");
    assert!(
        later["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .all(|e| e["seq"].as_u64() > Some(last))
    );
}
