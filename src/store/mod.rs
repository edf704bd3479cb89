//! Database access. Every SQL statement of Mailport lives below this module; handlers and
//! background tasks call named functions.

pub mod accounts;
pub mod api_keys;
pub mod auth_failures;
pub mod blobs;
pub mod builder;
pub mod committer;
pub mod copy;
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
use sqlx::Executor;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};

/// The pool every store function takes: SQLite (the embedded default) or PostgreSQL,
/// through sqlx's `Any` driver. Store SQL is written once, in the dialect both accept (see
/// README, Development, "One store, two backends"); the few statements that differ ask
/// [`Backend::of`].
pub type Db = sqlx::AnyPool;

/// One connection of a [`Db`] (inside a transaction: `&mut *tx`).
pub type Conn = sqlx::AnyConnection;

/// Which database a [`Db`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The backend of a pool, from its URL scheme.
    pub fn of(db: &Db) -> Backend {
        if db
            .connect_options()
            .database_url
            .scheme()
            .starts_with("postgres")
        {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }

    /// The operator that matches a `LIKE` pattern ignoring case: SQLite's `LIKE` already
    /// does (ASCII letters), PostgreSQL's `LIKE` does not, its `ILIKE` does.
    pub fn case_insensitive_like(self) -> &'static str {
        match self {
            Backend::Sqlite => "LIKE",
            Backend::Postgres => "ILIKE",
        }
    }

    /// The backend of a connection (or of a transaction, `&mut *tx`).
    pub fn of_conn(conn: &Conn) -> Backend {
        if conn.backend_name() == "PostgreSQL" {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }
}

/// A `postgres://user:password@host:port/database` URL (`--database-url`). Its `Debug` and
/// `Display` replace the password with `***`, so that logs and error messages never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(url::Url);

impl DatabaseUrl {
    /// Accepts `postgres://` and `postgresql://` URLs with a host and a database name.
    /// The error never repeats the password.
    pub fn parse(text: &str) -> Result<Self, String> {
        let url = url::Url::parse(text.trim()).map_err(|e| {
            format!("not a URL ({e}); expected postgres://user:password@host:port/database")
        })?;
        let redacted = DatabaseUrl(url.clone()).to_string();
        if !matches!(url.scheme(), "postgres" | "postgresql") {
            return Err(format!(
                "{redacted}: only postgres:// URLs select another database; leave it unset for SQLite in --data-dir"
            ));
        }
        if url.host_str().unwrap_or("").is_empty() && !url.query_pairs().any(|(k, _)| k == "host") {
            return Err(format!("{redacted}: the URL names no host"));
        }
        if url.path().trim_matches('/').is_empty() {
            return Err(format!("{redacted}: the URL names no database"));
        }
        Ok(DatabaseUrl(url))
    }

    /// The URL with its password, for the driver only.
    pub fn expose(&self) -> &str {
        self.0.as_str()
    }
}

impl std::fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut shown = self.0.clone();
        if shown.password().is_some() {
            let _ = shown.set_password(Some("***"));
        }
        let pairs: Vec<(String, String)> = shown
            .query_pairs()
            .map(|(k, v)| {
                let v = if k.eq_ignore_ascii_case("password") {
                    "***".into()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        if !pairs.is_empty() {
            shown.query_pairs_mut().clear().extend_pairs(pairs);
        }
        f.write_str(shown.as_str())
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DatabaseUrl({self})")
    }
}

impl std::str::FromStr for DatabaseUrl {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        DatabaseUrl::parse(s)
    }
}

/// Installs the drivers behind [`Db`] (idempotent).
fn install_drivers() {
    sqlx::any::install_default_drivers();
}

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
    install_drivers();
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let options = AnyConnectOptions::from_str(&url)
        .with_context(|| format!("bad database path {}", path.display()))?;
    let pool = AnyPoolOptions::new()
        .max_connections(8)
        .after_connect(|conn, _| {
            Box::pin(async move {
                // Writers wait for each other instead of failing with "database is locked".
                for pragma in [
                    "PRAGMA journal_mode = WAL",
                    "PRAGMA synchronous = NORMAL",
                    "PRAGMA foreign_keys = ON",
                    "PRAGMA busy_timeout = 10000",
                ] {
                    conn.execute(pragma).await?;
                }
                Ok(())
            })
        })
        .connect_with(options)
        .await
        .with_context(|| format!("opening database {}", path.display()))?;
    sqlx::migrate!("./migrations")
        .run(&pool)
        .await
        .context("applying database migrations")?;
    Ok(pool)
}

/// Connects to PostgreSQL and applies its migrations (`migrations-postgres/`). sqlx's
/// migrator holds PostgreSQL's advisory migration lock meanwhile, so instances starting
/// together apply each migration once. Errors name the URL without its password.
pub async fn connect_postgres(url: &DatabaseUrl) -> anyhow::Result<Db> {
    let pool = connect_postgres_unmigrated(url).await?;
    sqlx::migrate!("./migrations-postgres")
        .run(&pool)
        .await
        .with_context(|| format!("applying database migrations to {url}"))?;
    Ok(pool)
}

/// How long a PostgreSQL session may sit idle inside a transaction before the server ends
/// it (`idle_in_transaction_session_timeout`): Mailport's transactions take milliseconds,
/// so only a paused or hung instance reaches it, and then its locks are released.
pub const IDLE_IN_TRANSACTION_TIMEOUT: Duration = Duration::from_secs(10);

