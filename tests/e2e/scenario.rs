//! The steps of the browser scenario, in the order an administrator meets them. Each step
//! acts through the pages only (clicks and typing), then asserts what the page shows.
//! The failure paths live in `failures.rs`.

use std::time::{Duration, Instant};

use base64::Engine;
use mailport::sandbox::world::{DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_PASSWORD};
use serde_json::{Value, json};

use crate::harness::{WAIT, World};

pub const ADMIN: &str = "admin";
pub const ADMIN_PASSWORD: &str = "e2e-Admin-Passw0rd";
pub const ADELE: &str = "adele@contoso.onmicrosoft.com";
const TENANT: &str = "contoso.onmicrosoft.com";

/// The attachment whose bytes are checked after the download: every byte value, twice.
fn invoice_bytes() -> Vec<u8> {
    let mut bytes = b"%PDF-1.4\n% Mailport e2e invoice\n".to_vec();
    bytes.extend((0..=255u8).chain((0..=255u8).rev()));
    bytes
}

const INVOICE_SUBJECT: &str = "Invoice 2026-1147 from Fabrikam";

fn invoice_eml() -> String {
    let attachment = base64::engine::general_purpose::STANDARD.encode(invoice_bytes());
    format!(
        "From: Fabrikam Billing <billing@fabrikam.example>\r\n\
         To: Adele Vance <adele@contoso.onmicrosoft.com>\r\n\
         Subject: {INVOICE_SUBJECT}\r\n\
         Date: Thu, 26 Nov 2026 09:15:00 +0000\r\n\
         Message-ID: <invoice-2026-1147@fabrikam.example>\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n\
         --b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
         Dear Adele,\r\n\r\nplease find invoice 2026-1147 attached.\r\n\r\nFabrikam Billing\r\n\
         --b1\r\nContent-Type: application/pdf; name=\"invoice-2026-1147.pdf\"\r\n\
         Content-Disposition: attachment; filename=\"invoice-2026-1147.pdf\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{attachment}\r\n--b1--\r\n"
    )
}

/// Step 1: the one-time setup link creates the first administrator.
pub async fn first_run_setup(w: &mut World) {
    w.browser.goto(&w.setup_link).await.expect("setup link");
    w.find("input[name=password_confirm]").await;
    w.shot("setup").await;
    w.fill("#username", ADMIN).await;
    w.fill("#password", ADMIN_PASSWORD).await;
    w.fill("#password_confirm", ADMIN_PASSWORD).await;
    w.click("form[action='/setup'] button[type=submit]").await;
    let text = w.wait_for_text("Credentials", false).await;
    assert!(text.contains(ADMIN), "signed in as the new admin: {text}");
    assert!(
        text.contains("No credentials yet"),
        "an empty state says what to do next: {text}"
    );
    w.shot("credentials-empty").await;
}

/// Sign-in `next` values that browsers would otherwise take to another site (tab, backslash,
/// protocol-relative, dot segments): after signing in, the browser stays on Mailport.
const HOSTILE_NEXT: &[&str] = &[
    "/%09/evil.example/x",
    "/%5Cevil.example",
    "//evil.example",
    "/.//evil.example",
    "https:evil.example",
];

/// Step 2: sign out, then sign in again (through a hostile `next`); a signed-in browser sent
/// to the sign-in page with other hostile `next` values stays on Mailport too.
pub async fn sign_out_and_in(w: &mut World) {
    w.click("form.logout button[type=submit]").await;
    w.find("form[action='/login']").await;
    w.goto(&format!("/login?next={}", HOSTILE_NEXT[0])).await;
    w.find("form[action='/login']").await;
    w.shot("signed-out").await;
    w.fill("#username", ADMIN).await;
    w.fill("#password", "not the password").await;
    w.click("form[action='/login'] button[type=submit]").await;
    w.find("main [role=alert]").await;
    assert_eq!(
        w.value("#username").await,
        ADMIN,
        "a failed sign-in keeps the user name"
    );
    w.shot("sign-in-failed").await;
    w.fill("#password", ADMIN_PASSWORD).await;
    w.click("form[action='/login'] button[type=submit]").await;
    w.wait_for_text("Sign out", false).await;
    assert!(w.where_am_i().await.ends_with("/credentials"));
    for next in &HOSTILE_NEXT[1..] {
        w.goto(&format!("/login?next={next}")).await;
        w.wait_for_text("Sign out", false).await;
        let here = w.where_am_i().await;
        assert!(
            here.starts_with(&w.url("/")),
            "next={next} took the browser to {here}"
        );
    }
}

