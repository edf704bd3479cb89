//! Webhook endpoints, their deliveries (the outbox rows written by `store::outbox`) and the
//! attempt log.

use super::{Db, now};

/// What is sent to an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload {
    /// `application/json`: the event with the message's fields, bodies and attachment links.
    Json,
    /// `message/rfc822`: the exact `.eml` bytes.
    Raw,
}

impl Payload {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "json" => Some(Payload::Json),
            "raw" => Some(Payload::Raw),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Payload::Json => "json",
            Payload::Raw => "raw",
        }
    }
}

/// An endpoint's settings, as the administrator gives them.
#[derive(Debug, Clone)]
pub struct Settings {
    pub id: String,
    pub description: String,
    pub url: String,
    /// `None`: every account's mail; otherwise only these accounts'.
    pub accounts: Option<Vec<String>>,
    pub payload: Payload,
    /// `json` only: attachments up to this many MB are inlined as base64; 0 = links only.
    pub include_attachments_mb: i64,
    pub enabled: bool,
}

/// A stored endpoint. The secrets are ciphertexts (see [`secret_context`]).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Endpoint {
    pub id: String,
    pub description: String,
    pub url: String,
    #[sqlx(try_from = "super::Flag")]
    pub all_accounts: bool,
    pub payload: String,
    pub include_attachments_mb: i64,
    #[sqlx(try_from = "super::Flag")]
    pub enabled: bool,
    /// `gone` when a 410 answer disabled it.
    pub disabled_reason: Option<String>,
    pub uid: String,
    pub secret: Vec<u8>,
    pub previous_secret: Option<Vec<u8>>,
    pub previous_secret_until: Option<i64>,
    pub paused_until: Option<i64>,
    pub last_success_at: Option<i64>,
    pub last_failure_at: Option<i64>,
    pub failing_since: Option<i64>,
    /// Successful attempts so far (a redelivery that lands counts again).
    pub delivered_total: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Endpoint {
    pub fn payload(&self) -> Payload {
        Payload::parse(&self.payload).unwrap_or(Payload::Json)
    }

    /// The previous secret while it is still valid at `at`.
    pub fn valid_previous_secret(&self, at: i64) -> Option<&[u8]> {
        match (&self.previous_secret, self.previous_secret_until) {
            (Some(s), Some(until)) if until > at => Some(s),
            _ => None,
        }
    }
}

/// The associated data that binds an endpoint's secret ciphertexts to it (`crypto.rs`).
pub fn secret_context(endpoint_id: &str) -> String {
    format!("webhook/{endpoint_id}/secret")
}

const ENDPOINT_COLUMNS: &str = "id, description, url, all_accounts, payload, include_attachments_mb, \
    enabled, disabled_reason, uid, secret, previous_secret, previous_secret_until, paused_until, \
    last_success_at, last_failure_at, failing_since, delivered_total, created_at, updated_at";

pub async fn list(db: &Db) -> sqlx::Result<Vec<Endpoint>> {
    sqlx::query_as(&format!(
        "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints ORDER BY id"
    ))
    .fetch_all(db)
    .await
}

