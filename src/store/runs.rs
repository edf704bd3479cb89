//! The import run history: one row per run of an account that imported something, failed
//! or was cut short, with its counts and error; pruned by age and per account.

use serde::Serialize;

use super::{Db, now};

super::text_column!(RunOutcome {
    Running,
    Ok,
    Error,
    Cancelled
});

/// How an import run ended, as stored in `import_runs.outcome` and
/// `email_accounts.last_poll_outcome`. Stored as snake_case text; a row holding any other
/// text fails to load, naming it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunOutcome {
    /// Still going (a run in progress; never stored as a finished run's outcome).
    #[default]
    Running,
    /// Ended well (some messages may still have failed; see the counts).
    Ok,
    /// Stopped by an error: credential, Graph or storage.
    Error,
    /// Cut short by shutdown.
    Cancelled,
}

impl RunOutcome {
    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            RunOutcome::Running => "running",
            RunOutcome::Ok => "ok",
            RunOutcome::Error => "error",
            RunOutcome::Cancelled => "cancelled",
        }
    }
}

impl std::fmt::Display for RunOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Compares with the stored text, so that `outcome == "ok"` reads as it did.
impl PartialEq<&str> for RunOutcome {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[derive(Debug, Clone, Default)]
pub struct RunSummary {
    pub outcome: RunOutcome,
    pub listed: i64,
    pub imported: i64,
    pub skipped: i64,
    pub too_large: i64,
    pub failed: i64,
    pub post_action_failures: i64,
    pub retries: i64,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub request_id: Option<String>,
    pub log: Vec<String>,
    /// The run stopped at its per-run cap with work left (not stored: the account is due
    /// again at once, behind every account already due).
    pub capped: bool,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Run {
    pub id: i64,
    pub account_id: String,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub outcome: RunOutcome,
    pub listed: i64,
    pub imported: i64,
    pub skipped: i64,
    pub too_large: i64,
    pub failed: i64,
    pub post_action_failures: i64,
    pub retries: i64,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub request_id: Option<String>,
    pub log: String,
    /// The instance that ran it (several instances may share the database).
    pub instance_id: Option<String>,
}

impl RunSummary {
    /// Whether the run history keeps this run: it imported, skipped or refused something,
    /// retried, failed or was cut short. An empty, error-free poll leaves no row (its
    /// figures go to the account, see [`super::schedule::record_poll`]).
    pub fn is_noteworthy(&self) -> bool {
        self.outcome != RunOutcome::Ok
            || self.imported > 0
            || self.too_large > 0
            || self.failed > 0
            || self.post_action_failures > 0
            || self.retries > 0
            || self.error_code.is_some()
    }
}

/// The log is capped so that a run with many retries cannot bloat the database.
const MAX_LOG_LINES: usize = 200;

/// Writes a finished run to the history (one row, written at its end) and drops the
/// account's oldest rows beyond `keep_per_account`. Returns the run's id; `None` (nothing
/// written) when `fence` no longer holds the mailbox's lease.
pub async fn record(
    db: &Db,
    fence: &super::leases::Fence,
    account_id: &str,
    started_at: i64,
    s: &RunSummary,
    keep_per_account: i64,
) -> sqlx::Result<Option<i64>> {
    let mut lines: Vec<&str> = s
        .log
        .iter()
        .map(String::as_str)
        .take(MAX_LOG_LINES)
        .collect();
    let more = s.log.len().saturating_sub(MAX_LOG_LINES);
    let tail = format!("… {more} more lines");
    if more > 0 {
        lines.push(&tail);
    }
    let mut tx = db.begin().await?;
    if !super::leases::lock_fence(&mut tx, fence).await? {
        return Ok(None);
    }
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO import_runs (account_id, started_at, finished_at, outcome, listed, imported,
            skipped, too_large, failed, post_action_failures, retries, error_code, error_message,
            request_id, log, instance_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
         RETURNING id",
    )
    .bind(account_id)
    .bind(started_at)
    .bind(now())
    .bind(s.outcome)
    .bind(s.listed)
    .bind(s.imported)
    .bind(s.skipped)
    .bind(s.too_large)
    .bind(s.failed)
    .bind(s.post_action_failures)
    .bind(s.retries)
    .bind(&s.error_code)
    .bind(&s.error_message)
    .bind(&s.request_id)
    .bind(lines.join("\n"))
    .bind(&fence.owner)
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query(
        "DELETE FROM import_runs WHERE account_id = $1 AND id < (
            SELECT id FROM import_runs WHERE account_id = $1 ORDER BY id DESC LIMIT 1 OFFSET $2)",
    )
    .bind(account_id)
    .bind(keep_per_account.max(1) - 1)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Some(id))
}

/// Deletes runs that started before `cutoff` (unix seconds), at most `batch` of them, so
/// that pruning never holds the write lock for long. Returns how many went.
pub async fn prune_started_before(db: &Db, cutoff: i64, batch: i64) -> sqlx::Result<u64> {
    Ok(sqlx::query(
        "DELETE FROM import_runs WHERE id IN (
            SELECT id FROM import_runs WHERE started_at < $1 ORDER BY started_at LIMIT $2)",
    )
    .bind(cutoff)
    .bind(batch)
    .execute(db)
    .await?
    .rows_affected())
}

const COLUMNS: &str = "id, account_id, started_at, finished_at, outcome, listed, imported, skipped, \
    too_large, failed, post_action_failures, retries, error_code, error_message, request_id, log, \
    instance_id";

pub async fn recent(db: &Db, account_id: &str, limit: i64) -> sqlx::Result<Vec<Run>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM import_runs WHERE account_id = $1 ORDER BY id DESC LIMIT $2"
    ))
    .bind(account_id)
    .bind(limit)
    .fetch_all(db)
    .await
}

pub async fn last(db: &Db, account_id: &str) -> sqlx::Result<Option<Run>> {
    Ok(recent(db, account_id, 1).await?.into_iter().next())
}

/// The latest recorded run of each of `account_ids` (the accounts list's page).
pub async fn last_of(
    db: &Db,
    account_ids: &[String],
) -> sqlx::Result<std::collections::HashMap<String, Run>> {
    let mut out = std::collections::HashMap::new();
    for chunk in account_ids.chunks(500) {
        let mut b = super::builder::QueryBuilder::new(format!(
            "SELECT {COLUMNS} FROM import_runs WHERE id IN (
                SELECT MAX(id) FROM import_runs WHERE account_id IN ("
        ));
        let mut list = b.separated(", ");
        for id in chunk {
            list.push_bind(id.as_str());
        }
        b.push(") GROUP BY account_id)");
        let runs: Vec<Run> = b.build_query_as().fetch_all(db).await?;
        out.extend(runs.into_iter().map(|r| (r.account_id.clone(), r)));
    }
    Ok(out)
}

/// Runs still marked running at start were cut short by a crash or kill.
pub async fn close_interrupted(db: &Db) -> sqlx::Result<u64> {
    Ok(sqlx::query(
        "UPDATE import_runs SET outcome = 'cancelled', finished_at = $1,
            error_message = COALESCE(error_message, 'Mailport stopped during this run; the next run goes on where it ended.')
         WHERE outcome = 'running'",
    )
    .bind(now())
    .execute(db)
    .await?
    .rows_affected())
}
