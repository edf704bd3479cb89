//! CSRF protection for every state-changing request, in one middleware: a request that is
//! not GET/HEAD/OPTIONS must carry the session's token as the `csrf_token` form field (or
//! the `X-CSRF-Token` header). Checking centrally means a new route cannot forget it.

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;
use tower_sessions::Session;

use super::form_token;
use super::session::AppSession;
use crate::app::AppState;
use crate::error::AppError;

/// The largest form body we read (the outer body limit is the same).
pub const MAX_FORM_BYTES: usize = 64 * 1024;

pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// The middleware. A signed-in session's requests carry its token; a request without a
/// session (the sign-in and setup forms) carries the signed pre-session token together with
/// its cookie (`form_token`), so that no session row exists before sign-in.
pub async fn verify(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) {
        return next.run(request).await;
    }
    let Some(session) = request.extensions().get::<Session>().cloned() else {
        return AppError::Internal(anyhow::anyhow!("session layer missing")).into_response();
    };
    let expected = match AppSession(session).existing_csrf_token().await {
        Ok(t) => t,
        Err(e) => return e.into_response(),
    };
    let header_token = request
        .headers()
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let (parts, body) = request.into_parts();
    let bytes = match to_bytes(body, MAX_FORM_BYTES).await {
        Ok(b) => b,
        Err(_) => {
            let mut page =
                AppError::BadRequest("The form is larger than Mailport accepts (64 KB).".into())
                    .into_response();
            *page.status_mut() = StatusCode::PAYLOAD_TOO_LARGE;
            return page;
        }
    };
    let given = header_token.or_else(|| form_field(&bytes, "csrf_token"));
    let ok = match (&expected, &given) {
        (Some(e), Some(g)) => constant_time_eq(e, g),
        (None, Some(g)) => form_token::verify(&state.key, &parts.headers, g),
        _ => false,
    };
    if !ok {
        tracing::info!(path = ?parts.uri.path(), "refused a request without a valid CSRF token");
        return AppError::Forbidden(
            "This form has expired or did not come from Mailport, so nothing was changed. \
             Go back, reload the page and try again."
                .into(),
        )
        .into_response();
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

fn form_field(body: &[u8], name: &str) -> Option<String> {
    url::form_urlencoded::parse(body)
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}
