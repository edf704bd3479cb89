//! Mailport's Graph client against the Graph sandbox over real HTTP (and, for the SSRF guard
//! and malformed answers, against a small hostile server of our own).

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::Router;
use axum::http::{HeaderMap, Uri};
use axum::response::IntoResponse;
use mailport::graph::{
    DeltaCursor, GraphClient, GraphError, GraphErrorKind, GraphSettings, MailboxLimits,
    MailboxTarget, TokenSource,
};
use mailport::outbound::{HostPolicy, OutboundClient, Use};
use mailport::sandbox::graph::{
    Fault, FaultSpec, FaultTarget, GenerateSpec, GraphState, MessageInfo, RetryAfter,
};
use mailport::sandbox::world::{AccessGrant, DEMO_CLIENT_ID, DEMO_TENANT_ID};
use mailport::sandbox::{self, SandboxConfig, SandboxHandle};
use mailport::store::blobs::BlobStore;
use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::net::TcpListener;

const ADELE: &str = "adele@contoso.onmicrosoft.com";
const ADELE_ID: &str = "0c2bd9a4-5c3e-4b8e-9a51-6a0d1e2f3a41";
const APP_TOKEN: &str = "eyJ0eXAi.graph-client-app.sig";

/// Always the same token.
struct FixedToken(&'static str);

impl TokenSource for FixedToken {
    fn token(
        &self,
        _force_refresh: bool,
    ) -> Pin<Box<dyn Future<Output = Result<String, GraphError>> + Send + '_>> {
        Box::pin(async move { Ok(self.0.to_string()) })
    }
}

/// Hands out the next token of its list on each forced refresh, and counts the refreshes.
struct RotatingToken {
    tokens: Vec<&'static str>,
    current: AtomicUsize,
    refreshes: AtomicUsize,
}

impl RotatingToken {
    fn new(tokens: Vec<&'static str>) -> Arc<Self> {
        Arc::new(RotatingToken {
            tokens,
            current: AtomicUsize::new(0),
            refreshes: AtomicUsize::new(0),
        })
    }
}

impl TokenSource for RotatingToken {
    fn token(
        &self,
        force_refresh: bool,
    ) -> Pin<Box<dyn Future<Output = Result<String, GraphError>> + Send + '_>> {
        Box::pin(async move {
            if force_refresh {
                self.refreshes.fetch_add(1, Ordering::SeqCst);
                let next = (self.current.load(Ordering::SeqCst) + 1).min(self.tokens.len() - 1);
                self.current.store(next, Ordering::SeqCst);
            }
            Ok(self.tokens[self.current.load(Ordering::SeqCst)].to_string())
        })
    }
}

