//! The import run log: one row per run of an account, with its counts and error.

use super::{Db, now};

#[derive(Debug, Clone, Default)]
pub struct RunSummary {
    /// ok | error | cancelled
    pub outcome: String,
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
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Run {
    pub id: i64,
    pub account_id: String,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub outcome: String,
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
}

pub async fn start(db: &Db, account_id: &str) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "INSERT INTO import_runs (account_id, started_at) VALUES ($1, $2) RETURNING id",
    )
    .bind(account_id)
    .bind(now())
    .fetch_one(db)
    .await
}

/// The log is capped so that a run with many retries cannot bloat the database.
const MAX_LOG_LINES: usize = 200;

pub async fn finish(db: &Db, run_id: i64, s: &RunSummary) -> sqlx::Result<()> {
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
    sqlx::query(
        "UPDATE import_runs SET finished_at = $2, outcome = $3, listed = $4, imported = $5,
            skipped = $6, too_large = $7, failed = $8, post_action_failures = $9, retries = $10,
            error_code = $11, error_message = $12, request_id = $13, log = $14
         WHERE id = $1",
    )
    .bind(run_id)
    .bind(now())
    .bind(&s.outcome)
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
    .execute(db)
    .await
    .map(|_| ())
}

const COLUMNS: &str = "id, account_id, started_at, finished_at, outcome, listed, imported, skipped, \
    too_large, failed, post_action_failures, retries, error_code, error_message, request_id, log";

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

/// The last run that ran to its end (ok or error): the poll interval counts from it. Runs
/// cut short by a shutdown or crash do not count, so their work resumes at once.
pub async fn last_completed(db: &Db, account_id: &str) -> sqlx::Result<Option<Run>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM import_runs WHERE account_id = $1 AND outcome IN ('ok', 'error')
         ORDER BY id DESC LIMIT 1"
    ))
    .bind(account_id)
    .fetch_optional(db)
    .await
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
