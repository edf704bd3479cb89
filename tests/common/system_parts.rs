//! Optional system parts: programs or services on the machine that some tests need and
//! `cargo` cannot build (Chromium and ChromeDriver today; PostgreSQL next).
//!
//! One rule for all of them, so that `cargo test` is green and honest on any fresh machine:
//! - the part is found: its tests run;
//! - the part is missing: its tests are reported as **ignored** in the test runner's own
//!   summary (with the reason next to each), and one line on stderr, which cargo shows,
//!   says which packages to install;
//! - `MAILPORT_<PART>_REQUIRE=1` (CI sets it): a missing part **fails** its tests instead;
//! - `MAILPORT_<PART>_SKIP=1`: its tests are ignored knowingly, even where the part exists.
//!
//! The standard test harness cannot ignore a test at run time, so a test binary whose
//! tests need such a part uses `harness = false` and `libtest-mimic` (same command line, same
//! summary), and builds its trials with [`Presence::trial`].

use libtest_mimic::{Completion, Failed, Trial};

/// One optional part and how a person gets it.
pub struct SystemPart {
    /// What the part is, for messages: "Chromium and ChromeDriver".
    pub name: &'static str,
    /// The command that installs it on Debian or Ubuntu.
    pub install: &'static str,
    /// Set to `1`, a missing part fails its tests (CI).
    pub require_var: &'static str,
    /// Set to `1`, its tests are ignored even where the part exists.
    pub skip_var: &'static str,
}

/// What the rule decided for one part.
pub enum Presence<T> {
    /// Found: what the probe found (paths, a connection string …).
    Present(T),
    /// The tests are ignored, for this reason.
    Ignored(String),
    /// The tests fail with this message (missing while required).
    Required(String),
}

fn flag(var: &str) -> bool {
    std::env::var(var).is_ok_and(|v| v.trim() == "1")
}

impl SystemPart {
    /// Probes for the part (`Err` says what is missing) and applies the rule. When the tests
    /// are to be ignored, prints the one line that tells a person what to install.
    pub fn look_for<T>(&self, probe: impl FnOnce() -> Result<T, String>) -> Presence<T> {
        if flag(self.skip_var) {
            eprintln!(
                "note: the tests that need {} are ignored because {}=1.",
                self.name, self.skip_var
            );
            return Presence::Ignored(format!("{}=1", self.skip_var));
        }
        match probe() {
            Ok(found) => Presence::Present(found),
            Err(missing) if flag(self.require_var) => Presence::Required(format!(
                "{missing}, and {}=1 makes that a failure. Install {} with `{}`.",
                self.require_var, self.name, self.install
            )),
            Err(missing) => {
                eprintln!(
                    "note: the tests that need {} are ignored: {missing}. Install {} with `{}` \
                     to run them; with {}=1 a missing part fails them.",
                    self.name, self.name, self.install, self.require_var
                );
                Presence::Ignored(format!("needs {}: {missing}", self.name))
            }
        }
    }
}

impl<T: Clone + Send + 'static> Presence<T> {
    /// A trial that runs `body` with what was found, is ignored (with the reason) when the
    /// part is missing, or fails when the part is required.
    pub fn trial(
        &self,
        name: &str,
        body: impl FnOnce(T) -> Result<(), Failed> + Send + 'static,
    ) -> Trial {
        let decided = match self {
            Presence::Present(found) => Ok(found.clone()),
            Presence::Ignored(reason) => Err(Ok(reason.clone())),
            Presence::Required(message) => Err(Err(message.clone())),
        };
        Trial::ignorable_test(name, move || match decided {
            Ok(found) => body(found).map(|()| Completion::Completed),
            Err(Ok(reason)) => Ok(Completion::ignored_with(reason)),
            Err(Err(message)) => Err(message.into()),
        })
    }
}

/// Runs an async test body on a fresh multi-threaded runtime, as `#[tokio::test]` would.
pub fn block_on(body: impl std::future::Future<Output = ()>) -> Result<(), Failed> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failed::from(format!("cannot start a tokio runtime: {e}")))?;
    runtime.block_on(body);
    Ok(())
}
