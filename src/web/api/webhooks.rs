//! The JSON API of handing mail on: webhook endpoints and their deliveries (read, and
//! redelivery with an `admin` key or a session), the changes feed `GET /api/v1/events`
//! (long-polling), and the attachment download that webhook payloads and feed events link to.

use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use utoipa::ToSchema;

use super::caller::AdminCaller;
use super::error::{ApiError, ApiErrorBody, WriteError};
use crate::state::AppState;
use crate::store::events::{self, Event};
use crate::store::webhooks::{self, DeliveryFilter, Endpoint};
use crate::store::{messages, now, outbox};
use crate::web::message_files;
use crate::web::state::WebState;
use crate::webhooks::health::{self, EndpointHealth};
use crate::webhooks::payload::{MessageEventData, PayloadSource, rfc3339};
use crate::webhooks::sender::webhook_id;

pub fn router() -> Router<WebState> {
    Router::new()
        .route("/webhooks", get(list))
        .route("/webhooks/{id}", get(show))
        .route("/webhooks/{id}/deliveries", get(deliveries))
        .route("/webhooks/{id}/redeliver", post(redeliver_failed))
        .route(
            "/webhooks/{id}/deliveries/{delivery_id}/redeliver",
            post(redeliver_one),
        )
        .route("/events", get(feed))
        .route("/messages/{id}/attachments/{n}", get(attachment))
}

/// A webhook endpoint. The signing secret is never shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookJson {
    pub id: String,
    pub description: String,
    pub url: String,
    /// `null` for every account, else the account ids.
    pub accounts: Option<Vec<String>>,
    /// `json` or `raw`.
    pub payload: String,
    pub include_attachments_mb: i64,
    pub enabled: bool,
    /// `ok`, `retrying`, `paused`, `failing`, `disabled` or `gone` (disabled by a 410).
    pub status: &'static str,
    pub backlog: BacklogJson,
    /// RFC 3339 times.
    pub last_success_at: Option<String>,
    pub failing_since: Option<String>,
    pub paused_until: Option<String>,
    /// After a rotation, until when the previous secret still signs deliveries.
    pub previous_secret_valid_until: Option<String>,
}

/// The outbox numbers of an endpoint.
#[derive(Debug, Serialize, ToSchema)]
pub struct BacklogJson {
    /// Deliveries not delivered yet and still being tried.
    pub waiting: i64,
    pub oldest_waiting_age_secs: Option<i64>,
    pub dead: i64,
    /// Successful deliveries so far (a redelivery that lands counts again).
    pub delivered: i64,
}

impl WebhookJson {
    fn new(e: &Endpoint, accounts: Vec<String>, h: Option<&EndpointHealth>) -> Self {
        let at = now();
        WebhookJson {
            id: e.id.clone(),
            description: e.description.clone(),
            url: e.url.clone(),
            accounts: (!e.all_accounts).then_some(accounts),
            payload: e.payload.clone(),
            include_attachments_mb: e.include_attachments_mb,
            enabled: e.enabled,
            status: h.map_or("ok", |h| h.status.as_str()),
            backlog: BacklogJson {
                waiting: h.map_or(0, |h| h.waiting),
                oldest_waiting_age_secs: h.and_then(|h| h.oldest_waiting_age_secs),
                dead: h.map_or(0, |h| h.dead),
                delivered: h.map_or(0, |h| h.delivered),
            },
            last_success_at: e.last_success_at.and_then(rfc3339),
            failing_since: e.failing_since.and_then(rfc3339),
            paused_until: e.paused_until.filter(|t| *t > at).and_then(rfc3339),
            previous_secret_valid_until: e
                .previous_secret_until
                .filter(|t| *t > at)
                .and_then(rfc3339),
        }
    }
}

async fn webhook_json(
    state: &AppState,
    e: &Endpoint,
    all: &[EndpointHealth],
) -> Result<WebhookJson, ApiError> {
    let accounts = webhooks::accounts_of(&state.db, &e.id).await?;
    Ok(WebhookJson::new(
        e,
        accounts,
        all.iter().find(|h| h.endpoint_id == e.id),
    ))
}

