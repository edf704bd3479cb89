//! Mailbox leases, Run now requests across instances, the refresh claim on credentials, and
//! the instances' heartbeats: what lets several Mailport instances share one database.
//!
//! Portable SQL only (`$n` placeholders, `INSERT … ON CONFLICT … DO UPDATE … WHERE`,
//! `UPDATE … RETURNING`, integer unix milliseconds), the same on SQLite and PostgreSQL. A
//! claim is one statement, so two instances can never both win it: on SQLite writers are
//! serialised by the database lock, on PostgreSQL by the row lock the upsert takes.
//!
//! The lease key of an account is computed in SQL ([`LEASE_KEY`]) so that there is one
//! definition of "the same mailbox": the Graph URL plus the user, lower-cased and trimmed;
//! an account without a user (delegated `/me`) is keyed by its credential, whose signed-in
//! user it reads.

use super::Db;

/// The lease key of the account row aliased `a` (SQL expression).
pub const LEASE_KEY: &str = "(lower(trim(a.graph_url)) || ' ' || CASE WHEN trim(a.mailbox) = '' \
    THEN 'me:' || a.credential_id ELSE lower(trim(a.mailbox)) END)";

/// Who may write for a mailbox: the lease key, the instance and the fencing token it
/// claimed the lease with. A write carrying a fence succeeds only while that instance still
/// holds that lease with that token (checked in the same statement or transaction).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    pub lease_key: String,
    pub owner: String,
    /// Grows with every change of holder; `-1` never matches (no lease).
    pub token: i64,
}

impl Fence {
    /// A fence that no lease matches: writes carrying it change nothing.
    pub fn none(owner: &str) -> Self {
        Fence {
            lease_key: String::new(),
            owner: owner.to_string(),
            token: -1,
        }
    }
}

/// The SQL condition "the fence still holds", for a statement on `db` whose placeholders
/// `$a`, `$b`, `$c` bind the fence's key, owner and token ([`Fence`]). On PostgreSQL the
/// lease row is locked (`FOR SHARE`) as [`lock_fence`] does: the sub-select would otherwise
/// read the statement's snapshot, and a takeover committed while the write runs would not
/// stop it; locked, the write waits for the claim and re-checks the new row (and a claim
/// waits for the write). SQLite serialises writers, so the plain condition suffices there.
pub fn fence_holds(db: &Db, a: u8, b: u8, c: u8) -> String {
    let lock = match super::Backend::of(db) {
        super::Backend::Postgres => " FOR SHARE",
        super::Backend::Sqlite => "",
    };
    format!(
        "EXISTS (SELECT 1 FROM mailbox_leases WHERE lease_key = ${a} AND owner = ${b} \
         AND fencing_token = ${c}{lock})"
    )
}

/// Locks the fence's lease row inside `tx` and says whether the fence holds. Statements
/// that follow in the same transaction are safe from a takeover: a claim waits for the
/// commit (a no-op UPDATE takes SQLite's write lock and PostgreSQL's row lock).
pub async fn lock_fence(tx: &mut sqlx::AnyConnection, fence: &Fence) -> sqlx::Result<bool> {
    Ok(sqlx::query(
        "UPDATE mailbox_leases SET fencing_token = fencing_token
         WHERE lease_key = $1 AND owner = $2 AND fencing_token = $3",
    )
    .bind(&fence.lease_key)
    .bind(&fence.owner)
    .bind(fence.token)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1)
}

/// The lease key of an account, if it exists.
pub async fn key_of(db: &Db, account_id: &str) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar(&format!(
        "SELECT {LEASE_KEY} FROM email_accounts a WHERE a.id = $1"
    ))
    .bind(account_id)
    .fetch_optional(db)
    .await
}

/// Claims the lease of `key` for `owner` until `expires_at_ms`, when it is free, expired
/// (`expires_at_ms <= now_ms`) or already `owner`'s. Returns the new fencing token, or
/// `None` when another instance holds it. Every claim raises the token by one.
pub async fn claim(
    db: &Db,
    key: &str,
    owner: &str,
    now_ms: i64,
    expires_at_ms: i64,
) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar(
        "INSERT INTO mailbox_leases (lease_key, owner, expires_at_ms, fencing_token, claimed_at_ms)
         VALUES ($1, $2, $3, 1, $4)
         ON CONFLICT (lease_key) DO UPDATE SET owner = excluded.owner,
            expires_at_ms = excluded.expires_at_ms, claimed_at_ms = excluded.claimed_at_ms,
            fencing_token = mailbox_leases.fencing_token + 1
         WHERE mailbox_leases.owner IS NULL OR mailbox_leases.owner = excluded.owner
            OR mailbox_leases.expires_at_ms <= $4
         RETURNING fencing_token",
    )
    .bind(key)
    .bind(owner)
    .bind(expires_at_ms)
    .bind(now_ms)
    .fetch_optional(db)
    .await
}

