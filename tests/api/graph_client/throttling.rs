//! Throttling and failures: Retry-After, the request budget, retries with backoff, and
//! the cap on requests in flight per mailbox.

use super::*;

/// [`fast`], keeping a request budget of its own.
fn budgeted(requests: usize, window: Duration) -> GraphSettings {
    GraphSettings {
        mailbox_budget: Some(mailport::graph::RequestBudget { requests, window }),
        ..fast()
    }
}

#[tokio::test]
async fn retry_after_seconds_and_http_date_are_honoured() {
    let f = spawn().await;
    f.seed("inbox", 3, 1500);
    let client = f.client();
    let inbox = f.folder_id("inbox");
    f.state().reset_request_log();
    f.push(vec![(
        Fault::Throttle {
            retry_after: Some(RetryAfter::Seconds("1".into())),
        },
        FaultTarget::List,
    )]);
    let page = client.list_messages(&inbox, None).await.expect("after 429");
    assert_eq!(page.messages.len(), 3);
    let times = f.received_at("list");
    assert_eq!(times.len(), 2);
    let gap = (times[1] - times[0]).as_seconds_f64();
    assert!(gap >= 0.95, "waited {gap} s");
    assert!(gap < 3.0, "waited {gap} s");

    // An HTTP-date has whole seconds: two seconds ahead means at least one second of waiting.
    f.state().reset_request_log();
    f.push(vec![(
        Fault::Throttle {
            retry_after: Some(RetryAfter::HttpDateIn(2)),
        },
        FaultTarget::List,
    )]);
    client.list_messages(&inbox, None).await.expect("after 429");
    let times = f.received_at("list");
    assert_eq!(times.len(), 2);
    let gap = (times[1] - times[0]).as_seconds_f64();
    assert!(gap >= 0.95, "waited {gap} s");

    let stats = client.stats();
    assert_eq!((stats.throttled, stats.retries), (2, 2));
    assert!(
        stats.log[0].starts_with("429 TooManyRequests on GET …/"),
        "{:?}",
        stats.log
    );
    assert!(
        stats.log[0].contains("retrying in 1.0 s"),
        "{:?}",
        stats.log
    );
}

#[tokio::test]
async fn the_request_budget_of_a_mailbox_is_waited_out_not_hammered() {
    let f = spawn().await;
    f.seed("inbox", 1, 1500);
    let inbox = f.folder_id("inbox");
    // Microsoft's 10,000 requests per 10 minutes, scaled down: 5 per 2 seconds.
    f.sandbox_budget(5, 2);
    f.state().reset_request_log();
    let client = f.client();
    for _ in 0..8 {
        let page = client.list_messages(&inbox, None).await.expect("listed");
        assert_eq!(page.messages.len(), 1);
    }
    let log = f.state().request_log();
    let mut lists: Vec<_> = log
        .entries
        .iter()
        .filter(|e| e.kind.as_deref() == Some("list"))
        .collect();
    lists.sort_by_key(|e| e.seq);
    let refused = lists.iter().filter(|e| e.status == Some(429)).count();
    // The sixth request runs into the budget. After a refusal the client waits for the
    // announced time (whole seconds here) before it sends again, instead of retrying into
    // the wall; how many refusals that takes depends on how fast the first five went.
    assert!((1..=3).contains(&refused), "{:?}", log.statuses);
    assert_eq!(lists.len(), 8 + refused);
    for pair in lists.windows(2) {
        if pair[0].status == Some(429) {
            let at = |e: &&mailport::sandbox::graph::LogEntry| {
                OffsetDateTime::parse(&e.received_at, &Rfc3339).expect("time")
            };
            let gap = (at(&pair[1]) - at(&pair[0])).as_seconds_f64();
            assert!(gap >= 0.95, "sent again {gap} s after a 429");
        }
    }
    assert_eq!(client.stats().throttled, refused as u64);
}

#[tokio::test]
async fn the_client_keeps_within_the_request_budget_without_a_single_429() {
    let f = spawn().await;
    f.seed("inbox", 1, 1500);
    let inbox = f.folder_id("inbox");
    f.sandbox_budget(5, 2);
    f.state().reset_request_log();
    // A window a little longer than the sandbox's, as the default is longer than Exchange's.
    let client = f.client_with(
        Arc::new(FixedToken(APP_TOKEN)),
        budgeted(5, Duration::from_millis(2500)),
    );
    // Eight requests at once: five go, three wait for the window, none is refused.
    let lists = (0..8).map(|_| client.list_messages(&inbox, None));
    for page in futures_util::future::join_all(lists).await {
        assert_eq!(page.expect("listed").messages.len(), 1);
    }
    let log = f.state().request_log();
    assert_eq!(log.statuses.get(&429), None, "{:?}", log.statuses);
    let mut times = f.received_at("list");
    times.sort();
    assert_eq!(times.len(), 8);
    let gap = (times[5] - times[0]).as_seconds_f64();
    assert!(gap >= 2.0, "the sixth request came {gap} s after the first");
    assert_eq!(client.stats().throttled, 0);
}

