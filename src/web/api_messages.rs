//! Imported messages in the JSON API: `/api/v1/messages` (paged), one message, its raw bytes.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use super::api::ApiError;
use super::mail::{MailQuery, PER_PAGE, files, load_message};
use super::views::rfc3339;
use crate::app::AppState;
use crate::mime::Mailbox;
use crate::store::messages::{self, Message, MessageSummary};

pub fn router() -> Router<AppState> {
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
    to: Vec<String>,
    received_at: Option<String>,
    size: i64,
    sha256: Option<String>,
    attachment_count: i64,
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
            to: addresses(m.to()),
            received_at: m.received_at.and_then(rfc3339),
            size: m.size,
            sha256: m.sha256.clone(),
            attachment_count: m.attachment_count,
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
    to: Vec<String>,
    received_at: Option<String>,
    size: i64,
    sha256: Option<String>,
    attachments: Vec<AttachmentJson>,
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
    let attachments = messages::attachments(&state.db, m.id)
        .await?
        .into_iter()
        .map(|a| AttachmentJson {
            name: a.name,
            content_type: a.content_type,
            size: a.size,
        })
        .collect();
    Ok(Json(MessageJson {
        id: m.id,
        to: addresses(m.to()),
        account: m.account_id,
        graph_id: m.graph_id,
        state: m.state,
        internet_message_id: m.internet_message_id,
        subject: m.subject,
        from: m.from_address,
        received_at: m.received_at.and_then(rfc3339),
        size: m.size,
        sha256: m.sha256,
        attachments,
    }))
}

async fn raw(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let m = load_message(&state, &id).await?;
    Ok(files::raw_response(&state, &m).await?)
}