pub async fn get(db: &Db, id: &str) -> sqlx::Result<Option<Endpoint>> {
    sqlx::query_as(&format!(
        "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(db)
    .await
}

/// The accounts an endpoint is limited to (empty for an all-accounts endpoint).
pub async fn accounts_of(db: &Db, id: &str) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar(
        "SELECT account_id FROM webhook_endpoint_accounts WHERE endpoint_id = $1 ORDER BY account_id",
    )
    .bind(id)
    .fetch_all(db)
    .await
}

/// Creates an endpoint with its (encrypted) secret. Fails with a unique violation when the
/// id is taken.
pub async fn insert(db: &Db, s: &Settings, uid: &str, secret: &[u8]) -> sqlx::Result<()> {
    let mut tx = db.begin().await?;
    let at = now();
    sqlx::query(
        "INSERT INTO webhook_endpoints (id, description, url, all_accounts, payload,
            include_attachments_mb, enabled, uid, secret, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
    )
    .bind(&s.id)
    .bind(&s.description)
    .bind(&s.url)
    .bind(i64::from(s.accounts.is_none()))
    .bind(s.payload.as_str())
    .bind(s.include_attachments_mb)
    .bind(i64::from(s.enabled))
    .bind(uid)
    .bind(secret)
    .bind(at)
    .execute(&mut *tx)
    .await?;
    replace_accounts(&mut tx, &s.id, s.accounts.as_deref()).await?;
    tx.commit().await
}

/// Saves new settings. Enabling an endpoint clears a 410's `disabled_reason`.
pub async fn update(db: &Db, s: &Settings) -> sqlx::Result<()> {
    let mut tx = db.begin().await?;
    sqlx::query(
        "UPDATE webhook_endpoints SET description = $2, url = $3, all_accounts = $4, payload = $5,
            include_attachments_mb = $6, enabled = $7,
            disabled_reason = CASE WHEN $7 = 1 THEN NULL ELSE disabled_reason END,
            paused_until = CASE WHEN url = $3 THEN paused_until ELSE NULL END,
            updated_at = $8
         WHERE id = $1",
    )
    .bind(&s.id)
    .bind(&s.description)
    .bind(&s.url)
    .bind(i64::from(s.accounts.is_none()))
    .bind(s.payload.as_str())
    .bind(s.include_attachments_mb)
    .bind(i64::from(s.enabled))
    .bind(now())
    .execute(&mut *tx)
    .await?;
    replace_accounts(&mut tx, &s.id, s.accounts.as_deref()).await?;
    tx.commit().await
}

async fn replace_accounts(
    tx: &mut sqlx::AnyConnection,
    endpoint_id: &str,
    accounts: Option<&[String]>,
) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM webhook_endpoint_accounts WHERE endpoint_id = $1")
        .bind(endpoint_id)
        .execute(&mut *tx)
        .await?;
    for account in accounts.unwrap_or_default() {
        sqlx::query(
            "INSERT INTO webhook_endpoint_accounts (endpoint_id, account_id) VALUES ($1, $2)
             ON CONFLICT DO NOTHING",
        )
        .bind(endpoint_id)
        .bind(account)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

/// Deletes an endpoint with its deliveries and attempt log.
pub async fn delete(db: &Db, id: &str) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM webhook_endpoints WHERE id = $1")
        .bind(id)
        .execute(db)
        .await
        .map(|_| ())
}

/// Makes `secret` the signing secret; the current one stays valid until `previous_until`.
pub async fn rotate_secret(
    db: &Db,
    id: &str,
    secret: &[u8],
    previous_until: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE webhook_endpoints SET previous_secret = secret, previous_secret_until = $3,
            secret = $2, updated_at = $4 WHERE id = $1",
    )
    .bind(id)
    .bind(secret)
    .bind(previous_until)
    .bind(now())
    .execute(db)
    .await
    .map(|_| ())
}

/// The outbox numbers of one endpoint.
#[derive(Debug, Clone, Default, sqlx::FromRow)]
pub struct Backlog {
    pub endpoint_id: String,
    /// Deliveries not delivered yet and still being tried (pending or failed).
    pub waiting: i64,
    /// Creation time of the oldest of them.
    pub oldest_waiting_at: Option<i64>,
    /// Deliveries whose retry schedule ran out.
    pub dead: i64,
}

/// [`Backlog`] of every endpoint that has undelivered deliveries. Reads only those (through
/// an index), never the delivered ones, which grow without end.
pub async fn backlogs(db: &Db) -> sqlx::Result<Vec<Backlog>> {
    sqlx::query_as(
        "SELECT endpoint_id,
            SUM(CASE WHEN status IN ('pending', 'failed') THEN 1 ELSE 0 END) AS waiting,
            MIN(CASE WHEN status IN ('pending', 'failed') THEN created_at END) AS oldest_waiting_at,
            SUM(CASE WHEN status = 'dead' THEN 1 ELSE 0 END) AS dead
         FROM webhook_deliveries WHERE status IN ('pending', 'failed', 'dead')
         GROUP BY endpoint_id",
    )
    .fetch_all(db)
    .await
}

