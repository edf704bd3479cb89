//! The mail corpus: every `tests/corpus/mail/NAME.eml` is seeded into the sandbox mailbox
//! over HTTP, imported by the real importer, and then read back as a user and a program
//! would: through the JSON API, the message page and the downloads. What each must show is
//! in `NAME.json` next to it (subject, sender, text excerpts, calendar summary, attachments
//! with their sha256, and the sha256 of the raw file). Adding a case is adding two files.
//!
//! The cases come from public bug reports of other mail products (`../shared/cases/mail`)
//! and from the kinds of message they stand for: charsets Outlook reads, encoded words split
//! anywhere, TNEF, meeting requests, forwarded messages, unnamed parts, control and format
//! characters.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use reqwest::StatusCode;
use scraper::{Html, Selector};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::helpers::*;

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/mail")
}

/// (name, raw bytes, expected values) for every case, sorted by name.
fn cases() -> Vec<(String, Vec<u8>, Value)> {
    let dir = corpus_dir();
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("corpus folder")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let emls: Vec<&str> = names
        .iter()
        .filter_map(|n| n.strip_suffix(".eml"))
        .collect();
    let jsons: Vec<&str> = names
        .iter()
        .filter_map(|n| n.strip_suffix(".json"))
        .collect();
    assert_eq!(
        emls, jsons,
        "every .eml needs its .json and every .json its .eml"
    );
    emls.iter()
        .map(|name| {
            let raw = std::fs::read(dir.join(format!("{name}.eml"))).expect("eml");
            let text = std::fs::read_to_string(dir.join(format!("{name}.json"))).expect("json");
            let expected: Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{name}.json is not JSON: {e}"));
            (name.to_string(), raw, expected)
        })
        .collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A C0 control character other than tab, CR and LF (or DEL).
fn control_in(s: &str) -> Option<char> {
    s.chars()
        .find(|&c| (c.is_ascii_control() && !matches!(c, '\t' | '\r' | '\n')) || c == '\u{7f}')
}

/// Collects what differs from the expected values, so that one run names every case that
/// is wrong and why.
struct Report {
    failures: Vec<String>,
}

impl Report {
    fn check(&mut self, case: &str, what: &str, ok: bool, detail: impl FnOnce() -> String) {
        if !ok {
            self.failures.push(format!("{case}: {what}: {}", detail()));
        }
    }
    fn eq(&mut self, case: &str, what: &str, got: &Value, want: &Value) {
        self.check(case, what, got == want, || {
            format!("got {got}, want {want}")
        });
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn every_corpus_message_shows_as_its_sender_wrote_it() {
    let app = TestApp::signed_in().await;
    app.app_credential().await;
    let r = app
        .create_account("acct", &[("after_import", "keep")])
        .await;
    assert_is_redirect_to(&r, "/accounts/acct");
    let cases = cases();
    assert!(
        cases.len() >= 14 + 15,
        "the shared cases and at least 15 more"
    );

    // Seed every case over the sandbox's HTTP control API, exactly as the file holds it.
    let http = reqwest::Client::new();
    let mut by_graph_id = BTreeMap::new();
    for (name, raw, _) in &cases {
        let r = http
            .post(format!(
                "{}/_sandbox/graph/mailboxes/{ADELE}/folders/inbox/eml",
                app.sandbox.base_url
            ))
            .header("content-type", "message/rfc822")
            .body(raw.clone())
            .send()
            .await
            .expect("seed");
        assert_eq!(r.status(), StatusCode::CREATED, "seeding {name}");
        let seeded: Value = r.json().await.expect("json");
        let graph_id = seeded["messages"][0]["immutable_id"]
            .as_str()
            .expect("immutable id")
            .to_string();
        by_graph_id.insert(graph_id, name.clone());
    }

    let summary = app.state.importer.run_account("acct").await.expect("run");
    assert_eq!(
        (summary.outcome.as_str(), summary.imported, summary.failed),
        ("ok", cases.len() as i64, 0),
        "{summary:?}"
    );

    let list = app.api("/messages?account=acct").await;
    let mut ids = BTreeMap::new();
    for item in list["items"].as_array().expect("items") {
        let name = by_graph_id
            .get(item["graph_id"].as_str().unwrap_or(""))
            .expect("a seeded message")
            .clone();
        ids.insert(name, item["id"].as_i64().expect("id"));
    }
    assert_eq!(ids.len(), cases.len(), "one stored message per case");

    let mut report = Report {
        failures: Vec::new(),
    };
    for (name, raw, want) in &cases {
        let id = ids[name];
        check_api(&app, &mut report, name, id, raw, want).await;
        check_page(&app, &mut report, name, id, want).await;
        println!("corpus case {name}: checked");
    }
    assert!(
        report.failures.is_empty(),
        "{} differences:\n{}",
        report.failures.len(),
        report.failures.join("\n")
    );
}

/// The JSON API, the raw download and every attachment download.
async fn check_api(
    app: &TestApp,
    report: &mut Report,
    name: &str,
    id: i64,
    raw: &[u8],
    want: &Value,
) {
    let got_raw = app
        .get(&format!("/api/v1/messages/{id}/raw"))
        .await
        .bytes()
        .await
        .expect("raw");
    report.check(name, "raw bytes", got_raw[..] == raw[..], || {
        "the raw download differs from the file".into()
    });
    report.eq(
        name,
        "raw sha256 of the file",
        &Value::from(sha256_hex(raw)),
        &want["raw_sha256"],
    );

    let m = app.api(&format!("/messages/{id}")).await;
    report.eq(name, "subject", &m["subject"], &want["subject"]);
    report.eq(name, "from_name", &m["from_name"], &want["from_name"]);
    report.eq(name, "from", &m["from"], &want["from_address"]);
    let text = m["text_body"].as_str().unwrap_or("");
    for excerpt in strings(&want["text"]) {
        report.check(name, "text body", text.contains(&excerpt), || {
            format!("{excerpt:?} not in {text:?}")
        });
    }
    for absent in strings(&want["not_in_text"]) {
        report.check(name, "text body", !text.contains(&absent), || {
            format!("{absent:?} in {text:?}")
        });
    }
    for (field, value) in [
        ("subject", m["subject"].as_str()),
        ("from_name", m["from_name"].as_str()),
        ("text_body", m["text_body"].as_str()),
    ] {
        let value = value.unwrap_or("");
        report.check(name, field, control_in(value).is_none(), || {
            format!("control character in {value:?}")
        });
    }

    if want["calendar"].is_object() {
        for key in ["title", "when", "location", "organizer", "description"] {
            report.eq(
                name,
                &format!("calendar {key}"),
                &m["calendar"][key],
                &want["calendar"][key],
            );
        }
    } else {
        report.eq(name, "calendar", &m["calendar"], &Value::Null);
    }

    let expected = want["attachments"].as_array().cloned().unwrap_or_default();
    let listed = m["attachments"].as_array().cloned().unwrap_or_default();
    let shape = |list: &[Value]| -> Vec<Value> {
        list.iter()
            .map(|a| serde_json::json!([a["name"], a["content_type"], a["size"]]))
            .collect()
    };
    report.eq(
        name,
        "attachments",
        &Value::from(shape(&listed)),
        &Value::from(shape(&expected)),
    );
    report.eq(
        name,
        "attachments_truncated",
        &m["attachments_truncated"],
        &Value::Bool(false),
    );
    for (n, a) in expected.iter().enumerate() {
        let r = app.get(&format!("/mail/{id}/attachments/{n}")).await;
        if r.status() != StatusCode::OK {
            report.check(name, "attachment download", false, || {
                format!("attachment {n}: {}", r.status())
            });
            continue;
        }
        let bytes = r.bytes().await.expect("attachment");
        report.eq(
            name,
            &format!("sha256 of attachment {n}"),
            &Value::from(sha256_hex(&bytes)),
            &a["sha256"],
        );
    }
}

/// The message page, as the browser gets it.
async fn check_page(app: &TestApp, report: &mut Report, name: &str, id: i64, want: &Value) {
    let page = app.get_text(&format!("/mail/{id}")).await;
    report.check(name, "page HTML", control_in(&page).is_none(), || {
        format!("control character {:?} in the page", control_in(&page))
    });
    let doc = Html::parse_document(&page);
    let texts = |css: &str| -> Vec<String> {
        let sel = Selector::parse(css).expect("selector");
        doc.select(&sel)
            .map(|e| e.text().collect::<String>())
            .collect()
    };
    let subject = want["subject"].as_str().unwrap_or("");
    report.eq(
        name,
        "page subject",
        &Value::from(texts("h1.mail-subject")),
        &Value::from(vec![subject]),
    );
    let from = texts("#h-from").concat();
    let from_name = want["from_name"].as_str().unwrap_or("");
    let address = want["from_address"].as_str().unwrap_or("");
    report.check(
        name,
        "page sender",
        from.contains(from_name) && from.contains(address),
        || from.clone(),
    );
    let whole: String = doc.root_element().text().collect();
    for excerpt in strings(&want["text"])
        .into_iter()
        .chain(strings(&want["html"]))
    {
        report.check(name, "page text", whole.contains(&excerpt), || {
            format!("{excerpt:?} not on the page")
        });
    }
    for excerpt in strings(&want["html"]) {
        let html = texts(".mail-html").concat();
        report.check(name, "page HTML body", html.contains(&excerpt), || {
            format!("{excerpt:?} not in {html:?}")
        });
    }
    if let Some(when) = want["calendar"]["when"].as_str() {
        report.eq(
            name,
            "page calendar",
            &Value::from(texts("#cal-when")),
            &Value::from(vec![when]),
        );
    }
    let names: Vec<Value> = want["attachments"]
        .as_array()
        .map(|a| a.iter().map(|x| x["name"].clone()).collect())
        .unwrap_or_default();
    let shown: Vec<Value> = texts("a.attachment-name")
        .into_iter()
        .map(Value::from)
        .collect();
    report.eq(
        name,
        "page attachment names",
        &Value::from(shown),
        &Value::from(names),
    );
    if let Some(n) = want["inline_images"].as_u64() {
        let count = page.matches(&format!("src=\"/mail/{id}/cid/")).count() as u64;
        report.check(name, "inline images", count == n, || {
            format!("{count} shown, {n} expected")
        });
    }
}
