//! The web interface: one module per screen, merged into one router here together with the
//! layers every request passes: request ids and the request span ([`request_trace`]), body
//! and time limits, compression, security headers, sessions and CSRF.

pub mod account_form;
pub mod account_input;
pub mod account_list;
pub mod accounts;
pub mod accounts_csv;
pub mod api;
pub mod auth;
pub mod by_id;
pub mod credential_form;
pub mod credentials;
pub mod csrf;
pub mod form;
pub mod form_token;
pub mod health;
pub mod layout;
pub mod login_limit;
pub mod mail;
pub mod message_files;
pub mod messages;
pub mod metrics;
pub mod oauth_flow;
pub mod page;
pub mod redirect;
pub mod request_trace;
pub mod session;
pub mod settings;
pub mod state;
pub mod views;
pub mod webhook_form;
pub mod webhooks;

use std::time::Duration;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Router, middleware};
use tower_http::compression::CompressionLayer;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};

use crate::error::AppError;
use crate::state::AppState;
use session::SESSION_COOKIE;
use state::WebState;

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone: signing in, the setup link, the health check, static files, and the OAuth
    /// callback (which checks the session itself so that a stray callback is explained).
    Public,
    /// A signed-in administrator; anyone else is redirected to `/login`.
    Admin,
    /// A signed-in administrator or an API key; anyone else gets a 401 JSON error. Routes
    /// other than GET also need the key's `admin` scope (a session has it). The JSON API
    /// under [`API_PREFIX`], and `/metrics`.
    Api,
}

/// Where the JSON API is nested.
pub const API_PREFIX: &str = "/api/v1";

