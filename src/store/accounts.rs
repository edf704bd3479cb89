//! E-mail server accounts: which mailbox folder is imported with which credential, and
//! what happens to a message after import.

use serde::Serialize;

use super::runs::RunOutcome;
use super::{Db, now};

super::text_column!(AfterImport {
    Move,
    MarkRead,
    Delete,
    Keep
});
super::text_column!(AccountStatus {
    Ok,
    Error,
    NeedsConsent,
    InvalidClient,
    Disabled,
    Throttled
});

/// What happens to a message in the mailbox once it is stored. Stored as snake_case text;
/// a row holding any other text fails to load, naming it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AfterImport {
    Move,
    MarkRead,
    Delete,
    Keep,
}

impl AfterImport {
    pub fn as_str(self) -> &'static str {
        match self {
            AfterImport::Move => "move",
            AfterImport::MarkRead => "mark_read",
            AfterImport::Delete => "delete",
            AfterImport::Keep => "keep",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "move" => Some(AfterImport::Move),
            "mark_read" => Some(AfterImport::MarkRead),
            "delete" => Some(AfterImport::Delete),
            "keep" => Some(AfterImport::Keep),
            _ => None,
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            AfterImport::Move => "Move to a folder",
            AfterImport::MarkRead => "Mark as read",
            AfterImport::Delete => "Delete",
            AfterImport::Keep => "Keep as it is",
        }
    }
    /// keep and mark_read leave mail in the folder, so they find new mail with delta queries.
    pub fn uses_delta(self) -> bool {
        matches!(self, AfterImport::MarkRead | AfterImport::Keep)
    }
}

/// An enabled account not polled successfully for this many poll intervals gets a warning
/// (status filter `stale`, the lag overview's `stale` count).
pub const STALE_AFTER_INTERVALS: i64 = 3;

/// An account's import status, as stored in `email_accounts.status` and shown as its badge.
/// Stored as snake_case text; a row holding any other text fails to load, naming it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountStatus {
    /// The last run ended well (or the account was never run).
    Ok,
    /// The last run failed; `status_detail` says why.
    Error,
    /// Its credential needs a new sign-in (the key button): not polled until repaired.
    NeedsConsent,
    /// Its credential's client secret was rejected: not polled until a new one is entered.
    InvalidClient,
    /// Switched off by the administrator.
    Disabled,
    /// Graph kept throttling the mailbox: paused until `throttled_until`.
    Throttled,
}

impl AccountStatus {
    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            AccountStatus::Ok => "ok",
            AccountStatus::Error => "error",
            AccountStatus::NeedsConsent => "needs_consent",
            AccountStatus::InvalidClient => "invalid_client",
            AccountStatus::Disabled => "disabled",
            AccountStatus::Throttled => "throttled",
        }
    }
}

impl std::fmt::Display for AccountStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The editable settings of an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountSettings {
    pub id: String,
    pub description: String,
    pub mailbox: String,
    pub folder: String,
    pub credential_id: String,
    pub after_import: AfterImport,
    pub move_to: String,
    pub graph_url: String,
    pub poll_interval: i64,
    pub enabled: bool,
    pub import_since: Option<i64>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Account {
    pub id: String,
    pub description: String,
    pub mailbox: String,
    pub folder: String,
    pub credential_id: String,
    after_import: AfterImport,
    pub move_to: String,
    pub graph_url: String,
    pub poll_interval: i64,
    #[sqlx(try_from = "super::Flag")]
    pub enabled: bool,
    pub import_since: Option<i64>,
    pub max_message_bytes: i64,
    pub status: AccountStatus,
    pub status_detail: Option<String>,
    pub throttled_until: Option<i64>,
    pub folder_id: Option<String>,
    pub move_to_folder_id: Option<String>,
    pub delta_link: Option<String>,
    pub delta_watermark: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    /// When the account is next due (unix seconds); `None` while parked for consent.
    pub next_due_at: Option<i64>,
    /// What the last poll left; see `store::schedule`.
    pub last_poll_started_at: Option<i64>,
    /// How late the last poll started, in milliseconds after its due time.
    pub last_poll_lag_ms: Option<i64>,
    pub last_poll_finished_at: Option<i64>,
    pub last_poll_outcome: Option<RunOutcome>,
    /// The start of the last poll that ended `ok`.
    pub last_success_at: Option<i64>,
    /// The end of the last poll that imported something.
    pub last_import_at: Option<i64>,
    pub polls_since_import: i64,
}

impl Account {
    pub fn after_import(&self) -> AfterImport {
        self.after_import
    }
    pub fn settings(&self) -> AccountSettings {
        AccountSettings {
            id: self.id.clone(),
            description: self.description.clone(),
            mailbox: self.mailbox.clone(),
            folder: self.folder.clone(),
            credential_id: self.credential_id.clone(),
            after_import: self.after_import(),
            move_to: self.move_to.clone(),
            graph_url: self.graph_url.clone(),
            poll_interval: self.poll_interval,
            enabled: self.enabled,
            import_since: self.import_since,
        }
    }
}

const COLUMNS: &str = "id, description, mailbox, folder, credential_id, after_import, move_to, graph_url, \
    poll_interval, enabled, import_since, max_message_bytes, status, status_detail, throttled_until, \
    folder_id, move_to_folder_id, delta_link, delta_watermark, created_at, updated_at, next_due_at, \
    last_poll_started_at, last_poll_lag_ms, last_poll_finished_at, last_poll_outcome, last_success_at, \
    last_import_at, polls_since_import";

pub async fn list(db: &Db) -> sqlx::Result<Vec<Account>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM email_accounts ORDER BY LOWER(id), id"
    ))
    .fetch_all(db)
    .await
}

