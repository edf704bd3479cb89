//! Who called the JSON API: the middleware that takes an API key or a signed-in session
//! ([`require_api_auth`]), and the [`AdminCaller`] extractor of the write routes.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::header;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::{ApiError, WriteError};
use crate::crypto::sha256_hex;
use crate::state::AppState;
use crate::store;
use crate::store::api_keys::ApiScope;
use crate::web::auth::current_user;
use crate::web::login_limit::LoginLimiter;
use crate::web::session::AppSession;

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
    let refused = match limiter.check_api_key(addr).await {
        Ok(refused) => refused,
        Err(e) => return ApiError::from(e).into_response(),
    };
    if let Err(wait) = refused {
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
        if let Err(e) = limiter.record_bad_api_key(addr).await {
            return ApiError::from(e).into_response();
        }
        tracing::info!(addr = %addr, "refused an API request with a wrong key");
        match key {
            Some(key) if !key.is_empty() => ApiError::unauthorized(UNKNOWN_KEY),
            _ => ApiError::unauthorized(NO_CREDENTIALS),
        }
        .into_response()
    }
}

/// 403 for an API key that may only read.
const READ_ONLY_KEY: &str = "This API key may only read. Changing accounts needs a key with the \
    admin scope (Settings > API keys, or `mailport apikey create NAME --scope admin`).";

/// A caller that may change things: an `admin` API key or a signed-in session. Extracting
/// it answers 403 `forbidden` for a `read` key, before the body is read.
pub(super) struct AdminCaller;

impl<S: Send + Sync> FromRequestParts<S> for AdminCaller {
    type Rejection = WriteError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        // `require_api_auth` puts the caller on every API request before any handler runs.
        match parts.extensions.get::<ApiCaller>().map(|c| c.scope) {
            Some(ApiScope::Admin) => Ok(AdminCaller),
            Some(ApiScope::Read) => Err(ApiError::forbidden(READ_ONLY_KEY).into()),
            None => Err(anyhow::anyhow!("an API write route without require_api_auth").into()),
        }
    }
}
