//! Mailport's Microsoft Graph mail client: typed requests and responses for one mailbox,
//! paging, delta, streamed `$value` downloads, throttling and retries.
//!
//! It shares no code with `crate::sandbox` (the emulator it is tested against), so that a
//! misreading of Graph's behaviour cannot hide on both sides.
//!
//! - [`client`]: the request engine (headers, permits, retries, token refresh).
//! - [`folders`]: folder lookup by path, and creation.
//! - [`messages`]: listing, delta, `$value`, mark read, move, delete.
//! - [`links`]: the SSRF guard for nextLink/deltaLink.
//! - [`limits`]: per-mailbox concurrency shared across clients.
//! - [`retry_after`]: parsing `Retry-After`.

pub mod client;
pub mod errors;
pub mod folders;
pub mod limits;
pub mod links;
pub mod messages;
pub mod retry_after;

pub use client::{ClientStats, GraphClient, GraphSettings, MailboxLimits, TokenSource};
pub use errors::{GraphError, GraphErrorKind};
pub use folders::Folder;
pub use messages::{DeltaCursor, DeltaPage, MessageMeta, MessagePage, ValueSink};

/// Where to find a mailbox: `users/{upn-or-id}` for application permissions, `me` for
/// delegated with an empty mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxTarget {
    /// `https://graph.microsoft.com/v1.0`, a national cloud's, or `http://127.0.0.1:PORT/v1.0`.
    pub graph_url: String,
    /// A UPN or user object id; `None` (or empty) addresses `/me`.
    pub mailbox: Option<String>,
}