pub async fn get(db: &Db, id: &str) -> sqlx::Result<Option<Account>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM email_accounts WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(db)
    .await
}

/// Creates an account; it is due at once. `db` is the pool or a transaction.
pub async fn insert(db: impl sqlx::any::AnyExecutor<'_>, s: &AccountSettings) -> sqlx::Result<()> {
    let t = now();
    sqlx::query(
        "INSERT INTO email_accounts (id, description, mailbox, folder, credential_id, after_import,
            move_to, graph_url, poll_interval, enabled, import_since, status, created_at, updated_at,
            next_due_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13, $13)",
    )
    .bind(&s.id)
    .bind(&s.description)
    .bind(&s.mailbox)
    .bind(&s.folder)
    .bind(&s.credential_id)
    .bind(s.after_import.as_str())
    .bind(&s.move_to)
    .bind(&s.graph_url)
    .bind(s.poll_interval)
    .bind(i64::from(s.enabled))
    .bind(s.import_since)
    .bind(if s.enabled {
        AccountStatus::Ok
    } else {
        AccountStatus::Disabled
    })
    .bind(t)
    .execute(db)
    .await
    .map(|_| ())
}

/// Saves settings. When the mailbox, folders, Graph URL, credential or mode change, the
/// cached folder ids and the delta cursor no longer apply and are cleared. An enabled
/// account becomes due at once (a parked one too), so a change shows its effect in the next
/// seconds. `db` is the pool or a transaction.
pub async fn update(
    db: impl sqlx::any::AnyExecutor<'_>,
    s: &AccountSettings,
) -> sqlx::Result<bool> {
    let n = sqlx::query(
        "UPDATE email_accounts SET
            folder_id = CASE WHEN mailbox = $3 AND folder = $4 AND graph_url = $8 AND credential_id = $5 THEN folder_id ELSE NULL END,
            move_to_folder_id = CASE WHEN mailbox = $3 AND move_to = $7 AND graph_url = $8 AND credential_id = $5 THEN move_to_folder_id ELSE NULL END,
            delta_link = CASE WHEN mailbox = $3 AND folder = $4 AND graph_url = $8 AND credential_id = $5
                AND after_import = $6 AND import_since IS NOT DISTINCT FROM $11 THEN delta_link ELSE NULL END,
            description = $2, mailbox = $3, folder = $4, credential_id = $5, after_import = $6,
            move_to = $7, graph_url = $8, poll_interval = $9, enabled = $10, import_since = $11,
            status = CASE WHEN $10 = 1 THEN (CASE WHEN status = 'disabled' THEN 'ok' ELSE status END) ELSE 'disabled' END,
            next_due_at = CASE WHEN $10 = 1 THEN $12 ELSE next_due_at END,
            updated_at = $12
         WHERE id = $1",
    )
    .bind(&s.id)
    .bind(&s.description)
    .bind(&s.mailbox)
    .bind(&s.folder)
    .bind(&s.credential_id)
    .bind(s.after_import.as_str())
    .bind(&s.move_to)
    .bind(&s.graph_url)
    .bind(s.poll_interval)
    .bind(i64::from(s.enabled))
    .bind(s.import_since)
    .bind(now())
    .execute(db)
    .await?
    .rows_affected();
    Ok(n > 0)
}

pub async fn delete(db: &Db, id: &str) -> sqlx::Result<bool> {
    Ok(sqlx::query("DELETE FROM email_accounts WHERE id = $1")
        .bind(id)
        .execute(db)
        .await?
        .rows_affected()
        > 0)
}

/// The accounts that use a credential.
pub async fn using_credential(db: &Db, credential_id: &str) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar("SELECT id FROM email_accounts WHERE credential_id = $1 ORDER BY id")
        .bind(credential_id)
        .fetch_all(db)
        .await
}

