//! Messages: listing with OData options, one message, `$value`, `PATCH`, `move` and `DELETE`.

use std::cmp::Ordering;

use axum::Extension;
use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde_json::{Map, Value, json};

use super::GraphState;
use super::errors::GraphError;
use super::folders::{json_body, lookup_error};
use super::mailbox::StoredMessage;
use super::odata::{self, Clause, Literal, Query};
use super::render::{self, MESSAGE_ITEM, MESSAGE_LIST, MessageView};
use super::request::{Kind, Params, RequestCtx};

/// Graph's default page size for message listings.
const DEFAULT_PAGE: usize = 10;
/// `$value` is streamed in chunks of this size (which is also what makes a cut-off possible).
const VALUE_CHUNK: usize = 64 * 1024;

pub fn clause_holds(m: &StoredMessage, clause: &Clause) -> bool {
    let op = clause.op;
    match (clause.prop, &clause.value) {
        ("isRead", Literal::Bool(b)) => op.holds(&m.is_read, b),
        ("hasAttachments", Literal::Bool(b)) => op.holds(&m.meta.has_attachments, b),
        ("isDraft", Literal::Bool(b)) => op.holds(&false, b),
        ("receivedDateTime", Literal::DateTime(t)) => op.holds(&m.received, t),
        ("sentDateTime", Literal::DateTime(t)) => op.holds(&m.meta.sent.unwrap_or(m.received), t),
        ("subject", Literal::Text(s)) => op.holds(&m.meta.subject, s),
        _ => false,
    }
}

fn compare_by(prop: &str, a: &StoredMessage, b: &StoredMessage) -> Ordering {
    match prop {
        "isRead" => a.is_read.cmp(&b.is_read),
        "hasAttachments" => a.meta.has_attachments.cmp(&b.meta.has_attachments),
        "sentDateTime" => a.meta.sent.cmp(&b.meta.sent),
        "subject" => a.meta.subject.cmp(&b.meta.subject),
        _ => a.received.cmp(&b.received),
    }
}

/// Sorts by `$orderby`, then by receivedDateTime desc (Graph's default), then by id so that
/// `$skip` paging is stable.
fn sort(messages: &mut [&StoredMessage], orderby: &[(&'static str, bool)]) {
    messages.sort_by(|a, b| {
        for (prop, desc) in orderby {
            let ord = compare_by(prop, a, b);
            let ord = if *desc { ord.reverse() } else { ord };
            if ord != Ordering::Equal {
                return ord;
            }
        }
        b.received
            .cmp(&a.received)
            .then_with(|| a.immutable_id.cmp(&b.immutable_id))
    });
}

fn view<'a>(query: &'a Query, ctx: &RequestCtx) -> MessageView<'a> {
    MessageView {
        select: query.select.as_deref(),
        expand_props: &query.expand_props,
        immutable_ids: ctx.immutable_ids,
    }
}

/// `GET …/messages` and `GET …/mailFolders/{folder}/messages`.
pub async fn list(
    State(state): State<GraphState>,
    Extension(ctx): Extension<RequestCtx>,
    headers: HeaderMap,
    params: Params,
    RawQuery(raw): RawQuery,
) -> Result<Response, GraphError> {
    let call = state.begin(&ctx, &headers, &params.0, Kind::List).await?;
    let query = odata::parse(raw.as_deref(), &MESSAGE_LIST)?;
    let top = query.top.unwrap_or(DEFAULT_PAGE);
    let mut inner = state.lock();
    let mailbox = inner.mailbox(&call.user_id);
    let folder_key = params.0.get("folder");
    let folder_id = match folder_key {
        Some(key) => Some(mailbox.folder(key).map_err(lookup_error)?.id.clone()),
        None => None,
    };
    let mut matching: Vec<&StoredMessage> = mailbox
        .messages
        .values()
        .filter(|m| folder_id.as_ref().is_none_or(|f| &m.folder_id == f))
        .filter(|m| query.filter.iter().all(|c| clause_holds(m, c)))
        .collect();
    sort(&mut matching, &query.orderby);
    let view = view(&query, &ctx);
    let page: Vec<Value> = matching
        .iter()
        .skip(query.skip)
        .take(top)
        .map(|m| render::message(m, &view))
        .collect();
    let segment = match folder_key {
        Some(key) => format!("mailFolders('{key}')/messages"),
        None => "messages".into(),
    };
    let context = format!("{}/{segment}", params.context_user(&call.user_id));
    let body = odata::collection_page(
        &ctx,
        raw.as_deref(),
        &context,
        &query,
        matching.len(),
        top,
        page,
    );
    Ok(Json(body).into_response())
}

