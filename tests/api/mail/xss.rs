//! Hostile mail. Every payload goes into a message's subject, sender name, plain text, HTML
//! body and attachment file name (and a few into the account id and the search box); the
//! served pages must then contain nothing that runs, navigates, submits or loads, and the
//! text fields must come back as the very same text (proof that they were escaped, not
//! interpreted).

use reqwest::StatusCode;
use scraper::{ElementRef, Html, Selector};

use super::fixtures::{Eml, PNG, Part, store};
use crate::helpers::TestApp;

// The corpus is shared with the browser test (tests/e2e), which runs it in Chromium.
include!("../../common/xss_payloads.rs");

/// Attributes whose value a browser follows or loads.
const URL_ATTRIBUTES: &[&str] = &[
    "href",
    "src",
    "action",
    "formaction",
    "data",
    "poster",
    "background",
    "srcset",
    "cite",
    "ping",
    "xlink:href",
];

/// Elements that must never appear on a mail page.
const FORBIDDEN: &[&str] = &[
    "iframe", "object", "embed", "base", "frame", "frameset", "applet", "style", "svg", "math",
    "template", "noscript", "isindex", "video", "audio", "textarea", "animate", "set",
];

fn sel(css: &str) -> Selector {
    Selector::parse(css).expect("selector")
}

/// What the browser compares against: it drops ASCII whitespace and controls in URLs.
fn url_as_browser_reads(value: &str) -> String {
    value
        .chars()
        .filter(|c| !c.is_ascii_whitespace() && !c.is_ascii_control())
        .collect::<String>()
        .to_ascii_lowercase()
}

fn in_mail_html(el: &ElementRef<'_>) -> bool {
    el.ancestors()
        .filter_map(ElementRef::wrap)
        .any(|a| a.value().classes().any(|c| c == "mail-html"))
}

/// Nothing that runs, navigates elsewhere, submits or loads from outside.
fn assert_harmless(page: &str, ctx: &str) {
    let doc = Html::parse_document(page);
    for el in doc.select(&sel("*")) {
        let v = el.value();
        let name = v.name();
        assert!(!FORBIDDEN.contains(&name), "{ctx}: <{name}> on the page");
        match name {
            "script" => {
                assert_eq!(v.attr("src"), Some("/static/app.js"), "{ctx}: a script");
                assert_eq!(el.text().collect::<String>(), "", "{ctx}: inline script");
            }
            "meta" => assert!(v.attr("http-equiv").is_none(), "{ctx}: meta http-equiv"),
            "link" => assert_eq!(v.attr("href"), Some("/static/app.css"), "{ctx}: link"),
            "form" => assert!(
                matches!(v.attr("action"), Some("/logout" | "/mail")),
                "{ctx}: form to {:?}",
                v.attr("action")
            ),
            _ => {}
        }
        if in_mail_html(&el) {
            assert!(
                !matches!(name, "form" | "input" | "button" | "select" | "option"),
                "{ctx}: <{name}> inside the message"
            );
        }
        for (attr, value) in v.attrs() {
            let lower = attr.to_ascii_lowercase();
            assert!(
                !lower.starts_with("on"),
                "{ctx}: {attr}={value:?} on <{name}>"
            );
            assert!(lower != "style", "{ctx}: style={value:?} on <{name}>");
            if URL_ATTRIBUTES.contains(&lower.as_str()) {
                let url = url_as_browser_reads(value);
                for bad in [
                    "javascript:",
                    "vbscript:",
                    "data:",
                    "//",
                    "http://t",
                    "https://t",
                ] {
                    assert!(!url.starts_with(bad), "{ctx}: {attr}={value:?} on <{name}>");
                }
            }
        }
    }
}

/// The message's own HTML: only its inline images, only safe links that open apart.
fn assert_message_html(doc: &Html, id: i64, ctx: &str) {
    let own = format!("/mail/{id}/cid/");
    for img in doc.select(&sel(".mail-html img")) {
        if let Some(src) = img.value().attr("src") {
            assert!(src.starts_with(&own), "{ctx}: img src={src:?}");
            assert!(!src[own.len()..].contains('/'), "{ctx}: img src={src:?}");
        }
        assert!(img.value().attr("srcset").is_none(), "{ctx}: srcset");
    }
    for a in doc.select(&sel(".mail-html a")) {
        if let Some(href) = a.value().attr("href") {
            let scheme_ok = ["http://", "https://", "mailto:"]
                .iter()
                .any(|s| href.starts_with(s));
            assert!(scheme_ok, "{ctx}: a href={href:?}");
        }
        assert_eq!(a.value().attr("rel"), Some("noopener noreferrer"), "{ctx}");
        assert_eq!(a.value().attr("target"), Some("_blank"), "{ctx}");
    }
}

/// Text as a browser's DOM holds it (CR LF become LF, NUL is dropped).
fn dom_text(s: &str) -> String {
    s.replace("\r\n", "\n")
        .replace('\r', "\n")
        .replace('\0', "")
}

fn only_text(doc: &Html, css: &str, ctx: &str) -> String {
    let el = doc
        .select(&sel(css))
        .next()
        .unwrap_or_else(|| panic!("{ctx}: no {css}"));
    assert_eq!(
        el.children().filter_map(ElementRef::wrap).count(),
        0,
        "{ctx}: markup inside {css}"
    );
    el.text().collect()
}

