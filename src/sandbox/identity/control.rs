//! Test controls for the identity half, as Rust methods ([`IdentityControl`], reached with
//! [`World::identity`]) and as HTTP endpoints under `/_sandbox/identity/` for browser tests
//! and the demo. They change the world the way an administrator or an outage would.

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;

use super::faults::{Fault, FaultKind};
use super::state::{ConsentRecord, TokenCounters, TokenLogEntry};
use crate::sandbox::world::World;

/// Rust-side controls over one sandbox's identity state.
#[derive(Clone)]
pub struct IdentityControl {
    world: World,
}

impl World {
    /// The identity test controls of this sandbox.
    pub fn identity(&self) -> IdentityControl {
        IdentityControl {
            world: self.clone(),
        }
    }
}

impl IdentityControl {
    /// Revokes every refresh token and sign-in session of a user (by object id, UPN or mail),
    /// as `revokeSignInSessions` or a password reset does. Returns how many refresh tokens
    /// were revoked, or `None` for an unknown user.
    pub fn revoke_refresh_tokens(&self, user: &str) -> Option<usize> {
        let mut state = self.world.lock();
        let (tenant_id, user_id) = state.config.tenants.iter().find_map(|t| {
            t.users
                .iter()
                .find(|u| {
                    u.id.eq_ignore_ascii_case(user)
                        || u.user_principal_name.eq_ignore_ascii_case(user)
                        || u.mail
                            .as_deref()
                            .is_some_and(|m| m.eq_ignore_ascii_case(user))
                })
                .map(|u| (t.id.clone(), u.id.clone()))
        })?;
        let mut revoked = 0;
        for record in state.identity.refresh_tokens.values_mut() {
            if record.tenant_id == tenant_id && record.user_id == user_id && !record.revoked {
                record.revoked = true;
                revoked += 1;
            }
        }
        for session in state.identity.sessions.values_mut() {
            session
                .accounts
                .retain(|(tid, uid)| !(*tid == tenant_id && *uid == user_id));
        }
        Some(revoked)
    }

    /// Sets the expiry (unix seconds, `None` = never) of one secret of an app, or of all its
    /// secrets when `secret` is `None`. Returns how many secrets changed.
    pub fn set_secret_expiry(
        &self,
        client_id: &str,
        secret: Option<&str>,
        expires_at: Option<i64>,
    ) -> usize {
        let mut state = self.world.lock();
        let mut changed = 0;
        for app in state
            .config
            .tenants
            .iter_mut()
            .flat_map(|t| t.apps.iter_mut())
            .filter(|a| a.client_id.eq_ignore_ascii_case(client_id))
        {
            for s in app
                .secrets
                .iter_mut()
                .filter(|s| secret.is_none_or(|v| s.value == v))
            {
                s.expires_at = expires_at;
                changed += 1;
            }
        }
        changed
    }

    /// Expires every secret of an app now (AADSTS7000222 from then on).
    pub fn expire_secrets(&self, client_id: &str) -> usize {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        self.set_secret_expiry(client_id, None, Some(now - 1))
    }

    /// Queues a fault for the next `count` token requests (after already queued ones).
    pub fn push_fault(&self, kind: FaultKind, count: u32) {
        if count > 0 {
            self.world
                .lock()
                .identity
                .faults
                .push_back(Fault::new(kind, count));
        }
    }

    pub fn faults(&self) -> Vec<Fault> {
        self.world.lock().identity.faults.iter().cloned().collect()
    }

    pub fn clear_faults(&self) {
        self.world.lock().identity.faults.clear();
    }

    pub fn token_log(&self) -> Vec<TokenLogEntry> {
        self.world.lock().identity.token_log.clone()
    }

    pub fn token_counters(&self) -> TokenCounters {
        self.world.lock().identity.counters.clone()
    }

    pub fn clear_token_log(&self) {
        let mut state = self.world.lock();
        state.identity.token_log.clear();
        state.identity.counters = TokenCounters::default();
    }

    pub fn consents(&self) -> Vec<ConsentRecord> {
        self.world.lock().identity.consents.clone()
    }

    /// Removes a user's consent to an app (the next refresh fails with AADSTS65001).
    pub fn revoke_consent(&self, client_id: &str, user_id: &str) -> bool {
        let mut state = self.world.lock();
        let before = state.identity.consents.len();
        state
            .identity
            .consents
            .retain(|c| !(c.client_id.eq_ignore_ascii_case(client_id) && c.user_id == user_id));
        state.identity.consents.len() != before
    }
}

