//! Admission of a `/v1.0` request: bearer token, permissions, which mailbox, the configured
//! network latency, the mailbox's switches, the request budget, the concurrency limit,
//! injected faults and the configured server time — in that order.

use std::collections::HashMap;
use std::time::Duration;

use axum::http::{HeaderMap, header};

use super::GraphState;
use super::errors::GraphError;
use super::faults::Fault;
use super::request::{Kind, RequestCtx};
use super::throttle::{self, InFlight};

/// An admitted request: whose mailbox, and what it holds until it is done.
pub struct Call {
    pub user_id: String,
    /// Set when a `drop_body` fault was drawn for this `$value` request.
    pub drop_body: bool,
    /// Keeps the concurrency slot; `$value` moves it into the body stream.
    pub slot: InFlight,
    /// The mailbox's `$value` throughput (0: unpaced).
    pub value_bytes_per_sec: u64,
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

impl GraphState {
    /// Admits a request to the mailbox named by the `user` path parameter (or `/me`).
    pub(super) async fn begin(
        &self,
        ctx: &RequestCtx,
        headers: &HeaderMap,
        params: &HashMap<String, String>,
        kind: Kind,
    ) -> Result<Call, GraphError> {
        ctx.tag(|t| t.kind = Some(kind));
        let token = bearer(headers).ok_or_else(GraphError::token_missing)?;
        let grant = match self.world.access_grant(token) {
            Some(grant) if !grant.is_expired() => grant,
            Some(_) => return Err(GraphError::token_expired()),
            None if !token.contains('.') => return Err(GraphError::token_malformed()),
            None => return Err(GraphError::token_expired()),
        };
        let app_only = grant.user_id.is_none();
        let granted = if app_only {
            &grant.roles
        } else {
            &grant.scopes
        };
        let allowed = granted.iter().any(|p| {
            p.eq_ignore_ascii_case("Mail.ReadWrite")
                || (kind.is_read() && p.eq_ignore_ascii_case("Mail.Read"))
        });
        if !allowed {
            return Err(GraphError::access_denied());
        }
        let user = match (params.get("user"), &grant.user_id) {
            (None, None) => return Err(GraphError::me_needs_delegated()),
            (None, Some(me)) => self
                .world
                .find_user(&grant.tenant_id, me)
                .ok_or_else(|| GraphError::invalid_user(me))?,
            (Some(key), _) => self
                .world
                .find_user(&grant.tenant_id, key)
                .ok_or_else(|| GraphError::invalid_user(key))?,
        };
        // Delegated tokens reach only the signed-in user's own mailbox (no shared mailboxes).
        if let Some(me) = &grant.user_id
            && !me.eq_ignore_ascii_case(&user.id)
        {
            return Err(GraphError::access_denied());
        }
        ctx.tag(|t| t.mailbox = Some(user.id.to_lowercase()));

        // The network round trip comes before the mailbox sees the request: no slot is held.
        let latency = self.lock().mailbox(&user.id).settings.latency_ms;
        if latency > 0 {
            tokio::time::sleep(Duration::from_millis(latency)).await;
        }
        let (fault, delay, value_bytes_per_sec) = {
            let mut inner = self.lock();
            let settings = inner.mailbox(&user.id).settings.clone();
            if !settings.enabled {
                return Err(GraphError::mailbox_not_enabled());
            }
            if app_only && settings.access_policy_denies_apps {
                return Err(GraphError::odata_disabled());
            }
            let now = std::time::Instant::now();
            if let Some(wait) = throttle::budget_wait(&mut inner, &user.id, &grant.client_id, now) {
                return Err(GraphError::too_many_requests(wait));
            }
            if !throttle::try_enter(&mut inner, &user.id) {
                return Err(GraphError::mailbox_concurrency());
            }
            let fault = inner.faults.take(kind, &user.id.to_lowercase());
            // An injected refusal is a refusal: like the real ones, it does not count.
            if fault.as_ref().is_none_or(|f| f.error().is_none()) {
                throttle::spend_budget(&mut inner, &user.id, &grant.client_id, now);
            }
            (fault, settings.delay_ms, settings.value_bytes_per_sec)
        };
        let slot = InFlight::new(self.clone(), &user.id);
        if let Some(fault) = &fault {
            ctx.tag(|t| t.fault = Some(fault.name().to_string()));
            if let Some(error) = fault.error() {
                return Err(error);
            }
        }
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        Ok(Call {
            user_id: user.id.to_lowercase(),
            drop_body: fault == Some(Fault::DropBody),
            slot,
            value_bytes_per_sec,
        })
    }
}
