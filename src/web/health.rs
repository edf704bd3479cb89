//! `GET /healthz`: `ok` (200) for load balancers and uptime checks; with `?detail` a JSON
//! object with the database's state and the poll lag overview ([`crate::import::lag`]), so
//! that monitoring sees an instance falling behind before mail is late.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::app::AppState;

pub async fn healthz(State(state): State<AppState>, RawQuery(query): RawQuery) -> Response {
    let detail = query.as_deref().is_some_and(|q| {
        q.split('&')
            .any(|p| p == "detail" || p.starts_with("detail="))
    });
    if !detail {
        return "ok".into_response();
    }
    match state.importer.lag_overview().await {
        Ok(lag) => Json(json!({
            "status": "ok",
            "database": "ok",
            "poll": {"state": lag.state(), "lag": lag},
        }))
        .into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "health check could not read the database");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "error", "database": "unavailable"})),
            )
                .into_response()
        }
    }
}
