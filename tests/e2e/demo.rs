//! `mailport demo` as a real process: it prints how to sign in, the printed password works,
//! pages carry the sandbox banner, the seeded mail is imported without any clicking and
//! handed on, signed, to the sandbox's receiver, the sandbox has a front page, and a restart
//! on the same data dir imports (and delivers) nothing twice.
//! Needs no browser, so it runs wherever `cargo test` does.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use scraper::{Html, Selector};
use serde_json::Value;

use crate::harness::{Proc, WAIT, free_port};

/// Messages the demo seeds into Adele's inbox for `demo-inbox`.
const INBOX: u64 = 13;

fn csrf(page: &str) -> String {
    let doc = Html::parse_document(page);
    let sel = Selector::parse("input[name=csrf_token]").expect("selector");
    doc.select(&sel)
        .next()
        .and_then(|i| i.value().attr("value"))
        .expect("a CSRF token on the page")
        .to_string()
}

/// A running `mailport demo` and what it printed.
struct Demo {
    proc: Proc,
    app: String,
    sandbox: String,
    password: String,
    client: reqwest::Client,
}

impl Demo {
    async fn start(dir: &Path, log_name: &'static str) -> Demo {
        let (app_port, sandbox_port) = (free_port(), free_port());
        let app = format!("http://127.0.0.1:{app_port}");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mailport"));
        cmd.arg("demo")
            .arg("--listen")
            .arg(format!("127.0.0.1:{app_port}"))
            .arg("--sandbox-listen")
            .arg(format!("127.0.0.1:{sandbox_port}"))
            .arg("--data-dir")
            .arg(dir.join("demo-data"))
            .arg("--public-url")
            .arg(&app)
            .env("MAILPORT_LOG", "warn");
        let mut proc = Proc::spawn(log_name, cmd, dir);
        let line = proc.wait_for_line("Sign in as").await;
        // "Sign in as         admin / <password>   (a new password …)"
        let mut words = line.split_whitespace().skip_while(|w| *w != "admin");
        assert_eq!(words.next(), Some("admin"), "{line}");
        assert_eq!(words.next(), Some("/"), "{line}");
        let password = words.next().expect("the printed password").to_string();
        proc.wait_for_line("Press Ctrl-C to stop").await;
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .timeout(Duration::from_secs(20))
            .build()
            .expect("client");
        let demo = Demo {
            proc,
            app,
            sandbox: format!("http://127.0.0.1:{sandbox_port}"),
            password,
            client,
        };
        demo.sign_in().await;
        demo
    }

    async fn sign_in(&self) {
        let login = self
            .client
            .get(format!("{}/login", self.app))
            .send()
            .await
            .expect("login page")
            .text()
            .await
            .expect("body");
        let r = self
            .client
            .post(format!("{}/login", self.app))
            .form(&[
                ("csrf_token", csrf(&login).as_str()),
                ("username", "admin"),
                ("password", self.password.as_str()),
            ])
            .send()
            .await
            .expect("sign in");
        let page = r.text().await.expect("body");
        assert!(page.contains("Sign out"), "the printed password works");
        assert!(
            page.contains("id=\"demo-banner\"") && page.contains("sandbox data"),
            "pages say that they show sandbox data"
        );
    }

    async fn api(&self, path: &str) -> Value {
        self.client
            .get(format!("{}/api/v1{path}", self.app))
            .send()
            .await
            .expect("api")
            .json()
            .await
            .expect("json")
    }

