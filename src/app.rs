//! The application: shared state, the HTTP server, background tasks and graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

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
use crate::web::ServerLimits;
use crate::web::login_limit::LoginLimiter;

/// Everything a handler or background task may need. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub config: Arc<Config>,
    pub key: MasterKey,
    pub tokens: TokenService,
    pub login_limiter: LoginLimiter,
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
        store::prepare_data_dir(&config.data_dir)?;
        let db = store::connect(&config.database_path()).await?;
        let key = open_master_key(&config.data_dir, &db).await?;
        let metrics = Metrics::new();
        let tokens = TokenService::new(
            db.clone(),
            key.clone(),
            build_http_client(&config.http, &config.hosts)?.with_metrics(metrics.clone()),
            config.http.clone(),
            config.redirect_uri(),
        );
        let session_store = DbSessionStore::new(db.clone(), config.sessions.lifetime);
        let blobs = BlobStore::new(&config.data_dir);
        let swept = if shares_blobs_with_live_instance(&db, &config).await? {
            0
        } else {
            blobs
                .sweep_tmp()
                .await
                .context("cleaning the blob store's tmp folder")?
        };
        if swept > 0 {
            tracing::info!(
                files = swept,
                "removed partial downloads left by an earlier crash"
            );
        }
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
            login_limiter: LoginLimiter::default(),
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
        let partial = self
            .blobs
            .sweep_tmp()
            .await
            .context("cleaning the blob store's tmp folder")?;
        let mut orphans = 0;
        for sha in self.blobs.list().await.context("listing the blob store")? {
            if !store::messages::blob_in_use(&self.db, &sha).await? {
                self.blobs.remove(&sha).await?;
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
    let since = crate::import::lease::now_ms() - config.import.leases.duration.as_millis() as i64;
    Ok(store::leases::others_alive(db, config.instance_id(), since).await?)
}

/// The master key, checked against the database before anything is read or written with
/// it: a database opened with another key refuses to start, saying which key to restore.
/// A data dir without a key gets a new key file, unless its database already holds data
/// encrypted with a key (then the missing file is an error, not a reason for a new key).
async fn open_master_key(data_dir: &std::path::Path, db: &Db) -> anyhow::Result<MasterKey> {
    let check = store::key_check::get(db).await?;
    let old_secret = store::credentials::any_secret(db).await?;
    let (key, source) = match crypto::MasterKey::load(data_dir)? {
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

/// A running server.
pub struct RunningApp {
    pub addr: SocketAddr,
    pub state: AppState,
    /// Printed at start when no administrator exists.
    pub setup_link: Option<String>,
    pub shutdown: CancellationToken,
    pub task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// Starts serving on `listener` in a background task; cancel `shutdown` to stop gracefully.
pub async fn start(listener: TcpListener, state: AppState) -> anyhow::Result<RunningApp> {
    start_with(listener, state, ServerLimits::default()).await
}

/// [`start`] with other request limits (tests shorten the timeouts).
pub async fn start_with(
    listener: TcpListener,
    state: AppState,
    limits: ServerLimits,
) -> anyhow::Result<RunningApp> {
    let addr = listener.local_addr()?;
    let setup_link = state.setup_link().await?;
    let shutdown = CancellationToken::new();
    let router = crate::web::router_with(state.clone(), &limits);
    state.clean_blob_store().await?;
    state.importer.start();
    crate::import::rederive::start(state.importer.clone(), shutdown.clone());
    state.webhooks.start();

    let cleanup = state.db.clone();
    let stop = shutdown.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(600));
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tick.tick() => {
                    if let Err(e) = store::sessions::delete_expired(&cleanup).await {
                        tracing::warn!(error = %e, "could not delete expired sessions");
                    }
                }
            }
        }
    });

    let stop = shutdown.clone();
    let task = tokio::spawn(serve_http(listener, router, limits, stop));
    Ok(RunningApp {
        addr,
        state,
        setup_link,
        shutdown,
        task,
    })
}

/// The HTTP/1 server. `axum::serve` offers no header timeout or header size limit (its hyper
/// connections run without a timer, so hyper's header timeout is off), which would let a
/// slow-loris client hold connections forever; hence this small accept loop with hyper's
/// own limits. Cancelling `stop` stops accepting and lets open requests finish.
async fn serve_http(
    listener: TcpListener,
    router: axum::Router,
    limits: ServerLimits,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_header_size(limits.max_header_bytes);
    let graceful = GracefulShutdown::new();
    loop {
        let (stream, peer) = tokio::select! {
            _ = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(error = %e, "could not accept a connection");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<_>| {
            // What `into_make_service_with_connect_info` would add, for the sign-in limiter.
            request.extensions_mut().insert(ConnectInfo(peer));
            router.clone().oneshot(request)
        });
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// The line `serve` prints on stdout once it accepts connections and a SIGINT or SIGTERM
/// would stop it gracefully: scripts and tests wait for it before they use the server.
pub const READY_LINE: &str = "Mailport is listening on";

/// `mailport serve`: runs until SIGINT or SIGTERM.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    // First of all: a SIGTERM from now on means "shut down gracefully", never "die".
    let mut signals = ShutdownSignals::install()?;
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let state = AppState::open(config).await?;
    let app = start(listener, state).await?;
    println!("{READY_LINE} {}", app.state.config.public_url);
    if let Some(link) = &app.setup_link {
        println!("No administrator exists yet. Open this one-time link to create one:\n  {link}");
    }
    signals.recv().await;
    tracing::info!("shutting down: no new imports; finishing the messages in flight");
    app.state.importer.shutdown().await;
    app.state.webhooks.shutdown().await;
    app.shutdown.cancel();
    match tokio::time::timeout(Duration::from_secs(30), app.task).await {
        Ok(joined) => joined.context("server task panicked")?,
        Err(_) => {
            tracing::warn!("connections did not close within 30 s; exiting anyway");
            Ok(())
        }
    }
}

/// SIGINT (Ctrl-C) and SIGTERM, caught from the moment [`ShutdownSignals::install`] returns.
///
/// Tokio installs a signal handler only when a listener is created; a listener created
/// lazily (inside a future first polled after the server answers) leaves a window in which a
/// SIGTERM kills the process instead of stopping it gracefully. So every long-running
/// command installs these before it binds or prints that it is ready.
pub struct ShutdownSignals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl ShutdownSignals {
    /// Installs the handlers now. Fails only if the operating system refuses them.
    pub fn install() -> anyhow::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(ShutdownSignals {
                interrupt: signal(SignalKind::interrupt())
                    .context("cannot install the SIGINT handler")?,
                terminate: signal(SignalKind::terminate())
                    .context("cannot install the SIGTERM handler")?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(ShutdownSignals {})
        }
    }

    /// Waits for the first SIGINT or SIGTERM.
    pub async fn recv(&mut self) {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.interrupt.recv() => {},
                _ = self.terminate.recv() => {},
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
