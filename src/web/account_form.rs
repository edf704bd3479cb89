//! The e-mail server account form: what was typed and its validation.

use serde::Deserialize;

use super::form::{Validation, format_date, parse_date, valid_id};
use crate::oauth::credential::GrantType;
use crate::outbound::{HostPolicy, Use};
use crate::store::accounts::{AccountSettings, AfterImport};
use crate::store::credentials::Credential;

#[derive(Debug, Default, Deserialize, Clone)]
#[serde(default)]
pub struct AccountForm {
    pub id: String,
    pub description: String,
    pub mailbox: String,
    pub folder: String,
    pub credential_id: String,
    pub after_import: String,
    pub move_to: String,
    pub graph_url: String,
    pub poll_interval: String,
    /// A checkbox: present ("on") when checked.
    pub enabled: Option<String>,
    /// `YYYY-MM-DD` or empty.
    pub import_since: String,
}

/// Graph endpoints of the Microsoft clouds, offered as presets.
pub const GRAPH_PRESETS: &[(&str, &str)] = &[
    ("https://graph.microsoft.com/v1.0", "Global"),
    ("https://graph.microsoft.us/v1.0", "US Government GCC High"),
    ("https://dod-graph.microsoft.us/v1.0", "US DoD"),
    (
        "https://microsoftgraph.chinacloudapi.cn/v1.0",
        "China (21Vianet)",
    ),
];

pub const MIN_POLL: i64 = 10;
const MAX_POLL: i64 = 86_400;

impl AccountForm {
    pub fn new_defaults() -> Self {
        AccountForm {
            folder: "Inbox".into(),
            after_import: "move".into(),
            move_to: "Imported".into(),
            graph_url: GRAPH_PRESETS[0].0.into(),
            poll_interval: "60".into(),
            enabled: Some("on".into()),
            ..Default::default()
        }
    }

    pub fn from_settings(s: &AccountSettings) -> Self {
        AccountForm {
            id: s.id.clone(),
            description: s.description.clone(),
            mailbox: s.mailbox.clone(),
            folder: s.folder.clone(),
            credential_id: s.credential_id.clone(),
            after_import: s.after_import.as_str().into(),
            move_to: s.move_to.clone(),
            graph_url: s.graph_url.clone(),
            poll_interval: s.poll_interval.to_string(),
            enabled: s.enabled.then(|| "on".into()),
            import_since: s.import_since.map(format_date).unwrap_or_default(),
        }
    }

    pub fn is_enabled(&self) -> bool {
        self.enabled.is_some()
    }
}

fn valid_mailbox(m: &str) -> bool {
    let plausible_address = m.len() <= 320
        && m.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.starts_with('.')
        });
    let guid = uuid::Uuid::parse_str(m).is_ok();
    (plausible_address || guid)
        && !m
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "/\\?#%\"'<>".contains(c))
}

fn valid_folder_path(p: &str) -> bool {
    !p.is_empty()
        && p.len() <= 1024
        && p.split('/')
            .all(|seg| !seg.trim().is_empty() && seg.len() <= 255)
        && !p.chars().any(char::is_control)
}

/// Checks the form. `credential` is the chosen credential if it exists. The Graph URL must
/// pass the outbound host policy `hosts`, in the same Microsoft cloud as the credential's
/// token endpoint (or allowed explicitly): it receives the credential's access tokens.
pub fn validate(
    form: &AccountForm,
    existing_id: Option<&str>,
    credential: Option<&Credential>,
    hosts: &HostPolicy,
) -> Result<(AccountSettings, Validation), Validation> {
    let mut v = Validation::default();
    let id = existing_id
        .map(str::to_string)
        .unwrap_or_else(|| form.id.trim().to_string());
    if !valid_id(&id) {
        v.add(
            "id",
            "Use 1 to 64 characters: letters, digits, '-', '_' and '.'.",
        );
    }
    let description = form.description.trim().to_string();
    if description.chars().count() > 200 {
        v.add("description", "Use at most 200 characters.");
    }
    if credential.is_none() {
        v.add("credential_id", "Choose one of the credentials.");
    }
    let mailbox = check_mailbox(&mut v, &form.mailbox, credential);
    let folder = or_default(&form.folder, "Inbox");
    if !valid_folder_path(&folder) {
        v.add(
            "folder",
            "Use a folder name or a path such as Inbox/Service desk.",
        );
    }
    let after_import = AfterImport::parse(&form.after_import);
    if after_import.is_none() {
        v.add("after_import", "Choose what happens to imported mail.");
    }
    let move_to = or_default(&form.move_to, "Imported");
    if after_import == Some(AfterImport::Move) {
        check_move_to(&mut v, &move_to, &folder);
    }
    let graph_url = check_graph_url(&mut v, &form.graph_url, credential, hosts);
    let poll_interval = check_poll_interval(&mut v, &form.poll_interval);
    let import_since = check_import_since(&mut v, &form.import_since);
    match after_import {
        Some(after_import) if v.errors.is_empty() => Ok((
            AccountSettings {
                id,
                description,
                mailbox,
                folder,
                credential_id: form.credential_id.trim().to_string(),
                after_import,
                move_to,
                graph_url,
                poll_interval,
                enabled: form.is_enabled(),
                import_since,
            },
            v,
        )),
        _ => Err(v),
    }
}

