//! Imported messages and their attachment metadata. The unique key (account, immutable
//! Graph id) is what makes an import exactly-once.

use crate::mime::{AttachmentInfo, CalendarSummary, Mailbox, ParsedMessage};

use super::{Db, now};

/// A message ready to be recorded as imported (its raw bytes are already in the blob store).
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub account_id: String,
    pub graph_id: String,
    pub internet_message_id: Option<String>,
    pub subject: String,
    pub from: Option<Mailbox>,
    pub to: Vec<Mailbox>,
    pub cc: Vec<Mailbox>,
    pub sent_at: Option<i64>,
    pub received_at: Option<i64>,
    pub size: i64,
    pub sha256: String,
    pub text_body: Option<String>,
    pub html_body: Option<String>,
    /// At most [`crate::mime::MAX_ATTACHMENTS`].
    pub attachments: Vec<AttachmentInfo>,
    /// All attachments of the message, listed or not.
    pub attachment_count: i64,
    pub calendar: Option<CalendarSummary>,
}

/// What we already know of a Graph message.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Known {
    pub id: i64,
    pub state: String,
    #[sqlx(try_from = "super::Flag")]
    pub post_action_done: bool,
}

pub async fn find(db: &Db, account_id: &str, graph_id: &str) -> sqlx::Result<Option<Known>> {
    sqlx::query_as(
        "SELECT id, state, post_action_done FROM messages WHERE account_id = $1 AND graph_id = $2",
    )
    .bind(account_id)
    .bind(graph_id)
    .fetch_optional(db)
    .await
}

/// Inserts the message and its attachments in one transaction. Returns the row id and
/// whether it was new (false: the unique key already held it, nothing changed).
///
/// The commit survives a power cut, not only a crash: the post-import action (which may
/// delete the message in the mailbox) follows right after, so this transaction syncs the WAL
/// (`synchronous = FULL`) while the rest of Mailport keeps `NORMAL`. The importer goes
/// through a [`Committer`], which does the same for several messages at once.
pub async fn insert_imported(db: &Db, m: &NewMessage) -> sqlx::Result<(i64, bool)> {
    let mut ids = insert_group(db, std::slice::from_ref(m)).await?;
    Ok(ids.pop().unwrap_or((0, false)))
}

/// Inserts messages in one WAL-synced transaction; their ids in order.
pub(super) async fn insert_group(db: &Db, group: &[NewMessage]) -> sqlx::Result<Vec<(i64, bool)>> {
    use sqlx::Connection;
    let mut conn = db.acquire().await?;
    // SQLite: this commit fsyncs its WAL (other writes sync at checkpoints). PostgreSQL
    // commits are durable as they are (synchronous_commit is the server's).
    let sqlite = super::Backend::of(db) == super::Backend::Sqlite;
    if sqlite {
        sqlx::query("PRAGMA synchronous = FULL")
            .execute(&mut *conn)
            .await?;
    }
    let result = async {
        let mut tx = conn.begin().await?;
        let mut ids = Vec::with_capacity(group.len());
        for m in group {
            ids.push(insert_one(&mut tx, m).await?);
        }
        tx.commit().await?;
        Ok(ids)
    }
    .await;
    if result.is_ok() {
        super::outbox::notify_written();
    }
    let restored = if sqlite {
        sqlx::query("PRAGMA synchronous = NORMAL")
            .execute(&mut *conn)
            .await
            .map(|_| ())
    } else {
        Ok(())
    };
    if restored.is_err() {
        // Never hand a connection with unexpected settings back to the pool.
        conn.close_on_drop();
    }
    result
}

