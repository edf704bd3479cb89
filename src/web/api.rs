//! The JSON API under `/api/v1`, for an API key or a signed-in session: credentials here,
//! accounts in `api_accounts`, messages in `api_messages`.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::current_user;
use super::login_limit::LoginLimiter;
use super::session::AppSession;
use super::state::WebState;
use super::views::CredentialJson;
use crate::crypto::sha256_hex;
use crate::error::AppError;
use crate::state::AppState;
use crate::store::api_keys::ApiScope;
use crate::store::{self, credentials};

pub fn router() -> Router<WebState> {
    Router::new()
        .route("/credentials", get(list_credentials))
        .route("/credentials/{id}", get(get_credential))
        .route("/openapi.json", get(super::openapi::openapi_json))
        .merge(super::api_accounts::router())
        .merge(super::api_messages::router())
        .merge(super::api_webhooks::router())
}

/// An error answer of the JSON API: `{"error":{"code":"not_found","message":"…"}}`. Each
/// error carries its own machine [`ErrorCode`] beside its HTTP status, so two errors of one
/// status can tell programs apart. Internal errors are logged when answered, never shown.
pub struct ApiError {
    status: StatusCode,
    code: ErrorCode,
    /// What a user may read.
    message: String,
    /// Seconds for `Retry-After` (RFC 9110 §10.2.3), on 429 answers.
    retry_after: Option<u64>,
    /// The cause of a 500, for the log only.
    internal: Option<anyhow::Error>,
}

/// The stable machine code of an API error, for programs to branch on; the status says the
/// class of the error, the code which error it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// 401: no valid API key or session.
    Unauthorized,
    /// 403: the caller may not do this (a `read` API key asking to write).
    Forbidden,
    /// 404: no such item.
    NotFound,
    /// 400: a bad parameter or body.
    BadRequest,
    /// 409: the request conflicts with the current state.
    Conflict,
    /// 429: too many requests; `Retry-After` says when to try again.
    TooManyRequests,
    /// 500: something went wrong on Mailport's side; the details are in its log.
    InternalError,
}

impl ApiError {
    fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
            internal: None,
        }
    }

    /// 401 `unauthorized`, with `WWW-Authenticate: Bearer` (RFC 6750 §3).
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized, message)
    }

    /// 403 `forbidden`.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, ErrorCode::Forbidden, message)
    }

    /// 404 `not_found`, with the same sentence as the HTML error page.
    pub fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
            crate::error::NOT_FOUND_MESSAGE,
        )
    }

    /// 400 `bad_request`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, ErrorCode::BadRequest, message)
    }

    /// 409 `conflict`.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, ErrorCode::Conflict, message)
    }

    /// 429 `too_many_requests`, with `Retry-After: retry_after` (seconds).
    pub fn too_many_requests(message: impl Into<String>, retry_after: u64) -> Self {
        ApiError {
            retry_after: Some(retry_after),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                ErrorCode::TooManyRequests,
                message,
            )
        }
    }

    /// 500 `internal_error`: `cause` goes to the log, a fixed sentence to the caller.
    pub fn internal(cause: anyhow::Error) -> Self {
        ApiError {
            internal: Some(cause),
            ..Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrorCode::InternalError,
                crate::error::INTERNAL_MESSAGE,
            )
        }
    }
}

/// The body of every error answer of the JSON API.
#[derive(Serialize, ToSchema)]
pub struct ApiErrorBody {
    pub error: ApiErrorDetail,
}

/// What went wrong: a stable code for programs and a sentence for people.
#[derive(Serialize, ToSchema)]
pub struct ApiErrorDetail {
    /// Which error this is, for programs.
    pub code: ErrorCode,
    /// What went wrong, as a sentence.
    pub message: String,
}

/// The body of a 422 answer: the request was understood, but fields are not valid, and
/// nothing was saved.
#[derive(Serialize, ToSchema)]
pub struct ValidationErrorBody {
    pub error: ValidationErrorDetail,
}

/// What was wrong with which field.
#[derive(Serialize, ToSchema)]
pub struct ValidationErrorDetail {
    /// `validation_failed`.
    pub code: &'static str,
    /// "Nothing was saved." and each field's problem.
    pub message: String,
    /// Field name → what is wrong with it, as a sentence.
    pub fields: std::collections::BTreeMap<String, String>,
}

