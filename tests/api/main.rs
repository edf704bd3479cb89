//! Mailport's integration tests: one binary, one module per area. Everything runs over real
//! HTTP on loopback ports: the app and the sandbox each on port 0.

mod accounts;
mod accounts_api;
mod accounts_csv;
mod auth;
mod backends;
mod cli;
mod corpus;
mod credentials;
mod error_text;
mod graph_client;
#[path = "../common/mod.rs"]
mod helpers;
mod import;
mod import_faults;
mod instances;
mod leases;
mod mail;
mod metrics;
mod openapi;
mod sandbox;
mod scheduler;
mod store_backends;
mod stored_values;
mod tokens;
mod webhooks;