/// A folder path as typed, without surrounding slashes; `default` when empty.
fn or_default(typed: &str, default: &str) -> String {
    match typed.trim().trim_matches('/') {
        "" => default.to_string(),
        path => path.to_string(),
    }
}

/// The mailbox: may be empty only for a delegated credential (the signed-in user's own).
fn check_mailbox(v: &mut Validation, typed: &str, credential: Option<&Credential>) -> String {
    let mailbox = typed.trim().to_string();
    let delegated = credential.is_some_and(|c| c.grant_type() == GrantType::AuthorizationCode);
    if mailbox.is_empty() {
        if credential.is_some() && !delegated {
            v.add(
                "mailbox",
                "Application permissions (client credentials) need the mailbox: a user principal name or SMTP address.",
            );
        }
    } else if !valid_mailbox(&mailbox) {
        v.add(
            "mailbox",
            "Enter a user principal name or SMTP address such as servicedesk@contoso.com.",
        );
    }
    mailbox
}

/// The folder imported mail is moved to: a valid path other than the imported folder.
fn check_move_to(v: &mut Validation, move_to: &str, folder: &str) {
    if !valid_folder_path(move_to) {
        v.add(
            "move_to",
            "Use a folder name or a path such as Inbox/Imported.",
        );
    } else if move_to.eq_ignore_ascii_case(folder) {
        v.add(
            "move_to",
            "Moving mail into the folder it is imported from would import nothing.",
        );
    }
}

/// The Graph endpoint (the global one when empty): it receives the credential's tokens, so
/// it must pass the host policy for that credential's cloud.
fn check_graph_url(
    v: &mut Validation,
    typed: &str,
    credential: Option<&Credential>,
    hosts: &HostPolicy,
) -> String {
    let graph_url = match typed.trim().trim_end_matches('/') {
        "" => GRAPH_PRESETS[0].0.to_string(),
        url => url.to_string(),
    };
    if graph_url.len() > 2048 {
        v.add("graph_url", "This URL is too long.");
        return graph_url;
    }
    let checked = match credential {
        Some(c) => hosts.check_graph_for(&graph_url, &c.access_token_url),
        None => hosts.check(&graph_url, Use::Graph),
    };
    if let Err(refused) = checked {
        v.add(
            "graph_url",
            format!("Not allowed: {refused}. Nothing was sent to it."),
        );
    }
    graph_url
}

/// Seconds between polls, [`MIN_POLL`] to a day; 60 when empty.
fn check_poll_interval(v: &mut Validation, typed: &str) -> i64 {
    let poll_interval = match typed.trim() {
        "" => Some(60),
        s => s.parse::<i64>().ok(),
    };
    match poll_interval {
        Some(n) if (MIN_POLL..=MAX_POLL).contains(&n) => n,
        _ => {
            v.add(
                "poll_interval",
                format!("Enter whole seconds from {MIN_POLL} to {MAX_POLL}."),
            );
            60
        }
    }
}

/// The date from which mail is imported, or None for all mail.
fn check_import_since(v: &mut Validation, typed: &str) -> Option<i64> {
    match typed.trim() {
        "" => None,
        s => {
            let parsed = parse_date(s);
            if parsed.is_none() {
                v.add(
                    "import_since",
                    "Enter a date as YYYY-MM-DD, or leave it empty.",
                );
            }
            parsed
        }
    }
}
