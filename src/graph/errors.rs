//! What can go wrong talking to Graph, classified so that the importer and the admin screens
//! can say in plain words what to fix. Messages never contain tokens or response bodies other
//! than Graph's own error text.

use std::fmt;

use serde::Deserialize;

/// The kind of a [`GraphError`]: what the caller should do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GraphErrorKind {
    /// 401: the token was refused even after one forced refresh.
    Unauthorized,
    /// 403 ErrorAccessDenied: permission or admin consent missing.
    AccessDenied,
    /// 403 "Access to OData is disabled.": an application access policy (or RBAC for
    /// Applications) excludes the mailbox.
    AccessPolicy,
    /// MailboxNotEnabledForRESTAPI: inactive, soft-deleted, on-premises or unlicensed mailbox.
    MailboxNotEnabled,
    /// The mailbox (user) does not exist: ResourceNotFound, ErrorInvalidUser, or another 404.
    NotFound,
    /// ErrorItemNotFound: the message or folder is gone, or its id is stale.
    ItemNotFound,
    /// A folder path segment does not exist; `existing` lists the names at that level.
    FolderNotFound { existing: Vec<String> },
    /// 409, e.g. ErrorFolderExists.
    Conflict,
    /// Any other 4xx: Graph refused the request as written (InefficientFilter, malformed id …).
    InvalidRequest,
    /// 429 (or ApplicationThrottled) after every allowed attempt.
    Throttled,
    /// 5xx after every allowed attempt.
    Server,
    /// 410 Gone or syncStateNotFound: the delta token expired; start a full sync again.
    SyncStateExpired,
    /// The message is larger than the caller allows.
    TooLarge,
    /// The connection failed, timed out or was dropped mid-body; retrying later may work.
    Network,
    /// Graph answered with something that is not the JSON we expect (or too much of it).
    BadResponse,
    /// A nextLink/deltaLink pointed somewhere other than the mailbox's Graph endpoint.
    ForeignLink,
    /// The downloaded bytes could not be written locally.
    Storage,
    /// Configuration or anything else.
    Other,
}

/// One failed Graph call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphError {
    pub kind: GraphErrorKind,
    pub status: Option<u16>,
    /// Graph's error code (`ErrorAccessDenied`, `TooManyRequests`, …).
    pub code: Option<String>,
    pub message: String,
    /// Graph's `request-id`, which Microsoft support asks for.
    pub request_id: Option<String>,
}

impl GraphErrorKind {
    /// A stable snake_case name, recorded as a run's error code when Graph gave none.
    pub fn as_str(&self) -> &'static str {
        match self {
            GraphErrorKind::Unauthorized => "unauthorized",
            GraphErrorKind::AccessDenied => "access_denied",
            GraphErrorKind::AccessPolicy => "access_policy",
            GraphErrorKind::MailboxNotEnabled => "mailbox_not_enabled",
            GraphErrorKind::NotFound => "not_found",
            GraphErrorKind::ItemNotFound => "item_not_found",
            GraphErrorKind::FolderNotFound { .. } => "folder_not_found",
            GraphErrorKind::Conflict => "conflict",
            GraphErrorKind::InvalidRequest => "invalid_request",
            GraphErrorKind::Throttled => "throttled",
            GraphErrorKind::Server => "server_error",
            GraphErrorKind::SyncStateExpired => "sync_state_expired",
            GraphErrorKind::TooLarge => "too_large",
            GraphErrorKind::Network => "network",
            GraphErrorKind::BadResponse => "bad_response",
            GraphErrorKind::ForeignLink => "foreign_link",
            GraphErrorKind::Storage => "storage",
            GraphErrorKind::Other => "other",
        }
    }
}

impl GraphError {
    /// An error of Mailport's own making; `message` is made a sentence.
    pub fn new(kind: GraphErrorKind, message: impl AsRef<str>) -> Self {
        GraphError {
            kind,
            status: None,
            code: None,
            message: crate::prose::sentence(message),
            request_id: None,
        }
    }

    /// Worth trying again later (the same request, unchanged).
    pub fn is_transient(&self) -> bool {
        matches!(
            self.kind,
            GraphErrorKind::Throttled | GraphErrorKind::Server | GraphErrorKind::Network
        )
    }

    /// The folder names that do exist, for a [`GraphErrorKind::FolderNotFound`].
    pub fn existing_folders(&self) -> &[String] {
        match &self.kind {
            GraphErrorKind::FolderNotFound { existing } => existing,
            _ => &[],
        }
    }
}

