//! Log output: always to stderr, filtered by `MAILPORT_LOG`, coloured only for a person.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Installs the global log subscriber: `MAILPORT_LOG` (default `info`) filters, stderr
/// receives, and ANSI colour codes are written only when [`use_colour`] says so.
pub fn init() {
    let colour = use_colour(
        std::io::stderr().is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
    );
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("MAILPORT_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_ansi(colour)
        .with_writer(std::io::stderr)
        .init();
}

/// Whether log lines may carry colour codes: only when stderr is a terminal (a file or a pipe
/// would keep the escape codes as garbage), and not when `NO_COLOR` is set to anything but
/// the empty string (<https://no-color.org>).
pub fn use_colour(stderr_is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    stderr_is_terminal && no_color.is_none_or(|v| v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::use_colour;
    use std::ffi::OsStr;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(use_colour(true, None));
        assert!(
            use_colour(true, Some(OsStr::new(""))),
            "an empty NO_COLOR is unset"
        );
        assert!(!use_colour(true, Some(OsStr::new("1"))));
        assert!(
            !use_colour(true, Some(OsStr::new("false"))),
            "any value counts"
        );
        assert!(
            !use_colour(false, None),
            "files and pipes get no escape codes"
        );
        assert!(!use_colour(false, Some(OsStr::new("1"))));
    }
}
