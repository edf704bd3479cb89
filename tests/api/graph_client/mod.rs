//! Mailport's Graph client against the Graph sandbox over real HTTP (and, for the SSRF guard
//! and malformed answers, against a small hostile server of our own). One file per
//! behaviour; the shared fixture lives here.

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

mod delta;
mod downloads_and_post_actions;
mod folders_and_listing;
mod hostile_server;
mod throttling;
mod tokens_and_mailboxes;

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

/// What the hostile server saw.
#[derive(Default)]
struct Seen {
    requests: Vec<(String, HeaderMap)>,
}