/// Sentences: the message, the folders that exist (for an unknown folder), then what Graph
/// answered and its request-id, which Microsoft support asks for.
impl fmt::Display for GraphError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let GraphErrorKind::FolderNotFound { existing } = &self.kind {
            if existing.is_empty() {
                f.write_str(" There are no folders at that level.")?;
            } else {
                write!(f, " The folders there are: {}.", existing.join(", "))?;
            }
        }
        let answer = match (self.status, &self.code) {
            (Some(status), Some(code)) => Some(format!("HTTP {status} {code}")),
            (Some(status), None) => Some(format!("HTTP {status}")),
            (None, Some(code)) => Some(code.clone()),
            (None, None) => None,
        };
        match (answer, &self.request_id) {
            (Some(answer), Some(id)) => write!(f, " Graph answered {answer} (request-id {id}).")?,
            (Some(answer), None) => write!(f, " Graph answered {answer}.")?,
            (None, Some(id)) => write!(f, " Graph's request-id was {id}.")?,
            (None, None) => {}
        }
        Ok(())
    }
}

impl std::error::Error for GraphError {}

/// Graph's error body: `{"error":{"code","message","innerError":{"request-id"}}}`.
#[derive(Debug, Default, Deserialize)]
struct ErrorBody {
    #[serde(default)]
    error: Option<ErrorDetail>,
}

#[derive(Debug, Default, Deserialize)]
struct ErrorDetail {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default, rename = "innerError", alias = "innererror")]
    inner_error: Option<InnerError>,
}

#[derive(Debug, Default, Deserialize)]
struct InnerError {
    #[serde(default, rename = "request-id")]
    request_id: Option<String>,
}

/// The longest piece of Graph's own error message we repeat; a hostile or broken server must
/// not be able to fill the run log.
const MAX_MESSAGE_CHARS: usize = 500;

impl GraphError {
    /// For a Graph host that is not Microsoft's (one the operator allowed): Graph's own
    /// message is replaced by Mailport's words and a code is kept only if it is shaped like
    /// one, so that an admin session cannot read another service through error texts. The
    /// kind, classified from the original, stays.
    pub(crate) fn withhold_remote_text(mut self) -> Self {
        self.code = self.code.filter(|c| {
            (1..=80).contains(&c.len())
                && c.chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '_' | '.' | '-'))
        });
        self.request_id = self
            .request_id
            .filter(|id| uuid::Uuid::parse_str(id.trim()).is_ok());
        let status = self.status.map(|s| format!("HTTP {s}")).unwrap_or_default();
        self.message = match &self.code {
            Some(code) => format!(
                "Graph answered {status} with {code}; its own message is shown only for Microsoft's Graph hosts."
            ),
            None => format!(
                "Graph answered {status}; its own message is shown only for Microsoft's Graph hosts."
            ),
        };
        self
    }
}

/// Builds the error for a non-success answer from its status, its (already size-capped) body
/// and the `request-id` header.
pub(crate) fn from_response(
    status: u16,
    body: &[u8],
    header_request_id: Option<String>,
) -> GraphError {
    let detail = serde_json::from_slice::<ErrorBody>(body)
        .ok()
        .and_then(|b| b.error)
        .unwrap_or_default();
    let code = detail.code.filter(|c| !c.is_empty());
    let message = detail
        .message
        .filter(|m| !m.trim().is_empty())
        .map(|m| crate::prose::sentence(m.chars().take(MAX_MESSAGE_CHARS).collect::<String>()))
        .unwrap_or_else(|| format!("Graph answered HTTP {status} without an error message."));
    let request_id = header_request_id.or(detail.inner_error.and_then(|i| i.request_id));
    GraphError {
        kind: classify(status, code.as_deref(), &message),
        status: Some(status),
        code,
        message,
        request_id,
    }
}

