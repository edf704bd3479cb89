//! `mailport demo` as a real process: it prints how to sign in, the printed password works,
//! pages carry the sandbox banner, and the seeded mail is imported without any clicking.
//! Needs no browser, so it runs wherever `cargo test` does.

use std::process::Command;
use std::time::{Duration, Instant};

use scraper::{Html, Selector};

use crate::harness::{Proc, WAIT, free_port};

fn csrf(page: &str) -> String {
    let doc = Html::parse_document(page);
    let sel = Selector::parse("input[name=csrf_token]").expect("selector");
    doc.select(&sel)
        .next()
        .and_then(|i| i.value().attr("value"))
        .expect("a CSRF token on the page")
        .to_string()
}

pub async fn demo_starts_app_and_sandbox_with_data_ready_to_use() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (app_port, sandbox_port) = (free_port(), free_port());
    let app = format!("http://127.0.0.1:{app_port}");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mailport"));
    cmd.arg("demo")
        .arg("--listen")
        .arg(format!("127.0.0.1:{app_port}"))
        .arg("--sandbox-listen")
        .arg(format!("127.0.0.1:{sandbox_port}"))
        .arg("--data-dir")
        .arg(dir.path().join("demo-data"))
        .arg("--public-url")
        .arg(&app)
        .env("MAILPORT_LOG", "warn");
    let mut demo = Proc::spawn("demo", cmd, dir.path());
    let line = demo.wait_for_line("Sign in as").await;
    // "Sign in as         admin / <password>   (a new password …)"
    let mut words = line.split_whitespace().skip_while(|w| *w != "admin");
    assert_eq!(words.next(), Some("admin"), "{line}");
    assert_eq!(words.next(), Some("/"), "{line}");
    let password = words.next().expect("the printed password").to_string();
    let output = demo.output();
    for expected in [
        app.as_str(),
        "adele@contoso.onmicrosoft.com / Sandbox-Passw0rd!",
        &format!("127.0.0.1:{sandbox_port}"),
        "demo-data",
    ] {
        assert!(output.contains(expected), "prints {expected}:\n{output}");
    }

    let client = reqwest::Client::builder()
        .cookie_store(true)
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client");
    let login = client
        .get(format!("{app}/login"))
        .send()
        .await
        .expect("login page")
        .text()
        .await
        .expect("body");
    let r = client
        .post(format!("{app}/login"))
        .form(&[
            ("csrf_token", csrf(&login).as_str()),
            ("username", "admin"),
            ("password", password.as_str()),
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
    assert!(page.contains("demo-app") && page.contains("demo-sign-in"));

    let creds: serde_json::Value = client
        .get(format!("{app}/api/v1/credentials/demo-app"))
        .send()
        .await
        .expect("api")
        .json()
        .await
        .expect("json");
    assert_eq!(creds["token"]["status"], "valid", "{creds}");

    // Static files: cached, and gzipped for a client that asks.
    let r = client
        .get(format!("{app}/static/app.css"))
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

    // The enabled account imports the seeded inbox on its own.
    let start = Instant::now();
    loop {
        let list: serde_json::Value = client
            .get(format!("{app}/api/v1/messages?account=demo-inbox"))
            .send()
            .await
            .expect("api")
            .json()
            .await
            .expect("json");
        if list["total"].as_u64().unwrap_or(0) >= 13 {
            break;
        }
        assert!(
            start.elapsed() < WAIT,
            "the demo's mail was not imported: {list}\n{}",
            demo.output()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}
