//! A small "business application" that receives webhooks, so that the demo and the tests
//! show the whole way. It verifies Standard Webhooks signatures on its own (it shares no code
//! with Mailport's sender), records every request, and can be told to fail.
//!
//! - `POST /_sandbox/receiver/{name}`: a webhook delivery. Answers 200 `{"received":true}`
//!   when the signature verifies with one of the receiver's secrets (or none is set), 401
//!   when it does not, or whatever fault is due.
//! - `PUT /_sandbox/receiver/{name}`: configures (and creates) a receiver:
//!   `{"secrets":["whsec_…"],"faults":[Fault…],"storm":{"probability":0.3,"seed":1,"hang_secs":3}}`.
//!   Fields left out keep their value.
//! - `POST /_sandbox/receiver/{name}/faults`: queues more faults (`{"faults":[…]}`).
//! - `GET /_sandbox/receiver/{name}/deliveries[?bodies=1]`: what arrived, oldest first.
//! - `DELETE /_sandbox/receiver/{name}`: forgets the receiver.
//!
//! A fault: `{"kind":"status","status":503,"retry_after":"2"}`, `{"kind":"gone"}` (410),
//! `{"kind":"hang","secs":20}` (answers only after that long: a timeout for the sender), or
//! `{"kind":"drop"}` (closes the connection without an answer).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

/// Largest delivery accepted (bigger bodies get 413, as from a real application).
const MAX_BODY: usize = 64 * 1024 * 1024;
/// How far `webhook-timestamp` may be from the receiver's clock (the libraries' default).
const TOLERANCE_SECS: i64 = 5 * 60;

/// A failure the receiver acts out for one request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    /// Answers with this status (and Retry-After, verbatim, when given).
    Status {
        status: u16,
        #[serde(default)]
        retry_after: Option<String>,
    },
    /// 410 Gone: "stop sending".
    Gone,
    /// Holds the request this long before answering 200 (a timeout for the sender).
    Hang { secs: u64 },
    /// Drops the connection without answering.
    Drop,
}

/// Random faults for a fraction of requests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Storm {
    pub probability: f64,
    #[serde(default)]
    pub seed: u64,
    /// How long a "hang" lasts (longer than the sender's timeout).
    #[serde(default = "default_hang")]
    pub hang_secs: u64,
}

fn default_hang() -> u64 {
    20
}

/// A receiver's settings, as `PUT` takes them.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Config {
    pub secrets: Option<Vec<String>>,
    pub faults: Option<Vec<Fault>>,
    /// `null` turns the storm off.
    #[serde(default, deserialize_with = "some_or_null")]
    pub storm: Option<Option<Storm>>,
}

fn some_or_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<Storm>>, D::Error> {
    Option::<Storm>::deserialize(d).map(Some)
}

/// One request as it arrived.
#[derive(Debug, Clone, Serialize)]
pub struct Received {
    /// Arrival order, from 1.
    pub seq: u64,
    /// Unix milliseconds of arrival.
    pub received_at_ms: u64,
    pub webhook_id: Option<String>,
    pub webhook_timestamp: Option<i64>,
    pub webhook_signature: Option<String>,
    /// `true`/`false` when the receiver has secrets, `null` when it checks nothing.
    pub signature_valid: Option<bool>,
    pub content_type: Option<String>,
    pub user_agent: Option<String>,
    /// Every `x-mailport-*` header.
    pub mailport_headers: HashMap<String, String>,
    pub body_sha256: String,
    pub body_len: usize,
    /// The answer: a status, or `drop` / `hang` (answered too late for the sender).
    pub answer: String,
    /// Set once with `?bodies=1`: the body as text (or base64 when it is not UTF-8).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    #[serde(skip)]
    raw: Bytes,
}

#[derive(Default)]
struct Receiver {
    secrets: Vec<String>,
    faults: VecDeque<Fault>,
    storm: Option<(Storm, StdRng)>,
    received: Vec<Received>,
}