#[tokio::test]
async fn hostile_messages_render_as_text_and_harmless_markup() {
    assert!(PAYLOADS.len() >= 50);
    assert!(PAYLOADS.iter().all(|p| p.chars().count() <= 200));
    let app = TestApp::signed_in().await;
    let mut stored = Vec::new();
    for (i, payload) in PAYLOADS.iter().enumerate() {
        let raw = Eml::new(payload)
            .from(payload, "attacker@evil.example")
            .text(payload)
            .html(&format!(
                "<img src=\"cid:logo@x\"><p>before</p>{payload}<p>after</p>"
            ))
            .part(Part::inline_image("logo@x", "image/png", PNG))
            .part(Part::attachment(
                payload,
                "text/html",
                b"<script>alert(1)</script>",
            ))
            .build();
        let (id, _) = store(
            &app,
            "evil",
            &format!("g{i}"),
            &raw,
            Some(1_800_000_000 + i as i64),
        )
        .await;
        stored.push((id, *payload, mailport::mime::parse(&raw)));
    }
    // The payloads must really reach the stored fields, or this test would prove nothing.
    let intact = stored.iter().filter(|(_, p, m)| m.subject == *p).count();
    assert!(
        intact + 3 >= PAYLOADS.len(),
        "only {intact} subjects intact"
    );
    let names = stored
        .iter()
        .filter(|(_, p, m)| m.attachments.get(1).is_some_and(|a| a.name == *p))
        .count();
    assert!(
        names + 3 >= PAYLOADS.len(),
        "only {names} file names intact"
    );

    for (id, payload, m) in &stored {
        let ctx = format!("message {id} ({payload:?})");
        let page = app.get_text(&format!("/mail/{id}")).await;
        assert_harmless(&page, &ctx);
        let doc = Html::parse_document(&page);
        assert_message_html(&doc, *id, &ctx);

        assert_eq!(
            only_text(&doc, "#h-subject", &ctx),
            dom_text(&m.subject),
            "{ctx}"
        );
        let h1 = if m.subject.is_empty() {
            "(no subject)".to_string()
        } else {
            dom_text(&m.subject)
        };
        assert_eq!(only_text(&doc, "h1.mail-subject", &ctx), h1, "{ctx}");
        let from = m.from.as_ref().expect("sender");
        // Hostile display names can confuse the address parser; compare with what it read.
        let expected_from = match (from.name.as_deref().map(str::trim), &from.address) {
            (Some(n), Some(a)) if !n.is_empty() => format!("{n} <{a}>"),
            (_, Some(a)) => a.clone(),
            (Some(n), None) => n.to_string(),
            (None, None) => String::new(),
        };
        assert_eq!(
            only_text(&doc, "#h-from", &ctx),
            dom_text(&expected_from),
            "{ctx}"
        );
        let names: Vec<String> = doc
            .select(&sel("a.attachment-name"))
            .map(|a| {
                assert_eq!(
                    a.children().filter_map(ElementRef::wrap).count(),
                    0,
                    "{ctx}"
                );
                a.text().collect()
            })
            .collect();
        let expected: Vec<String> = m.attachments.iter().map(|a| dom_text(&a.name)).collect();
        assert_eq!(names, expected, "{ctx}");
        if let Some(text) = &m.text_body {
            assert_eq!(
                only_text(&doc, "pre.mail-text", &ctx),
                dom_text(text),
                "{ctx}"
            );
        }
        // The inline logo before the payload survived sanitising.
        assert!(
            page.contains(&format!("src=\"/mail/{id}/cid/logo@x\"")),
            "{ctx}"
        );
    }

    // The list shows the same subjects and senders, as text.
    let mut seen = 0;
    for page_no in 1..=2 {
        let page = app.get_text(&format!("/mail?page={page_no}")).await;
        assert_harmless(&page, &format!("list page {page_no}"));
        let doc = Html::parse_document(&page);
        for row in doc.select(&sel("tbody tr")) {
            let id: i64 = row
                .value()
                .attr("data-id")
                .and_then(|v| v.parse().ok())
                .expect("row id");
            let (_, _, m) = stored.iter().find(|(i, _, _)| *i == id).expect("stored");
            let cell = row.select(&sel("td.subject a")).next().expect("subject");
            assert_eq!(cell.children().filter_map(ElementRef::wrap).count(), 0);
            let shown: String = cell.text().collect();
            if !m.subject.is_empty() {
                assert_eq!(shown, dom_text(&m.subject), "list row {id}");
            }
            seen += 1;
        }
    }
    assert_eq!(seen, PAYLOADS.len());
}

#[tokio::test]
async fn hostile_account_ids_and_search_text_are_escaped() {
    let app = TestApp::signed_in().await;
    let account = "\"><script>alert(1)</script><img src=x onerror=alert(1)>";
    let raw = Eml::new("plain").text("plain").build();
    store(&app, account, "g1", &raw, None).await;

    let page = app.get_text("/mail").await;
    assert_harmless(&page, "list with a hostile account");
    let doc = Html::parse_document(&page);
    let option = doc
        .select(&sel("select#account option"))
        .nth(1)
        .expect("account option");
    assert_eq!(option.value().attr("value"), Some(account));
    assert_eq!(option.text().collect::<String>(), account);

    for q in PAYLOADS.iter().take(30) {
        let r = app
            .client
            .get(app.url("/mail"))
            .query(&[("q", *q), ("account", account)])
            .send()
            .await
            .expect("GET");
        assert_eq!(r.status(), StatusCode::OK, "{q}");
        let page = r.text().await.expect("body");
        assert_harmless(&page, &format!("search {q:?}"));
        let doc = Html::parse_document(&page);
        let input = doc.select(&sel("input#q")).next().expect("search box");
        assert_eq!(
            input.value().attr("value"),
            Some(dom_text(q.trim()).as_str()),
            "{q}"
        );
    }
}