/// Every webhook endpoint, ordered by id, with its status and backlog.
#[utoipa::path(
    get,
    path = "/api/v1/webhooks",
    operation_id = "list_webhooks",
    tag = "webhooks",
    responses(
        (status = 200, description = "Every webhook endpoint", body = Vec<WebhookJson>),
        (status = 401, description = "No valid API key or session", body = ApiErrorBody),
    )
)]
pub(super) async fn list(
    State(state): State<AppState>,
) -> Result<Json<Vec<WebhookJson>>, ApiError> {
    let all = health::all(&state.db, state.webhooks.settings().failing_after).await?;
    let mut out = Vec::new();
    for e in webhooks::list(&state.db).await? {
        out.push(webhook_json(&state, &e, &all).await?);
    }
    Ok(Json(out))
}

async fn load(state: &AppState, id: &str) -> Result<Endpoint, ApiError> {
    if !crate::web::form::valid_id(id) {
        return Err(ApiError::not_found());
    }
    webhooks::get(&state.db, id)
        .await?
        .ok_or_else(ApiError::not_found)
}

/// One webhook endpoint.
#[utoipa::path(
    get,
    path = "/api/v1/webhooks/{id}",
    operation_id = "get_webhook",
    tag = "webhooks",
    params(("id" = String, Path, description = "The endpoint's id")),
    responses(
        (status = 200, description = "The webhook endpoint", body = WebhookJson),
        (status = 401, description = "No valid API key or session", body = ApiErrorBody),
        (status = 404, description = "No endpoint has this id", body = ApiErrorBody),
    )
)]
pub(super) async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<WebhookJson>, ApiError> {
    let e = load(&state, &id).await?;
    let all = health::all(&state.db, state.webhooks.settings().failing_after).await?;
    Ok(Json(webhook_json(&state, &e, &all).await?))
}

/// A page of an endpoint's deliveries, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryPage {
    pub items: Vec<DeliveryJson>,
    /// Pass as `before` for the next (older) page; `null` on the last page.
    pub next_before: Option<i64>,
}

/// One delivery with its attempt log. Times are RFC 3339 in UTC.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryJson {
    pub id: i64,
    /// The `webhook-id` header of every attempt: the receiver's idempotency key.
    pub webhook_id: String,
    pub event_id: i64,
    pub event_type: String,
    pub message_id: i64,
    /// `pending`, `failed` (retried at `next_attempt_at`), `delivered` or `dead`.
    pub status: String,
    pub attempts: i64,
    pub created_at: Option<String>,
    pub next_attempt_at: Option<String>,
    pub delivered_at: Option<String>,
    pub last_status_code: Option<i64>,
    pub last_error: Option<String>,
    pub attempt_log: Vec<AttemptJson>,
}

/// One attempt.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptJson {
    pub at: Option<String>,
    pub duration_ms: i64,
    pub status_code: Option<i64>,
    /// The first bytes of the answer.
    pub response_excerpt: Option<String>,
    pub error: Option<String>,
    /// `schedule` or `manual` (an administrator asked for a redelivery).
    pub trigger: String,
}

const MAX_PAGE: i64 = 500;

