//! Runs in progress as the screens see them: their counts so far (the run log in the
//! database gets them only when a run ends) and whether a requested run waits for a slot.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::Importer;
use super::run::Progress;
use crate::store::runs::RunSummary;

/// The progress of every run going on, by account id.
#[derive(Default)]
pub struct LiveRuns {
    runs: Mutex<HashMap<String, Arc<Progress>>>,
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
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Progress>>> {
        // A poisoned lock only means a panic elsewhere; the map is still usable.
        self.runs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Shows `progress` as the account's run until the guard is dropped.
    pub fn register(&self, id: &str, progress: Arc<Progress>) -> LiveGuard<'_> {
        self.lock().insert(id.to_string(), progress);
        LiveGuard {
            live: self,
            id: id.to_string(),
        }
    }
}

impl Importer {
    /// The counts so far of the account's run, while one is going.
    pub fn live_progress(&self, id: &str) -> Option<RunSummary> {
        let progress = self.live.lock().get(id).cloned()?;
        Some(progress.snapshot())
    }

    /// Run now was pressed, and the run waits for the scheduler or for a free slot.
    pub fn is_queued(&self, id: &str) -> bool {
        self.requested
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(id)
    }
}
