//! Messages of a folder: listing oldest first, delta rounds, the raw MIME (`$value`) streamed
//! into a sink, and the post-actions (mark read, move, delete).

use std::future::Future;

use reqwest::Method;
use serde::Deserialize;
use serde_json::json;
use time::OffsetDateTime;
use time::macros::format_description;

use super::answers::network_error;
use super::client::{Call, GraphClient};
use super::errors::{GraphError, GraphErrorKind};
use super::folders::require_id;
use crate::store::blobs::BlobWriter;

/// What the importer needs before deciding to download a message.
const LIST_SELECT: &str = "id,subject,receivedDateTime,internetMessageId,isRead,from";
const DELTA_SELECT: &str = LIST_SELECT;
/// PR_MESSAGE_SIZE, so that oversized mail is known before it is downloaded.
const SIZE_PROPERTY: &str = "Integer 0x0E08";
/// Every `$orderby` property must lead the `$filter` (InefficientFilter otherwise); this
/// filter matches every message and makes the ascending order legal.
const OLDEST_FIRST_FILTER: &str = "receivedDateTime ge 1900-01-01T00:00:00Z";

/// One message as listed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageMeta {
    /// The immutable id (every request asks for immutable ids).
    pub id: String,
    pub subject: Option<String>,
    /// RFC 3339 as Graph sends it.
    pub received: Option<String>,
    pub internet_message_id: Option<String>,
    pub is_read: Option<bool>,
    /// Bytes, from PR_MESSAGE_SIZE; `None` in delta pages (no `$expand` there).
    pub size: Option<i64>,
}

/// One page of a folder listing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessagePage {
    pub messages: Vec<MessageMeta>,
    /// Already checked by the SSRF guard; pass it back to [`GraphClient::list_messages`].
    pub next_link: Option<String>,
}

/// One page of a delta round.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeltaPage {
    /// New or changed messages.
    pub messages: Vec<MessageMeta>,
    /// Ids reported `@removed` (moved out of the folder or deleted).
    pub removed: Vec<String>,
    /// More pages of this round follow.
    pub next_link: Option<String>,
    /// The round is complete; store this and call it next time.
    pub delta_link: Option<String>,
}

/// Where a delta call starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeltaCursor<'a> {
    /// A new round over the whole folder, or only mail received at or after `received_since`.
    Start {
        received_since: Option<OffsetDateTime>,
    },
    /// A nextLink or deltaLink from an earlier page, followed verbatim after the SSRF guard.
    Link(&'a str),
}

/// Where `$value` bytes go, chunk by chunk (a [`BlobWriter`], or a `Vec<u8>` in tests).
pub trait ValueSink: Send {
    fn write_chunk(&mut self, chunk: &[u8]) -> impl Future<Output = std::io::Result<()>> + Send;
}

impl ValueSink for BlobWriter {
    async fn write_chunk(&mut self, chunk: &[u8]) -> std::io::Result<()> {
        self.write(chunk).await
    }
}

impl ValueSink for Vec<u8> {
    async fn write_chunk(&mut self, chunk: &[u8]) -> std::io::Result<()> {
        self.extend_from_slice(chunk);
        Ok(())
    }
}

#[derive(Deserialize)]
struct WireProperty {
    id: String,
    #[serde(default)]
    value: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireMessage {
    id: String,
    #[serde(default)]
    subject: Option<String>,
    #[serde(default)]
    received_date_time: Option<String>,
    #[serde(default)]
    internet_message_id: Option<String>,
    #[serde(default)]
    is_read: Option<bool>,
    #[serde(default)]
    single_value_extended_properties: Option<Vec<WireProperty>>,
    #[serde(rename = "@removed", default)]
    removed: Option<serde_json::Value>,
}

impl From<WireMessage> for MessageMeta {
    fn from(m: WireMessage) -> Self {
        let size = m
            .single_value_extended_properties
            .unwrap_or_default()
            .into_iter()
            .find(|p| p.id.eq_ignore_ascii_case(SIZE_PROPERTY))
            .and_then(|p| p.value?.trim().parse::<i64>().ok())
            .filter(|n| *n >= 0);
        MessageMeta {
            id: m.id,
            subject: m.subject,
            received: m.received_date_time,
            internet_message_id: m.internet_message_id,
            is_read: m.is_read,
            size,
        }
    }
}

#[derive(Deserialize)]
struct WirePage {
    #[serde(default)]
    value: Vec<WireMessage>,
    #[serde(rename = "@odata.nextLink", default)]
    next_link: Option<String>,
    #[serde(rename = "@odata.deltaLink", default)]
    delta_link: Option<String>,
}

#[derive(Deserialize)]
struct Moved {
    id: String,
}

/// Graph's filter timestamp: UTC, whole seconds, `Z`.
fn graph_time(t: OffsetDateTime) -> Result<String, GraphError> {
    t.to_offset(time::UtcOffset::UTC)
        .format(format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
        ))
        .map_err(|_| GraphError::new(GraphErrorKind::Other, "The start date cannot be written."))
}

