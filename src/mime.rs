//! Reading a raw RFC 5322 message with `mail-parser`: the fields Mailport stores and shows,
//! and the attachments. Used by the importer (to fill the database) and by the mail viewer
//! (to serve attachment bytes from the stored raw message).

use mail_parser::{MessageParser, MimeHeaders};
use serde::{Deserialize, Serialize};

/// An e-mail address with its display name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mailbox {
    pub name: Option<String>,
    pub address: Option<String>,
}

/// What Mailport keeps of a message.
#[derive(Debug, Clone, Default)]
pub struct ParsedMessage {
    pub subject: String,
    pub from: Option<Mailbox>,
    pub to: Vec<Mailbox>,
    pub cc: Vec<Mailbox>,
    /// Unix seconds of the Date header.
    pub date: Option<i64>,
    pub message_id: Option<String>,
    pub text_body: Option<String>,
    pub html_body: Option<String>,
    pub attachments: Vec<AttachmentInfo>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentInfo {
    pub name: String,
    pub content_type: String,
    pub size: usize,
    pub content_id: Option<String>,
    pub is_inline: bool,
}

/// Caps on what we keep in the database; the raw message keeps everything.
const MAX_BODY_CHARS: usize = 2_000_000;
const MAX_FIELD_CHARS: usize = 2_000;

fn clip(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => s[..i].to_string(),
        None => s.to_string(),
    }
}

fn mailboxes(addr: Option<&mail_parser::Address<'_>>) -> Vec<Mailbox> {
    addr.map(|a| {
        a.iter()
            .take(500)
            .map(|m| Mailbox {
                name: m.name().map(|n| clip(n, MAX_FIELD_CHARS)),
                address: m.address().map(|n| clip(n, MAX_FIELD_CHARS)),
            })
            .collect()
    })
    .unwrap_or_default()
}

/// Parses a raw message. Never fails: unparseable input yields an empty message (the raw
/// bytes are still stored and downloadable).
pub fn parse(raw: &[u8]) -> ParsedMessage {
    let Some(msg) = MessageParser::default().parse(raw) else {
        return ParsedMessage::default();
    };
    let attachments = msg
        .attachments()
        .take(1000)
        .enumerate()
        .map(|(i, part)| attachment_info(i, part))
        .collect();
    ParsedMessage {
        subject: clip(msg.subject().unwrap_or(""), MAX_FIELD_CHARS),
        from: mailboxes(msg.from()).into_iter().next(),
        to: mailboxes(msg.to()),
        cc: mailboxes(msg.cc()),
        date: msg.date().map(|d| d.to_timestamp()),
        message_id: msg.message_id().map(|m| clip(m, MAX_FIELD_CHARS)),
        text_body: msg.body_text(0).map(|b| clip(&b, MAX_BODY_CHARS)),
        html_body: msg.body_html(0).map(|b| clip(&b, MAX_BODY_CHARS)),
        attachments,
    }
}

fn attachment_info(i: usize, part: &mail_parser::MessagePart<'_>) -> AttachmentInfo {
    let content_type = part
        .content_type()
        .map(|ct| match ct.subtype() {
            Some(sub) => format!("{}/{}", ct.ctype(), sub),
            None => ct.ctype().to_string(),
        })
        .unwrap_or_else(|| "application/octet-stream".into())
        .to_ascii_lowercase();
    let name = part
        .attachment_name()
        .map(|n| clip(n, 255))
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| format!("attachment-{}", i + 1));
    AttachmentInfo {
        name,
        content_type: clip(&content_type, 255),
        size: part.contents().len(),
        content_id: part
            .content_id()
            .map(|c| clip(c.trim_matches(|ch| ch == '<' || ch == '>'), 255)),
        is_inline: part.content_disposition().is_some_and(|d| d.is_inline()),
    }
}

/// The bytes of attachment `index` (in [`ParsedMessage::attachments`] order).
pub fn attachment_bytes(raw: &[u8], index: usize) -> Option<Vec<u8>> {
    let msg = MessageParser::default().parse(raw)?;
    msg.attachments()
        .nth(index)
        .map(|part| part.contents().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fields_and_attachments() {
        let raw = b"From: \"Adele\" <adele@contoso.com>\r\nTo: a@x.com, b@x.com\r\nSubject: =?utf-8?q?H=C3=A9llo?=\r\nMessage-ID: <m1@x>\r\nDate: Tue, 1 Sep 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b\r\nContent-Type: application/pdf; name=r.pdf\r\nContent-Disposition: attachment; filename=r.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nAAEC\r\n--b--\r\n";
        let p = parse(raw);
        assert_eq!(p.subject, "H\u{e9}llo");
        assert_eq!(
            p.from.unwrap().address.as_deref(),
            Some("adele@contoso.com")
        );
        assert_eq!(p.to.len(), 2);
        assert_eq!(p.message_id.as_deref(), Some("m1@x"));
        assert_eq!(p.attachments.len(), 1);
        assert_eq!(p.attachments[0].name, "r.pdf");
        assert_eq!(p.attachments[0].content_type, "application/pdf");
        assert_eq!(attachment_bytes(raw, 0).unwrap(), vec![0, 1, 2]);
        assert!(parse(b"\x00\xff garbage").attachments.is_empty());
    }
}