async fn insert_one(conn: &mut sqlx::AnyConnection, m: &NewMessage) -> sqlx::Result<(i64, bool)> {
    let id: Option<i64> = sqlx::query_scalar(
        "INSERT INTO messages (account_id, graph_id, state, internet_message_id, subject,
            from_name, from_address, to_json, cc_json, sent_at, received_at, size, sha256,
            text_body, html_body, imported_at, calendar_json, attachment_count, parse_version)
         VALUES ($1, $2, 'imported', $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
         ON CONFLICT (account_id, graph_id) DO NOTHING
         RETURNING id",
    )
    .bind(&m.account_id)
    .bind(&m.graph_id)
    .bind(&m.internet_message_id)
    .bind(&m.subject)
    .bind(m.from.as_ref().and_then(|f| f.name.clone()))
    .bind(m.from.as_ref().and_then(|f| f.address.clone()))
    .bind(serde_json::to_string(&m.to).unwrap_or_else(|_| "[]".into()))
    .bind(serde_json::to_string(&m.cc).unwrap_or_else(|_| "[]".into()))
    .bind(m.sent_at)
    .bind(m.received_at)
    .bind(m.size)
    .bind(&m.sha256)
    .bind(&m.text_body)
    .bind(&m.html_body)
    .bind(now())
    .bind(calendar_json(m.calendar.as_ref()))
    .bind(m.attachment_count)
    .bind(crate::mime::PARSER_VERSION)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(id) = id else {
        // Already stored (the unique key): nothing was written.
        let existing: Option<i64> =
            sqlx::query_scalar("SELECT id FROM messages WHERE account_id = $1 AND graph_id = $2")
                .bind(&m.account_id)
                .bind(&m.graph_id)
                .fetch_optional(&mut *conn)
                .await?;
        return Ok((existing.unwrap_or(0), false));
    };
    insert_attachments(conn, id, &m.attachments).await?;
    // The transactional outbox: its event and webhook deliveries commit with the message.
    super::outbox::enqueue_imported(conn, id, &m.account_id).await?;
    Ok((id, true))
}