impl Receiver {
    /// The fault for the next request, if any: queued ones first, then the storm's.
    fn next_fault(&mut self) -> Option<Fault> {
        if let Some(f) = self.faults.pop_front() {
            return Some(f);
        }
        let (storm, rng) = self.storm.as_mut()?;
        if !rng.gen_bool(storm.probability.clamp(0.0, 1.0)) {
            return None;
        }
        Some(match rng.gen_range(0..7) {
            0 => Fault::Status {
                status: 500,
                retry_after: None,
            },
            1 => Fault::Status {
                status: 502,
                retry_after: None,
            },
            2 => Fault::Status {
                status: 503,
                retry_after: Some("1".into()),
            },
            3 => Fault::Status {
                status: 429,
                retry_after: Some("2".into()),
            },
            4 => Fault::Status {
                status: 429,
                retry_after: Some(httpdate::fmt_http_date(
                    SystemTime::now() + Duration::from_secs(2),
                )),
            },
            5 => Fault::Hang {
                secs: storm.hang_secs,
            },
            _ => Fault::Drop,
        })
    }
}

/// Every receiver of one sandbox, by name.
#[derive(Clone, Default)]
pub struct ReceiverState {
    receivers: Arc<Mutex<HashMap<String, Receiver>>>,
}

impl ReceiverState {
    fn with<T>(&self, name: &str, f: impl FnOnce(&mut Receiver) -> T) -> T {
        let mut all = self.receivers.lock().unwrap_or_else(|e| e.into_inner());
        f(all.entry(name.to_string()).or_default())
    }

    /// Applies a configuration (creating the receiver).
    pub fn configure(&self, name: &str, config: Config) {
        self.with(name, |r| {
            if let Some(s) = config.secrets {
                r.secrets = s;
            }
            if let Some(f) = config.faults {
                r.faults = f.into();
            }
            if let Some(storm) = config.storm {
                r.storm = storm.map(|s| {
                    let rng = StdRng::seed_from_u64(s.seed);
                    (s, rng)
                });
            }
        });
    }

    /// What the receiver got so far, oldest first (bodies included).
    pub fn received(&self, name: &str) -> Vec<Received> {
        self.with(name, |r| r.received.clone())
    }

    /// The raw body of a recorded request.
    pub fn body(received: &Received) -> &[u8] {
        &received.raw
    }
}

