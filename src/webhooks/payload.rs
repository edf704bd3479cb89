//! What a delivery carries, built from the stored message row, its attachment rows and the
//! raw message in the blob store (so fields added to those flow into the payload):
//! - `json`: a Standard Webhooks event `{"type","timestamp","data":{"message":{…}}}`;
//! - `raw`: the exact `.eml` bytes as `message/rfc822`.
//!
//! A delivery's body is the same on every attempt: it depends only on stored data (the
//! event's time, and the mailbox and folder recorded with the event), never on the clock.

use bytes::Bytes;
use serde::Serialize;
use url::Url;

use crate::mime::Mailbox;
use crate::store::blobs::BlobStore;
use crate::store::events::Event;
use crate::store::messages::{self, Message};
use crate::store::webhooks::Payload;
use crate::store::{Db, events};

/// Longest `text_body` or `html_body` in a JSON payload, in bytes of UTF-8. Longer bodies
/// are cut (at a character boundary) and the message says `"truncated": true`; the whole
/// message is always at `raw_url`.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Everything a payload is built from.
#[derive(Clone)]
pub struct PayloadSource {
    pub db: Db,
    pub blobs: BlobStore,
    /// Mailport's public URL: attachment and raw links point at its JSON API.
    pub public_url: Url,
}

/// A built request body with its content type and extra headers.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub content_type: &'static str,
    pub body: Bytes,
    /// Headers besides the Standard Webhooks ones (the raw payload's `x-mailport-*`).
    pub headers: Vec<(&'static str, String)>,
}

#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    #[error("the event or its message no longer exists")]
    Gone,
    #[error("the stored message cannot be read: {0}")]
    Blob(#[from] std::io::Error),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

/// A Standard Webhooks event as sent with `payload=json`.
#[derive(Debug, Serialize)]
pub struct EventJson<D> {
    /// `message.imported` or `ping`.
    #[serde(rename = "type")]
    pub kind: String,
    /// When the event happened (RFC 3339, UTC); not when it was sent.
    pub timestamp: String,
    pub data: D,
}

/// The `data` of a `message.imported` event.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MessageEventData {
    pub message: MessageJson,
}

/// An imported message as webhooks and the changes feed hand it on.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = EventMessage)]
pub struct MessageJson {
    pub id: i64,
    pub account: String,
    /// The account's mailbox and folder when the message was imported.
    pub mailbox: Option<String>,
    pub folder: Option<String>,
    /// Graph's immutable id.
    pub graph_id: String,
    /// The Message-ID header, without angle brackets.
    pub internet_message_id: Option<String>,
    pub subject: String,
    pub from: Option<Mailbox>,
    pub to: Vec<Mailbox>,
    pub cc: Vec<Mailbox>,
    /// RFC 3339, UTC.
    pub received_at: Option<String>,
    /// Bytes of the raw message.
    pub size: i64,
    /// Hex SHA-256 of the raw message.
    pub sha256: Option<String>,
    pub text_body: Option<String>,
    /// As received: NOT sanitised. Sanitise before showing it in a browser.
    pub html_body: Option<String>,
    /// True when a body was cut at [`MAX_BODY_BYTES`].
    pub truncated: bool,
    pub attachments: Vec<AttachmentJson>,
    /// The exact `.eml` through the JSON API (needs an API key).
    pub raw_url: String,
}

/// An attachment of a [`MessageJson`].
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = EventAttachment)]
pub struct AttachmentJson {
    pub index: i64,
    pub name: String,
    pub content_type: String,
    pub size: i64,
    /// Hex SHA-256 of the decoded bytes.
    pub sha256: Option<String>,
    pub content_id: Option<String>,
    pub inline: bool,
    /// The bytes through the JSON API (needs an API key).
    pub url: String,
    /// Standard base64 of the bytes, when the endpoint inlines attachments of this size.
    /// Only in webhook deliveries: the changes feed (where the API's OpenAPI document shows
    /// this type) always gives `url` instead, so the document leaves it out.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(ignore)]
    pub content_base64: Option<String>,
}

impl PayloadSource {
    fn api_url(&self, tail: &str) -> String {
        format!(
            "{}/api/v1/{tail}",
            self.public_url.as_str().trim_end_matches('/')
        )
    }

    /// The body of a delivery of `event` in the endpoint's payload format.
    pub async fn build(
        &self,
        payload: Payload,
        inline_attachments_up_to: u64,
        event: &Event,
    ) -> Result<Outgoing, PayloadError> {
        let message = messages::get(&self.db, event.message_id)
            .await?
            .ok_or(PayloadError::Gone)?;
        match payload {
            Payload::Raw => self.raw(&message).await,
            Payload::Json => {
                let m = self
                    .message_json(event, &message, inline_attachments_up_to)
                    .await?;
                let body = EventJson {
                    kind: event.kind.clone(),
                    timestamp: rfc3339(event.created_at).unwrap_or_default(),
                    data: MessageEventData { message: m },
                };
                Ok(Outgoing {
                    content_type: "application/json",
                    body: Bytes::from(serde_json::to_vec(&body).unwrap_or_default()),
                    headers: Vec::new(),
                })
            }
        }
    }

