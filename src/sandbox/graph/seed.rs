//! Generated test mail: deterministic MIME with unicode subjects, HTML bodies, attachments and
//! a target size, so tests can reason about bytes, sizes and ordering.

use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

/// Makes Message-IDs unique across seeding calls of the process.
static MESSAGE_COUNTER: AtomicU64 = AtomicU64::new(0);

/// `POST /_sandbox/graph/mailboxes/{u}/folders/{f}/generate`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct GenerateSpec {
    pub count: usize,
    /// Approximate size of each raw message in bytes.
    pub size: usize,
    /// Attachments per message (deterministic binary content).
    pub attachments: usize,
    pub is_read: bool,
    pub unicode_subjects: bool,
    pub html: bool,
    /// receivedDateTime of the first (oldest) message, RFC 3339; default: `count * spacing` ago.
    pub start: Option<String>,
    /// Seconds between consecutive messages' receivedDateTime.
    pub spacing_secs: i64,
    /// Seeds the attachment content.
    pub seed: u64,
    pub subject_prefix: Option<String>,
}

impl Default for GenerateSpec {
    fn default() -> Self {
        GenerateSpec {
            count: 1,
            size: 4096,
            attachments: 0,
            is_read: false,
            unicode_subjects: true,
            html: true,
            start: None,
            spacing_secs: 60,
            seed: 1,
            subject_prefix: None,
        }
    }
}

/// One generated message: its raw bytes and when Exchange "received" it.
pub struct Generated {
    pub raw: Vec<u8>,
    pub received: OffsetDateTime,
}

fn encoded_word(text: &str) -> String {
    if text.is_ascii() {
        text.to_string()
    } else {
        format!("=?UTF-8?B?{}?=", STANDARD.encode(text.as_bytes()))
    }
}

fn base64_lines(data: &[u8]) -> String {
    let encoded = STANDARD.encode(data);
    let mut out = String::with_capacity(encoded.len() + encoded.len() / 76 * 2 + 2);
    for chunk in encoded.as_bytes().chunks(76) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push_str("\r\n");
    }
    out
}

fn rfc2822(t: OffsetDateTime) -> String {
    let fmt = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] +0000"
    );
    t.format(fmt).unwrap_or_default()
}

fn build(
    spec: &GenerateSpec,
    index: usize,
    received: OffsetDateTime,
    filler: usize,
    rng: &mut StdRng,
) -> Vec<u8> {
    let n = MESSAGE_COUNTER.fetch_add(1, Ordering::Relaxed);
    let prefix = spec
        .subject_prefix
        .as_deref()
        .unwrap_or(if spec.unicode_subjects {
            "Grüße aus Köln — 日本語の件名 ✉"
        } else {
            "Test message"
        });
    let subject = format!("{prefix} #{index}");
    let boundary_mixed = format!("mixed-{n}");
    let boundary_alt = format!("alt-{n}");
    let text = format!("Hello,\r\n\r\nthis is generated message {index} ({n}).\r\n");
    let html = format!(
        "<html><body><p>Hello,</p><p>this is <b>generated</b> message {index} ({n}).</p></body></html>\r\n"
    );
    let mut mime = String::new();
    mime.push_str(&format!(
        "From: Sandbox Sender <sender{}@example.com>\r\nTo: Mailbox Owner <owner@example.com>\r\nSubject: {}\r\nDate: {}\r\nMessage-ID: <gen.{n}.{index}@sandbox.mailport.invalid>\r\nMIME-Version: 1.0\r\n",
        index % 7,
        encoded_word(&subject),
        rfc2822(received),
    ));
    let has_parts = spec.attachments > 0;
    if has_parts {
        mime.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=\"{boundary_mixed}\"\r\n\r\n--{boundary_mixed}\r\n"
        ));
    }
    // Without attachments, the filler goes into the text body.
    let pad_text: String = if has_parts || filler == 0 {
        String::new()
    } else {
        let line = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod.\r\n";
        line.repeat(filler / line.len() + 1)[..filler].to_string()
    };
    if spec.html {
        mime.push_str(&format!(
            "Content-Type: multipart/alternative; boundary=\"{boundary_alt}\"\r\n\r\n--{boundary_alt}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{text}{pad_text}\r\n--{boundary_alt}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{html}\r\n--{boundary_alt}--\r\n"
        ));
    } else {
        mime.push_str(&format!(
            "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{text}{pad_text}"
        ));
    }
    if has_parts {
        // 57 raw bytes become one 78-byte base64 line.
        let per_attachment = filler / spec.attachments * 57 / 78;
        for k in 0..spec.attachments {
            let mut data = vec![0u8; per_attachment];
            rng.fill_bytes(&mut data);
            mime.push_str(&format!(
                "\r\n--{boundary_mixed}\r\nContent-Type: application/octet-stream; name=\"attachment-{index}-{k}.bin\"\r\nContent-Disposition: attachment; filename=\"attachment-{index}-{k}.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}",
                base64_lines(&data)
            ));
        }
        mime.push_str(&format!("\r\n--{boundary_mixed}--\r\n"));
    }
    mime.into_bytes()
}

/// Generates `spec.count` messages, oldest first.
pub fn generate(spec: &GenerateSpec) -> Result<Vec<Generated>, String> {
    let spacing = Duration::seconds(spec.spacing_secs);
    let start = match &spec.start {
        Some(s) => OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
            .map_err(|e| format!("start: {e}"))?,
        None => OffsetDateTime::now_utc() - spacing * (spec.count as i32),
    };
    let mut rng = StdRng::seed_from_u64(spec.seed);
    let mut out = Vec::with_capacity(spec.count);
    for index in 0..spec.count {
        let received = (start + spacing * (index as i32))
            .replace_nanosecond(0)
            .unwrap_or(start);
        let overhead = build(spec, index, received, 0, &mut StdRng::seed_from_u64(0)).len();
        let filler = spec
            .size
            .saturating_sub(overhead + 2 * 78 * spec.attachments);
        let raw = build(spec, index, received, filler, &mut rng);
        out.push(Generated { raw, received });
    }
    Ok(out)
}
