//! The webhook endpoint form: what was typed and its validation. The URL goes through the
//! webhook host policy (`webhooks::check_endpoint_url`).

use super::form::{Validation, valid_id};
use crate::outbound::HostPolicy;
use crate::store::webhooks::{Endpoint, Payload, Settings};
use crate::webhooks::{MAX_INLINE_ATTACHMENT_MB, check_endpoint_url};

/// The form as posted. Read from the raw pairs, since `accounts` may come several times.
#[derive(Debug, Default, Clone)]
pub struct WebhookForm {
    pub id: String,
    pub description: String,
    pub url: String,
    /// `*` for every account, or account ids separated by commas, spaces or new lines.
    pub accounts: String,
    pub payload: String,
    /// MB; attachments up to this size are inlined in JSON payloads. 0 = links only.
    pub include_attachments: String,
    pub enabled: bool,
}

/// Longest account list accepted, in characters.
const MAX_ACCOUNTS_TEXT: usize = 64 * 1024;

impl WebhookForm {
    pub fn new_defaults() -> Self {
        WebhookForm {
            accounts: "*".into(),
            payload: "json".into(),
            include_attachments: "0".into(),
            enabled: true,
            ..Default::default()
        }
    }

    /// From posted pairs: the first value of each field wins, except `accounts`, whose
    /// values are joined.
    pub fn from_pairs(pairs: &[(String, String)]) -> Self {
        let first = |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        WebhookForm {
            id: first("id"),
            description: first("description"),
            url: first("url"),
            accounts: pairs
                .iter()
                .filter(|(k, _)| k == "accounts")
                .map(|(_, v)| v.as_str())
                .collect::<Vec<_>>()
                .join("\n"),
            payload: first("payload"),
            include_attachments: first("include_attachments"),
            enabled: pairs.iter().any(|(k, _)| k == "enabled"),
        }
    }

    pub fn from_endpoint(e: &Endpoint, accounts: &[String]) -> Self {
        WebhookForm {
            id: e.id.clone(),
            description: e.description.clone(),
            url: e.url.clone(),
            accounts: if e.all_accounts {
                "*".into()
            } else {
                accounts.join("\n")
            },
            payload: e.payload.clone(),
            include_attachments: e.include_attachments_mb.to_string(),
            enabled: e.enabled,
        }
    }
}

/// The account ids of the `accounts` field; `None` for `*` (every account).
fn account_list(text: &str) -> Option<Vec<String>> {
    let ids: Vec<String> = text
        .split([',', ' ', '\n', '\r', '\t'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    if ids.iter().any(|i| i == "*") {
        return None;
    }
    let mut ids = ids;
    ids.sort();
    ids.dedup();
    Some(ids)
}

/// Checks the form. `existing_id` is Some on update (the id cannot change then).
/// `account_exists` says whether an e-mail account id is known.
pub fn validate(
    form: &WebhookForm,
    existing_id: Option<&str>,
    hosts: &HostPolicy,
    account_exists: impl Fn(&str) -> bool,
) -> Result<Settings, Validation> {
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
    if description.chars().count() > 200 || description.chars().any(char::is_control) {
        v.add("description", "Use at most 200 characters on one line.");
    }
    let url = form.url.trim().to_string();
    if url.is_empty() {
        v.add(
            "url",
            "Enter the URL where the business application receives webhooks.",
        );
    } else if let Err(e) = check_endpoint_url(&url, hosts) {
        v.add("url", e);
    }
    let accounts = if form.accounts.len() > MAX_ACCOUNTS_TEXT {
        v.add("accounts", "The list of accounts is too long.");
        None
    } else {
        account_list(&form.accounts)
    };
    if let Some(list) = &accounts {
        if list.is_empty() {
            v.add(
                "accounts",
                "Enter * for every account, or the ids of the accounts whose mail this endpoint receives.",
            );
        } else if let Some(bad) = list.iter().find(|a| !valid_id(a)) {
            v.add("accounts", format!("{bad:?} is not an account id."));
        } else if let Some(unknown) = list.iter().find(|a| !account_exists(a)) {
            v.add(
                "accounts",
                format!("There is no email server account {unknown}."),
            );
        }
    }
    let payload = Payload::parse(form.payload.trim());
    if payload.is_none() {
        v.add("payload", "Choose JSON or raw.");
    }
    let include_attachments_mb = match form.include_attachments.trim() {
        "" => Some(0),
        n => n
            .parse::<i64>()
            .ok()
            .filter(|n| (0..=MAX_INLINE_ATTACHMENT_MB).contains(n)),
    };
    if include_attachments_mb.is_none() {
        v.add(
            "include_attachments",
            format!(
                "Enter a whole number of MB from 0 (links only) to {MAX_INLINE_ATTACHMENT_MB}."
            ),
        );
    }
    match (payload, include_attachments_mb) {
        (Some(payload), Some(include_attachments_mb)) if v.errors.is_empty() => Ok(Settings {
            id,
            description,
            url,
            accounts,
            payload,
            include_attachments_mb,
            enabled: form.enabled,
        }),
        _ => Err(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form() -> WebhookForm {
        WebhookForm {
            id: "erp".into(),
            url: "https://erp.example.com/hooks/mail".into(),
            ..WebhookForm::new_defaults()
        }
    }

    #[test]
    fn a_good_form_and_its_mistakes() {
        let hosts = HostPolicy::default();
        let s = validate(&form(), None, &hosts, |_| true).unwrap();
        assert_eq!(s.accounts, None);
        assert_eq!(s.payload, Payload::Json);
        let mut f = form();
        f.accounts = "b, a\na".into();
        let s = validate(&f, None, &hosts, |_| true).unwrap();
        assert_eq!(s.accounts, Some(vec!["a".to_string(), "b".to_string()]));
        for (field, change) in [
            (
                "url",
                Box::new(|f: &mut WebhookForm| f.url = "http://erp.example.com/".into())
                    as Box<dyn Fn(&mut WebhookForm)>,
            ),
            (
                "url",
                Box::new(|f: &mut WebhookForm| f.url = "https://169.254.169.254/".into()),
            ),
            (
                "accounts",
                Box::new(|f: &mut WebhookForm| f.accounts = " ".into()),
            ),
            (
                "accounts",
                Box::new(|f: &mut WebhookForm| f.accounts = "nobody".into()),
            ),
            (
                "payload",
                Box::new(|f: &mut WebhookForm| f.payload = "xml".into()),
            ),
            (
                "include_attachments",
                Box::new(|f: &mut WebhookForm| f.include_attachments = "26".into()),
            ),
            ("id", Box::new(|f: &mut WebhookForm| f.id = "a/b".into())),
        ] {
            let mut f = form();
            change(&mut f);
            let v = validate(&f, None, &hosts, |a| a != "nobody").unwrap_err();
            assert!(v.error(field).is_some(), "{field}: {:?}", v.errors);
        }
    }
}
