//! Poll lag, the scheduler's health signal, computed in one place for the accounts list,
//! `GET /api/v1/accounts`, `/healthz` and `/metrics`.
//!
//! An account's lag is how late its polling is: while it waits past its due time, how long
//! it has waited so far; otherwise how late its last poll started. A poll is late when it
//! starts after `next_due_at` (its previous start plus `poll_interval`).

use std::collections::HashSet;
use std::time::Duration;

use serde::Serialize;

use crate::store::accounts::Account;
use crate::store::schedule::{LagRow, STALE_AFTER_INTERVALS};

/// An account waiting longer than this past its due time counts as overdue.
pub const OVERDUE_AFTER_SECS: f64 = 5.0;
/// How long an overview is reused before it is computed again.
pub const CACHE_FOR: Duration = Duration::from_secs(2);

/// One account's lag figures, in seconds.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct AccountLag {
    /// How late the polling is now (see the module's description).
    pub lag_secs: f64,
    /// How late its last scheduled poll started; `None` before the first.
    pub last_poll_lag_secs: Option<f64>,
    /// Seconds since the start of the last poll that ended `ok` (since creation if none).
    pub since_success_secs: i64,
    /// Waiting more than [`OVERDUE_AFTER_SECS`] past its due time.
    pub overdue: bool,
    /// Not polled successfully for [`STALE_AFTER_INTERVALS`] poll intervals: a warning.
    pub stale: bool,
}

impl AccountLag {
    /// The figures of an enabled account at `now_ms` (unix milliseconds); `None` for a
    /// disabled or parked (needs consent) account, which is not scheduled.
    pub fn of(row: &LagRow, running: bool, now_ms: i64) -> Option<AccountLag> {
        let due = row.next_due_at?;
        let now = now_ms.div_euclid(1000);
        let waiting =
            (!running && due * 1000 <= now_ms).then(|| (now_ms - due * 1000) as f64 / 1000.0);
        let last = row.last_poll_lag_ms.map(|ms| ms as f64 / 1000.0);
        let since_success = now - row.last_success_at.unwrap_or(row.created_at);
        Some(AccountLag {
            lag_secs: waiting.or(last).unwrap_or(0.0),
            last_poll_lag_secs: last,
            since_success_secs: since_success,
            overdue: waiting.is_some_and(|w| w > OVERDUE_AFTER_SECS),
            stale: since_success > STALE_AFTER_INTERVALS * row.poll_interval,
        })
    }

    /// The figures of an account as stored; `None` when it is not scheduled.
    pub fn of_account(a: &Account, running: bool, now_ms: i64) -> Option<AccountLag> {
        if !a.enabled {
            return None;
        }
        Self::of(&LagRow::from(a), running, now_ms)
    }
}

impl From<&Account> for LagRow {
    fn from(a: &Account) -> Self {
        LagRow {
            id: a.id.clone(),
            next_due_at: a.next_due_at,
            poll_interval: a.poll_interval,
            last_poll_started_at: a.last_poll_started_at,
            last_poll_lag_ms: a.last_poll_lag_ms,
            last_success_at: a.last_success_at,
            created_at: a.created_at,
        }
    }
}

/// Lag over every enabled account.
#[derive(Debug, Clone, Serialize, PartialEq, Default, utoipa::ToSchema)]
pub struct LagOverview {
    /// Enabled accounts that are scheduled (not parked for consent).
    pub scheduled: usize,
    /// Enabled accounts waiting for their credential to be repaired.
    pub parked: usize,
    /// Accounts polling right now.
    pub running: usize,
    /// Waiting more than [`OVERDUE_AFTER_SECS`] past their due time.
    pub overdue: usize,
    /// Not polled successfully for [`STALE_AFTER_INTERVALS`] intervals.
    pub stale: usize,
    /// Scheduled but never polled yet.
    pub never_polled: usize,
    /// Median, 99th percentile and maximum of the accounts' lag, in seconds.
    pub p50_secs: f64,
    pub p99_secs: f64,
    pub max_secs: f64,
}

impl LagOverview {
    /// "ok" while no account is overdue, else "lagging".
    pub fn state(&self) -> &'static str {
        if self.overdue == 0 { "ok" } else { "lagging" }
    }
}

/// The overview of `rows` (enabled accounts) at `now_ms`.
pub fn overview(rows: &[LagRow], running: &HashSet<String>, now_ms: i64) -> LagOverview {
    let mut out = LagOverview {
        running: running.len(),
        ..LagOverview::default()
    };
    let mut lags = Vec::with_capacity(rows.len());
    for row in rows {
        let Some(lag) = AccountLag::of(row, running.contains(&row.id), now_ms) else {
            out.parked += 1;
            continue;
        };
        out.scheduled += 1;
        out.overdue += usize::from(lag.overdue);
        out.stale += usize::from(lag.stale);
        out.never_polled += usize::from(row.last_poll_started_at.is_none());
        lags.push(lag.lag_secs);
    }
    lags.sort_by(f64::total_cmp);
    out.p50_secs = percentile(&lags, 0.50);
    out.p99_secs = percentile(&lags, 0.99);
    out.max_secs = lags.last().copied().unwrap_or(0.0);
    out
}

/// The nearest-rank percentile of sorted values (0 when empty).
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, due: Option<i64>, lag_ms: Option<i64>, success: Option<i64>) -> LagRow {
        LagRow {
            id: id.into(),
            next_due_at: due,
            poll_interval: 60,
            last_poll_started_at: lag_ms.map(|_| 0),
            last_poll_lag_ms: lag_ms,
            last_success_at: success,
            created_at: 0,
        }
    }

    #[test]
    fn waiting_accounts_count_their_wait_and_others_their_last_start() {
        let now_ms = 1_000_000;
        let rows = [
            // Due 10 s ago, not running: 10 s late and overdue.
            row("a", Some(990), Some(500), Some(990)),
            // Due in the future: its last poll started 2 s late.
            row("b", Some(1_050), Some(2_000), Some(990)),
            // Due but running: not overdue, its last figure counts.
            row("c", Some(980), Some(100), Some(990)),
            // Parked.
            row("d", None, None, None),
            // Never polled and never successful for more than 3 intervals.
            row("e", Some(1_100), None, None),
        ];
        let running = HashSet::from(["c".to_string()]);
        let o = overview(&rows, &running, now_ms);
        assert_eq!(o.scheduled, 4);
        assert_eq!(o.parked, 1);
        assert_eq!(o.overdue, 1);
        assert_eq!(o.never_polled, 1);
        assert_eq!(o.stale, 1, "only e, never successful since creation at 0");
        assert_eq!(o.max_secs, 10.0);
        assert_eq!(o.p50_secs, 0.1);
        assert_eq!(o.state(), "lagging");
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), 50.0);
        assert_eq!(percentile(&v, 0.99), 99.0);
        assert_eq!(percentile(&[], 0.99), 0.0);
    }
}
