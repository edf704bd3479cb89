//! Administrators, and the session generation that ends all of a user's sessions at once.

use super::{Db, now};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub password_hash: String,
    /// Sessions signed in under another generation are over (OWASP ASVS 4.0.3, 3.3.3).
    pub session_generation: i64,
}

const COLUMNS: &str = "id, username, password_hash, session_generation";

pub async fn count(db: &Db) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(db)
        .await
}

pub async fn find_by_username(db: &Db, username: &str) -> sqlx::Result<Option<User>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM users WHERE username = $1"))
        .bind(username)
        .fetch_optional(db)
        .await
}

pub async fn find_by_id(db: &Db, id: i64) -> sqlx::Result<Option<User>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM users WHERE id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await
}

/// Creates the user or replaces its password. A replaced password starts a new session
/// generation and deletes the user's sessions: every browser signed in as it is signed out.
/// Returns the user id and whether the user existed before.
pub async fn upsert(db: &Db, username: &str, password_hash: &str) -> sqlx::Result<(i64, bool)> {
    let t = now();
    let mut tx = db.begin().await?;
    let existing: Option<i64> = sqlx::query_scalar("SELECT id FROM users WHERE username = $1")
        .bind(username)
        .fetch_optional(&mut *tx)
        .await?;
    let id = match existing {
        Some(id) => {
            sqlx::query(
                "UPDATE users SET password_hash = $1, updated_at = $2, \
                 session_generation = session_generation + 1 WHERE id = $3",
            )
            .bind(password_hash)
            .bind(t)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            id
        }
        None => {
            sqlx::query_scalar(
                "INSERT INTO users (username, password_hash, created_at, updated_at) \
                 VALUES ($1, $2, $3, $3) RETURNING id",
            )
            .bind(username)
            .bind(password_hash)
            .bind(t)
            .fetch_one(&mut *tx)
            .await?
        }
    };
    tx.commit().await?;
    Ok((id, existing.is_some()))
}

/// Changes a user's password (Settings): a new session generation, and every session of
/// the user deleted. Returns the new generation.
pub async fn change_password(db: &Db, id: i64, password_hash: &str) -> sqlx::Result<i64> {
    let mut tx = db.begin().await?;
    let generation: i64 = sqlx::query_scalar(
        "UPDATE users SET password_hash = $1, updated_at = $2, \
         session_generation = session_generation + 1 WHERE id = $3 RETURNING session_generation",
    )
    .bind(password_hash)
    .bind(now())
    .bind(id)
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM sessions WHERE user_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(generation)
}
