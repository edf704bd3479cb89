//! Injected failures: a queue of next-N faults (optionally aimed at a kind of request or a
//! mailbox) and a seeded random "storm". Each fault looks exactly like Graph's own failure.

use std::collections::VecDeque;
use std::time::{Duration, SystemTime};

use axum::http::{StatusCode, header};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use super::errors::GraphError;
use super::request::Kind;

/// How a Retry-After header is written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RetryAfter {
    /// Delta-seconds exactly as given, fractions allowed: `"1.5"`.
    Seconds(String),
    /// An HTTP-date this many seconds from when the fault fires.
    HttpDateIn(u64),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    /// 429 TooManyRequests, with or without Retry-After.
    Throttle {
        #[serde(default)]
        retry_after: Option<RetryAfter>,
    },
    /// 503, with or without Retry-After.
    ServiceUnavailable {
        #[serde(default)]
        retry_after: Option<RetryAfter>,
    },
    /// 504 gateway timeout.
    GatewayTimeout,
    /// `$value` only: send about half the bytes, then abort the stream.
    DropBody,
}

impl Fault {
    pub fn name(&self) -> &'static str {
        match self {
            Fault::Throttle { .. } => "throttle",
            Fault::ServiceUnavailable { .. } => "service_unavailable",
            Fault::GatewayTimeout => "gateway_timeout",
            Fault::DropBody => "drop_body",
        }
    }

    /// The error response of this fault; `None` for [`Fault::DropBody`], which the `$value`
    /// handler carries out itself.
    pub fn error(&self) -> Option<GraphError> {
        let with_retry = |e: GraphError, r: &Option<RetryAfter>| match r {
            None => e,
            Some(RetryAfter::Seconds(s)) => e.with_header(header::RETRY_AFTER, s.clone()),
            Some(RetryAfter::HttpDateIn(secs)) => e.with_header(
                header::RETRY_AFTER,
                httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(*secs)),
            ),
        };
        match self {
            Fault::Throttle { retry_after } => Some(with_retry(
                GraphError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "TooManyRequests",
                    "Please retry again later.",
                ),
                retry_after,
            )),
            Fault::ServiceUnavailable { retry_after } => Some(with_retry(
                GraphError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "serviceNotAvailable",
                    "The service is temporarily unavailable. Please retry later.",
                ),
                retry_after,
            )),
            Fault::GatewayTimeout => Some(GraphError::new(
                StatusCode::GATEWAY_TIMEOUT,
                "UnknownError",
                "The gateway did not receive a timely response from the upstream server.",
            )),
            Fault::DropBody => None,
        }
    }
}

/// Which requests a fault may hit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultTarget {
    #[default]
    Any,
    /// Message listings and delta pages.
    List,
    /// `GET .../messages/{id}/$value`.
    Value,
    Patch,
    Move,
    Delete,
}

impl FaultTarget {
    fn matches(self, kind: Kind) -> bool {
        match self {
            FaultTarget::Any => true,
            FaultTarget::List => matches!(kind, Kind::List | Kind::Delta),
            FaultTarget::Value => kind == Kind::Value,
            FaultTarget::Patch => kind == Kind::Patch,
            FaultTarget::Move => kind == Kind::Move,
            FaultTarget::Delete => kind == Kind::Delete,
        }
    }
}

/// One queued fault: `{"kind":"throttle","retry_after":{"seconds":"1.5"},"target":"value"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultSpec {
    #[serde(flatten)]
    pub fault: Fault,
    #[serde(default)]
    pub target: FaultTarget,
    /// Only requests to this mailbox (user id, UPN or mail); resolved when queued.
    #[serde(default)]
    pub mailbox: Option<String>,
}

/// Random faults until turned off: `{"probability":0.3,"seed":42,"target":"any"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StormSpec {
    pub probability: f64,
    #[serde(default)]
    pub seed: u64,
    #[serde(default)]
    pub target: FaultTarget,
}

#[derive(Default)]
pub struct Faults {
    pub queue: VecDeque<FaultSpec>,
    storm: Option<(StormSpec, StdRng)>,
}

impl Faults {
    pub fn set_storm(&mut self, spec: Option<StormSpec>) {
        self.storm = spec.map(|s| {
            let rng = StdRng::seed_from_u64(s.seed);
            (s, rng)
        });
    }

    pub fn storm(&self) -> Option<StormSpec> {
        self.storm.as_ref().map(|(s, _)| s.clone())
    }

    /// The fault for this request, if any: the first queued one that fits, else the storm's.
    pub fn take(&mut self, kind: Kind, user_id: &str) -> Option<Fault> {
        let fits = |spec: &FaultSpec| {
            spec.target.matches(kind)
                && spec
                    .mailbox
                    .as_deref()
                    .is_none_or(|m| m.eq_ignore_ascii_case(user_id))
                && (spec.fault != Fault::DropBody || kind == Kind::Value)
        };
        if let Some(pos) = self.queue.iter().position(fits) {
            return self.queue.remove(pos).map(|s| s.fault);
        }
        let (spec, rng) = self.storm.as_mut()?;
        if !spec.target.matches(kind) || !rng.gen_bool(spec.probability.clamp(0.0, 1.0)) {
            return None;
        }
        let choices = if kind == Kind::Value { 6 } else { 5 };
        Some(match rng.gen_range(0..choices) {
            0 => Fault::Throttle {
                retry_after: Some(RetryAfter::Seconds("0.5".into())),
            },
            1 => Fault::Throttle {
                retry_after: Some(RetryAfter::HttpDateIn(1)),
            },
            2 => Fault::Throttle { retry_after: None },
            3 => Fault::ServiceUnavailable {
                retry_after: Some(RetryAfter::Seconds("1".into())),
            },
            4 => Fault::GatewayTimeout,
            _ => Fault::DropBody,
        })
    }
}