pub async fn set_status(
    db: &Db,
    id: &str,
    status: AccountStatus,
    detail: Option<&str>,
    throttled_until: Option<i64>,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE email_accounts SET status = $2, status_detail = $3, throttled_until = $4 WHERE id = $1",
    )
    .bind(id)
    .bind(status)
    .bind(detail)
    .bind(throttled_until)
    .execute(db)
    .await
    .map(|_| ())
}

pub async fn set_folder_ids(
    db: &Db,
    id: &str,
    folder_id: Option<&str>,
    move_to_folder_id: Option<&str>,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE email_accounts SET folder_id = COALESCE($2, folder_id),
            move_to_folder_id = COALESCE($3, move_to_folder_id) WHERE id = $1",
    )
    .bind(id)
    .bind(folder_id)
    .bind(move_to_folder_id)
    .execute(db)
    .await
    .map(|_| ())
}

/// Forgets cached folder ids (a folder was deleted or renamed in the mailbox).
pub async fn clear_folder_ids(db: &Db, id: &str) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE email_accounts SET folder_id = NULL, move_to_folder_id = NULL WHERE id = $1",
    )
    .bind(id)
    .execute(db)
    .await
    .map(|_| ())
}

/// Forgets the delta cursor (an administrative reset, not an import's progress: no lease
/// is needed); the next run starts a new round.
pub async fn reset_delta_link(db: &Db, id: &str) -> sqlx::Result<()> {
    sqlx::query("UPDATE email_accounts SET delta_link = NULL WHERE id = $1")
        .bind(id)
        .execute(db)
        .await
        .map(|_| ())
}

/// Stores the delta cursor: a nextLink mid-round, or the deltaLink at the end of one
/// (with `round_complete`, which also moves the restart watermark to the newest message).
/// Only while `fence` holds the mailbox's lease: false (nothing written) once another
/// instance took it over.
pub async fn set_delta_link(
    db: &Db,
    fence: &super::leases::Fence,
    id: &str,
    link: Option<&str>,
    round_complete: bool,
) -> sqlx::Result<bool> {
    let written = sqlx::query(&format!(
        "UPDATE email_accounts SET delta_link = $2,
            delta_watermark = CASE WHEN $3 THEN
                (SELECT MAX(received_at) FROM messages WHERE account_id = $1) ELSE delta_watermark END
         WHERE id = $1 AND {}",
        super::leases::fence_holds(db, 4, 5, 6)
    ))
    .bind(id)
    .bind(link)
    .bind(round_complete)
    .bind(&fence.lease_key)
    .bind(&fence.owner)
    .bind(fence.token)
    .execute(db)
    .await?
    .rows_affected();
    Ok(written > 0)
}

/// After a credential was repaired (new sign-in or secret): its accounts that waited for
/// consent are ready again. Returns their ids, so they can be run at once.
pub async fn credential_repaired(db: &Db, credential_id: &str) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar(
        "UPDATE email_accounts SET status = 'ok', status_detail = NULL, next_due_at = $2
         WHERE credential_id = $1 AND status IN ('needs_consent', 'invalid_client') AND enabled = 1
         RETURNING id",
    )
    .bind(credential_id)
    .bind(now())
    .fetch_all(db)
    .await
}

/// The statuses the accounts list filters by: the five stored ones (with "needs consent" as
/// the screens show it: also when the account's credential needs consent) and `stale`, an
/// enabled account not polled successfully for [`STALE_AFTER_INTERVALS`]
/// poll intervals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFilter {
    Ok,
    Error,
    NeedsConsent,
    Disabled,
    Throttled,
    Stale,
}

impl StatusFilter {
    pub const ALL: [StatusFilter; 6] = [
        StatusFilter::Ok,
        StatusFilter::Error,
        StatusFilter::NeedsConsent,
        StatusFilter::Disabled,
        StatusFilter::Throttled,
        StatusFilter::Stale,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            StatusFilter::Ok => "ok",
            StatusFilter::Error => "error",
            StatusFilter::NeedsConsent => "needs_consent",
            StatusFilter::Disabled => "disabled",
            StatusFilter::Throttled => "throttled",
            StatusFilter::Stale => "stale",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == s)
    }
    pub fn label(self) -> &'static str {
        match self {
            StatusFilter::Ok => "OK",
            StatusFilter::Error => "Error",
            StatusFilter::NeedsConsent => "Needs consent",
            StatusFilter::Disabled => "Disabled",
            StatusFilter::Throttled => "Throttled",
            StatusFilter::Stale => "Not polled lately",
        }
    }
}

/// What the accounts list and `GET /api/v1/accounts` are narrowed to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListFilter {
    /// A case-insensitive part of the id, mailbox or description.
    pub q: Option<String>,
    pub status: Option<StatusFilter>,
    pub credential_id: Option<String>,
}

