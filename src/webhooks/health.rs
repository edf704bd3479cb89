//! How each webhook endpoint is doing, computed in one place for the screen, the JSON API,
//! `/healthz` and `/metrics`: status, backlog, the age of the oldest undelivered
//! delivery, dead deliveries, last success.

use std::time::Duration;

use crate::store::webhooks::{self, Endpoint};
use crate::store::{Db, now};

/// An endpoint's state, most serious first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointStatus {
    /// The receiver answered 410 Gone: disabled until an administrator enables it again.
    Gone,
    /// Disabled by an administrator.
    Disabled,
    /// Failing without a success for longer than `failing_after`: needs attention.
    Failing,
    /// Waiting out a Retry-After the receiver asked for.
    Paused,
    /// Recent failures, being retried.
    Retrying,
    Ok,
}

impl EndpointStatus {
    /// The `data-status` and JSON value.
    pub fn as_str(self) -> &'static str {
        match self {
            EndpointStatus::Gone => "gone",
            EndpointStatus::Disabled => "disabled",
            EndpointStatus::Failing => "failing",
            EndpointStatus::Paused => "paused",
            EndpointStatus::Retrying => "retrying",
            EndpointStatus::Ok => "ok",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            EndpointStatus::Gone => "Disabled by the receiver (410 Gone)",
            EndpointStatus::Disabled => "Disabled",
            EndpointStatus::Failing => "Failing",
            EndpointStatus::Paused => "Paused (Retry-After)",
            EndpointStatus::Retrying => "Retrying",
            EndpointStatus::Ok => "OK",
        }
    }

    /// The status of an endpoint at `at`.
    pub fn of(e: &Endpoint, at: i64, failing_after: Duration) -> Self {
        if e.disabled_reason.as_deref() == Some("gone") {
            EndpointStatus::Gone
        } else if !e.enabled {
            EndpointStatus::Disabled
        } else if e
            .failing_since
            .is_some_and(|since| at - since >= failing_after.as_secs() as i64)
        {
            EndpointStatus::Failing
        } else if e.paused_until.is_some_and(|until| until > at) {
            EndpointStatus::Paused
        } else if e.failing_since.is_some() {
            EndpointStatus::Retrying
        } else {
            EndpointStatus::Ok
        }
    }
}

/// The numbers of one endpoint.
#[derive(Debug, Clone)]
pub struct EndpointHealth {
    pub endpoint_id: String,
    pub status: EndpointStatus,
    /// Deliveries not delivered yet that are still being tried.
    pub waiting: i64,
    /// Seconds since the oldest of them was queued.
    pub oldest_waiting_age_secs: Option<i64>,
    /// Deliveries whose retry schedule ran out (shown for manual replay).
    pub dead: i64,
    /// Successful attempts so far (a redelivery that lands counts again).
    pub delivered: i64,
    pub last_success_at: Option<i64>,
    pub failing_since: Option<i64>,
    pub paused_until: Option<i64>,
}

/// [`EndpointHealth`] of every endpoint, by id.
pub async fn all(db: &Db, failing_after: Duration) -> sqlx::Result<Vec<EndpointHealth>> {
    let at = now();
    let backlogs = webhooks::backlogs(db).await?;
    Ok(webhooks::list(db)
        .await?
        .iter()
        .map(|e| {
            let b = backlogs
                .iter()
                .find(|b| b.endpoint_id == e.id)
                .cloned()
                .unwrap_or_default();
            EndpointHealth {
                endpoint_id: e.id.clone(),
                status: EndpointStatus::of(e, at, failing_after),
                waiting: b.waiting,
                oldest_waiting_age_secs: b.oldest_waiting_at.map(|t| (at - t).max(0)),
                dead: b.dead,
                delivered: e.delivered_total,
                last_success_at: e.last_success_at,
                failing_since: e.failing_since,
                paused_until: e.paused_until,
            }
        })
        .collect())
}

/// The whole picture in one line for `/healthz`, or `None` when no endpoint needs
/// attention. Counts only: `/healthz` is public, so it names no endpoint.
pub fn summary(all: &[EndpointHealth]) -> Option<String> {
    let failing = all
        .iter()
        .filter(|h| matches!(h.status, EndpointStatus::Failing | EndpointStatus::Gone))
        .count();
    if failing == 0 {
        return None;
    }
    let waiting: i64 = all.iter().map(|h| h.waiting).sum();
    let oldest = all
        .iter()
        .filter_map(|h| h.oldest_waiting_age_secs)
        .max()
        .unwrap_or(0);
    Some(format!(
        "webhooks: {failing} of {} endpoints failing or disabled by the receiver; \
         {waiting} deliveries waiting, the oldest for {}",
        all.len(),
        age(oldest)
    ))
}

/// The outbox in numbers for `/healthz?detail`, counts only (no endpoint names):
/// `{"endpoints", "failing", "waiting", "dead", "oldest_waiting_age_secs"}`.
pub fn counts(all: &[EndpointHealth]) -> serde_json::Value {
    serde_json::json!({
        "endpoints": all.len(),
        "failing": all
            .iter()
            .filter(|h| matches!(h.status, EndpointStatus::Failing | EndpointStatus::Gone))
            .count(),
        "waiting": all.iter().map(|h| h.waiting).sum::<i64>(),
        "dead": all.iter().map(|h| h.dead).sum::<i64>(),
        "oldest_waiting_age_secs": all.iter().filter_map(|h| h.oldest_waiting_age_secs).max(),
    })
}

/// `45 s`, `12 min`, `3 h 5 min`, `2 d 4 h`.
pub fn age(secs: i64) -> String {
    match secs {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min", s / 60),
        s if s < 86_400 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        s => format!("{} d {} h", s / 86_400, s % 86_400 / 3600),
    }
}