/// Endpoints that may be sent to now (enabled, not paused) and have a delivery due.
pub async fn endpoints_due(db: &Db, at: i64) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar(
        "SELECT e.id FROM webhook_endpoints e
         WHERE e.enabled = 1 AND (e.paused_until IS NULL OR e.paused_until <= $1)
           AND EXISTS (SELECT 1 FROM webhook_deliveries d
                WHERE d.endpoint_id = e.id AND d.status IN ('pending', 'failed')
                  AND d.next_attempt_at <= $1)
         ORDER BY e.id",
    )
    .bind(at)
    .fetch_all(db)
    .await
}

/// A delivery that is due, with its event.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DueDelivery {
    pub id: i64,
    pub event_id: i64,
    pub attempts: i64,
    pub failures: i64,
    #[sqlx(try_from = "super::Flag")]
    pub manual: bool,
}

/// Up to `limit` due deliveries of an endpoint, oldest first.
pub async fn due(
    db: &Db,
    endpoint_id: &str,
    at: i64,
    limit: i64,
) -> sqlx::Result<Vec<DueDelivery>> {
    sqlx::query_as(
        "SELECT id, event_id, attempts, failures, manual FROM webhook_deliveries
         WHERE endpoint_id = $1 AND status IN ('pending', 'failed') AND next_attempt_at <= $2
         ORDER BY next_attempt_at, id LIMIT $3",
    )
    .bind(endpoint_id)
    .bind(at)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// What one attempt ended in.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub delivery_id: i64,
    pub endpoint_id: String,
    /// Unix seconds when it was sent.
    pub at: i64,
    pub duration_ms: i64,
    pub status_code: Option<u16>,
    /// The first bytes of the answer, as text.
    pub response_excerpt: Option<String>,
    pub error: Option<String>,
    pub manual: bool,
    pub then: Then,
}

/// What becomes of the delivery after an attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum Then {
    Delivered,
    /// Tried again at `at`; `failures` is the new position on the retry schedule.
    Retry {
        at: i64,
        failures: i64,
    },
    /// The retry schedule ran out.
    Dead {
        failures: i64,
    },
    /// The receiver answered 410: the endpoint is disabled and the delivery waits for it.
    Gone,
    /// A 429 or 503 with Retry-After: the endpoint pauses until `until`, the delivery is
    /// tried again then, and the schedule does not move on.
    Paused {
        until: i64,
    },
}

/// Logs an attempt and moves the delivery and its endpoint on, in one transaction. Does
/// nothing when the delivery no longer exists (its endpoint was deleted meanwhile).
pub async fn record_attempt(db: &Db, a: &Attempt) -> sqlx::Result<()> {
    record_attempts(db, std::slice::from_ref(a)).await
}

/// [`record_attempt`] for several attempts in one transaction (one turn at SQLite's single
/// writer instead of one each).
pub async fn record_attempts(db: &Db, attempts: &[Attempt]) -> sqlx::Result<()> {
    let mut tx = db.begin().await?;
    for a in attempts {
        record_in(&mut tx, a).await?;
    }
    tx.commit().await
}