/// Accounts whose credential needs consent or had its secret rejected: they show as
/// `needs_consent` whatever their stored status says.
const CREDENTIAL_DEAD: &str = "(enabled = 1 AND credential_id IN (SELECT id FROM credentials \
    WHERE token_status IN ('needs_consent', 'invalid_client')))";

type Builder<'a> = super::builder::QueryBuilder<'a>;

/// Appends ` WHERE …` for the filter (always a WHERE, `1 = 1` when empty).
fn push_filter<'a>(b: &mut Builder<'a>, f: &'a ListFilter, now: i64) {
    b.push(" WHERE 1 = 1");
    if let Some(q) = f.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        let pattern = format!("%{}%", like_escape(&q.to_lowercase()));
        b.push(" AND (LOWER(id) LIKE ")
            .push_bind(pattern.clone())
            .push(" ESCAPE '\\' OR LOWER(mailbox) LIKE ")
            .push_bind(pattern.clone())
            .push(" ESCAPE '\\' OR LOWER(description) LIKE ")
            .push_bind(pattern)
            .push(" ESCAPE '\\')");
    }
    if let Some(c) = &f.credential_id {
        b.push(" AND credential_id = ").push_bind(c.as_str());
    }
    match f.status {
        None => {}
        Some(StatusFilter::NeedsConsent) => {
            b.push(format!(
                " AND (status = 'needs_consent' OR {CREDENTIAL_DEAD})"
            ));
        }
        Some(StatusFilter::Stale) => {
            b.push(" AND enabled = 1 AND COALESCE(last_success_at, created_at) < ")
                .push_bind(now)
                .push(" - poll_interval * ")
                .push_bind(STALE_AFTER_INTERVALS);
        }
        Some(s) => {
            b.push(" AND status = ")
                .push_bind(s.as_str())
                .push(format!(" AND NOT {CREDENTIAL_DEAD}"));
        }
    }
}

/// `%`, `_` and `\` taken literally in a LIKE pattern with `ESCAPE '\'`.
fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// One page of the accounts matching `filter`, ordered by id, and how many match in all.
pub async fn page(
    db: &Db,
    filter: &ListFilter,
    offset: i64,
    limit: i64,
) -> sqlx::Result<(Vec<Account>, i64)> {
    let now = now();
    let mut count = Builder::new("SELECT COUNT(*) FROM email_accounts");
    push_filter(&mut count, filter, now);
    let total: i64 = count.build_query_scalar().fetch_one(db).await?;
    let mut select = Builder::new(format!("SELECT {COLUMNS} FROM email_accounts"));
    push_filter(&mut select, filter, now);
    select
        .push(" ORDER BY id LIMIT ")
        .push_bind(limit)
        .push(" OFFSET ")
        .push_bind(offset);
    let rows = select.build_query_as().fetch_all(db).await?;
    Ok((rows, total))
}

/// Every account matching `filter`, ordered by id (the CSV export, bulk changes).
pub async fn matching(db: &Db, filter: &ListFilter) -> sqlx::Result<Vec<Account>> {
    let mut select = Builder::new(format!("SELECT {COLUMNS} FROM email_accounts"));
    push_filter(&mut select, filter, now());
    select.push(" ORDER BY id");
    select.build_query_as().fetch_all(db).await
}

/// Which of `ids` exist.
pub async fn existing(db: &Db, ids: &[String]) -> sqlx::Result<std::collections::HashSet<String>> {
    let mut found = std::collections::HashSet::new();
    // SQLite allows 32,766 bound values; stay far below.
    for chunk in ids.chunks(500) {
        let mut b = Builder::new("SELECT id FROM email_accounts WHERE id IN (");
        let mut list = b.separated(", ");
        for id in chunk {
            list.push_bind(id.as_str());
        }
        b.push(")");
        let rows: Vec<String> = b.build_query_scalar().fetch_all(db).await?;
        found.extend(rows);
    }
    Ok(found)
}

/// Enables or disables accounts in one transaction; returns the ids that changed. Enabled
/// accounts are due at once, as after saving the form.
pub async fn set_enabled(db: &Db, ids: &[String], enabled: bool) -> sqlx::Result<Vec<String>> {
    let t = now();
    let mut tx = db.begin().await?;
    let mut changed = Vec::new();
    for id in ids {
        let n = sqlx::query(
            "UPDATE email_accounts SET enabled = $2,
                status = CASE WHEN $2 = 1 THEN (CASE WHEN status = 'disabled' THEN 'ok' ELSE status END) ELSE 'disabled' END,
                next_due_at = CASE WHEN $2 = 1 THEN $3 ELSE next_due_at END,
                updated_at = $3
             WHERE id = $1 AND enabled <> $2",
        )
        .bind(id)
        .bind(i64::from(enabled))
        .bind(t)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n > 0 {
            changed.push(id.clone());
        }
    }
    tx.commit().await?;
    Ok(changed)
}
