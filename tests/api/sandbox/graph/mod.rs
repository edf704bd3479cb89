//! The Graph sandbox, driven directly over HTTP: one file per behaviour; the shared
//! fixture (a sandbox with registered tokens) and helpers live here.

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

use super::{assert_graph_error, graph_error};

mod changes;
mod controls;
mod delta;
mod errors;
mod faults;
mod folders;
mod messages;
mod throttling;

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

    /// `url` as given when absolute, else below `{base_url}/v1.0`.
    fn absolute(&self, url: &str) -> String {
        if url.starts_with("http") {
            url.to_string()
        } else {
            format!("{}{url}", self.graph)
        }
    }

    async fn get(&self, url: &str, token: &str) -> Response {
        self.client
            .get(self.absolute(url))
            .bearer_auth(token)
            .send()
            .await
            .expect("send")
    }

    /// The JSON body of a GET with this token, whatever its status.
    async fn get_json(&self, url: &str, token: &str) -> Value {
        self.get(url, token).await.json().await.expect("json")
    }

    async fn get_immutable(&self, url: &str) -> Response {
        self.client
            .get(self.absolute(url))
            .bearer_auth(APP_TOKEN)
            .header("Prefer", PREFER_IMMUTABLE)
            .send()
            .await
            .expect("send")
    }

    /// The JSON answer of a GET on a control API URL (no token: the control API takes none).
    async fn control_json(&self, url: &str) -> Value {
        self.client
            .get(url)
            .send()
            .await
            .expect("control")
            .json()
            .await
            .expect("json")
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

fn ids(items: &[Value]) -> HashSet<String> {
    items
        .iter()
        .filter(|i| i.get("@removed").is_none())
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect()
}