/// A pool on `url` without running migrations (tests compare schemas with it).
pub async fn connect_postgres_unmigrated(url: &DatabaseUrl) -> anyhow::Result<Db> {
    install_drivers();
    let options = AnyConnectOptions::from_str(url.expose())
        .map_err(|e| anyhow::anyhow!("{url}: {}", redact(&e.to_string(), url)))?;
    // One connection first: its error says why (refused, authentication, no such
    // database), where the pool would only report a timeout.
    let probe = <sqlx::AnyConnection as sqlx::Connection>::connect_with(&options)
        .await
        .map_err(|e| anyhow::anyhow!("connecting to {url}: {}", redact(&e.to_string(), url)))?;
    let _ = sqlx::Connection::close(probe).await;
    AnyPoolOptions::new()
        .max_connections(16)
        .acquire_timeout(Duration::from_secs(30))
        .after_connect(|conn, _| {
            Box::pin(async move {
                // A paused or hung instance must not keep row locks (a mailbox lease's,
                // a credential's) for longer than a takeover may wait: PostgreSQL ends its
                // idle transaction, and the fencing token makes the rolled-back work moot.
                sqlx::query(&format!(
                    "SET idle_in_transaction_session_timeout = {}",
                    IDLE_IN_TRANSACTION_TIMEOUT.as_millis()
                ))
                .execute(conn)
                .await
                .map(|_| ())
            })
        })
        .connect_with(options)
        .await
        .map_err(|e| anyhow::anyhow!("connecting to {url}: {}", redact(&e.to_string(), url)))
}

/// `text` without the URL's password, should a driver message repeat it.
fn redact(text: &str, url: &DatabaseUrl) -> String {
    match url.0.password() {
        Some(p) if !p.is_empty() => text.replace(p, "***"),
        _ => text.to_string(),
    }
}

/// Where the data lives: SQLite in the data dir, or a PostgreSQL database.
pub async fn open(data_dir: &Path, database_url: Option<&DatabaseUrl>) -> anyhow::Result<Db> {
    match database_url {
        Some(url) => connect_postgres(url).await,
        None => {
            prepare_data_dir(data_dir)?;
            connect(&data_dir.join(DATABASE_FILE)).await
        }
    }
}

/// Current unix time in seconds; the clock lives in [`crate::clock`].
pub use crate::clock::now;

/// True when a sqlx error is a UNIQUE (or primary key) constraint violation, on SQLite and
/// PostgreSQL alike (sqlx maps both backends' codes).
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// Stores a Copy enum as its text through sqlx's `Any` driver: binds `as_str()` and reads the
/// text back by comparing it with each variant's `as_str()` (the list must be complete). A row holding any other
/// text fails to load with an error naming the value and the enum, as sqlx's own derive
/// (per backend, which `Any` cannot use) would.
///
/// ```ignore
/// text_column!(AccountStatus { Ok, Error, Disabled });
/// ```
macro_rules! text_column {
    ($ty:ident { $($variant:ident),+ $(,)? }) => {
        // Every variant must be listed: a new one fails to compile here until it is.
        const _: fn($ty) = |v| match v {
            $($ty::$variant => {})+
        };

        impl sqlx::Type<sqlx::Any> for $ty {
            fn type_info() -> sqlx::any::AnyTypeInfo {
                <String as sqlx::Type<sqlx::Any>>::type_info()
            }

            fn compatible(ty: &sqlx::any::AnyTypeInfo) -> bool {
                <String as sqlx::Type<sqlx::Any>>::compatible(ty)
            }
        }

        impl<'q> sqlx::Encode<'q, sqlx::Any> for $ty {
            fn encode_by_ref(
                &self,
                buf: &mut <sqlx::Any as sqlx::Database>::ArgumentBuffer<'q>,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                <&str as sqlx::Encode<'q, sqlx::Any>>::encode_by_ref(&self.as_str(), buf)
            }
        }

        impl<'r> sqlx::Decode<'r, sqlx::Any> for $ty {
            fn decode(
                value: sqlx::any::AnyValueRef<'r>,
            ) -> Result<Self, sqlx::error::BoxDynError> {
                let text = <String as sqlx::Decode<'r, sqlx::Any>>::decode(value)?;
                [$($ty::$variant),+]
                    .into_iter()
                    .find(|v| v.as_str() == text)
                    .ok_or_else(|| {
                        format!("invalid value {text:?} for enum {}", stringify!($ty)).into()
                    })
            }
        }
    };
}
pub(crate) use text_column;

/// A 0/1 flag column read as `bool` (`#[sqlx(try_from = "super::Flag")]` on a `FromRow`
/// field). Both schemas keep flags as integers, so that SQL such as `enabled = 1` reads the
/// same on both backends; sqlx's `Any` driver decodes `bool` only from a boolean value, which
/// SQLite never returns.
#[derive(Debug, Clone, Copy)]
pub struct Flag(pub bool);

impl From<Flag> for bool {
    fn from(flag: Flag) -> bool {
        flag.0
    }
}

impl sqlx::Type<sqlx::Any> for Flag {
    fn type_info() -> sqlx::any::AnyTypeInfo {
        <i64 as sqlx::Type<sqlx::Any>>::type_info()
    }

    fn compatible(ty: &sqlx::any::AnyTypeInfo) -> bool {
        ty.kind().is_integer() || ty.kind() == sqlx::any::AnyTypeInfoKind::Bool
    }
}

impl<'r> sqlx::Decode<'r, sqlx::Any> for Flag {
    fn decode(value: sqlx::any::AnyValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        use sqlx::ValueRef;
        if value.type_info().kind() == sqlx::any::AnyTypeInfoKind::Bool {
            return <bool as sqlx::Decode<sqlx::Any>>::decode(value).map(Flag);
        }
        <i64 as sqlx::Decode<sqlx::Any>>::decode(value).map(|n| Flag(n != 0))
    }
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