/// Every route the router serves, with who may call it. The security tests walk this table
/// (anonymous access, CSRF, GETs that change nothing), and [`route_guard`] refuses any
/// request whose route is not listed here, so a route cannot be added without being listed
/// and therefore tested. `tests/security/routes.rs` also cross-checks it against the
/// `.route(…)` calls in `src/web`.
pub const ROUTES: &[(Method, &str, Access)] = {
    use Access::*;
    &[
        (Method::GET, "/login", Public),
        (Method::POST, "/login", Public),
        (Method::GET, "/setup", Public),
        (Method::POST, "/setup", Public),
        (Method::GET, "/healthz", Public),
        (Method::GET, "/OAuth2Callback", Public),
        (Method::GET, "/static/{*path}", Public),
        (Method::GET, "/", Admin),
        (Method::POST, "/logout", Admin),
        (Method::GET, "/credentials", Admin),
        (Method::POST, "/credentials", Admin),
        (Method::GET, "/credentials/new", Admin),
        (Method::GET, "/credentials/{id}", Admin),
        (Method::POST, "/credentials/{id}", Admin),
        (Method::GET, "/credentials/{id}/delete", Admin),
        (Method::POST, "/credentials/{id}/delete", Admin),
        (Method::POST, "/credentials/{id}/token", Admin),
        (Method::GET, "/accounts", Admin),
        (Method::POST, "/accounts", Admin),
        (Method::GET, "/accounts.csv", Admin),
        (Method::GET, "/accounts/import", Admin),
        (Method::POST, "/accounts/import", Admin),
        (Method::POST, "/accounts/import/apply", Admin),
        (Method::POST, "/accounts/import/cancel", Admin),
        (Method::GET, "/accounts/new", Admin),
        (Method::GET, "/accounts/{id}", Admin),
        (Method::POST, "/accounts/{id}", Admin),
        (Method::GET, "/accounts/{id}/delete", Admin),
        (Method::POST, "/accounts/{id}/delete", Admin),
        (Method::POST, "/accounts/{id}/test", Admin),
        (Method::POST, "/accounts/{id}/import", Admin),
        (Method::GET, "/mail", Admin),
        (Method::GET, "/mail/{id}", Admin),
        (Method::GET, "/mail/{id}/attachments/{n}", Admin),
        (Method::GET, "/mail/{id}/cid/{cid}", Admin),
        (Method::GET, "/mail/{id}/raw", Admin),
        (Method::GET, "/settings", Admin),
        (Method::POST, "/settings/password", Admin),
        (Method::POST, "/settings/sessions/sign-out-others", Admin),
        (Method::GET, "/settings/api-keys", Admin),
        (Method::POST, "/settings/api-keys", Admin),
        (Method::GET, "/settings/api-keys/{id}/delete", Admin),
        (Method::POST, "/settings/api-keys/{id}/delete", Admin),
        (Method::GET, "/webhooks", Admin),
        (Method::POST, "/webhooks", Admin),
        (Method::GET, "/webhooks/new", Admin),
        (Method::GET, "/webhooks/{id}", Admin),
        (Method::POST, "/webhooks/{id}", Admin),
        (Method::GET, "/webhooks/{id}/delete", Admin),
        (Method::POST, "/webhooks/{id}/delete", Admin),
        (Method::POST, "/webhooks/{id}/rotate-secret", Admin),
        (Method::POST, "/webhooks/{id}/test", Admin),
        (Method::POST, "/webhooks/{id}/redeliver", Admin),
        (
            Method::POST,
            "/webhooks/{id}/deliveries/{delivery_id}/redeliver",
            Admin,
        ),
        (Method::POST, "/webhooks/{id}/send-existing", Admin),
        (Method::GET, "/api/v1/openapi.json", Api),
        (Method::GET, "/api/v1/credentials", Api),
        (Method::GET, "/api/v1/credentials/{id}", Api),
        (Method::GET, "/api/v1/accounts", Api),
        (Method::POST, "/api/v1/accounts", Api),
        (Method::PATCH, "/api/v1/accounts", Api),
        (Method::GET, "/api/v1/accounts/{id}", Api),
        (Method::PUT, "/api/v1/accounts/{id}", Api),
        (Method::PATCH, "/api/v1/accounts/{id}", Api),
        (Method::DELETE, "/api/v1/accounts/{id}", Api),
        (Method::GET, "/api/v1/messages", Api),
        (Method::GET, "/api/v1/messages/{id}", Api),
        (Method::GET, "/api/v1/messages/{id}/raw", Api),
        (Method::GET, "/api/v1/messages/{id}/attachments/{n}", Api),
        (Method::GET, "/api/v1/webhooks", Api),
        (Method::GET, "/api/v1/webhooks/{id}", Api),
        (Method::GET, "/api/v1/webhooks/{id}/deliveries", Api),
        (Method::POST, "/api/v1/webhooks/{id}/redeliver", Api),
        (
            Method::POST,
            "/api/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver",
            Api,
        ),
        (Method::GET, "/api/v1/events", Api),
        (Method::GET, "/metrics", Api),
    ]
};

/// Limits on what a client may cost the server before and while a handler runs.
#[derive(Debug, Clone)]
pub struct ServerLimits {
    /// A client must send a complete request head within this time, else the connection is
    /// closed: a slow-loris client cannot hold a connection open by dribbling header bytes.
    pub header_read_timeout: Duration,
    /// A whole request (including reading its body) must finish within this time (408).
    pub request_timeout: Duration,
    /// The largest request head (request line and headers) accepted; hyper answers 431.
    pub max_header_bytes: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            header_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            // Far above what a browser sends (cookies included), far below hyper's 400 KB.
            max_header_bytes: 32 * 1024,
        }
    }
}

/// Refuses requests whose route is missing from [`ROUTES`] (500: a programming error, so it
/// fails closed rather than serving an unchecked route) and methods the table does not list
/// for a path (405). Requests that matched no route (404) and static files pass through.
async fn route_guard(matched: Option<MatchedPath>, request: Request, next: Next) -> Response {
    if let Some(matched) = matched
        && let Some(refusal) = refuse_unlisted(request.method(), matched.as_str())
    {
        return refusal;
    }
    next.run(request).await
}

