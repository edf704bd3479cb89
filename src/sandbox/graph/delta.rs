//! `GET .../mailFolders/{id}/messages/delta`: rounds of pages joined by `$skiptoken`, ending in
//! a `$deltatoken` that later yields only what changed since.
//!
//! A round covers the mailbox's change sequence window (since, upto], fixed when the round
//! starts; anything that changes while the client pages falls after `upto` and comes in the next
//! round, so nothing is lost. Pages use a keyset cursor (not an offset), so changes during paging
//! cannot shift items past the client either. Order: removals first (by seq), then messages by
//! receivedDateTime desc, Graph's only delta order.

use std::collections::HashMap;

use axum::Extension;
use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::GraphState;
use super::errors::GraphError;
use super::folders::lookup_error;
use super::ids;
use super::mailbox::{Mailbox, StoredMessage, Tombstone};
use super::messages::clause_holds;
use super::odata::{self, Clause, Op};
use super::render::{self, MESSAGE_DELTA, MessageView};
use super::request::{Kind, Params, RequestCtx};

/// Graph's delta page size when the client sends no `Prefer: odata.maxpagesize`.
const DEFAULT_PAGE: usize = 10;
const MAX_PAGE: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChangeType {
    All,
    Created,
    Updated,
    Deleted,
}

#[derive(Debug, Clone)]
enum Cursor {
    Start,
    AfterRemoval(u64),
    AfterMessage(OffsetDateTime, String),
}

/// What a `$skiptoken` or `$deltatoken` stands for.
#[derive(Debug, Clone)]
struct SyncState {
    user_id: String,
    folder_id: String,
    epoch: u64,
    since: u64,
    upto: u64,
    cursor: Cursor,
    select: Option<Vec<&'static str>>,
    change_type: ChangeType,
    received: Vec<Clause>,
    page_size: usize,
}

/// Every token handed out; invalidated per mailbox by bumping the mailbox's delta epoch.
#[derive(Default)]
pub struct SyncStates {
    tokens: HashMap<String, SyncState>,
}

