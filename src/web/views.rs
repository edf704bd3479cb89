//! Presentation of stored records: status labels, times, error lines. Shared by the HTML
//! screens and the JSON API so they never disagree.

use serde::Serialize;
use utoipa::ToSchema;

use crate::import::lag::AccountLag;
use crate::oauth::credential::{GrantType, TokenStatus};
use crate::store::credentials::Credential;

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

/// A moment as every screen shows it: `<time datetime="{rfc3339}">{text}</time>`, the text
/// in UTC (`2026-11-27 05:12 UTC`) for browsers without JavaScript; `static/app.js` shows it
/// in the viewer's own zone with a relative hint ("in 54 minutes"). One format everywhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeView {
    pub text: String,
    pub rfc3339: String,
}

impl TimeView {
    pub fn at(unix: i64) -> Self {
        TimeView {
            text: format_time(unix),
            rfc3339: rfc3339(unix).unwrap_or_default(),
        }
    }
}

/// The UTC text, for places that can only hold text.
impl std::fmt::Display for TimeView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// "60 minutes", "3 hours", "2 days": how long until a moment, for messages that cannot
/// carry a `<time>` element (flashes).
pub fn duration_words(seconds: i64) -> String {
    let minutes = (seconds.max(0) + 30) / 60;
    let (n, unit) = match minutes {
        0..=119 => (minutes, "minute"),
        120..=2879 => ((minutes + 30) / 60, "hour"),
        _ => ((minutes + 720) / 1440, "day"),
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

/// A status badge: a label, maybe a moment, maybe a note ("Valid until <time>").
pub struct StatusView {
    /// `data-status`: the stable value tests and styles use.
    pub status: String,
    pub label: String,
    pub time: Option<TimeView>,
    pub note: &'static str,
}

impl StatusView {
    /// A badge with only a status and its label (no moment, no note).
    pub fn plain(status: &str, label: &str) -> Self {
        StatusView {
            status: status.to_owned(),
            label: label.to_owned(),
            time: None,
            note: "",
        }
    }
}

/// A credential as the list and detail pages show it.
pub struct CredentialView {
    pub id: String,
    pub description: String,
    pub grant_label: &'static str,
    pub status: &'static str,
    pub badge: StatusView,
    pub expires: Option<TimeView>,
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
    pub at: Option<TimeView>,
}

impl CredentialView {
    pub fn new(c: &Credential) -> Self {
        let status = c.status();
        let expires = c.expires_at.map(TimeView::at);
        let (label, time, note) = match status {
            TokenStatus::None => ("No token yet", None, ""),
            TokenStatus::Valid if expires.is_some() => ("Valid until", expires.clone(), ""),
            TokenStatus::Valid => ("Valid", None, ""),
            TokenStatus::Expired => {
                let renewed =
                    c.has_refresh_token() || c.grant_type() == GrantType::ClientCredentials;
                let note = if renewed {
                    " (renewed automatically when needed)"
                } else {
                    ""
                };
                ("Expired", expires.clone(), note)
            }
            TokenStatus::NeedsConsent => ("Needs consent: press the key and sign in", None, ""),
            TokenStatus::InvalidClient => ("Client secret rejected: enter a new one", None, ""),
            TokenStatus::Error => ("Error", None, ""),
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
            at: c.last_error_at.map(TimeView::at),
        });
        CredentialView {
            id: c.id.clone(),
            description: c.description.clone(),
            grant_label: c.grant_type().label(),
            status: status.as_str(),
            badge: StatusView {
                status: status.as_str().to_string(),
                label: label.to_string(),
                time,
                note,
            },
            expires,
            account,
            granted_scope: c.granted_scope.clone(),
            has_refresh_token: c.has_refresh_token(),
            last_error,
            tenant_pin: c.tenant_pin.clone(),
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

/// An email server account as the list and detail pages show it.
pub struct AccountView {
    pub id: String,
    pub description: String,
    pub mailbox: String,
    pub folder: String,
    pub credential_id: String,
    pub after_label: &'static str,
    pub enabled: bool,
    pub status: String,
    pub badge: StatusView,
    pub status_detail: Option<String>,
    pub running: bool,
    /// "needs consent", "no token yet" or "secret rejected" on the credential, with a link
    /// to repair it.
    pub credential_problem: Option<String>,
    pub last_run: Option<RunView>,
    /// How its polling goes; `None` when it is not scheduled (disabled or parked).
    pub lag: Option<AccountLag>,
    /// "on time", "12 s late", "waiting 40 s": the lag in words.
    pub lag_label: String,
    /// Set when it has not been polled successfully for several intervals.
    pub poll_warning: Option<String>,
    /// When its last poll started (empty polls are not in the run history).
    pub last_poll: Option<TimeView>,
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
            _ => a.status.to_string(),
        };
        let (label, time) = match status.as_str() {
            "ok" => ("OK".to_string(), None),
            "error" => ("Error".to_string(), None),
            "needs_consent" => ("Needs consent".to_string(), None),
            "invalid_client" => ("Secret rejected".to_string(), None),
            "disabled" => ("Disabled".to_string(), None),
            "throttled" => match a.throttled_until {
                Some(t) => ("Throttled until".to_string(), Some(TimeView::at(t))),
                None => ("Throttled".to_string(), None),
            },
            other => (other.to_string(), None),
        };
        let lag = crate::import::lag::AccountLag::of_account(a, running, crate::clock::now_ms());
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
            last_poll: a.last_poll_started_at.map(TimeView::at),
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
            badge: StatusView {
                status: status.clone(),
                label,
                time,
                note: "",
            },
            status,
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
        // Only a person can get the first token of a delegated credential.
        TokenStatus::None if c.grant_type() == GrantType::AuthorizationCode => (
            Some("the credential has no token yet: press its key button and sign in".into()),
            Some("needs_consent"),
        ),
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
    pub started: TimeView,
    pub finished: Option<TimeView>,
    pub outcome: String,
    pub counts: String,
    /// Why the run stopped early, as a sentence.
    pub error: Option<String>,
    /// Graph's or Mailport's error code and Graph's request-id, for support.
    pub reference: Option<String>,
    pub log: String,
    /// The instance that ran it.
    pub instance: Option<String>,
}

impl RunView {
    pub fn new(r: &crate::store::runs::Run) -> Self {
        RunView {
            instance: r.instance_id.clone(),
            started: TimeView::at(r.started_at),
            finished: r.finished_at.map(TimeView::at),
            outcome: r.outcome.to_string(),
            counts: counts(
                r.listed,
                r.imported,
                r.skipped,
                &[
                    (r.too_large, "too large"),
                    (r.failed, "failed"),
                    (r.post_action_failures, "post-action failures"),
                    (r.retries, "retries"),
                ],
            ),
            error: r.error_message.clone(),
            reference: reference(r.error_code.as_deref(), r.request_id.as_deref()),
            log: r.log.clone(),
        }
    }

    /// The run going on: its counts so far, from the importer's memory (the database has
    /// them only when the run ends).
    pub fn live(run: &crate::import::live::LiveRun) -> Self {
        let live = &run.summary;
        let mut counts = counts(
            live.listed,
            live.imported,
            live.skipped,
            &[
                (live.too_large, "too large"),
                (live.failed, "failed"),
                (live.post_action_failures, "post-action failures"),
                (live.retries, "retries"),
            ],
        );
        counts.push_str(" so far");
        RunView {
            started: TimeView::at(run.started_at),
            finished: None,
            outcome: "running".into(),
            counts,
            error: None,
            reference: None,
            log: live.log.join("\n"),
            instance: None,
        }
    }
}

fn counts(listed: i64, imported: i64, skipped: i64, more: &[(i64, &str)]) -> String {
    let mut counts = format!("{listed} listed, {imported} imported, {skipped} skipped");
    for (n, what) in more {
        if *n > 0 {
            counts.push_str(&format!(", {n} {what}"));
        }
    }
    counts
}

fn reference(code: Option<&str>, request_id: Option<&str>) -> Option<String> {
    match (code, request_id) {
        (Some(c), Some(r)) => Some(format!("code {c}, request-id {r}")),
        (Some(c), None) => Some(format!("code {c}")),
        (None, Some(r)) => Some(format!("request-id {r}")),
        (None, None) => None,
    }
}

/// An email server account in the JSON API (`/api/v1/accounts`): its settings, status, how
/// its polling goes, and its latest run.
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
    /// Where `move` puts imported mail (a folder path).
    pub move_to: String,
    /// The Microsoft Graph endpoint, e.g. `https://graph.microsoft.com/v1.0`.
    pub graph_url: String,
    /// Seconds between polls.
    pub poll_interval: i64,
    /// Whether the account is imported in the background.
    pub enabled: bool,
    /// `YYYY-MM-DD`: mail received before is not imported (`mark_read` and `keep`); or null.
    pub import_since: Option<String>,
    /// `ok`, `error`, `needs_consent`, `invalid_client` (the credential's client secret was
    /// rejected), `disabled` or `throttled`.
    pub status: String,
    pub poll: PollJson,
    /// The latest run: the one going on (`outcome` `running`, its counts so far), else the
    /// last in the history (runs that imported something or failed; empty polls show in
    /// `poll` only); `null` when there is none.
    pub last_run: Option<RunJson>,
}

/// How an account's polling goes. Times are RFC 3339 in UTC.
#[derive(Serialize, ToSchema)]
pub struct PollJson {
    /// Whether a poll of this account is going on now.
    pub running: bool,
    /// When it is due next; null while disabled or waiting for its credential.
    pub next_due_at: Option<String>,
    pub last_started_at: Option<String>,
    pub last_finished_at: Option<String>,
    /// `ok`, `error` or `cancelled`.
    pub last_outcome: Option<String>,
    /// The start of the last poll that ended `ok`.
    pub last_success_at: Option<String>,
    /// The end of the last poll that imported something.
    pub last_import_at: Option<String>,
    /// Polls since the last one that imported something.
    pub polls_since_import: i64,
    /// Lag figures; null when the account is not scheduled.
    pub lag: Option<AccountLag>,
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
                last_outcome: a.last_poll_outcome.map(|o| o.to_string()),
                last_success_at: a.last_success_at.and_then(rfc3339),
                last_import_at: a.last_import_at.and_then(rfc3339),
                polls_since_import: a.polls_since_import,
                lag: view.lag,
            },
            last_run: last.map(|r| RunJson {
                started_at: rfc3339(r.started_at),
                finished_at: r.finished_at.and_then(rfc3339),
                outcome: r.outcome.to_string(),
                listed: r.listed,
                imported: r.imported,
                skipped: r.skipped,
                too_large: r.too_large,
                failed: r.failed,
                error: r.error_message.clone(),
            }),
        }
    }

    /// Shows the run going on as `last_run` (`outcome` `running`, its counts so far).
    pub fn with_live(mut self, live: Option<&crate::import::live::LiveRun>) -> Self {
        if let Some(run) = live {
            let s = &run.summary;
            self.last_run = Some(RunJson {
                started_at: rfc3339(run.started_at),
                finished_at: None,
                outcome: "running".into(),
                listed: s.listed,
                imported: s.imported,
                skipped: s.skipped,
                too_large: s.too_large,
                failed: s.failed,
                error: None,
            });
        }
        self
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
