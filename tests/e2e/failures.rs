//! The failure paths in the browser: a form with errors, consent cancelled, script payloads
//! in imported mail, and a revoked refresh token repaired with the key.

use std::time::{Duration, Instant};

use mailport::sandbox::world::DEMO_PASSWORD;
use serde_json::{Value, json};

use crate::harness::{WAIT, World};
use crate::scenario::{ADELE, fill_credential, run_now_until_imported, save_credential};

const ALEX: &str = "alex@contoso.onmicrosoft.com";

const XSS_IMG: &str = "<img src=x onerror=\"window.__xss=1\">";
const XSS_SCRIPT: &str = "<script>window.__xss=1</script>";
/// Unquoted, so that it survives as a MIME filename parameter.
const XSS_FILE: &str = "<img src=x onerror=window.__xss=1>.txt";

fn hostile_eml() -> String {
    format!(
        "From: \"{XSS_IMG}\" <attacker@evil.example>\r\n\
         To: adele@contoso.onmicrosoft.com\r\n\
         Subject: Hostile {XSS_IMG}{XSS_SCRIPT}\r\n\
         Date: Thu, 26 Nov 2026 10:00:00 +0000\r\n\
         Message-ID: <hostile-1@evil.example>\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"h1\"\r\n\r\n\
         --h1\r\nContent-Type: text/html; charset=utf-8\r\n\r\n\
         <html><body><p>Hi</p>{XSS_IMG}{XSS_SCRIPT}\
         <a href=\"javascript:window.__xss=1\">click</a>\
         <svg onload=\"window.__xss=1\"></svg>\
         <iframe srcdoc=\"<script>parent.__xss=1</script>\"></iframe></body></html>\r\n\
         --h1\r\nContent-Type: text/plain; name=\"x.txt\"\r\n\
         Content-Disposition: attachment; filename=\"{XSS_FILE}\"\r\n\r\nharmless\r\n--h1--\r\n"
    )
}

/// A form with errors answers with the values the administrator typed.
pub async fn form_errors_keep_typed_values(w: &mut World) {
    w.goto("/credentials/new").await;
    w.fill("#id", "not a valid id!").await;
    w.fill("#description", "Typed by hand, kept on error").await;
    w.fill("#client_id", "typed-client-id").await;
    w.fill("#access_token_url", "not a url").await;
    w.click("#credential-form button.primary[name=action][value=save]")
        .await;
    w.wait_for_text("Nothing was saved", false).await;
    for (field, typed) in [
        ("#id", "not a valid id!"),
        ("#description", "Typed by hand, kept on error"),
        ("#client_id", "typed-client-id"),
        ("#access_token_url", "not a url"),
    ] {
        assert_eq!(w.value(field).await, typed, "{field} keeps what was typed");
    }
    assert!(
        !w.find_all(".field-error").await.is_empty(),
        "the wrong fields are marked"
    );
    w.shot("credential-form-errors").await;
}

/// Consent cancelled on the sandbox: the credential says AADSTS65004 in words.
pub async fn consent_cancelled(w: &mut World) {
    fill_credential(w, "cancelled", "authorization_code").await;
    save_credential(w, "cancelled").await;
    w.click("#key-form button[type=submit]").await;
    w.sign_in_at_sandbox(ALEX, DEMO_PASSWORD, false).await;
    let text = w.wait_for_text("AADSTS65004", false).await;
    assert!(
        text.to_lowercase().contains("consent"),
        "the error is explained: {text}"
    );
    assert_ne!(w.badge(".token-panel .badge").await, "valid");
    w.shot("consent-cancelled").await;
}

/// An imported message whose subject, body and attachment name carry script payloads runs
/// none of them, neither in the list nor on the message page.
pub async fn script_payloads_execute_nothing(w: &mut World) {
    let r = w
        .http
        .post(format!(
            "{}/_sandbox/graph/mailboxes/{ADELE}/folders/inbox/eml",
            w.sandbox
        ))
        .body(hostile_eml())
        .send()
        .await
        .expect("seed eml");
    assert!(r.status().is_success());
    run_now_until_imported(w, "Hostile").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        w.xss_flag().await,
        Value::Null,
        "the mail list ran a payload"
    );
    assert!(
        w.text().await.contains(XSS_SCRIPT),
        "the subject shows as text"
    );
    w.click("td.subject a").await;
    w.find("a.attachment-name").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        w.xss_flag().await,
        Value::Null,
        "the message page ran a payload"
    );
    let name = w
        .find("a.attachment-name")
        .await
        .text()
        .await
        .expect("text");
    assert_eq!(name, XSS_FILE, "the attachment name shows as text");
    w.shot("mail-hostile").await;
}

include!("../common/xss_payloads.rs");

