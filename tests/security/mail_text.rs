//! Text out of hostile mail, generated with proptest: decoding never panics under any
//! charset label, and no stored or shown text ever holds a control character (a NUL in a
//! subject once reached the page's HTML) or an attachment name a format character.

use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine;
use mailport::mime::{calendar, charset, tnef, words};
use proptest::prelude::*;

use crate::bad_input::runner;
use crate::fixtures::store;
use crate::helpers::*;

/// Labels of every kind: WHATWG ones, the stateful ones, mail aliases, nonsense.
const LABELS: &[&str] = &[
    "utf-8",
    "UTF-8*en",
    "us-ascii",
    "iso-8859-1",
    "windows-1252",
    "iso-2022-jp",
    "ISO-2022-JP-2",
    "shift_jis",
    "cp932",
    "euc-jp",
    "gb2312",
    "gbk",
    "gb18030",
    "big5",
    "euc-kr",
    "ks_c_5601-1987",
    "iso-2022-kr",
    "koi8-r",
    "koi8-u",
    "utf-7",
    "utf-16",
    "utf-16be",
    "x-user-defined",
    "hz-gb-2312",
    "replacement",
    "",
    "\"\"",
    "*",
    "'",
    "x-unknown",
    "utf-8''",
];

fn label() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::sample::select(LABELS).prop_map(str::to_string),
        1 => "[ -~]{0,12}",
    ]
}

/// C0 controls other than tab, CR and LF, and DEL.
fn control_in(s: &str) -> Option<char> {
    s.chars()
        .find(|&c| (c.is_ascii_control() && !matches!(c, '\t' | '\r' | '\n')) || c == '\u{7f}')
}

#[test]
fn decoding_never_panics_under_any_label() {
    let input = (label(), proptest::collection::vec(any::<u8>(), 0..512));
    runner(512)
        .run(&input, |(label, bytes)| {
            let _ = charset::decode(Some(&label), &bytes, encoding_rs::WINDOWS_1252);
            let _ = charset::decode(Some(&label), &bytes, encoding_rs::SHIFT_JIS);
            let _ = charset::utf7(&bytes);
            let _ = charset::iso_2022_kr(&bytes);
            let b64 = base64::engine::general_purpose::STANDARD.encode(&bytes);
            let header = format!(
                "x =?{label}?B?{b64}?= =?{label}?Q?{}?= y",
                String::from_utf8_lossy(&bytes)
            );
            let _ = words::unstructured(header.as_bytes(), encoding_rs::WINDOWS_1252);
            let _ = words::unstructured(&bytes, encoding_rs::WINDOWS_1252);
            let _ = words::structured(&bytes, encoding_rs::WINDOWS_1252);
            let _ = words::structured(header.as_bytes(), encoding_rs::WINDOWS_1252);
            for raw in [&bytes[..], header.as_bytes()] {
                let _ = words::parameter(raw, "filename", encoding_rs::WINDOWS_1252);
            }
            let param = format!(
                "attachment; filename*0*={label}''{}; filename*1={b64}",
                String::from_utf8_lossy(&bytes)
            );
            let _ = words::parameter(param.as_bytes(), "filename", encoding_rs::WINDOWS_1252);
            let _ = tnef::read(&bytes);
            let mut with_signature = vec![0x78, 0x9f, 0x3e, 0x22, 0x01, 0x00];
            with_signature.extend_from_slice(&bytes);
            let _ = tnef::read(&with_signature);
            let _ = calendar::summarise(&String::from_utf8_lossy(&bytes));
            let cal = format!(
                "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\n{}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
                String::from_utf8_lossy(&bytes)
            );
            let _ = calendar::summarise(&cal);
            Ok(())
        })
        .expect("property");
}

