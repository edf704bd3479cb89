//! Sessions of signed-in administrators: stored by the sha256 of their id (the cookie value
//! never reaches the database), with the user's session generation, an idle and an absolute
//! end, and what the Settings page lists (created, last seen, address, user agent).
//!
//! [`DbSessionStore`] is the `tower-sessions` store on top of these functions. It keeps only
//! sessions that belong to a user: an anonymous visitor never costs a row.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use time::OffsetDateTime;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};

use super::{Db, now};

/// Keys of the session data that the store also keeps in columns. `web::session` writes
/// them at sign-in.
pub mod keys {
    pub const USER_ID: &str = "user_id";
    pub const GENERATION: &str = "generation";
    pub const SIGNED_IN_AT: &str = "signed_in_at";
    pub const ADDRESS: &str = "address";
    pub const USER_AGENT: &str = "user_agent";
}

/// The longest user agent kept for the sessions list.
const MAX_USER_AGENT: usize = 256;

/// The sha256 (hex) of a session id as the cookie carries it: the only form stored.
pub fn id_hash(id: &Id) -> String {
    crate::crypto::sha256_hex(id.to_string().as_bytes())
}

/// A session as the Settings page lists it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionInfo {
    pub id_hash: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub address: String,
    pub user_agent: String,
}

/// What a new session row holds.
struct NewSession<'a> {
    id_hash: &'a str,
    user_id: i64,
    generation: i64,
    data: &'a str,
    created_at: i64,
    expires_at: i64,
    ends_at: i64,
    address: &'a str,
    user_agent: &'a str,
}

/// Inserts a session; false when the id hash is taken (a collision: draw another id).
async fn insert(db: &Db, s: &NewSession<'_>) -> sqlx::Result<bool> {
    let t = now();
    let inserted = sqlx::query(
        "INSERT INTO sessions (id_hash, user_id, generation, data, created_at, last_seen_at, \
         expires_at, ends_at, address, user_agent) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
         ON CONFLICT (id_hash) DO NOTHING",
    )
    .bind(s.id_hash)
    .bind(s.user_id)
    .bind(s.generation)
    .bind(s.data)
    .bind(s.created_at)
    .bind(t)
    .bind(s.expires_at.min(s.ends_at))
    .bind(s.ends_at)
    .bind(s.address)
    .bind(s.user_agent)
    .execute(db)
    .await?
    .rows_affected();
    Ok(inserted == 1)
}

/// Replaces a session's data and moves its idle end (never past its absolute end). False
/// when the session no longer exists (signed out elsewhere meanwhile).
async fn update(db: &Db, id_hash: &str, data: &str, expires_at: i64) -> sqlx::Result<bool> {
    let t = now();
    let n = sqlx::query(
        "UPDATE sessions SET data = $1, last_seen_at = $2, \
         expires_at = CASE WHEN $3 < ends_at THEN $3 ELSE ends_at END \
         WHERE id_hash = $4 AND ends_at > $2",
    )
    .bind(data)
    .bind(t)
    .bind(expires_at)
    .bind(id_hash)
    .execute(db)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// The data and idle end of a live session.
async fn load(db: &Db, id_hash: &str) -> sqlx::Result<Option<(String, i64)>> {
    sqlx::query_as(
        "SELECT data, expires_at FROM sessions WHERE id_hash = $1 AND expires_at > $2 AND ends_at > $2",
    )
    .bind(id_hash)
    .bind(now())
    .fetch_optional(db)
    .await
}

/// Ends one session.
pub async fn delete(db: &Db, id_hash: &str) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
        .bind(id_hash)
        .execute(db)
        .await
        .map(|_| ())
}

/// Deletes sessions past their idle or absolute end; returns how many.
pub async fn delete_expired(db: &Db) -> sqlx::Result<u64> {
    sqlx::query("DELETE FROM sessions WHERE expires_at <= $1 OR ends_at <= $1")
        .bind(now())
        .execute(db)
        .await
        .map(|r| r.rows_affected())
}

/// Notes that a session was used (the row changes at most once a minute) and moves its
/// idle end.
pub async fn touch(db: &Db, id_hash: &str, idle: Duration) -> sqlx::Result<()> {
    let t = now();
    let expires_at = t + idle.as_secs() as i64;
    sqlx::query(
        "UPDATE sessions SET last_seen_at = $1, \
         expires_at = CASE WHEN $2 < ends_at THEN $2 ELSE ends_at END \
         WHERE id_hash = $3 AND last_seen_at < $4",
    )
    .bind(t)
    .bind(expires_at)
    .bind(id_hash)
    .bind(t - 60)
    .execute(db)
    .await
    .map(|_| ())
}

/// The live sessions of a user, most recently used first.
pub async fn list_for_user(db: &Db, user_id: i64) -> sqlx::Result<Vec<SessionInfo>> {
    sqlx::query_as(
        "SELECT id_hash, created_at, last_seen_at, address, user_agent FROM sessions \
         WHERE user_id = $1 AND expires_at > $2 AND ends_at > $2 \
         ORDER BY last_seen_at DESC, created_at DESC",
    )
    .bind(user_id)
    .bind(now())
    .fetch_all(db)
    .await
}

