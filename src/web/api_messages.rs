//! Imported messages in the JSON API: `/api/v1/messages` (paged), one message, its raw bytes.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use super::api::ApiError;
use super::message_files;
use super::messages::{MailQuery, PER_PAGE, load_message};
use super::state::WebState;
use super::views::rfc3339;
use crate::mime::{self, CalendarSummary, Mailbox};
use crate::state::AppState;
use crate::store::messages::{self, Message, MessageSummary};

pub fn router() -> Router<WebState> {
    Router::new()
        .route("/messages", get(list))
        .route("/messages/{id}", get(show))
        .route("/messages/{id}/raw", get(raw))
}

#[derive(Serialize)]
struct MessagePage {
    items: Vec<MessageListJson>,
    page: i64,
    per_page: i64,
    total: i64,
}

/// A message in a list: no attachment details, their number instead.
#[derive(Serialize)]
struct MessageListJson {
    id: i64,
    account: String,
    graph_id: String,
    state: String,
    internet_message_id: Option<String>,
    subject: String,
    from: Option<String>,
    /// The sender's display name.
    from_name: Option<String>,
    to: Vec<String>,
    received_at: Option<String>,
    size: i64,
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

#[derive(Serialize)]
struct MessageJson {
    id: i64,
    account: String,
    graph_id: String,
    state: String,
    internet_message_id: Option<String>,
    subject: String,
    from: Option<String>,
    /// The sender's display name.
    from_name: Option<String>,
    to: Vec<String>,
    received_at: Option<String>,
    size: i64,
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

/// [`CalendarSummary`] plus its start and end in words.
#[derive(Serialize)]
struct CalendarJson {
    #[serde(flatten)]
    summary: CalendarSummary,
    /// `2017-12-11 09:00–10:00 UTC`.
    when: Option<String>,
}

#[derive(Serialize)]
struct AttachmentJson {
    name: String,
    content_type: String,
    size: i64,
}

fn addresses(list: Vec<Mailbox>) -> Vec<String> {
    list.into_iter().filter_map(|m| m.address).collect()
}

async fn list(
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

async fn show(
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
    let calendar = m.calendar().map(|summary| CalendarJson {
        when: summary.when(),
        summary,
    });
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

async fn raw(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let m = load_message(&state, &id).await?;
    Ok(message_files::raw_response(&state, &m).await?)
}
