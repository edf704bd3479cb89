//! The client against a small hostile server of our own: foreign nextLinks (the SSRF
//! guard), the headers every request carries, HTML, malformed and oversized answers.

use super::*;

/// A "Graph" that answers every list with a nextLink to another port, plus some broken answers.
async fn hostile_server(other_port: u16, seen: Arc<Mutex<Seen>>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let app = Router::new().fallback(move |uri: Uri, headers: HeaderMap| {
        let seen = seen.clone();
        async move {
            seen.lock()
                .expect("lock")
                .requests
                .push((uri.to_string(), headers));
            let path = uri.path().to_string();
            if path.contains("/html/") {
                return (
                    [("content-type", "text/html")],
                    "<html>Sign in</html>".to_string(),
                )
                    .into_response();
            }
            if path.contains("/broken/") {
                return (
                    [("content-type", "application/json")],
                    "{\"value\": [{\"id\": 42}".to_string(),
                )
                    .into_response();
            }
            if path.contains("/huge/") {
                let big = format!("{{\"value\":[],\"pad\":\"{}\"}}", "x".repeat(200_000));
                return ([("content-type", "application/json")], big).into_response();
            }
            axum::Json(json!({
                "value": [{"id": "AAMkAD=", "subject": "bait"}],
                "@odata.nextLink": format!(
                    "http://127.0.0.1:{other_port}/v1.0/users/x/mailFolders/inbox/messages?$skip=1"
                ),
            }))
            .into_response()
        }
    });
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    port
}

#[tokio::test]
async fn foreign_next_links_and_broken_answers_are_refused() {
    // The server a foreign link points at: it must never be contacted.
    let other_seen = Arc::new(Mutex::new(Seen::default()));
    let other_port = hostile_server(1, other_seen.clone()).await;
    let seen = Arc::new(Mutex::new(Seen::default()));
    let port = hostile_server(other_port, seen.clone()).await;
    let target = MailboxTarget {
        graph_url: format!("http://127.0.0.1:{port}/v1.0"),
        mailbox: Some(ADELE.into()),
    };
    let client = GraphClient::new(
        http(&target.graph_url),
        &target,
        Arc::new(FixedToken("tok.en.value")),
        &MailboxLimits::new(),
        GraphSettings {
            json_limit_bytes: 100_000,
            ..fast()
        },
    )
    .expect("client");

    let e = client
        .list_messages("inbox", None)
        .await
        .expect_err("a page with a foreign nextLink");
    assert_eq!(e.kind, GraphErrorKind::ForeignLink);
    let link = format!("http://127.0.0.1:{other_port}/v1.0/users/x/mailFolders/inbox/messages");
    for hostile in [
        link.as_str(),
        &format!("http://127.0.0.1:{port}@127.0.0.1:{other_port}/v1.0/x"),
        &format!("http://127.0.0.1:{port}/v1.0/../x"),
        &format!("http://127.0.0.1:{port}/beta/x"),
    ] {
        let e = client
            .list_messages("inbox", Some(hostile))
            .await
            .expect_err(hostile);
        assert_eq!(e.kind, GraphErrorKind::ForeignLink, "{hostile}");
        let e = client
            .delta("inbox", DeltaCursor::Link(hostile))
            .await
            .expect_err(hostile);
        assert_eq!(e.kind, GraphErrorKind::ForeignLink, "{hostile}");
    }
    assert!(other_seen.lock().expect("lock").requests.is_empty());

    // Every request carries the headers Graph needs.
    {
        let seen = seen.lock().expect("lock");
        assert_eq!(seen.requests.len(), 1);
        let (uri, headers) = &seen.requests[0];
        assert!(
            uri.starts_with(
                "/v1.0/users/adele@contoso.onmicrosoft.com/mailFolders/inbox/messages?"
            )
        );
        assert!(uri.contains("$orderby=receivedDateTime%20asc"), "{uri}");
        assert_eq!(headers["prefer"], "IdType=\"ImmutableId\"");
        assert_eq!(headers["authorization"], "Bearer tok.en.value");
        let crid = headers["client-request-id"].to_str().expect("ascii");
        assert!(uuid::Uuid::parse_str(crid).is_ok(), "{crid}");
    }

    for (folder, what) in [
        ("html", "HTML"),
        ("broken", "malformed JSON"),
        ("huge", "too large"),
    ] {
        let e = client.list_messages(folder, None).await.expect_err(what);
        assert_eq!(e.kind, GraphErrorKind::BadResponse, "{what}: {e}");
        assert!(!e.message.contains("tok.en.value"));
    }
}
