//! Every request's trace: a request id (`x-request-id`) on the request and its response,
//! and a span around it (tower-http's `TraceLayer`) that carries the id, the method and the
//! matched route, so that every log line a request causes can be found by its id.
//!
//! An incoming `x-request-id` (set by a reverse proxy, say) is kept only when it is 1 to
//! [`MAX_REQUEST_ID_LEN`] visible ASCII characters; anything else is replaced by a fresh
//! UUID. Nothing else from the request is logged: no query string (the OAuth callback's
//! `code` and `state`, the setup link's token), no header (Authorization, cookies), and for
//! a request that matched no route only its path, Debug-escaped.

use std::time::Duration;

use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::http::HeaderName;
use axum::middleware::{self, Next};
use axum::response::Response;
use tower_http::request_id::{
    MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::{DefaultOnRequest, TraceLayer};
use tracing::{Level, Span};

/// The header that carries the request id, both ways.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The longest incoming request id kept.
pub const MAX_REQUEST_ID_LEN: usize = 64;

/// `router` with request ids and the request span around everything it serves.
pub fn around<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    router
        // Innermost first: the id goes on the response, the span wraps the handler and
        // every layer inside it, the id is set before the span reads it, and an unusable
        // incoming id is dropped before anything else sees it.
        .layer(PropagateRequestIdLayer::new(REQUEST_ID_HEADER))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_request(DefaultOnRequest::new().level(Level::DEBUG))
                .on_response(log_response)
                // Server errors are logged where they happen (AppError), with their cause.
                .on_failure(()),
        )
        .layer(SetRequestIdLayer::new(REQUEST_ID_HEADER, MakeRequestUuid))
        .layer(middleware::from_fn(drop_unusable_request_id))
}

/// Whether an incoming request id is kept: 1 to [`MAX_REQUEST_ID_LEN`] visible ASCII
/// characters (`!` to `~`), so it can neither break a log line nor grow it much.
pub fn is_usable_request_id(id: &[u8]) -> bool {
    (1..=MAX_REQUEST_ID_LEN).contains(&id.len()) && id.iter().all(|b| b.is_ascii_graphic())
}

async fn drop_unusable_request_id(mut request: Request, next: Next) -> Response {
    let headers = request.headers_mut();
    let usable = {
        let mut all = headers.get_all(&REQUEST_ID_HEADER).iter();
        match (all.next(), all.next()) {
            (None, _) => true,
            (Some(one), None) => is_usable_request_id(one.as_bytes()),
            // Two ids: neither is believed.
            (Some(_), Some(_)) => false,
        }
    };
    if !usable {
        headers.remove(&REQUEST_ID_HEADER);
    }
    next.run(request).await
}

/// `request{method=GET route="/mail/{id}" request_id="…"}`: the matched route's template,
/// never the concrete path's values or the query.
fn request_span(request: &axum::http::Request<axum::body::Body>) -> Span {
    let id = request
        .extensions()
        .get::<RequestId>()
        .and_then(|id| id.header_value().to_str().ok())
        .unwrap_or("-");
    let route = match request.extensions().get::<MatchedPath>() {
        Some(matched) => matched.as_str(),
        None => request.uri().path(),
    };
    tracing::info_span!(
        "request",
        method = %request.method(),
        route = ?route,
        request_id = ?id,
    )
}

fn log_response(response: &Response, latency: Duration, _span: &Span) {
    let status = response.status().as_u16();
    let latency_ms = latency.as_millis() as u64;
    if response.status().is_server_error() {
        tracing::warn!(target: "mailport::http", status, latency_ms, "request failed");
    } else {
        tracing::info!(target: "mailport::http", status, latency_ms, "request finished");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_short_visible_ascii_ids_are_kept() {
        assert!(is_usable_request_id(b"abc-123_XYZ.4:5"));
        assert!(is_usable_request_id(&[b'a'; MAX_REQUEST_ID_LEN]));
        assert!(!is_usable_request_id(&[b'a'; MAX_REQUEST_ID_LEN + 1]));
        assert!(!is_usable_request_id(b""));
        assert!(!is_usable_request_id(b"two words"));
        assert!(!is_usable_request_id(b"line\nbreak"));
        assert!(!is_usable_request_id("caf\u{e9}".as_bytes()));
    }
}