/// An endpoint's deliveries with their attempt logs, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/webhooks/{id}/deliveries",
    operation_id = "list_webhook_deliveries",
    tag = "webhooks",
    params(
        ("id" = String, Path, description = "The endpoint's id"),
        ("status" = Option<String>, Query, description = "`pending`, `failed`, `delivered` or `dead`"),
        ("before" = Option<i64>, Query, description = "Only deliveries older than this delivery id (`next_before` of the previous page)"),
        ("limit" = Option<i64>, Query, description = "Deliveries per page, 1 to 500 (default 100)"),
    ),
    responses(
        (status = 200, description = "One page of deliveries", body = DeliveryPage),
        (status = 400, description = "A bad status, before or limit", body = ApiErrorBody),
        (status = 401, description = "No valid API key or session", body = ApiErrorBody),
        (status = 404, description = "No endpoint has this id", body = ApiErrorBody),
    )
)]
pub(super) async fn deliveries(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Json<DeliveryPage>, ApiError> {
    let e = load(&state, &id).await?;
    let first = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim());
    let bad = |msg: &str| ApiError::bad_request(msg);
    let status = match first("status") {
        None | Some("") => None,
        Some(s @ ("pending" | "failed" | "delivered" | "dead")) => Some(s.to_string()),
        Some(_) => return Err(bad("status must be pending, failed, delivered or dead.")),
    };
    let before = match first("before") {
        None | Some("") => None,
        Some(b) => Some(
            b.parse::<i64>()
                .map_err(|_| bad("before must be a delivery id."))?,
        ),
    };
    let limit = match first("limit") {
        None | Some("") => 100,
        Some(l) => l
            .parse::<i64>()
            .ok()
            .filter(|l| (1..=MAX_PAGE).contains(l))
            .ok_or_else(|| bad("limit must be a whole number from 1 to 500."))?,
    };
    let filter = DeliveryFilter {
        status,
        before,
        limit,
    };
    let rows = webhooks::deliveries(&state.db, &e.id, &filter).await?;
    let ids: Vec<i64> = rows.iter().map(|d| d.id).collect();
    let attempts = webhooks::attempts(&state.db, &ids).await?;
    let next_before = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|d| d.id))
        .flatten();
    let items = rows
        .into_iter()
        .map(|d| DeliveryJson {
            webhook_id: webhook_id(&e.uid, d.id),
            attempt_log: attempts
                .iter()
                .filter(|a| a.delivery_id == d.id)
                .map(|a| AttemptJson {
                    at: rfc3339(a.attempted_at),
                    duration_ms: a.duration_ms,
                    status_code: a.status_code,
                    response_excerpt: a.response_excerpt.clone(),
                    error: a.error.clone(),
                    trigger: a.trigger_kind.clone(),
                })
                .collect(),
            id: d.id,
            event_id: d.event_id,
            event_type: d.event_type,
            message_id: d.message_id,
            next_attempt_at: matches!(d.status.as_str(), "pending" | "failed")
                .then(|| rfc3339(d.next_attempt_at))
                .flatten(),
            status: d.status,
            attempts: d.attempts,
            created_at: rfc3339(d.created_at),
            delivered_at: d.delivered_at.and_then(rfc3339),
            last_status_code: d.last_status_code,
            last_error: d.last_error,
        })
        .collect();
    Ok(Json(DeliveryPage { items, next_before }))
}

/// A page of the changes feed.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventPage {
    pub events: Vec<FeedEvent>,
    /// Where to continue: store it once the page's events are processed, and pass it as
    /// `after` next time. Equal to the `after` given when the page is empty.
    pub next_cursor: String,
}

/// One event of the feed: the same `type`, `timestamp` and `data` as a webhook's JSON
/// payload (attachments as links), plus its cursor.
#[derive(Debug, Serialize, ToSchema)]
pub struct FeedEvent {
    pub cursor: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub timestamp: String,
    pub data: MessageEventData,
}

/// Events per page unless `limit` says otherwise, and at most.
const FEED_DEFAULT_LIMIT: i64 = 100;
const FEED_MAX_LIMIT: i64 = 1000;
/// The longest `wait` accepted, in seconds.
const FEED_MAX_WAIT: u64 = 60;
/// How long a long poll is held at most: within the server's 60-second request limit.
const FEED_HOLD: Duration = Duration::from_secs(58);
/// A page stops growing once its messages hold about this many bytes of bodies (it then
/// has fewer than `limit` events; `next_cursor` goes on from there).
const FEED_PAGE_BYTES: usize = 8 * 1024 * 1024;
/// Readers also look this often, for events written by another process.
const FEED_POLL: Duration = Duration::from_secs(1);

/// An event id as the opaque cursor consumers store.
pub fn cursor(event_id: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("mpev1:{event_id}"))
}

/// The event id of a cursor from [`cursor`].
pub fn parse_cursor(text: &str) -> Option<i64> {
    let bytes = URL_SAFE_NO_PAD.decode(text.trim()).ok()?;
    let id = std::str::from_utf8(&bytes).ok()?.strip_prefix("mpev1:")?;
    id.parse::<i64>().ok().filter(|id| *id >= 0)
}

