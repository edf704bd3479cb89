//! Imported messages in the JSON API: `/api/v1/messages` (paged), one message, its raw bytes.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use utoipa::ToSchema;

use super::error::{ApiError, ApiErrorBody};
use crate::mime::{self, CalendarSummary, Mailbox};
use crate::state::AppState;
use crate::store::messages::{self, Message, MessageSummary};
use crate::web::message_files;
use crate::web::messages::{MailQuery, PER_PAGE, load_message};
use crate::web::state::WebState;
use crate::web::views::rfc3339;

pub fn router() -> Router<WebState> {
    Router::new()
        .route("/messages", get(list))
        .route("/messages/{id}", get(show))
        .route("/messages/{id}/raw", get(raw))
}

/// One page of imported messages, newest first.
#[derive(Serialize, ToSchema)]
pub(super) struct MessagePage {
    items: Vec<MessageListJson>,
    /// The page number, from 1.
    page: i64,
    /// Messages per page.
    per_page: i64,
    /// Messages matching the filter, on all pages.
    total: i64,
}

/// A message in a list: no attachment details, their number instead.
#[derive(Serialize, ToSchema)]
pub(super) struct MessageListJson {
    /// Mailport's id of the message.
    id: i64,
    /// The email server account that imported it.
    account: String,
    /// Graph's immutable id of the message in the mailbox.
    graph_id: String,
    /// `imported`, or `too_large` (recorded, left in the mailbox, no content stored).
    state: String,
    /// The `Message-ID` header (RFC 5322), without angle brackets.
    internet_message_id: Option<String>,
    subject: String,
    /// The sender's address.
    from: Option<String>,
    /// The sender's display name.
    from_name: Option<String>,
    /// The `To` addresses.
    to: Vec<String>,
    /// When the mailbox received it, RFC 3339 in UTC.
    received_at: Option<String>,
    /// Size of the raw message in bytes.
    size: i64,
    /// SHA-256 of the raw message, hex; `null` when no content is stored.
    sha256: Option<String>,
    /// All attachments, also those beyond the 1,000 that are listed.
    attachment_count: i64,
    /// More attachments than [`mime::MAX_ATTACHMENTS`]: only that many are listed.
    attachments_truncated: bool,
}

impl MessageListJson {
    fn new(m: &MessageSummary) -> Self {
        MessageListJson {
            id: m.id,
            account: m.account_id.clone(),
            graph_id: m.graph_id.clone(),
            state: m.state.clone(),
            internet_message_id: m.internet_message_id.clone(),
            subject: m.subject.clone(),
            from: m.from_address.clone(),
            from_name: m.from_name.clone(),
            to: addresses(m.to()),
            received_at: m.received_at.and_then(rfc3339),
            size: m.size,
            sha256: m.sha256.clone(),
            attachment_count: m.attachment_count,
            attachments_truncated: m.attachment_count > mime::MAX_ATTACHMENTS as i64,
        }
    }
}

/// One imported message with its attachments.
#[derive(Serialize, ToSchema)]
pub(super) struct MessageJson {
    /// Mailport's id of the message.
    id: i64,
    /// The email server account that imported it.
    account: String,
    /// Graph's immutable id of the message in the mailbox.
    graph_id: String,
    /// `imported`, or `too_large` (recorded, left in the mailbox, no content stored).
    state: String,
    /// The `Message-ID` header (RFC 5322), without angle brackets.
    internet_message_id: Option<String>,
    subject: String,
    /// The sender's address.
    from: Option<String>,
    /// The sender's display name.
    from_name: Option<String>,
    /// The `To` addresses.
    to: Vec<String>,
    /// When the mailbox received it, RFC 3339 in UTC.
    received_at: Option<String>,
    /// Size of the raw message in bytes.
    size: i64,
    /// SHA-256 of the raw message, hex; `null` when no content is stored.
    sha256: Option<String>,
    /// The plain-text body (for a message that is only a meeting request: its summary;
    /// for one whose content is inside `winmail.dat`: the body found there).
    text_body: Option<String>,
    /// A meeting request's summary, when the message has a calendar part.
    calendar: Option<CalendarJson>,
    /// At most 1,000, in message order; `/mail/{id}/attachments/{n}` downloads number `n`.
    attachments: Vec<AttachmentJson>,
    /// All attachments, listed or not.
    attachment_count: i64,
    /// More than 1,000 attachments: the rest are only in the raw message.
    attachments_truncated: bool,
}

