//! Outlook's per-mailbox limits:
//! - concurrency: a request holds a slot from the moment it is admitted until its guard drops,
//!   which for `$value` is when the body stream ends or is dropped;
//! - the request budget: so many admitted requests per app and mailbox in a sliding window
//!   (10,000 per 10 minutes). Refused requests do not count.

use std::time::{Duration, Instant};

use super::{GraphState, Inner, MAILBOX_CONCURRENCY};

/// How long until the app may send the mailbox another request; None when it may now.
pub(super) fn budget_wait(
    inner: &mut Inner,
    user_id: &str,
    app: &str,
    now: Instant,
) -> Option<Duration> {
    let mailbox = inner.mailbox(user_id);
    let limit = mailbox.settings.budget_requests;
    if limit == 0 {
        return None;
    }
    let window = Duration::from_secs(mailbox.settings.budget_window_secs.max(1));
    let admitted = mailbox.admitted.entry(app.to_string()).or_default();
    while admitted
        .front()
        .is_some_and(|t| now.duration_since(*t) >= window)
    {
        admitted.pop_front();
    }
    if (admitted.len() as u64) < limit {
        return None;
    }
    // Over budget until enough of the oldest requests leave the window.
    let excess = admitted.len() - limit as usize;
    let frees_at = admitted[excess] + window;
    Some(frees_at.saturating_duration_since(now))
}

/// Counts an admitted request against the app's budget for the mailbox.
pub(super) fn spend_budget(inner: &mut Inner, user_id: &str, app: &str, now: Instant) {
    let mailbox = inner.mailbox(user_id);
    if mailbox.settings.budget_requests > 0 {
        mailbox
            .admitted
            .entry(app.to_string())
            .or_default()
            .push_back(now);
    }
}

/// One admitted request of a mailbox. Dropping it frees the slot.
pub struct InFlight {
    state: GraphState,
    mailbox: String,
}

/// Takes a slot if the mailbox has one free; records the concurrency peak in the log.
pub(super) fn try_enter(inner: &mut Inner, user_id: &str) -> bool {
    let mailbox = inner.mailbox(user_id);
    if mailbox.in_flight >= MAILBOX_CONCURRENCY {
        return false;
    }
    mailbox.in_flight += 1;
    let now = mailbox.in_flight;
    inner.log.note_concurrency(&user_id.to_lowercase(), now);
    true
}

impl InFlight {
    /// Must be built only after the lock that ran [`try_enter`] was released, since dropping
    /// the guard locks again.
    pub(super) fn new(state: GraphState, user_id: &str) -> Self {
        InFlight {
            state,
            mailbox: user_id.to_lowercase(),
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut inner = self.state.lock();
        let mailbox = inner.mailbox(&self.mailbox);
        mailbox.in_flight = mailbox.in_flight.saturating_sub(1);
    }
}
