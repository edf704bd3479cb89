//! Database access. Every SQL statement of Mailport lives below this module; handlers and
//! background tasks call named functions.

pub mod accounts;
pub mod api_keys;
pub mod blobs;
pub mod committer;
pub mod credentials;
pub mod events;
pub mod imports;
pub mod key_check;
pub mod leases;
pub mod messages;
pub mod outbox;
pub mod runs;
pub mod schedule;
pub mod sessions;
pub mod setup;
pub mod users;
pub mod webhooks;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

pub type Db = SqlitePool;

/// The database file inside a data dir.
pub const DATABASE_FILE: &str = "mailport.db";

/// Creates the data dir (mode 0700) and the database file (mode 0600) if missing, and
/// tightens both if they are looser: the database holds every imported message and the
/// sessions. SQLite gives its `-wal` and `-shm` files the database file's mode; existing
/// ones are tightened here too. Blobs are written 0600 in 0700 folders (`blobs.rs`).
pub fn prepare_data_dir(dir: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("creating data dir {}", dir.display()))?;
        restrict(dir, 0o700)?;
        let db = dir.join(DATABASE_FILE);
        if !db.exists() {
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&db)
                .with_context(|| format!("creating {}", db.display()))?;
        }
        for name in [DATABASE_FILE, "mailport.db-wal", "mailport.db-shm"] {
            let path = dir.join(name);
            if path.exists() {
                restrict(&path, 0o600)?;
            }
        }
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir).with_context(|| format!("creating data dir {}", dir.display()))?;
    Ok(())
}

/// Sets `mode` on `path` when others or the group have more than it allows.
#[cfg(unix)]
pub fn restrict(path: &Path, mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let current = std::fs::metadata(path)
        .with_context(|| format!("reading the mode of {}", path.display()))?
        .permissions()
        .mode()
        & 0o777;
    if current & !mode != 0 {
        tracing::warn!(path = %path.display(), mode = format!("{current:o}"), "readable by others; setting it to {mode:o}");
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .with_context(|| format!("setting the mode of {}", path.display()))?;
    }
    Ok(())
}

/// Opens (creating if missing) the SQLite database in WAL mode and applies migrations.
pub async fn connect(path: &Path) -> anyhow::Result<Db> {
    let url = format!("sqlite://{}", path.display());
    let options = SqliteConnectOptions::from_str(&url)
        .with_context(|| format!("bad database path {}", path.display()))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        // Writers wait for each other instead of failing with "database is locked".
        .busy_timeout(Duration::from_secs(10));
    let pool = SqlitePoolOptions::new()
        .max_connections(8)
        .connect_with(options)
        .await
        .with_context(|| format!("opening database {}", path.display()))?;
    sqlx::migrate!("./migrations")
        .run(&pool)
        .await
        .context("applying database migrations")?;
    Ok(pool)
}

/// Current unix time in seconds; the clock lives in [`crate::clock`].
pub use crate::clock::now;

/// True when a sqlx error is a UNIQUE (or primary key) constraint violation, on SQLite and
/// PostgreSQL alike (sqlx maps both backends' codes).
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// The row could not be written because its unique key (an id or a name) is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the id or name is already taken")]
pub struct Taken;

/// Tells a taken unique key apart from every other database error, in the manner of
/// realworld-axum-sqlx's `ResultExt::on_constraint`: the primary key, not a look-up first,
/// decides whether an id is taken, so there is no race.
///
/// ```ignore
/// match accounts::insert(&db, &settings).await.on_unique_violation()? {
///     Ok(()) => {}
///     Err(Taken) => { /* "an account with this id already exists" */ }
/// }
/// ```
pub trait UniqueViolationExt<T> {
    /// `Ok(Err(Taken))` on a unique violation, `Err` on any other database error.
    fn on_unique_violation(self) -> sqlx::Result<Result<T, Taken>>;
}

impl<T> UniqueViolationExt<T> for sqlx::Result<T> {
    fn on_unique_violation(self) -> sqlx::Result<Result<T, Taken>> {
        match self {
            Ok(v) => Ok(Ok(v)),
            Err(e) if is_unique_violation(&e) => Ok(Err(Taken)),
            Err(e) => Err(e),
        }
    }
}
