//! A throwaway PostgreSQL cluster for tests and benchmarks: Debian's `postgresql` package
//! (`initdb`, `pg_ctl`, `postgres` from `/usr/lib/postgresql/<version>/bin` or PATH), in a
//! temp dir, on a free loopback port, with password (SCRAM) authentication. One cluster per
//! process, started on first use; a watchdog process stops it and deletes its folder when
//! the process that started it ends, however it ends. Each caller gets a fresh database.
//!
//! The tools refuse to run as root, so as root the cluster runs as `nobody` (through
//! `setpriv`), in a folder given to `nobody`.
//!
//! Without PostgreSQL, [`available`] says so loudly and returns `None` (the PostgreSQL half
//! of a test is skipped); with `MAILPORT_PG_REQUIRE=1` a missing PostgreSQL fails instead.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The user and password of the test cluster's superuser.
pub const USER: &str = "mailport";
pub const PASSWORD: &str = "pg-test-Secret-7c1d";

/// A running test cluster.
pub struct Cluster {
    pub port: u16,
    /// Holds the data folder until the process ends (the watchdog deletes it).
    _dir: PathBuf,
}

static CLUSTER: OnceLock<Option<Cluster>> = OnceLock::new();

/// Set before the first [`available`] to run the cluster with PostgreSQL's durable defaults
/// (fsync, synchronous commit), as benchmarks must; tests run without them.
pub static DURABLE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
static NEXT_DB: AtomicU32 = AtomicU32::new(0);

/// The folder holding `initdb` and `pg_ctl`: `MAILPORT_PG_BIN`, Debian's newest
/// `/usr/lib/postgresql/<version>/bin`, or PATH.
fn bin_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("MAILPORT_PG_BIN") {
        let dir = PathBuf::from(dir);
        return dir.join("initdb").is_file().then_some(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((v, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Some(bin);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).find(|d| d.join("initdb").is_file() && d.join("pg_ctl").is_file())
}

/// True when PostgreSQL must run (CI): a skip is then a failure.
pub fn required() -> bool {
    std::env::var("MAILPORT_PG_REQUIRE").as_deref() == Ok("1")
}

/// True when the PostgreSQL tools are installed. When they are not, says so loudly and
/// returns false, or fails when `MAILPORT_PG_REQUIRE=1`.
pub fn installed() -> bool {
    if bin_dir().is_some() {
        return true;
    }
    skip_or_fail();
    false
}

fn skip_or_fail() {
    let how = "install Debian's `postgresql` package (`apt-get install -y postgresql`; \
        .ci/run does this) or point MAILPORT_PG_BIN at the folder holding initdb and pg_ctl";
    if required() {
        panic!("MAILPORT_PG_REQUIRE=1 but PostgreSQL was not found: {how}");
    }
    eprintln!(
        "\n!!!!! SKIPPED: the PostgreSQL half of the store and API tests did not run: \
         initdb/pg_ctl not found. To run it, {how}. Set MAILPORT_PG_REQUIRE=1 to make \
         this a failure. !!!!!\n"
    );
}

/// The process-wide cluster, started on first use; `None` (after a loud message) when
/// PostgreSQL is not installed and not required.
pub fn available() -> Option<&'static Cluster> {
    CLUSTER
        .get_or_init(|| match bin_dir() {
            Some(bin) => Some(start(&bin).unwrap_or_else(|e| {
                panic!(
                    "could not start the test PostgreSQL cluster from {}: {e}",
                    bin.display()
                )
            })),
            None => {
                skip_or_fail();
                None
            }
        })
        .as_ref()
}

/// True when this process runs as root (the PostgreSQL tools then run as `nobody`).
fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

/// `program` as the cluster's owner: itself, or through `setpriv` as `nobody` when root.
fn as_owner(program: &Path) -> Command {
    if is_root() {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
            .arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn run(mut cmd: Command, what: &str) -> Result<(), String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{what}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn start(bin: &Path) -> Result<Cluster, String> {
    let dir = tempfile::Builder::new()
        .prefix("mailport-pg-")
        .tempdir()
        .map_err(|e| e.to_string())?
        .keep();
    let data = dir.join("data");
    let pwfile = dir.join("pw");
    std::fs::write(&pwfile, PASSWORD).map_err(|e| e.to_string())?;
    if is_root() {
        run(
            {
                let mut c = Command::new("chown");
                c.args(["-R", "nobody:nogroup"]).arg(&dir);
                c
            },
            "chown of the cluster folder",
        )?;
    }
    let mut initdb = as_owner(&bin.join("initdb"));
    initdb
        .arg("-D")
        .arg(&data)
        .args([
            "-U",
            USER,
            "--auth=scram-sha-256",
            "-E",
            "UTF8",
            "--no-sync",
        ])
        .arg(format!("--pwfile={}", pwfile.display()));
    run(initdb, "initdb")?;
    let port = free_port().map_err(|e| e.to_string())?;
    let speed = if DURABLE.load(Ordering::Relaxed) {
        ""
    } else {
        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c shared_buffers=32MB"
    };
    let options = format!("-h 127.0.0.1 -p {port} -k '' {speed} -c max_connections=400");
    let mut pg_ctl = as_owner(&bin.join("pg_ctl"));
    pg_ctl
        .arg("-D")
        .arg(&data)
        .arg("-o")
        .arg(&options)
        .arg("-l")
        .arg(dir.join("log"))
        .args(["-w", "-t", "60", "start"]);
    run(pg_ctl, "pg_ctl start")?;
    // Stops the cluster and deletes its folder once this process is gone.
    let watchdog = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 1; done; \
         {stop} -D '{data}' -m immediate stop >/dev/null 2>&1; rm -rf '{dir}'",
        pid = std::process::id(),
        stop = bin.join("pg_ctl").display(),
        data = data.display(),
        dir = dir.display(),
    );
    let mut sh = if is_root() {
        // The watchdog runs as root (to delete the folder); pg_ctl stop as the owner.
        let stop_as_owner = watchdog.replace(
            &format!("{} -D", bin.join("pg_ctl").display()),
            &format!(
                "setpriv --reuid=nobody --regid=nogroup --clear-groups -- {} -D",
                bin.join("pg_ctl").display()
            ),
        );
        let mut c = Command::new("sh");
        c.arg("-c").arg(stop_as_owner);
        c
    } else {
        let mut c = Command::new("sh");
        c.arg("-c").arg(watchdog);
        c
    };
    sh.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("starting the cluster's watchdog: {e}"))?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            return Err(format!(
                "PostgreSQL did not listen on port {port} within 30 s"
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(Cluster { port, _dir: dir })
}

impl Cluster {
    /// The URL of database `name` on this cluster.
    pub fn url(&self, name: &str) -> String {
        format!(
            "postgres://{USER}:{PASSWORD}@127.0.0.1:{}/{name}",
            self.port
        )
    }

    /// A new, empty database with a name unique in this process; returns its URL.
    pub async fn fresh_database(&self) -> String {
        let name = format!(
            "t{}_{}",
            std::process::id(),
            NEXT_DB.fetch_add(1, Ordering::Relaxed)
        );
        sqlx::any::install_default_drivers();
        let mut admin = <sqlx::AnyConnection as sqlx::Connection>::connect(&self.url("postgres"))
            .await
            .expect("connect to the test cluster");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .expect("create a test database");
        let _ = sqlx::Connection::close(admin).await;
        self.url(&name)
    }
}
