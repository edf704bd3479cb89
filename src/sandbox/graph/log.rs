//! The request log of the Graph sandbox: every `/v1.0` request with its timing, status,
//! mailbox and kind, totals per kind, and the peak concurrency seen per mailbox.

use std::collections::BTreeMap;

use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::GraphState;
use super::request::Tag;

#[derive(Debug, Clone, Serialize)]
pub struct LogEntry {
    pub seq: u64,
    /// RFC 3339 with fractions.
    pub received_at: String,
    pub finished_at: Option<String>,
    /// Milliseconds from receipt to the end (or drop) of the response body.
    pub duration_ms: Option<f64>,
    pub method: String,
    pub path: String,
    pub query: String,
    pub status: Option<u16>,
    /// User object id of the addressed mailbox, once resolved.
    pub mailbox: Option<String>,
    pub kind: Option<String>,
    /// The injected fault, if any (`throttle`, `service_unavailable`, `gateway_timeout`, `drop_body`).
    pub fault: Option<String>,
    /// The client's `User-Agent` (Mailport names its instance there), so that the log
    /// tells several clients apart.
    pub user_agent: Option<String>,
    #[serde(skip)]
    received: Option<OffsetDateTime>,
}

/// A copy of the log as the control API returns it.
#[derive(Debug, Clone, Serialize)]
pub struct RequestLogSnapshot {
    pub total: u64,
    pub entries: Vec<LogEntry>,
    /// Requests per kind (`list`, `value`, ...; `other` when none was determined).
    pub totals: BTreeMap<String, u64>,
    /// Requests per HTTP status.
    pub statuses: BTreeMap<u16, u64>,
    /// Highest number of simultaneous requests observed per mailbox.
    pub max_concurrent: BTreeMap<String, usize>,
}

#[derive(Default)]
pub struct RequestLog {
    /// Bumped by a reset, so that requests still running then do not write into the new log.
    generation: u64,
    next_seq: u64,
    entries: Vec<LogEntry>,
    totals: BTreeMap<String, u64>,
    statuses: BTreeMap<u16, u64>,
    max_concurrent: BTreeMap<String, usize>,
}

/// Where a request's entry is.
#[derive(Debug, Clone, Copy)]
pub struct LogHandle {
    generation: u64,
    index: usize,
}

impl RequestLog {
    pub fn note_concurrency(&mut self, mailbox: &str, in_flight: usize) {
        let peak = self.max_concurrent.entry(mailbox.to_string()).or_default();
        *peak = (*peak).max(in_flight);
    }

    fn entry(&mut self, handle: &LogHandle) -> Option<&mut LogEntry> {
        if handle.generation != self.generation {
            return None;
        }
        self.entries.get_mut(handle.index)
    }

    pub fn snapshot(&self) -> RequestLogSnapshot {
        RequestLogSnapshot {
            total: self.entries.len() as u64,
            entries: self.entries.clone(),
            totals: self.totals.clone(),
            statuses: self.statuses.clone(),
            max_concurrent: self.max_concurrent.clone(),
        }
    }

    pub fn reset(&mut self) {
        *self = RequestLog {
            generation: self.generation + 1,
            ..RequestLog::default()
        };
    }
}

fn now_text(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

impl GraphState {
    pub(super) fn log_begin(
        &self,
        method: &str,
        path: &str,
        query: &str,
        user_agent: Option<String>,
    ) -> LogHandle {
        let now = OffsetDateTime::now_utc();
        let mut inner = self.lock();
        let log = &mut inner.log;
        log.next_seq += 1;
        let entry = LogEntry {
            seq: log.next_seq,
            received_at: now_text(now),
            finished_at: None,
            duration_ms: None,
            method: method.to_string(),
            path: path.to_string(),
            query: query.to_string(),
            status: None,
            mailbox: None,
            kind: None,
            fault: None,
            user_agent,
            received: Some(now),
        };
        log.entries.push(entry);
        LogHandle {
            generation: log.generation,
            index: log.entries.len() - 1,
        }
    }

    pub(super) fn log_status(&self, handle: &LogHandle, status: u16, tag: &Tag) {
        let mut inner = self.lock();
        let log = &mut inner.log;
        let Some(entry) = log.entry(handle) else {
            return;
        };
        entry.status = Some(status);
        entry.mailbox = tag.mailbox.clone();
        entry.kind = tag.kind.map(|k| k.as_str().to_string());
        entry.fault = tag.fault.clone();
        let kind = entry.kind.clone().unwrap_or_else(|| "other".into());
        *log.totals.entry(kind).or_default() += 1;
        *log.statuses.entry(status).or_default() += 1;
    }

    fn log_finish(&self, handle: &LogHandle) {
        let now = OffsetDateTime::now_utc();
        let mut inner = self.lock();
        if let Some(entry) = inner.log.entry(handle) {
            entry.finished_at = Some(now_text(now));
            entry.duration_ms = entry.received.map(|r| (now - r).as_seconds_f64() * 1000.0);
        }
    }

    /// The request log (Rust API of `GET /_sandbox/graph/log`).
    pub fn request_log(&self) -> RequestLogSnapshot {
        self.lock().log.snapshot()
    }

    /// Empties the log and its counters (`DELETE /_sandbox/graph/log`).
    pub fn reset_request_log(&self) {
        self.lock().log.reset();
    }
}

/// Marks the entry finished when the response body is done with (sent or dropped).
pub struct FinishOnDrop {
    state: GraphState,
    handle: LogHandle,
}

impl FinishOnDrop {
    pub fn new(state: GraphState, handle: LogHandle) -> Self {
        FinishOnDrop { state, handle }
    }
}

impl Drop for FinishOnDrop {
    fn drop(&mut self) {
        self.state.log_finish(&self.handle);
    }
}
