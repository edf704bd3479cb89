//! The imported-mail browser: the list of imported messages (paged, by account, searchable)
//! and one message with its headers, bodies and attachments. Every field shown was written
//! by a stranger: text goes through askama's escaping, the HTML body through `html`.

pub mod html;

use std::collections::HashSet;

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::layout::{Frame, Layout, Nav};
use super::message_files;
use super::messages::{MailQuery, PER_PAGE, load_message};
use super::page::html_page;
use super::state::WebState;
use super::views::{format_time, rfc3339};
use crate::error::AppError;
use crate::mime::{self, Mailbox};
use crate::state::AppState;
use crate::store::messages::{self, Message, MessageSummary};

pub fn router() -> Router<WebState> {
    Router::new()
        .route("/mail", get(list))
        .route("/mail/{id}", get(show))
        .route("/mail/{id}/attachments/{n}", get(message_files::attachment))
        .route("/mail/{id}/cid/{cid}", get(message_files::inline_image))
        .route("/mail/{id}/raw", get(message_files::raw))
}

/// `Name <address>`, or whichever of the two there is.
pub fn mailbox_label(m: &Mailbox) -> String {
    match (m.name.as_deref().map(str::trim), m.address.as_deref()) {
        (Some(n), Some(a)) if !n.is_empty() => format!("{n} <{a}>"),
        (_, Some(a)) => a.to_string(),
        (Some(n), None) => n.to_string(),
        (None, None) => String::new(),
    }
}