/// Finds the addressed message; under `/mailFolders/{f}/messages/{id}` it must be in `f`.
fn find<'a>(
    mailbox: &'a super::mailbox::Mailbox,
    params: &Params,
) -> Result<&'a StoredMessage, GraphError> {
    let message = mailbox
        .message(params.get("message"))
        .map_err(lookup_error)?;
    if let Some(folder) = params.0.get("folder") {
        let folder = mailbox.folder(folder).map_err(lookup_error)?;
        if folder.id != message.folder_id {
            return Err(GraphError::item_not_found());
        }
    }
    Ok(message)
}

fn entity(ctx: &RequestCtx, params: &Params, user_id: &str, mut body: Value) -> Response {
    body["@odata.context"] = json!(format!(
        "{}/v1.0/$metadata#{}/messages/$entity",
        ctx.base_url,
        params.context_user(user_id)
    ));
    Json(body).into_response()
}

pub async fn get_one(
    State(state): State<GraphState>,
    Extension(ctx): Extension<RequestCtx>,
    headers: HeaderMap,
    params: Params,
    RawQuery(raw): RawQuery,
) -> Result<Response, GraphError> {
    let call = state.begin(&ctx, &headers, &params.0, Kind::Get).await?;
    let query = odata::parse(raw.as_deref(), &MESSAGE_ITEM)?;
    let mut inner = state.lock();
    let mailbox = inner.mailbox(&call.user_id);
    let message = find(mailbox, &params)?;
    let body = render::message(message, &view(&query, &ctx));
    Ok(entity(&ctx, &params, &call.user_id, body))
}

/// Properties a PATCH may name; only `isRead` has an effect in the sandbox.
const PATCHABLE: &[&str] = &[
    "isRead",
    "categories",
    "flag",
    "importance",
    "inferenceClassification",
    "isDeliveryReceiptRequested",
    "isReadReceiptRequested",
];

