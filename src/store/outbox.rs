//! The transactional outbox: an imported message's event and its webhook deliveries are
//! written by the same transaction that stores the message, so a stored message is never
//! without them, whatever crashes; and a wake-up signal for the tasks that read them.

use tokio::sync::Notify;

use super::now;

/// The event type of a newly imported message.
pub const MESSAGE_IMPORTED: &str = "message.imported";

/// Woken after every commit that wrote events: the webhook sender and long-polling feed
/// readers wait on it. A hint only (readers also poll, since another process such as
/// `mailport import` may write to the same database); one signal for the whole process, so a
/// spurious wake-up in a process with several databases (the tests) costs one query.
static WRITTEN: Notify = Notify::const_new();

/// Wakes everyone waiting in [`written`].
pub fn notify_written() {
    WRITTEN.notify_waiters();
}

/// Resolves at the next [`notify_written`]. Create (and `enable`) it before reading the
/// database, so that a commit between the read and the wait is not missed.
pub fn written() -> tokio::sync::futures::Notified<'static> {
    WRITTEN.notified()
}

/// The PostgreSQL advisory lock key that orders event inserts ("mp-event" in ASCII).
const EVENTS_LOCK: i64 = 0x6d70_2d65_7665_6e74;

/// Within the message's own transaction: records its `message.imported` event (with the
/// account's mailbox and folder as they are now) and a pending delivery for every enabled
/// endpoint that receives the account's mail. Returns the event id.
pub async fn enqueue_imported(
    conn: &mut sqlx::AnyConnection,
    message_id: i64,
    account_id: &str,
) -> sqlx::Result<i64> {
    let at = now();
    if super::Backend::of_conn(conn) == super::Backend::Postgres {
        // The changes feed's cursor is the event id: events must become visible in id
        // order. SQLite runs one writer at a time; on PostgreSQL this lock, held until the
        // transaction ends, serialises event inserts (see migrations/0007_webhooks.sql).
        sqlx::query("SELECT 1 FROM pg_advisory_xact_lock($1)")
            .bind(EVENTS_LOCK)
            .execute(&mut *conn)
            .await?;
    }
    let event_id: i64 = sqlx::query_scalar(
        "INSERT INTO events (type, message_id, account_id, mailbox, folder, created_at)
         VALUES ($1, $2, $3,
            (SELECT mailbox FROM email_accounts WHERE id = $3),
            (SELECT folder FROM email_accounts WHERE id = $3), $4)
         RETURNING id",
    )
    .bind(MESSAGE_IMPORTED)
    .bind(message_id)
    .bind(account_id)
    .bind(at)
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO webhook_deliveries (endpoint_id, event_id, status, next_attempt_at, created_at)
         SELECT e.id, $1, 'pending', $2, $2 FROM webhook_endpoints e
         WHERE e.enabled = 1 AND (e.all_accounts = 1 OR EXISTS (
            SELECT 1 FROM webhook_endpoint_accounts a
            WHERE a.endpoint_id = e.id AND a.account_id = $3))",
    )
    .bind(event_id)
    .bind(at)
    .bind(account_id)
    .execute(&mut *conn)
    .await?;
    Ok(event_id)
}
