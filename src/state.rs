//! The application's shared services (database, key, tokens, importer, webhooks), opened
//! from the configuration. Below both the web layer and the server that runs it.

use std::sync::Arc;

use anyhow::Context;

use crate::config::Config;
use crate::crypto::{self, MasterKey};
use crate::graph::build_graph_http_client;
use crate::import::Importer;
use crate::metrics::Metrics;
use crate::oauth::TokenService;
use crate::oauth::client::build_http_client;
use crate::store::blobs::BlobStore;
use crate::store::sessions::DbSessionStore;
use crate::store::{self, Db};

/// The application's services: everything a handler or background task may need. Cheap to
/// clone. The web layer keeps its own parts (the sign-in limiter) in `web::WebState`, which
/// hands this out to handlers through `FromRef`.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub config: Arc<Config>,
    pub key: MasterKey,
    pub tokens: TokenService,
    /// Sessions of signed-in administrators, stored by the hash of their id.
    pub session_store: DbSessionStore,
    /// Raw messages, by sha256.
    pub blobs: BlobStore,
    pub importer: Importer,
    /// Sends the webhook deliveries of the outbox.
    pub webhooks: crate::webhooks::Sender,
    /// This instance's Prometheus registry (`/metrics`).
    pub metrics: Metrics,
}

impl AppState {
    /// Opens the data dir, database and key; nothing is served yet.
    pub async fn open(config: Config) -> anyhow::Result<Self> {
        let db = store::open(&config.data_dir, config.database_url.as_ref()).await?;
        let key = match &config.database_url {
            Some(url) => {
                open_shared_master_key(url, config.secret_key_file.as_deref(), &db).await?
            }
            None => {
                open_master_key(&config.data_dir, config.secret_key_file.as_deref(), &db).await?
            }
        };
        let metrics = Metrics::for_instance(config.instance_id());
        let tokens = TokenService::new(
            db.clone(),
            key.clone(),
            build_http_client(&config.http, &config.hosts)?.with_metrics(metrics.clone()),
            config.http.clone(),
            config.redirect_uri(),
        );
        let session_store = DbSessionStore::new(db.clone(), config.sessions.lifetime);
        let blobs = match config.database_url {
            Some(_) => BlobStore::in_database(db.clone()),
            None => BlobStore::new(&config.data_dir),
        };
        let importer = Importer::new(
            db.clone(),
            blobs.clone(),
            tokens.clone(),
            build_graph_http_client(
                config.http.connect_timeout,
                config.http.timeout,
                &config.http.user_agent(),
                &config.hosts,
            )?
            .with_metrics(metrics.clone()),
            config.import.clone(),
        );
        let webhooks = crate::webhooks::Sender::new(
            db.clone(),
            blobs.clone(),
            key.clone(),
            config.public_url.clone(),
            config.webhooks.clone(),
            &config.hosts,
        )?;
        Ok(AppState {
            importer,
            webhooks,
            blobs,
            db,
            config: Arc::new(config),
            key,
            tokens,
            session_store,
            metrics,
        })
    }

    /// Removes what a crash can leave in the blob store: partial downloads, and complete
    /// blobs whose database row was never committed. Only safe while nothing imports, so
    /// `serve` calls it before the importer starts.
    pub async fn clean_blob_store(&self) -> anyhow::Result<()> {
        if shares_blobs_with_live_instance(&self.db, &self.config).await? {
            tracing::info!(
                "another instance is running on this data dir: its downloads in progress stay; \
                 leftovers of crashes are removed when an instance starts alone"
            );
            return Ok(());
        }
        // Alone, every partial download is a crash's: one that an instance starting at this
        // very moment writes fails at its finish and is fetched again. A finished blob may be
        // a second away from its message's commit, so unreferenced ones must be a minute old.
        let partial = self
            .blobs
            .clone()
            .sweeping_after(0)
            .sweep_tmp()
            .await
            .context("cleaning the blob store's tmp folder")?;
        let blobs = self.blobs.clone().sweeping_after(60);
        let mut orphans = 0;
        for sha in blobs.list().await.context("listing the blob store")? {
            if !store::messages::blob_in_use(&self.db, &sha).await? {
                blobs.remove(&sha).await?;
                orphans += 1;
            }
        }
        if partial + orphans > 0 {
            tracing::info!(
                partial,
                orphans,
                "removed files left by an interrupted import"
            );
        }
        let tightened = self
            .blobs
            .restrict_permissions()
            .await
            .context("restricting the blob store's permissions")?;
        if tightened > 0 {
            tracing::warn!(
                entries = tightened,
                "blob store entries were readable by others; set to 0700/0600"
            );
        }
        Ok(())
    }

