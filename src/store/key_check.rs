//! The check value of the master key: a known text encrypted with the key when the
//! database first met it, so that a start with another key is refused at once.

use super::{Db, now};

/// The sealed check value, if one was stored.
pub async fn get(db: &Db) -> sqlx::Result<Option<Vec<u8>>> {
    sqlx::query_scalar("SELECT sealed FROM key_check WHERE id = 1")
        .fetch_optional(db)
        .await
}

/// Stores the check value once; a value stored meanwhile by another process is kept.
pub async fn insert(db: &Db, sealed: &[u8]) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO key_check (id, sealed, created_at) VALUES (1, $1, $2) ON CONFLICT (id) DO NOTHING",
    )
    .bind(sealed)
    .bind(now())
    .execute(db)
    .await
    .map(|_| ())
}
