//! Administrators.

use super::{Db, now};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub password_hash: String,
}

pub async fn count(db: &Db) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(db)
        .await
}

pub async fn find_by_username(db: &Db, username: &str) -> sqlx::Result<Option<User>> {
    sqlx::query_as("SELECT id, username, password_hash FROM users WHERE username = $1")
        .bind(username)
        .fetch_optional(db)
        .await
}

pub async fn find_by_id(db: &Db, id: i64) -> sqlx::Result<Option<User>> {
    sqlx::query_as("SELECT id, username, password_hash FROM users WHERE id = $1")
        .bind(id)
        .fetch_optional(db)
        .await
}

/// Creates the user or replaces its password. Returns the user id.
pub async fn upsert(db: &Db, username: &str, password_hash: &str) -> sqlx::Result<i64> {
    let t = now();
    sqlx::query_scalar(
        "INSERT INTO users (username, password_hash, created_at, updated_at) VALUES ($1, $2, $3, $3)
         ON CONFLICT (username) DO UPDATE SET password_hash = excluded.password_hash, updated_at = excluded.updated_at
         RETURNING id",
    )
    .bind(username)
    .bind(password_hash)
    .bind(t)
    .fetch_one(db)
    .await
}
