//! What a run reports as it goes: its counts and log ([`Progress`]), what became of each
//! message ([`Handled`]) and why it stopped early ([`Stop`]). Shared by the run and the
//! post-import action, which import it and nothing of each other.

use crate::graph::GraphError;
use crate::store::accounts::AccountStatus;
use crate::store::committer::CommitError;
use crate::store::runs::{RunOutcome, RunSummary};

/// Why a run stopped early.
#[derive(Debug)]
pub enum Stop {
    /// The account cannot run: credential needs consent, is rejected, or is missing.
    Credential {
        status: AccountStatus,
        detail: String,
    },
    /// Graph refused or failed in a way that ends this run.
    Graph(GraphError),
    /// Storage (disk, database) failed: nothing more is touched in the mailbox.
    Storage(StorageError),
    /// Shutdown was requested.
    Cancelled,
}

/// Counts and log of a run in progress, shared by the messages processed concurrently.
pub struct Progress {
    summary: std::sync::Mutex<RunSummary>,
    /// Messages this run may still process (the per-run cap).
    budget: std::sync::atomic::AtomicUsize,
    /// The deltaLink of a delta round this run completed, stored when the run is recorded.
    round_end: std::sync::Mutex<Option<String>>,
}

impl Progress {
    /// Adds a line to the run's log, as a sentence.
    pub(super) fn log(&self, line: impl Into<String>) {
        let line = crate::prose::sentence(line.into());
        self.update(|s| s.log.push(line));
    }

    pub(super) fn update(&self, f: impl FnOnce(&mut RunSummary)) {
        f(&mut self.summary.lock().unwrap_or_else(|e| e.into_inner()));
    }

    /// Takes one message from the budget; false when the run's cap is reached.
    pub(super) fn take_budget(&self) -> bool {
        use std::sync::atomic::Ordering;
        self.budget
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |b| b.checked_sub(1))
            .is_ok()
    }

    /// The run's counts and log, and the deltaLink of a delta round it completed (taken:
    /// a second call has none). The screens may still read the counts through
    /// [`Progress::snapshot`] until the run is recorded.
    pub fn take_parts(&self) -> (RunSummary, Option<String>) {
        (
            self.snapshot(),
            self.round_end
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take(),
        )
    }

    /// The counts and log so far.
    pub fn snapshot(&self) -> RunSummary {
        self.summary
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub(super) fn complete_round(&self, delta_link: String) {
        *self.round_end.lock().unwrap_or_else(|e| e.into_inner()) = Some(delta_link);
    }
}

/// What became of one message of a page.
pub(super) enum Handled {
    /// Stored (or known, or too large, or gone) and still in the folder.
    Stayed,
    /// Stored, then moved or deleted.
    LeftFolder,
    /// Not stored this time, left untouched in the mailbox: try again later.
    Failed,
}

impl Progress {
    pub fn new(budget: usize) -> Self {
        Progress {
            summary: std::sync::Mutex::new(RunSummary {
                outcome: RunOutcome::Running,
                ..RunSummary::default()
            }),
            budget: std::sync::atomic::AtomicUsize::new(budget),
            round_end: std::sync::Mutex::new(None),
        }
    }
}

/// What failed in storage, with its cause kept (`source()`). The texts are what the run
/// history shows.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error("Mailport cannot write to the blob store: {0}.")]
    BlobWrite(#[source] std::io::Error),
    #[error("Mailport cannot read back a stored message: {0}.")]
    ReadBack(#[source] std::io::Error),
    #[error("Mailport cannot record the message: {0}.")]
    Record(#[source] CommitError),
    /// The run's message slots were closed (only when the run is torn down).
    #[error("the run's message slots closed: {0}")]
    Slots(#[from] tokio::sync::AcquireError),
}

impl From<StorageError> for Stop {
    fn from(e: StorageError) -> Self {
        Stop::Storage(e)
    }
}

/// A storage failure as the [`Stop`] it causes.
pub(super) fn storage(e: impl Into<StorageError>) -> Stop {
    Stop::Storage(e.into())
}

pub(super) fn short(id: &str) -> &str {
    &id[..id.len().min(16)]
}
