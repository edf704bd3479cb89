//! API keys for `/api/v1`.

use super::{Db, now};

pub async fn create(db: &Db, name: &str, key_hash: &str) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO api_keys (name, key_hash, created_at) VALUES ($1, $2, $3)")
        .bind(name)
        .bind(key_hash)
        .bind(now())
        .execute(db)
        .await
        .map(|_| ())
}

/// The key's name when the hash is known; records its use.
pub async fn authenticate(db: &Db, key_hash: &str) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar("UPDATE api_keys SET last_used_at = $1 WHERE key_hash = $2 RETURNING name")
        .bind(now())
        .bind(key_hash)
        .fetch_optional(db)
        .await
}