async fn record_in(tx: &mut sqlx::AnyConnection, a: &Attempt) -> sqlx::Result<()> {
    let (status, next_at, failures, delivered_at): (&str, i64, Option<i64>, Option<i64>) =
        match &a.then {
            Then::Delivered => ("delivered", a.at, None, Some(a.at)),
            Then::Retry { at, failures } => ("failed", *at, Some(*failures), None),
            Then::Dead { failures } => ("dead", a.at, Some(*failures), None),
            Then::Gone => ("failed", a.at, None, None),
            Then::Paused { until } => ("failed", *until, None, None),
        };
    let updated = sqlx::query(
        "UPDATE webhook_deliveries SET status = $2, attempts = attempts + 1,
            failures = COALESCE($3, failures), next_attempt_at = $4, last_attempt_at = $5,
            last_status_code = $6, last_error = $7, delivered_at = COALESCE($8, delivered_at),
            manual = 0
         WHERE id = $1",
    )
    .bind(a.delivery_id)
    .bind(status)
    .bind(failures)
    .bind(next_at)
    .bind(a.at)
    .bind(a.status_code.map(i64::from))
    .bind(&a.error)
    .bind(delivered_at)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if updated == 0 {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO webhook_attempts (delivery_id, attempted_at, duration_ms, status_code,
            response_excerpt, error, trigger_kind)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(a.delivery_id)
    .bind(a.at)
    .bind(a.duration_ms)
    .bind(a.status_code.map(i64::from))
    .bind(&a.response_excerpt)
    .bind(&a.error)
    .bind(if a.manual { "manual" } else { "schedule" })
    .execute(&mut *tx)
    .await?;
    let endpoint_update = match &a.then {
        Then::Delivered => {
            "UPDATE webhook_endpoints SET last_success_at = $2, failing_since = NULL,
                delivered_total = delivered_total + 1 WHERE id = $1"
        }
        Then::Gone => {
            "UPDATE webhook_endpoints SET last_failure_at = $2, failing_since = COALESCE(failing_since, $2),
                enabled = 0, disabled_reason = 'gone' WHERE id = $1"
        }
        Then::Paused { .. } => {
            "UPDATE webhook_endpoints SET last_failure_at = $2, failing_since = COALESCE(failing_since, $2),
                paused_until = CASE WHEN paused_until IS NULL OR paused_until < $3 THEN $3
                    ELSE paused_until END WHERE id = $1"
        }
        Then::Retry { .. } | Then::Dead { .. } => {
            "UPDATE webhook_endpoints SET last_failure_at = $2, failing_since = COALESCE(failing_since, $2)
             WHERE id = $1"
        }
    };
    let until = match &a.then {
        Then::Paused { until } => *until,
        _ => 0,
    };
    sqlx::query(endpoint_update)
        .bind(&a.endpoint_id)
        .bind(a.at)
        .bind(until)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// A delivery as the log shows it, with its message's subject.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Delivery {
    pub id: i64,
    pub endpoint_id: String,
    pub event_id: i64,
    pub event_type: String,
    pub message_id: i64,
    pub subject: Option<String>,
    pub status: String,
    pub attempts: i64,
    pub failures: i64,
    pub next_attempt_at: i64,
    pub created_at: i64,
    pub last_attempt_at: Option<i64>,
    pub last_status_code: Option<i64>,
    pub last_error: Option<String>,
    pub delivered_at: Option<i64>,
}

const DELIVERY_SELECT: &str = "SELECT d.id, d.endpoint_id, d.event_id, ev.type AS event_type, \
    ev.message_id, m.subject, d.status, d.attempts, d.failures, d.next_attempt_at, d.created_at, \
    d.last_attempt_at, d.last_status_code, d.last_error, d.delivered_at \
    FROM webhook_deliveries d JOIN events ev ON ev.id = d.event_id \
    LEFT JOIN messages m ON m.id = ev.message_id";

/// Which deliveries a log page shows: newest first, optionally of one status, before an id.
#[derive(Debug, Clone, Default)]
pub struct DeliveryFilter {
    pub status: Option<String>,
    /// Only deliveries with a smaller id (the next page).
    pub before: Option<i64>,
    pub limit: i64,
}

pub async fn deliveries(
    db: &Db,
    endpoint_id: &str,
    f: &DeliveryFilter,
) -> sqlx::Result<Vec<Delivery>> {
    sqlx::query_as(&format!(
        "{DELIVERY_SELECT} WHERE d.endpoint_id = $1 AND ($2 IS NULL OR d.status = $2)
            AND ($3 IS NULL OR d.id < $3)
         ORDER BY d.id DESC LIMIT $4"
    ))
    .bind(endpoint_id)
    .bind(&f.status)
    .bind(f.before)
    .bind(f.limit)
    .fetch_all(db)
    .await
}

pub async fn delivery(db: &Db, endpoint_id: &str, id: i64) -> sqlx::Result<Option<Delivery>> {
    sqlx::query_as(&format!(
        "{DELIVERY_SELECT} WHERE d.endpoint_id = $1 AND d.id = $2"
    ))
    .bind(endpoint_id)
    .bind(id)
    .fetch_optional(db)
    .await
}

/// One logged attempt.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AttemptRow {
    pub delivery_id: i64,
    pub attempted_at: i64,
    pub duration_ms: i64,
    pub status_code: Option<i64>,
    pub response_excerpt: Option<String>,
    pub error: Option<String>,
    pub trigger_kind: String,
}