/// The heartbeat: extends every lease `owner` still holds to `expires_at_ms`, and returns
/// them with their tokens. A lease missing from the answer was taken over.
pub async fn renew_all(
    db: &Db,
    owner: &str,
    expires_at_ms: i64,
) -> sqlx::Result<Vec<(String, i64)>> {
    sqlx::query_as(
        "UPDATE mailbox_leases SET expires_at_ms = $2 WHERE owner = $1
         RETURNING lease_key, fencing_token",
    )
    .bind(owner)
    .bind(expires_at_ms)
    .fetch_all(db)
    .await
}

/// Gives a lease up at once (graceful shutdown, rebalancing), if the fence still holds.
pub async fn release(db: &Db, fence: &Fence) -> sqlx::Result<bool> {
    Ok(sqlx::query(
        "UPDATE mailbox_leases SET owner = NULL, expires_at_ms = 0
         WHERE lease_key = $1 AND owner = $2 AND fencing_token = $3",
    )
    .bind(&fence.lease_key)
    .bind(&fence.owner)
    .bind(fence.token)
    .execute(db)
    .await?
    .rows_affected()
        > 0)
}

/// Gives up every lease of `owner` (graceful shutdown). Returns how many.
pub async fn release_all(db: &Db, owner: &str) -> sqlx::Result<u64> {
    Ok(
        sqlx::query("UPDATE mailbox_leases SET owner = NULL, expires_at_ms = 0 WHERE owner = $1")
            .bind(owner)
            .execute(db)
            .await?
            .rows_affected(),
    )
}

/// A lease as the account page shows it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Lease {
    pub lease_key: String,
    pub owner: Option<String>,
    pub expires_at_ms: i64,
    pub fencing_token: i64,
}

/// The lease of an account's mailbox, if one was ever claimed.
pub async fn of_account(db: &Db, account_id: &str) -> sqlx::Result<Option<Lease>> {
    sqlx::query_as(&format!(
        "SELECT l.lease_key, l.owner, l.expires_at_ms, l.fencing_token
         FROM email_accounts a JOIN mailbox_leases l ON l.lease_key = {LEASE_KEY}
         WHERE a.id = $1"
    ))
    .bind(account_id)
    .fetch_optional(db)
    .await
}

/// An account waiting to be polled, with its mailbox's lease key.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Due {
    pub id: String,
    /// When it became due (unix seconds).
    pub next_due_at: i64,
    pub lease_key: String,
}

/// The enabled accounts due at `now` whose mailbox `owner` holds or may claim (free,
/// expired at `now_ms`, or its own), oldest-due first, at most `limit`: one index range scan
/// (`email_accounts_due`) plus a lease lookup by key.
pub async fn due(
    db: &Db,
    owner: &str,
    now: i64,
    now_ms: i64,
    limit: i64,
) -> sqlx::Result<Vec<Due>> {
    sqlx::query_as(&format!(
        "SELECT a.id, a.next_due_at, {LEASE_KEY} AS lease_key FROM email_accounts a
         LEFT JOIN mailbox_leases l ON l.lease_key = {LEASE_KEY}
         WHERE a.enabled = 1 AND a.next_due_at <= $1
            AND (l.owner IS NULL OR l.owner = $2 OR l.expires_at_ms <= $3)
         ORDER BY a.next_due_at, a.id LIMIT $4"
    ))
    .bind(now)
    .bind(owner)
    .bind(now_ms)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// Run now on an instance that does not hold the mailbox: the holder starts the run.
pub async fn request_run(db: &Db, account_id: &str, now: i64) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE email_accounts SET run_requested_at = $2
         WHERE id = $1 AND run_requested_at IS NULL",
    )
    .bind(account_id)
    .bind(now)
    .execute(db)
    .await
    .map(|_| ())
}

