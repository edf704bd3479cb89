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

use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use tokio::time::Instant;

/// So many requests in any sliding window of `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestBudget {
    pub requests: usize,
    pub window: Duration,
}

impl RequestBudget {
    /// Microsoft's: 10,000 requests per 10 minutes per app and mailbox. The window is a
    /// second longer here: Exchange counts a request when it arrives, a little after we send
    /// it, so a window as long as Exchange's would let the 10,001st in a moment too early.
    pub const OUTLOOK: RequestBudget = RequestBudget {
        requests: 10_000,
        window: Duration::from_secs(601),
    };
}

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
    /// Requests waiting for room in the budget queue here, first come first served.
    budget_turn: tokio::sync::Mutex<()>,
}

/// Held while a request (including a streamed body) is in flight.
pub(crate) struct Permit {
    _mailbox: Option<OwnedSemaphorePermit>,
    _global: Option<OwnedSemaphorePermit>,
    /// The budget entry taken for this request, until [`MailboxSlot::mark_sent`] dates it.
    budget_entry: Option<Instant>,
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
                    budget_turn: tokio::sync::Mutex::new(()),
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
    /// Waits out any pause, takes a mailbox permit, room in the budget (in turn, holding the
    /// permit), waits out a pause that began meanwhile, then a global permit if configured.
    /// When room in the budget is further away than `budget_wait_limit`, gives up at once
    /// with how long it would have been.
    pub(crate) async fn acquire(
        &self,
        global: Option<&Arc<Semaphore>>,
        budget_wait_limit: Option<std::time::Duration>,
    ) -> Result<Permit, std::time::Duration> {
        self.wait_out_pause().await;
        // The semaphores are never closed, so acquiring cannot fail; if it ever did, running
        // without the permit is better than failing the import.
        let mailbox = self.permits.clone().acquire_owned().await.ok();
        let budget_entry = match self.budget {
            Some(_) => {
                let _turn = self.budget_turn.lock().await;
                loop {
                    let now = Instant::now();
                    match self.spend_budget(now) {
                        None => break Some(now),
                        Some(wait_until) => {
                            let wait = wait_until.saturating_duration_since(now);
                            if budget_wait_limit.is_some_and(|limit| wait > limit) {
                                return Err(wait);
                            }
                            tokio::time::sleep_until(wait_until).await
                        }
                    }
                }
            }
            None => None,
        };
        self.wait_out_pause().await;
        let global = match global {
            Some(g) => g.clone().acquire_owned().await.ok(),
            None => None,
        };
        Ok(Permit {
            _mailbox: mailbox,
            _global: global,
            budget_entry,
        })
    }

    async fn wait_out_pause(&self) {
        loop {
            let resume = *self.resume_at.lock().unwrap_or_else(|e| e.into_inner());
            match resume {
                Some(at) if at > Instant::now() => tokio::time::sleep_until(at).await,
                _ => break,
            }
        }
    }

    /// Dates the permit's budget entry to now, just before the request leaves: Exchange
    /// counts it when it arrives, which is after everything that happened since the permit
    /// (a token refresh, a global permit, a new connection).
    pub(crate) fn mark_sent(&self, permit: &mut Permit) {
        let Some(taken) = permit.budget_entry.take() else {
            return;
        };
        let now = Instant::now();
        if now <= taken {
            return;
        }
        let mut sent = self.sent.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(pos) = sent.iter().rposition(|t| *t == taken) {
            sent.remove(pos);
            let at = sent.partition_point(|t| *t <= now);
            sent.insert(at, now);
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
        let _p1 = a.acquire(None, None).await.unwrap();
        let _p2 = a2.acquire(None, None).await.unwrap();
        // Alice is full, whichever client asks; Bob is not.
        let third =
            tokio::time::timeout(std::time::Duration::from_millis(50), a.acquire(None, None)).await;
        assert!(third.is_err());
        let _p3 = b.acquire(None, None).await.unwrap();
    }

    #[tokio::test]
    async fn a_pause_delays_everyone() {
        let limits = MailboxLimits::with_global_limit(8);
        let slot = limits.slot("k", 4, None);
        let start = Instant::now();
        slot.pause_until(start + std::time::Duration::from_millis(120));
        slot.pause_until(start + std::time::Duration::from_millis(10));
        let _p = slot.acquire(limits.global().as_ref(), None).await.unwrap();
        assert!(start.elapsed() >= std::time::Duration::from_millis(120));
    }

    /// A mailbox slot with a budget of `requests` per `secs`.
    fn budgeted(requests: usize, secs: u64) -> Arc<MailboxSlot> {
        let budget = RequestBudget {
            requests,
            window: std::time::Duration::from_secs(secs),
        };
        MailboxLimits::new().slot("k", 4, Some(budget))
    }

    #[tokio::test(start_paused = true)]
    async fn the_budget_makes_requests_wait_for_the_window() {
        let slot = budgeted(3, 10);
        let start = Instant::now();
        for _ in 0..3 {
            drop(slot.acquire(None, None).await.unwrap());
        }
        assert_eq!(start.elapsed(), std::time::Duration::ZERO);
        // The fourth waits until the first leaves the window, and not longer.
        drop(slot.acquire(None, None).await.unwrap());
        assert_eq!(start.elapsed(), std::time::Duration::from_secs(10));

        // A request that leaves late is counted from when it left: 3 s after its permit,
        // so the next-but-two waits until 10 s after that, not after the permit.
        let mut late = slot.acquire(None, None).await.unwrap();
        tokio::time::advance(std::time::Duration::from_secs(3)).await;
        slot.mark_sent(&mut late);
        drop(late);
        // In the window now: the 4th (10 s) and the late one (13 s). One more fits at 13 s.
        drop(slot.acquire(None, None).await.unwrap());
        // The next waits for the 4th to leave (20 s), the one after for those of 13 s (23 s);
        // had the late one been counted from its permit (10 s), that would be 20 s.
        drop(slot.acquire(None, None).await.unwrap());
        assert_eq!(Instant::now() - start, std::time::Duration::from_secs(20));
        drop(slot.acquire(None, None).await.unwrap());
        assert_eq!(Instant::now() - start, std::time::Duration::from_secs(23));
    }

    #[tokio::test(start_paused = true)]
    async fn a_wait_limit_turns_a_long_wait_into_an_answer() {
        let slot = budgeted(1, 60);
        let limit = Some(std::time::Duration::from_secs(5));
        drop(slot.acquire(None, limit).await.unwrap());
        let start = Instant::now();
        let refused = slot.acquire(None, limit).await.err();
        assert_eq!(refused, Some(std::time::Duration::from_secs(60)));
        assert_eq!(start.elapsed(), std::time::Duration::ZERO, "no waiting");
        // Refusing took nothing from the budget: after the window, one request goes.
        tokio::time::advance(std::time::Duration::from_secs(60)).await;
        assert!(slot.acquire(None, limit).await.is_ok());
    }
}