/// The attempts of these deliveries, oldest first.
pub async fn attempts(db: &Db, delivery_ids: &[i64]) -> sqlx::Result<Vec<AttemptRow>> {
    if delivery_ids.is_empty() {
        return Ok(Vec::new());
    }
    // The ids are integers from the database, so listing them inline is safe.
    let list = delivery_ids
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(",");
    sqlx::query_as(&format!(
        "SELECT delivery_id, attempted_at, duration_ms, status_code, response_excerpt, error,
            trigger_kind FROM webhook_attempts WHERE delivery_id IN ({list}) ORDER BY id"
    ))
    .fetch_all(db)
    .await
}

/// Sends one delivery again as soon as possible, whatever its status, and starts its retry
/// schedule afresh. Returns false when the endpoint has no such delivery.
pub async fn redeliver(db: &Db, endpoint_id: &str, id: i64) -> sqlx::Result<bool> {
    let n = sqlx::query(
        "UPDATE webhook_deliveries SET status = 'pending', failures = 0, next_attempt_at = $3,
            manual = 1 WHERE endpoint_id = $1 AND id = $2",
    )
    .bind(endpoint_id)
    .bind(id)
    .bind(now())
    .execute(db)
    .await?
    .rows_affected();
    Ok(n > 0)
}

/// [`redeliver`] for every failed or dead delivery of an endpoint; how many.
pub async fn redeliver_failed(db: &Db, endpoint_id: &str) -> sqlx::Result<u64> {
    Ok(sqlx::query(
        "UPDATE webhook_deliveries SET status = 'pending', failures = 0, next_attempt_at = $2,
            manual = 1 WHERE endpoint_id = $1 AND status IN ('failed', 'dead')",
    )
    .bind(endpoint_id)
    .bind(now())
    .execute(db)
    .await?
    .rows_affected())
}

/// Queues every message of the endpoint's accounts received (or, without a date, imported)
/// at or after `since` that the endpoint has no delivery of yet; how many were queued.
pub async fn queue_existing_since(db: &Db, endpoint_id: &str, since: i64) -> sqlx::Result<u64> {
    let at = now();
    Ok(sqlx::query(
        "INSERT INTO webhook_deliveries (endpoint_id, event_id, status, next_attempt_at, created_at)
         SELECT e.id, ev.id, 'pending', $3, $3
         FROM webhook_endpoints e JOIN events ev ON ev.type = 'message.imported'
         JOIN messages m ON m.id = ev.message_id
         WHERE e.id = $1 AND COALESCE(m.received_at, m.imported_at) >= $2
           AND (e.all_accounts = 1 OR EXISTS (SELECT 1 FROM webhook_endpoint_accounts a
                WHERE a.endpoint_id = e.id AND a.account_id = ev.account_id))
         ORDER BY ev.id
         ON CONFLICT (endpoint_id, event_id) DO NOTHING",
    )
    .bind(endpoint_id)
    .bind(since)
    .bind(at)
    .execute(db)
    .await?
    .rows_affected())
}
