//! `GET /metrics`: the instance's metrics in the Prometheus text format ([`crate::metrics`]),
//! for an API key (`Authorization: Bearer …`) or a signed-in administrator, like the JSON
//! API: the figures name accounts, credentials and webhook endpoints.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Router, middleware};

use super::state::WebState;
use crate::error::AppError;
use crate::import::lag::AccountLag;
use crate::metrics::{AccountGauges, EndpointGauges, Snapshot};
use crate::state::AppState;
use crate::store::schedule;
use crate::webhooks::health;

/// The `/metrics` route, behind the API's authentication.
pub fn router(state: WebState) -> Router<WebState> {
    Router::new()
        .route("/metrics", get(scrape))
        .route_layer(middleware::from_fn_with_state(
            state,
            super::api::caller::require_api_auth,
        ))
}

async fn scrape(State(state): State<AppState>) -> Result<Response, AppError> {
    let snapshot = snapshot(&state).await?;
    let text = state
        .metrics
        .render(snapshot)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("encoding the metrics: {e}")))?;
    Ok(([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], text).into_response())
}

/// The gauges read from the database: lag per enabled account, the outbox per endpoint.
async fn snapshot(state: &AppState) -> Result<Snapshot, sqlx::Error> {
    let (now, now_ms) = (crate::clock::now(), crate::clock::now_ms());
    let running = state.importer.running_ids();
    let accounts = schedule::lag_rows(&state.db)
        .await?
        .iter()
        .map(|row| AccountGauges {
            account: row.id.clone(),
            import_lag_secs: (now - row.last_success_at.unwrap_or(row.created_at)).max(0) as f64,
            poll_lag_secs: AccountLag::of(row, running.contains(&row.id), now_ms)
                .map(|lag| lag.lag_secs),
        })
        .collect();
    let webhooks = health::all(&state.db, state.webhooks.settings().failing_after)
        .await?
        .into_iter()
        .map(|h| EndpointGauges {
            endpoint: h.endpoint_id,
            waiting: h.waiting,
            oldest_waiting_age_secs: h.oldest_waiting_age_secs.unwrap_or(0),
            dead: h.dead,
            delivered: h.delivered,
        })
        .collect();
    Ok(Snapshot { accounts, webhooks })
}
