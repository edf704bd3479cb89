//! `/api/v1/credentials`: the OAuth2 credentials and the state of their tokens (read-only).

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};

use super::error::{ApiError, ApiErrorBody};
use crate::state::AppState;
use crate::store::credentials;
use crate::web::state::WebState;
use crate::web::views::CredentialJson;

pub fn router() -> Router<WebState> {
    Router::new()
        .route("/credentials", get(list_credentials))
        .route("/credentials/{id}", get(get_credential))
}

/// Every credential, ordered by id.
#[utoipa::path(
    get,
    path = "/api/v1/credentials",
    tag = "credentials",
    responses(
        (status = 200, description = "Every credential", body = Vec<CredentialJson>),
        (status = 401, description = "No valid API key or session", body = ApiErrorBody),
    )
)]
pub(super) async fn list_credentials(
    State(state): State<AppState>,
) -> Result<Json<Vec<CredentialJson>>, ApiError> {
    let list = credentials::list(&state.db).await?;
    Ok(Json(list.iter().map(CredentialJson::new).collect()))
}

/// One credential.
#[utoipa::path(
    get,
    path = "/api/v1/credentials/{id}",
    tag = "credentials",
    params(("id" = String, Path, description = "The credential's id")),
    responses(
        (status = 200, description = "The credential", body = CredentialJson),
        (status = 401, description = "No valid API key or session", body = ApiErrorBody),
        (status = 404, description = "No credential has this id", body = ApiErrorBody),
    )
)]
pub(super) async fn get_credential(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<CredentialJson>, ApiError> {
    let cred = credentials::get(&state.db, &id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(Json(CredentialJson::new(&cred)))
}