/// The HTTP controls (JSON in and out):
/// - `POST /_sandbox/identity/users/{user}/revoke`: revoke a user's refresh tokens and sessions.
/// - `POST /_sandbox/identity/apps/{client_id}/secrets/expire`, optional body
///   `{"secret": "<value>", "expires_at": <unix secs>}`: expire secrets (now by default).
/// - `GET|POST|DELETE /_sandbox/identity/faults`: list, queue (`{"kind": "status", "status": 503,
///   "body": "..", "content_type": "..", "count": 2}`, `{"kind": "html"}`, `{"kind": "huge",
///   "bytes": 10485760}`, `{"kind": "hang", "seconds": 30}`) or clear token-endpoint faults.
/// - `GET|DELETE /_sandbox/identity/token-log`: the token requests with counters, or reset them.
/// - `GET /_sandbox/identity/consents`: the consents users gave.
pub fn router() -> Router<World> {
    Router::new()
        .route("/_sandbox/identity/users/{user}/revoke", post(revoke))
        .route(
            "/_sandbox/identity/apps/{client_id}/secrets/expire",
            post(expire_secret),
        )
        .route(
            "/_sandbox/identity/faults",
            get(list_faults).post(add_fault).delete(clear_faults),
        )
        .route(
            "/_sandbox/identity/token-log",
            get(token_log).delete(clear_token_log),
        )
        .route("/_sandbox/identity/consents", get(consents))
}

fn bad_request(message: String) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": message }))).into_response()
}

/// Parses an optional JSON body: empty means the defaults.
fn optional_json<T: for<'de> Deserialize<'de> + Default>(body: &Bytes) -> Result<T, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| format!("invalid JSON body: {e}"))
}

async fn revoke(State(world): State<World>, Path(user): Path<String>) -> Response {
    match world.identity().revoke_refresh_tokens(&user) {
        Some(revoked) => Json(json!({ "revoked_refresh_tokens": revoked })).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": "unknown user" })),
        )
            .into_response(),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretExpiry {
    /// Which secret (its value); all of the app's secrets when absent.
    secret: Option<String>,
    /// Unix seconds; now when absent.
    expires_at: Option<i64>,
}

async fn expire_secret(
    State(world): State<World>,
    Path(client_id): Path<String>,
    body: Bytes,
) -> Response {
    let request: SecretExpiry = match optional_json(&body) {
        Ok(r) => r,
        Err(message) => return bad_request(message),
    };
    let at = request
        .expires_at
        .unwrap_or_else(|| OffsetDateTime::now_utc().unix_timestamp() - 1);
    let changed =
        world
            .identity()
            .set_secret_expiry(&client_id, request.secret.as_deref(), Some(at));
    if changed == 0 {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": "no such app or secret" })),
        )
            .into_response();
    }
    Json(json!({ "changed": changed, "expires_at": at })).into_response()
}

async fn list_faults(State(world): State<World>) -> Response {
    Json(world.identity().faults()).into_response()
}

async fn add_fault(State(world): State<World>, body: Bytes) -> Response {
    let fault: Fault = match serde_json::from_slice(&body) {
        Ok(f) => f,
        Err(e) => return bad_request(format!("invalid fault: {e}")),
    };
    if let FaultKind::Status { status, .. } = &fault.kind
        && StatusCode::from_u16(*status).is_err()
    {
        return bad_request(format!("invalid HTTP status {status}"));
    }
    world.identity().push_fault(fault.kind, fault.remaining);
    (StatusCode::CREATED, Json(world.identity().faults())).into_response()
}

async fn clear_faults(State(world): State<World>) -> Response {
    world.identity().clear_faults();
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Serialize)]
struct TokenLogView {
    counters: TokenCounters,
    entries: Vec<TokenLogEntry>,
}

async fn token_log(State(world): State<World>) -> Response {
    let control = world.identity();
    Json(TokenLogView {
        counters: control.token_counters(),
        entries: control.token_log(),
    })
    .into_response()
}

async fn clear_token_log(State(world): State<World>) -> Response {
    world.identity().clear_token_log();
    StatusCode::NO_CONTENT.into_response()
}

async fn consents(State(world): State<World>) -> Response {
    Json(world.identity().consents()).into_response()
}
