//! The changes feed: events in import order, read by id (the feed's cursor). Written only by
//! the transactional outbox (`store::outbox`).

use super::Db;

/// One event of the feed.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Event {
    /// Increases in commit order: the position in the feed.
    pub id: i64,
    /// `message.imported`.
    #[sqlx(rename = "type")]
    pub kind: String,
    pub message_id: i64,
    pub account_id: String,
    /// The account's mailbox and folder when the message was imported.
    pub mailbox: Option<String>,
    pub folder: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
}

const COLUMNS: &str = "id, type, message_id, account_id, mailbox, folder, created_at";

/// Up to `limit` events with an id greater than `after`, oldest first.
pub async fn after(db: &Db, after: i64, limit: i64) -> sqlx::Result<Vec<Event>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM events WHERE id > $1 ORDER BY id LIMIT $2"
    ))
    .bind(after)
    .bind(limit)
    .fetch_all(db)
    .await
}

pub async fn get(db: &Db, id: i64) -> sqlx::Result<Option<Event>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM events WHERE id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await
}
