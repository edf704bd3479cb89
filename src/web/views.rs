//! Presentation of stored records: status labels, times, error lines. Shared by the HTML
//! screens and the JSON API so they never disagree.

use serde::Serialize;
use utoipa::ToSchema;

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

/// A credential in the JSON API (`/api/v1/credentials`). The client secret and the tokens
/// themselves are never part of it.
#[derive(Serialize, ToSchema)]
pub struct CredentialJson {
    /// The credential's id (1 to 64 letters, digits, `-`, `_` or `.`).
    pub id: String,
    pub description: String,
    /// `client_credentials` or `authorization_code` (RFC 6749 sections 4.4 and 4.1).
    pub grant_type: &'static str,
    pub token: TokenJson,
}

/// What Mailport holds for a credential.
#[derive(Serialize, ToSchema)]
pub struct TokenJson {
    /// `none` (no token yet), `valid`, `expired` (renewed when needed), `needs_consent`
    /// (press the key and sign in), `invalid_client` (the secret was rejected) or `error`.
    pub status: &'static str,
    /// When the access token expires, RFC 3339 in UTC.
    pub expires_at: Option<String>,
    /// Whether a refresh token is stored (authorization code with `offline_access`).
    pub has_refresh_token: bool,
    /// Who signed in at the key button (authorization code only), from the ID token.
    pub account: Option<SignedInJson>,
    /// The scopes Entra ID granted, space-separated.
    pub scope: Option<String>,
    /// The last error of the token endpoint or the sign-in, if any.
    pub last_error: Option<ErrorJson>,
}

/// The signed-in user, from the ID token's claims (OpenID Connect Core 1.0, section 2).
#[derive(Serialize, ToSchema)]
pub struct SignedInJson {
    /// `preferred_username`, usually the user principal name.
    pub username: Option<String>,
    /// `name`: the display name.
    pub name: Option<String>,
    /// `tid`: the tenant id.
    pub tid: Option<String>,
    /// `oid`: the user's object id.
    pub oid: Option<String>,
}

