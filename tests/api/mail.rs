//! The imported-mail browser and its JSON API, over real HTTP. Messages are stored the way the
//! importer stores them: raw bytes into the blob store, parsed with `mime::parse`, recorded
//! with `messages::insert_imported`.

mod fixtures;
mod xss;

use reqwest::{StatusCode, header};
use scraper::{Html, Selector};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::helpers::{TestApp, browser};
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
                "attachment-1".to_string(),
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
async fn attachments_download_exactly_as_sent_and_never_render() {
    let app = TestApp::signed_in().await;
    let binary: Vec<u8> = (0..=255u8).cycle().take(3000).collect();
    let raw = Eml::new("files")
        .text("see attached")
        .part(Part::attachment("data.bin", "application/pdf", &binary))
        .part(Part::attachment(
            "evil\".html",
            "text/html",
            b"<script>alert(1)</script>",
        ))
        .part(Part::attachment("Résumé 2026.txt", "text/plain", b"cv"))
        .build();
    let (id, _) = store(&app, "sales", "g1", &raw, None).await;

    let r = app.get(&format!("/mail/{id}/attachments/0")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        header_of(&r, header::CONTENT_TYPE),
        "application/octet-stream"
    );
    assert_eq!(header_of(&r, header::X_CONTENT_TYPE_OPTIONS), "nosniff");
    assert_eq!(
        header_of(&r, header::CONTENT_DISPOSITION),
        "attachment; filename=\"data.bin\"; filename*=UTF-8''data.bin"
    );
    assert_eq!(r.bytes().await.expect("body").to_vec(), binary);

    // An HTML attachment is a download of opaque bytes, not a page.
    let r = app.get(&format!("/mail/{id}/attachments/1")).await;
    assert_eq!(
        header_of(&r, header::CONTENT_TYPE),
        "application/octet-stream"
    );
    let disposition = header_of(&r, header::CONTENT_DISPOSITION);
    assert_eq!(
        disposition,
        "attachment; filename=\"evil_.html\"; filename*=UTF-8''evil%22.html"
    );
    assert_eq!(
        r.bytes().await.expect("body").as_ref(),
        b"<script>alert(1)</script>"
    );

    let r = app.get(&format!("/mail/{id}/attachments/2")).await;
    assert_eq!(
        header_of(&r, header::CONTENT_DISPOSITION),
        "attachment; filename=\"R_sum_ 2026.txt\"; filename*=UTF-8''R%C3%A9sum%C3%A9%202026.txt"
    );

    for missing in [
        format!("/mail/{id}/attachments/3"),
        format!("/mail/{id}/attachments/-1"),
        format!("/mail/{id}/attachments/x"),
        "/mail/424242/attachments/0".to_string(),
    ] {
        assert_eq!(
            app.get(&missing).await.status(),
            StatusCode::NOT_FOUND,
            "{missing}"
        );
    }
}

#[tokio::test]
async fn raw_message_is_the_exact_imported_bytes() {
    let app = TestApp::signed_in().await;
    let raw = Eml::new("raw")
        .text("body")
        .part(Part::attachment(
            "a.bin",
            "application/octet-stream",
            &[0, 1, 2, 255],
        ))
        .build();
    let (id, sha) = store(&app, "sales", "g1", &raw, None).await;

    let r = app.get(&format!("/mail/{id}/raw")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header_of(&r, header::CONTENT_TYPE), "message/rfc822");
    assert_eq!(
        header_of(&r, header::CONTENT_DISPOSITION),
        format!("attachment; filename=\"{id}.eml\"; filename*=UTF-8''{id}.eml")
    );
    assert_eq!(header_of(&r, header::X_CONTENT_TYPE_OPTIONS), "nosniff");
    let body = r.bytes().await.expect("body");
    assert_eq!(body.as_ref(), raw.as_slice());
    assert_eq!(hex::encode(Sha256::digest(&body)), sha);

    let r = app.get(&format!("/api/v1/messages/{id}/raw")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().await.expect("body").as_ref(), raw.as_slice());

    assert_eq!(
        app.get("/mail/999/raw").await.status(),
        StatusCode::NOT_FOUND
    );
    let r = app.get("/api/v1/messages/999/raw").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["error"]["code"], "not_found");
}

