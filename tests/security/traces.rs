//! Following one request or one import run through the log: every response carries an
//! `x-request-id` that every log line of its request names, an incoming id is kept only
//! when it is short visible ASCII, the request span holds the route but never the query
//! or a header, and an import run's lines carry its account, run id and Graph's request ids.

use reqwest::StatusCode;

use crate::helpers::*;
use crate::logs::{self, lines_with};

fn request_id(r: &reqwest::Response) -> String {
    r.headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("x-request-id on the response")
        .to_string()
}

#[tokio::test]
async fn every_log_line_of_a_request_names_the_request_id_its_response_carries() {
    logs::capture();
    let app = TestApp::spawn().await;
    app.create_admin(ADMIN, ADMIN_PASSWORD).await;
    let visitor = TestApp::spawn_client(&app);
    let marker = format!("nobody-{}", mailport::crypto::random_token(8));
    let r = visitor.login(&marker, "wrong password").await;
    let status = r.status().as_u16();
    let id = request_id(&r);
    assert_eq!(id.len(), 36, "a fresh UUID: {id}");
    let lines = lines_with(&marker);
    assert!(!lines.is_empty(), "the refused sign-in is logged");
    for line in &lines {
        assert!(
            line.contains(&format!("request_id=\"{id}\"")) && line.contains("route=\"/login\""),
            "the line names its request: {line}"
        );
    }
    // The request's own access line, with its status.
    let finished: Vec<String> = lines_with(&id)
        .into_iter()
        .filter(|l| l.contains("request finished"))
        .collect();
    assert_eq!(finished.len(), 1, "{finished:?}");
    assert!(
        finished[0].contains(&format!("status={status}")),
        "{}",
        finished[0]
    );

    // Two requests never share an id; a usable incoming id is kept.
    let other = app.get("/login").await;
    assert_ne!(request_id(&other), id);
    let proxy_id = format!("proxy-{}", mailport::crypto::random_token(8));
    let r = browser()
        .get(app.url("/healthz"))
        .header("x-request-id", &proxy_id)
        .send()
        .await
        .expect("GET");
    assert_eq!(request_id(&r), proxy_id, "a proxy's id is kept");
    assert!(
        lines_with(&proxy_id)
            .iter()
            .any(|l| l.contains("request finished")),
        "and logged"
    );
    // Too long, or not visible ASCII: replaced by a fresh id.
    for unusable in ["x".repeat(65), "two words".into(), "tab\there".into()] {
        let r = browser()
            .get(app.url("/healthz"))
            .header("x-request-id", unusable.as_str())
            .send()
            .await
            .expect("GET");
        let got = request_id(&r);
        assert_ne!(got, unusable);
        assert_eq!(got.len(), 36, "{got}");
        assert!(
            lines_with(&unusable).is_empty(),
            "{unusable:?} is not logged"
        );
    }
}

#[tokio::test]
async fn the_request_span_logs_the_route_but_no_query_string_cookie_or_authorization() {
    logs::capture();
    let app = TestApp::signed_in().await;
    let marker = mailport::crypto::random_token(12);
    let code = format!("code-{marker}");
    let bearer = format!("mp_bearer_{marker}");
    let cookie = format!("c-{marker}");
    let r = browser()
        .get(app.url(&format!("/OAuth2Callback?code={code}&state=state-{marker}")))
        .header("cookie", format!("mailport_session={cookie}"))
        .send()
        .await
        .expect("GET");
    let callback_id = request_id(&r);
    let r = browser()
        .get(app.url(&format!("/api/v1/accounts?token=query-{marker}")))
        .bearer_auth(&bearer)
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let api_id = request_id(&r);
    let text = logs::text();
    assert!(
        !text.contains(&marker),
        "nothing from the query, cookie or Authorization"
    );
    assert!(
        text.lines().any(|l| l.contains(&callback_id)
            && l.contains("route=\"/OAuth2Callback\"")
            && l.contains("request finished")),
        "the callback's route is logged"
    );
    assert!(
        text.lines().any(|l| l.contains(&api_id)
            && l.contains("route=\"/api/v1/accounts\"")
            && l.contains("status=401")),
        "the API request's route and status are logged"
    );
}

#[tokio::test]
async fn an_import_runs_debug_lines_carry_its_account_run_id_and_graphs_request_ids() {
    logs::capture();
    let app = TestApp::signed_in().await;
    app.app_credential().await;
    let account = format!(
        "traced-{}",
        mailport::crypto::random_token(6).to_lowercase()
    );
    app.graph()
        .seed_generated(
            ADELE,
            "Inbox",
            &mailport::sandbox::graph::GenerateSpec {
                count: 2,
                ..Default::default()
            },
        )
        .expect("seed");
    let r = app.create_account(&account, &[]).await;
    assert_is_redirect_to(&r, &format!("/accounts/{account}"));
    let summary = app.state.importer.run_account(&account).await.expect("run");
    assert_eq!(summary.imported, 2, "{summary:?}");
    let last_request_id = summary.request_id.clone().expect("Graph's request-id");

    let span = format!("import_run{{account={account} run=");
    let lines = lines_with(&span);
    let exchanges: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("graph exchange"))
        .collect();
    assert!(
        exchanges.len() >= 4,
        "folder, list, two downloads (and moves): {lines:#?}"
    );
    let run_ids: std::collections::HashSet<&str> = lines
        .iter()
        .filter_map(|l| l.split(&span).nth(1))
        .filter_map(|rest| rest.get(..12))
        .collect();
    assert_eq!(run_ids.len(), 1, "one run, one run id: {run_ids:?}");
    // Every line of the run names the instance it ran on.
    let instance = format!("instance={}", app.state.config.instance_id());
    assert!(
        !app.state.config.instance_id().is_empty() && lines.iter().all(|l| l.contains(&instance)),
        "{instance} on every line of the run: {lines:#?}"
    );
    for line in &exchanges {
        let id = line
            .split("request_id=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_default();
        assert_eq!(id.len(), 36, "Graph's request-id is logged: {line}");
        assert!(line.contains("client_request_id=\""), "{line}");
    }
    assert!(
        exchanges
            .iter()
            .any(|l| l.contains(&format!("request_id=\"{last_request_id}\""))),
        "the run's last request id is among them"
    );
    let finished = lines
        .iter()
        .find(|l| l.contains("import run finished"))
        .expect("the run's closing line is in its span");
    assert!(
        finished.contains(&format!("last_request_id=\"{last_request_id}\"")),
        "{finished}"
    );
}
