//! A faithful offline emulator of Microsoft Entra ID (login.microsoftonline.com) and the
//! Microsoft Graph mail API, used by the tests, `mailport demo` and `mailport sandbox`.
//!
//! It also receives webhooks as a business application would (`receiver`).
//!
//! It shares no code with Mailport's client side, so that a misunderstanding of Microsoft's
//! behaviour cannot hide on both sides at once.

pub mod graph;
pub mod identity;
mod index;
pub mod receiver;
pub mod world;

use std::net::SocketAddr;

use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use world::{SandboxConfig, World};

/// Everything one running sandbox holds.
#[derive(Clone)]
pub struct Sandbox {
    pub world: World,
    pub graph: graph::GraphState,
    /// The webhook receivers (a small "business application").
    pub receiver: receiver::ReceiverState,
}

impl Sandbox {
    pub fn new(config: SandboxConfig) -> Self {
        let world = World::new(config);
        let graph = graph::GraphState::new(world.clone());
        Sandbox {
            world,
            graph,
            receiver: receiver::ReceiverState::default(),
        }
    }

    /// The HTTP routes of both halves, the `/_sandbox/...` test controls, and a front page
    /// at `/` that says what this is.
    pub fn router(&self) -> Router {
        Router::new()
            .merge(index::router(self.clone()))
            .merge(identity::router(self.world.clone()))
            .merge(graph::router(self.graph.clone()))
            .merge(receiver::router(self.receiver.clone()))
    }
}

/// A sandbox serving on a loopback port until its token is cancelled (or it is dropped with the runtime).
pub struct SandboxHandle {
    pub addr: SocketAddr,
    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub base_url: String,
    pub sandbox: Sandbox,
    pub shutdown: CancellationToken,
}

/// Serves the sandbox on an already bound listener, in a background task.
pub async fn spawn(listener: TcpListener, config: SandboxConfig) -> anyhow::Result<SandboxHandle> {
    let addr = listener.local_addr()?;
    let sandbox = Sandbox::new(config);
    let shutdown = CancellationToken::new();
    let router = sandbox.router();
    let stop = shutdown.clone();
    // Like Microsoft's front door, answer without Nagle's delay: a body written after its head
    // must not wait for the client's delayed ACK.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    tokio::spawn(async move {
        let result = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move { stop.cancelled().await })
        .await;
        if let Err(e) = result {
            tracing::error!(error = %e, "sandbox server failed");
        }
    });
    Ok(SandboxHandle {
        addr,
        base_url: format!("http://{addr}"),
        sandbox,
        shutdown,
    })
}

/// `mailport sandbox`: serves the sandbox until SIGINT (Ctrl-C) or SIGTERM.
pub async fn run_standalone(
    listen: SocketAddr,
    config_path: Option<std::path::PathBuf>,
    redirect_uris: Vec<String>,
) -> anyhow::Result<()> {
    let config = match config_path {
        Some(path) => SandboxConfig::from_json_file(&path)?,
        None => SandboxConfig::demo(redirect_uris),
    };
    let mut signals = crate::app::ShutdownSignals::install()?;
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
    let handle = spawn(listener, config).await?;
    println!(
        "Mailport sandbox (Entra ID + Graph) listening on {}",
        handle.base_url
    );
    signals.recv().await;
    handle.shutdown.cancel();
    Ok(())
}
