//! Reading Graph's answers: bodies with a size cap and an idle timeout, JSON that is checked
//! rather than trusted, and transport errors worded without URLs.

use std::time::Duration;

use reqwest::Response;
use reqwest::header;
use serde::de::DeserializeOwned;

use super::errors::{GraphError, GraphErrorKind};
use super::limits::Permit;

/// Error answers are read only this far: enough for Graph's error JSON.
pub(crate) const ERROR_BODY_LIMIT: usize = 64 * 1024;

/// A successful answer, still holding the mailbox permit until its body is read.
pub(crate) struct Answer {
    pub response: Response,
    pub permit: Permit,
}

pub(crate) fn network(message: String) -> GraphError {
    GraphError::new(GraphErrorKind::Network, message)
}

/// A transport failure as a sentence: what failed, and the innermost cause ("connection
/// refused"), never the URL (links carry tokens of their own).
pub(crate) fn network_error(e: reqwest::Error) -> GraphError {
    if e.is_timeout() {
        return network("Graph did not answer in time.".into());
    }
    let what = if e.is_connect() {
        "Mailport could not connect to Graph"
    } else if e.is_body() || e.is_decode() {
        "The connection to Graph broke off during the answer"
    } else {
        "The request to Graph failed"
    };
    network(match crate::prose::root_cause(&e) {
        Some(cause) => format!("{what}: {cause}."),
        None => format!("{what}."),
    })
}

/// Reads a body up to `limit` bytes, waiting at most `idle` for each chunk.
pub(crate) async fn read_capped(
    mut response: Response,
    limit: usize,
    idle: Duration,
) -> Result<Vec<u8>, GraphError> {
    let too_large = || {
        GraphError::new(
            GraphErrorKind::BadResponse,
            format!("Graph's answer is larger than the {limit} bytes Mailport reads."),
        )
    };
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    loop {
        let chunk = match tokio::time::timeout(idle, response.chunk()).await {
            Err(_) => return Err(network("Graph stopped sending its answer.".into())),
            Ok(Err(e)) => return Err(network_error(e)),
            Ok(Ok(None)) => return Ok(body),
            Ok(Ok(Some(chunk))) => chunk,
        };
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
}

/// Reads a JSON answer; anything that is not the expected JSON is a `BadResponse`.
pub(crate) async fn read_json<T: DeserializeOwned>(
    answer: Answer,
    limit: usize,
    idle: Duration,
) -> Result<T, GraphError> {
    let Answer { response, permit } = answer;
    let request_id = response
        .headers()
        .get("request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("json"));
    let status = response.status().as_u16();
    let bad = |message: String| GraphError {
        kind: GraphErrorKind::BadResponse,
        status: Some(status),
        code: None,
        message,
        request_id: request_id.clone(),
    };
    if !is_json {
        return Err(bad("Graph answered with something other than JSON".into()));
    }
    let body = read_capped(response, limit, idle).await?;
    drop(permit);
    // serde's message can quote the offending value, which might be anything; the category
    // and position are enough to report.
    serde_json::from_slice(&body).map_err(|e| {
        bad(format!(
            "Graph's answer is not the JSON expected ({:?} error at line {} column {})",
            e.classify(),
            e.line(),
            e.column()
        ))
    })
}
