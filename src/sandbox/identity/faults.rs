//! Faults the tests can queue on the token endpoint: an outage status, an HTML page where
//! JSON belongs (a proxy or captive portal), an oversized body, or no answer for a while.
//! They reproduce what a client meets in the field, so its error handling can be tested.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::sandbox::world::World;

/// Ten mebibytes: far more than any token response.
const DEFAULT_HUGE_BYTES: usize = 10 * 1024 * 1024;

fn default_huge_bytes() -> usize {
    DEFAULT_HUGE_BYTES
}

fn default_count() -> u32 {
    1
}

/// What a faulty answer looks like.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultKind {
    /// This HTTP status with this body (empty if none).
    Status {
        status: u16,
        #[serde(default)]
        body: Option<String>,
        /// Defaults to `application/json; charset=utf-8` when there is a body.
        #[serde(default)]
        content_type: Option<String>,
    },
    /// HTTP 200 with a `text/html` sign-in page instead of JSON.
    Html,
    /// HTTP 200 with an `application/json` body of this many bytes (10 MiB by default).
    Huge {
        #[serde(default = "default_huge_bytes")]
        bytes: usize,
    },
    /// Answer nothing for this many seconds, then process the request normally (as when a
    /// response is lost after Entra ID acted on it).
    Hang { seconds: u64 },
}

/// A fault applied to the next `remaining` token requests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fault {
    #[serde(flatten)]
    pub kind: FaultKind,
    #[serde(default = "default_count", alias = "count")]
    pub remaining: u32,
}

impl Fault {
    pub fn new(kind: FaultKind, count: u32) -> Self {
        Fault {
            kind,
            remaining: count,
        }
    }
}

/// Takes the fault for the current token request, if one is queued.
pub fn take(world: &World) -> Option<FaultKind> {
    let mut state = world.lock();
    let faults = &mut state.identity.faults;
    let front = faults.front_mut()?;
    let kind = front.kind.clone();
    front.remaining = front.remaining.saturating_sub(1);
    if front.remaining == 0 {
        faults.pop_front();
    }
    Some(kind)
}

/// The faulty answer, or `None` when the request should then be processed normally.
pub async fn answer(kind: &FaultKind) -> Option<Response> {
    match kind {
        FaultKind::Status {
            status,
            body,
            content_type,
        } => {
            let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            let mut response = (status, body.clone().unwrap_or_default()).into_response();
            let content_type = match (content_type, body) {
                (Some(ct), _) => HeaderValue::from_str(ct).ok(),
                (None, Some(_)) => {
                    Some(HeaderValue::from_static("application/json; charset=utf-8"))
                }
                (None, None) => None,
            };
            match content_type {
                Some(ct) => response.headers_mut().insert(header::CONTENT_TYPE, ct),
                None => response.headers_mut().remove(header::CONTENT_TYPE),
            };
            Some(response)
        }
        FaultKind::Html => {
            let page = "<!DOCTYPE html><html><head><title>Sign in to your account</title></head>\
                <body><p>Mailport sandbox — not Microsoft. This HTML page stands in for a proxy \
                or captive portal answering where JSON was expected.</p></body></html>";
            let mut response = (StatusCode::OK, page).into_response();
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            Some(response)
        }
        FaultKind::Huge { bytes } => {
            let prefix = "{\"padding\":\"";
            let suffix = "\"}";
            let fill = bytes.saturating_sub(prefix.len() + suffix.len());
            let mut body = String::with_capacity(*bytes);
            body.push_str(prefix);
            body.extend(std::iter::repeat_n('x', fill));
            body.push_str(suffix);
            let mut response = (StatusCode::OK, body).into_response();
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json; charset=utf-8"),
            );
            Some(response)
        }
        FaultKind::Hang { seconds } => {
            tokio::time::sleep(Duration::from_secs(*seconds)).await;
            None
        }
    }
}
