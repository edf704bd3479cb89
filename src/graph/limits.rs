//! Outlook allows 4 concurrent requests per mailbox (per app); a fifth is answered with 429
//! ApplicationThrottled. The limit is per mailbox, not per client, so the permits live in a
//! registry that every client of a mailbox shares: several runs or folders of the same
//! mailbox then queue here instead of being throttled by Exchange.
//!
//! The registry also keeps a per-mailbox "resume at" instant: a 429 with Retry-After pauses
//! every request to that mailbox, not only the one that was refused.
//!
//! And it spends the mailbox's request budget (10,000 requests per 10 minutes): when a long
//! import would exceed it, requests wait for the oldest to leave the window instead of
//! running into 429s.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use super::client::RequestBudget;

/// The shared registry: one semaphore per (Graph host, mailbox), plus an optional global cap.
#[derive(Clone, Default)]
pub struct MailboxLimits {
    slots: Arc<Mutex<HashMap<String, Arc<MailboxSlot>>>>,
    global: Option<Arc<Semaphore>>,
}

/// One mailbox's permits, pause and budget.
pub(crate) struct MailboxSlot {
    permits: Arc<Semaphore>,
    resume_at: Mutex<Option<Instant>>,
    budget: Option<RequestBudget>,
    /// When the requests still inside the budget's window were sent, oldest first.
    sent: Mutex<VecDeque<Instant>>,
}

/// Held while a request (including a streamed body) is in flight.
pub(crate) struct Permit {
    _mailbox: Option<OwnedSemaphorePermit>,
    _global: Option<OwnedSemaphorePermit>,
}

impl MailboxLimits {
    /// A registry without a global cap.
    pub fn new() -> Self {
        Self::default()
    }

    /// A registry that also caps all requests of all mailboxes together at `max_in_flight`.
    pub fn with_global_limit(max_in_flight: usize) -> Self {
        MailboxLimits {
            slots: Arc::default(),
            global: Some(Arc::new(Semaphore::new(max_in_flight.max(1)))),
        }
    }

    /// The slot of a mailbox; the first client to ask fixes its permits and budget.
    pub(crate) fn slot(
        &self,
        key: &str,
        permits: usize,
        budget: Option<RequestBudget>,
    ) -> Arc<MailboxSlot> {
        // A poisoned lock only means another thread panicked; the map is still usable.
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots
            .entry(key.to_string())
            .or_insert_with(|| {
                Arc::new(MailboxSlot {
                    permits: Arc::new(Semaphore::new(permits.max(1))),
                    resume_at: Mutex::new(None),
                    budget: budget.filter(|b| b.requests > 0),
                    sent: Mutex::new(VecDeque::new()),
                })
            })
            .clone()
    }

    pub(crate) fn global(&self) -> Option<Arc<Semaphore>> {
        self.global.clone()
    }

    /// How many mailbox slots exist (for tests and diagnostics).
    pub fn mailboxes(&self) -> usize {
        self.slots.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

impl MailboxSlot {
    /// Waits out any pause, then takes a mailbox permit (and a global one if configured).
    pub(crate) async fn acquire(&self, global: Option<&Arc<Semaphore>>) -> Permit {
        loop {
            let resume = *self.resume_at.lock().unwrap_or_else(|e| e.into_inner());
            match resume {
                Some(at) if at > Instant::now() => tokio::time::sleep_until(at).await,
                _ => break,
            }
        }
        // The semaphores are never closed, so acquiring cannot fail; if it ever did, running
        // without the permit is better than failing the import.
        let mailbox = self.permits.clone().acquire_owned().await.ok();
        // In turn (the permit is held while waiting), take room in the budget.
        while let Some(wait_until) = self.spend_budget(Instant::now()) {
            tokio::time::sleep_until(wait_until).await;
        }
        let global = match global {
            Some(g) => g.clone().acquire_owned().await.ok(),
            None => None,
        };
        Permit {
            _mailbox: mailbox,
            _global: global,
        }
    }

    /// Records a request sent at `now` if the budget has room; otherwise, when it will.
    fn spend_budget(&self, now: Instant) -> Option<Instant> {
        let budget = self.budget?;
        let mut sent = self.sent.lock().unwrap_or_else(|e| e.into_inner());
        while sent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= budget.window)
        {
            sent.pop_front();
        }
        if sent.len() < budget.requests {
            sent.push_back(now);
            return None;
        }
        sent.front().map(|oldest| *oldest + budget.window)
    }

    /// Pauses the whole mailbox until `until` (keeps a later pause already set).
    pub(crate) fn pause_until(&self, until: Instant) {
        let mut resume = self.resume_at.lock().unwrap_or_else(|e| e.into_inner());
        if resume.is_none_or(|r| r < until) {
            *resume = Some(until);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn permits_are_shared_per_key() {
        let limits = MailboxLimits::new();
        let a = limits.slot("graph|alice", 2, None);
        let a2 = limits.clone().slot("graph|alice", 9, None);
        let b = limits.slot("graph|bob", 2, None);
        assert_eq!(limits.mailboxes(), 2);
        let _p1 = a.acquire(None).await;
        let _p2 = a2.acquire(None).await;
        // Alice is full, whichever client asks; Bob is not.
        let third =
            tokio::time::timeout(std::time::Duration::from_millis(50), a.acquire(None)).await;
        assert!(third.is_err());
        let _p3 = b.acquire(None).await;
    }

    #[tokio::test]
    async fn a_pause_delays_everyone() {
        let limits = MailboxLimits::with_global_limit(8);
        let slot = limits.slot("k", 4, None);
        let start = Instant::now();
        slot.pause_until(start + std::time::Duration::from_millis(120));
        slot.pause_until(start + std::time::Duration::from_millis(10));
        let _p = slot.acquire(limits.global().as_ref()).await;
        assert!(start.elapsed() >= std::time::Duration::from_millis(120));
    }

    #[tokio::test(start_paused = true)]
    async fn the_budget_makes_requests_wait_for_the_window() {
        let limits = MailboxLimits::new();
        let budget = RequestBudget {
            requests: 3,
            window: std::time::Duration::from_secs(10),
        };
        let slot = limits.slot("k", 4, Some(budget));
        let start = Instant::now();
        for _ in 0..3 {
            drop(slot.acquire(None).await);
        }
        assert_eq!(start.elapsed(), std::time::Duration::ZERO);
        // The fourth waits until the first leaves the window, and not longer.
        drop(slot.acquire(None).await);
        assert_eq!(start.elapsed(), std::time::Duration::from_secs(10));
    }
}