fn too_large(max_bytes: u64) -> GraphError {
    GraphError::new(
        GraphErrorKind::TooLarge,
        format!("The message is larger than the {max_bytes} bytes allowed."),
    )
}

impl GraphClient {
    /// Checks a link Graph just sent; a page with a foreign link is refused as a whole.
    fn checked(&self, link: Option<String>) -> Result<Option<String>, GraphError> {
        match link {
            Some(link) => self.check_link(&link).map(|_| Some(link)),
            None => Ok(None),
        }
    }

    /// One page of a folder's messages, oldest first; `next_link` continues a listing.
    pub async fn list_messages(
        &self,
        folder_id: &str,
        next_link: Option<&str>,
    ) -> Result<MessagePage, GraphError> {
        let url = match next_link {
            Some(link) => self.check_link(link)?,
            None => {
                require_id(folder_id, "folder")?;
                self.url(
                    &["mailFolders", folder_id, "messages"],
                    &[
                        ("$filter", OLDEST_FIRST_FILTER.into()),
                        ("$orderby", "receivedDateTime asc".into()),
                        ("$top", self.settings().page_size.to_string()),
                        ("$select", LIST_SELECT.into()),
                        (
                            "$expand",
                            format!(
                                "singleValueExtendedProperties($filter=id eq '{SIZE_PROPERTY}')"
                            ),
                        ),
                    ],
                )?
            }
        };
        let page: WirePage = self.send_json(Call::get(url)).await?;
        Ok(MessagePage {
            next_link: self.checked(page.next_link)?,
            messages: page.value.into_iter().map(MessageMeta::from).collect(),
        })
    }

    /// One page of a delta round over a folder.
    pub async fn delta(
        &self,
        folder_id: &str,
        cursor: DeltaCursor<'_>,
    ) -> Result<DeltaPage, GraphError> {
        let url = match cursor {
            DeltaCursor::Link(link) => self.check_link(link)?,
            DeltaCursor::Start { received_since } => {
                require_id(folder_id, "folder")?;
                let mut query = vec![("$select", DELTA_SELECT.to_string())];
                if let Some(since) = received_since {
                    query.push((
                        "$filter",
                        format!("receivedDateTime ge {}", graph_time(since)?),
                    ));
                }
                self.url(&["mailFolders", folder_id, "messages", "delta"], &query)?
            }
        };
        let call = Call {
            max_page_size: Some(self.settings().page_size),
            ..Call::get(url)
        };
        let page: WirePage = self.send_json(call).await?;
        let mut out = DeltaPage {
            next_link: self.checked(page.next_link)?,
            delta_link: self.checked(page.delta_link)?,
            ..DeltaPage::default()
        };
        for item in page.value {
            if item.removed.is_some() {
                out.removed.push(item.id);
            } else {
                out.messages.push(item.into());
            }
        }
        Ok(out)
    }

