//! The sandbox's own tests: Entra ID and Graph as Microsoft documents them, driven directly
//! over HTTP without Mailport in between.

use reqwest::{Response, StatusCode};
use serde_json::Value;

mod graph;
mod identity;

/// The code and message of a Graph error answer (`{"error": {"code", "message"}}`, Microsoft
/// Graph's "Error responses" page), after checking its status.
async fn graph_error(response: Response, status: StatusCode) -> (String, String) {
    assert_eq!(response.status(), status);
    let body: Value = response.json().await.expect("json error body");
    (
        body["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    )
}

/// Asserts that `response` is a Graph error with this status and `error.code`; returns the
/// error's message for the checks a test adds.
async fn assert_graph_error(response: Response, status: StatusCode, code: &str) -> String {
    let (actual, message) = graph_error(response, status).await;
    assert_eq!(actual, code, "{message}");
    message
}
