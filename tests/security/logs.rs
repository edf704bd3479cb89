//! Captures what Mailport logs at debug level, for every test of this binary, so that the
//! secrets test can search it. The sandbox's own logs are left out: it is the test's
//! stand-in for Microsoft, and it knows the secrets by design.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use tracing_subscriber::EnvFilter;

static BUFFER: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();

struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs the capturing subscriber (once per process) and returns its buffer.
pub fn capture() -> Arc<Mutex<Vec<u8>>> {
    BUFFER
        .get_or_init(|| {
            let buffer = Arc::new(Mutex::new(Vec::new()));
            let for_writer = buffer.clone();
            let installed = tracing_subscriber::fmt()
                .with_env_filter(EnvFilter::new("debug,mailport::sandbox=off"))
                .with_ansi(false)
                .with_writer(move || Sink(for_writer.clone()))
                .try_init();
            assert!(installed.is_ok(), "another subscriber is installed");
            buffer
        })
        .clone()
}

/// Everything logged so far.
pub fn text() -> String {
    let buffer = capture();
    let bytes = buffer.lock().unwrap_or_else(|e| e.into_inner()).clone();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The log lines so far that mention `marker`.
pub fn lines_with(marker: &str) -> Vec<String> {
    text()
        .lines()
        .filter(|l| l.contains(marker))
        .map(str::to_string)
        .collect()
}
