//! `/api/v1/accounts` for thousands of accounts: paging and filters, and the write
//! operations with API key scopes, the form's validation and the API's error format.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::*;

const READ_KEY: &str = "mp_read_key_0123456789abcdefghijklmnopqrstuv";
const ADMIN_KEY: &str = "mp_admin_key_0123456789abcdefghijklmnopqrstu";

async fn with_keys() -> TestApp {
    let app = TestApp::signed_in().await;
    app.app_credential().await;
    app.add_api_key(
        "reader",
        READ_KEY,
        mailport::store::api_keys::ApiScope::Read,
    )
    .await;
    app.add_api_key(
        "admin",
        ADMIN_KEY,
        mailport::store::api_keys::ApiScope::Admin,
    )
    .await;
    app
}

/// A request with an API key (no cookies, no CSRF token).
async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    key: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut r = reqwest::Client::new()
        .request(method, app.url(&format!("/api/v1{path}")))
        .bearer_auth(key);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().await.expect("request");
    let status = r.status();
    let text = r.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn account(app: &TestApp, id: &str, mailbox: &str) -> Value {
    json!({
        "id": id,
        "description": format!("{id} desk"),
        "mailbox": mailbox,
        "credential_id": "app",
        "after_import": "keep",
        "graph_url": format!("{}/v1.0", app.sandbox.base_url),
        "poll_interval": 120,
        "enabled": true,
    })
}

async fn total(app: &TestApp) -> i64 {
    app.api("/accounts").await["total"].as_i64().expect("total")
}

