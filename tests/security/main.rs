//! Mailport's security and bad-input tests: one binary, one module per area. Like the `api`
//! binary, everything runs over real HTTP against a real app and sandbox on loopback ports;
//! the hostile servers and clients the tests need are built here.
//!
//! Run it alone with `cargo test --test security`.

#[path = "../common/mod.rs"]
mod helpers;
// The api binary's message builder; this binary uses only part of it.
#[allow(dead_code)]
#[path = "../api/mail/fixtures.rs"]
mod fixtures;

mod bad_input;
mod data_dir;
mod hostile;
mod limits;
mod log_lines;
mod logs;
mod mail_text;
mod oauth;
mod outbound;
mod rate_limit;
mod redirects;
mod routes;
mod secrets;
mod sessions;
mod snapshot;
mod traces;
