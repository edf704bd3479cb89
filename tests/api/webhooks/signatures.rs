//! What is sent, checked by an independent implementation of Standard Webhooks (the
//! `standardwebhooks` crate) and by the sandbox receiver's own verification.

use std::time::Duration;

use mailport::sandbox::graph::SeedOptions;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use standardwebhooks::Webhook;

use super::*;

/// The received request's headers as the crate reads them.
fn headers_of(r: &Received) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (name, value) in [
        ("webhook-id", r.webhook_id.clone()),
        (
            "webhook-timestamp",
            r.webhook_timestamp.map(|t| t.to_string()),
        ),
        ("webhook-signature", r.webhook_signature.clone()),
    ] {
        if let Some(v) = value {
            h.insert(
                HeaderName::from_static(name),
                HeaderValue::from_str(&v).expect("header"),
            );
        }
    }
    h
}

fn body(r: &Received) -> &[u8] {
    mailport::sandbox::receiver::ReceiverState::body(r)
}

/// A message with a text body, an HTML body and a PDF-ish attachment, seeded in the inbox.
fn seed_invoice(app: &TestApp) {
    let raw = "From: Fabrikam Billing <billing@fabrikam.example>\r\nTo: Adele <adele@contoso.onmicrosoft.com>\r\n\
        Cc: Ledger <ledger@contoso.onmicrosoft.com>\r\nSubject: Invoice 2026-1147\r\nMessage-ID: <inv-1147@fabrikam.example>\r\n\
        MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b1\r\n\r\n--b1\r\n\
        Content-Type: multipart/alternative; boundary=b2\r\n\r\n--b2\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
        Please pay within 30 days.\r\n--b2\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Please pay <b>within 30 days</b>.</p>\r\n--b2--\r\n\
        --b1\r\nContent-Type: application/pdf; name=invoice.pdf\r\nContent-Disposition: attachment; filename=invoice.pdf\r\n\
        Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQKJcOkw7zDtsOf\r\n--b1--\r\n";
    app.graph()
        .seed_eml(
            ADELE,
            "inbox",
            raw.as_bytes().to_vec(),
            &SeedOptions::default(),
        )
        .expect("seed");
}

