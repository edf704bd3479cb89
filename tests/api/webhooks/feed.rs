//! The changes feed `GET /api/v1/events`: stable opaque cursors, nothing skipped or repeated
//! while imports run, long-polling.

use std::collections::HashSet;
use std::time::Duration;

use super::*;

async fn page(http: &reqwest::Client, app: &TestApp, key: &str, query: &str) -> reqwest::Response {
    http.get(app.url(&format!("/api/v1/events{query}")))
        .bearer_auth(key)
        .send()
        .await
        .expect("feed")
}

#[tokio::test]
async fn a_consumer_reading_while_2000_messages_are_imported_sees_each_once_and_in_order() {
    let app = app_with_account(None).await;
    let key = api_key(&app).await;
    let total = 2000;
    seed(&app, total);
    let importer = {
        let state = app.state.clone();
        tokio::spawn(async move {
            for _ in 0..10 {
                let s = state.importer.run_account("acct").await.expect("run");
                assert_eq!(s.outcome, "ok");
                if s.imported == 0 {
                    break;
                }
            }
        })
    };
    // The consumer stores its cursor after each page, as the README tells.
    let http = reqwest::Client::new();
    let mut cursor: Option<String> = None;
    let mut seen: Vec<i64> = Vec::new();
    let mut pages = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    while seen.len() < total {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the feed stalled at {}",
            seen.len()
        );
        let query = match &cursor {
            Some(c) => format!("?after={c}&limit=137&wait=2"),
            None => "?limit=137&wait=2".into(),
        };
        let r = page(&http, &app, &key, &query).await;
        assert_eq!(r.status(), StatusCode::OK);
        let body: Value = r.json().await.expect("json");
        for e in body["events"].as_array().expect("events") {
            assert_eq!(e["type"], "message.imported");
            seen.push(e["data"]["message"]["id"].as_i64().expect("id"));
        }
        cursor = Some(
            body["next_cursor"]
                .as_str()
                .expect("next_cursor")
                .to_string(),
        );
        pages += 1;
    }
    importer.await.expect("importer");
    let unique: HashSet<i64> = seen.iter().copied().collect();
    assert_eq!(unique.len(), seen.len(), "an event was repeated");
    let stored: Vec<i64> = sqlx::query_scalar("SELECT id FROM messages ORDER BY id")
        .fetch_all(&app.state.db)
        .await
        .expect("ids");
    assert_eq!(seen, stored, "every message once, in import order");
    // Caught up: an empty page that keeps the cursor.
    let last = cursor.expect("cursor");
    let body: Value = page(&http, &app, &key, &format!("?after={last}"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(body["events"].as_array().map(Vec::len), Some(0));
    assert_eq!(body["next_cursor"], last.as_str());
    println!("feed: {total} messages read in {pages} pages while importing: 0 skipped, 0 repeated");
}

#[tokio::test]
async fn a_long_poll_answers_as_soon_as_mail_arrives() {
    let app = app_with_account(None).await;
    let key = api_key(&app).await;
    let http = reqwest::Client::new();
    let body: Value = page(&http, &app, &key, "")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(body["events"].as_array().map(Vec::len), Some(0));
    let start = body["next_cursor"].as_str().expect("cursor").to_string();

    let waiting = {
        let url = app.url(&format!("/api/v1/events?after={start}&wait=60"));
        let key = key.clone();
        tokio::spawn(async move {
            reqwest::Client::new()
                .get(url)
                .bearer_auth(key)
                .send()
                .await
                .expect("long poll")
                .json::<Value>()
                .await
                .expect("json")
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !waiting.is_finished(),
        "the long poll answered before any mail came"
    );
    seed(&app, 1);
    import_all(&app).await;
    let body = tokio::time::timeout(Duration::from_secs(30), waiting)
        .await
        .expect("the long poll answered")
        .expect("task");
    let events = body["events"].as_array().expect("events");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["cursor"], body["next_cursor"]);
    assert!(events[0]["data"]["message"]["raw_url"].is_string());
}

#[tokio::test]
async fn bad_feed_parameters_are_refused_with_a_reason() {
    let app = app_with_account(None).await;
    let key = api_key(&app).await;
    let http = reqwest::Client::new();
    for query in [
        "?after=42",
        "?after=not-a-cursor",
        "?limit=0",
        "?limit=1001",
        "?limit=ten",
        "?wait=61",
        "?wait=-1",
    ] {
        let r = page(&http, &app, &key, query).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{query}");
        let body: Value = r.json().await.expect("json");
        assert_eq!(body["error"]["code"], "bad_request", "{query}");
    }
    let anonymous = reqwest::get(app.url("/api/v1/events")).await.expect("GET");
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}
