//! What Exchange derives from a message's raw MIME: the fields Graph shows in message JSON.
//!
//! Parsed once when a message is stored; the raw bytes stay the source of truth for `$value`.

use mail_parser::{Address, MessageParser};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

/// A name and address, as Graph's `emailAddress` object.
#[derive(Debug, Clone, Default)]
pub struct Mailbox {
    pub name: String,
    pub address: String,
}

/// The header- and body-derived fields of one message.
#[derive(Debug, Clone, Default)]
pub struct MessageMeta {
    pub subject: String,
    pub internet_message_id: String,
    pub from: Option<Mailbox>,
    pub sender: Option<Mailbox>,
    pub to: Vec<Mailbox>,
    pub cc: Vec<Mailbox>,
    pub bcc: Vec<Mailbox>,
    pub reply_to: Vec<Mailbox>,
    pub sent: Option<OffsetDateTime>,
    pub has_attachments: bool,
    /// `html` or `text`, as Graph's `body.contentType`.
    pub body_type: &'static str,
    pub body: String,
    pub body_preview: String,
    /// Groups a thread: derived from the first References/In-Reply-To id, else the message's own.
    pub conversation_id: String,
    pub sha256: String,
}

fn mailboxes(address: Option<&Address<'_>>) -> Vec<Mailbox> {
    address
        .map(|a| {
            a.iter()
                .map(|addr| Mailbox {
                    name: addr.name().unwrap_or_default().to_string(),
                    address: addr.address().unwrap_or_default().to_string(),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Graph's bodyPreview: the text body with whitespace collapsed, at most 255 characters.
fn preview(text: &str) -> String {
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    collapsed.chars().take(255).collect()
}

fn conversation_id(root_message_id: &str) -> String {
    let digest = Sha256::digest(root_message_id.as_bytes());
    format!(
        "AAQkAGI2{}",
        base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE, &digest[..24])
    )
}

/// Parses raw MIME. Unparseable input still yields a message (Exchange stores it anyway).
pub fn parse(raw: &[u8]) -> MessageMeta {
    let sha256 = hex::encode(Sha256::digest(raw));
    let Some(message) = MessageParser::default().parse(raw) else {
        return MessageMeta {
            body_type: "text",
            conversation_id: conversation_id(&sha256),
            sha256,
            ..MessageMeta::default()
        };
    };
    let from = mailboxes(message.from()).into_iter().next();
    let sender = mailboxes(message.sender())
        .into_iter()
        .next()
        .or(from.clone());
    let (body_type, body) = match message.body_html(0) {
        Some(html) => ("html", html.into_owned()),
        None => (
            "text",
            message
                .body_text(0)
                .map(|t| t.into_owned())
                .unwrap_or_default(),
        ),
    };
    let preview_source = message
        .body_text(0)
        .map(|t| t.into_owned())
        .unwrap_or_default();
    let internet_message_id = message
        .message_id()
        .map(|id| format!("<{id}>"))
        .unwrap_or_default();
    let root = message
        .references()
        .as_text_list()
        .and_then(|ids| ids.first().map(|s| s.to_string()))
        .or_else(|| message.in_reply_to().as_text().map(str::to_string))
        .unwrap_or_else(|| internet_message_id.clone());
    MessageMeta {
        subject: message.subject().unwrap_or_default().to_string(),
        internet_message_id,
        from,
        sender,
        to: mailboxes(message.to()),
        cc: mailboxes(message.cc()),
        bcc: mailboxes(message.bcc()),
        reply_to: mailboxes(message.reply_to()),
        sent: message
            .date()
            .and_then(|d| OffsetDateTime::from_unix_timestamp(d.to_timestamp()).ok()),
        has_attachments: message.attachment_count() > 0,
        body_type,
        body,
        body_preview: preview(&preview_source),
        conversation_id: conversation_id(&root),
        sha256,
    }
}