/// The changes feed: every imported message as an event, oldest first, from a cursor on.
/// With `wait`, an empty answer is held until an event arrives or the wait is over.
#[utoipa::path(
    get,
    path = "/api/v1/events",
    operation_id = "list_events",
    tag = "events",
    params(
        ("after" = Option<String>, Query, description = "A cursor from an earlier answer (its `next_cursor` or an event's `cursor`); from the start without it"),
        ("limit" = Option<i64>, Query, description = "Events per page, 1 to 1000 (default 100)"),
        ("wait" = Option<i64>, Query, description = "Seconds (0 to 60) to hold an empty answer for a new event (long poll)"),
    ),
    responses(
        (status = 200, description = "One page of events", body = EventPage),
        (status = 400, description = "A bad after, limit or wait", body = ApiErrorBody),
        (status = 401, description = "No valid API key or session", body = ApiErrorBody),
    )
)]
pub(super) async fn feed(
    State(state): State<AppState>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Json<EventPage>, ApiError> {
    let first = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim());
    let bad = |msg: &str| ApiError::bad_request(msg);
    let after = match first("after") {
        None | Some("") => 0,
        Some(c) => parse_cursor(c).ok_or_else(|| {
            bad("after must be a cursor from an earlier answer (its next_cursor or an event's cursor).")
        })?,
    };
    let limit = match first("limit") {
        None | Some("") => FEED_DEFAULT_LIMIT,
        Some(l) => l
            .parse::<i64>()
            .ok()
            .filter(|l| (1..=FEED_MAX_LIMIT).contains(l))
            .ok_or_else(|| bad("limit must be a whole number from 1 to 1000."))?,
    };
    let wait = match first("wait") {
        None | Some("") => 0,
        Some(w) => w
            .parse::<u64>()
            .ok()
            .filter(|w| *w <= FEED_MAX_WAIT)
            .ok_or_else(|| bad("wait must be a whole number of seconds from 0 to 60."))?,
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(wait).min(FEED_HOLD);
    let rows = loop {
        let written = outbox::written();
        tokio::pin!(written);
        written.as_mut().enable();
        let rows = events::after(&state.db, after, limit).await?;
        let now = tokio::time::Instant::now();
        if !rows.is_empty() || now >= deadline {
            break rows;
        }
        tokio::select! {
            _ = written => {}
            _ = tokio::time::sleep(FEED_POLL.min(deadline - now)) => {}
        }
    };
    let source = PayloadSource {
        db: state.db.clone(),
        blobs: state.blobs.clone(),
        public_url: state.config.public_url.clone(),
    };
    let mut out = Vec::with_capacity(rows.len());
    let mut bytes = 0;
    for event in rows {
        if bytes >= FEED_PAGE_BYTES {
            break;
        }
        let item = feed_event(&source, &event).await?;
        bytes += item.data.message.text_body.as_ref().map_or(0, String::len)
            + item.data.message.html_body.as_ref().map_or(0, String::len);
        out.push(item);
    }
    let next_cursor = out
        .last()
        .map(|e| e.cursor.clone())
        .unwrap_or_else(|| cursor(after));
    Ok(Json(EventPage {
        events: out,
        next_cursor,
    }))
}

async fn feed_event(source: &PayloadSource, event: &Event) -> Result<FeedEvent, ApiError> {
    let message = messages::get(&source.db, event.message_id)
        .await?
        .ok_or_else(|| {
            ApiError::internal(anyhow::anyhow!("event {} without its message", event.id))
        })?;
    let message = source
        .message_json(event, &message, 0)
        .await
        .map_err(|e| ApiError::internal(e.into()))?;
    Ok(FeedEvent {
        cursor: cursor(event.id),
        kind: event.kind.clone(),
        timestamp: rfc3339(event.created_at).unwrap_or_default(),
        data: MessageEventData { message },
    })
}

/// Attachment `n` of a message (the `index` of a webhook payload), as a download.
#[utoipa::path(
    get,
    path = "/api/v1/messages/{id}/attachments/{n}",
    operation_id = "get_attachment",
    tag = "messages",
    params(
        ("id" = i64, Path, description = "Mailport's id of the message"),
        ("n" = i64, Path, description = "The attachment's number in the message's list, from 0"),
    ),
    responses(
        (status = 200, description = "The attachment's decoded bytes", content_type = "application/octet-stream", body = inline(super::binary::Download)),
        (status = 401, description = "No valid API key or session", body = ApiErrorBody),
        (status = 404, description = "No such message or attachment", body = ApiErrorBody),
    )
)]
pub(super) async fn attachment(
    state: State<AppState>,
    path: Path<(String, String)>,
) -> Result<Response, ApiError> {
    Ok(message_files::attachment(state, path).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_strangers() {
        for id in [0, 1, 42, i64::MAX] {
            assert_eq!(parse_cursor(&cursor(id)), Some(id));
        }
        for bad in ["", "42", "bXBldjE6LTE", "!!", "bXBldjI6MQ"] {
            assert_eq!(parse_cursor(bad), None, "{bad}");
        }
    }
}

/// What a redelivery request queued. The deliveries go out at once, with their original
/// `webhook-id` and body, so a receiver that already handled one can tell it is the same
/// (Standard Webhooks, "Idempotency").
#[derive(Debug, Serialize, ToSchema)]
pub struct Redelivered {
    /// Deliveries queued to be sent again.
    pub queued: u64,
    /// The `webhook-id` of the delivery, when one delivery was asked for.
    pub webhook_id: Option<String>,
}

/// Sends every failed or dead delivery of an endpoint again, now, with its original
/// `webhook-id` and body; their schedules start over. Needs an `admin` key or a session.
#[utoipa::path(
    post,
    path = "/api/v1/webhooks/{id}/redeliver",
    operation_id = "redeliver_failed_webhook_deliveries",
    tag = "webhooks",
    params(("id" = String, Path, description = "The endpoint's id")),
    responses(
        (status = 202, description = "Queued; `queued` may be 0 when nothing had failed", body = Redelivered),
        (status = 401, description = "No valid API key or session", body = ApiErrorBody),
        (status = 403, description = "The API key may only read", body = ApiErrorBody),
        (status = 404, description = "No such endpoint", body = ApiErrorBody),
    )
)]
pub(super) async fn redeliver_failed(
    State(state): State<AppState>,
    _admin: AdminCaller,
    Path(id): Path<String>,
) -> Result<Response, WriteError> {
    let endpoint = load(&state, &id).await?;
    let queued = webhooks::redeliver_failed(&state.db, &endpoint.id).await?;
    state.webhooks.wake();
    tracing::info!(endpoint = %endpoint.id, queued, "failed deliveries sent again through the API");
    Ok(accepted(Redelivered {
        queued,
        webhook_id: None,
    }))
}

