//! Every message the importer and Test connection show a person is a sentence: the run's
//! error, the account's status detail, the run log, and Test connection's findings, for
//! every kind of failure the sandbox can produce.

use mailport::import::diagnose::test_connection;
use mailport::prose::is_sentence;
use mailport::sandbox::graph::{Fault, FaultSpec, FaultTarget, GenerateSpec};
use mailport::sandbox::identity::faults::FaultKind;
use mailport::store::accounts;

use crate::helpers::*;

/// A loopback port nobody listens on.
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port()
}

async fn assert_sentences(app: &TestApp, account: &str, case: &str) {
    let summary = app
        .state
        .importer
        .run_account(account)
        .await
        .expect("the run starts");
    assert_eq!(summary.outcome, "error", "{case}: {summary:?}");
    let error = summary.error_message.clone().unwrap_or_default();
    assert!(is_sentence(&error), "{case}: run error {error:?}");
    for line in &summary.log {
        assert!(is_sentence(line), "{case}: log line {line:?}");
    }
    let stored = accounts::get(&app.state.db, account)
        .await
        .expect("db")
        .expect("account");
    if let Some(detail) = &stored.status_detail {
        assert!(is_sentence(detail), "{case}: status detail {detail:?}");
    }
    let diagnosis = test_connection(&app.state.importer, &stored).await;
    assert!(!diagnosis.ok, "{case}: Test connection finds the fault");
    assert!(!diagnosis.details.is_empty(), "{case}: says why");
    for line in &diagnosis.details {
        assert!(is_sentence(line), "{case}: Test connection says {line:?}");
    }
    // The account page and the API show the same words.
    let page = app.get_text(&format!("/accounts/{account}")).await;
    let api = app.api(&format!("/accounts/{account}")).await;
    assert_eq!(api["last_run"]["error"], error.as_str(), "{case}");
    assert!(
        page.contains(&escape(&error)),
        "{case}: the page shows {error:?}"
    );
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&#34;")
        .replace('\'', "&#39;")
}

#[tokio::test]
async fn importer_and_test_connection_speak_in_sentences_whatever_fails() {
    // A closed port the host policy allows (as `--allow-host` would): the connection fails,
    // not the policy.
    let port = closed_port();
    let app = TestApp::signed_in_allowing(&[&format!("127.0.0.1:{port}")]).await;
    app.app_credential().await;
    app.graph()
        .seed_generated(
            ADELE,
            "inbox",
            &GenerateSpec {
                count: 2,
                ..GenerateSpec::default()
            },
        )
        .expect("seed");
    let graph = format!("{}/v1.0", app.sandbox.base_url);
    let nowhere = format!("http://127.0.0.1:{port}/v1.0");
    // (account id, what is wrong, form fields that make it wrong)
    type Case<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>);
    let cases: [Case; 4] = [
        (
            "graph-down",
            "Graph unreachable",
            vec![("graph_url", &nowhere)],
        ),
        (
            "no-folder",
            "unknown folder",
            vec![("folder", "Inbox/Nowhere")],
        ),
        (
            "no-mailbox",
            "unknown mailbox",
            vec![("mailbox", "nobody@contoso.onmicrosoft.com")],
        ),
        (
            "no-token",
            "credential without a token",
            vec![("credential_id", "fresh")],
        ),
    ];
    app.create_credential("fresh", "authorization_code", &[])
        .await;
    for (id, case, fields) in &cases {
        let mut fields = fields.clone();
        fields.push(("enabled", ""));
        let r = app.create_account(id, &fields).await;
        assert_is_redirect_to(&r, &format!("/accounts/{id}"));
        assert_sentences(&app, id, case).await;
    }

    // Faults of a healthy setup: policy, disabled mailbox, 503s and 429s that do not stop.
    let r = app.create_account("acct", &[("graph_url", &graph)]).await;
    assert_is_redirect_to(&r, "/accounts/acct");
    app.graph().set_access_policy(ADELE, true).unwrap();
    assert_sentences(&app, "acct", "application access policy").await;
    app.graph().set_access_policy(ADELE, false).unwrap();
    app.graph().set_mailbox_enabled(ADELE, false).unwrap();
    assert_sentences(&app, "acct", "mailbox not enabled for REST").await;
    app.graph().set_mailbox_enabled(ADELE, true).unwrap();
    for (fault, case) in [
        (Fault::ServiceUnavailable { retry_after: None }, "503 storm"),
        (Fault::Throttle { retry_after: None }, "429 storm"),
    ] {
        let specs = vec![
            FaultSpec {
                fault,
                target: FaultTarget::default(),
                mailbox: None,
            };
            200
        ];
        app.graph().push_faults(specs).unwrap();
        assert_sentences(&app, "acct", case).await;
        app.graph().clear_faults();
        accounts::set_status(&app.state.db, "acct", "ok", None, None)
            .await
            .unwrap();
    }

    // The token endpoint: down, then refusing the secret.
    let identity = app.sandbox.sandbox.world.identity();
    app.expire_token_in("app", -10).await;
    identity.push_fault(
        FaultKind::Status {
            status: 503,
            body: None,
            content_type: None,
        },
        1000,
    );
    assert_sentences(&app, "acct", "token endpoint down").await;
    identity.clear_faults();
    identity.expire_secrets(mailport::sandbox::world::DEMO_CLIENT_ID);
    assert_sentences(&app, "acct", "client secret expired").await;
}