    /// [`PayloadSource::build`] for the event with this id.
    pub async fn build_for_event(
        &self,
        payload: Payload,
        inline_attachments_up_to: u64,
        event_id: i64,
    ) -> Result<Outgoing, PayloadError> {
        let event = events::get(&self.db, event_id)
            .await?
            .ok_or(PayloadError::Gone)?;
        self.build(payload, inline_attachments_up_to, &event).await
    }

    async fn raw(&self, message: &Message) -> Result<Outgoing, PayloadError> {
        let sha = match (&message.state[..], &message.sha256) {
            ("imported", Some(sha)) => sha,
            _ => return Err(PayloadError::Gone),
        };
        let bytes = self.blobs.read(sha).await?;
        let mut headers = vec![
            ("x-mailport-message-id", message.id.to_string()),
            ("x-mailport-account", message.account_id.clone()),
        ];
        if let Some(mid) = &message.internet_message_id {
            headers.push(("x-mailport-internet-message-id", mid.clone()));
        }
        // Header values must be visible ASCII; anything else is left out rather than mangled.
        headers.retain(|(_, v)| v.bytes().all(|b| b == b' ' || b.is_ascii_graphic()));
        Ok(Outgoing {
            content_type: "message/rfc822",
            body: Bytes::from(bytes),
            headers,
        })
    }

    /// The message as JSON. Attachments of at most `inline_up_to` bytes carry their content
    /// (0: none do).
    pub async fn message_json(
        &self,
        event: &Event,
        m: &Message,
        inline_up_to: u64,
    ) -> Result<MessageJson, PayloadError> {
        let rows = messages::attachments(&self.db, m.id).await?;
        let mut attachments = Vec::with_capacity(rows.len());
        // The parts' bytes come out of the raw message; read it once, only when needed.
        let raw = match (&m.sha256, rows.is_empty()) {
            (Some(sha), false) => Some(self.blobs.read(sha).await?),
            _ => None,
        };
        for a in rows {
            let bytes = match (&raw, usize::try_from(a.idx)) {
                (Some(raw), Ok(idx)) => crate::mime::attachment_bytes(raw, idx),
                _ => None,
            };
            let inline = bytes
                .as_ref()
                .filter(|b| inline_up_to > 0 && b.len() as u64 <= inline_up_to)
                .map(|b| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, b));
            attachments.push(AttachmentJson {
                index: a.idx,
                sha256: bytes.as_ref().map(|b| crate::crypto::sha256_hex(b)),
                url: self.api_url(&format!("messages/{}/attachments/{}", m.id, a.idx)),
                name: a.name,
                content_type: a.content_type,
                size: a.size,
                content_id: a.content_id,
                inline: a.is_inline,
                content_base64: inline,
            });
        }
        let (text_body, text_cut) = capped(m.text_body.as_deref());
        let (html_body, html_cut) = capped(m.html_body.as_deref());
        Ok(MessageJson {
            id: m.id,
            account: m.account_id.clone(),
            mailbox: event.mailbox.clone(),
            folder: event.folder.clone(),
            graph_id: m.graph_id.clone(),
            internet_message_id: m.internet_message_id.clone(),
            subject: m.subject.clone(),
            from: (m.from_name.is_some() || m.from_address.is_some()).then(|| Mailbox {
                name: m.from_name.clone(),
                address: m.from_address.clone(),
            }),
            to: m.to(),
            cc: m.cc(),
            received_at: m.received_at.and_then(rfc3339),
            size: m.size,
            sha256: m.sha256.clone(),
            text_body,
            html_body,
            truncated: text_cut || html_cut,
            attachments,
            raw_url: self.api_url(&format!("messages/{}/raw", m.id)),
        })
    }
}

/// Unix seconds as RFC 3339 (UTC), as every time in a payload is written.
pub fn rfc3339(unix: i64) -> Option<String> {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()?
        .format(&time::format_description::well_known::Rfc3339)
        .ok()
}

/// A body cut to [`MAX_BODY_BYTES`] at a character boundary, and whether it was cut.
fn capped(body: Option<&str>) -> (Option<String>, bool) {
    match body {
        None => (None, false),
        Some(b) if b.len() <= MAX_BODY_BYTES => (Some(b.to_string()), false),
        Some(b) => {
            let mut end = MAX_BODY_BYTES;
            while !b.is_char_boundary(end) {
                end -= 1;
            }
            (Some(b[..end].to_string()), true)
        }
    }
}

/// The body of a `ping` event (the Test button), sent as JSON whatever the payload format.
pub fn ping(endpoint_id: &str, at: i64) -> Outgoing {
    let body = EventJson {
        kind: "ping".into(),
        timestamp: rfc3339(at).unwrap_or_default(),
        data: serde_json::json!({
            "endpoint": endpoint_id,
            "message": "A test from Mailport: this endpoint receives its webhooks.",
        }),
    };
    Outgoing {
        content_type: "application/json",
        body: Bytes::from(serde_json::to_vec(&body).unwrap_or_default()),
        headers: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_cut_at_a_character_boundary() {
        let long = "é".repeat(MAX_BODY_BYTES);
        let (cut, truncated) = capped(Some(&long));
        assert!(truncated);
        let cut = cut.unwrap();
        assert!(cut.len() <= MAX_BODY_BYTES && cut.len() > MAX_BODY_BYTES - 4);
        assert_eq!(capped(Some("short")), (Some("short".into()), false));
        assert_eq!(capped(None), (None, false));
    }
}
