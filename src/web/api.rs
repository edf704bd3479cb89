//! The JSON API under `/api/v1`, for an API key or a signed-in session: credentials here,
//! accounts in `api_accounts`, messages in `api_messages`.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

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
        .merge(super::api_accounts::router())
        .merge(super::api_messages::router())
        .merge(super::api_webhooks::router())
}

/// Errors as JSON: `{"error":{"code":"not_found","message":"…"}}`.
pub struct ApiError(pub AppError);

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
        let mut response = (
            status,
            Json(json!({"error": {"code": code, "message": self.0.public_message()}})),
        )
            .into_response();
        if let AppError::TooManyRequests { retry_after, .. } = &self.0
            && let Ok(v) = header::HeaderValue::from_str(&retry_after.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        response
    }
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        Json(json!({"error": {"code": "unauthorized", "message": "Send Authorization: Bearer <API key> or sign in."}})),
    )
        .into_response()
}

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
            Ok(None) => unauthorized(),
            Err(e) => ApiError(e).into_response(),
        };
    };
    let addr = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::from([0, 0, 0, 0]));
    if let Err(wait) = limiter.check_api_key(addr) {
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
        limiter.record_bad_api_key(addr);
        tracing::info!(addr = %addr, "refused an API request with a wrong key");
        unauthorized()
    }
}

async fn list_credentials(
    State(state): State<AppState>,
) -> Result<Json<Vec<CredentialJson>>, ApiError> {
    let list = credentials::list(&state.db).await?;
    Ok(Json(list.iter().map(CredentialJson::new).collect()))
}

async fn get_credential(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<CredentialJson>, ApiError> {
    let cred = credentials::get(&state.db, &id)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(Json(CredentialJson::new(&cred)))
}
