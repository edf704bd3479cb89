//! The read-only JSON API under `/api/v1`, for an API key or a signed-in session.

use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::current_user;
use super::session::AppSession;
use super::views::{AccountJson, CredentialJson};
use crate::app::AppState;
use crate::crypto::sha256_hex;
use crate::error::AppError;
use crate::store::{self, accounts, credentials, runs};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/credentials", get(list_credentials))
        .route("/credentials/{id}", get(get_credential))
        .route("/accounts", get(list_accounts))
        .route("/accounts/{id}", get(get_account))
        .route("/openapi.json", get(super::openapi::openapi_json))
        .merge(super::api_messages::router())
}

/// Errors as JSON: `{"error":{"code":"not_found","message":"…"}}`.
pub struct ApiError(pub AppError);

/// The body of every error answer of the JSON API.
#[derive(Serialize, ToSchema)]
pub struct ApiErrorBody {
    pub error: ApiErrorDetail,
}

/// What went wrong: a stable code for programs and a sentence for people.
#[derive(Serialize, ToSchema)]
pub struct ApiErrorDetail {
    /// `unauthorized`, `forbidden`, `not_found`, `bad_request` or `internal_error`.
    pub code: &'static str,
    /// What went wrong, as a sentence.
    pub message: String,
}

impl ApiErrorBody {
    fn response(status: StatusCode, code: &'static str, message: String) -> Response {
        let body = ApiErrorBody {
            error: ApiErrorDetail { code, message },
        };
        (status, Json(body)).into_response()
    }
}

impl<E: Into<AppError>> From<E> for ApiError {
    fn from(e: E) -> Self {
        ApiError(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.0.status();
        if let AppError::Internal(e) = &self.0 {
            tracing::error!(error = ?e, "internal error in API");
        }
        let code = match status {
            StatusCode::NOT_FOUND => "not_found",
            StatusCode::UNAUTHORIZED => "unauthorized",
            StatusCode::FORBIDDEN => "forbidden",
            StatusCode::BAD_REQUEST => "bad_request",
            _ => "internal_error",
        };
        ApiErrorBody::response(status, code, self.0.public_message())
    }
}

fn unauthorized(message: &str) -> Response {
    let mut r = ApiErrorBody::response(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        message.to_string(),
    );
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Bearer"),
    );
    r
}

const NO_CREDENTIALS: &str = "Send Authorization: Bearer <API key> or sign in.";
/// A key was sent, but no stored key has its hash: mistyped, revoked, or made for another
/// data dir (`mailport apikey create` writes to `--data-dir`, default `./data`).
const UNKNOWN_KEY: &str = "Unknown or revoked API key. Create a key in Settings > API keys, \
    or with `mailport apikey create NAME --data-dir DIR` using the server's data dir.";

/// An API key (`Authorization: Bearer …`) or a signed-in session.
pub async fn require_api_auth(
    State(state): State<AppState>,
    session: AppSession,
    request: Request,
    next: Next,
) -> Response {
    let bearer = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.strip_prefix("Bearer ").map(str::trim));
    match bearer {
        Some(Some(key)) if !key.is_empty() && key.len() <= 256 => {
            match store::api_keys::authenticate(&state.db, &sha256_hex(key.as_bytes())).await {
                Ok(Some(_)) => next.run(request).await,
                Ok(None) => unauthorized(UNKNOWN_KEY),
                Err(e) => ApiError::from(e).into_response(),
            }
        }
        Some(Some(key)) if !key.is_empty() => unauthorized(UNKNOWN_KEY),
        Some(_) => unauthorized(NO_CREDENTIALS),
        None => match current_user(&state, &session).await {
            Ok(Some(_)) => next.run(request).await,
            Ok(None) => unauthorized(NO_CREDENTIALS),
            Err(e) => ApiError(e).into_response(),
        },
    }
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
        .ok_or(AppError::NotFound)?;
    Ok(Json(CredentialJson::new(&cred)))
}

async fn account_json(state: &AppState, a: &accounts::Account) -> Result<AccountJson, ApiError> {
    let cred = credentials::get(&state.db, &a.credential_id).await?;
    let last = runs::last(&state.db, &a.id).await?;
    let mut json = AccountJson::new(a, cred.as_ref(), last.as_ref());
    // A run going on has its counts in the importer's memory, not yet in the database.
    if let Some(run) = json.last_run.as_mut().filter(|r| r.outcome == "running")
        && let Some(live) = state.importer.live_progress(&a.id)
    {
        run.listed = live.listed;
        run.imported = live.imported;
        run.skipped = live.skipped;
        run.too_large = live.too_large;
        run.failed = live.failed;
    }
    Ok(json)
}

/// Every email server account, ordered by id, each with its latest run.
#[utoipa::path(
    get,
    path = "/api/v1/accounts",
    tag = "accounts",
    responses(
        (status = 200, description = "Every email server account", body = Vec<AccountJson>),
        (status = 401, description = "No valid API key or session", body = ApiErrorBody),
    )
)]
pub(super) async fn list_accounts(
    State(state): State<AppState>,
) -> Result<Json<Vec<AccountJson>>, ApiError> {
    let mut out = Vec::new();
    for a in accounts::list(&state.db).await? {
        out.push(account_json(&state, &a).await?);
    }
    Ok(Json(out))
}

/// One email server account with its latest run.
#[utoipa::path(
    get,
    path = "/api/v1/accounts/{id}",
    tag = "accounts",
    params(("id" = String, Path, description = "The account's id")),
    responses(
        (status = 200, description = "The email server account", body = AccountJson),
        (status = 401, description = "No valid API key or session", body = ApiErrorBody),
        (status = 404, description = "No account has this id", body = ApiErrorBody),
    )
)]
pub(super) async fn get_account(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<AccountJson>, ApiError> {
    let a = accounts::get(&state.db, &id)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(Json(account_json(&state, &a).await?))
}