/// Ends every session of a user except `keep` (a hash); returns how many ended.
pub async fn delete_others(db: &Db, user_id: i64, keep: &str) -> sqlx::Result<u64> {
    sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id_hash <> $2")
        .bind(user_id)
        .bind(keep)
        .execute(db)
        .await
        .map(|r| r.rows_affected())
}

/// How many session rows exist (all users, expired ones not yet deleted included).
pub async fn count(db: &Db) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT COUNT(*) FROM sessions")
        .fetch_one(db)
        .await
}

/// The `tower-sessions` store: sessions by id hash in the `sessions` table.
#[derive(Clone, Debug)]
pub struct DbSessionStore {
    db: Db,
    /// The absolute lifetime of a session from its sign-in.
    lifetime: Duration,
    /// When this process last noted each session's use, so that a busy session costs one
    /// write a minute, not one per request.
    touched: Arc<Mutex<HashMap<String, Instant>>>,
}

/// A session's use is noted at most this often.
const TOUCH_EVERY: Duration = Duration::from_secs(60);

fn backend(e: sqlx::Error) -> session_store::Error {
    session_store::Error::Backend(e.to_string())
}

/// The columns a record's data carries, if it belongs to a signed-in user.
struct Owner {
    user_id: i64,
    generation: i64,
    signed_in_at: i64,
    address: String,
    user_agent: String,
}

impl Owner {
    fn of(record: &Record) -> Option<Owner> {
        let int = |k: &str| record.data.get(k).and_then(|v| v.as_i64());
        let text = |k: &str| {
            record
                .data
                .get(k)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string()
        };
        Some(Owner {
            user_id: int(keys::USER_ID)?,
            generation: int(keys::GENERATION).unwrap_or(0),
            signed_in_at: int(keys::SIGNED_IN_AT).unwrap_or_else(now),
            address: text(keys::ADDRESS),
            user_agent: text(keys::USER_AGENT)
                .chars()
                .take(MAX_USER_AGENT)
                .collect(),
        })
    }
}

impl DbSessionStore {
    pub fn new(db: Db, lifetime: Duration) -> Self {
        DbSessionStore {
            db,
            lifetime,
            touched: Arc::default(),
        }
    }

    /// Notes that the session `id_hash` was used and moves its idle end, at most once a
    /// minute per session.
    pub async fn touch(&self, id_hash: &str, idle: Duration) -> sqlx::Result<()> {
        {
            let mut touched = self.touched.lock().unwrap_or_else(|e| e.into_inner());
            if touched
                .get(id_hash)
                .is_some_and(|t| t.elapsed() < TOUCH_EVERY)
            {
                return Ok(());
            }
            if touched.len() >= 10_000 {
                touched.retain(|_, t| t.elapsed() < TOUCH_EVERY);
            }
            touched.insert(id_hash.to_string(), Instant::now());
        }
        touch(&self.db, id_hash, idle).await
    }

    async fn insert_record(&self, record: &Record, owner: &Owner) -> sqlx::Result<bool> {
        let data = serde_json::to_string(&record.data).unwrap_or_else(|_| "{}".into());
        insert(
            &self.db,
            &NewSession {
                id_hash: &id_hash(&record.id),
                user_id: owner.user_id,
                generation: owner.generation,
                data: &data,
                created_at: owner.signed_in_at,
                expires_at: record.expiry_date.unix_timestamp(),
                ends_at: owner.signed_in_at + self.lifetime.as_secs() as i64,
                address: &owner.address,
                user_agent: &owner.user_agent,
            },
        )
        .await
    }
}

#[async_trait]
impl SessionStore for DbSessionStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        // Anonymous sessions are never stored.
        let Some(owner) = Owner::of(record) else {
            return Ok(());
        };
        while !self.insert_record(record, &owner).await.map_err(backend)? {
            record.id = Id::default();
        }
        Ok(())
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let hash = id_hash(&record.id);
        let Some(owner) = Owner::of(record) else {
            // Signed out (or never signed in): nothing may stay behind.
            return delete(&self.db, &hash).await.map_err(backend);
        };
        let data = serde_json::to_string(&record.data)
            .map_err(|e| session_store::Error::Encode(e.to_string()))?;
        let updated = update(&self.db, &hash, &data, record.expiry_date.unix_timestamp())
            .await
            .map_err(backend)?;
        if !updated {
            // Gone meanwhile (signed out elsewhere): it is not brought back to life.
            tracing::debug!(owner = owner.user_id, "a session ended while in use");
        }
        Ok(())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let Some((data, expires_at)) = load(&self.db, &id_hash(id)).await.map_err(backend)? else {
            return Ok(None);
        };
        let data =
            serde_json::from_str(&data).map_err(|e| session_store::Error::Decode(e.to_string()))?;
        let expiry_date = OffsetDateTime::from_unix_timestamp(expires_at)
            .map_err(|e| session_store::Error::Decode(e.to_string()))?;
        Ok(Some(Record {
            id: *id,
            data,
            expiry_date,
        }))
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        delete(&self.db, &id_hash(id)).await.map_err(backend)
    }
}
