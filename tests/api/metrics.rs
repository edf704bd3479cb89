//! `/metrics`: what an import leaves in the counters, who may scrape, and the text being
//! valid Prometheus exposition format (version 0.0.4) that a Prometheus server accepts.

use mailport::sandbox::graph::{Fault, FaultSpec, FaultTarget, GenerateSpec};
use prometheus_parse::{LineInfo, SampleType, Scrape, Value};
use reqwest::StatusCode;

use crate::helpers::*;

const KEY: &str = "mp_metrics_tests_0123456789abcdefghijklmnop";

async fn with_key(app: &TestApp) {
    mailport::store::api_keys::create(
        &app.state.db,
        "prometheus",
        &mailport::crypto::sha256_hex(KEY.as_bytes()),
    )
    .await
    .expect("api key");
}

/// `GET /metrics` with the API key: the text, after checking status and content type.
async fn scrape(app: &TestApp) -> String {
    let r = reqwest::Client::new()
        .get(app.url("/metrics"))
        .bearer_auth(KEY)
        .send()
        .await
        .expect("GET /metrics");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers()[reqwest::header::CONTENT_TYPE],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    r.text().await.expect("body")
}

/// Parses strictly: every line is a HELP, a TYPE or a sample (a line the parser would skip
/// is an error), every sample belongs to a family declared by a TYPE line before it, and
/// every family has a HELP line.
fn parse_strictly(text: &str) -> Scrape {
    assert!(text.ends_with('\n'), "the text ends with a line feed");
    let mut declared: Vec<(String, SampleType)> = Vec::new();
    let mut helped: Vec<String> = Vec::new();
    for line in text.lines() {
        match LineInfo::parse(line) {
            LineInfo::Doc { metric_name, .. } => helped.push(metric_name.to_string()),
            LineInfo::Type {
                metric_name,
                metric_alias,
                sample_type,
            } => declared.push((metric_alias.unwrap_or(metric_name), sample_type)),
            LineInfo::Sample {
                metric_name, value, ..
            } => {
                let family = declared.iter().find(|(name, kind)| {
                    metric_name == name
                        || (*kind == SampleType::Histogram
                            && ["_bucket", "_sum", "_count"]
                                .iter()
                                .any(|s| metric_name == format!("{name}{s}")))
                });
                assert!(
                    family.is_some(),
                    "sample before or without its TYPE line: {line}"
                );
                assert!(
                    value.parse::<f64>().is_ok() || value == "+Inf",
                    "value: {line}"
                );
            }
            LineInfo::Empty | LineInfo::Ignored => panic!("not Prometheus text: {line:?}"),
        }
    }
    for (name, _) in &declared {
        assert!(helped.contains(name), "{name} has no HELP line");
        assert!(
            name.starts_with("mailport_")
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
            "{name}"
        );
    }
    Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).expect("parse")
}

/// The value of the sample `name` whose labels include `labels`.
fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape
        .samples
        .iter()
        .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match &s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
            Value::Histogram(buckets) => buckets
                .iter()
                .find(|b| b.less_than.is_infinite())
                .map_or(0.0, |b| b.count),
            Value::Summary(_) => f64::NAN,
        })
}