/// Fills the new-credential form with the Entra ID helper pointed at the sandbox tenant.
pub async fn fill_credential(w: &mut World, id: &str, grant_type: &str) {
    w.goto("/credentials/new").await;
    w.fill("#id", id).await;
    w.fill("#description", &format!("{grant_type} against the sandbox"))
        .await;
    w.select("#grant_type", grant_type).await;
    w.fill("#tenant", TENANT).await;
    w.select("#cloud", "custom").await;
    let sandbox = w.sandbox.clone();
    w.fill("#authority", &sandbox).await;
    w.click("button[name=action][value=fill]").await;
    // The helper answers with the same form, URLs and scope filled in.
    let start = Instant::now();
    loop {
        let url = w.value("#access_token_url").await;
        if url.starts_with(&sandbox) {
            break;
        }
        assert!(start.elapsed() < WAIT, "the helper did not fill the URLs");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    w.fill("#client_id", DEMO_CLIENT_ID).await;
    w.fill("#client_secret", DEMO_CLIENT_SECRET).await;
}

pub async fn save_credential(w: &mut World, id: &str) {
    w.click("#credential-form button.primary[name=action][value=save]")
        .await;
    let start = Instant::now();
    while !w
        .where_am_i()
        .await
        .ends_with(&format!("/credentials/{id}"))
    {
        assert!(
            start.elapsed() < WAIT,
            "saving credential {id} did not open its page: {}",
            w.text().await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    w.wait_for_text("Credential saved", false).await;
}

/// Steps 3 and 4: an authorization-code credential made with the Entra ID helper; the key button
/// signs in and consents on the sandbox's pages and comes back signed in.
pub async fn authorization_code_credential(w: &mut World) {
    fill_credential(w, "delegated", "authorization_code").await;
    w.shot("credential-helper-filled").await;
    save_credential(w, "delegated").await;
    assert_eq!(w.badge(".token-panel .badge").await, "none");
    w.shot("credential-saved").await;

    w.click("#key-form button[type=submit]").await;
    w.sign_in_at_sandbox(ADELE, DEMO_PASSWORD, true).await;
    let text = w.wait_for_text("Signed in as", false).await;
    assert!(text.contains(ADELE), "shows who signed in: {text}");
    assert_eq!(w.badge(".token-panel .badge").await, "valid");
    // app.js shows the expiry in the browser's zone (Europe/Berlin here) with a hint.
    let shown = w
        .find(".token-panel .badge time")
        .await
        .text()
        .await
        .expect("text");
    assert!(!shown.ends_with(" UTC"), "local time, not UTC: {shown}");
    let hint = w
        .find(".token-panel .badge .relative")
        .await
        .text()
        .await
        .expect("text");
    assert!(hint.contains("in "), "a relative hint: {hint}");
    w.shot("credential-signed-in").await;
}

/// Step 5: a client-credentials credential gets its token at once.
pub async fn client_credentials_credential(w: &mut World) {
    fill_credential(w, "app", "client_credentials").await;
    save_credential(w, "app").await;
    w.click("#key-form button[type=submit]").await;
    w.wait_for_text("Got an access token", false).await;
    assert_eq!(w.badge(".token-panel .badge").await, "valid");
    w.shot("client-credentials-token").await;
    w.goto("/credentials").await;
    w.wait_for_text("delegated", false).await;
    // The list shows the same time the same way as the credential's page, and a key button.
    let listed = w.find("tr .badge time").await.text().await.expect("text");
    assert!(
        !listed.ends_with(" UTC"),
        "local time on the list too: {listed}"
    );
    let hint = w
        .find("tr .badge .relative")
        .await
        .text()
        .await
        .expect("text");
    assert!(hint.contains("in "), "a relative hint on the list: {hint}");
    assert_eq!(
        w.find_all("tr .key-form button").await.len(),
        w.find_all("tbody tr").await.len(),
        "a key in every row"
    );
    w.shot("credentials-list").await;
}

/// Step 6: an email server account that applies the delegated credential; Test connection succeeds.
pub async fn email_account_and_test_connection(w: &mut World) {
    w.goto("/accounts").await;
    w.wait_for_text("No email server accounts yet", false).await;
    w.shot("accounts-empty").await;
    w.goto("/accounts/new").await;
    w.fill("#id", "adele-inbox").await;
    w.fill("#description", "Adele's inbox, imported for the helpdesk")
        .await;
    w.select("#credential_id", "delegated").await;
    w.fill("#mailbox", ADELE).await;
    w.fill("#folder", "Inbox").await;
    w.select("#after_import", "move").await;
    w.fill("#move_to", "Imported").await;
    let graph = format!("{}/v1.0", w.sandbox);
    w.fill("#graph_url", &graph).await;
    w.fill("#poll_interval", "60").await;
    w.shot("account-form").await;
    w.click("#account-form button.primary[type=submit]").await;
    w.wait_for_text("Email server account saved", false).await;
    w.shot("account-saved").await;

    w.click("form[action$='/test'] button[type=submit]").await;
    w.find(".diagnosis").await;
    let class = w
        .find(".diagnosis")
        .await
        .attr("class")
        .await
        .expect("class")
        .unwrap_or_default();
    assert!(
        class.contains("diagnosis-ok"),
        "Test connection succeeds: {}",
        w.text().await
    );
    w.shot("account-test-connection").await;
}

/// Presses Run now until a run has imported mail whose subject contains `subject`
/// (the background scheduler may be running the account at that very moment).
pub async fn run_now_until_imported(w: &mut World, subject: &str) {
    let start = Instant::now();
    loop {
        w.goto("/accounts/adele-inbox").await;
        w.click("form[action$='/import'] button[type=submit]").await;
        w.find(".flash").await;
        tokio::time::sleep(Duration::from_millis(700)).await;
        w.goto(&format!("/mail?q={}", urlencode(subject))).await;
        if w.text().await.contains(subject) {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(45),
            "Run now did not import {subject:?}"
        );
    }
}

pub fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

pub struct Stored {
    /// The message page of the invoice.
    pub message_path: String,
}

/// Step 7: seed the sandbox mailbox (generated mail with attachments and a known invoice), press
/// Run now, open the message.
pub async fn seed_run_now_and_open(w: &mut World) -> Stored {
    let seeded = w
        .sandbox_post(
            &format!("/_sandbox/graph/mailboxes/{ADELE}/folders/inbox/generate"),
            json!({"count": 3, "size": 20000, "attachments": 1, "subject_prefix": "Quarterly report"}),
        )
        .await;
    assert_eq!(seeded["messages"].as_array().map(Vec::len), Some(3));
    let r = w
        .http
        .post(format!(
            "{}/_sandbox/graph/mailboxes/{ADELE}/folders/inbox/eml",
            w.sandbox
        ))
        .body(invoice_eml())
        .send()
        .await
        .expect("seed eml");
    assert!(r.status().is_success(), "seed eml: {}", r.status());

    run_now_until_imported(w, INVOICE_SUBJECT).await;
    w.goto("/mail").await;
    let text = w.wait_for_text("Quarterly report", false).await;
    assert!(text.contains("4 messages"), "all four imported: {text}");
    w.shot("mail-list").await;

    w.goto("/accounts/adele-inbox").await;
    w.wait_for_text("Latest runs", false).await;
    w.shot("account-after-run").await;

    w.goto(&format!("/mail?q={}", urlencode(INVOICE_SUBJECT)))
        .await;
    w.click("td.subject a").await;
    w.wait_for_text("invoice-2026-1147.pdf", false).await;
    let message_path = w
        .browser
        .current_url()
        .await
        .expect("url")
        .path()
        .to_string();
    w.shot("mail-message").await;
    Stored { message_path }
}

/// Step 8: the attachment downloads with exactly the bytes that were sent.
pub async fn download_attachment(w: &mut World, stored: &Stored) {
    w.goto(&stored.message_path).await;
    let href = w
        .find("a.attachment-name")
        .await
        .attr("href")
        .await
        .expect("href")
        .expect("an attachment link");
    let cookie = w.session_cookie().await;
    let r = w
        .http
        .get(w.url(&href))
        .header(reqwest::header::COOKIE, cookie)
        .send()
        .await
        .expect("download");
    assert_eq!(r.status(), reqwest::StatusCode::OK, "download {href}");
    let disposition = r
        .headers()
        .get(reqwest::header::CONTENT_DISPOSITION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(
        disposition.starts_with("attachment"),
        "always a download: {disposition}"
    );
    let bytes = r.bytes().await.expect("bytes");
    assert_eq!(
        bytes.as_ref(),
        invoice_bytes().as_slice(),
        "the attachment's bytes"
    );
}

/// Step 9: the sandbox mailbox was tidied as configured: the inbox is empty and the messages
/// were moved to "Imported".
pub async fn sandbox_mailbox_tidied(w: &mut World) {
    let inbox = w
        .sandbox_get(&format!(
            "/_sandbox/graph/mailboxes/{ADELE}/folders/inbox/messages"
        ))
        .await;
    assert_eq!(
        inbox["messages"].as_array().map(Vec::len),
        Some(0),
        "the inbox was emptied: {inbox}"
    );
    let folders = w
        .sandbox_get(&format!("/_sandbox/graph/mailboxes/{ADELE}/folders"))
        .await;
    let imported = folders["folders"]
        .as_array()
        .and_then(|all| {
            all.iter()
                .find(|f| f["displayName"] == "Imported" || f["display_name"] == "Imported")
        })
        .cloned()
        .unwrap_or(Value::Null);
    let count = imported["totalItemCount"]
        .as_u64()
        .or(imported["total_item_count"].as_u64());
    assert_eq!(count, Some(4), "moved to Imported: {folders}");
}

/// Settings: an API key is created with a form, shown once, and works on /api/v1.
pub async fn api_keys(w: &mut World) {
    w.goto("/settings").await;
    w.wait_for_text("No API keys yet", false).await;
    w.shot("settings-empty").await;
    w.fill("#key-name", "helpdesk-app").await;
    w.click("form[action='/settings/api-keys'] button[type=submit]")
        .await;
    w.wait_for_text("shown only once", false).await;
    let key = w.value("#new-api-key").await;
    assert!(key.starts_with("mp_"), "the new key: {key}");
    w.shot("settings-key-created").await;
    let r = w
        .http
        .get(w.url("/api/v1/accounts"))
        .bearer_auth(&key)
        .send()
        .await
        .expect("api");
    assert_eq!(r.status(), reqwest::StatusCode::OK, "the new key works");
    w.goto("/settings").await;
    let text = w.wait_for_text("helpdesk-app", false).await;
    assert!(!text.contains(&key), "the key is shown only once");
}

/// Webhooks: an endpoint to the sandbox's receiver, its secret shown once, Test, mail
/// already imported sent on request, the delivery log, and a redelivery.
pub async fn webhooks(w: &mut World) {
    w.goto("/webhooks").await;
    w.wait_for_text("No webhook endpoints yet", false).await;
    w.click("a[href='/webhooks/new']").await;
    let receiver = format!("{}/_sandbox/receiver/erp", w.sandbox);
    w.fill("#id", "erp").await;
    w.fill("#description", "ERP work orders").await;
    w.fill("#url", &receiver).await;
    w.click("#webhook-form button.primary").await;
    w.wait_for_text("shown only once", false).await;
    let secret = w.value("#new-secret").await;
    assert!(secret.starts_with("whsec_"), "the new secret: {secret}");
    w.shot("webhook-created").await;
    // The business application learns the secret.
    let r = w
        .http
        .put(format!("{}/_sandbox/receiver/erp", w.sandbox))
        .json(&json!({"secrets": [secret]}))
        .send()
        .await
        .expect("receiver");
    assert!(r.status().is_success());
    w.goto("/webhooks/erp").await;
    let text = w.wait_for_text("Deliveries", false).await;
    assert!(!text.contains(&secret), "the secret is shown only once");
    assert!(w.find_all("#new-secret").await.is_empty());

    w.click("#test-button").await;
    w.wait_for_text("The endpoint accepted the ping", false)
        .await;
    w.shot("webhook-ping").await;

    // The mail imported earlier goes out when asked for.
    let _ = w
        .browser
        .execute(
            "document.getElementById('since').value = '2000-01-01'; return null;",
            vec![],
        )
        .await;
    w.click("form[action='/webhooks/erp/send-existing'] button[type=submit]")
        .await;
    w.wait_for_text("are queued for this endpoint", false).await;
    let start = Instant::now();
    while w
        .find_all("tr[data-delivery] [data-status='delivered']")
        .await
        .is_empty()
    {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "nothing was delivered"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        w.browser.refresh().await.expect("reload");
    }
    let first = w.find("tr[data-delivery]").await;
    let webhook_id = first
        .attr("data-webhook-id")
        .await
        .expect("attr")
        .unwrap_or_default();
    assert!(webhook_id.starts_with("msg_"), "{webhook_id}");
    w.find("#delivery-log details summary")
        .await
        .click()
        .await
        .expect("open the attempt log");
    w.shot("webhook-delivery-log").await;

    w.click("tr[data-delivery] form button[type=submit]").await;
    w.wait_for_text("is sent again now", false).await;
    let start = Instant::now();
    loop {
        let got = w.sandbox_get("/_sandbox/receiver/erp/deliveries").await;
        let same: Vec<&Value> = got["deliveries"]
            .as_array()
            .map(|d| {
                d.iter()
                    .filter(|r| r["webhook_id"] == webhook_id.as_str())
                    .collect()
            })
            .unwrap_or_default();
        if same.len() == 2 {
            assert!(
                same.iter()
                    .all(|r| r["signature_valid"] == true && r["answer"] == "200")
            );
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no redelivery arrived: {got}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    w.goto("/webhooks").await;
    assert_eq!(w.badge("tr[data-endpoint='erp'] .badge").await, "ok");
    w.shot("webhook-list").await;
}

/// The main screens on a phone-sized window, and a 404.
pub async fn narrow_screen(w: &mut World) {
    w.browser
        .set_window_size(390, 844)
        .await
        .expect("window size");
    for (path, name) in [
        ("/credentials", "narrow-credentials"),
        ("/accounts/adele-inbox", "narrow-account"),
        ("/mail", "narrow-mail"),
    ] {
        w.goto(path).await;
        w.find("main").await;
        w.shot(name).await;
    }
    w.browser
        .set_window_size(1280, 1000)
        .await
        .expect("window size");
    w.goto("/no/such/page").await;
    w.wait_for_text("does not exist", false).await;
    w.shot("not-found").await;
}

/// Thousands of accounts, in small: an admin-scoped key creates 55 accounts through the
/// API, and the list pages, searches and filters them.
pub async fn many_accounts_paged_and_filtered(w: &mut World) {
    w.goto("/settings").await;
    w.fill("#key-name", "provisioning").await;
    w.find("input[name=scope][value=admin]")
        .await
        .click()
        .await
        .expect("admin scope");
    w.click("form[action='/settings/api-keys'] button[type=submit]")
        .await;
    let key = w.value("#new-api-key").await;
    let graph = format!("{}/v1.0", w.sandbox);
    for n in 1..=55 {
        let r = w
            .http
            .post(w.url("/api/v1/accounts"))
            .bearer_auth(&key)
            .json(&serde_json::json!({
                "id": format!("bulk-{n:02}"),
                "mailbox": format!("bulk{n}@contoso.example"),
                "credential_id": "app",
                "after_import": "keep",
                "graph_url": graph,
                // Disabled: these mailboxes do not exist in the sandbox.
                "enabled": false,
            }))
            .send()
            .await
            .expect("api");
        assert_eq!(r.status(), reqwest::StatusCode::CREATED, "account {n}");
    }
    w.goto("/accounts").await;
    w.wait_for_text("of 56 accounts", false).await;
    w.find(".lag-overview").await;
    w.shot("accounts-paged").await;
    w.click("a[rel=next]").await;
    let page2 = w.wait_for_text("Page 2 of 2", false).await;
    assert!(page2.contains("bulk-55"), "the second page");
    w.fill("#q", "BULK-0").await;
    w.select("#status", "disabled").await;
    w.click("form[role=search] button[type=submit]").await;
    let filtered = w.wait_for_text("of 9 accounts", false).await;
    assert!(filtered.contains("bulk-09") && !filtered.contains("bulk-10"));
    w.shot("accounts-filtered").await;
}
