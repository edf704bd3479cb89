//! CSRF protection for every state-changing request, in one middleware: a request that is
//! not GET/HEAD/OPTIONS must carry the session's token as the `csrf_token` form field (also
//! in a multipart upload) or the `X-CSRF-Token` header. Checking centrally means a new
//! route cannot forget it. API calls with an API key need none: they carry no cookie.

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_sessions::Session;

use super::form_token;
use super::session::AppSession;
use crate::crypto::constant_time_eq;
use crate::error::AppError;
use crate::state::AppState;

/// The largest form body we read (the outer body limit is the same).
pub const MAX_FORM_BYTES: usize = 64 * 1024;
/// The largest CSV file of accounts (`POST /accounts/import`): 10,000 accounts take about 2 MB.
pub const MAX_UPLOAD_BYTES: usize = 16 * 1024 * 1024;
/// The largest body of `PATCH /api/v1/accounts` (a bulk change naming up to 10,000 ids).
pub const MAX_BULK_BYTES: usize = 2 * 1024 * 1024;

/// The largest body a request may have.
pub fn max_body_bytes(method: &Method, path: &str) -> usize {
    match (method, path) {
        (&Method::POST, "/accounts/import") => MAX_UPLOAD_BYTES,
        (&Method::PATCH, "/api/v1/accounts") => MAX_BULK_BYTES,
        _ => MAX_FORM_BYTES,
    }
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
    // An API key in the Authorization header cannot be sent by another site's page, and
    // `api::caller::require_api_auth` never takes such a request as the session's.
    if request.uri().path().starts_with(super::API_PREFIX)
        && request.headers().contains_key(header::AUTHORIZATION)
    {
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
    let limit = max_body_bytes(&parts.method, parts.uri.path());
    let bytes = match to_bytes(body, limit).await {
        Ok(b) => b,
        Err(_) => {
            let mut page = AppError::BadRequest(format!(
                "The form is larger than Mailport accepts ({} KB).",
                limit / 1024
            ))
            .into_response();
            *page.status_mut() = StatusCode::PAYLOAD_TOO_LARGE;
            return page;
        }
    };
    let form_token = match multipart_boundary(&parts.headers) {
        Some(boundary) => multipart_field(bytes.clone(), boundary, "csrf_token").await,
        None => form_field(&bytes, "csrf_token"),
    };
    let given = header_token.or(form_token);
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

/// The boundary of a `multipart/form-data` body (file uploads).
fn multipart_boundary(headers: &axum::http::HeaderMap) -> Option<String> {
    let ct = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    multer::parse_boundary(ct).ok()
}

/// A small text field of a multipart body (the token comes first in Mailport's forms, so
/// only the parts before it are read).
async fn multipart_field(body: bytes::Bytes, boundary: String, name: &str) -> Option<String> {
    let stream = futures_util::stream::once(async move { Ok::<_, std::io::Error>(body) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    while let Ok(Some(field)) = multipart.next_field().await {
        if field.name() == Some(name) && field.file_name().is_none() {
            return field.text().await.ok();
        }
    }
    None
}

fn form_field(body: &[u8], name: &str) -> Option<String> {
    url::form_urlencoded::parse(body)
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}
