//! What the benchmarks share: the sandbox as its own process, and a process's CPU time.
#![allow(dead_code)]

#[path = "../../tests/common/postgres.rs"]
pub mod postgres;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// `mailport sandbox` on a free loopback port, killed when dropped.
pub struct Sandbox {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub base: String,
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn start_sandbox() -> Sandbox {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_mailport"))
        .args(["sandbox", "--listen", &format!("127.0.0.1:{port}")])
        .env("MAILPORT_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start sandbox");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("sandbox banner");
    Sandbox {
        child,
        base: format!("http://127.0.0.1:{port}"),
    }
}

/// utime + stime of a live process, in seconds.
pub fn cpu_secs(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// Moves a prepared SQLite data dir into a fresh database of the throwaway cluster with
/// `mailport migrate-to-postgres`; returns the database URL.
#[allow(dead_code)]
pub async fn move_to_postgres(data_dir: &std::path::Path) -> String {
    let cluster = postgres::available().expect("PostgreSQL");
    let url = cluster.fresh_database().await;
    let out = Command::new(env!("CARGO_BIN_EXE_mailport"))
        .arg("migrate-to-postgres")
        .arg("--data-dir")
        .arg(data_dir)
        .args(["--database-url", &url])
        .env("MAILPORT_LOG", "warn")
        .output()
        .expect("migrate-to-postgres");
    assert!(
        out.status.success(),
        "migrate-to-postgres: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    url
}
