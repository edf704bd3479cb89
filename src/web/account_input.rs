//! E-mail account settings as the JSON API and the CSV import give them: typed or text
//! fields laid over a base (the form's defaults, or the stored account), then checked by the
//! same validation as the form, so every way in accepts and refuses the same things.

use std::collections::HashMap;

use serde::{Deserialize, Deserializer};

use super::account_form::{AccountForm, validate};
use super::form::Validation;
use crate::outbound::HostPolicy;
use crate::store::accounts::{Account, AccountSettings};
use crate::store::credentials::Credential;

/// Ids that name pages under `/accounts/` and so cannot name an account.
pub const RESERVED_IDS: &[&str] = &["new", "import"];

/// Whether `id` names a page (see [`RESERVED_IDS`]).
pub fn is_reserved(id: &str) -> bool {
    RESERVED_IDS
        .iter()
        .any(|r| r.eq_ignore_ascii_case(id.trim()))
}

/// The fields of `POST`, `PUT` and `PATCH /api/v1/accounts`; absent fields are `None`.
/// Unknown fields are refused, so a typo cannot pass silently.
#[derive(Debug, Default, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountFields {
    pub id: Option<String>,
    pub description: Option<String>,
    pub mailbox: Option<String>,
    pub folder: Option<String>,
    pub credential_id: Option<String>,
    /// `move`, `mark_read`, `delete` or `keep`.
    pub after_import: Option<String>,
    pub move_to: Option<String>,
    pub graph_url: Option<String>,
    /// Seconds, 10 to 86,400.
    pub poll_interval: Option<i64>,
    pub enabled: Option<bool>,
    /// `YYYY-MM-DD`; `null` or `""` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub import_since: Option<Option<String>>,
}

/// Tells an explicit `null` (Some(None)) from an absent field (None).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

impl AccountFields {
    /// The form with these fields laid over it.
    pub fn apply_to(&self, mut form: AccountForm) -> AccountForm {
        let text = |field: &mut String, value: &Option<String>| {
            if let Some(v) = value {
                *field = v.clone();
            }
        };
        text(&mut form.id, &self.id);
        text(&mut form.description, &self.description);
        text(&mut form.mailbox, &self.mailbox);
        text(&mut form.folder, &self.folder);
        text(&mut form.credential_id, &self.credential_id);
        text(&mut form.after_import, &self.after_import);
        text(&mut form.move_to, &self.move_to);
        text(&mut form.graph_url, &self.graph_url);
        if let Some(n) = self.poll_interval {
            form.poll_interval = n.to_string();
        }
        if let Some(on) = self.enabled {
            form.enabled = on.then(|| "on".into());
        }
        if let Some(since) = &self.import_since {
            form.import_since = since.clone().unwrap_or_default();
        }
        form
    }
}

/// The base a change starts from: the stored account, or the form's defaults for a new one.
pub fn base_form(existing: Option<&Account>) -> AccountForm {
    match existing {
        Some(a) => AccountForm::from_settings(&a.settings()),
        None => AccountForm::new_defaults(),
    }
}

/// Validates a form as the account form does, with the credentials looked up in `credentials`
/// (by id) and hosts checked by the outbound host policy, and refuses reserved ids for new
/// accounts.
pub fn check(
    form: &AccountForm,
    existing: Option<&Account>,
    credentials: &HashMap<String, Credential>,
    hosts: &HostPolicy,
) -> Result<(AccountSettings, Validation), Validation> {
    let credential = credentials.get(form.credential_id.trim());
    let result = validate(form, existing.map(|a| a.id.as_str()), credential, hosts);
    if existing.is_none() && is_reserved(&form.id) {
        let mut v = match result {
            Ok((_, v)) | Err(v) => v,
        };
        v.add(
            "id",
            format!(
                "{} names a page of Mailport; choose another id.",
                form.id.trim()
            ),
        );
        return Err(v);
    }
    result
}

/// Every credential by id (few: they are looked up once per request or file).
pub async fn credentials_by_id(db: &crate::store::Db) -> sqlx::Result<HashMap<String, Credential>> {
    Ok(crate::store::credentials::list(db)
        .await?
        .into_iter()
        .map(|c| (c.id.clone(), c))
        .collect())
}
