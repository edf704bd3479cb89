//! Building raw messages (any subject, sender name, body or file name, however hostile) and
//! storing them exactly as the importer does.

use base64::Engine;
use mailport::store::messages::{NewMessage, insert_imported};

use crate::helpers::TestApp;

/// A 1x1 transparent PNG.
pub const PNG: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4,
    0x89, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0D, 0x0A, 0x2D, 0xB4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE,
    0x42, 0x60, 0x82,
];

/// Writes `raw` to the blob store, parses it and records it. Returns (id, sha256).
pub async fn store(
    app: &TestApp,
    account: &str,
    graph_id: &str,
    raw: &[u8],
    received_at: Option<i64>,
) -> (i64, String) {
    let mut writer = app.state.blobs.begin().await.expect("blob");
    writer.write(raw).await.expect("write blob");
    let blob = writer.finish().await.expect("finish blob");
    let parsed = mailport::mime::parse(raw);
    let message = NewMessage {
        account_id: account.into(),
        graph_id: graph_id.into(),
        internet_message_id: parsed.message_id,
        subject: parsed.subject,
        from: parsed.from,
        to: parsed.to,
        cc: parsed.cc,
        sent_at: parsed.date,
        received_at,
        size: blob.size as i64,
        sha256: blob.sha256.clone(),
        text_body: parsed.text_body,
        html_body: parsed.html_body,
        attachments: parsed.attachments,
        attachment_count: parsed.attachment_count as i64,
        calendar: parsed.calendar,
    };
    let (id, new) = insert_imported(&app.state.db, &message)
        .await
        .expect("insert");
    assert!(new, "message {graph_id} stored twice");
    (id, blob.sha256)
}

/// One non-body part.
pub struct Part {
    headers: String,
    body: Vec<u8>,
    inline: bool,
}

impl Part {
    pub fn attachment(name: &str, content_type: &str, bytes: &[u8]) -> Part {
        Part {
            headers: format!(
                "Content-Type: {content_type}\r\nContent-Disposition: attachment; {}\r\n",
                filename_param(name)
            ),
            body: bytes.to_vec(),
            inline: false,
        }
    }

    pub fn inline_image(content_id: &str, content_type: &str, bytes: &[u8]) -> Part {
        Part {
            headers: format!(
                "Content-Type: {content_type}\r\nContent-ID: <{content_id}>\r\nContent-Disposition: inline\r\n"
            ),
            body: bytes.to_vec(),
            inline: true,
        }
    }
}

/// A plain `filename="…"` for ordinary names, RFC 2231 for everything else.
fn filename_param(name: &str) -> String {
    if name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b".-_ ".contains(&b))
    {
        format!("filename=\"{name}\"")
    } else {
        let encoded: String = name
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b".-_".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        format!("filename*=utf-8''{encoded}")
    }
}

/// An RFC 2047 encoded word when the text is not plain printable ASCII.
fn header_text(s: &str) -> String {
    if !s.is_empty() && s.bytes().all(|b| (b' '..=b'~').contains(&b)) && !s.contains("=?") {
        s.to_string()
    } else {
        format!("=?utf-8?B?{}?=", b64(s.as_bytes()))
    }
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// base64 in 76-character lines, as mail wants it.
fn b64_lines(bytes: &[u8]) -> String {
    let all = b64(bytes);
    let mut out = String::new();
    for chunk in all.as_bytes().chunks(76) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or(""));
        out.push_str("\r\n");
    }
    out
}

/// A message under construction: multipart/mixed > multipart/related > multipart/alternative.
pub struct Eml {
    subject: String,
    from: Option<String>,
    to: Option<String>,
    cc: Option<String>,
    text: Option<String>,
    html: Option<String>,
    parts: Vec<Part>,
}

impl Eml {
    pub fn new(subject: &str) -> Eml {
        Eml {
            subject: subject.into(),
            from: None,
            to: None,
            cc: None,
            text: None,
            html: None,
            parts: Vec::new(),
        }
    }

    pub fn from(mut self, name: &str, address: &str) -> Eml {
        self.from = Some(format!("{} <{address}>", header_text(name)));
        self
    }

    /// A raw To header value.
    pub fn to(mut self, to: &str) -> Eml {
        self.to = Some(to.into());
        self
    }

    pub fn cc(mut self, cc: &str) -> Eml {
        self.cc = Some(cc.into());
        self
    }

    pub fn text(mut self, text: &str) -> Eml {
        self.text = Some(text.into());
        self
    }

    pub fn html(mut self, html: &str) -> Eml {
        self.html = Some(html.into());
        self
    }

    pub fn part(mut self, part: Part) -> Eml {
        self.parts.push(part);
        self
    }

    pub fn build(&self) -> Vec<u8> {
        let mut m = String::new();
        m.push_str(&format!(
            "From: {}\r\n",
            self.from
                .as_deref()
                .unwrap_or("Sender <sender@contoso.example>")
        ));
        m.push_str(&format!(
            "To: {}\r\n",
            self.to.as_deref().unwrap_or("inbox@contoso.example")
        ));
        if let Some(cc) = &self.cc {
            m.push_str(&format!("Cc: {cc}\r\n"));
        }
        m.push_str(&format!("Subject: {}\r\n", header_text(&self.subject)));
        m.push_str("Date: Tue, 1 Sep 2026 10:00:00 +0000\r\n");
        m.push_str("Message-ID: <m1@contoso.example>\r\nMIME-Version: 1.0\r\n");
        m.push_str("Content-Type: multipart/mixed; boundary=\"mixed-b\"\r\n\r\n");
        m.push_str("--mixed-b\r\nContent-Type: multipart/related; boundary=\"rel-b\"\r\n\r\n");
        m.push_str("--rel-b\r\nContent-Type: multipart/alternative; boundary=\"alt-b\"\r\n\r\n");
        let text = match (&self.text, &self.html) {
            (None, None) => Some(String::new()),
            (t, _) => t.clone(),
        };
        for (kind, body) in [("plain", &text), ("html", &self.html)] {
            if let Some(body) = body {
                m.push_str(&format!(
                    "--alt-b\r\nContent-Type: text/{kind}; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n{}",
                    b64_lines(body.as_bytes())
                ));
            }
        }
        m.push_str("--alt-b--\r\n");
        for p in self.parts.iter().filter(|p| p.inline) {
            m.push_str(&format!(
                "--rel-b\r\n{}Content-Transfer-Encoding: base64\r\n\r\n{}",
                p.headers,
                b64_lines(&p.body)
            ));
        }
        m.push_str("--rel-b--\r\n");
        for p in self.parts.iter().filter(|p| !p.inline) {
            m.push_str(&format!(
                "--mixed-b\r\n{}Content-Transfer-Encoding: base64\r\n\r\n{}",
                p.headers,
                b64_lines(&p.body)
            ));
        }
        m.push_str("--mixed-b--\r\n");
        m.into_bytes()
    }
}
