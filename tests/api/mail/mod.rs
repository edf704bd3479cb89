//! The imported-mail browser and its JSON API, over real HTTP. Messages are stored the way the
//! importer stores them: raw bytes into the blob store, parsed with `mime::parse`, recorded
//! with `messages::insert_imported`.

mod api;
mod downloads;
mod fixtures;
mod xss;

use reqwest::{StatusCode, header};
use scraper::{Html, Selector};
use serde_json::Value;

use crate::helpers::TestApp;
use fixtures::{Eml, PNG, Part, store};

fn select<'a>(doc: &'a Html, css: &str) -> Vec<scraper::ElementRef<'a>> {
    let sel = Selector::parse(css).expect("selector");
    doc.select(&sel).collect()
}

fn text(e: &scraper::ElementRef<'_>) -> String {
    e.text().collect()
}

fn header_of(r: &reqwest::Response, name: header::HeaderName) -> String {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

fn one_in(e: &scraper::ElementRef<'_>, css: &str) -> String {
    let sel = Selector::parse(css).expect("selector");
    e.select(&sel).next().map(|x| text(&x)).unwrap_or_default()
}

/// Subjects of the list's rows, top to bottom.
fn subjects(page: &str) -> Vec<String> {
    let doc = Html::parse_document(page);
    select(&doc, "td.subject a").iter().map(text).collect()
}

#[tokio::test]
async fn list_is_newest_first_and_paged_by_fifty() {
    let app = TestApp::signed_in().await;
    for i in 0..120 {
        let raw = Eml::new(&format!("Message {i:03}")).build();
        store(
            &app,
            "acct",
            &format!("g{i}"),
            &raw,
            Some(1_800_000_000 + i),
        )
        .await;
    }

    let first = app.get_text("/mail").await;
    let rows = subjects(&first);
    assert_eq!(rows.len(), 50);
    assert_eq!(rows[0], "Message 119");
    assert_eq!(rows[49], "Message 070");
    assert!(first.contains("120 messages, page 1 of 3"), "{first}");
    assert!(first.contains(r#"href="/mail?page=2""#));

    let second = subjects(&app.get_text("/mail?page=2").await);
    assert_eq!(second.first().map(String::as_str), Some("Message 069"));
    assert_eq!(second.len(), 50);
    let third = subjects(&app.get_text("/mail?page=3").await);
    assert_eq!(third.len(), 20);
    assert_eq!(third.last().map(String::as_str), Some("Message 000"));

    // A page after the last one says so; a page that is not a number is page 1.
    let beyond = app.get_text("/mail?page=4").await;
    assert!(subjects(&beyond).is_empty());
    assert!(beyond.contains("There is no page 4"), "{beyond}");
    for bad in ["abc", "0", "-1", "99999999999999999999999"] {
        let page = app.get_text(&format!("/mail?page={bad}")).await;
        assert_eq!(subjects(&page)[0], "Message 119", "page={bad}");
    }

    // The same through the API.
    let json = app.api("/messages?page=3").await;
    assert_eq!(json["page"], 3);
    assert_eq!(json["per_page"], 50);
    assert_eq!(json["total"], 120);
    assert_eq!(json["items"].as_array().map(Vec::len), Some(20));
    assert_eq!(json["items"][19]["subject"], "Message 000");
    let bad = app.get("/api/v1/messages?page=zero").await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let body: Value = bad.json().await.expect("json");
    assert_eq!(body["error"]["code"], "bad_request");
}

#[tokio::test]
async fn list_filters_by_account_and_searches_subject_and_sender() {
    let app = TestApp::signed_in().await;
    let empty = app.get_text("/mail").await;
    assert!(empty.contains("No mail has been imported yet"), "{empty}");

    let mails = [
        ("sales", "Invoice 17", "billing@vendor.example"),
        ("sales", "Lunch", "bob@contoso.example"),
        ("support", "Printer on fire", "carol@contoso.example"),
        ("support", "Re: invoice 17", "dave@contoso.example"),
        ("support", "100% off", "spam@spam.example"),
    ];
    for (i, (account, subject, from)) in mails.iter().enumerate() {
        let raw = Eml::new(subject).from("Someone", from).build();
        store(
            &app,
            account,
            &format!("g{i}"),
            &raw,
            Some(1_800_000_000 + i as i64),
        )
        .await;
    }

    let page = app.get_text("/mail?account=support").await;
    let doc = Html::parse_document(&page);
    let accounts: Vec<String> = select(&doc, "td:nth-child(4)").iter().map(text).collect();
    assert_eq!(accounts, ["support", "support", "support"]);
    let options: Vec<String> = select(&doc, "select#account option")
        .iter()
        .map(|o| o.value().attr("value").unwrap_or("").to_string())
        .collect();
    assert_eq!(options, ["", "sales", "support"]);
    let chosen = select(&doc, "select#account option[selected]");
    assert_eq!(chosen.len(), 1);
    assert_eq!(chosen[0].value().attr("value"), Some("support"));

    // Case-insensitive, over subject and sender; % is a literal.
    assert_eq!(
        subjects(&app.get_text("/mail?q=INVOICE").await),
        ["Re: invoice 17", "Invoice 17"]
    );
    assert_eq!(
        subjects(&app.get_text("/mail?q=vendor.example").await),
        ["Invoice 17"]
    );
    assert_eq!(
        subjects(&app.get_text("/mail?q=100%25").await),
        ["100% off"]
    );
    assert_eq!(
        subjects(&app.get_text("/mail?account=sales&q=invoice").await),
        ["Invoice 17"]
    );
    let none = app.get_text("/mail?q=nothing-matches").await;
    assert!(none.contains("No imported message matches"), "{none}");

    let long = "x".repeat(201);
    let r = app.get(&format!("/mail?q={long}")).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body = r.text().await.expect("body");
    assert!(body.contains("too long"), "{body}");

    let json = app.api("/messages?account=sales").await;
    assert_eq!(json["total"], 2);
    assert!(
        json["items"]
            .as_array()
            .is_some_and(|items| items.iter().all(|m| m["account"] == "sales"))
    );
}

#[tokio::test]
async fn message_page_shows_headers_bodies_and_attachments() {
    let app = TestApp::signed_in().await;
    let raw = Eml::new("Quarterly report")
        .from("Adele Vance", "adele@contoso.example")
        .to("alex@contoso.example")
        .cc("lee@contoso.example")
        .text("Hello <team>,\nsee attached.")
        .html(r#"<p>Hello <b>team</b></p><img src="cid:logo@contoso"><img src="https://tracker.example/a.gif"><img src="http://tracker.example/b.gif"><a href="https://contoso.example/x">link</a>"#)
        .part(Part::inline_image("logo@contoso", "image/png", PNG))
        .part(Part::attachment("report.pdf", "application/pdf", b"%PDF-1.4 bytes"))
        .build();
    let (id, sha) = store(&app, "sales", "g1", &raw, Some(1_800_000_000)).await;

    let page = app.get_text(&format!("/mail/{id}")).await;
    let doc = Html::parse_document(&page);
    let one = |css: &str| select(&doc, css).first().map(text).unwrap_or_default();
    assert_eq!(one("h1.mail-subject"), "Quarterly report");
    assert_eq!(one("#h-from"), "Adele Vance <adele@contoso.example>");
    assert_eq!(one("#h-to"), "alex@contoso.example");
    assert_eq!(one("#h-cc"), "lee@contoso.example");
    assert!(page.contains("2026-09-01 10:00 UTC"), "Date header shown");
    let header_rows: Vec<(String, String)> = select(&doc, "table.mail-headers tr")
        .iter()
        .map(|r| (one_in(r, "th"), one_in(r, "td")))
        .collect();
    let row = |name: &str| {
        header_rows
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    assert_eq!(row("Message-ID"), "m1@contoso.example");
    assert_eq!(row("Account"), "sales");
    assert_eq!(row("Received"), "2027-01-15 08:00 UTC");
    assert!(page.contains(&sha));
    assert!(page.contains(&format!("({} bytes)", raw.len())));
    assert_eq!(one("pre.mail-text"), "Hello <team>,\nsee attached.");
    assert!(one(".mail-html").contains("Hello team"));
    assert!(one("#remote-images").starts_with("2 remote images blocked."));
    let images: Vec<String> = select(&doc, ".mail-html img")
        .iter()
        .map(|i| i.value().attr("src").unwrap_or("").to_string())
        .collect();
    assert_eq!(
        images,
        [format!("/mail/{id}/cid/logo@contoso"), "".into(), "".into()]
    );
    let link = &select(&doc, ".mail-html a")[0];
    assert_eq!(link.value().attr("rel"), Some("noopener noreferrer"));
    assert_eq!(link.value().attr("target"), Some("_blank"));

    let rows: Vec<Vec<String>> = select(&doc, ".mail-attachments tbody tr")
        .iter()
        .map(|r| {
            r.children()
                .filter_map(scraper::ElementRef::wrap)
                .map(|td| text(&td))
                .collect()
        })
        .collect();
    assert_eq!(
        rows,
        [
            vec![
                "attachment-1.png".to_string(),
                "image/png".into(),
                format!("{} B", PNG.len()),
                "inline".into()
            ],
            vec![
                "report.pdf".to_string(),
                "application/pdf".into(),
                "14 B".into(),
                "".into()
            ]
        ]
    );
    let hrefs: Vec<&str> = select(&doc, "a.attachment-name")
        .iter()
        .filter_map(|a| a.value().attr("href"))
        .collect();
    assert_eq!(
        hrefs,
        [
            format!("/mail/{id}/attachments/0"),
            format!("/mail/{id}/attachments/1")
        ]
    );

    for missing in ["/mail/999999", "/mail/abc", "/mail/-1"] {
        assert_eq!(
            app.get(missing).await.status(),
            StatusCode::NOT_FOUND,
            "{missing}"
        );
    }
}

#[tokio::test]
async fn too_large_messages_are_listed_and_explained() {
    let app = TestApp::signed_in().await;
    mailport::store::messages::record_too_large(
        &app.state.db,
        "sales",
        "huge-1",
        80 * 1024 * 1024,
        "Scans <all of them>",
        Some(1_800_000_000),
    )
    .await
    .expect("record");
    let id = app.api("/messages").await["items"][0]["id"]
        .as_i64()
        .expect("id");

    let list = app.get_text("/mail").await;
    let doc = Html::parse_document(&list);
    assert_eq!(
        select(&doc, "tbody tr td:nth-child(7)")
            .iter()
            .map(text)
            .collect::<Vec<_>>(),
        ["too large"]
    );
    assert_eq!(
        select(&doc, "tbody tr td:nth-child(5)")
            .iter()
            .map(text)
            .collect::<Vec<_>>(),
        ["80.0 MB"]
    );

    let page = app.get_text(&format!("/mail/{id}")).await;
    let doc = Html::parse_document(&page);
    let notice = select(&doc, "#too-large")
        .first()
        .map(text)
        .unwrap_or_default();
    assert!(notice.contains("too large to import"), "{notice}");
    assert!(notice.contains("80.0 MB (83886080 bytes)"), "{notice}");
    assert!(notice.contains("left in the mailbox"), "{notice}");
    assert!(select(&doc, &format!("a[href=\"/mail/{id}/raw\"]")).is_empty());

    for path in [
        format!("/mail/{id}/raw"),
        format!("/mail/{id}/attachments/0"),
    ] {
        assert_eq!(
            app.get(&path).await.status(),
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    let json = app.api(&format!("/messages/{id}")).await;
    assert_eq!(json["state"], "too_large");
    assert_eq!(json["sha256"], Value::Null);
    assert_eq!(json["size"], 83886080);
    let r = app.get(&format!("/api/v1/messages/{id}/raw")).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn messages_stored_by_an_older_parser_are_derived_again_from_their_raw_bytes() {
    let app = TestApp::signed_in().await;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/mail");
    let raw = std::fs::read(dir.join("iso2022jp-subject-multiword.eml")).expect("case");
    let (id, _) = store(&app, "sales", "g-old", &raw, None).await;
    let tnef = std::fs::read(dir.join("tnef-winmail-dat.eml")).expect("case");
    let (tnef_id, _) = store(&app, "sales", "g-old-tnef", &tnef, None).await;
    // What the parser before this version stored: escape sequences, and winmail.dat alone.
    sqlx::query(
        "UPDATE messages SET subject = $1, from_name = NULL, parse_version = 0, attachment_count = NULL",
    )
    .bind("\u{1b}$B!ZKI?eFC=8![\u{1b}(B")
    .execute(&app.state.db)
    .await
    .expect("age the rows");
    sqlx::query("DELETE FROM attachments WHERE message_id = $1 AND idx > 0")
        .bind(tnef_id)
        .execute(&app.state.db)
        .await
        .expect("old attachment list");
    assert!(
        app.get_text(&format!("/mail/{id}"))
            .await
            .contains("\u{1b}")
    );

    let cancel = tokio_util::sync::CancellationToken::new();
    let done = mailport::import::rederive::run(&app.state.importer, &cancel)
        .await
        .expect("rederive");
    assert_eq!(done, 2);
    let json = app.api(&format!("/messages/{id}")).await;
    assert_eq!(
        json["subject"],
        "【防水特集】台風や豪雨に備える商品のご案内"
    );
    assert_eq!(json["from_name"], "山田 太郎");
    let json = app.api(&format!("/messages/{tnef_id}")).await;
    let names: Vec<&str> = json["attachments"]
        .as_array()
        .map(|a| a.iter().filter_map(|x| x["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(names, ["winmail.dat", "figures.txt"]);
    // Done once: the next start has nothing to do.
    let again = mailport::import::rederive::run(&app.state.importer, &cancel)
        .await
        .expect("rederive");
    assert_eq!(again, 0);
}
