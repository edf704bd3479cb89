//! The reliability tests on PostgreSQL too: `cargo test` runs this binary's tests on SQLite,
//! and this test runs them all again in a child process of the same binary with
//! `MAILPORT_TEST_BACKEND=postgres`: every installation is then moved into a fresh database
//! of the child's throwaway cluster, and every `mailport serve` runs on it (the kill tests,
//! the webhook kill test, the load test and the several-instances tests).
//!
//! Without PostgreSQL this test says so loudly and passes; `MAILPORT_PG_REQUIRE=1` (set by
//! `.ci/run`) makes that a failure.

use std::process::Command;

use crate::harness::{on_postgres, postgres};

#[test]
fn every_reliability_test_also_passes_on_postgresql() {
    if on_postgres() || !postgres::installed() {
        return;
    }
    let exe = std::env::current_exe().expect("test binary");
    // One test at a time: each starts several processes and measures nothing, but their
    // liveness bounds assume a machine that is not running two kill tests at once.
    let out = Command::new(exe)
        .env("MAILPORT_TEST_BACKEND", "postgres")
        .args([
            "--skip",
            "every_reliability_test_also_passes_on_postgresql",
            "--test-threads=1",
        ])
        .output()
        .expect("run the reliability tests on PostgreSQL");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary = stdout
        .lines()
        .filter(|l| l.starts_with("test ") || l.starts_with("failures"))
        .collect::<Vec<_>>()
        .join("\n");
    eprintln!("reliability tests on PostgreSQL:\n{summary}");
    assert!(
        out.status.success(),
        "reliability tests failed on PostgreSQL (MAILPORT_TEST_BACKEND=postgres cargo test \
         --test reliability <name> reruns one):\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
