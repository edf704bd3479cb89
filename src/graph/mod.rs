//! Mailport's Microsoft Graph mail client: typed requests and responses for one mailbox,
//! paging, delta, streamed `$value` downloads, throttling and retries.
//!
//! It shares no code with `crate::sandbox` (the emulator it is tested against), so that a
//! misreading of Graph's behaviour cannot hide on both sides.
//!
//! - [`client`]: the request engine (headers, permits, retries, token refresh).
//! - `answers`: reading answers (size caps, idle timeouts, JSON).
//! - `target`: the checked Graph URL and query encoding.
//! - [`folders`]: folder lookup by path, and creation.
//! - [`messages`]: listing, delta, `$value`, mark read, move, delete.
//! - [`links`]: the SSRF guard for nextLink/deltaLink.
//! - [`limits`]: per-mailbox concurrency shared across clients.
//! - `observe`: request ids in the debug log, and the app's metrics.

mod answers;
pub mod client;
pub mod errors;
pub mod folders;
mod http;
pub mod limits;
pub mod links;
pub mod messages;
mod observe;
mod target;

pub use client::{
    ClientStats, GraphClient, GraphSettings, MailboxLimits, RequestBudget, TokenSource,
};
pub use errors::{GraphError, GraphErrorKind};
pub use folders::Folder;
pub use http::build_graph_http_client;
pub use messages::{DeltaCursor, DeltaPage, MessageMeta, MessagePage, ValueSink};
pub use target::MailboxTarget;