/// Sends one delivery of an endpoint again, now, with its original `webhook-id` and body,
/// whatever its status. Needs an `admin` key or a session.
#[utoipa::path(
    post,
    path = "/api/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver",
    operation_id = "redeliver_webhook_delivery",
    tag = "webhooks",
    params(
        ("id" = String, Path, description = "The endpoint's id"),
        ("delivery_id" = i64, Path, description = "The delivery's id, as the deliveries list gives it"),
    ),
    responses(
        (status = 202, description = "Queued", body = Redelivered),
        (status = 401, description = "No valid API key or session", body = ApiErrorBody),
        (status = 403, description = "The API key may only read", body = ApiErrorBody),
        (status = 404, description = "No such endpoint, or no such delivery of it", body = ApiErrorBody),
    )
)]
pub(super) async fn redeliver_one(
    State(state): State<AppState>,
    _admin: AdminCaller,
    Path((id, delivery_id)): Path<(String, String)>,
) -> Result<Response, WriteError> {
    let endpoint = load(&state, &id).await?;
    let delivery_id: i64 = delivery_id.parse().map_err(|_| ApiError::not_found())?;
    if !webhooks::redeliver(&state.db, &endpoint.id, delivery_id).await? {
        return Err(ApiError::not_found().into());
    }
    state.webhooks.wake();
    let webhook_id = webhook_id(&endpoint.uid, delivery_id);
    tracing::info!(endpoint = %endpoint.id, delivery = delivery_id, "delivery sent again through the API");
    Ok(accepted(Redelivered {
        queued: 1,
        webhook_id: Some(webhook_id),
    }))
}

fn accepted(body: Redelivered) -> Response {
    (StatusCode::ACCEPTED, Json(body)).into_response()
}