impl ValidationErrorBody {
    /// The body for the errors of `v`.
    pub fn new(v: &super::form::Validation) -> Self {
        let summary: Vec<String> = v.errors.iter().map(|(k, m)| format!("{k}: {m}")).collect();
        ValidationErrorBody {
            error: ValidationErrorDetail {
                code: "validation_failed",
                message: format!("Nothing was saved. {}", summary.join(" ")),
                fields: v
                    .errors
                    .iter()
                    .map(|(k, m)| (k.to_string(), m.to_string()))
                    .collect(),
            },
        }
    }
}

/// The handlers' error, each kind of [`AppError`] answered with its own code.
impl<E: Into<AppError>> From<E> for ApiError {
    fn from(e: E) -> Self {
        match e.into() {
            AppError::NotFound => ApiError::not_found(),
            AppError::BadRequest(m) => ApiError::bad_request(m),
            AppError::Forbidden(m) => ApiError::forbidden(m),
            AppError::TooManyRequests {
                message,
                retry_after,
            } => ApiError::too_many_requests(message, retry_after),
            AppError::Internal(e) => ApiError::internal(e),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Some(e) = &self.internal {
            tracing::error!(error = ?e, "internal error in API");
        }
        let body = ApiErrorBody {
            error: ApiErrorDetail {
                code: self.code,
                message: self.message,
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        let headers = response.headers_mut();
        if let Some(retry_after) = self.retry_after {
            headers.insert(header::RETRY_AFTER, header::HeaderValue::from(retry_after));
        }
        if self.code == ErrorCode::Unauthorized {
            headers.insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

const NO_CREDENTIALS: &str = "Send Authorization: Bearer <API key> or sign in.";
/// A key was sent, but no stored key has its hash: mistyped, revoked, or made for another
/// data dir (`mailport apikey create` writes to `--data-dir`, default `./data`).
const UNKNOWN_KEY: &str = "Unknown or revoked API key. Create a key in Settings > API keys, \
    or with `mailport apikey create NAME --data-dir DIR` using the server's data dir.";

/// Who called the API, put into request extensions by [`require_api_auth`]: an API key's
/// scope, or [`ApiScope::Admin`] for a signed-in session.
#[derive(Debug, Clone, Copy)]
pub struct ApiCaller {
    pub scope: ApiScope,
}

/// The credentials of an `Authorization` value: the scheme is case-insensitive (RFC 9110
/// §11.1), so `Bearer`, `bearer` and `BEARER` all work. None for another scheme.
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

/// An API key (`Authorization: Bearer …`) or a signed-in session. A request with an
/// `Authorization` header is never taken as the session's: that is what lets such requests
/// skip the CSRF check (`csrf::verify`). Bad keys are counted per address; an address that
/// keeps sending them gets 429 before any key is looked up.
pub async fn require_api_auth(
    State(state): State<AppState>,
    State(limiter): State<LoginLimiter>,
    session: AppSession,
    mut request: Request,
    next: Next,
) -> Response {
    let bearer = request
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().ok().and_then(bearer_token));
    let Some(key) = bearer else {
        return match current_user(&state, &session).await {
            Ok(Some(_)) => {
                request.extensions_mut().insert(ApiCaller {
                    scope: ApiScope::Admin,
                });
                next.run(request).await
            }
            Ok(None) => ApiError::unauthorized(NO_CREDENTIALS).into_response(),
            Err(e) => ApiError::from(e).into_response(),
        };
    };
    let addr = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::from([0, 0, 0, 0]));
    if let Err(wait) = limiter.check_api_key(addr) {
        return ApiError::too_many_requests(
            format!(
                "Too many requests with a wrong API key from this address; try again in {wait} seconds."
            ),
            wait,
        )
        .into_response();
    }
    let found = match key {
        Some(key) if !key.is_empty() && key.len() <= 256 => {
            match store::api_keys::authenticate(&state.db, &sha256_hex(key.as_bytes())).await {
                Ok(found) => found.map(|(_, scope)| scope),
                Err(e) => return ApiError::from(e).into_response(),
            }
        }
        _ => None,
    };
    if let Some(scope) = found {
        request.extensions_mut().insert(ApiCaller { scope });
        next.run(request).await
    } else {
        limiter.record_bad_api_key(addr);
        tracing::info!(addr = %addr, "refused an API request with a wrong key");
        match key {
            Some(key) if !key.is_empty() => ApiError::unauthorized(UNKNOWN_KEY),
            _ => ApiError::unauthorized(NO_CREDENTIALS),
        }
        .into_response()
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
        .ok_or_else(ApiError::not_found)?;
    Ok(Json(CredentialJson::new(&cred)))
}
