//! Failed sign-ins and wrong API keys, counted in the database so that every instance
//! sharing it refuses the same guesser (the rules live in `web/login_limit.rs`).
//!
//! A count covers a window that starts with its first failure: [`count`] adds one to a
//! count whose window is still open, or starts a new window. Portable SQL (upserts with
//! `RETURNING`, `IS DISTINCT FROM`), the same on SQLite and PostgreSQL. A sign-in's
//! counts are taken in one transaction whose first statement writes, so concurrent
//! attempts are serialised (SQLite's write lock, PostgreSQL's row locks) and a burst cannot
//! slip through between a check and a count.

use super::Db;

/// What a count is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// One user name from one address.
    Pair,
    /// One address, any names.
    Address,
    /// One user name, any addresses.
    Name,
    /// Wrong API keys from one address.
    ApiKey,
}

impl Scope {
    fn as_str(self) -> &'static str {
        match self {
            Scope::Pair => "pair",
            Scope::Address => "address",
            Scope::Name => "name",
            Scope::ApiKey => "api_key",
        }
    }
}

/// A count after a change: failures in the window, and when the window started (unix ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Count {
    pub failures: i64,
    pub window_start_ms: i64,
}

/// A transaction of failure counts (see the module docs for why its first statement writes).
pub type Tx = sqlx::Transaction<'static, sqlx::Any>;

/// Starts a transaction for one sign-in attempt's counts, forgetting the counts of `name`
/// (its own and its pairs') when they were taken under another session generation than
/// `generation` (the password was reset since). This first statement takes the write lock.
pub async fn begin_attempt(db: &Db, name: &str, generation: Option<i64>) -> sqlx::Result<Tx> {
    let mut tx = db.begin().await?;
    sqlx::query(
        "DELETE FROM auth_failures WHERE name = $1 AND EXISTS (
            SELECT 1 FROM auth_failures n WHERE n.scope = 'name' AND n.subject = $1
                AND n.generation IS DISTINCT FROM $2)",
    )
    .bind(name)
    .bind(generation)
    .execute(&mut *tx)
    .await?;
    Ok(tx)
}

/// Adds a failure to `scope`/`subject` at `now_ms`, starting a new window when the last
/// one (of `window_ms`) has ended. `name` and `generation` are kept on the row (see the
/// table's comment). Returns the count after the change.
pub async fn count(
    conn: &mut sqlx::AnyConnection,
    scope: Scope,
    subject: &str,
    name: Option<&str>,
    generation: Option<i64>,
    now_ms: i64,
    window_ms: i64,
) -> sqlx::Result<Count> {
    let (failures, window_start_ms) = sqlx::query_as(
        "INSERT INTO auth_failures (scope, subject, name, failures, window_start_ms, generation)
         VALUES ($1, $2, $3, 1, $4, $6)
         ON CONFLICT (scope, subject) DO UPDATE SET
            failures = CASE WHEN auth_failures.window_start_ms <= $4 - $5 THEN 1
                ELSE auth_failures.failures + 1 END,
            window_start_ms = CASE WHEN auth_failures.window_start_ms <= $4 - $5 THEN $4
                ELSE auth_failures.window_start_ms END,
            generation = excluded.generation
         RETURNING failures, window_start_ms",
    )
    .bind(scope.as_str())
    .bind(subject)
    .bind(name)
    .bind(now_ms)
    .bind(window_ms)
    .bind(generation)
    .fetch_one(&mut *conn)
    .await?;
    Ok(Count {
        failures,
        window_start_ms,
    })
}

/// The count of `scope`/`subject` whose window (of `window_ms`) is open at `now_ms`.
pub async fn current(
    db: &Db,
    scope: Scope,
    subject: &str,
    now_ms: i64,
    window_ms: i64,
) -> sqlx::Result<Option<Count>> {
    let row: Option<(i64, i64)> = sqlx::query_as(
        "SELECT failures, window_start_ms FROM auth_failures
         WHERE scope = $1 AND subject = $2 AND window_start_ms > $3 - $4",
    )
    .bind(scope.as_str())
    .bind(subject)
    .bind(now_ms)
    .bind(window_ms)
    .fetch_optional(db)
    .await?;
    Ok(row.map(|(failures, window_start_ms)| Count {
        failures,
        window_start_ms,
    }))
}

/// Adds a failure outside a sign-in transaction (a wrong API key).
pub async fn count_one(
    db: &Db,
    scope: Scope,
    subject: &str,
    now_ms: i64,
    window_ms: i64,
) -> sqlx::Result<Count> {
    let mut conn = db.acquire().await?;
    count(&mut conn, scope, subject, None, None, now_ms, window_ms).await
}

/// A successful sign-in: the pair's count is cleared and the attempt taken back from the
/// address's and the name's counts.
pub async fn record_success(db: &Db, pair: &str, address: &str, name: &str) -> sqlx::Result<()> {
    let mut tx = db.begin().await?;
    sqlx::query("DELETE FROM auth_failures WHERE scope = 'pair' AND subject = $1")
        .bind(pair)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "UPDATE auth_failures SET failures = failures - 1
         WHERE failures > 0 AND ((scope = 'address' AND subject = $1)
            OR (scope = 'name' AND subject = $2))",
    )
    .bind(address)
    .bind(name)
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

/// Deletes counts whose window started before `before_ms`; returns how many.
pub async fn delete_expired(db: &Db, before_ms: i64) -> sqlx::Result<u64> {
    Ok(
        sqlx::query("DELETE FROM auth_failures WHERE window_start_ms < $1")
            .bind(before_ms)
            .execute(db)
            .await?
            .rows_affected(),
    )
}
