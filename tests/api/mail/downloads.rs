//! Bytes out of imported messages: attachments, inline images, the raw `.eml`.

use reqwest::{StatusCode, header};
use scraper::Html;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::fixtures::{Eml, PNG, Part, store};
use super::{header_of, select};
use crate::helpers::TestApp;

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

/// Unicode format characters (category Cf) that make a name read as another one.
const FORMAT_CHARACTERS: &[char] = &[
    '\u{202E}',
    '\u{202D}',
    '\u{202A}',
    '\u{202B}',
    '\u{202C}',
    '\u{2066}',
    '\u{2067}',
    '\u{2068}',
    '\u{2069}',
    '\u{200E}',
    '\u{200F}',
    '\u{200B}',
    '\u{200D}',
    '\u{FEFF}',
    '\u{00AD}',
    '\u{061C}',
    '\u{E0041}',
];

#[tokio::test]
async fn format_characters_in_attachment_names_become_underscores_everywhere() {
    let app = TestApp::signed_in().await;
    // Parsed by today's parser...
    let mut eml = Eml::new("spoofs").text("x");
    for (i, c) in FORMAT_CHARACTERS.iter().enumerate() {
        eml = eml.part(Part::attachment(
            &format!("invoice{i}{c}fdp.exe"),
            "application/octet-stream",
            b"MZ",
        ));
    }
    let (id, _) = store(&app, "sales", "g-bidi", &eml.build(), None).await;
    // ...and a name stored as it was before names were cleaned.
    let mut old = mailport::store::messages::NewMessage {
        account_id: "sales".into(),
        graph_id: "g-old".into(),
        internet_message_id: None,
        subject: "stored before".into(),
        from: None,
        to: vec![],
        cc: vec![],
        sent_at: None,
        received_at: None,
        size: 0,
        sha256: String::new(),
        text_body: None,
        html_body: None,
        attachments: vec![],
        attachment_count: 1,
        calendar: None,
    };
    let raw = Eml::new("old")
        .part(Part::attachment(
            "old.exe",
            "application/octet-stream",
            b"MZ",
        ))
        .build();
    let (_, sha) = store(&app, "sales", "g-raw", &raw, None).await;
    old.sha256 = sha;
    old.size = raw.len() as i64;
    old.attachments = vec![mailport::mime::AttachmentInfo {
        name: "report\u{202E}fdp.exe".into(),
        content_type: "application/octet-stream".into(),
        size: 2,
        content_id: None,
        is_inline: false,
    }];
    let (old_id, _) = mailport::store::messages::insert_imported(&app.state.db, &old)
        .await
        .expect("insert");

    for (message, count) in [(id, FORMAT_CHARACTERS.len()), (old_id, 1)] {
        let page = app.get_text(&format!("/mail/{message}")).await;
        let doc = Html::parse_document(&page);
        let names: Vec<String> = select(&doc, "a.attachment-name")
            .iter()
            .map(super::text)
            .collect();
        assert_eq!(names.len(), count);
        let json = app.api(&format!("/messages/{message}")).await;
        for (n, name) in names.iter().enumerate() {
            assert!(name.ends_with("_fdp.exe"), "{name:?}");
            assert!(
                !name.chars().any(|c| FORMAT_CHARACTERS.contains(&c)),
                "{name:?}"
            );
            assert_eq!(json["attachments"][n]["name"], name.as_str());
            let r = app.get(&format!("/mail/{message}/attachments/{n}")).await;
            let disposition = header_of(&r, header::CONTENT_DISPOSITION);
            assert!(
                disposition.contains("_fdp.exe\"; filename*=UTF-8''"),
                "{disposition}"
            );
            assert!(
                !disposition.contains("%E2%80") && !disposition.contains("%EF%BB%BF"),
                "{disposition}"
            );
        }
    }
}