/// `12.3 KB`: for people; the exact byte count goes next to it where it matters.
pub fn human_size(bytes: i64) -> String {
    const UNITS: [&str; 4] = ["KB", "MB", "GB", "TB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

fn state_label(state: &str) -> &'static str {
    match state {
        "imported" => "imported",
        "too_large" => "too large",
        _ => "unknown",
    }
}

/// One row of the list.
struct MessageRow {
    id: i64,
    received: String,
    received_rfc3339: Option<String>,
    from: String,
    subject: String,
    account: String,
    size: String,
    attachments: i64,
    state: String,
    state_label: &'static str,
}

impl MessageRow {
    fn new(m: &MessageSummary) -> Self {
        let when = m.received_at.unwrap_or(m.imported_at);
        MessageRow {
            id: m.id,
            received: format_time(when),
            received_rfc3339: rfc3339(when),
            from: mailbox_label(&Mailbox {
                name: m.from_name.clone(),
                address: m.from_address.clone(),
            }),
            subject: m.subject.clone(),
            account: m.account_id.clone(),
            size: human_size(m.size),
            attachments: m.attachment_count,
            state: m.state.clone(),
            state_label: state_label(&m.state),
        }
    }
}

#[derive(Template)]
#[template(path = "mail/list.html")]
struct ListPage {
    layout: Layout,
    rows: Vec<MessageRow>,
    accounts: Vec<String>,
    query: MailQuery,
    total: i64,
    page: i64,
    pages: i64,
    prev: Option<String>,
    next: Option<String>,
    first: String,
}

impl ListPage {
    fn account_selected(&self, id: &str) -> bool {
        self.query.account.as_deref() == Some(id)
    }
    fn search(&self) -> &str {
        self.query.q.as_deref().unwrap_or("")
    }
    fn filtered(&self) -> bool {
        self.query.account.is_some() || self.query.q.is_some()
    }
}

async fn list(
    State(state): State<AppState>,
    frame: Frame,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let query = MailQuery::parse(&pairs, false)?;
    let (rows, total) = messages::list_summaries(&state.db, &query.filter()).await?;
    let mut accounts = messages::account_ids(&state.db).await?;
    // A filter for an account without mail still shows as chosen.
    if let Some(a) = &query.account
        && !accounts.contains(a)
    {
        accounts.push(a.clone());
    }
    let pages = (total + PER_PAGE - 1) / PER_PAGE;
    let page = ListPage {
        layout: frame.layout(Nav::Mail).await?,
        rows: rows.iter().map(MessageRow::new).collect(),
        accounts,
        total,
        page: query.page,
        pages,
        prev: (query.page > 1 && query.page <= pages + 1).then(|| query.link(query.page - 1)),
        next: (query.page < pages).then(|| query.link(query.page + 1)),
        first: query.link(1),
        query,
    };
    Ok(page.into_response())
}

/// One attachment as the message page lists it.
struct AttachmentRow {
    idx: i64,
    name: String,
    content_type: String,
    size: String,
    inline: bool,
}

#[derive(Template)]
#[template(path = "mail/show.html")]
struct ShowPage {
    layout: Layout,
    m: Message,
    from: String,
    to: String,
    cc: String,
    date: Option<String>,
    received: Option<String>,
    size: String,
    too_large: bool,
    text: Option<String>,
    html: Option<html::SafeHtml>,
    calendar: Option<CalendarView>,
    attachments: Vec<AttachmentRow>,
    /// All attachments of the message; more than `attachments.len()` when the list was cut.
    attachment_count: i64,
    attachments_truncated: bool,
}

/// A meeting request as the message page shows it.
struct CalendarView {
    kind: &'static str,
    title: Option<String>,
    when: Option<String>,
    location: Option<String>,
    organizer: Option<String>,
    description: Option<String>,
}

impl CalendarView {
    fn new(c: &mime::CalendarSummary) -> Self {
        CalendarView {
            kind: c.kind(),
            title: c.title.clone(),
            when: c.when(),
            location: c.location.clone(),
            organizer: c.organizer.clone(),
            description: c.description.clone().filter(|d| !d.trim().is_empty()),
        }
    }
}

async fn show(
    State(state): State<AppState>,
    frame: Frame,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let m = load_message(&state, &id).await?;
    let parts = messages::attachments(&state.db, m.id).await?;
    let inline_images: HashSet<String> = parts
        .iter()
        .filter(|a| message_files::inline_image_type(&a.content_type).is_some())
        .filter_map(|a| a.content_id.clone())
        .collect();
    let html = match m.html_body.clone() {
        // ammonia on a body of megabytes takes a while: keep it off the async threads.
        Some(body) => {
            let id = m.id;
            Some(
                tokio::task::spawn_blocking(move || html::sanitise(&body, id, &inline_images))
                    .await
                    .map_err(|e| AppError::Internal(e.into()))?,
            )
        }
        None => None,
    };
    let calendar = m.calendar();
    // A message that is only a meeting request has the summary as its text body: shown once.
    let text = match (&calendar, &m.text_body) {
        (Some(c), Some(t)) if *t == c.to_text() => None,
        _ => m.text_body.clone(),
    };
    let listed = parts.len() as i64;
    let attachment_count = m.attachment_count.unwrap_or(listed).max(listed);
    let join = |list: Vec<Mailbox>| {
        list.iter()
            .map(mailbox_label)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let page = ShowPage {
        layout: frame.layout(Nav::Mail).await?,
        from: mailbox_label(&Mailbox {
            name: m.from_name.clone(),
            address: m.from_address.clone(),
        }),
        to: join(m.to()),
        cc: join(m.cc()),
        date: m.sent_at.map(format_time),
        received: m.received_at.map(format_time),
        size: format!("{} ({} bytes)", human_size(m.size), m.size),
        too_large: m.state == "too_large",
        text,
        html,
        calendar: calendar.as_ref().map(CalendarView::new),
        attachments_truncated: attachment_count > listed,
        attachment_count,
        attachments: parts
            .iter()
            .map(|a| AttachmentRow {
                idx: a.idx,
                name: mime::clean::attachment_name(&a.name),
                content_type: a.content_type.clone(),
                size: human_size(a.size),
                inline: a.is_inline,
            })
            .collect(),
        m,
    };
    Ok(page.into_response())
}

html_page!(ListPage, ShowPage);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_well() {
        assert_eq!(human_size(10), "10 B");
        assert_eq!(human_size(2048), "2.0 KB");
        assert_eq!(human_size(5 * 1024 * 1024), "5.0 MB");
    }
}