    /// Streams a message's raw MIME into `sink`; returns the number of bytes written.
    ///
    /// The mailbox permit is held until the body is read, since Exchange counts the request
    /// as running until then. On error the sink holds a partial message: the caller aborts it.
    pub async fn download_value<W: ValueSink + ?Sized>(
        &self,
        id: &str,
        sink: &mut W,
        max_bytes: u64,
    ) -> Result<u64, GraphError> {
        require_id(id, "message")?;
        let url = self.url(&["messages", id, "$value"], &[])?;
        let answer = self.send(Call::get(url)).await?;
        let mut response = answer.response;
        let announced = response.content_length();
        if announced.is_some_and(|n| n > max_bytes) {
            return Err(too_large(max_bytes));
        }
        let idle = self.settings().timeout;
        let mut written: u64 = 0;
        loop {
            let chunk = match tokio::time::timeout(idle, response.chunk()).await {
                Err(_) => {
                    return Err(GraphError::new(
                        GraphErrorKind::Network,
                        format!("Graph stopped sending the message after {written} bytes."),
                    ));
                }
                Ok(Err(e)) => {
                    let mut error = network_error(e);
                    error.message = format!(
                        "The download broke off after {written} bytes. {}",
                        error.message
                    );
                    return Err(error);
                }
                Ok(Ok(None)) => break,
                Ok(Ok(Some(chunk))) => chunk,
            };
            let len = chunk.len() as u64;
            if written.saturating_add(len) > max_bytes {
                return Err(too_large(max_bytes));
            }
            sink.write_chunk(&chunk).await.map_err(|e| {
                GraphError::new(
                    GraphErrorKind::Storage,
                    format!("The message could not be stored: {e}."),
                )
            })?;
            written += len;
        }
        drop(answer.permit);
        if announced.is_some_and(|n| n != written) {
            return Err(GraphError::new(
                GraphErrorKind::Network,
                format!(
                    "The download ended after {written} of {} bytes.",
                    announced.unwrap_or_default()
                ),
            ));
        }
        Ok(written)
    }

    /// `PATCH {"isRead":true}`.
    pub async fn mark_read(&self, id: &str) -> Result<(), GraphError> {
        require_id(id, "message")?;
        let url = self.url(&["messages", id], &[])?;
        let body = json!({"isRead": true});
        self.send_no_content(Call::with_body(Method::PATCH, url, &body))
            .await
    }

    /// Moves a message; returns its id afterwards (the same id, with immutable ids).
    pub async fn move_message(
        &self,
        id: &str,
        destination_folder_id: &str,
    ) -> Result<String, GraphError> {
        require_id(id, "message")?;
        require_id(destination_folder_id, "destination folder")?;
        let url = self.url(&["messages", id, "move"], &[])?;
        let body = json!({"destinationId": destination_folder_id});
        let moved: Moved = self
            .send_json(Call::with_body(Method::POST, url, &body))
            .await?;
        Ok(moved.id)
    }

    /// Deletes a message; one that is already gone counts as deleted.
    pub async fn delete_message(&self, id: &str) -> Result<(), GraphError> {
        require_id(id, "message")?;
        let url = self.url(&["messages", id], &[])?;
        let call = Call {
            method: Method::DELETE,
            ..Call::get(url)
        };
        match self.send_no_content(call).await {
            Err(e) if e.kind == GraphErrorKind::ItemNotFound => Ok(()),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_messages_become_meta() {
        let page: WirePage = serde_json::from_value(json!({
            "value": [
                {"id": "A", "subject": "Hi", "receivedDateTime": "2026-01-02T03:04:05Z",
                 "internetMessageId": "<a@b>", "isRead": false,
                 "singleValueExtendedProperties": [{"id": "Integer 0x0E08", "value": "12345"}]},
                {"id": "B", "singleValueExtendedProperties": [{"id": "Integer 0x0E08", "value": "lots"}]},
                {"id": "C", "@removed": {"reason": "deleted"}}
            ],
            "@odata.deltaLink": "https://graph.microsoft.com/v1.0/me/x?$deltatoken=1"
        }))
        .expect("page");
        let metas: Vec<MessageMeta> = page.value.into_iter().map(MessageMeta::from).collect();
        assert_eq!(metas[0].size, Some(12345));
        assert_eq!(metas[0].received.as_deref(), Some("2026-01-02T03:04:05Z"));
        assert_eq!(metas[1].size, None);
        assert_eq!(metas[1].subject, None);
    }

    #[test]
    fn filter_times_are_utc_seconds() {
        let t = time::macros::datetime!(2026-03-01 10:00:00.75 +02:00);
        assert_eq!(graph_time(t).ok().as_deref(), Some("2026-03-01T08:00:00Z"));
    }
}
