//! Runs in progress as the screens see them: their counts so far (the account and the run
//! history in the database get them only when a run ends) and whether a requested run waits
//! for a slot. Whether an account runs at all is [`Importer::is_running`]; a run shows here
//! from the moment its account is read until its end is recorded.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::Importer;
use super::progress::Progress;
use crate::store::runs::RunSummary;

/// A run going on, as [`Importer::live_run`] returns it.
#[derive(Debug, Clone)]
pub struct LiveRun {
    /// When the run started, unix seconds.
    pub started_at: i64,
    /// Its counts and log so far.
    pub summary: RunSummary,
}

/// The progress of every run going on, by account id.
#[derive(Default)]
pub struct LiveRuns {
    runs: Mutex<HashMap<String, (i64, Arc<Progress>)>>,
}

/// Removes a run from [`LiveRuns`] when dropped, however the run ends.
pub struct LiveGuard<'a> {
    live: &'a LiveRuns,
    id: String,
}

impl Drop for LiveGuard<'_> {
    fn drop(&mut self) {
        self.live.lock().remove(&self.id);
    }
}

impl LiveRuns {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (i64, Arc<Progress>)>> {
        // A poisoned lock only means a panic elsewhere; the map is still usable.
        self.runs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Shows `progress` as the account's run, started at `started_at` (unix seconds), until
    /// the guard is dropped.
    pub fn register(&self, id: &str, started_at: i64, progress: Arc<Progress>) -> LiveGuard<'_> {
        self.lock().insert(id.to_string(), (started_at, progress));
        LiveGuard {
            live: self,
            id: id.to_string(),
        }
    }
}

impl Importer {
    /// The account's run going on, with its counts so far; `None` when none is.
    pub fn live_run(&self, id: &str) -> Option<LiveRun> {
        let (started_at, progress) = self.live.lock().get(id).cloned()?;
        Some(LiveRun {
            started_at,
            summary: progress.snapshot(),
        })
    }

    /// Run now was pressed, and the run waits for the scheduler or for a free slot.
    pub fn is_queued(&self, id: &str) -> bool {
        self.requested
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .any(|queued| queued == id)
    }
}