#[tokio::test]
async fn an_admin_key_creates_changes_and_deletes_accounts_and_a_read_key_only_reads() {
    let app = with_keys().await;
    let body = account(&app, "sales", "sales@contoso.example");

    // A read key may read but not write; nothing changes.
    let (status, err) = call(
        &app,
        Method::POST,
        "/accounts",
        READ_KEY,
        Some(body.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(err["error"]["code"], "forbidden");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("admin scope")
    );
    assert_eq!(total(&app).await, 0);
    let (status, _) = call(&app, Method::GET, "/accounts", READ_KEY, None).await;
    assert_eq!(status, StatusCode::OK);

    // Create.
    let r = reqwest::Client::new()
        .post(app.url("/api/v1/accounts"))
        .bearer_auth(ADMIN_KEY)
        .json(&body)
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(location(&r), "/api/v1/accounts/sales");
    let created: Value = r.json().await.expect("json");
    assert_eq!(created["id"], "sales");
    assert_eq!(created["poll_interval"], 120);
    assert_eq!(created["after_import"], "keep");
    assert!(created["warnings"].is_array());
    assert_eq!(
        app.api("/accounts/sales").await["mailbox"],
        "sales@contoso.example"
    );

    // The same id again: 409, and the stored account is untouched.
    let mut again = body.clone();
    again["description"] = json!("overwritten?");
    let (status, err) = call(&app, Method::POST, "/accounts", ADMIN_KEY, Some(again)).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(err["error"]["code"], "conflict");
    assert_eq!(
        app.api("/accounts/sales").await["description"],
        "sales desk"
    );

    // PATCH changes only what it names; the read key still cannot.
    let patch = json!({"description": "Sales desk", "enabled": false});
    let (status, _) = call(
        &app,
        Method::PATCH,
        "/accounts/sales",
        READ_KEY,
        Some(patch.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, changed) = call(
        &app,
        Method::PATCH,
        "/accounts/sales",
        ADMIN_KEY,
        Some(patch),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(changed["description"], "Sales desk");
    assert_eq!(changed["enabled"], false);
    assert_eq!(changed["status"], "disabled");
    assert_eq!(changed["mailbox"], "sales@contoso.example");
    assert_eq!(changed["poll_interval"], 120);

    // PUT replaces: what it leaves out takes the defaults; it creates a missing account.
    let (status, replaced) = call(
        &app,
        Method::PUT,
        "/accounts/sales",
        ADMIN_KEY,
        Some(
            json!({"mailbox": "sales@contoso.example", "credential_id": "app",
                    "graph_url": format!("{}/v1.0", app.sandbox.base_url)}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(replaced["description"], "");
    assert_eq!(replaced["poll_interval"], 60);
    assert_eq!(replaced["after_import"], "move");
    assert_eq!(replaced["enabled"], true);
    let (status, _) = call(
        &app,
        Method::PUT,
        "/accounts/support",
        ADMIN_KEY,
        Some(account(&app, "support", "support@contoso.example")),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(total(&app).await, 2);

    // DELETE, then it is gone.
    let (status, _) = call(&app, Method::DELETE, "/accounts/support", READ_KEY, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = call(&app, Method::DELETE, "/accounts/support", ADMIN_KEY, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, err) = call(&app, Method::DELETE, "/accounts/support", ADMIN_KEY, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(err["error"]["code"], "not_found");
    assert_eq!(total(&app).await, 1);
}

#[tokio::test]
async fn invalid_input_gets_the_forms_messages_as_json_and_changes_nothing() {
    let app = with_keys().await;
    let valid = account(&app, "desk", "desk@contoso.example");
    let cases: Vec<(Value, &str, &str)> = vec![
        (json!({"id": "bad id"}), "id", "Use 1 to 64 characters"),
        (
            json!({"mailbox": "not an address"}),
            "mailbox",
            "user principal name",
        ),
        (
            json!({"credential_id": "nope"}),
            "credential_id",
            "Choose one of the credentials",
        ),
        (json!({"poll_interval": 5}), "poll_interval", "from 10"),
        (
            json!({"graph_url": "javascript:alert(1)"}),
            "graph_url",
            "http",
        ),
        (
            json!({"after_import": "burn"}),
            "after_import",
            "Choose what happens",
        ),
        (
            json!({"import_since": "yesterday"}),
            "import_since",
            "YYYY-MM-DD",
        ),
        (json!({"id": "import"}), "id", "names a page"),
    ];
    for (change, field, message) in cases {
        let mut body = valid.clone();
        for (k, v) in change.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (status, err) = call(&app, Method::POST, "/accounts", ADMIN_KEY, Some(body)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{field}");
        assert_eq!(err["error"]["code"], "validation_failed", "{field}");
        let got = err["error"]["fields"][field].as_str().unwrap_or_default();
        assert!(got.contains(message), "{field}: {got}");
        assert!(
            err["error"]["message"]
                .as_str()
                .unwrap()
                .contains("Nothing was saved")
        );
    }
    // Not JSON, a wrong type, an unknown field: 400 in the same format.
    for raw in [
        "{not json",
        r#"{"poll_interval": "often"}"#,
        r#"{"colour": "red"}"#,
    ] {
        let r = reqwest::Client::new()
            .post(app.url("/api/v1/accounts"))
            .bearer_auth(ADMIN_KEY)
            .header("content-type", "application/json")
            .body(raw)
            .send()
            .await
            .expect("POST");
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{raw}");
        let err: Value = r.json().await.expect("json");
        assert_eq!(err["error"]["code"], "bad_request", "{raw}");
    }
    // The id of a PATCH cannot change.
    call(
        &app,
        Method::POST,
        "/accounts",
        ADMIN_KEY,
        Some(valid.clone()),
    )
    .await;
    let (status, err) = call(
        &app,
        Method::PATCH,
        "/accounts/desk",
        ADMIN_KEY,
        Some(json!({"id": "other"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(err["error"]["fields"]["id"].is_string());
    assert_eq!(total(&app).await, 1);
    assert_eq!(app.api("/accounts/desk").await["id"], "desk");
}

#[tokio::test]
async fn a_session_writes_through_the_api_only_with_its_csrf_token() {
    let app = with_keys().await;
    let body = account(&app, "desk", "desk@contoso.example");
    let r = app
        .client
        .post(app.url("/api/v1/accounts"))
        .json(&body)
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(total(&app).await, 0);
    let r = app
        .client
        .post(app.url("/api/v1/accounts"))
        .header("x-csrf-token", app.csrf().await)
        .json(&body)
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(total(&app).await, 1);
}

#[tokio::test]
async fn the_list_pages_and_filters_and_bulk_changes_enable_or_disable_many() {
    let app = with_keys().await;
    for n in 1..=7 {
        let mut body = account(
            &app,
            &format!("desk-{n}"),
            &format!("desk{n}@contoso.example"),
        );
        if n == 3 {
            body["description"] = json!("The Helpdesk of Lyon");
        }
        let (status, _) = call(&app, Method::POST, "/accounts", ADMIN_KEY, Some(body)).await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let page = app.api("/accounts?per_page=3&page=3").await;
    assert_eq!(page["total"], 7);
    assert_eq!(
        (page["page"].as_i64(), page["per_page"].as_i64()),
        (Some(3), Some(3))
    );
    let ids: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["desk-7"]);
    assert_eq!(page["lag"]["scheduled"], 7);
    // Search is case-insensitive over id, mailbox and description; % is taken literally.
    assert_eq!(app.api("/accounts?q=helpdesk%20OF").await["total"], 1);
    assert_eq!(app.api("/accounts?q=DESK5%40").await["total"], 1);
    assert_eq!(app.api("/accounts?q=%25").await["total"], 0);
    assert_eq!(app.api("/accounts?credential=app").await["total"], 7);
    assert_eq!(app.api("/accounts?credential=other").await["total"], 0);
    for bad in ["?page=0", "?per_page=501", "?status=sleepy", "?page=x"] {
        let r = app.get(&format!("/api/v1/accounts{bad}")).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{bad}");
        let err: Value = r.json().await.expect("json");
        assert_eq!(err["error"]["code"], "bad_request");
    }

    // Bulk: unknown ids change nothing.
    let (status, err) = call(
        &app,
        Method::PATCH,
        "/accounts",
        ADMIN_KEY,
        Some(json!({"ids": ["desk-1", "nobody"], "enabled": false})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        err["error"]["fields"]["ids"]
            .as_str()
            .unwrap()
            .contains("nobody")
    );
    assert_eq!(app.api("/accounts?status=disabled").await["total"], 0);
    let (status, _) = call(
        &app,
        Method::PATCH,
        "/accounts",
        READ_KEY,
        Some(json!({"ids": ["desk-1"], "enabled": false})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // By ids, then by filter.
    let (status, done) = call(
        &app,
        Method::PATCH,
        "/accounts",
        ADMIN_KEY,
        Some(json!({"ids": ["desk-1", "desk-2", "desk-2"], "enabled": false})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (done["matched"].as_i64(), done["changed"].as_i64()),
        (Some(2), Some(2))
    );
    let disabled = app.api("/accounts?status=disabled").await;
    assert_eq!(disabled["total"], 2);
    assert!(
        disabled["items"][0]["poll"]["lag"].is_null(),
        "not scheduled"
    );
    let (status, done) = call(
        &app,
        Method::PATCH,
        "/accounts",
        ADMIN_KEY,
        Some(json!({"filter": {"q": "desk"}, "enabled": false})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (done["matched"].as_i64(), done["changed"].as_i64()),
        (Some(7), Some(5))
    );
    let (_, done) = call(
        &app,
        Method::PATCH,
        "/accounts",
        ADMIN_KEY,
        Some(json!({"filter": {"status": "disabled"}, "enabled": true})),
    )
    .await;
    assert_eq!(done["changed"], 7);
    assert_eq!(app.api("/accounts?status=ok").await["total"], 7);
    let (status, _) = call(
        &app,
        Method::PATCH,
        "/accounts",
        ADMIN_KEY,
        Some(json!({"enabled": true})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_accounts_page_is_paged_searchable_and_filterable() {
    let app = with_keys().await;
    for n in 1..=60 {
        let body = account(
            &app,
            &format!("box-{n:02}"),
            &format!("box{n}@contoso.example"),
        );
        call(&app, Method::POST, "/accounts", ADMIN_KEY, Some(body)).await;
    }
    let first = app.get_text("/accounts").await;
    assert!(first.contains("1–50 of 60 accounts"));
    assert!(first.contains("box-50") && !first.contains("box-51"));
    assert!(first.contains("Page 1 of 2") && first.contains("rel=\"next\""));
    assert!(first.contains("Accounts scheduled: 60,"));
    let second = app.get_text("/accounts?page=2").await;
    assert!(second.contains("51–60 of 60") && second.contains("box-60"));
    let found = app.get_text("/accounts?q=BOX-07").await;
    assert!(found.contains("1–1 of 1") && found.contains("box-07"));
    assert!(
        app.get_text("/accounts?status=error")
            .await
            .contains("No email server account matches")
    );
    let r = app.get("/accounts?status=nonsense").await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}