fn grant(user: Option<&str>, roles: &[&str], scopes: &[&str], valid_for: i64) -> AccessGrant {
    let now = SystemTime::now();
    AccessGrant {
        tenant_id: DEMO_TENANT_ID.into(),
        client_id: DEMO_CLIENT_ID.into(),
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

fn app_grant(valid_for: i64) -> AccessGrant {
    grant(None, &["Mail.ReadWrite"], &[], valid_for)
}

struct Fixture {
    handle: SandboxHandle,
    graph_url: String,
    limits: MailboxLimits,
}

async fn spawn() -> Fixture {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let handle = sandbox::spawn(listener, SandboxConfig::demo(vec![]))
        .await
        .expect("sandbox");
    handle
        .sandbox
        .world
        .register_access_token(APP_TOKEN.into(), app_grant(3600));
    let graph_url = format!("{}/v1.0", handle.base_url);
    Fixture {
        handle,
        graph_url,
        limits: MailboxLimits::new(),
    }
}

/// Quick retries, so that tests of backoff stay fast.
fn fast() -> GraphSettings {
    GraphSettings {
        base_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_secs(5),
        timeout: Duration::from_secs(10),
        ..GraphSettings::default()
    }
}

/// [`fast`], keeping a request budget of its own.
fn budgeted(requests: usize, window: Duration) -> GraphSettings {
    GraphSettings {
        mailbox_budget: Some(mailport::graph::RequestBudget { requests, window }),
        ..fast()
    }
}

/// An outbound client that allows exactly the host and port of `graph_url` (the sandbox or
/// a test server), as `--allow-host` does.
fn http(graph_url: &str) -> OutboundClient {
    let url = url::Url::parse(graph_url).expect("graph url");
    let allowed = format!(
        "{}:{}",
        url.host_str().expect("host"),
        url.port_or_known_default().expect("port")
    );
    HostPolicy::new(vec![allowed.parse().expect("allowed host")])
        .client(Use::Graph, reqwest::Client::builder())
        .expect("http client")
}

impl Fixture {
    fn state(&self) -> &GraphState {
        &self.handle.sandbox.graph
    }

    fn target(&self, mailbox: Option<&str>) -> MailboxTarget {
        MailboxTarget {
            graph_url: self.graph_url.clone(),
            mailbox: mailbox.map(str::to_string),
        }
    }

    fn client_with(&self, tokens: Arc<dyn TokenSource>, settings: GraphSettings) -> GraphClient {
        GraphClient::new(
            http(&self.graph_url),
            &self.target(Some(ADELE)),
            tokens,
            &self.limits,
            settings,
        )
        .expect("client")
    }

    fn client(&self) -> GraphClient {
        self.client_with(Arc::new(FixedToken(APP_TOKEN)), fast())
    }

    fn seed(&self, folder: &str, count: usize, size: usize) -> Vec<MessageInfo> {
        let spec = GenerateSpec {
            count,
            size,
            ..GenerateSpec::default()
        };
        self.state()
            .seed_generated(ADELE, folder, &spec)
            .expect("seed")
    }

    fn folder_id(&self, well_known: &str) -> String {
        self.state()
            .folders(ADELE)
            .expect("folders")
            .into_iter()
            .find(|f| f.well_known_name.as_deref() == Some(well_known))
            .expect("well-known folder")
            .id
    }

    fn push(&self, faults: Vec<(Fault, FaultTarget)>) {
        let specs = faults
            .into_iter()
            .map(|(fault, target)| FaultSpec {
                fault,
                target,
                mailbox: None,
            })
            .collect();
        self.state().push_faults(specs).expect("faults");
    }

    /// The sandbox's request budget for Adele: `requests` per `secs`.
    fn sandbox_budget(&self, requests: u64, secs: u64) {
        let patch = mailport::sandbox::graph::SettingsPatch {
            budget_requests: Some(requests),
            budget_window_secs: Some(secs),
            ..Default::default()
        };
        self.state()
            .update_mailbox_settings(ADELE, &patch)
            .expect("settings");
    }

    /// When the sandbox received each logged request of a kind.
    fn received_at(&self, kind: &str) -> Vec<OffsetDateTime> {
        self.state()
            .request_log()
            .entries
            .iter()
            .filter(|e| e.kind.as_deref() == Some(kind))
            .map(|e| OffsetDateTime::parse(&e.received_at, &Rfc3339).expect("time"))
            .collect()
    }
}

#[tokio::test]
async fn lists_1000_messages_oldest_first_in_20_requests() {
    let f = spawn().await;
    let seeded = f.seed("inbox", 1000, 1500);
    f.state().reset_request_log();
    let client = f.client();
    let inbox = client.get_folder("inbox").await.expect("inbox");
    let mut seen = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let page = client
            .list_messages(&inbox.id, next.as_deref())
            .await
            .expect("page");
        assert!(page.messages.len() <= 50);
        seen.extend(page.messages);
        match page.next_link {
            Some(link) => next = Some(link),
            None => break,
        }
    }
    let expected: Vec<&str> = seeded.iter().map(|m| m.immutable_id.as_str()).collect();
    let got: Vec<&str> = seen.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(got, expected, "immutable ids, each once, oldest first");
    assert!(seen.iter().zip(&seeded).all(|(m, s)| {
        m.size == Some(s.size as i64)
            && m.received.as_deref() == Some(s.received_date_time.as_str())
            && m.internet_message_id.as_deref() == Some(s.internet_message_id.as_str())
            && m.is_read == Some(false)
    }));
    let log = f.state().request_log();
    assert_eq!(log.totals.get("list"), Some(&20));
    let first_list = log
        .entries
        .iter()
        .find(|e| e.kind.as_deref() == Some("list"))
        .expect("list request");
    assert!(first_list.query.contains("$top=50"));
    assert!(first_list.query.contains("$select="));
    assert_eq!(client.stats().requests, 21);
    assert_eq!(client.stats().retries, 0);
    assert!(client.stats().last_request_id.is_some());
}

#[tokio::test]
async fn resolves_folder_paths_and_names_what_exists() {
    let f = spawn().await;
    let client = f.client();
    let inbox_id = f.folder_id("inbox");
    for path in ["Inbox", "inbox", " INBOX/ "] {
        assert_eq!(
            client.resolve_folder_path(path).await.expect(path).id,
            inbox_id
        );
    }
    let desk = client
        .ensure_folder_path("Inbox/Service desk")
        .await
        .expect("create");
    assert_eq!(desk.parent_folder_id.as_deref(), Some(inbox_id.as_str()));
    let found = client
        .resolve_folder_path("inbox/service DESK")
        .await
        .expect("nested");
    assert_eq!(found.id, desk.id);
    assert_eq!(found.display_name, "Service desk");
    assert_eq!(found.total_item_count, Some(0));

    let e = client
        .resolve_folder_path("Inbox/Helpdesk")
        .await
        .expect_err("unknown child");
    assert_eq!(
        e.kind,
        GraphErrorKind::FolderNotFound {
            existing: vec!["Service desk".into()]
        }
    );
    assert!(e.to_string().contains("'Helpdesk'"), "{e}");
    assert!(e.to_string().contains("Service desk"), "{e}");

    let e = client
        .resolve_folder_path("Posteingang")
        .await
        .expect_err("unknown top level");
    let existing: HashSet<&str> = e.existing_folders().iter().map(String::as_str).collect();
    for name in ["Inbox", "Archive", "Sent Items", "Deleted Items"] {
        assert!(existing.contains(name), "{name} in {existing:?}");
    }
    // A top-level folder that is not well-known resolves by its display name.
    client.ensure_folder_path("Projects").await.expect("create");
    assert_eq!(
        client
            .resolve_folder_path("projects")
            .await
            .expect("by name")
            .display_name,
        "Projects"
    );
}

#[tokio::test]
async fn ensure_folder_path_creates_missing_levels_once() {
    let f = spawn().await;
    let client = f.client();
    f.state().reset_request_log();
    let q1 = client
        .ensure_folder_path("Archive/2026/Q1")
        .await
        .expect("create");
    let again = client
        .ensure_folder_path("archive/2026/q1")
        .await
        .expect("again");
    assert_eq!(q1.id, again.id);
    let log = f.state().request_log();
    assert_eq!(log.totals.get("create_folder"), Some(&2));
    let names: Vec<String> = f
        .state()
        .folders(ADELE)
        .expect("folders")
        .into_iter()
        .map(|f| f.display_name)
        .collect();
    assert_eq!(names.iter().filter(|n| *n == "2026").count(), 1);
    assert_eq!(names.iter().filter(|n| *n == "Q1").count(), 1);
    assert!(client.stats().log.iter().any(|l| l.contains("'Q1'")));

    // Two runs racing for the same new folder both end up with it (one may see 409).
    let other = f.client();
    let (a, b) = tokio::join!(
        client.ensure_folder_path("Imported/A"),
        other.ensure_folder_path("Imported/A")
    );
    assert_eq!(a.expect("a").id, b.expect("b").id);
}

/// What the hostile server saw.
#[derive(Default)]
struct Seen {
    requests: Vec<(String, HeaderMap)>,
}

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

#[tokio::test]
async fn an_expired_token_is_refreshed_once() {
    let f = spawn().await;
    let world = &f.handle.sandbox.world;
    world.register_access_token("eyJ.old.sig".into(), app_grant(-10));
    world.register_access_token("eyJ.new.sig".into(), app_grant(3600));
    world.register_access_token("eyJ.stale.sig".into(), app_grant(-10));

    let tokens = RotatingToken::new(vec!["eyJ.old.sig", "eyJ.new.sig"]);
    let client = f.client_with(tokens.clone(), fast());
    let inbox = client.get_folder("inbox").await.expect("after refresh");
    assert_eq!(inbox.display_name, "Inbox");
    client.get_folder("archive").await.expect("new token kept");
    assert_eq!(tokens.refreshes.load(Ordering::SeqCst), 1);
    assert!(client.stats().log[0].contains("refreshing the token once"));

    let tokens = RotatingToken::new(vec!["eyJ.old.sig", "eyJ.stale.sig"]);
    let client = f.client_with(tokens.clone(), fast());
    let e = client.get_folder("inbox").await.expect_err("still refused");
    assert_eq!(e.kind, GraphErrorKind::Unauthorized);
    assert_eq!(e.code.as_deref(), Some("InvalidAuthenticationToken"));
    assert_eq!(tokens.refreshes.load(Ordering::SeqCst), 1);
    assert!(!e.to_string().contains("eyJ."), "{e}");
    assert_eq!(client.stats().requests, 2);
}

fn blob_files(dir: &std::path::Path) -> usize {
    let mut count = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                count += 1;
            }
        }
    }
    count
}

