//! The Microsoft Graph mail half of the sandbox: `/v1.0/users/{u}/mailFolders/...`,
//! `/v1.0/users/{u}/messages/...` (and the same under `/v1.0/me`), plus the test controls
//! under `/_sandbox/graph/...`.
//!
//! All state sits behind one mutex in [`GraphState`]; it is never held across an await.
//!
//! Where Microsoft's documentation is silent, the sandbox decides:
//! - admission order: token (401) → permission (403) → user (404 ErrorInvalidUser, also for a
//!   user of another tenant) → delegated user ≠ mailbox owner (403) → mailbox not enabled (404)
//!   → application access policy (403, app-only) → concurrency (429) → injected fault → latency;
//! - the concurrency limit (4) counts every app's requests to the mailbox together;
//! - unknown `$` options are 400 BadRequest; custom options without `$` are ignored;
//! - `DELETE` soft-deletes out of sight (see `messages::delete`); delta reports a move out of
//!   the folder as `@removed` reason `changed` and a `DELETE` as reason `deleted`;
//! - message lists page with `$skip` (stable order: requested order, then receivedDateTime
//!   desc, then immutable id); delta pages with opaque `$skiptoken`/`$deltatoken` kept in memory
//!   (never collected: the sandbox is short-lived);
//! - the 5,000-result cap of filtered delta is not emulated.

mod access;
mod control;
mod delta;
mod errors;
mod faults;
mod folders;
mod ids;
mod log;
mod mailbox;
mod messages;
mod mime;
mod odata;
mod render;
mod request;
mod seed;
mod throttle;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};

use super::world::World;

pub use control::{
    BulkMailboxes, ControlError, FolderInfo, MessageInfo, SeedOptions, SettingsPatch,
};
pub use faults::{Fault, FaultSpec, FaultTarget, RetryAfter, StormSpec};
pub use log::{LogEntry, RequestLogSnapshot};
pub use mailbox::MailboxSettings;
pub use seed::{GenerateSpec, Generated, generate};

/// Outlook's per-mailbox concurrency limit: a fifth simultaneous request is throttled.
pub const MAILBOX_CONCURRENCY: usize = 4;

/// Cheaply clonable handle on the Graph half of the sandbox.
#[derive(Clone)]
pub struct GraphState {
    pub world: World,
    inner: Arc<Mutex<Inner>>,
}

/// Everything Graph keeps: mailboxes by user object id (lowercase), faults, log, sync states.
#[derive(Default)]
struct Inner {
    mailboxes: HashMap<String, mailbox::Mailbox>,
    /// The settings a mailbox starts with (`PATCH /_sandbox/graph/mailboxes/settings`).
    default_settings: mailbox::MailboxSettings,
    faults: faults::Faults,
    log: log::RequestLog,
    delta: delta::SyncStates,
}

impl Inner {
    /// Mailboxes come into being on first use, with the well-known folders.
    fn mailbox(&mut self, user_id: &str) -> &mut mailbox::Mailbox {
        self.mailboxes
            .entry(user_id.to_lowercase())
            .or_insert_with(|| mailbox::Mailbox::with_settings(self.default_settings.clone()))
    }
}

impl GraphState {
    pub fn new(world: World) -> Self {
        GraphState {
            world,
            inner: Arc::new(Mutex::new(Inner::default())),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A poisoned lock only means a handler panicked; the data is still usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The routes of one mailbox, mounted under both `/v1.0/users/{user}` and `/v1.0/me`.
fn mailbox_routes() -> Router<GraphState> {
    Router::new()
        .route(
            "/mailFolders",
            get(folders::list_top).post(folders::create_top),
        )
        .route("/mailFolders/{folder}", get(folders::get_one))
        .route(
            "/mailFolders/{folder}/childFolders",
            get(folders::list_children).post(folders::create_child),
        )
        .route("/mailFolders/{folder}/messages", get(messages::list))
        .route("/mailFolders/{folder}/messages/delta", get(delta::delta))
        .route(
            "/mailFolders/{folder}/messages/{message}",
            get(messages::get_one)
                .patch(messages::patch)
                .delete(messages::delete),
        )
        .route("/messages", get(messages::list))
        .route(
            "/messages/{message}",
            get(messages::get_one)
                .patch(messages::patch)
                .delete(messages::delete),
        )
        .route("/messages/{message}/$value", get(messages::value))
        .route("/messages/{message}/move", post(messages::move_to))
}

pub fn router(state: GraphState) -> Router {
    let graph = Router::new()
        .nest("/v1.0/users/{user}", mailbox_routes())
        .nest("/v1.0/me", mailbox_routes())
        .route(
            "/v1.0/{*rest}",
            axum::routing::any(request::unknown_segment),
        )
        .layer(from_fn_with_state(state.clone(), request::middleware));
    Router::new()
        .merge(graph)
        .nest("/_sandbox/graph", control::router())
        .with_state(state)
}
