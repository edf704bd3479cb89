//! Presentation of stored records: status labels, times, error lines. Shared by the HTML
//! screens and the JSON API so they never disagree.

use serde::Serialize;

use crate::import::lag::AccountLag;
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
    /// The tenant sign-ins are pinned to (token URLs without a tenant GUID).
    pub tenant_pin: Option<String>,
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
            tenant_pin: c.tenant_pin.clone(),
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
    pub account: Option<SignedInJson>,
    pub scope: Option<String>,
    pub last_error: Option<ErrorJson>,
}

#[derive(Serialize)]
pub struct SignedInJson {
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
    /// How its polling goes; `None` when it is not scheduled (disabled or parked).
    pub lag: Option<AccountLag>,
    /// "on time", "12 s late", "waiting 40 s": the lag in words.
    pub lag_label: String,
    /// Set when it has not been polled successfully for several intervals.
    pub poll_warning: Option<String>,
}

impl AccountView {
    pub fn new(
        a: &crate::store::accounts::Account,
        cred: Option<&Credential>,
        last: Option<&crate::store::runs::Run>,
        running: bool,
    ) -> Self {
        let (credential_problem, problem_status) = credential_problem(cred);
        let status = match problem_status {
            Some(s) if a.enabled => s.to_string(),
            _ => a.status.clone(),
        };
        let status_label = match status.as_str() {
            "ok" => "OK".to_string(),
            "error" => "Error".to_string(),
            "needs_consent" => "Needs consent".to_string(),
            "invalid_client" => "Secret rejected".to_string(),
            "disabled" => "Disabled".to_string(),
            "throttled" => match a.throttled_until {
                Some(t) => format!("Throttled until {}", format_time(t)),
                None => "Throttled".to_string(),
            },
            other => other.to_string(),
        };
        let now_ms = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
        let lag = crate::import::lag::AccountLag::of_account(a, running, now_ms as i64);
        let lag_label = match &lag {
            None if a.enabled => "waiting for its credential".to_string(),
            None => "not polled (disabled)".to_string(),
            Some(l) if l.overdue => format!("waiting {} past due", short_duration(l.lag_secs)),
            Some(l) if l.lag_secs >= 1.0 => {
                format!("last poll {} late", short_duration(l.lag_secs))
            }
            Some(_) if a.last_poll_started_at.is_none() => "not polled yet".to_string(),
            Some(_) => "on time".to_string(),
        };
        let poll_warning = lag.as_ref().filter(|l| l.stale).map(|l| {
            format!(
                "No successful poll for {} ({} poll intervals or more).",
                short_duration(l.since_success_secs as f64),
                crate::store::schedule::STALE_AFTER_INTERVALS
            )
        });
        AccountView {
            lag,
            lag_label,
            poll_warning,
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

/// What is wrong with an account's credential, in words, and the account status that
/// names it (None: the account keeps its own status). A rejected client secret whose
/// access token still works is said so: imports go on until the token expires.
fn credential_problem(cred: Option<&Credential>) -> (Option<String>, Option<&'static str>) {
    let Some(c) = cred else {
        return (Some("the credential is missing".into()), Some("error"));
    };
    let code = c
        .last_error_code
        .as_deref()
        .map(|code| format!(" ({code})"))
        .unwrap_or_default();
    match c.stored_status() {
        TokenStatus::NeedsConsent => (
            Some("the credential needs consent: press its key button and sign in again".into()),
            Some("needs_consent"),
        ),
        TokenStatus::InvalidClient => {
            let text = match c.expires_at.filter(|&t| t > crate::store::now()) {
                Some(until) => format!(
                    "the credential's client secret was rejected{code}; imports use the access token issued before until {}: enter a new client secret by then",
                    format_time(until)
                ),
                None => format!(
                    "the credential's client secret was rejected{code}: enter a new client secret"
                ),
            };
            (Some(text), Some("invalid_client"))
        }
        TokenStatus::Error => (
            Some(format!(
                "the credential's last token request failed{code}: {}",
                c.last_error_description
                    .as_deref()
                    .unwrap_or("see the credential")
            )),
            None,
        ),
        _ => (None, None),
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

/// The JSON shape of an account in `/api/v1/accounts`: its settings, status, how its polling
/// goes, and its last recorded run.
#[derive(Serialize)]
pub struct AccountJson {
    pub id: String,
    pub description: String,
    pub mailbox: String,
    pub folder: String,
    pub credential_id: String,
    pub after_import: &'static str,
    pub move_to: String,
    pub graph_url: String,
    /// Seconds.
    pub poll_interval: i64,
    pub enabled: bool,
    /// `YYYY-MM-DD` or null.
    pub import_since: Option<String>,
    pub status: String,
    pub poll: PollJson,
    /// The last run in the history (runs that imported something or failed); empty polls
    /// show in `poll` only.
    pub last_run: Option<RunJson>,
}

/// How an account's polling goes. Times are RFC 3339.
#[derive(Serialize)]
pub struct PollJson {
    pub running: bool,
    /// When it is due next; null while disabled or waiting for its credential.
    pub next_due_at: Option<String>,
    pub last_started_at: Option<String>,
    pub last_finished_at: Option<String>,
    /// `ok`, `error` or `cancelled`.
    pub last_outcome: Option<String>,
    pub last_success_at: Option<String>,
    pub last_import_at: Option<String>,
    pub polls_since_import: i64,
    /// Lag figures; null when the account is not scheduled.
    pub lag: Option<AccountLag>,
}

#[derive(Serialize)]
pub struct RunJson {
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub outcome: String,
    pub listed: i64,
    pub imported: i64,
    pub skipped: i64,
    pub too_large: i64,
    pub failed: i64,
    pub error: Option<String>,
}

impl AccountJson {
    pub fn new(
        a: &crate::store::accounts::Account,
        cred: Option<&Credential>,
        last: Option<&crate::store::runs::Run>,
        running: bool,
    ) -> Self {
        let view = AccountView::new(a, cred, None, running);
        AccountJson {
            id: a.id.clone(),
            description: a.description.clone(),
            mailbox: a.mailbox.clone(),
            folder: a.folder.clone(),
            credential_id: a.credential_id.clone(),
            after_import: a.after_import().as_str(),
            move_to: a.move_to.clone(),
            graph_url: a.graph_url.clone(),
            poll_interval: a.poll_interval,
            enabled: a.enabled,
            import_since: a.import_since.map(super::form::format_date),
            status: view.status,
            poll: PollJson {
                running,
                next_due_at: a.next_due_at.filter(|_| a.enabled).and_then(rfc3339),
                last_started_at: a.last_poll_started_at.and_then(rfc3339),
                last_finished_at: a.last_poll_finished_at.and_then(rfc3339),
                last_outcome: a.last_poll_outcome.clone(),
                last_success_at: a.last_success_at.and_then(rfc3339),
                last_import_at: a.last_import_at.and_then(rfc3339),
                polls_since_import: a.polls_since_import,
                lag: view.lag,
            },
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

/// "3 s", "2 min", "5 h": a duration as a page shows it.
pub fn short_duration(secs: f64) -> String {
    let s = secs.max(0.0);
    if s < 10.0 {
        format!("{s:.1} s")
    } else if s < 120.0 {
        format!("{s:.0} s")
    } else if s < 7200.0 {
        format!("{:.0} min", s / 60.0)
    } else if s < 172_800.0 {
        format!("{:.0} h", s / 3600.0)
    } else {
        format!("{:.0} days", s / 86_400.0)
    }
}