#[tokio::test]
async fn a_scrape_after_an_import_counts_the_messages_a_throttled_request_and_a_token_refresh() {
    let app = TestApp::signed_in().await;
    with_key(&app).await;
    app.app_credential().await;
    // Before anything ran: the families exist, at zero.
    let before = parse_strictly(&scrape(&app).await);
    assert_eq!(
        value(&before, "mailport_graph_throttled_total", &[]),
        Some(0.0)
    );
    assert_eq!(
        value(
            &before,
            "mailport_instance_info",
            &[("instance", app.state.config.instance_id())]
        ),
        Some(1.0),
        "the instance names itself"
    );

    // The token is about to expire, so the run refreshes it first; Graph throttles one
    // listing, which the importer retries.
    app.expire_token_in("app", 10).await;
    app.graph()
        .push_faults(vec![FaultSpec {
            fault: Fault::Throttle { retry_after: None },
            target: FaultTarget::List,
            mailbox: None,
        }])
        .expect("fault");
    let seeded = 7;
    app.graph()
        .seed_generated(
            ADELE,
            "Inbox",
            &GenerateSpec {
                count: seeded,
                ..GenerateSpec::default()
            },
        )
        .expect("seed");
    let r = app.create_account("acct", &[]).await;
    assert_is_redirect_to(&r, "/accounts/acct");
    let summary = app.state.importer.run_account("acct").await.expect("run");
    assert_eq!(summary.imported, seeded as i64, "{summary:?}");

    let after = parse_strictly(&scrape(&app).await);
    let acct = [("account", "acct")];
    assert_eq!(
        value(&after, "mailport_messages_imported_total", &acct),
        Some(seeded as f64),
        "what the sandbox held"
    );
    assert_eq!(
        value(&after, "mailport_graph_throttled_total", &[]),
        Some(1.0)
    );
    assert_eq!(
        value(
            &after,
            "mailport_graph_responses_total",
            &[("status", "429")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(&after, "mailport_graph_retries_total", &acct),
        Some(1.0)
    );
    assert_eq!(
        value(
            &after,
            "mailport_token_refreshes_total",
            &[("credential", "app")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &after,
            "mailport_import_runs_total",
            &[("account", "acct"), ("outcome", "ok")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(&after, "mailport_message_import_failures_total", &acct),
        Some(0.0)
    );
    assert_eq!(
        value(
            &after,
            "mailport_import_run_duration_seconds",
            &[("outcome", "ok")]
        ),
        Some(1.0),
        "one run in the histogram"
    );
    let requests =
        value(&after, "mailport_graph_request_duration_seconds", &[]).expect("latency histogram");
    let ok = value(
        &after,
        "mailport_graph_responses_total",
        &[("status", "200")],
    )
    .expect("200s");
    assert!(
        requests >= ok + 1.0,
        "every exchange timed: {requests} vs {ok}"
    );
    // Polled just now, successfully.
    let lag = value(&after, "mailport_import_lag_seconds", &acct).expect("lag gauge");
    assert!((0.0..5.0).contains(&lag), "{lag}");
    assert!(value(&after, "mailport_poll_lag_seconds", &acct).is_some());
    // Labels name ids only: never the mailbox address.
    assert!(
        after
            .samples
            .iter()
            .all(|s| !format!("{:?}", s.labels).contains(ADELE)),
        "no mailbox address in a label"
    );
}

#[tokio::test]
async fn a_refused_token_request_counts_as_a_failure_of_its_credential() {
    let app = TestApp::signed_in().await;
    with_key(&app).await;
    app.create_credential(
        "wrong",
        "client_credentials",
        &[("client_secret", "not-the-secret")],
    )
    .await;
    app.post_form("/credentials/wrong/token", &[]).await;
    assert_eq!(
        app.credential("wrong").await["token"]["status"],
        "invalid_client"
    );
    let scrape = parse_strictly(&scrape(&app).await);
    assert_eq!(
        value(
            &scrape,
            "mailport_token_failures_total",
            &[("credential", "wrong")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &scrape,
            "mailport_token_refreshes_total",
            &[("credential", "wrong")]
        ),
        None,
        "no token was obtained"
    );
}

#[tokio::test]
async fn metrics_need_an_api_key_or_a_session() {
    let app = TestApp::signed_in().await;
    with_key(&app).await;
    let stranger = reqwest::Client::new();
    let r = stranger.get(app.url("/metrics")).send().await.expect("GET");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(!r.text().await.expect("body").contains("mailport_"));
    let r = stranger
        .get(app.url("/metrics"))
        .bearer_auth("mp_not_a_key_0123456789abcdefghijklmnopq")
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // The signed-in administrator's browser may look.
    let r = app.get("/metrics").await;
    assert_eq!(r.status(), StatusCode::OK);
    parse_strictly(&r.text().await.expect("body"));
}

#[tokio::test]
async fn two_apps_in_one_process_keep_their_own_counters() {
    let first = TestApp::signed_in().await;
    let second = TestApp::signed_in().await;
    for app in [&first, &second] {
        with_key(app).await;
        app.app_credential().await;
    }
    first.import_seeded(2).await;
    let seen = parse_strictly(&scrape(&second).await);
    assert_eq!(
        value(
            &seen,
            "mailport_messages_imported_total",
            &[("account", "acct")]
        ),
        None,
        "the other app's import is not counted here"
    );
    let own = parse_strictly(&scrape(&first).await);
    assert_eq!(
        value(
            &own,
            "mailport_messages_imported_total",
            &[("account", "acct")]
        ),
        Some(2.0)
    );
}
