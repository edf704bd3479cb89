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
    /// `unauthorized`, `forbidden`, `not_found`, `bad_request`, `conflict`,
    /// `too_many_requests` or `internal_error`.
    pub code: &'static str,
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

impl ApiErrorBody {
    /// An error answer with this status, code and message.
    pub(super) fn response(status: StatusCode, code: &'static str, message: String) -> Response {
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
            StatusCode::TOO_MANY_REQUESTS => "too_many_requests",
            _ => "internal_error",
        };
        let mut response = ApiErrorBody::response(status, code, self.0.public_message());
        if let AppError::TooManyRequests { retry_after, .. } = &self.0
            && let Ok(v) = header::HeaderValue::from_str(&retry_after.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        response
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
            Ok(None) => unauthorized(NO_CREDENTIALS),
            Err(e) => ApiError(e).into_response(),
        };
    };
    let addr = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::from([0, 0, 0, 0]));
    let refused = match limiter.check_api_key(addr).await {
        Ok(refused) => refused,
        Err(e) => return ApiError::from(e).into_response(),
    };
    if let Err(wait) = refused {
        return ApiError(AppError::TooManyRequests {
            message: format!(
                "Too many requests with a wrong API key from this address; try again in {wait} seconds."
            ),
            retry_after: wait,
        })
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
        if let Err(e) = limiter.record_bad_api_key(addr).await {
            return ApiError::from(e).into_response();
        }
        tracing::info!(addr = %addr, "refused an API request with a wrong key");
        match key {
            Some(key) if !key.is_empty() => unauthorized(UNKNOWN_KEY),
            _ => unauthorized(NO_CREDENTIALS),
        }
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