#[tokio::test]
async fn a_client_that_may_not_wait_long_for_the_budget_answers_at_once() {
    let f = spawn().await;
    f.seed("inbox", 1, 1500);
    let inbox = f.folder_id("inbox");
    f.state().reset_request_log();
    let client = f.client_with(
        Arc::new(FixedToken(APP_TOKEN)),
        GraphSettings {
            budget_wait_limit: Some(Duration::from_secs(5)),
            ..budgeted(2, Duration::from_secs(600))
        },
    );
    client.list_messages(&inbox, None).await.expect("first");
    client.list_messages(&inbox, None).await.expect("second");
    let started = Instant::now();
    let error = client
        .list_messages(&inbox, None)
        .await
        .expect_err("over the budget");
    assert!(started.elapsed() < Duration::from_secs(5), "it waited");
    assert_eq!(error.kind, GraphErrorKind::Throttled);
    assert!(error.to_string().contains("the next may go in"), "{error}");
    // Nothing was sent for it.
    assert_eq!(f.state().request_log().totals["list"], 2);
}

#[tokio::test]
async fn server_errors_are_retried_with_backoff_and_bounded() {
    let f = spawn().await;
    f.seed("inbox", 2, 1500);
    let inbox = f.folder_id("inbox");
    let client = f.client_with(
        Arc::new(FixedToken(APP_TOKEN)),
        GraphSettings {
            max_attempts: 4,
            base_backoff: Duration::from_millis(80),
            ..fast()
        },
    );
    f.state().reset_request_log();
    f.push(vec![
        (
            Fault::ServiceUnavailable { retry_after: None },
            FaultTarget::List,
        ),
        (Fault::GatewayTimeout, FaultTarget::List),
        (Fault::Throttle { retry_after: None }, FaultTarget::List),
    ]);
    let started = Instant::now();
    let page = client
        .list_messages(&inbox, None)
        .await
        .expect("4th attempt");
    assert_eq!(page.messages.len(), 2);
    // Backoff 80, 160, 320 ms, each at least half of that with jitter.
    assert!(
        started.elapsed() >= Duration::from_millis(280),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(f.received_at("list").len(), 4);

    f.state().reset_request_log();
    f.push(
        (0..5)
            .map(|_| {
                (
                    Fault::ServiceUnavailable { retry_after: None },
                    FaultTarget::List,
                )
            })
            .collect(),
    );
    let e = client
        .list_messages(&inbox, None)
        .await
        .expect_err("gives up");
    assert_eq!(e.kind, GraphErrorKind::Server);
    assert_eq!(e.status, Some(503));
    assert!(e.message.contains("gave up after 4 attempts"), "{e}");
    assert_eq!(f.received_at("list").len(), 4);
    assert!(e.request_id.is_some());
    f.state().clear_faults();

    // Throttling that never ends becomes Throttled.
    f.push(
        (0..4)
            .map(|_| {
                (
                    Fault::Throttle {
                        retry_after: Some(RetryAfter::Seconds("0.01".into())),
                    },
                    FaultTarget::List,
                )
            })
            .collect(),
    );
    let e = client
        .list_messages(&inbox, None)
        .await
        .expect_err("gives up");
    assert_eq!(e.kind, GraphErrorKind::Throttled);
}

#[tokio::test]
async fn at_most_four_requests_in_flight_per_mailbox() {
    let f = spawn().await;
    let seeded = f.seed("inbox", 12, 100_000);
    f.state().set_delay_ms(ADELE, 250).expect("delay");
    f.state().reset_request_log();
    // Three clients (think: three folders of one mailbox) sharing one registry.
    let clients: Vec<GraphClient> = (0..3).map(|_| f.client()).collect();
    let started = Instant::now();
    let downloads = seeded.iter().enumerate().map(|(i, info)| {
        let client = clients[i % 3].clone();
        async move {
            let mut sink = Vec::new();
            let n = client
                .download_value(&info.immutable_id, &mut sink, 10_000_000)
                .await
                .expect("download");
            assert_eq!(n as usize, info.size);
            hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&sink)) == info.sha256
        }
    });
    let results = futures_util::future::join_all(downloads).await;
    assert!(results.into_iter().all(|ok| ok));
    // 12 requests, 4 at a time, 250 ms each.
    assert!(
        started.elapsed() >= Duration::from_millis(700),
        "{:?}",
        started.elapsed()
    );
    let log = f.state().request_log();
    assert_eq!(log.max_concurrent.get(ADELE_ID), Some(&4));
    assert_eq!(log.totals.get("value"), Some(&12));
    assert_eq!(log.statuses.get(&429), None, "never throttled by Exchange");
    assert!(clients.iter().all(|c| c.stats().throttled == 0));
}
