//! API keys for `/api/v1`, each with a scope: `read` or `admin`.

use super::{Db, now};

/// What an API key may do. Keys made before scopes existed are `read`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ApiScope {
    /// Every GET of the API.
    #[default]
    Read,
    /// Also the write operations (creating, changing, deleting, enabling accounts).
    Admin,
}

impl ApiScope {
    pub fn as_str(self) -> &'static str {
        match self {
            ApiScope::Read => "read",
            ApiScope::Admin => "admin",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "read" => Some(ApiScope::Read),
            "admin" => Some(ApiScope::Admin),
            _ => None,
        }
    }
}

/// Creates a read-only key.
pub async fn create(db: &Db, name: &str, key_hash: &str) -> sqlx::Result<()> {
    create_with_scope(db, name, key_hash, ApiScope::Read).await
}

/// Creates a key with the given scope.
pub async fn create_with_scope(
    db: &Db,
    name: &str,
    key_hash: &str,
    scope: ApiScope,
) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO api_keys (name, key_hash, created_at, scope) VALUES ($1, $2, $3, $4)")
        .bind(name)
        .bind(key_hash)
        .bind(now())
        .bind(scope.as_str())
        .execute(db)
        .await
        .map(|_| ())
}

/// The key's name and scope when the hash is known; records its use.
pub async fn authenticate(db: &Db, key_hash: &str) -> sqlx::Result<Option<(String, ApiScope)>> {
    let row: Option<(String, String)> = sqlx::query_as(
        "UPDATE api_keys SET last_used_at = $1 WHERE key_hash = $2 RETURNING name, scope",
    )
    .bind(now())
    .bind(key_hash)
    .fetch_optional(db)
    .await?;
    // The CHECK constraint keeps other values out; read is the safe fallback.
    Ok(row.map(|(name, scope)| (name, ApiScope::parse(&scope).unwrap_or_default())))
}

/// An API key as the Settings page lists it (never the key or its hash).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ApiKey {
    pub id: i64,
    pub name: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    /// `read` or `admin`.
    pub scope: String,
}

/// Every key, newest first.
pub async fn list(db: &Db) -> sqlx::Result<Vec<ApiKey>> {
    sqlx::query_as(
        "SELECT id, name, created_at, last_used_at, scope FROM api_keys ORDER BY created_at DESC, id DESC",
    )
    .fetch_all(db)
    .await
}

pub async fn get(db: &Db, id: i64) -> sqlx::Result<Option<ApiKey>> {
    sqlx::query_as("SELECT id, name, created_at, last_used_at, scope FROM api_keys WHERE id = $1")
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