pub fn router(state: ReceiverState) -> Router {
    Router::new()
        .route(
            "/_sandbox/receiver/{name}",
            post(receive).put(configure).delete(forget),
        )
        .route("/_sandbox/receiver/{name}/faults", post(queue_faults))
        .route("/_sandbox/receiver/{name}/deliveries", get(deliveries))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Verifies a Standard Webhooks signature with this receiver's own code: HMAC-SHA256 of
/// `{id}.{timestamp}.{body}` with the base64-decoded secret, compared in constant time with
/// every `v1,` entry of the header; the timestamp must be within five minutes.
fn verify(secrets: &[String], id: &str, timestamp: i64, signatures: &str, body: &[u8]) -> bool {
    let now = (unix_ms() / 1000) as i64;
    if (now - timestamp).abs() > TOLERANCE_SECS || id.contains('.') {
        return false;
    }
    let mut content = Vec::with_capacity(body.len() + id.len() + 24);
    content.extend_from_slice(format!("{id}.{timestamp}.").as_bytes());
    content.extend_from_slice(body);
    secrets.iter().any(|secret| {
        let Some(key) = secret
            .strip_prefix("whsec_")
            .and_then(|k| STANDARD.decode(k).ok())
        else {
            return false;
        };
        signatures
            .split(' ')
            .filter_map(|s| s.strip_prefix("v1,"))
            .filter_map(|s| STANDARD.decode(s).ok())
            .any(|given| {
                let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(&key) else {
                    return false;
                };
                mac.update(&content);
                mac.verify_slice(&given).is_ok()
            })
    })
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

async fn receive(
    State(state): State<ReceiverState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let id = header(&headers, "webhook-id");
    let timestamp = header(&headers, "webhook-timestamp").and_then(|t| t.parse::<i64>().ok());
    let signature = header(&headers, "webhook-signature");
    let (fault, valid) = state.with(&name, |r| {
        let valid = (!r.secrets.is_empty()).then(|| match (&id, timestamp, &signature) {
            (Some(id), Some(ts), Some(sig)) => verify(&r.secrets, id, ts, sig, &body),
            _ => false,
        });
        (r.next_fault(), valid)
    });
    let answer = match (&fault, valid) {
        (Some(Fault::Drop), _) => "drop".to_string(),
        (Some(Fault::Hang { .. }), _) => "hang".to_string(),
        (Some(Fault::Gone), _) => "410".to_string(),
        (Some(Fault::Status { status, .. }), _) => status.to_string(),
        (None, Some(false)) => "401".to_string(),
        (None, _) => "200".to_string(),
    };
    let mailport_headers = headers
        .iter()
        .filter(|(k, _)| k.as_str().starts_with("x-mailport-"))
        .filter_map(|(k, v)| Some((k.to_string(), v.to_str().ok()?.to_string())))
        .collect();
    state.with(&name, |r| {
        let seq = r.received.len() as u64 + 1;
        r.received.push(Received {
            seq,
            received_at_ms: unix_ms(),
            webhook_id: id.clone(),
            webhook_timestamp: timestamp,
            webhook_signature: signature.clone(),
            signature_valid: valid,
            content_type: header(&headers, "content-type"),
            user_agent: header(&headers, "user-agent"),
            mailport_headers,
            body_sha256: hex::encode(Sha256::digest(&body)),
            body_len: body.len(),
            answer,
            body: None,
            raw: body.clone(),
        });
    });
    match fault {
        Some(Fault::Drop) => dropped_connection(),
        Some(Fault::Hang { secs }) => {
            tokio::time::sleep(Duration::from_secs(secs)).await;
            (
                StatusCode::OK,
                Json(json!({"received": true, "late": true})),
            )
                .into_response()
        }
        Some(Fault::Gone) => (
            StatusCode::GONE,
            Json(json!({"error": "this endpoint no longer takes webhooks"})),
        )
            .into_response(),
        Some(Fault::Status {
            status,
            retry_after,
        }) => {
            let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut r = (code, Json(json!({"error": "injected fault"}))).into_response();
            if let Some(v) = retry_after.and_then(|v| v.parse().ok()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            r
        }
        None if valid == Some(false) => (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "the webhook signature does not verify"})),
        )
            .into_response(),
        None => (StatusCode::OK, Json(json!({"received": true}))).into_response(),
    }
}

/// A response whose body fails before its first byte: hyper then closes the connection
/// without sending the head, so the client sees the connection dropped.
fn dropped_connection() -> Response {
    let failing = futures_util::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::other("sandbox fault: connection dropped"))
    });
    Response::builder()
        .status(StatusCode::OK)
        .body(Body::from_stream(failing))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

async fn configure(
    State(state): State<ReceiverState>,
    Path(name): Path<String>,
    Json(config): Json<Config>,
) -> impl IntoResponse {
    state.configure(&name, config);
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct FaultList {
    faults: Vec<Fault>,
}

async fn queue_faults(
    State(state): State<ReceiverState>,
    Path(name): Path<String>,
    Json(list): Json<FaultList>,
) -> impl IntoResponse {
    state.with(&name, |r| r.faults.extend(list.faults));
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct DeliveriesQuery {
    #[serde(default)]
    bodies: Option<String>,
}

async fn deliveries(
    State(state): State<ReceiverState>,
    Path(name): Path<String>,
    Query(q): Query<DeliveriesQuery>,
) -> impl IntoResponse {
    let with_bodies = q.bodies.as_deref().is_some_and(|b| b == "1" || b == "true");
    let mut list = state.received(&name);
    if with_bodies {
        for r in &mut list {
            r.body = Some(match std::str::from_utf8(&r.raw) {
                Ok(text) => text.to_string(),
                Err(_) => format!("base64:{}", STANDARD.encode(&r.raw)),
            });
        }
    }
    Json(json!({"name": name, "deliveries": list}))
}

async fn forget(State(state): State<ReceiverState>, Path(name): Path<String>) -> impl IntoResponse {
    state
        .receivers
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&name);
    StatusCode::NO_CONTENT
}