async fn insert_attachments(
    conn: &mut sqlx::AnyConnection,
    message_id: i64,
    list: &[AttachmentInfo],
) -> sqlx::Result<()> {
    for (idx, a) in list.iter().enumerate() {
        sqlx::query(
            "INSERT INTO attachments (message_id, idx, name, content_type, size, content_id, is_inline)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(message_id)
        .bind(idx as i64)
        .bind(&a.name)
        .bind(&a.content_type)
        .bind(a.size as i64)
        .bind(&a.content_id)
        .bind(i64::from(a.is_inline))
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

fn calendar_json(c: Option<&CalendarSummary>) -> Option<String> {
    c.and_then(|c| serde_json::to_string(c).ok())
}

/// Imported messages whose shown text an older parser derived ([`crate::mime::PARSER_VERSION`]),
/// oldest first after `after_id`: (id, sha256).
pub async fn derived_by_older_parser(
    db: &Db,
    version: i64,
    after_id: i64,
    limit: i64,
) -> sqlx::Result<Vec<(i64, String)>> {
    sqlx::query_as(
        "SELECT id, sha256 FROM messages
         WHERE state = 'imported' AND parse_version < $1 AND id > $2 AND sha256 IS NOT NULL
         ORDER BY id LIMIT $3",
    )
    .bind(version)
    .bind(after_id)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// Replaces what was derived from a stored message's raw bytes (subject, addresses,
/// bodies, calendar, attachment list) with `parsed`, in one transaction. A subject the
/// parser cannot find keeps the stored one (Graph's, from the listing).
pub async fn replace_derived(db: &Db, id: i64, parsed: &ParsedMessage) -> sqlx::Result<()> {
    let mut tx = db.begin().await?;
    sqlx::query(
        "UPDATE messages SET subject = CASE WHEN $2 = '' THEN subject ELSE $2 END,
            from_name = $3, from_address = $4, to_json = $5, cc_json = $6,
            internet_message_id = COALESCE($7, internet_message_id), sent_at = COALESCE($8, sent_at),
            text_body = $9, html_body = $10, calendar_json = $11, attachment_count = $12,
            parse_version = $13
         WHERE id = $1",
    )
    .bind(id)
    .bind(&parsed.subject)
    .bind(parsed.from.as_ref().and_then(|f| f.name.clone()))
    .bind(parsed.from.as_ref().and_then(|f| f.address.clone()))
    .bind(serde_json::to_string(&parsed.to).unwrap_or_else(|_| "[]".into()))
    .bind(serde_json::to_string(&parsed.cc).unwrap_or_else(|_| "[]".into()))
    .bind(&parsed.message_id)
    .bind(parsed.date)
    .bind(&parsed.text_body)
    .bind(&parsed.html_body)
    .bind(calendar_json(parsed.calendar.as_ref()))
    .bind(parsed.attachment_count as i64)
    .bind(crate::mime::PARSER_VERSION)
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM attachments WHERE message_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    insert_attachments(&mut tx, id, &parsed.attachments).await?;
    tx.commit().await
}

/// Marks a message as derived by the current parser without changing it (its blob is
/// gone, so there is nothing to derive from).
pub async fn mark_derived(db: &Db, id: i64) -> sqlx::Result<()> {
    sqlx::query("UPDATE messages SET parse_version = $2 WHERE id = $1")
        .bind(id)
        .bind(crate::mime::PARSER_VERSION)
        .execute(db)
        .await
        .map(|_| ())
}

/// Records, once, a message too large to import. It is left in the mailbox.
pub async fn record_too_large(
    db: &Db,
    account_id: &str,
    graph_id: &str,
    size: i64,
    subject: &str,
    received_at: Option<i64>,
) -> sqlx::Result<bool> {
    let n = sqlx::query(
        "INSERT INTO messages (account_id, graph_id, state, subject, size, received_at, imported_at, post_action_done)
         VALUES ($1, $2, 'too_large', $3, $4, $5, $6, 1)
         ON CONFLICT (account_id, graph_id) DO NOTHING",
    )
    .bind(account_id)
    .bind(graph_id)
    .bind(subject)
    .bind(size)
    .bind(received_at)
    .bind(now())
    .execute(db)
    .await?
    .rows_affected();
    Ok(n > 0)
}

/// Records that the post-import action of message `id` was applied, only while `fence`
/// holds the mailbox's lease: false (nothing written) once another instance took it over.
pub async fn mark_post_action_done(
    db: &Db,
    fence: &super::leases::Fence,
    id: i64,
) -> sqlx::Result<bool> {
    let written = sqlx::query(&format!(
        "UPDATE messages SET post_action_done = 1 WHERE id = $1 AND {}",
        super::leases::fence_holds(db, 2, 3, 4)
    ))
    .bind(id)
    .bind(&fence.lease_key)
    .bind(&fence.owner)
    .bind(fence.token)
    .execute(db)
    .await?
    .rows_affected();
    Ok(written > 0)
}

/// Stored messages whose post-import action has not been applied yet.
pub async fn pending_post_actions(
    db: &Db,
    account_id: &str,
    limit: i64,
) -> sqlx::Result<Vec<(i64, String)>> {
    sqlx::query_as(
        "SELECT id, graph_id FROM messages WHERE account_id = $1 AND post_action_done = 0
         AND state = 'imported' ORDER BY id LIMIT $2",
    )
    .bind(account_id)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// A stored message.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Message {
    pub id: i64,
    pub account_id: String,
    pub graph_id: String,
    pub state: String,
    #[sqlx(try_from = "super::Flag")]
    pub post_action_done: bool,
    pub internet_message_id: Option<String>,
    pub subject: String,
    pub from_name: Option<String>,
    pub from_address: Option<String>,
    pub to_json: String,
    pub cc_json: String,
    pub sent_at: Option<i64>,
    pub received_at: Option<i64>,
    pub size: i64,
    pub sha256: Option<String>,
    pub text_body: Option<String>,
    pub html_body: Option<String>,
    pub imported_at: i64,
    pub calendar_json: Option<String>,
    /// All attachments of the message; None for rows stored before it was counted.
    pub attachment_count: Option<i64>,
}

impl Message {
    pub fn to(&self) -> Vec<Mailbox> {
        serde_json::from_str(&self.to_json).unwrap_or_default()
    }
    pub fn cc(&self) -> Vec<Mailbox> {
        serde_json::from_str(&self.cc_json).unwrap_or_default()
    }
    /// The summary of the message's calendar part (a meeting request), if it has one.
    pub fn calendar(&self) -> Option<CalendarSummary> {
        serde_json::from_str(self.calendar_json.as_deref()?).ok()
    }
}

const COLUMNS: &str = "id, account_id, graph_id, state, post_action_done, internet_message_id, subject, \
    from_name, from_address, to_json, cc_json, sent_at, received_at, size, sha256, text_body, html_body, imported_at, \
    calendar_json, attachment_count";

pub async fn get(db: &Db, id: i64) -> sqlx::Result<Option<Message>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM messages WHERE id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Attachment {
    pub idx: i64,
    pub name: String,
    pub content_type: String,
    pub size: i64,
    pub content_id: Option<String>,
    #[sqlx(try_from = "super::Flag")]
    pub is_inline: bool,
}

pub async fn attachments(db: &Db, message_id: i64) -> sqlx::Result<Vec<Attachment>> {
    sqlx::query_as(
        "SELECT idx, name, content_type, size, content_id, is_inline FROM attachments
         WHERE message_id = $1 ORDER BY idx",
    )
    .bind(message_id)
    .fetch_all(db)
    .await
}

/// Which messages a list shows.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub account_id: Option<String>,
    /// Matched (case-insensitively) against subject, sender name and sender address.
    pub search: Option<String>,
    pub offset: i64,
    pub limit: i64,
}

pub async fn count_for_account(db: &Db, account_id: &str) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT COUNT(*) FROM messages WHERE account_id = $1")
        .bind(account_id)
        .fetch_one(db)
        .await
}
/// The filter of [`list_summaries`]: `$1` account or NULL, `$2` a LIKE pattern
/// from [`like_pattern`] or NULL. Matches ignore case as SQLite's `LIKE` does (PostgreSQL:
/// `ILIKE`).
fn list_filter(db: &Db) -> String {
    let like = super::Backend::of(db).case_insensitive_like();
    format!(
        "($1 IS NULL OR account_id = $1) AND ($2 IS NULL OR subject {like} $2 ESCAPE '\\' \
         OR from_name {like} $2 ESCAPE '\\' OR from_address {like} $2 ESCAPE '\\')"
    )
}

/// The search text as a LIKE pattern, its own `%`, `_` and `\` matched literally.
fn like_pattern(f: &ListFilter) -> Option<String> {
    f.search.as_ref().map(|s| {
        let escaped = s
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        format!("%{escaped}%")
    })
}

/// A message as lists show it: no bodies (they can be megabytes each), plus the number of
/// attachments (all of them, also those beyond the listed 1,000).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MessageSummary {
    pub id: i64,
    pub account_id: String,
    pub graph_id: String,
    pub state: String,
    pub internet_message_id: Option<String>,
    pub subject: String,
    pub from_name: Option<String>,
    pub from_address: Option<String>,
    pub to_json: String,
    pub received_at: Option<i64>,
    pub size: i64,
    pub sha256: Option<String>,
    pub imported_at: i64,
    pub attachment_count: i64,
}

impl MessageSummary {
    pub fn to(&self) -> Vec<Mailbox> {
        serde_json::from_str(&self.to_json).unwrap_or_default()
    }
}

/// One page of [`MessageSummary`], newest first, and the total that match.
pub async fn list_summaries(db: &Db, f: &ListFilter) -> sqlx::Result<(Vec<MessageSummary>, i64)> {
    let pattern = like_pattern(f);
    let filter = list_filter(db);
    let rows = sqlx::query_as(&format!(
        "SELECT id, account_id, graph_id, state, internet_message_id, subject, from_name,
            from_address, to_json, received_at, size, sha256, imported_at,
            COALESCE(attachment_count,
                (SELECT COUNT(*) FROM attachments a WHERE a.message_id = messages.id)) AS attachment_count
         FROM messages WHERE {filter}
         ORDER BY COALESCE(received_at, imported_at) DESC, id DESC LIMIT $3 OFFSET $4"
    ))
    .bind(&f.account_id)
    .bind(&pattern)
    .bind(f.limit)
    .bind(f.offset)
    .fetch_all(db)
    .await?;
    let total: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM messages WHERE {filter}"))
        .bind(&f.account_id)
        .bind(&pattern)
        .fetch_one(db)
        .await?;
    Ok((rows, total))
}

/// The accounts that have messages, for the list's account filter.
pub async fn account_ids(db: &Db) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar("SELECT DISTINCT account_id FROM messages ORDER BY account_id")
        .fetch_all(db)
        .await
}

/// Attachment `idx` of a message.
pub async fn attachment(db: &Db, message_id: i64, idx: i64) -> sqlx::Result<Option<Attachment>> {
    sqlx::query_as(
        "SELECT idx, name, content_type, size, content_id, is_inline FROM attachments
         WHERE message_id = $1 AND idx = $2",
    )
    .bind(message_id)
    .bind(idx)
    .fetch_optional(db)
    .await
}

/// The first part of a message with this Content-ID (stored without `<>`).
pub async fn attachment_by_content_id(
    db: &Db,
    message_id: i64,
    content_id: &str,
) -> sqlx::Result<Option<Attachment>> {
    sqlx::query_as(
        "SELECT idx, name, content_type, size, content_id, is_inline FROM attachments
         WHERE message_id = $1 AND content_id = $2 ORDER BY idx LIMIT 1",
    )
    .bind(message_id)
    .bind(content_id)
    .fetch_optional(db)
    .await
}

/// Whether any message row uses this blob.
pub async fn blob_in_use(db: &Db, sha256: &str) -> sqlx::Result<bool> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM messages WHERE sha256 = $1")
        .bind(sha256)
        .fetch_one(db)
        .await?;
    Ok(n > 0)
}