#[tokio::test]
async fn value_downloads_stream_into_blobs() {
    let f = spawn().await;
    let info = f.seed("inbox", 1, 500_000).remove(0);
    let client = f.client();
    let data = tempfile::tempdir().expect("tempdir");
    let blobs = BlobStore::new(data.path());

    // The connection drops halfway: an error, and the caller aborts the partial blob.
    f.push(vec![(Fault::DropBody, FaultTarget::Value)]);
    let mut writer = blobs.begin().await.expect("begin");
    let e = client
        .download_value(&info.immutable_id, &mut writer, 10_000_000)
        .await
        .expect_err("dropped body");
    assert_eq!(e.kind, GraphErrorKind::Network, "{e}");
    assert!(e.is_transient());
    writer.abort().await;
    assert_eq!(blob_files(data.path()), 0);

    // Too large for the caller: refused before reading the body.
    let mut writer = blobs.begin().await.expect("begin");
    let e = client
        .download_value(&info.immutable_id, &mut writer, info.size as u64 - 1)
        .await
        .expect_err("too large");
    assert_eq!(e.kind, GraphErrorKind::TooLarge);
    writer.abort().await;
    assert_eq!(blob_files(data.path()), 0);

    // The real thing, on another task (the importer spawns downloads): bytes identical to
    // what the mailbox holds.
    let writer = blobs.begin().await.expect("begin");
    let (spawned, id) = (client.clone(), info.immutable_id.clone());
    let (n, writer) = tokio::spawn(async move {
        let mut writer = writer;
        let n = spawned.download_value(&id, &mut writer, 10_000_000).await;
        (n, writer)
    })
    .await
    .expect("task");
    assert_eq!(n.expect("download"), info.size as u64);
    let stored = writer.finish().await.expect("finish");
    assert_eq!(stored.sha256, info.sha256);
    assert_eq!(blob_files(data.path()), 1);

    let e = client
        .download_value("AAMkAGI2AC4AAAnotthere0000", &mut Vec::new(), 1000)
        .await
        .expect_err("unknown id");
    assert_eq!(e.kind, GraphErrorKind::ItemNotFound);
}

