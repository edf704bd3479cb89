//! The API tests on PostgreSQL too: `cargo test` runs this binary's tests on SQLite, and this
//! test runs them all again in a child process of the same binary with
//! `MAILPORT_TEST_BACKEND=postgres` (every test app then gets a fresh database on the child's
//! throwaway cluster). One compiled binary, one command, both backends; tests that do not
//! touch the store (the sandbox's own tests, the Graph client, the MIME corpus) run once.
//!
//! Without PostgreSQL this test says so loudly and passes; `MAILPORT_PG_REQUIRE=1` (set by
//! `.ci/run`) makes that a failure.

use std::process::Command;

use crate::helpers::{postgres, test_backend_is_postgres};

/// Modules that never open a database; not worth a second run.
const STORE_FREE: &[&str] = &["sandbox::", "graph_client::", "corpus::"];

#[test]
fn every_api_test_also_passes_on_postgresql() {
    if test_backend_is_postgres() {
        return;
    }
    if !postgres::installed() {
        return;
    }
    let exe = std::env::current_exe().expect("test binary");
    let mut child = Command::new(exe);
    child
        .env("MAILPORT_TEST_BACKEND", "postgres")
        .args(["--skip", "every_api_test_also_passes_on_postgresql"]);
    for module in STORE_FREE {
        child.args(["--skip", module]);
    }
    // Half the cores: the SQLite run of the same tests goes on meanwhile.
    let threads = std::thread::available_parallelism().map_or(2, |n| (n.get() / 2).max(2));
    child.arg(format!("--test-threads={threads}"));
    let out = child.output().expect("run the API tests on PostgreSQL");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary = stdout
        .lines()
        .filter(|l| {
            l.starts_with("test result") || l.contains("FAILED") || l.starts_with("failures")
        })
        .collect::<Vec<_>>()
        .join("\n");
    eprintln!("API tests on PostgreSQL:\n{summary}");
    assert!(
        out.status.success(),
        "API tests failed on PostgreSQL (MAILPORT_TEST_BACKEND=postgres cargo test --test api \
         <name> reruns one):\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
