//! First-run setup links: valid until used, and only while no administrator exists.

use super::{Db, now};

/// Replaces any earlier link with a new one (only the hash is stored).
pub async fn replace_token(db: &Db, token_hash: &str) -> sqlx::Result<()> {
    let mut tx = db.begin().await?;
    sqlx::query("DELETE FROM setup_tokens")
        .execute(&mut *tx)
        .await?;
    sqlx::query("INSERT INTO setup_tokens (token_hash, created_at) VALUES ($1, $2)")
        .bind(token_hash)
        .bind(now())
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}

pub async fn token_exists(db: &Db, token_hash: &str) -> sqlx::Result<bool> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM setup_tokens WHERE token_hash = $1")
        .bind(token_hash)
        .fetch_one(db)
        .await?;
    Ok(n > 0)
}

/// Uses the link: creates the first administrator and deletes every link, atomically.
/// Returns None when the link is unknown or an administrator already exists.
pub async fn consume_and_create_user(
    db: &Db,
    token_hash: &str,
    username: &str,
    password_hash: &str,
) -> sqlx::Result<Option<i64>> {
    let mut tx = db.begin().await?;
    let deleted = sqlx::query("DELETE FROM setup_tokens WHERE token_hash = $1")
        .bind(token_hash)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(&mut *tx)
        .await?;
    if deleted == 0 || users > 0 {
        return Ok(None);
    }
    sqlx::query("DELETE FROM setup_tokens")
        .execute(&mut *tx)
        .await?;
    let t = now();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO users (username, password_hash, created_at, updated_at) VALUES ($1, $2, $3, $3) RETURNING id",
    )
    .bind(username)
    .bind(password_hash)
    .bind(t)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Some(id))
}