/// The answer for a route or method missing from [`ROUTES`], if it is missing.
fn refuse_unlisted(method: &Method, path: &str) -> Option<Response> {
    // The static files' service answers for its whole folder, `/static` and `/static/`
    // included (404 for what it does not have); the table lists it as `/static/{*path}`.
    if path == "/static" || path.starts_with("/static/") {
        return None;
    }
    let method = if method == Method::HEAD {
        &Method::GET
    } else {
        method
    };
    let mut listed = ROUTES.iter().filter(|(_, p, _)| *p == path).peekable();
    if listed.peek().is_none() {
        tracing::error!(route = %path, "route is missing from web::ROUTES; refused");
        return Some(
            AppError::Internal(anyhow::anyhow!("route {path} is not in web::ROUTES"))
                .into_response(),
        );
    }
    if listed.any(|(m, _, _)| m == method) {
        None
    } else {
        Some(StatusCode::METHOD_NOT_ALLOWED.into_response())
    }
}

/// The whole application router, with the default limits.
pub fn router(state: AppState) -> Router {
    router_with(state, &ServerLimits::default())
}

/// The whole application router, over the application's services `app`.
pub fn router_with(app: AppState, limits: &ServerLimits) -> Router {
    let state = WebState::new(app);
    let private = Router::new()
        .merge(auth::private_router())
        .merge(credentials::router())
        .merge(accounts::router())
        .merge(mail::router())
        .merge(settings::router())
        .merge(webhooks::router())
        .merge(oauth_flow::private_router())
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_admin,
        ));
    let api = api::router()
        // Nested routes carry their full path only inside the nested router.
        .layer(middleware::from_fn(route_guard))
        .fallback(|| async { api::error::ApiError::not_found() })
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            api::caller::require_api_auth,
        ));
    let static_dir = ServeDir::new(static_dir());
    let sessions = SessionManagerLayer::new(state.app.session_store.clone())
        .with_name(SESSION_COOKIE)
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(state.app.config.secure_cookies())
        .with_expiry(Expiry::OnInactivity(
            time::Duration::try_from(state.app.config.sessions.idle)
                .unwrap_or(time::Duration::HOUR),
        ));

    let router = Router::new()
        .merge(auth::public_router())
        .merge(oauth_flow::public_router())
        .merge(private)
        .merge(metrics::router(state.clone()))
        .nest(API_PREFIX, api)
        .nest_service(
            "/static",
            tower::ServiceBuilder::new()
                .layer(SetResponseHeaderLayer::overriding(
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("public, max-age=3600"),
                ))
                .service(static_dir),
        )
        .layer(middleware::from_fn(route_guard))
        .fallback(|| async { AppError::NotFound })
        .layer(middleware::from_fn_with_state(state.clone(), csrf::verify))
        .layer(sessions)
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .layer(security_headers())
        // Pages, CSS and JavaScript go out gzipped to browsers that ask; downloads of mail
        // and attachments keep their exact bytes on the wire for clients that do not.
        .layer(CompressionLayer::new().gzip(true))
        .layer(middleware::from_fn(limit_body))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            limits.request_timeout,
        ))
        .with_state(state);
    request_trace::around(router)
}

/// Caps request bodies at [`csrf::max_body_bytes`] for their path (64 KB for forms, more
/// for the CSV upload): 413 at once for a larger Content-Length, else while reading.
async fn limit_body(request: Request, next: Next) -> Response {
    let limit = csrf::max_body_bytes(request.method(), request.uri().path());
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    }
    let (parts, body) = request.into_parts();
    let body = axum::body::Body::new(http_body_util::Limited::new(body, limit));
    next.run(Request::from_parts(parts, body)).await
}

/// Where `static/` is: next to the binary's crate in development, or MAILPORT_STATIC_DIR.
fn static_dir() -> std::path::PathBuf {
    std::env::var_os("MAILPORT_STATIC_DIR")
        .map(Into::into)
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/static").into())
}

type HeaderLayer = SetResponseHeaderLayer<HeaderValue>;

/// The headers every response carries (CSP, nosniff, no referrer, no framing).
fn security_headers() -> (HeaderLayer, HeaderLayer, HeaderLayer, HeaderLayer) {
    let set = |name: HeaderName, value: &'static str| {
        SetResponseHeaderLayer::overriding(name, HeaderValue::from_static(value))
    };
    (
        // A handler may send a stricter policy of its own (inline mail images do).
        SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ),
        set(header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        set(header::REFERRER_POLICY, "no-referrer"),
        set(header::X_FRAME_OPTIONS, "DENY"),
    )
}
