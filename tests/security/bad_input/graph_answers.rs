//! Arbitrary JSON from Graph: an error or a page, never a panic or a hang.

use super::*;

struct FixedToken;

impl TokenSource for FixedToken {
    fn token(
        &self,
        _force_refresh: bool,
    ) -> Pin<Box<dyn Future<Output = Result<String, GraphError>> + Send + '_>> {
        Box::pin(async { Ok("fuzz-token".to_string()) })
    }
}

#[test]
fn graph_answers_of_any_shape_are_errors_or_pages_never_panics_or_hangs() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let hostile = rt.block_on(Hostile::spawn(Answer::json(200, "{}")));
    let base = format!("{}/v1.0", hostile.base);
    let client = {
        let _guard = rt.enter();
        GraphClient::new(
            // The hostile server is allowed explicitly, as `--allow-host` would.
            HostPolicy::new(vec![hostile.host().parse().expect("host")])
                .client(Use::Graph, reqwest::Client::builder())
                .expect("http"),
            &MailboxTarget {
                graph_url: base.clone(),
                mailbox: Some(ADELE.into()),
            },
            Arc::new(FixedToken),
            &MailboxLimits::new(),
            GraphSettings {
                max_attempts: 2,
                base_backoff: Duration::from_millis(1),
                max_backoff: Duration::from_millis(5),
                timeout: Duration::from_secs(2),
                ..GraphSettings::default()
            },
        )
        .expect("client")
    };
    let links = vec![
        format!("{base}/users/{ADELE}/mailFolders/inbox/messages?$skip=50"),
        format!("{base}/users/{ADELE}/mailFolders?$skip=10"),
        format!("{base}/../beta/me"),
        "https://evil.example/v1.0/me".to_string(),
        format!("{}@evil.example/v1.0/", hostile.base),
    ];
    let statuses = proptest::sample::select(vec![
        200u16, 200, 200, 400, 401, 403, 404, 409, 429, 500, 503,
    ]);
    runner(128)
        .run(
            &(statuses, json_value(links), any::<bool>()),
            |(status, body, raw_text)| {
                let mut answer = Answer::json(status, body.to_string());
                if raw_text {
                    // Not even JSON: truncated in the middle.
                    let text = body.to_string();
                    answer.body = text.as_bytes()[..text.len() / 2].to_vec();
                }
                if status == 429 {
                    answer.headers.push(("retry-after".into(), "0".into()));
                }
                hostile.set(answer);
                rt.block_on(bounded("Graph calls", async {
                    let _ = client.list_messages("inbox", None).await;
                    let _ = client
                        .delta(
                            "inbox",
                            DeltaCursor::Start {
                                received_since: None,
                            },
                        )
                        .await;
                    let _ = client.get_folder("inbox").await;
                    let _ = client.list_child_folders(None).await;
                    let _ = client.resolve_folder_path("Inbox/Service desk").await;
                }));
                Ok(())
            },
        )
        .expect("property");
}
