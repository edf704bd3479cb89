//! Running the application: the HTTP server over the web router, the background tasks, and
//! graceful shutdown. The shared services it runs are `state::AppState` (re-exported here).

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::config::Config;
pub use crate::state::AppState;
use crate::store;
use crate::web::ServerLimits;

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
                    if let Err(e) = crate::web::login_limit::LoginLimiter::new(cleanup.clone())
                        .delete_expired()
                        .await
                    {
                        tracing::warn!(error = %e, "could not delete expired sign-in failure counts");
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

impl RunningApp {
    /// Waits for `signal`, then stops gracefully: no new imports, the messages in flight and
    /// the webhook deliveries finish, then open requests (at most 30 s more).
    pub async fn run_until(self, signal: impl Future<Output = ()>) -> anyhow::Result<()> {
        signal.await;
        tracing::info!("shutting down: no new imports; finishing the messages in flight");
        self.state.importer.shutdown().await;
        self.state.webhooks.shutdown().await;
        self.shutdown.cancel();
        match tokio::time::timeout(Duration::from_secs(30), self.task).await {
            Ok(joined) => joined.context("server task panicked")?,
            Err(_) => {
                tracing::warn!("connections did not close within 30 s; exiting anyway");
                Ok(())
            }
        }
    }
}

/// The line `serve` prints on stdout once it accepts connections and a SIGINT or SIGTERM
/// would stop it gracefully: scripts and tests wait for it before they use the server.
pub const READY_LINE: &str = "Mailport is listening on";

/// `mailport serve`: runs until `signal` completes. For SIGINT and SIGTERM, install
/// [`ShutdownSignals`] before calling and pass `async move { signals.recv().await }`, so a
/// SIGTERM after the ready line always stops gracefully; a test may pass its own future.
pub async fn serve(config: Config, signal: impl Future<Output = ()>) -> anyhow::Result<()> {
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let state = AppState::open(config).await?;
    let app = start(listener, state).await?;
    println!("{READY_LINE} {}", app.state.config.public_url);
    if let Some(link) = &app.setup_link {
        println!("No administrator exists yet. Open this one-time link to create one:\n  {link}");
    }
    app.run_until(signal).await
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