#[tokio::test]
async fn post_actions_show_in_the_mailbox() {
    let f = spawn().await;
    let seeded = f.seed("inbox", 3, 1500);
    let client = f.client();
    let archive = client
        .resolve_folder_path("Archive")
        .await
        .expect("archive");

    client
        .mark_read(&seeded[0].immutable_id)
        .await
        .expect("mark read");
    let inbox = f.state().messages(ADELE, "inbox").expect("inbox");
    let first = inbox
        .iter()
        .find(|m| m.immutable_id == seeded[0].immutable_id)
        .expect("still there");
    assert!(first.is_read);

    let moved = client
        .move_message(&seeded[1].immutable_id, &archive.id)
        .await
        .expect("move");
    assert_eq!(
        moved, seeded[1].immutable_id,
        "immutable ids survive a move"
    );
    let in_archive = f.state().messages(ADELE, "archive").expect("archive");
    assert_eq!(in_archive.len(), 1);
    assert_eq!(in_archive[0].immutable_id, seeded[1].immutable_id);

    client
        .delete_message(&seeded[2].immutable_id)
        .await
        .expect("delete");
    client
        .delete_message(&seeded[2].immutable_id)
        .await
        .expect("already gone counts as done");
    let left: Vec<String> = f
        .state()
        .messages(ADELE, "inbox")
        .expect("inbox")
        .into_iter()
        .map(|m| m.immutable_id)
        .collect();
    assert_eq!(left, vec![seeded[0].immutable_id.clone()]);

    let e = client
        .mark_read(&seeded[2].immutable_id)
        .await
        .expect_err("deleted");
    assert_eq!(e.kind, GraphErrorKind::ItemNotFound);
}