#[tokio::test]
async fn json_deliveries_verify_with_an_independent_implementation_and_carry_the_message() {
    let app = app_with_account(None).await;
    let secret = create_webhook(&app, "erp", "erp", &[("include_attachments", "1")]).await;
    configure_receiver(&app, "erp", &[&secret], vec![]);
    seed_invoice(&app);
    import_all(&app).await;
    wait_delivered(&app, "erp", 1, Duration::from_secs(20)).await;

    let got = received(&app, "erp");
    let r = &got[0];
    Webhook::new(&secret)
        .expect("secret")
        .verify(body(r), &headers_of(r))
        .expect("the standardwebhooks crate verifies the signature");
    assert_eq!(r.signature_valid, Some(true));
    assert_eq!(r.content_type.as_deref(), Some("application/json"));
    assert!(
        r.user_agent
            .as_deref()
            .is_some_and(|u| u.starts_with("Mailport/")),
        "{:?}",
        r.user_agent
    );
    assert!(
        r.webhook_id
            .as_deref()
            .is_some_and(|id| id.starts_with("msg_"))
    );

    let event = json_body(r);
    assert_eq!(event["type"], "message.imported");
    assert!(
        event["timestamp"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    let m = &event["data"]["message"];
    assert_eq!(m["account"], "acct");
    assert_eq!(m["mailbox"], ADELE);
    assert_eq!(m["folder"], "Inbox");
    assert_eq!(m["subject"], "Invoice 2026-1147");
    assert_eq!(m["internet_message_id"], "inv-1147@fabrikam.example");
    assert_eq!(m["from"]["name"], "Fabrikam Billing");
    assert_eq!(m["from"]["address"], "billing@fabrikam.example");
    assert_eq!(m["to"][0]["address"], "adele@contoso.onmicrosoft.com");
    assert_eq!(m["cc"][0]["address"], "ledger@contoso.onmicrosoft.com");
    assert!(
        m["text_body"]
            .as_str()
            .unwrap_or("")
            .contains("within 30 days")
    );
    assert_eq!(m["html_body"], "<p>Please pay <b>within 30 days</b>.</p>");
    assert_eq!(m["truncated"], false);
    assert!(m["graph_id"].as_str().is_some_and(|g| !g.is_empty()));
    let stored = app.stored("acct").await;
    assert_eq!(m["sha256"].as_str(), stored[0].1.as_deref());

    // The attachment: inlined (it is under 1 MB), hashed, and the same bytes at its URL.
    let a = &m["attachments"][0];
    assert_eq!(a["name"], "invoice.pdf");
    assert_eq!(a["content_type"], "application/pdf");
    assert_eq!(a["index"], 0);
    use base64::Engine;
    let inline = base64::engine::general_purpose::STANDARD
        .decode(a["content_base64"].as_str().expect("inlined"))
        .expect("base64");
    assert!(inline.starts_with(b"%PDF-1.4"));
    assert_eq!(a["sha256"], mailport::crypto::sha256_hex(&inline));
    let key = api_key(&app).await;
    let http = reqwest::Client::new();
    let download = http
        .get(a["url"].as_str().expect("url"))
        .bearer_auth(&key)
        .send()
        .await
        .expect("attachment");
    assert_eq!(download.status(), StatusCode::OK);
    assert_eq!(
        download.bytes().await.expect("bytes").as_ref(),
        inline.as_slice()
    );
    let raw = http
        .get(m["raw_url"].as_str().expect("raw_url"))
        .bearer_auth(&key)
        .send()
        .await
        .expect("raw")
        .bytes()
        .await
        .expect("bytes");
    assert_eq!(
        mailport::crypto::sha256_hex(&raw),
        m["sha256"].as_str().unwrap_or("")
    );
    // Without a key the links give nothing away.
    let anonymous = http
        .get(a["url"].as_str().unwrap_or(""))
        .send()
        .await
        .expect("GET");
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn raw_deliveries_are_the_exact_eml_and_verify() {
    let app = app_with_account(None).await;
    let secret = create_webhook(&app, "archive", "archive", &[("payload", "raw")]).await;
    configure_receiver(&app, "archive", &[&secret], vec![]);
    seed_invoice(&app);
    import_all(&app).await;
    wait_delivered(&app, "archive", 1, Duration::from_secs(20)).await;

    let r = &received(&app, "archive")[0];
    Webhook::new(&secret)
        .expect("secret")
        .verify(body(r), &headers_of(r))
        .expect("verifies");
    assert_eq!(r.content_type.as_deref(), Some("message/rfc822"));
    let stored = app.stored("acct").await;
    let sha = stored[0].1.clone().expect("sha256");
    assert_eq!(
        r.body_sha256, sha,
        "the body is the stored .eml, byte for byte"
    );
    let id: i64 = sqlx::query_scalar("SELECT id FROM messages")
        .fetch_one(&app.state.db)
        .await
        .expect("id");
    assert_eq!(r.mailport_headers["x-mailport-message-id"], id.to_string());
    assert_eq!(r.mailport_headers["x-mailport-account"], "acct");
    assert_eq!(
        r.mailport_headers["x-mailport-internet-message-id"],
        "inv-1147@fabrikam.example"
    );
}

#[tokio::test]
async fn during_a_secret_rotation_deliveries_carry_both_signatures() {
    let app = app_with_account(None).await;
    let old = create_webhook(&app, "erp", "erp", &[]).await;
    let r = app.post_form("/webhooks/erp/rotate-secret", &[]).await;
    assert_eq!(r.status(), StatusCode::OK);
    let page = r.text().await.expect("page");
    let new = super::secret_on(&page).expect("the new secret is shown once");
    assert_ne!(new, old);
    assert!(
        page.contains("stays valid until"),
        "the page says for how long"
    );
    assert!(
        !app.get_text("/webhooks/erp").await.contains(&new),
        "the secret is shown only on the rotation's answer"
    );
    assert!(webhook_json(&app, "erp").await["previous_secret_valid_until"].is_string());

    // A receiver that still has only the old secret keeps working, and so does one that
    // already has the new one.
    configure_receiver(&app, "erp", &[&old], vec![]);
    seed(&app, 1);
    import_all(&app).await;
    wait_delivered(&app, "erp", 1, Duration::from_secs(20)).await;
    let r = &received(&app, "erp")[0];
    assert_eq!(
        r.webhook_signature
            .as_deref()
            .unwrap_or("")
            .split(' ')
            .count(),
        2,
        "two signatures while both secrets are valid"
    );
    for secret in [&old, &new] {
        Webhook::new(secret)
            .expect("secret")
            .verify(body(r), &headers_of(r))
            .expect("verifies with either secret");
    }

    // 24 hours later (the database is told so) only the new secret signs.
    sqlx::query("UPDATE webhook_endpoints SET previous_secret_until = $1")
        .bind(mailport::store::now() - 1)
        .execute(&app.state.db)
        .await
        .expect("update");
    configure_receiver(&app, "erp", &[&new], vec![]);
    seed(&app, 1);
    import_all(&app).await;
    wait_delivered(&app, "erp", 2, Duration::from_secs(20)).await;
    let r = received(&app, "erp").pop().expect("second");
    assert_eq!(
        r.webhook_signature
            .as_deref()
            .unwrap_or("")
            .split(' ')
            .count(),
        1
    );
    Webhook::new(&new)
        .expect("secret")
        .verify(body(&r), &headers_of(&r))
        .expect("verifies with the new secret");
    assert!(
        Webhook::new(&old)
            .expect("secret")
            .verify(body(&r), &headers_of(&r))
            .is_err(),
        "the old secret no longer signs"
    );
}

#[tokio::test]
async fn a_wrong_secret_is_refused_by_the_receiver_and_retried() {
    let app = app_with_account(None).await;
    let secret = create_webhook(&app, "erp", "erp", &[]).await;
    let wrong = mailport::webhooks::signature::new_secret();
    configure_receiver(&app, "erp", &[wrong.expose()], vec![]);
    seed(&app, 1);
    import_all(&app).await;
    wait_until("a refused attempt", Duration::from_secs(20), async || {
        received(&app, "erp").iter().any(|r| r.answer == "401")
    })
    .await;
    assert_eq!(received(&app, "erp")[0].signature_valid, Some(false));
    // Once the receiver has the right secret, the retry (after 5 s) lands.
    configure_receiver(&app, "erp", &[&secret], vec![]);
    wait_delivered(&app, "erp", 1, Duration::from_secs(30)).await;
}
