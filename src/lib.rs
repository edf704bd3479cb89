//! Mailport connects an organisation's Exchange Online mailboxes to its business
//! application over OAuth2 and Microsoft Graph, and imports their mail reliably.

/// Running the application: the HTTP server, background tasks and graceful shutdown.
pub mod app;
/// The command line.
pub mod cli;
/// The wall clock in unix seconds.
pub mod clock;
/// Configuration from flags and environment.
pub mod config;
/// Encryption at rest and redacted secrets.
pub mod crypto;
/// `mailport demo`: the app and the sandbox together, with demo data.
pub mod demo;
/// The handlers' error type.
pub mod error;
/// The Microsoft Graph client.
pub mod graph;
/// The background Graph importer.
pub mod import;
/// The id of this instance among several sharing one database.
pub mod instance;
/// Log output: filter, destination, colours.
pub mod logging;
/// Prometheus metrics of one instance (`/metrics`).
pub mod metrics;
/// `mailport migrate-to-postgres`: moving a SQLite installation to PostgreSQL.
pub mod migrate;
/// Parsing raw messages.
pub mod mime;
/// The OAuth2 client and token service.
pub mod oauth;
/// The outbound host policy: where secrets and tokens may be sent.
pub mod outbound;
/// Administrator password hashing.
pub mod passwords;
/// Messages as sentences.
pub mod prose;
/// The `Retry-After` header (RFC 9110 §10.2.3) as a wait.
pub mod retry_after;
/// The offline Entra ID and Graph emulator.
pub mod sandbox;
/// The application's shared services, opened from the configuration.
pub mod state;
/// Database access.
pub mod store;
/// The web interface.
pub mod web;
/// Webhooks: signed deliveries of imported mail to the business application.
pub mod webhooks;
