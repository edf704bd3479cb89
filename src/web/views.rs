//! Presentation of stored records: status labels, times, error lines. Shared by the HTML
//! screens and the JSON API so they never disagree.

use serde::Serialize;

use crate::store::credentials::{Credential, TokenStatus};

/// `2026-11-27 05:12 UTC`; pages turn it into local time with a little JavaScript.
pub fn format_time(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute] UTC"
            ))
            .ok()
        })
        .unwrap_or_default()
}

pub fn rfc3339(unix: i64) -> Option<String> {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()?
        .format(&time::format_description::well_known::Rfc3339)
        .ok()
}

/// A credential as the list and detail pages show it.
pub struct CredentialView {
    pub id: String,
    pub description: String,
    pub grant_label: &'static str,
    pub status: &'static str,
    pub status_label: String,
    pub expires_at: Option<String>,
    pub expires_rfc3339: Option<String>,
    pub account: Option<String>,
    pub granted_scope: Option<String>,
    pub has_refresh_token: bool,
    pub last_error: Option<ErrorView>,
}

pub struct ErrorView {
    pub code: String,
    pub description: String,
    pub trace_id: Option<String>,
    pub at: Option<String>,
}

impl CredentialView {
    pub fn new(c: &Credential) -> Self {
        let status = c.status();
        let expires_at = c.expires_at.map(format_time);
        let status_label = match (status, &expires_at) {
            (TokenStatus::None, _) => "No token yet".to_string(),
            (TokenStatus::Valid, Some(t)) => format!("Valid until {t}"),
            (TokenStatus::Valid, None) => "Valid".to_string(),
            (TokenStatus::Expired, t) => {
                let renew = if c.has_refresh_token()
                    || c.grant_type() == crate::store::credentials::GrantType::ClientCredentials
                {
                    " (renewed automatically when needed)"
                } else {
                    ""
                };
                format!("Expired {}{renew}", t.clone().unwrap_or_default())
            }
            (TokenStatus::NeedsConsent, _) => "Needs consent: press the key and sign in".into(),
            (TokenStatus::InvalidClient, _) => "Client secret rejected: enter a new one".into(),
            (TokenStatus::Error, _) => "Error".into(),
        };
        let account = match (&c.account_name, &c.account_username) {
            (Some(n), Some(u)) if !n.is_empty() => Some(format!("{n} ({u})")),
            (_, Some(u)) => Some(u.clone()),
            (Some(n), None) => Some(n.clone()),
            _ => None,
        };
        let last_error = c.last_error_description.as_ref().map(|d| ErrorView {
            code: c.last_error_code.clone().unwrap_or_default(),
            description: d.clone(),
            trace_id: c.last_error_trace_id.clone(),
            at: c.last_error_at.map(format_time),
        });
        CredentialView {
            id: c.id.clone(),
            description: c.description.clone(),
            grant_label: c.grant_type().label(),
            status: status.as_str(),
            status_label,
            expires_at,
            expires_rfc3339: c.expires_at.and_then(rfc3339),
            account,
            granted_scope: c.granted_scope.clone(),
            has_refresh_token: c.has_refresh_token(),
            last_error,
        }
    }
}

/// The JSON shape of `/api/v1/credentials`.
#[derive(Serialize)]
pub struct CredentialJson {
    pub id: String,
    pub description: String,
    pub grant_type: &'static str,
    pub token: TokenJson,
}

#[derive(Serialize)]
pub struct TokenJson {
    pub status: &'static str,
    pub expires_at: Option<String>,
    pub has_refresh_token: bool,
    pub account: Option<AccountJson>,
    pub scope: Option<String>,
    pub last_error: Option<ErrorJson>,
}

#[derive(Serialize)]
pub struct AccountJson {
    pub username: Option<String>,
    pub name: Option<String>,
    pub tid: Option<String>,
    pub oid: Option<String>,
}

#[derive(Serialize)]
pub struct ErrorJson {
    pub code: Option<String>,
    pub description: String,
    pub trace_id: Option<String>,
    pub at: Option<String>,
}

impl CredentialJson {
    pub fn new(c: &Credential) -> Self {
        let has_account = c.account_username.is_some() || c.account_oid.is_some();
        CredentialJson {
            id: c.id.clone(),
            description: c.description.clone(),
            grant_type: c.grant_type().as_str(),
            token: TokenJson {
                status: c.status().as_str(),
                expires_at: c.expires_at.and_then(rfc3339),
                has_refresh_token: c.has_refresh_token(),
                account: has_account.then(|| AccountJson {
                    username: c.account_username.clone(),
                    name: c.account_name.clone(),
                    tid: c.account_tid.clone(),
                    oid: c.account_oid.clone(),
                }),
                scope: c.granted_scope.clone(),
                last_error: c.last_error_description.as_ref().map(|d| ErrorJson {
                    code: c.last_error_code.clone(),
                    description: d.clone(),
                    trace_id: c.last_error_trace_id.clone(),
                    at: c.last_error_at.and_then(rfc3339),
                }),
            },
        }
    }
}