/// The whole XSS corpus of the server-side test, in one message's HTML body (every
/// `alert(1)` turned into a flag setter), its subject and its attachment name.
fn corpus_eml() -> String {
    let flagged: Vec<String> = PAYLOADS
        .iter()
        .map(|p| p.replace("alert(1)", "window.__xss=1"))
        .collect();
    let html = flagged.join("<hr>\r\n");
    let subject = flagged[..8].concat().replace(['\r', '\n'], " ");
    format!(
        "From: \"{}\" <attacker@evil.example>\r\n\
         To: adele@contoso.onmicrosoft.com\r\n\
         Subject: Corpus {subject}\r\n\
         Date: Thu, 26 Nov 2026 11:00:00 +0000\r\n\
         Message-ID: <corpus-1@evil.example>\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"c1\"\r\n\r\n\
         --c1\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body>{html}</body></html>\r\n\
         --c1\r\nContent-Type: text/plain; name=\"x.txt\"\r\n\
         Content-Disposition: attachment; filename=\"{}\"\r\n\r\nharmless\r\n--c1--\r\n",
        flagged[2].replace('"', "'"),
        flagged[2].replace('"', "'"),
    )
}

/// The corpus again in the new renderers: a meeting request that is nothing but a calendar
/// (payloads in its title, location, organizer and description, shown as a summary), and a
/// message whose HTML body and file are inside `winmail.dat` (TNEF).
fn calendar_eml() -> String {
    let flagged: Vec<String> = PAYLOADS
        .iter()
        .map(|p| {
            p.replace("alert(1)", "window.__xss=1")
                .replace(['\r', '\n'], " ")
        })
        .collect();
    // RFC 5545 TEXT: `,` `;` and `\` are escaped, so every payload arrives whole.
    let text = |s: &str| {
        s.replace('\\', "\\\\")
            .replace(',', "\\,")
            .replace(';', "\\;")
    };
    let all = text(&flagged.join(" "));
    let ics = format!(
        "BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\nSUMMARY:Meetingxss {}\r\nLOCATION:{}\r\n\
         ORGANIZER;CN=\"{}\":mailto:evil@evil.example\r\nDESCRIPTION:{all}\r\nDTSTART;TZID=\"{}\":20261126T110000\r\n\
         DTEND;TZID=\"{}\":20261126T120000\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
        text(&flagged[..8].concat()),
        text(&flagged[8..16].concat()),
        flagged[2].replace('"', "'"),
        flagged[3].replace('"', "'"),
        flagged[3].replace('"', "'"),
    );
    format!(
        "From: attacker@evil.example\r\nTo: adele@contoso.onmicrosoft.com\r\nSubject: Meetingxss\r\n\
         Date: Thu, 26 Nov 2026 11:01:00 +0000\r\nMessage-ID: <corpus-cal@evil.example>\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/calendar; charset=utf-8; method=REQUEST\r\n\r\n{ics}"
    )
}

/// One TNEF attribute: level, id, length, value, checksum ([MS-OXTNEF] 2.1.3).
fn tnef_attribute(level: u8, id: u32, value: &[u8]) -> Vec<u8> {
    let mut out = vec![level];
    out.extend_from_slice(&id.to_le_bytes());
    out.extend_from_slice(&(value.len() as u32).to_le_bytes());
    out.extend_from_slice(value);
    let sum = value
        .iter()
        .fold(0u16, |s, &b| s.wrapping_add(u16::from(b)));
    out.extend_from_slice(&sum.to_le_bytes());
    out
}

fn tnef_eml() -> String {
    use base64::Engine;
    let flagged: Vec<String> = PAYLOADS
        .iter()
        .map(|p| p.replace("alert(1)", "window.__xss=1"))
        .collect();
    let html = format!("<html><body>{}</body></html>", flagged.join("<hr>\r\n"));
    // attMsgProps with PR_BODY_HTML (0x1013, PT_BINARY).
    let mut props = 1u32.to_le_bytes().to_vec();
    props.extend_from_slice(&0x0102u16.to_le_bytes());
    props.extend_from_slice(&0x1013u16.to_le_bytes());
    props.extend_from_slice(&1u32.to_le_bytes());
    props.extend_from_slice(&(html.len() as u32).to_le_bytes());
    props.extend_from_slice(html.as_bytes());
    props.extend(std::iter::repeat_n(0u8, (4 - html.len() % 4) % 4));
    let mut tnef = 0x223E_9F78u32.to_le_bytes().to_vec();
    tnef.extend_from_slice(&1u16.to_le_bytes());
    tnef.extend(tnef_attribute(1, 0x0006_9003, &props));
    tnef.extend(tnef_attribute(
        2,
        0x0006_9002,
        &[1, 0, 0xFF, 0xFF, 0xFF, 0xFF],
    ));
    let name = format!("{}\0", flagged[2].replace('"', "'"));
    tnef.extend(tnef_attribute(2, 0x0001_8010, name.as_bytes()));
    tnef.extend(tnef_attribute(2, 0x0006_800F, b"harmless"));
    let b64 = base64::engine::general_purpose::STANDARD.encode(&tnef);
    format!(
        "From: attacker@evil.example\r\nTo: adele@contoso.onmicrosoft.com\r\nSubject: Winmailxss\r\n\
         Date: Thu, 26 Nov 2026 11:02:00 +0000\r\nMessage-ID: <corpus-tnef@evil.example>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"t1\"\r\n\r\n--t1\r\n\
         Content-Type: application/ms-tnef; name=\"winmail.dat\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{b64}\r\n--t1--\r\n"
    )
}

