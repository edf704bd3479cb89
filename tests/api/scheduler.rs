//! The due-time scheduler, with the dispatcher polling on its own: overload spreads lateness
//! over every account in due order, Run now and finished runs start work at once, and empty
//! polls leave no run history.

use std::collections::HashMap;
use std::time::Duration;

use mailport::config::Config;
use mailport::sandbox::graph::{BulkMailboxes, SettingsPatch};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

/// The dispatcher polls due accounts on its own, one at a time.
fn polling_one_at_a_time(config: &mut Config) {
    config.import.scheduled = true;
    config.import.concurrent_accounts = 1;
}

/// A signed-in app with the credential `app`, configured by `config`.
async fn app_with(config: fn(&mut Config)) -> TestApp {
    let app = TestApp::spawn_custom(
        Options {
            config: Some(config),
            ..Options::default()
        },
        |_| {},
    )
    .await;
    app.create_admin(ADMIN, ADMIN_PASSWORD).await;
    app.login(ADMIN, ADMIN_PASSWORD).await;
    app.app_credential().await;
    app
}

async fn polling_app() -> TestApp {
    app_with(polling_one_at_a_time).await
}

/// `box0000n@contoso.onmicrosoft.com`, made with the sandbox's bulk control.
fn mailbox(n: usize) -> String {
    format!("box{n:05}@contoso.onmicrosoft.com")
}

fn make_mailboxes(app: &TestApp, count: usize, delay_ms: u64) {
    app.graph()
        .create_mailboxes(&BulkMailboxes {
            count,
            prefix: "box".into(),
            domain: None,
            start: 1,
            settings: SettingsPatch {
                delay_ms: Some(delay_ms),
                ..SettingsPatch::default()
            },
        })
        .expect("mailboxes");
}

/// Creates an account in keep mode on mailbox `n` through the JSON API.
pub async fn api_account(app: &TestApp, id: &str, n: usize, enabled: bool) {
    let csrf = app.csrf().await;
    let r = app
        .client
        .post(app.url("/api/v1/accounts"))
        .header("x-csrf-token", csrf)
        .json(&json!({
            "id": id,
            "mailbox": mailbox(n),
            "credential_id": "app",
            "after_import": "keep",
            "graph_url": format!("{}/v1.0", app.sandbox.base_url),
            "poll_interval": 10,
            "enabled": enabled,
        }))
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), StatusCode::CREATED, "create {id}");
}

/// The delta requests of the sandbox's log: (mailbox upn, received, finished), in order.
fn delta_requests(app: &TestApp) -> Vec<(String, f64, Option<f64>)> {
    let to_secs = |t: &str| {
        time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
            .map(|t| t.unix_timestamp_nanos() as f64 / 1e9)
            .expect("time")
    };
    app.graph()
        .request_log()
        .entries
        .iter()
        .filter(|e| e.kind.as_deref() == Some("delta"))
        .map(|e| {
            let upn = e
                .path
                .trim_start_matches("/v1.0/users/")
                .split('/')
                .next()
                .unwrap_or_default()
                .replace("%40", "@");
            (
                upn,
                to_secs(&e.received_at),
                e.finished_at.as_deref().map(to_secs),
            )
        })
        .collect()
}