/// Text with control and format characters mixed in.
fn hostile_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        3 => "[a-zA-Z0-9 äöü日本]{0,6}",
        2 => proptest::char::range('\u{0}', '\u{1f}').prop_map(String::from),
        1 => proptest::sample::select(&['\u{7f}', '\u{85}', '\u{202e}', '\u{200b}', '\u{2066}', '\u{feff}', '\u{ad}'][..]).prop_map(String::from),
    ];
    proptest::collection::vec(piece, 1..12).prop_map(|p| p.concat())
}

/// A message carrying `text` in its subject, sender name, file name and bodies, both as raw
/// bytes and as encoded words, plus a meeting request.
fn message_with(text: &str, raw_header: bool) -> Vec<u8> {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
    let word = format!("=?utf-8?B?{}?=", b64(text));
    let header_text = if raw_header {
        text.replace(['\r', '\n'], " ")
    } else {
        word.clone()
    };
    let ics = format!(
        "BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\nSUMMARY:{0}\r\nLOCATION:{0}\r\nORGANIZER;CN={0}:mailto:o@x\r\nDESCRIPTION:{0}\r\nDTSTART:20250101T100000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
        text.replace(['\r', '\n'], " ")
    );
    let mut m = format!(
        "From: {header_text} <a@example.test>\r\nTo: \"{word}\" <b@example.test>\r\nSubject: {header_text}\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
    );
    m.push_str(&format!("--b\r\nContent-Type: multipart/alternative; boundary=\"a\"\r\n\r\n--a\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n", b64(text)));
    m.push_str(&format!("--a\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--a--\r\n", b64(&format!("<p>{text}</p>"))));
    m.push_str(&format!("--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"{word}\"\r\n\r\nx\r\n"));
    m.push_str(&format!("--b\r\nContent-Type: text/calendar; method=REQUEST\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--b--\r\n", b64(&ics)));
    m.into_bytes()
}

#[test]
fn no_stored_or_shown_text_holds_a_control_character() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let app = rt.block_on(TestApp::signed_in());
    let n = AtomicUsize::new(0);
    runner(64)
        .run(&(hostile_text(), any::<bool>()), |(text, raw_header)| {
            let raw = message_with(&text, raw_header);
            let p = mailport::mime::parse(&raw);
            let mut one_line: Vec<String> = vec![p.subject.clone()];
            for m in p.from.iter().chain(&p.to).chain(&p.cc) {
                one_line.extend(m.name.clone());
                one_line.extend(m.address.clone());
            }
            for a in &p.attachments {
                prop_assert!(
                    !a.name.chars().any(mailport::mime::clean::is_format),
                    "{:?}",
                    a.name
                );
                one_line.push(a.name.clone());
            }
            let c = p.calendar.clone().unwrap_or_default();
            one_line.extend([c.title, c.location, c.organizer].into_iter().flatten());
            for s in &one_line {
                prop_assert!(!s.chars().any(char::is_control), "{s:?} from {text:?}");
                prop_assert_eq!(s.trim(), s.as_str());
            }
            for body in [&p.text_body, &p.html_body, &c.description]
                .into_iter()
                .flatten()
            {
                prop_assert!(control_in(body).is_none(), "{body:?} from {text:?}");
            }
            let i = n.fetch_add(1, Ordering::Relaxed);
            let page = rt.block_on(async {
                let (id, _) = store(&app, "ctl", &format!("g{i}"), &raw, None).await;
                let list = app.get_text("/mail?account=ctl").await;
                let api = app
                    .get(&format!("/api/v1/messages/{id}"))
                    .await
                    .text()
                    .await
                    .unwrap_or_default();
                (app.get_text(&format!("/mail/{id}")).await, list, api)
            });
            for shown in [&page.0, &page.1] {
                prop_assert!(
                    control_in(shown).is_none(),
                    "{:?} in a page from {text:?}",
                    control_in(shown)
                );
            }
            // JSON escapes controls as \u00XX; none may be there.
            prop_assert!(!page.2.contains("\\u00"), "{} from {text:?}", page.2);
            Ok(())
        })
        .expect("property");
}
