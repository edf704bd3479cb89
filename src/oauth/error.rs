//! Entra ID's token error responses and how Mailport classifies them into a credential status.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::store::credentials::{RecordedError, TokenStatus};

/// The token endpoint's error JSON, with Microsoft's extra fields (error_codes, trace_id, …).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AadErrorResponse {
    pub error: String,
    #[serde(default)]
    pub error_description: Option<String>,
    #[serde(default)]
    pub error_uri: Option<String>,
    #[serde(default)]
    pub error_codes: Vec<i64>,
    #[serde(default)]
    pub timestamp: Option<String>,
    #[serde(default)]
    pub trace_id: Option<String>,
    #[serde(default)]
    pub correlation_id: Option<String>,
    #[serde(default)]
    pub suberror: Option<String>,
}

impl fmt::Display for AadErrorResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.error, self.summary())
    }
}

impl oauth2::ErrorResponse for AadErrorResponse {}

impl AadErrorResponse {
    /// The AADSTS number, from `error_codes` or else the description's prefix.
    pub fn aadsts(&self) -> Option<i64> {
        self.error_codes
            .first()
            .copied()
            .or_else(|| self.error_description.as_deref().and_then(parse_aadsts))
    }

    /// The first line of the description (Microsoft appends trace lines after `\r\n`).
    pub fn summary(&self) -> String {
        self.error_description
            .as_deref()
            .and_then(|d| d.lines().next())
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .unwrap_or(&self.error)
            .to_string()
    }

    /// The trace id, from the field or else the description's "Trace ID:" line.
    pub fn trace(&self) -> Option<String> {
        self.trace_id.clone().or_else(|| {
            self.error_description.as_deref().and_then(|d| {
                d.lines()
                    .find_map(|l| l.trim().strip_prefix("Trace ID:"))
                    .map(|s| s.trim().to_string())
            })
        })
    }

    pub fn to_recorded(&self) -> RecordedError {
        RecordedError {
            code: Some(
                self.aadsts()
                    .map(|n| format!("AADSTS{n}"))
                    .unwrap_or_else(|| self.error.clone()),
            ),
            description: self.summary(),
            trace_id: self.trace(),
        }
    }
}

/// `AADSTS65004: User declined…` -> 65004.
pub fn parse_aadsts(text: &str) -> Option<i64> {
    let rest = text.trim_start().strip_prefix("AADSTS")?;
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().ok()
}

/// Why we could not get a token.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TokenFailure {
    /// The token endpoint refused the request; retrying the same request cannot help.
    /// `status` is what the credential becomes.
    #[error("{}", .error.description)]
    Rejected {
        status: TokenStatus,
        error: RecordedError,
    },
    /// The endpoint could not be reached, timed out or answered 5xx, even after retries.
    /// The credential's status is left alone.
    #[error("{} Mailport tries again later.", .0.description)]
    Transient(RecordedError),
    /// The endpoint answered something that is not an OAuth response (HTML, too large, bad
    /// JSON). Nothing is stored.
    #[error("{}", .0.description)]
    BadResponse(RecordedError),
    /// The credential cannot be used until an administrator acts (consent, secret, settings).
    #[error("{0}")]
    NotUsable(String),
}

impl TokenFailure {
    pub fn recorded(&self) -> RecordedError {
        match self {
            TokenFailure::Rejected { error, .. }
            | TokenFailure::Transient(error)
            | TokenFailure::BadResponse(error) => error.clone(),
            TokenFailure::NotUsable(msg) => RecordedError {
                code: None,
                description: msg.clone(),
                trace_id: None,
            },
        }
    }
}

/// Which request the error answered: a dead refresh token means new consent is needed,
/// while a bad code at the callback only fails that one sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantContext {
    CodeExchange,
    Refresh,
    ClientCredentials,
}

/// The credential status a token-endpoint error leads to (see microsoft-identity.md).
pub fn classify(err: &AadErrorResponse, context: GrantContext) -> TokenStatus {
    match err.error.as_str() {
        "invalid_client" => TokenStatus::InvalidClient,
        "invalid_grant" if context == GrantContext::Refresh => TokenStatus::NeedsConsent,
        "invalid_grant" => match err.aadsts() {
            Some(70008 | 700082 | 50173 | 70043 | 65001) => TokenStatus::NeedsConsent,
            _ => TokenStatus::Error,
        },
        "interaction_required" | "consent_required" => TokenStatus::NeedsConsent,
        _ => match err.aadsts() {
            Some(7000215 | 70002 | 7000222 | 7000218) => TokenStatus::InvalidClient,
            _ => TokenStatus::Error,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(error: &str, codes: &[i64]) -> AadErrorResponse {
        AadErrorResponse {
            error: error.into(),
            error_description: Some(format!(
                "AADSTS{}: Something.\r\nTrace ID: abc\r\nCorrelation ID: def",
                codes.first().unwrap_or(&0)
            )),
            error_uri: None,
            error_codes: codes.to_vec(),
            timestamp: None,
            trace_id: None,
            correlation_id: None,
            suberror: None,
        }
    }

    #[test]
    fn classification_follows_the_reference_table() {
        use GrantContext::*;
        for code in [70008, 700082, 50173, 70043, 65001] {
            assert_eq!(
                classify(&err("invalid_grant", &[code]), Refresh),
                TokenStatus::NeedsConsent
            );
        }
        assert_eq!(
            classify(&err("invalid_client", &[7000215]), ClientCredentials),
            TokenStatus::InvalidClient
        );
        assert_eq!(
            classify(&err("invalid_client", &[7000222]), Refresh),
            TokenStatus::InvalidClient
        );
        assert_eq!(
            classify(&err("invalid_scope", &[70011]), ClientCredentials),
            TokenStatus::Error
        );
        assert_eq!(
            classify(&err("invalid_grant", &[54005]), CodeExchange),
            TokenStatus::Error
        );
        let e = err("invalid_grant", &[70008]);
        assert_eq!(e.trace().as_deref(), Some("abc"));
        assert_eq!(e.summary(), "AADSTS70008: Something.");
        assert_eq!(parse_aadsts("AADSTS65004: User declined"), Some(65004));
    }
}