enum Entry<'a> {
    Removal(&'a Tombstone),
    Message(&'a StoredMessage),
}

fn in_window(seq: u64, since: u64, upto: u64) -> bool {
    seq > since && seq <= upto
}

fn entries<'a>(mailbox: &'a Mailbox, s: &'a SyncState) -> Vec<Entry<'a>> {
    let initial = s.since == 0;
    let mut out = Vec::new();
    if !initial && matches!(s.change_type, ChangeType::All | ChangeType::Deleted) {
        let mut removals: Vec<&Tombstone> = mailbox
            .tombstones
            .iter()
            .filter(|t| t.folder_id == s.folder_id && in_window(t.seq, s.since, s.upto))
            .filter(|t| match s.cursor {
                Cursor::Start => true,
                Cursor::AfterRemoval(seq) => t.seq > seq,
                Cursor::AfterMessage(..) => false,
            })
            .collect();
        removals.sort_by_key(|t| t.seq);
        out.extend(removals.into_iter().map(Entry::Removal));
    }
    let mut messages: Vec<&StoredMessage> = mailbox
        .in_folder(&s.folder_id)
        .filter(|m| {
            if initial {
                return m.changed_seq <= s.upto;
            }
            match s.change_type {
                ChangeType::All => in_window(m.changed_seq, s.since, s.upto),
                ChangeType::Created => in_window(m.arrived_seq, s.since, s.upto),
                ChangeType::Updated => {
                    in_window(m.changed_seq, s.since, s.upto) && m.arrived_seq <= s.since
                }
                ChangeType::Deleted => false,
            }
        })
        .filter(|m| s.received.iter().all(|c| clause_holds(m, c)))
        .filter(|m| match &s.cursor {
            Cursor::Start | Cursor::AfterRemoval(_) => true,
            Cursor::AfterMessage(t, id) => {
                m.received < *t || (m.received == *t && m.immutable_id.as_str() > id.as_str())
            }
        })
        .collect();
    messages.sort_by(|a, b| {
        b.received
            .cmp(&a.received)
            .then_with(|| a.immutable_id.cmp(&b.immutable_id))
    });
    out.extend(messages.into_iter().map(Entry::Message));
    out
}

fn parse_change_type(value: Option<&str>) -> Result<ChangeType, GraphError> {
    match value.map(str::to_ascii_lowercase).as_deref() {
        None => Ok(ChangeType::All),
        Some("created") => Ok(ChangeType::Created),
        Some("updated") => Ok(ChangeType::Updated),
        Some("deleted") => Ok(ChangeType::Deleted),
        Some(other) => Err(GraphError::bad_request(format!(
            "Invalid value '{other}' for changeType; expected created, updated or deleted."
        ))),
    }
}

pub async fn delta(
    State(state): State<GraphState>,
    Extension(ctx): Extension<RequestCtx>,
    headers: HeaderMap,
    params: Params,
    RawQuery(raw): RawQuery,
) -> Result<Response, GraphError> {
    let call = state.begin(&ctx, &headers, &params.0, Kind::Delta).await?;
    let query = odata::parse(raw.as_deref(), &MESSAGE_DELTA)?;
    if query
        .orderby
        .iter()
        .any(|(prop, desc)| *prop != "receivedDateTime" || !desc)
    {
        return Err(GraphError::bad_request(
            "Delta only supports $orderby=receivedDateTime desc.",
        ));
    }
    if query
        .filter
        .iter()
        .any(|c| !matches!(c.op, Op::Ge | Op::Gt))
    {
        return Err(GraphError::bad_request(
            "Delta only supports $filter on receivedDateTime with ge or gt.",
        ));
    }
    let change_type = parse_change_type(query.custom("changeType"))?;

    let mut inner = state.lock();
    let inner = &mut *inner;
    let mailbox = inner.mailboxes.entry(call.user_id.clone()).or_default();
    let folder_id = mailbox
        .folder(params.get("folder"))
        .map_err(lookup_error)?
        .id
        .clone();
    let token = query.skiptoken.as_ref().or(query.deltatoken.as_ref());
    let mut sync = match token {
        Some(token) => {
            let known = inner
                .delta
                .tokens
                .get(token)
                .filter(|s| {
                    s.user_id == call.user_id
                        && s.folder_id == folder_id
                        && s.epoch == mailbox.delta_epoch
                })
                .cloned()
                .ok_or_else(GraphError::sync_state_not_found)?;
            if query.deltatoken.is_some() {
                // A new round: everything after the previous round's window.
                SyncState {
                    upto: mailbox.seq,
                    cursor: Cursor::Start,
                    ..known
                }
            } else {
                known
            }
        }
        None => SyncState {
            user_id: call.user_id.clone(),
            folder_id: folder_id.clone(),
            epoch: mailbox.delta_epoch,
            since: 0,
            upto: mailbox.seq,
            cursor: Cursor::Start,
            select: query.select.clone(),
            change_type,
            received: query.filter.clone(),
            // `Prefer: odata.maxpagesize` is the documented way; `$top` is a fallback.
            page_size: query.top.unwrap_or(DEFAULT_PAGE),
        },
    };
    if let Some(size) = ctx.max_page_size {
        sync.page_size = size.clamp(1, MAX_PAGE);
    }

    let all = entries(mailbox, &sync);
    let more = all.len() > sync.page_size;
    let view = MessageView {
        select: sync.select.as_deref(),
        expand_props: &[],
        immutable_ids: ctx.immutable_ids,
    };
    let mut last = None;
    let value: Vec<Value> = all
        .iter()
        .take(sync.page_size)
        .map(|entry| match entry {
            Entry::Removal(t) => {
                last = Some(Cursor::AfterRemoval(t.seq));
                let id = if ctx.immutable_ids {
                    &t.immutable_id
                } else {
                    &t.regular_id
                };
                json!({
                    "@odata.type": "#microsoft.graph.message",
                    "id": id,
                    "@removed": {"reason": t.reason.as_str()},
                })
            }
            Entry::Message(m) => {
                last = Some(Cursor::AfterMessage(m.received, m.immutable_id.clone()));
                let mut v = render::message(m, &view);
                v["@odata.type"] = json!("#microsoft.graph.message");
                v
            }
        })
        .collect();

    let token = ids::new_token();
    let mut body = json!({
        "@odata.context": format!("{}/v1.0/$metadata#Collection(message)", ctx.base_url),
        "value": value,
    });
    if more {
        let next = SyncState {
            cursor: last.unwrap_or(Cursor::Start),
            ..sync
        };
        inner.delta.tokens.insert(token.clone(), next);
        body["@odata.nextLink"] = json!(format!("{}{}?$skiptoken={token}", ctx.base_url, ctx.path));
    } else {
        let next = SyncState {
            since: sync.upto,
            cursor: Cursor::Start,
            ..sync
        };
        inner.delta.tokens.insert(token.clone(), next);
        body["@odata.deltaLink"] =
            json!(format!("{}{}?$deltatoken={token}", ctx.base_url, ctx.path));
    }
    let mut response = Json(body).into_response();
    if let Some(size) = ctx.max_page_size
        && let Ok(v) = HeaderValue::from_str(&format!("odata.maxpagesize={size}"))
    {
        response.headers_mut().insert("preference-applied", v);
    }
    Ok(response)
}

impl GraphState {
    /// Makes every delta and skip token of the mailbox answer 410 syncStateNotFound.
    pub(super) fn expire_delta_tokens_of(&self, user_id: &str) {
        let mut inner = self.lock();
        let mailbox = inner.mailbox(user_id);
        mailbox.delta_epoch += 1;
    }
}
