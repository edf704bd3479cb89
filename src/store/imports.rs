//! CSV imports of e-mail accounts that passed validation and wait for the administrator to
//! apply or cancel them. Nothing reaches `email_accounts` before [`apply`], which writes the
//! whole file in one transaction.

use super::accounts::{self, AccountSettings};
use super::{Db, now};

/// How long a validated file waits for "Apply" before it is dropped.
pub const PENDING_FOR_SECS: i64 = 3600;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PendingImport {
    pub id: String,
    pub created_by: String,
    pub created_at: i64,
    pub file_name: String,
    /// The file as uploaded (UTF-8): it is validated again when applied.
    pub csv: String,
}

/// Keeps a validated file under `id`; drops files older than [`PENDING_FOR_SECS`].
pub async fn save(
    db: &Db,
    id: &str,
    created_by: &str,
    file_name: &str,
    csv: &str,
) -> sqlx::Result<()> {
    let t = now();
    let mut tx = db.begin().await?;
    sqlx::query("DELETE FROM account_imports WHERE created_at < $1")
        .bind(t - PENDING_FOR_SECS)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO account_imports (id, created_by, created_at, file_name, csv)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(created_by)
    .bind(t)
    .bind(file_name)
    .bind(csv)
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

/// A pending file that has not expired.
pub async fn get(db: &Db, id: &str) -> sqlx::Result<Option<PendingImport>> {
    sqlx::query_as(
        "SELECT id, created_by, created_at, file_name, csv FROM account_imports
         WHERE id = $1 AND created_at >= $2",
    )
    .bind(id)
    .bind(now() - PENDING_FOR_SECS)
    .fetch_optional(db)
    .await
}

/// Drops a pending file (Cancel); true when it existed.
pub async fn delete(db: &Db, id: &str) -> sqlx::Result<bool> {
    Ok(sqlx::query("DELETE FROM account_imports WHERE id = $1")
        .bind(id)
        .execute(db)
        .await?
        .rows_affected()
        > 0)
}

/// Creates and updates the accounts of a pending file and drops the file, all in one
/// transaction: either every row is applied or none. False when the file was already
/// applied or cancelled (nothing written then).
pub async fn apply(
    db: &Db,
    id: &str,
    creates: &[AccountSettings],
    updates: &[AccountSettings],
) -> sqlx::Result<bool> {
    let mut tx = db.begin().await?;
    let claimed = sqlx::query("DELETE FROM account_imports WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if claimed == 0 {
        return Ok(false);
    }
    for s in creates {
        accounts::insert(&mut *tx, s).await?;
    }
    for s in updates {
        accounts::update(&mut *tx, s).await?;
    }
    tx.commit().await?;
    Ok(true)
}