/// Follows a delta round to its deltaLink.
async fn delta_round(
    client: &GraphClient,
    folder: &str,
    mut cursor: DeltaCursor<'_>,
) -> (Vec<String>, Vec<String>, String, usize) {
    let mut messages = Vec::new();
    let mut removed = Vec::new();
    let mut pages = 0;
    let mut next: String;
    loop {
        let page = client.delta(folder, cursor).await.expect("delta page");
        pages += 1;
        messages.extend(page.messages.into_iter().map(|m| m.id));
        removed.extend(page.removed);
        match (page.next_link, page.delta_link) {
            (Some(link), _) => {
                next = link;
                cursor = DeltaCursor::Link(&next);
            }
            (None, Some(delta)) => return (messages, removed, delta, pages),
            (None, None) => panic!("a delta page without a link"),
        }
    }
}

#[tokio::test]
async fn delta_initial_incremental_and_expired() {
    let f = spawn().await;
    let seeded = f.seed("inbox", 25, 1500);
    let client = f.client_with(
        Arc::new(FixedToken(APP_TOKEN)),
        GraphSettings {
            page_size: 10,
            ..fast()
        },
    );
    let inbox = client.get_folder("inbox").await.expect("inbox").id;
    let archive = client.get_folder("archive").await.expect("archive").id;

    let (initial, removed, delta_link, pages) = delta_round(
        &client,
        &inbox,
        DeltaCursor::Start {
            received_since: None,
        },
    )
    .await;
    assert_eq!(pages, 3, "odata.maxpagesize=10 was honoured");
    assert!(removed.is_empty());
    assert_eq!(initial.len(), 25);
    let expected: HashSet<&str> = seeded.iter().map(|m| m.immutable_id.as_str()).collect();
    assert_eq!(
        initial.iter().map(String::as_str).collect::<HashSet<_>>(),
        expected
    );

    // Only mail received since a point in time.
    let since = OffsetDateTime::parse(&seeded[20].received_date_time, &Rfc3339).expect("time");
    let (recent, _, _, _) = delta_round(
        &client,
        &inbox,
        DeltaCursor::Start {
            received_since: Some(since),
        },
    )
    .await;
    assert_eq!(recent.len(), 5);

    client
        .mark_read(&seeded[0].immutable_id)
        .await
        .expect("read");
    client
        .move_message(&seeded[1].immutable_id, &archive)
        .await
        .expect("move");
    client
        .delete_message(&seeded[2].immutable_id)
        .await
        .expect("delete");
    let arrived = f.seed("inbox", 1, 1500).remove(0);

    let (changed, removed, delta_link2, _) =
        delta_round(&client, &inbox, DeltaCursor::Link(&delta_link)).await;
    assert_eq!(
        changed.into_iter().collect::<HashSet<_>>(),
        HashSet::from([seeded[0].immutable_id.clone(), arrived.immutable_id.clone()])
    );
    assert_eq!(
        removed.into_iter().collect::<HashSet<_>>(),
        HashSet::from([
            seeded[1].immutable_id.clone(),
            seeded[2].immutable_id.clone()
        ])
    );

    f.state().expire_delta_tokens(ADELE).expect("expire");
    let e = client
        .delta(&inbox, DeltaCursor::Link(&delta_link2))
        .await
        .expect_err("expired");
    assert_eq!(e.kind, GraphErrorKind::SyncStateExpired);
    assert_eq!(e.status, Some(410));
}