#[tokio::test]
async fn an_overloaded_instance_polls_every_account_in_due_order_and_starves_none() {
    let app = polling_app().await;
    // Every request takes 1.5 s and one account is polled at a time: six accounts need more
    // than their 10 s interval, so the instance is overloaded from the start.
    make_mailboxes(&app, 6, 1500);
    for n in 1..=6 {
        api_account(&app, &format!("acct{n}"), n, true).await;
    }
    let mut sequence = Vec::new();
    for _ in 0..120 {
        sequence = delta_requests(&app);
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for (upn, _, _) in &sequence {
            *counts.entry(upn.as_str()).or_default() += 1;
        }
        if counts.len() == 6 && counts.values().all(|c| *c >= 2) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let order: Vec<&str> = sequence.iter().map(|(u, _, _)| u.as_str()).collect();
    // In due order: the first round in the order the accounts were created.
    let first: Vec<String> = (1..=6).map(mailbox).collect();
    assert_eq!(order.iter().take(6).copied().collect::<Vec<_>>(), first);
    // Never starved: at no point has an account been polled twice more than another.
    let mut counts: HashMap<&str, usize> = first.iter().map(|m| (m.as_str(), 0)).collect();
    for upn in &order {
        *counts.get_mut(upn).expect("one of ours") += 1;
        let (min, max) = (
            counts.values().min().copied().unwrap_or(0),
            counts.values().max().copied().unwrap_or(0),
        );
        assert!(max - min <= 1, "uneven polling: {order:?}");
    }
    assert!(
        counts.values().all(|c| *c >= 2),
        "every account polled at least twice: {counts:?}"
    );
    // The lateness shows: in each account's figures and in the overview.
    let list = app.api("/accounts").await;
    let lags: Vec<f64> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|a| a["poll"]["lag"]["last_poll_lag_secs"].as_f64())
        .collect();
    assert!(
        lags.iter().any(|l| *l > 1.0),
        "the second round started late: {lags:?}"
    );
    assert!(list["lag"]["max_secs"].as_f64().unwrap_or(0.0) > 0.0);
    let health: Value = app
        .client
        .get(app.url("/healthz?detail"))
        .send()
        .await
        .expect("health")
        .json()
        .await
        .expect("json");
    assert_eq!(health["status"], "ok");
    assert_eq!(health["poll"]["lag"]["scheduled"], 6);
}