/// The accounts with a pending Run now request whose mailbox `owner` holds or may claim.
pub async fn requested_runs(db: &Db, owner: &str, now_ms: i64) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar(&format!(
        "SELECT a.id FROM email_accounts a
         LEFT JOIN mailbox_leases l ON l.lease_key = {LEASE_KEY}
         WHERE a.run_requested_at IS NOT NULL
            AND (l.owner IS NULL OR l.owner = $1 OR l.expires_at_ms <= $2)
         ORDER BY a.run_requested_at, a.id LIMIT 100"
    ))
    .bind(owner)
    .bind(now_ms)
    .fetch_all(db)
    .await
}

/// A run started: its Run now request (if any) is served.
pub async fn clear_run_request(db: &Db, account_id: &str) -> sqlx::Result<()> {
    sqlx::query("UPDATE email_accounts SET run_requested_at = NULL WHERE id = $1")
        .bind(account_id)
        .execute(db)
        .await
        .map(|_| ())
}

/// How many distinct mailboxes the enabled accounts have (for each instance's fair share).
pub async fn mailbox_count(db: &Db) -> sqlx::Result<i64> {
    sqlx::query_scalar(&format!(
        "SELECT COUNT(DISTINCT {LEASE_KEY}) FROM email_accounts a WHERE a.enabled = 1"
    ))
    .fetch_one(db)
    .await
}

/// Records `id`'s heartbeat (creating its row), drops rows silent since `forget_before_ms`,
/// and returns how many instances beat since `alive_since_ms` (this one included).
pub async fn heartbeat(
    db: &Db,
    id: &str,
    version: &str,
    now_ms: i64,
    alive_since_ms: i64,
    forget_before_ms: i64,
) -> sqlx::Result<i64> {
    sqlx::query(
        "INSERT INTO instances (id, started_at, heartbeat_at_ms, version) VALUES ($1, $2, $3, $4)
         ON CONFLICT (id) DO UPDATE SET heartbeat_at_ms = excluded.heartbeat_at_ms",
    )
    .bind(id)
    .bind(now_ms / 1000)
    .bind(now_ms)
    .bind(version)
    .execute(db)
    .await?;
    sqlx::query("DELETE FROM instances WHERE heartbeat_at_ms < $1")
        .bind(forget_before_ms)
        .execute(db)
        .await?;
    sqlx::query_scalar("SELECT COUNT(*) FROM instances WHERE heartbeat_at_ms >= $1")
        .bind(alive_since_ms)
        .fetch_one(db)
        .await
}

/// Whether an instance other than `id` beat since `alive_since_ms`.
pub async fn others_alive(db: &Db, id: &str, alive_since_ms: i64) -> sqlx::Result<bool> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM instances WHERE id <> $1 AND heartbeat_at_ms >= $2",
    )
    .bind(id)
    .bind(alive_since_ms)
    .fetch_one(db)
    .await?;
    Ok(n > 0)
}

/// The instance stopped gracefully.
pub async fn forget_instance(db: &Db, id: &str) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM instances WHERE id = $1")
        .bind(id)
        .execute(db)
        .await
        .map(|_| ())
}

/// Claims the right to refresh credential `id`'s tokens for `owner` until
/// `expires_at_ms`: true when no other instance holds an unexpired claim. Two instances
/// never present the same refresh token while each refreshes only under its claim.
pub async fn claim_refresh(
    db: &Db,
    id: &str,
    owner: &str,
    now_ms: i64,
    expires_at_ms: i64,
) -> sqlx::Result<bool> {
    Ok(sqlx::query(
        "UPDATE credentials SET refresh_claimed_by = $2, refresh_claim_expires_at_ms = $3
         WHERE id = $1 AND (refresh_claimed_by IS NULL OR refresh_claimed_by = $2
            OR refresh_claim_expires_at_ms <= $4)",
    )
    .bind(id)
    .bind(owner)
    .bind(expires_at_ms)
    .bind(now_ms)
    .execute(db)
    .await?
    .rows_affected()
        > 0)
}

/// Ends `owner`'s refresh claim on credential `id`.
pub async fn release_refresh(db: &Db, id: &str, owner: &str) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE credentials SET refresh_claimed_by = NULL, refresh_claim_expires_at_ms = NULL
         WHERE id = $1 AND refresh_claimed_by = $2",
    )
    .bind(id)
    .bind(owner)
    .execute(db)
    .await
    .map(|_| ())
}