/// A token-endpoint or sign-in error as Entra ID reported it.
#[derive(Serialize, ToSchema)]
pub struct ErrorJson {
    /// `AADSTS…` when Entra ID gave one, else the OAuth `error` code.
    pub code: Option<String>,
    /// Entra ID's description (its first line) or Mailport's sentence.
    pub description: String,
    /// Entra ID's trace id, which Microsoft support asks for.
    pub trace_id: Option<String>,
    /// When it happened, RFC 3339 in UTC.
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
                account: has_account.then(|| SignedInJson {
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

/// An e-mail account as the list and detail pages show it.
pub struct AccountView {
    pub id: String,
    pub description: String,
    pub mailbox: String,
    pub folder: String,
    pub credential_id: String,
    pub after_label: &'static str,
    pub enabled: bool,
    pub status: String,
    pub status_label: String,
    pub status_detail: Option<String>,
    pub running: bool,
    /// "needs consent" or "secret rejected" on the credential, with a link to repair it.
    pub credential_problem: Option<String>,
    pub last_run: Option<RunView>,
}

impl AccountView {
    pub fn new(
        a: &crate::store::accounts::Account,
        cred: Option<&Credential>,
        last: Option<&crate::store::runs::Run>,
        running: bool,
    ) -> Self {
        let credential_problem = match cred.map(|c| c.stored_status()) {
            None => Some("the credential is missing".to_string()),
            Some(TokenStatus::NeedsConsent) => Some("the credential needs consent".to_string()),
            Some(TokenStatus::InvalidClient) => {
                Some("the credential's client secret was rejected".to_string())
            }
            _ => None,
        };
        let status = if credential_problem.is_some() && a.enabled {
            "needs_consent".to_string()
        } else {
            a.status.clone()
        };
        let status_label = match status.as_str() {
            "ok" => "OK".to_string(),
            "error" => "Error".to_string(),
            "needs_consent" => "Needs consent".to_string(),
            "disabled" => "Disabled".to_string(),
            "throttled" => match a.throttled_until {
                Some(t) => format!("Throttled until {}", format_time(t)),
                None => "Throttled".to_string(),
            },
            other => other.to_string(),
        };
        AccountView {
            id: a.id.clone(),
            description: a.description.clone(),
            mailbox: if a.mailbox.is_empty() {
                "(signed-in user)".into()
            } else {
                a.mailbox.clone()
            },
            folder: a.folder.clone(),
            credential_id: a.credential_id.clone(),
            after_label: a.after_import().label(),
            enabled: a.enabled,
            status,
            status_label,
            status_detail: a.status_detail.clone(),
            running,
            credential_problem,
            last_run: last.map(RunView::new),
        }
    }
}

/// One import run as shown on the account page.
pub struct RunView {
    pub started: String,
    pub finished: Option<String>,
    pub outcome: String,
    pub counts: String,
    pub error: Option<String>,
    pub log: String,
}

impl RunView {
    pub fn new(r: &crate::store::runs::Run) -> Self {
        let mut counts = format!(
            "{} listed, {} imported, {} skipped",
            r.listed, r.imported, r.skipped
        );
        for (n, what) in [
            (r.too_large, "too large"),
            (r.failed, "failed"),
            (r.post_action_failures, "post-action failures"),
            (r.retries, "retries"),
        ] {
            if n > 0 {
                counts.push_str(&format!(", {n} {what}"));
            }
        }
        let error = r.error_message.as_ref().map(|m| {
            let mut e = String::new();
            if let Some(code) = &r.error_code {
                e.push_str(code);
                e.push_str(": ");
            }
            e.push_str(m);
            if let Some(req) = &r.request_id {
                e.push_str(&format!(" (request-id {req})"));
            }
            e
        });
        RunView {
            started: format_time(r.started_at),
            finished: r.finished_at.map(format_time),
            outcome: r.outcome.clone(),
            counts,
            error,
            log: r.log.clone(),
        }
    }
}

/// An email server account in the JSON API (`/api/v1/accounts`).
#[derive(Serialize, ToSchema)]
pub struct AccountJson {
    pub id: String,
    pub description: String,
    /// User principal name or SMTP address; empty means the signed-in user (`/me`).
    pub mailbox: String,
    /// A well-known folder name or a path such as `Inbox/Service desk`.
    pub folder: String,
    /// The credential applied to the mailbox.
    pub credential_id: String,
    /// `move`, `mark_read`, `delete` or `keep`.
    pub after_import: &'static str,
    /// Whether the account is imported in the background.
    pub enabled: bool,
    /// `ok`, `error`, `needs_consent`, `disabled` or `throttled`.
    pub status: String,
    /// The latest run, finished or still running; `null` before the first run.
    pub last_run: Option<RunJson>,
}

/// One import run.
#[derive(Serialize, ToSchema)]
pub struct RunJson {
    /// RFC 3339 in UTC.
    pub started_at: Option<String>,
    /// RFC 3339 in UTC; `null` while the run is going.
    pub finished_at: Option<String>,
    /// `running`, `ok`, `error` or `cancelled` (stopped by a shutdown, or the process
    /// ended during the run).
    pub outcome: String,
    /// Messages listed in the folder.
    pub listed: i64,
    /// Messages stored by this run.
    pub imported: i64,
    /// Messages already stored earlier.
    pub skipped: i64,
    /// Messages over the size limit, recorded and left in the mailbox.
    pub too_large: i64,
    /// Messages that could not be stored; they are tried again.
    pub failed: i64,
    /// Why the run stopped early, as a sentence.
    pub error: Option<String>,
}

impl AccountJson {
    pub fn new(
        a: &crate::store::accounts::Account,
        cred: Option<&Credential>,
        last: Option<&crate::store::runs::Run>,
    ) -> Self {
        let view = AccountView::new(a, cred, None, false);
        AccountJson {
            id: a.id.clone(),
            description: a.description.clone(),
            mailbox: a.mailbox.clone(),
            folder: a.folder.clone(),
            credential_id: a.credential_id.clone(),
            after_import: a.after_import().as_str(),
            enabled: a.enabled,
            status: view.status,
            last_run: last.map(|r| RunJson {
                started_at: rfc3339(r.started_at),
                finished_at: r.finished_at.and_then(rfc3339),
                outcome: r.outcome.clone(),
                listed: r.listed,
                imported: r.imported,
                skipped: r.skipped,
                too_large: r.too_large,
                failed: r.failed,
                error: r.error_message.clone(),
            }),
        }
    }
}
