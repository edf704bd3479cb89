//! `GET /healthz`: `ok` (200) for load balancers and uptime checks, followed by one line per
//! thing that needs attention (failing webhook endpoints); with `?detail` a JSON object with
//! the database's state, the poll lag overview ([`crate::import::lag`]) and the webhook
//! outbox ([`crate::webhooks::health`]), so that monitoring sees an instance falling behind
//! before mail is late. Public, so counts only: no account or endpoint names.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::state::AppState;
use crate::webhooks::health;

pub async fn healthz(State(state): State<AppState>, RawQuery(query): RawQuery) -> Response {
    let detail = query.as_deref().is_some_and(|q| {
        q.split('&')
            .any(|p| p == "detail" || p.starts_with("detail="))
    });
    let failing_after = state.webhooks.settings().failing_after;
    if !detail {
        return match health::all(&state.db, failing_after).await {
            Ok(all) => match health::summary(&all) {
                Some(line) => format!("ok\n{line}\n"),
                None => "ok".into(),
            },
            Err(e) => {
                tracing::warn!(error = %e, "health check could not read the webhook outbox");
                "ok\nwebhooks: unknown (the database did not answer)\n".into()
            }
        }
        .into_response();
    }
    let read = async {
        let lag = state.importer.lag_overview().await?;
        let hooks = health::all(&state.db, failing_after).await?;
        Ok::<_, sqlx::Error>((lag, hooks))
    };
    match read.await {
        Ok((lag, hooks)) => Json(json!({
            "status": "ok",
            "database": "ok",
            "poll": {"state": lag.state(), "lag": lag},
            "webhooks": health::counts(&hooks),
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