#[tokio::test]
async fn mailbox_problems_are_named() {
    let f = spawn().await;
    let client = f.client();

    f.state().set_access_policy(ADELE, true).expect("policy");
    let e = client.get_folder("inbox").await.expect_err("policy");
    assert_eq!(e.kind, GraphErrorKind::AccessPolicy);
    // The sandbox is not a Microsoft Graph host: its own words are not repeated.
    assert!(!e.message.contains("OData"), "{e}");
    assert!(e.message.contains("HTTP 403"), "{e}");
    assert!(e.request_id.is_some());
    f.state().set_access_policy(ADELE, false).expect("policy");

    f.state()
        .set_mailbox_enabled(ADELE, false)
        .expect("disable");
    let e = client
        .resolve_folder_path("Inbox")
        .await
        .expect_err("disabled");
    assert_eq!(e.kind, GraphErrorKind::MailboxNotEnabled);
    f.state().set_mailbox_enabled(ADELE, true).expect("enable");
    client.get_folder("inbox").await.expect("enabled again");

    let nobody = GraphClient::new(
        http(&f.graph_url),
        &f.target(Some("nobody@contoso.onmicrosoft.com")),
        Arc::new(FixedToken(APP_TOKEN)),
        &f.limits,
        fast(),
    )
    .expect("client");
    let e = nobody.get_folder("inbox").await.expect_err("unknown user");
    assert_eq!(e.kind, GraphErrorKind::NotFound);

    f.handle
        .sandbox
        .world
        .register_access_token("eyJ.norole.sig".into(), grant(None, &[], &[], 3600));
    let no_role = f.client_with(Arc::new(FixedToken("eyJ.norole.sig")), fast());
    let e = no_role
        .get_folder("inbox")
        .await
        .expect_err("no permission");
    assert_eq!(e.kind, GraphErrorKind::AccessDenied);
}

#[tokio::test]
async fn me_target_with_a_delegated_token() {
    let f = spawn().await;
    let seeded = f.seed("inbox", 2, 1500);
    f.handle.sandbox.world.register_access_token(
        "eyJ.adele-delegated.sig".into(),
        grant(Some(ADELE_ID), &[], &["Mail.ReadWrite"], 3600),
    );
    let client = GraphClient::new(
        http(&f.graph_url),
        &f.target(None),
        Arc::new(FixedToken("eyJ.adele-delegated.sig")),
        &f.limits,
        fast(),
    )
    .expect("client");
    let inbox = client.resolve_folder_path("Inbox").await.expect("inbox");
    let page = client.list_messages(&inbox.id, None).await.expect("list");
    let ids: Vec<&str> = page.messages.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            seeded[0].immutable_id.as_str(),
            seeded[1].immutable_id.as_str()
        ]
    );
    let log = f.state().request_log();
    assert!(log.entries.iter().all(|e| e.path.starts_with("/v1.0/me/")));

    // The app token cannot use /me.
    let app_on_me = GraphClient::new(
        http(&f.graph_url),
        &f.target(Some("  ")),
        Arc::new(FixedToken(APP_TOKEN)),
        &f.limits,
        fast(),
    )
    .expect("client");
    let e = app_on_me.get_folder("inbox").await.expect_err("app on /me");
    assert_eq!(e.kind, GraphErrorKind::InvalidRequest);
}
