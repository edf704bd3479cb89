//! The scheduler's queries: when the next account is due, and what a poll leaves behind.
//! Which accounts are due, with their mailbox leases, is [`super::leases::due`]. Portable
//! SQL (`$n` placeholders, integer unix seconds).

use super::Db;
use super::accounts::AccountStatus;
use super::runs::RunOutcome;

pub use super::accounts::STALE_AFTER_INTERVALS;

/// The earliest due time after `now` of an enabled account, if any (an index seek).
pub async fn next_due_after(db: &Db, now: i64) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar(
        "SELECT MIN(next_due_at) FROM email_accounts WHERE enabled = 1 AND next_due_at > $1",
    )
    .bind(now)
    .fetch_one(db)
    .await
}

/// What one poll leaves on its account, written in one statement: this is the only write an
/// empty, error-free poll makes.
#[derive(Debug, Clone)]
pub struct PollRecord<'a> {
    pub started_at: i64,
    /// How late the poll started after its due time; `None` for Run now and `mailport
    /// import`, which keep the scheduled polls' figure.
    pub lag_ms: Option<i64>,
    pub finished_at: i64,
    pub outcome: RunOutcome,
    pub imported: i64,
    pub status: AccountStatus,
    pub status_detail: Option<&'a str>,
    pub throttled_until: Option<i64>,
    /// When the account is due next; `None` parks it until its credential is repaired.
    /// Ignored when the account was saved during the poll (saving made it due).
    pub next_due_at: Option<i64>,
    /// The account's `updated_at` when the poll read it.
    pub read_updated_at: i64,
    /// The deltaLink that completed a delta round in this poll: stored here rather than in
    /// a statement of its own, and the restart watermark moves to the newest message.
    pub delta_link: Option<&'a str>,
}

/// Records the end of a poll on its account, only while `fence` holds the mailbox's lease:
/// false (nothing written) once another instance took it over.
pub async fn record_poll(
    db: &Db,
    fence: &super::leases::Fence,
    account_id: &str,
    p: &PollRecord<'_>,
) -> sqlx::Result<bool> {
    let written = sqlx::query(&format!(
        "UPDATE email_accounts SET
            status = $2, status_detail = $3, throttled_until = $4,
            next_due_at = CASE WHEN updated_at <> $12 THEN next_due_at ELSE $6 END,
            last_poll_started_at = $5,
            last_poll_lag_ms = COALESCE($7, last_poll_lag_ms),
            last_poll_finished_at = $8,
            last_poll_outcome = $9,
            last_success_at = CASE WHEN $9 = 'ok' THEN $5 ELSE last_success_at END,
            last_import_at = CASE WHEN $10 > 0 THEN $8 ELSE last_import_at END,
            polls_since_import = CASE WHEN $10 > 0 THEN 0 ELSE polls_since_import + 1 END,
            delta_link = COALESCE($11, delta_link),
            delta_watermark = CASE WHEN $11 IS NULL THEN delta_watermark
                ELSE (SELECT MAX(received_at) FROM messages WHERE account_id = $1) END
         WHERE id = $1 AND {}",
        super::leases::fence_holds(db, 13, 14, 15)
    ))
    .bind(account_id)
    .bind(p.status)
    .bind(p.status_detail)
    .bind(p.throttled_until)
    .bind(p.started_at)
    .bind(p.next_due_at)
    .bind(p.lag_ms)
    .bind(p.finished_at)
    .bind(p.outcome)
    .bind(p.imported)
    .bind(p.delta_link)
    .bind(p.read_updated_at)
    .bind(&fence.lease_key)
    .bind(&fence.owner)
    .bind(fence.token)
    .execute(db)
    .await?
    .rows_affected();
    Ok(written > 0)
}

/// Makes an account due at once (Run now on a parked or waiting account, for instance).
pub async fn make_due(db: &Db, account_id: &str, now: i64) -> sqlx::Result<()> {
    sqlx::query("UPDATE email_accounts SET next_due_at = $2 WHERE id = $1")
        .bind(account_id)
        .bind(now)
        .execute(db)
        .await
        .map(|_| ())
}

/// What the lag overview needs of each enabled account.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LagRow {
    pub id: String,
    pub next_due_at: Option<i64>,
    pub poll_interval: i64,
    pub last_poll_started_at: Option<i64>,
    pub last_poll_lag_ms: Option<i64>,
    pub last_success_at: Option<i64>,
    pub created_at: i64,
}

/// Every enabled account's schedule figures (one sequential read; the overview caches it).
pub async fn lag_rows(db: &Db) -> sqlx::Result<Vec<LagRow>> {
    sqlx::query_as(
        "SELECT id, next_due_at, poll_interval, last_poll_started_at, last_poll_lag_ms,
            last_success_at, created_at
         FROM email_accounts WHERE enabled = 1",
    )
    .fetch_all(db)
    .await
}