    /// Waits until `done` holds for the account's latest run.
    async fn wait_for_run(&self, account: &str, done: impl Fn(&Value) -> bool) -> Value {
        let start = Instant::now();
        loop {
            let json = self.api(&format!("/accounts/{account}")).await;
            if done(&json) {
                return json;
            }
            assert!(
                start.elapsed() < WAIT,
                "{account}: no such run: {json}\n{}",
                self.proc.output()
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// Waits until the sandbox's receiver `demo` has answered 200 to `count` distinct
    /// webhook-ids, each with a valid signature; returns what it received.
    async fn wait_for_deliveries(&self, count: usize) -> Vec<Value> {
        let start = Instant::now();
        loop {
            let got: Value = reqwest::get(format!(
                "{}/_sandbox/receiver/demo/deliveries",
                self.sandbox
            ))
            .await
            .expect("receiver")
            .json()
            .await
            .expect("json");
            let list = got["deliveries"].as_array().cloned().unwrap_or_default();
            let delivered: std::collections::BTreeSet<&str> = list
                .iter()
                .filter(|d| d["answer"] == "200")
                .filter_map(|d| d["webhook_id"].as_str())
                .collect();
            if delivered.len() >= count {
                assert!(
                    list.iter().all(|d| d["signature_valid"] == true),
                    "every delivery verifies: {got}"
                );
                return list;
            }
            assert!(
                start.elapsed() < WAIT,
                "the receiver got {} of {count}: {got}\n{}",
                delivered.len(),
                self.proc.output()
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    async fn sandbox_folder_sizes(&self) -> (u64, u64) {
        let folders: Value = reqwest::get(format!(
            "{}/_sandbox/graph/mailboxes/adele@contoso.onmicrosoft.com/folders",
            self.sandbox
        ))
        .await
        .expect("sandbox")
        .json()
        .await
        .expect("json");
        let count = |name: &str| {
            folders["folders"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|f| f["display_name"] == name)
                .and_then(|f| f["total_item_count"].as_u64())
                .unwrap_or(0)
        };
        (count("Inbox"), count("Imported"))
    }
}

pub async fn demo_starts_app_and_sandbox_with_data_ready_to_use() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut demo = Demo::start(dir.path(), "demo").await;
    let output = demo.proc.output();
    for expected in [
        demo.app.as_str(),
        "adele@contoso.onmicrosoft.com / Sandbox-Passw0rd!",
        demo.sandbox.as_str(),
        "demo-data",
        "\"Pick an account\"",
        "arrive within seconds",
        "apikey create NAME --data-dir",
        "/_sandbox/receiver/demo/deliveries",
    ] {
        assert!(output.contains(expected), "prints {expected}:\n{output}");
    }

    let page = demo
        .client
        .get(format!("{}/credentials", demo.app))
        .send()
        .await
        .expect("credentials")
        .text()
        .await
        .expect("body");
    assert!(page.contains("demo-app") && page.contains("demo-sign-in"));
    assert!(
        page.contains("action=\"/credentials/demo-sign-in/token\""),
        "the key button is on the list too"
    );
    let creds = demo.api("/credentials/demo-app").await;
    assert_eq!(creds["token"]["status"], "valid", "{creds}");

    // Static files: cached, and gzipped for a client that asks.
    let r = demo
        .client
        .get(format!("{}/static/app.css", demo.app))
        .header(reqwest::header::ACCEPT_ENCODING, "gzip")
        .send()
        .await
        .expect("static");
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    let header = |name| {
        r.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(header(reqwest::header::CONTENT_ENCODING), "gzip");
    assert!(header(reqwest::header::CACHE_CONTROL).contains("max-age"));

    // The enabled account imports the seeded inbox on its own, in seconds.
    demo.wait_for_run("demo-inbox", |a| a["last_run"]["outcome"] == "ok")
        .await;
    let list = demo.api("/messages?account=demo-inbox").await;
    assert_eq!(list["total"], INBOX, "{list}");
    let subjects: Vec<&str> = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["subject"].as_str())
        .collect();
    assert!(
        subjects
            .iter()
            .any(|s| s.starts_with("Weekly service desk report, week ")),
        "{subjects:?}"
    );
    assert!(
        list["items"].as_array().into_iter().flatten().all(|m| {
            m["from"]
                .as_str()
                .is_some_and(|f| !f.contains("example.com") && !f.starts_with("sender"))
        }),
        "real-looking senders: {list}"
    );

    // Every imported message reached the sandbox's business application, signed.
    let deliveries = demo.wait_for_deliveries(INBOX as usize).await;
    assert_eq!(
        deliveries.len(),
        INBOX as usize,
        "each once: {deliveries:?}"
    );
    let webhook = demo.api("/webhooks/demo-receiver").await;
    assert_eq!(webhook["status"], "ok", "{webhook}");

    // The delegated account waits for a person at the key button.
    let archive = demo.api("/accounts/demo-archive").await;
    assert_eq!(archive["status"], "needs_consent", "{archive}");
    assert_eq!(archive["credential_id"], "demo-sign-in");

    // The printed sandbox URL has a front page whose links all work.
    let front = reqwest::get(&demo.sandbox).await.expect("sandbox page");
    assert_eq!(front.status(), reqwest::StatusCode::OK);
    let front = front.text().await.expect("body");
    for expected in [
        "contoso.onmicrosoft.com",
        "adele@contoso.onmicrosoft.com",
        "Sandbox-Passw0rd!",
        "/_sandbox/identity/token-log",
    ] {
        assert!(
            front.contains(expected),
            "the sandbox page names {expected}"
        );
    }
    let links: Vec<String> = Html::parse_document(&front)
        .select(&Selector::parse("a[href]").expect("selector"))
        .filter_map(|a| a.value().attr("href").map(str::to_string))
        .collect();
    assert!(links.len() >= 8, "{links:?}");
    for link in links {
        let r = reqwest::get(format!("{}{link}", demo.sandbox))
            .await
            .expect("link");
        assert_eq!(r.status(), reqwest::StatusCode::OK, "{link}");
    }
    demo.proc.terminate().await;
}

pub async fn a_restarted_demo_imports_nothing_twice() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut first = Demo::start(dir.path(), "demo-first").await;
    first
        .wait_for_run("demo-inbox", |a| a["last_run"]["outcome"] == "ok")
        .await;
    assert_eq!(first.api("/messages").await["total"], INBOX);
    assert_eq!(first.sandbox_folder_sizes().await, (0, INBOX));
    first.wait_for_deliveries(INBOX as usize).await;
    // Empty polls are not in the run history, only in the account's `poll`.
    let first_poll = first.api("/accounts/demo-inbox").await["poll"].clone();
    first.proc.terminate().await;

    // Straight away, well within the poll interval: the first poll still runs at once.
    let mut second = Demo::start(dir.path(), "demo-second").await;
    let output = second.proc.output();
    assert!(
        output.contains("at the first") && output.contains("imports nothing twice"),
        "{output}"
    );
    // The sandbox looks as the first start left it: everything moved to Imported.
    assert_eq!(second.sandbox_folder_sizes().await, (0, INBOX));
    let run = second
        .wait_for_run("demo-inbox", |a| {
            let poll = &a["poll"];
            poll["running"] == false
                && (poll["last_started_at"] != first_poll["last_started_at"]
                    || poll["polls_since_import"] != first_poll["polls_since_import"])
        })
        .await;
    // That poll imported nothing: the count of polls since the last import went up.
    assert_eq!(run["poll"]["last_outcome"], "ok", "{run}");
    assert!(
        run["poll"]["polls_since_import"].as_i64() > first_poll["polls_since_import"].as_i64(),
        "{run}"
    );
    let list = second.api("/messages").await;
    assert_eq!(list["total"], INBOX, "no message twice: {list}");
    // Nothing was queued for the receiver again.
    let webhook = second.api("/webhooks/demo-receiver").await;
    assert_eq!(webhook["backlog"]["waiting"], 0, "{webhook}");
    assert_eq!(webhook["backlog"]["delivered"], INBOX, "{webhook}");
    second.proc.terminate().await;
}