#[tokio::test]
async fn inline_images_are_served_but_svg_and_impostors_are_not() {
    let app = TestApp::signed_in().await;
    let svg = br#"<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>"#;
    let raw = Eml::new("pictures")
        .html(r#"<img src="cid:logo@x"><img src="cid:vector@x"><img src="cid:fake@x"><img src="cid:nothing@x">"#)
        .part(Part::inline_image("logo@x", "image/png", PNG))
        .part(Part::inline_image("vector@x", "image/svg+xml", svg))
        .part(Part::inline_image("fake@x", "image/png", b"<html><script>alert(1)</script>"))
        .build();
    let (id, _) = store(&app, "sales", "g1", &raw, None).await;

    let r = app.get(&format!("/mail/{id}/cid/logo@x")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header_of(&r, header::CONTENT_TYPE), "image/png");
    assert_eq!(header_of(&r, header::X_CONTENT_TYPE_OPTIONS), "nosniff");
    assert_eq!(
        header_of(&r, header::CONTENT_SECURITY_POLICY),
        "default-src 'none'"
    );
    assert_eq!(r.bytes().await.expect("body").as_ref(), PNG);
    // Percent-encoded in the URL is the same Content-ID.
    let r = app.get(&format!("/mail/{id}/cid/logo%40x")).await;
    assert_eq!(r.status(), StatusCode::OK);

    for refused in ["vector@x", "fake@x", "nothing@x"] {
        let r = app.get(&format!("/mail/{id}/cid/{refused}")).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{refused}");
        let body = r.text().await.expect("body");
        assert!(
            !body.contains("onload") && !body.contains("alert"),
            "{body}"
        );
    }

    // Only the real raster image is linked from the message.
    let page = app.get_text(&format!("/mail/{id}")).await;
    let doc = Html::parse_document(&page);
    let srcs: Vec<Option<&str>> = select(&doc, ".mail-html img")
        .iter()
        .map(|i| i.value().attr("src"))
        .collect();
    let logo = format!("/mail/{id}/cid/logo@x");
    // fake@x claims to be a PNG, so it is linked; its bytes are refused above.
    let fake = format!("/mail/{id}/cid/fake@x");
    assert_eq!(srcs, [Some(logo.as_str()), None, Some(fake.as_str()), None]);
    // Pages keep Mailport's own policy.
    let r = app.get(&format!("/mail/{id}")).await;
    assert!(header_of(&r, header::CONTENT_SECURITY_POLICY).starts_with("default-src 'self'"));
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
async fn json_message_has_the_documented_shape() {
    let app = TestApp::signed_in().await;
    let raw = Eml::new("Shape")
        .from("Adele", "adele@contoso.example")
        .to("a@x.example, \"Bee\" <b@x.example>")
        .text("t")
        .part(Part::attachment("r.pdf", "application/pdf", b"%PDF"))
        .build();
    let (id, sha) = store(&app, "sales", "graph-42", &raw, Some(1_800_000_000)).await;

    let json = app.api(&format!("/messages/{id}")).await;
    let mut keys: Vec<&str> = json
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "account",
            "attachments",
            "from",
            "graph_id",
            "id",
            "internet_message_id",
            "received_at",
            "sha256",
            "size",
            "state",
            "subject",
            "to"
        ]
    );
    assert_eq!(json["id"], id);
    assert_eq!(json["account"], "sales");
    assert_eq!(json["graph_id"], "graph-42");
    assert_eq!(json["internet_message_id"], "m1@contoso.example");
    assert_eq!(json["subject"], "Shape");
    assert_eq!(json["from"], "adele@contoso.example");
    assert_eq!(
        json["to"],
        serde_json::json!(["a@x.example", "b@x.example"])
    );
    assert_eq!(json["received_at"], "2027-01-15T08:00:00Z");
    assert_eq!(json["size"], raw.len());
    assert_eq!(json["sha256"], sha);
    assert_eq!(
        json["attachments"],
        serde_json::json!([{"name": "r.pdf", "content_type": "application/pdf", "size": 4}])
    );

    let list = app.api("/messages").await;
    assert_eq!(list["items"][0]["attachment_count"], 1);
    assert_eq!(list["items"][0]["from"], "adele@contoso.example");

    // No sender, no date: null, not a made-up value.
    let bare = b"Subject: bare\r\n\r\nbody\r\n".to_vec();
    let (bare_id, _) = store(&app, "sales", "g-bare", &bare, None).await;
    let json = app.api(&format!("/messages/{bare_id}")).await;
    assert_eq!(json["from"], Value::Null);
    assert_eq!(json["received_at"], Value::Null);
    assert_eq!(json["to"], serde_json::json!([]));

    for missing in ["/api/v1/messages/0", "/api/v1/messages/abc"] {
        let r = app.get(missing).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{missing}");
        let body: Value = r.json().await.expect("json");
        assert_eq!(body["error"]["code"], "not_found");
    }
}

#[tokio::test]
async fn mail_needs_a_session_and_the_api_a_key() {
    let app = TestApp::signed_in().await;
    let raw = Eml::new("secret").text("x").build();
    let (id, _) = store(&app, "sales", "g1", &raw, None).await;
    let stranger = browser();
    for path in [
        "/mail".to_string(),
        format!("/mail/{id}"),
        format!("/mail/{id}/raw"),
        format!("/mail/{id}/attachments/0"),
        format!("/mail/{id}/cid/logo@x"),
    ] {
        let r = stranger.get(app.url(&path)).send().await.expect("GET");
        assert!(r.status().is_redirection(), "{path}: {}", r.status());
        assert!(
            header_of(&r, header::LOCATION).starts_with("/login"),
            "{path}"
        );
    }
    for path in [
        "/api/v1/messages".to_string(),
        format!("/api/v1/messages/{id}"),
        format!("/api/v1/messages/{id}/raw"),
    ] {
        let r = stranger.get(app.url(&path)).send().await.expect("GET");
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
        let body: Value = r.json().await.expect("json");
        assert_eq!(body["error"]["code"], "unauthorized");
    }

    let key = "mp_mail_test_key_0123456789abcdefghijklmnop";
    mailport::store::api_keys::create(
        &app.state.db,
        "mail-test",
        &mailport::crypto::sha256_hex(key.as_bytes()),
    )
    .await
    .expect("key");
    let r = stranger
        .get(app.url(&format!("/api/v1/messages/{id}/raw")))
        .bearer_auth(key)
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().await.expect("body").as_ref(), raw.as_slice());
}
