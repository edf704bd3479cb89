//! The imported-mail browser: the list of imported messages (paged, by account, searchable)
//! and one message with its headers, bodies and attachments. Every field shown was written
//! by a stranger: text goes through askama's escaping, the HTML body through `html`.

pub mod files;
pub mod html;

use std::collections::HashSet;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};

use super::auth::CurrentUser;
use super::layout::Layout;
use super::session::AppSession;
use super::views::{format_time, rfc3339};
use super::state::WebState;
use crate::state::AppState;
use crate::error::{AppError, render};
use crate::mime::{self, Mailbox};
use crate::store::messages::{self, ListFilter, Message, MessageSummary};

pub fn router() -> Router<WebState> {
    Router::new()
        .route("/mail", get(list))
        .route("/mail/{id}", get(show))
        .route("/mail/{id}/attachments/{n}", get(files::attachment))
        .route("/mail/{id}/cid/{cid}", get(files::inline_image))
        .route("/mail/{id}/raw", get(files::raw))
}

pub const PER_PAGE: i64 = 50;
/// Longer search texts or account ids are a mistake (or an attack), not a search.
pub const MAX_QUERY_CHARS: usize = 200;
/// Far beyond any mailbox; keeps OFFSET arithmetic trivially in range.
const MAX_PAGE: i64 = 1_000_000;

/// The list's query string, checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MailQuery {
    pub page: i64,
    pub account: Option<String>,
    pub q: Option<String>,
}

impl MailQuery {
    /// Reads `page`, `account` and `q` (first occurrence wins; others are ignored). A page
    /// that is not a positive number becomes 1 when `strict_page` is false (a person edited
    /// the URL) and is refused when it is true (a program should learn of its mistake).
    pub fn parse(pairs: &[(String, String)], strict_page: bool) -> Result<Self, AppError> {
        let first = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim());
        let page = match first("page") {
            None | Some("") => 1,
            Some(p) => match p.parse::<i64>() {
                Ok(n) if (1..=MAX_PAGE).contains(&n) => n,
                _ if strict_page => {
                    return Err(AppError::BadRequest(format!(
                        "page must be a whole number from 1 to {MAX_PAGE}."
                    )));
                }
                _ => 1,
            },
        };
        let text = |name: &str, what: &str| -> Result<Option<String>, AppError> {
            match first(name) {
                Some(v) if v.chars().count() > MAX_QUERY_CHARS => Err(AppError::BadRequest(
                    format!("The {what} is too long: at most {MAX_QUERY_CHARS} characters."),
                )),
                Some(v) if !v.is_empty() => Ok(Some(v.to_string())),
                _ => Ok(None),
            }
        };
        Ok(MailQuery {
            page,
            account: text("account", "account")?,
            q: text("q", "search text")?,
        })
    }

    pub fn filter(&self) -> ListFilter {
        ListFilter {
            account_id: self.account.clone(),
            search: self.q.clone(),
            offset: (self.page - 1) * PER_PAGE,
            limit: PER_PAGE,
        }
    }

    /// `/mail?…` for another page with the same filter.
    fn link(&self, page: i64) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        if let Some(a) = &self.account {
            q.append_pair("account", a);
        }
        if let Some(s) = &self.q {
            q.append_pair("q", s);
        }
        if page > 1 {
            q.append_pair("page", &page.to_string());
        }
        let q = q.finish();
        if q.is_empty() {
            "/mail".into()
        } else {
            format!("/mail?{q}")
        }
    }
}

/// A message id from the URL; anything that is not one is simply not found.
pub async fn load_message(state: &AppState, id: &str) -> Result<Message, AppError> {
    let id: i64 = id.parse().map_err(|_| AppError::NotFound)?;
    messages::get(&state.db, id)
        .await?
        .ok_or(AppError::NotFound)
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
    Extension(user): Extension<CurrentUser>,
    session: AppSession,
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
        layout: Layout::new(&session, Some(user.username), "mail").await?,
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
    Ok(render(&page)?.into_response())
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
    Extension(user): Extension<CurrentUser>,
    session: AppSession,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let m = load_message(&state, &id).await?;
    let parts = messages::attachments(&state.db, m.id).await?;
    let inline_images: HashSet<String> = parts
        .iter()
        .filter(|a| files::inline_image_type(&a.content_type).is_some())
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
        layout: Layout::new(&session, Some(user.username), "mail").await?,
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
    Ok(render(&page)?.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn bad_pages_become_page_one_for_people_and_errors_for_programs() {
        for bad in ["0", "-3", "abc", "1e3", "99999999999999999999"] {
            let p = pairs(&[("page", bad)]);
            assert_eq!(MailQuery::parse(&p, false).map(|q| q.page).ok(), Some(1));
            assert!(MailQuery::parse(&p, true).is_err(), "{bad}");
        }
        let q = MailQuery::parse(&pairs(&[("page", "3"), ("q", " x ")]), true);
        assert_eq!(q.as_ref().map(|q| q.page).ok(), Some(3));
        assert_eq!(q.ok().and_then(|q| q.q).as_deref(), Some("x"));
    }

    #[test]
    fn long_search_is_refused() {
        let long = "x".repeat(MAX_QUERY_CHARS + 1);
        assert!(MailQuery::parse(&pairs(&[("q", &long)]), false).is_err());
        let ok = "é".repeat(MAX_QUERY_CHARS);
        assert!(MailQuery::parse(&pairs(&[("q", &ok)]), false).is_ok());
    }

    #[test]
    fn links_keep_the_filter() {
        let q = MailQuery {
            page: 2,
            account: Some("a&b".into()),
            q: Some("x y".into()),
        };
        assert_eq!(q.link(3), "/mail?account=a%26b&q=x+y&page=3");
        assert_eq!(MailQuery::default().link(1), "/mail");
    }

    #[test]
    fn sizes_read_well() {
        assert_eq!(human_size(10), "10 B");
        assert_eq!(human_size(2048), "2.0 KB");
        assert_eq!(human_size(5 * 1024 * 1024), "5.0 MB");
    }
}