/// Maps Graph's status and code to what the caller should do.
pub(crate) fn classify(status: u16, code: Option<&str>, message: &str) -> GraphErrorKind {
    let code = code.unwrap_or_default();
    let is = |name: &str| code.eq_ignore_ascii_case(name);
    if status == 410 || is("syncStateNotFound") || is("resyncRequired") {
        return GraphErrorKind::SyncStateExpired;
    }
    if is("MailboxNotEnabledForRESTAPI") {
        return GraphErrorKind::MailboxNotEnabled;
    }
    if is("ErrorItemNotFound") {
        return GraphErrorKind::ItemNotFound;
    }
    if is("ErrorInvalidUser") || is("ResourceNotFound") {
        return GraphErrorKind::NotFound;
    }
    if is("ApplicationThrottled") || is("TooManyRequests") {
        return GraphErrorKind::Throttled;
    }
    match status {
        401 => GraphErrorKind::Unauthorized,
        // Exchange uses the same code for "no permission" and "excluded by a policy"; only the
        // message tells them apart, and the fixes are completely different.
        403 if message.contains("Access to OData is disabled") => GraphErrorKind::AccessPolicy,
        403 => GraphErrorKind::AccessDenied,
        404 => GraphErrorKind::NotFound,
        409 => GraphErrorKind::Conflict,
        429 => GraphErrorKind::Throttled,
        500..=599 => GraphErrorKind::Server,
        400..=499 => GraphErrorKind::InvalidRequest,
        _ => GraphErrorKind::BadResponse,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(code: &str, message: &str) -> Vec<u8> {
        serde_json::json!({"error": {"code": code, "message": message,
            "innerError": {"request-id": "rid-1", "date": "2026-01-01T00:00:00"}}})
        .to_string()
        .into_bytes()
    }

    #[test]
    fn classifies_graph_errors() {
        let cases: &[(u16, &str, &str, GraphErrorKind)] = &[
            (
                401,
                "InvalidAuthenticationToken",
                "Access token has expired or is not yet valid.",
                GraphErrorKind::Unauthorized,
            ),
            (
                403,
                "ErrorAccessDenied",
                "Access is denied. Check credentials and try again.",
                GraphErrorKind::AccessDenied,
            ),
            (
                403,
                "ErrorAccessDenied",
                "Access to OData is disabled.",
                GraphErrorKind::AccessPolicy,
            ),
            (
                404,
                "MailboxNotEnabledForRESTAPI",
                "The mailbox is either inactive…",
                GraphErrorKind::MailboxNotEnabled,
            ),
            (404, "ResourceNotFound", "x", GraphErrorKind::NotFound),
            (404, "ErrorInvalidUser", "x", GraphErrorKind::NotFound),
            (404, "ErrorItemNotFound", "x", GraphErrorKind::ItemNotFound),
            (
                410,
                "syncStateNotFound",
                "x",
                GraphErrorKind::SyncStateExpired,
            ),
            (
                400,
                "SyncStateNotFound",
                "x",
                GraphErrorKind::SyncStateExpired,
            ),
            (
                400,
                "InefficientFilter",
                "x",
                GraphErrorKind::InvalidRequest,
            ),
            (409, "ErrorFolderExists", "x", GraphErrorKind::Conflict),
            (429, "ApplicationThrottled", "x", GraphErrorKind::Throttled),
            (503, "serviceNotAvailable", "x", GraphErrorKind::Server),
            (504, "UnknownError", "x", GraphErrorKind::Server),
        ];
        for (status, code, message, kind) in cases {
            let e = from_response(*status, &body(code, message), None);
            assert_eq!(&e.kind, kind, "{status} {code}");
            assert_eq!(e.code.as_deref(), Some(*code));
            assert_eq!(e.request_id.as_deref(), Some("rid-1"));
            assert_eq!(e.message, crate::prose::sentence(message), "a sentence");
        }
    }

    #[test]
    fn garbage_bodies_still_give_an_error() {
        for raw in [
            &b""[..],
            b"<html>Bad gateway</html>",
            b"{\"error\":42}",
            b"\xff\xfe",
        ] {
            let e = from_response(502, raw, Some("hdr".into()));
            assert_eq!(e.kind, GraphErrorKind::Server);
            assert_eq!(e.code, None);
            assert_eq!(e.request_id.as_deref(), Some("hdr"));
            assert!(e.message.contains("502"));
        }
        let long = "x".repeat(10_000);
        let e = from_response(400, &body("BadRequest", &long), None);
        assert_eq!(
            e.message.len(),
            MAX_MESSAGE_CHARS + 1,
            "capped, then a full stop"
        );
    }

    #[test]
    fn display_is_readable() {
        let mut e = from_response(
            403,
            &body("ErrorAccessDenied", "Access to OData is disabled."),
            None,
        );
        assert_eq!(
            e.to_string(),
            "Access to OData is disabled. Graph answered HTTP 403 ErrorAccessDenied (request-id rid-1)."
        );
        e = GraphError::new(
            GraphErrorKind::FolderNotFound {
                existing: vec!["Inbox".into(), "Archive".into()],
            },
            "there is no folder 'Inbx' at the top level",
        );
        assert_eq!(
            e.to_string(),
            "There is no folder 'Inbx' at the top level. The folders there are: Inbox, Archive."
        );
        e.kind = GraphErrorKind::FolderNotFound { existing: vec![] };
        assert!(crate::prose::is_sentence(&e.to_string()));
    }
}