    /// When no administrator exists yet, a fresh one-time link to create one.
    pub async fn setup_link(&self) -> anyhow::Result<Option<String>> {
        if store::users::count(&self.db).await? > 0 {
            return Ok(None);
        }
        let token = crypto::random_token(32);
        store::setup::replace_token(&self.db, &crypto::sha256_hex(token.as_bytes())).await?;
        Ok(Some(format!(
            "{}/setup?token={token}",
            self.config.public_url.as_str().trim_end_matches('/')
        )))
    }
}

/// Whether another instance sharing this data dir's blob folder beat within a lease
/// duration: its downloads in progress and blobs about to be committed look like a crash's
/// leftovers, so the start-up sweep leaves them alone.
async fn shares_blobs_with_live_instance(db: &Db, config: &Config) -> anyhow::Result<bool> {
    let since = crate::clock::now_ms() - config.import.leases.duration.as_millis() as i64;
    Ok(store::leases::others_alive(db, config.instance_id(), since).await?)
}

/// The master key, checked against the database before anything is read or written with
/// it: a database opened with another key refuses to start, saying which key to restore.
/// A data dir without a key gets a new key file, unless its database already holds data
/// encrypted with a key (then the missing file is an error, not a reason for a new key).
async fn open_master_key(
    data_dir: &std::path::Path,
    key_file: Option<&std::path::Path>,
    db: &Db,
) -> anyhow::Result<MasterKey> {
    let check = store::key_check::get(db).await?;
    let old_secret = store::credentials::any_secret(db).await?;
    let loaded = match key_file {
        Some(_) => crypto::MasterKey::load_given(key_file)?,
        None => crypto::MasterKey::load(data_dir)?,
    };
    let (key, source) = match loaded {
        Some(loaded) => loaded,
        None if check.is_none() && old_secret.is_none() => MasterKey::create(data_dir)?,
        None => anyhow::bail!(
            "{} is missing, but the database {} holds secrets encrypted with a key. Restore \
             secret.key from the backup made with the database, or set {} to that key. \
             Nothing was changed.",
            data_dir.join(crypto::KEY_FILE).display(),
            data_dir.join(store::DATABASE_FILE).display(),
            crypto::KEY_ENV
        ),
    };
    let wrong = || {
        anyhow::anyhow!(
            "the encryption key from {source} does not match the database in {}: it was set \
             up with another key (MAILPORT_SECRET_KEY or secret.key). Start with the key that \
             belongs to this database (restore it from the backup made with the database, or \
             unset MAILPORT_SECRET_KEY if it was set by mistake). Nothing was changed.",
            data_dir.display()
        )
    };
    match check {
        Some(sealed) if key.opens_check_value(&sealed) => {}
        Some(_) => return Err(wrong()),
        None => {
            // A database from before the check value: the key must open what it holds.
            if let Some((id, blob)) = old_secret
                && key
                    .decrypt(&store::credentials::secret_context(&id), &blob)
                    .is_err()
            {
                return Err(wrong());
            }
            store::key_check::insert(db, &key.check_value()).await?;
        }
    }
    Ok(key)
}

/// The master key of a PostgreSQL installation: `MAILPORT_SECRET_KEY` or `--secret-key-file`
/// is required (no key file is ever made, since every instance must use the same key), and
/// it must open the database's check value. The first instance to meet an empty database
/// stores the check value; an instance that raced it with another key is refused too.
async fn open_shared_master_key(
    url: &store::DatabaseUrl,
    key_file: Option<&std::path::Path>,
    db: &Db,
) -> anyhow::Result<MasterKey> {
    let Some((key, source)) = crypto::MasterKey::load_given(key_file)? else {
        anyhow::bail!(
            "with --database-url every instance must use the same encryption key: set {} \
             (base64 of 32 bytes) or pass --secret-key-file. For a database moved from SQLite, \
             use the data dir's secret.key. Nothing was changed.",
            crypto::KEY_ENV
        );
    };
    // Kept only when the database has no check value yet (the first instance wins a race).
    store::key_check::insert(db, &key.check_value()).await?;
    match store::key_check::get(db).await? {
        Some(sealed) if key.opens_check_value(&sealed) => Ok(key),
        _ => anyhow::bail!(
            "the encryption key from {source} does not match the database {url}: it was set up \
             with another key. Every instance sharing a database must use the same key \
             (MAILPORT_SECRET_KEY or --secret-key-file); start with the key of the instances \
             already using this database. Nothing was changed."
        ),
    }
}