/// All payloads of the corpus, opened in Chromium: nothing runs (no flag, no dialog), in the
/// HTML body, and in the meeting summary and the TNEF body that Mailport renders itself.
pub async fn xss_corpus_executes_nothing(w: &mut World) {
    for (subject, eml) in [
        ("Corpus", corpus_eml()),
        ("Meetingxss", calendar_eml()),
        ("Winmailxss", tnef_eml()),
    ] {
        corpus_message_executes_nothing(w, subject, eml).await;
    }
}

async fn corpus_message_executes_nothing(w: &mut World, subject: &str, eml: String) {
    let r = w
        .http
        .post(format!(
            "{}/_sandbox/graph/mailboxes/{ADELE}/folders/inbox/eml",
            w.sandbox
        ))
        .body(eml)
        .send()
        .await
        .expect("seed eml");
    assert!(r.status().is_success());
    run_now_until_imported(w, subject).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        w.xss_flag().await,
        Value::Null,
        "the mail list ran a payload of {subject}"
    );
    w.goto(&format!("/mail?q={subject}")).await;
    w.click("td.subject a").await;
    w.find("a.attachment-name").await;
    // The payloads really reach the renderer under test.
    match subject {
        "Meetingxss" => {
            w.find("#cal-description").await;
            assert!(
                w.text().await.contains("window.__xss=1"),
                "the summary shows payloads as text"
            );
        }
        "Winmailxss" => {
            w.find(".mail-html hr").await;
        }
        _ => {}
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        w.xss_flag().await,
        Value::Null,
        "the message page of {subject} ran one of {} corpus payloads",
        PAYLOADS.len()
    );
    // The page's CSP (no inline script) would stop most payloads even if sanitising failed;
    // check the DOM itself too, so this test fails when either defence breaks.
    let live: Value = w
        .browser
        .execute(
            "let bad = 0;\
             for (const el of document.querySelectorAll('body *')) {\
               for (const a of el.attributes) {\
                 const v = a.value.trim().toLowerCase();\
                 if (a.name.startsWith('on')) bad++;\
                 if (['href','src','action','formaction','xlink:href'].includes(a.name)\
                     && (v.startsWith('javascript:') || v.startsWith('vbscript:') || v.startsWith('data:text'))) bad++;\
               }\
             }\
             bad += document.querySelectorAll('main script, main iframe, main object, main embed, .mail-html form, base, meta[http-equiv]').length;\
             return bad;",
            vec![],
        )
        .await
        .expect("execute");
    assert_eq!(
        live,
        json!(0),
        "live DOM elements that could run or navigate in {subject}"
    );
    w.shot(&format!("mail-xss-{}", subject.to_lowercase()))
        .await;
}

/// A revoked refresh token: credential and account say "needs consent"; the key repairs both.
pub async fn revoked_refresh_token_and_repair(w: &mut World) {
    w.sandbox_post(
        &format!("/_sandbox/identity/users/{ADELE}/revoke"),
        json!({}),
    )
    .await;
    // The next token use refreshes (tokens live less than the refresh margin) and fails.
    w.goto("/accounts/adele-inbox").await;
    w.click("form[action$='/import'] button[type=submit]").await;
    let start = Instant::now();
    loop {
        w.goto("/credentials/delegated").await;
        if w.badge(".token-panel .badge").await == "needs_consent" {
            break;
        }
        assert!(
            start.elapsed() < WAIT,
            "the credential did not turn to needs consent: {}",
            w.text().await
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let text = w.text().await;
    assert!(text.contains("AADSTS"), "the error code is shown: {text}");
    w.shot("credential-needs-consent").await;
    w.goto("/accounts/adele-inbox").await;
    assert_eq!(w.badge(".token-panel .badge").await, "needs_consent");
    w.wait_for_text("Repair credential", false).await;
    w.shot("account-needs-consent").await;
    w.goto("/accounts").await;
    assert_eq!(w.badge("table.list .badge").await, "needs_consent");

    // Repair: press the key, sign in again.
    w.goto("/credentials/delegated").await;
    w.click("#key-form button[type=submit]").await;
    w.sign_in_at_sandbox(ADELE, DEMO_PASSWORD, true).await;
    w.wait_for_text("Signed in as", false).await;
    assert_eq!(w.badge(".token-panel .badge").await, "valid");
    w.shot("credential-repaired").await;

    // The account imports again.
    w.sandbox_post(
        &format!("/_sandbox/graph/mailboxes/{ADELE}/folders/inbox/generate"),
        json!({"count": 1, "size": 5000, "subject_prefix": "After the repair"}),
    )
    .await;
    run_now_until_imported(w, "After the repair").await;
    let start = Instant::now();
    loop {
        w.goto("/accounts/adele-inbox").await;
        if w.badge(".token-panel .badge").await == "ok" {
            break;
        }
        assert!(
            start.elapsed() < WAIT,
            "the account did not recover: {}",
            w.text().await
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    w.shot("account-repaired").await;
}
