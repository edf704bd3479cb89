//! The importer against the Graph sandbox: every post-import action, paging, delta,
//! crash safety, faults, size limits, consent loss and shutdown. One file per behaviour;
//! the shared fixture lives here.

use std::collections::{HashMap, HashSet};

use mailport::sandbox::graph::{Fault, FaultSpec, FaultTarget, GenerateSpec, StormSpec};
use reqwest::StatusCode;

use crate::helpers::*;

mod failures;
mod post_actions;
mod runs;
mod tokens;

async fn app_with_account(after_import: &str) -> TestApp {
    let app = TestApp::signed_in().await;
    app.app_credential().await;
    let r = app
        .create_account("acct", &[("after_import", after_import)])
        .await;
    assert_is_redirect_to(&r, "/accounts/acct");
    app
}

fn seed(
    app: &TestApp,
    folder: &str,
    count: usize,
    is_read: bool,
) -> Vec<mailport::sandbox::graph::MessageInfo> {
    app.graph()
        .seed_generated(
            ADELE,
            folder,
            &GenerateSpec {
                count,
                size: 6000,
                attachments: 1,
                is_read,
                ..GenerateSpec::default()
            },
        )
        .expect("seed")
}

/// Every seeded message is stored exactly once with the sandbox's sha256.
async fn assert_stored_once(app: &TestApp, seeded: &[mailport::sandbox::graph::MessageInfo]) {
    let stored = app.stored("acct").await;
    let by_id: HashMap<_, _> = stored
        .iter()
        .map(|(g, sha, _, _)| (g.clone(), sha.clone()))
        .collect();
    assert_eq!(by_id.len(), stored.len(), "duplicate rows");
    for m in seeded {
        assert_eq!(
            by_id.get(&m.immutable_id).cloned().flatten().as_deref(),
            Some(m.sha256.as_str()),
            "message {} stored with its bytes",
            m.subject
        );
        let blob = app.state.blobs.read(&m.sha256).await.expect("blob on disk");
        assert_eq!(blob.len(), m.size);
    }
}

/// POSTs JSON to one of the sandbox's control routes.
async fn sandbox_control(app: &TestApp, path: &str, body: serde_json::Value) {
    let r = reqwest::Client::new()
        .post(format!("{}{path}", app.sandbox.base_url))
        .json(&body)
        .send()
        .await
        .expect("sandbox control");
    assert!(r.status().is_success(), "{path}: {}", r.status());
}