#[tokio::test]
async fn run_now_starts_at_once_on_a_busy_instance_and_a_finished_run_starts_the_next_due_account()
{
    let app = polling_app().await;
    make_mailboxes(&app, 4, 0);
    // Mailbox 1 answers after 1.5 s: its poll (two requests) holds the only slot a while.
    app.graph().set_delay_ms(&mailbox(1), 1500).expect("delay");
    api_account(&app, "slow", 1, true).await;
    for _ in 0..100 {
        if app
            .graph()
            .request_log()
            .entries
            .iter()
            .any(|e| e.path.contains("box00001") && e.finished_at.is_none())
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Run now on a disabled account: it starts while the slow poll still holds the slot.
    api_account(&app, "asked", 2, false).await;
    // Two more accounts become due meanwhile; they wait for the slot.
    api_account(&app, "due1", 3, true).await;
    api_account(&app, "due2", 4, true).await;
    let r = app.post_form("/accounts/asked/import", &[]).await;
    assert_is_redirect_to(&r, "/accounts/asked");
    let mut asked_while_busy = None;
    for _ in 0..100 {
        let log = app.graph().request_log();
        if log.entries.iter().any(|e| e.path.contains("box00002")) {
            asked_while_busy = Some(app.state.importer.is_running("slow"));
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        asked_while_busy,
        Some(true),
        "Run now started while every slot was busy"
    );
    // When the slow poll ends, the next due account starts at once, and so on.
    let mut polls = Vec::new();
    for _ in 0..200 {
        polls = delta_requests(&app);
        if ["box00003", "box00004"]
            .iter()
            .all(|m| polls.iter().any(|(u, _, _)| u.contains(m)))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let slow_end = polls
        .iter()
        .find(|(u, _, _)| u.contains("box00001"))
        .and_then(|(_, _, end)| *end)
        .expect("the slow poll ended");
    let all = app.graph().request_log();
    let first_request = |m: &str| {
        all.entries
            .iter()
            .find(|e| e.path.contains(m))
            .and_then(|e| {
                time::OffsetDateTime::parse(
                    &e.received_at,
                    &time::format_description::well_known::Rfc3339,
                )
                .ok()
            })
            .map(|t| t.unix_timestamp_nanos() as f64 / 1e9)
            .expect("a request")
    };
    let next_start = first_request("box00003");
    assert!(
        next_start >= slow_end && next_start - slow_end < 1.0,
        "the next due account started {:.2} s after the slot came free",
        next_start - slow_end
    );
    assert!(first_request("box00004") > next_start, "in due order");
}

/// The run history rows of an account.
async fn history(app: &TestApp, account: &str) -> Vec<(i64, String, i64)> {
    sqlx::query_as(
        "SELECT id, outcome, imported FROM import_runs WHERE account_id = $1 ORDER BY id",
    )
    .bind(account)
    .fetch_all(&app.state.db)
    .await
    .expect("runs")
}

#[tokio::test]
async fn an_empty_poll_leaves_no_history_row_and_the_account_keeps_its_figures() {
    let app = TestApp::signed_in().await;
    app.app_credential().await;
    let r = app
        .create_account("acct", &[("after_import", "keep")])
        .await;
    assert_is_redirect_to(&r, "/accounts/acct");
    for _ in 0..2 {
        let s = app.state.importer.run_account("acct").await.unwrap();
        assert_eq!((s.outcome.as_str(), s.imported), ("ok", 0));
    }
    assert!(
        history(&app, "acct").await.is_empty(),
        "no row for empty polls"
    );
    let poll = &app.api("/accounts/acct").await["poll"];
    assert_eq!(poll["last_outcome"], "ok");
    assert_eq!(poll["polls_since_import"], 2);
    assert!(poll["last_success_at"].is_string());
    assert!(poll["last_import_at"].is_null());
    assert!(poll["next_due_at"].as_str() > poll["last_started_at"].as_str());

    app.graph()
        .seed_generated(
            ADELE,
            "inbox",
            &mailport::sandbox::graph::GenerateSpec {
                count: 1,
                ..Default::default()
            },
        )
        .expect("seed");
    app.state.importer.run_account("acct").await.unwrap();
    app.state.importer.run_account("acct").await.unwrap();
    let rows = history(&app, "acct").await;
    assert_eq!(rows.len(), 1, "only the run that imported: {rows:?}");
    assert_eq!((rows[0].1.as_str(), rows[0].2), ("ok", 1));
    let account = app.api("/accounts/acct").await;
    assert_eq!(account["poll"]["polls_since_import"], 1);
    assert!(account["poll"]["last_import_at"].is_string());
    assert_eq!(account["last_run"]["imported"], 1);
}

fn three_runs_per_account(config: &mut Config) {
    config.import.history_per_account = 3;
}

#[tokio::test]
async fn run_history_keeps_the_newest_failed_runs_per_account_and_prunes_by_age() {
    let app = app_with(three_runs_per_account).await;
    // A folder that does not exist: every run fails, and failures are kept.
    app.create_account("acct", &[("folder", "Nowhere")]).await;
    for _ in 0..5 {
        let s = app.state.importer.run_account("acct").await.unwrap();
        assert_eq!(s.outcome, "error");
    }
    let rows = history(&app, "acct").await;
    assert_eq!(rows.len(), 3, "the newest three: {rows:?}");
    assert!(rows.iter().all(|(_, outcome, _)| outcome == "error"));
    let newest: Vec<i64> = rows.iter().map(|r| r.0).collect();
    assert_eq!(newest, vec![3, 4, 5]);

    // By age: what started before the cutoff goes, the rest stays.
    let now = mailport::store::now();
    sqlx::query("UPDATE import_runs SET started_at = $1 WHERE id = 3")
        .bind(now - 40 * 86_400)
        .execute(&app.state.db)
        .await
        .expect("age a run");
    let pruned =
        mailport::store::runs::prune_started_before(&app.state.db, now - 30 * 86_400, 1000)
            .await
            .expect("prune");
    assert_eq!(pruned, 1);
    let left: Vec<i64> = history(&app, "acct").await.iter().map(|r| r.0).collect();
    assert_eq!(left, vec![4, 5]);
}

fn two_messages_per_run(config: &mut Config) {
    config.import.max_messages_per_run = 2;
}

#[tokio::test]
async fn a_run_stopped_by_its_cap_is_due_again_at_once_and_an_empty_one_after_its_interval() {
    let app = app_with(two_messages_per_run).await;
    app.create_account("acct", &[]).await;
    app.graph()
        .seed_generated(
            ADELE,
            "inbox",
            &mailport::sandbox::graph::GenerateSpec {
                count: 3,
                ..Default::default()
            },
        )
        .expect("seed");
    let due = |a: &Value| {
        let t = |k: &str| {
            time::OffsetDateTime::parse(
                a["poll"][k].as_str().expect(k),
                &time::format_description::well_known::Rfc3339,
            )
            .expect("time")
            .unix_timestamp()
        };
        t("next_due_at") - t("last_started_at")
    };
    let s = app.state.importer.run_account("acct").await.unwrap();
    assert_eq!(s.imported, 2, "{s:?}");
    assert!(
        due(&app.api("/accounts/acct").await) <= 1,
        "a backlog is due again at once"
    );
    let s = app.state.importer.run_account("acct").await.unwrap();
    assert_eq!(s.imported, 1, "{s:?}");
    assert_eq!(
        due(&app.api("/accounts/acct").await),
        60,
        "done: due after its interval"
    );
}