pub async fn patch(
    State(state): State<GraphState>,
    Extension(ctx): Extension<RequestCtx>,
    headers: HeaderMap,
    params: Params,
    body: Bytes,
) -> Result<Response, GraphError> {
    let call = state.begin(&ctx, &headers, &params.0, Kind::Patch).await?;
    let changes: Map<String, Value> = json_body(&body)?;
    for key in changes.keys() {
        if !PATCHABLE.contains(&key.as_str()) {
            return Err(GraphError::bad_request(format!(
                "The property '{key}' does not exist on type 'microsoft.graph.message'. Make sure to only use property names that are defined by the type or mark the type as open type."
            )));
        }
    }
    let is_read = match changes.get("isRead") {
        None => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => {
            return Err(GraphError::bad_request(
                "Cannot convert the literal to the expected type 'Edm.Boolean'.",
            ));
        }
    };
    let mut inner = state.lock();
    let mailbox = inner.mailbox(&call.user_id);
    let immutable = find(mailbox, &params)?.immutable_id.clone();
    if let Some(is_read) = is_read {
        mailbox.set_read(&immutable, is_read);
    }
    let message = mailbox.message(&immutable).map_err(lookup_error)?;
    let body = render::message(message, &view(&Query::default(), &ctx));
    Ok(entity(&ctx, &params, &call.user_id, body))
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct MoveRequest {
    destination_id: Option<String>,
}

pub async fn move_to(
    State(state): State<GraphState>,
    Extension(ctx): Extension<RequestCtx>,
    headers: HeaderMap,
    params: Params,
    body: Bytes,
) -> Result<Response, GraphError> {
    let call = state.begin(&ctx, &headers, &params.0, Kind::Move).await?;
    let request: MoveRequest = json_body(&body)?;
    let destination = request
        .destination_id
        .filter(|d| !d.is_empty())
        .ok_or_else(|| GraphError::invalid_request("DestinationId is required."))?;
    let mut inner = state.lock();
    let mailbox = inner.mailbox(&call.user_id);
    let immutable = find(mailbox, &params)?.immutable_id.clone();
    let folder_id = mailbox
        .folder(&destination)
        .map_err(lookup_error)?
        .id
        .clone();
    let moved = mailbox
        .move_to(&immutable, &folder_id)
        .ok_or_else(GraphError::item_not_found)?;
    let body = render::message(moved, &view(&Query::default(), &ctx));
    let mut response = entity(&ctx, &params, &call.user_id, body);
    *response.status_mut() = StatusCode::CREATED;
    Ok(response)
}

/// `DELETE` removes the message from every visible folder. Exchange soft-deletes it into the
/// hidden Recoverable Items\Deletions folder, which Graph's folder APIs do not show, so for a
/// client it is simply gone: later lookups by either id answer ErrorItemNotFound and a delta
/// of its folder reports `@removed` with reason `deleted`.
pub async fn delete(
    State(state): State<GraphState>,
    Extension(ctx): Extension<RequestCtx>,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, GraphError> {
    let call = state.begin(&ctx, &headers, &params.0, Kind::Delete).await?;
    let mut inner = state.lock();
    let mailbox = inner.mailbox(&call.user_id);
    let immutable = find(mailbox, &params)?.immutable_id.clone();
    mailbox.delete(&immutable);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The raw MIME exactly as stored, streamed; holds the concurrency slot until the stream ends.
pub async fn value(
    State(state): State<GraphState>,
    Extension(ctx): Extension<RequestCtx>,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, GraphError> {
    let call = state.begin(&ctx, &headers, &params.0, Kind::Value).await?;
    let raw = {
        let mut inner = state.lock();
        let mailbox = inner.mailbox(&call.user_id);
        find(mailbox, &params)?.raw.clone()
    };
    let len = raw.len();
    // A drop_body fault sends about half, then fails the stream: hyper aborts the connection
    // short of the announced Content-Length, which the client sees as a truncated body.
    let send = if call.drop_body { len / 2 } else { len };
    let items: Vec<Result<Bytes, std::io::Error>> = (0..send)
        .step_by(VALUE_CHUNK)
        .map(|start| Ok(raw.slice(start..(start + VALUE_CHUNK).min(send))))
        .collect();
    let drop_body = call.drop_body;
    // The pause lets hyper flush the head and the first half before the failure, so the client
    // really sees a 200 with a truncated body rather than no response at all.
    let failure = futures_util::stream::once(async move {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "sandbox fault: connection dropped mid-body",
        ))
    })
    .boxed();
    let tail = if drop_body {
        failure.left_stream()
    } else {
        futures_util::stream::empty().right_stream()
    };
    let slot = call.slot;
    let mut pace = Pace::new(call.value_bytes_per_sec);
    let stream = futures_util::stream::iter(items)
        .chain(tail)
        .then(move |item| {
            let wait = match &item {
                Ok(chunk) => pace.after(chunk.len()),
                Err(_) => None,
            };
            async move {
                if let Some(deadline) = wait {
                    tokio::time::sleep_until(deadline).await;
                }
                item
            }
        })
        .map(move |item| {
            let _held = &slot;
            item
        });
    let mut response = Response::new(Body::from_stream(stream));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    Ok(response)
}

/// Paces a body to a throughput: each chunk is released no earlier than the time its last
/// byte would arrive at that rate, counted from the start of the body.
struct Pace {
    start: tokio::time::Instant,
    bytes_per_sec: u64,
    sent: u64,
}

impl Pace {
    fn new(bytes_per_sec: u64) -> Self {
        Pace {
            start: tokio::time::Instant::now(),
            bytes_per_sec,
            sent: 0,
        }
    }

    /// When a chunk of `len` bytes, following everything before it, may go out.
    fn after(&mut self, len: usize) -> Option<tokio::time::Instant> {
        if self.bytes_per_sec == 0 {
            return None;
        }
        self.sent += len as u64;
        let secs = self.sent as f64 / self.bytes_per_sec as f64;
        Some(self.start + std::time::Duration::from_secs_f64(secs))
    }
}
