//! Outlook's per-mailbox concurrency limit: a request holds a slot from the moment it is
//! admitted until its guard drops, which for `$value` is when the body stream ends or is dropped.

use super::{GraphState, Inner, MAILBOX_CONCURRENCY};

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
