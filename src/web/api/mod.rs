//! The JSON API under `/api/v1`, for an API key or a signed-in session. Each resource has its
//! route module (`credentials`, `accounts`, `messages`, `webhooks`, and the `openapi`
//! document); what they share sits in child modules they import: `error` (the error answers)
//! and `caller` (who called, and the extractor of write routes), `binary` (how raw bodies are
//! documented). This file only declares them and merges their routers.

pub mod accounts;
pub mod binary;
pub mod caller;
pub mod credentials;
pub mod error;
pub mod messages;
pub mod openapi;
pub mod webhooks;

use axum::Router;
use axum::routing::get;

use crate::web::state::WebState;

pub fn router() -> Router<WebState> {
    Router::new()
        .merge(credentials::router())
        .route("/openapi.json", get(openapi::openapi_json))
        .merge(accounts::router())
        .merge(messages::router())
        .merge(webhooks::router())
}
