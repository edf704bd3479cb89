//! The web interface: one module per screen, merged into one router here together with the
//! layers every request passes: body and time limits, compression, security headers, sessions
//! and CSRF.

pub mod account_form;
pub mod accounts;
pub mod api;
pub mod api_messages;
pub mod auth;
pub mod credential_form;
pub mod credentials;
pub mod csrf;
pub mod layout;
pub mod login_limit;
pub mod mail;
pub mod oauth_flow;
pub mod session;
pub mod settings;
pub mod views;

use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::{Router, middleware};
use tower_http::compression::CompressionLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};

use crate::app::AppState;
use crate::error::AppError;

/// Sessions end after this long without a request.
pub const SESSION_IDLE: time::Duration = time::Duration::hours(8);
pub const SESSION_COOKIE: &str = "mailport_session";

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

/// The whole application router.
pub fn router(state: AppState) -> Router {
    let private = Router::new()
        .merge(auth::private_router())
        .merge(credentials::router())
        .merge(accounts::router())
        .merge(mail::router())
        .merge(settings::router())
        .merge(oauth_flow::private_router())
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_admin,
        ));
    let api = api::router()
        .fallback(|| async { api::ApiError(AppError::NotFound) })
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            api::require_api_auth,
        ));
    let static_dir = ServeDir::new(static_dir());
    let sessions = SessionManagerLayer::new(state.session_store.clone())
        .with_name(SESSION_COOKIE)
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(state.config.secure_cookies())
        .with_expiry(Expiry::OnInactivity(SESSION_IDLE));

    Router::new()
        .merge(auth::public_router())
        .merge(oauth_flow::public_router())
        .merge(private)
        .nest("/api/v1", api)
        .nest_service(
            "/static",
            tower::ServiceBuilder::new()
                .layer(SetResponseHeaderLayer::overriding(
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("public, max-age=3600"),
                ))
                .service(static_dir),
        )
        .fallback(|| async { AppError::NotFound })
        .layer(middleware::from_fn(csrf::verify))
        .layer(sessions)
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .layer(security_headers())
        .layer(middleware::from_fn_with_state(
            state.clone(),
            layout::mark_demo,
        ))
        // Pages, CSS and JavaScript go out gzipped to browsers that ask; downloads of mail
        // and attachments keep their exact bytes on the wire for clients that do not.
        .layer(CompressionLayer::new().gzip(true))
        .layer(RequestBodyLimitLayer::new(csrf::MAX_FORM_BYTES))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(60),
        ))
        .with_state(state)
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
