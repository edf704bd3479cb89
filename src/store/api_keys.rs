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

/// An API key as the Settings page lists it (never the key or its hash).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ApiKey {
    pub id: i64,
    pub name: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

/// Every key, newest first.
pub async fn list(db: &Db) -> sqlx::Result<Vec<ApiKey>> {
    sqlx::query_as(
        "SELECT id, name, created_at, last_used_at FROM api_keys ORDER BY created_at DESC, id DESC",
    )
    .fetch_all(db)
    .await
}

pub async fn get(db: &Db, id: i64) -> sqlx::Result<Option<ApiKey>> {
    sqlx::query_as("SELECT id, name, created_at, last_used_at FROM api_keys WHERE id = $1")
        .bind(id)
        .fetch_optional(db)
        .await
}

/// Revokes a key; true when it existed.
pub async fn delete(db: &Db, id: i64) -> sqlx::Result<bool> {
    sqlx::query("DELETE FROM api_keys WHERE id = $1")
        .bind(id)
        .execute(db)
        .await
        .map(|r| r.rows_affected() > 0)
}
