//! What every Graph exchange leaves behind: a debug line with Graph's `request-id` and
//! `client-request-id` (the ids Microsoft support asks for; "Microsoft Graph REST API
//! headers", Microsoft Learn), inside the caller's span (an import run's), and the app's
//! metrics (status, 429s, latency).

use std::time::Duration;

use crate::outbound::OutboundClient;

/// Records one request: `response` is `None` when no answer came (network error,
/// timeout). `sent_id` is the `client-request-id` we sent.
pub(crate) fn exchange(
    http: &OutboundClient,
    label: &str,
    sent_id: &str,
    latency: Duration,
    response: Option<&reqwest::Response>,
) {
    if let Some(metrics) = http.metrics() {
        metrics.graph_response(response.map(|r| r.status().as_u16()), latency);
    }
    let header = |name: &str| {
        response
            .and_then(|r| r.headers().get(name))
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    // Ids from the answer are Graph's text: Debug-formatted, so they stay one line.
    tracing::debug!(
        target: "mailport::graph",
        request = %label,
        status = response.map(|r| r.status().as_u16()),
        request_id = ?header("request-id").unwrap_or_default(),
        client_request_id = ?header("client-request-id").unwrap_or_else(|| sent_id.to_string()),
        latency_ms = latency.as_millis() as u64,
        "graph exchange"
    );
}