/// A meeting request's summary ([`CalendarSummary`]) plus its start and end in words. Every
/// field is text as written in the calendar (RFC 5545), `null` when it does not say.
#[derive(Serialize, ToSchema)]
pub(super) struct CalendarJson {
    /// The iTIP method (RFC 5546): `REQUEST`, `CANCEL`, `REPLY`, `PUBLISH`, ...
    method: Option<String>,
    title: Option<String>,
    /// `2017-12-11 09:00`, or `2017-12-11` for an all-day event, in `time_zone`.
    start: Option<String>,
    end: Option<String>,
    /// `UTC`, the TZID of the start (`W. Europe Standard Time`), or `null` for floating time.
    time_zone: Option<String>,
    location: Option<String>,
    /// `Name <address>` or the address.
    organizer: Option<String>,
    description: Option<String>,
    /// `2017-12-11 09:00–10:00 UTC`.
    when: Option<String>,
}

impl CalendarJson {
    fn new(c: CalendarSummary) -> Self {
        CalendarJson {
            when: c.when(),
            method: c.method,
            title: c.title,
            start: c.start,
            end: c.end,
            time_zone: c.time_zone,
            location: c.location,
            organizer: c.organizer,
            description: c.description,
        }
    }
}

/// An attachment (a MIME part with a file name or `Content-Disposition: attachment`).
#[derive(Serialize, ToSchema)]
pub(super) struct AttachmentJson {
    /// The file name as sent (decoded, RFC 2231 / RFC 2047).
    name: String,
    /// The MIME type as sent.
    content_type: String,
    /// Decoded size in bytes.
    size: i64,
}

fn addresses(list: Vec<Mailbox>) -> Vec<String> {
    list.into_iter().filter_map(|m| m.address).collect()
}

/// Imported messages, newest first, 50 a page.
#[utoipa::path(
    get,
    path = "/api/v1/messages",
    operation_id = "list_messages",
    tag = "messages",
    params(
        ("account" = Option<String>, Query, description = "Only messages of this email server account"),
        ("q" = Option<String>, Query, description = "Search in subject and sender (at most 200 characters)"),
        ("page" = Option<i64>, Query, description = "Page number, from 1 (default 1)"),
    ),
    responses(
        (status = 200, description = "One page of messages", body = MessagePage),
        (status = 400, description = "A bad page number or too long a filter", body = ApiErrorBody),
        (status = 401, description = "No valid API key or session", body = ApiErrorBody),
    )
)]
pub(super) async fn list(
    State(state): State<AppState>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Json<MessagePage>, ApiError> {
    let query = MailQuery::parse(&pairs, true)?;
    let (rows, total) = messages::list_summaries(&state.db, &query.filter()).await?;
    Ok(Json(MessagePage {
        items: rows.iter().map(MessageListJson::new).collect(),
        page: query.page,
        per_page: PER_PAGE,
        total,
    }))
}

/// One imported message.
#[utoipa::path(
    get,
    path = "/api/v1/messages/{id}",
    operation_id = "get_message",
    tag = "messages",
    params(("id" = i64, Path, description = "Mailport's id of the message")),
    responses(
        (status = 200, description = "The message", body = MessageJson),
        (status = 401, description = "No valid API key or session", body = ApiErrorBody),
        (status = 404, description = "No message has this id", body = ApiErrorBody),
    )
)]
pub(super) async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<MessageJson>, ApiError> {
    let m: Message = load_message(&state, &id).await?;
    let attachments: Vec<AttachmentJson> = messages::attachments(&state.db, m.id)
        .await?
        .into_iter()
        .map(|a| AttachmentJson {
            name: mime::clean::attachment_name(&a.name),
            content_type: a.content_type,
            size: a.size,
        })
        .collect();
    let listed = attachments.len() as i64;
    let attachment_count = m.attachment_count.unwrap_or(listed).max(listed);
    let calendar = m.calendar().map(CalendarJson::new);
    Ok(Json(MessageJson {
        id: m.id,
        to: addresses(m.to()),
        account: m.account_id,
        graph_id: m.graph_id,
        state: m.state,
        internet_message_id: m.internet_message_id,
        subject: m.subject,
        from: m.from_address,
        from_name: m.from_name,
        received_at: m.received_at.and_then(rfc3339),
        size: m.size,
        sha256: m.sha256,
        text_body: m.text_body,
        calendar,
        attachments_truncated: attachment_count > listed,
        attachment_count,
        attachments,
    }))
}

/// The exact bytes Graph sent for the message (`$value`, RFC 5322), as a download.
#[utoipa::path(
    get,
    path = "/api/v1/messages/{id}/raw",
    operation_id = "get_raw_message",
    tag = "messages",
    params(("id" = i64, Path, description = "Mailport's id of the message")),
    responses(
        (status = 200, description = "The raw message", content_type = "message/rfc822", body = inline(super::binary::RawMessage)),
        (status = 401, description = "No valid API key or session", body = ApiErrorBody),
        (status = 404, description = "No message has this id, or it has no stored content (too large)", body = ApiErrorBody),
    )
)]
pub(super) async fn raw(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let m = load_message(&state, &id).await?;
    Ok(message_files::raw_response(&state, &m).await?)
}
