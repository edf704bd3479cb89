//! What every form shares: the messages next to fields, the id rule, and dates as typed.

use std::collections::BTreeMap;

/// Messages next to fields, plus warnings that do not block saving.
#[derive(Debug, Default)]
pub struct Validation {
    pub errors: BTreeMap<&'static str, String>,
    pub warnings: Vec<String>,
}

impl Validation {
    pub fn error(&self, field: &str) -> Option<&str> {
        self.errors.get(field).map(String::as_str)
    }
    pub fn add(&mut self, field: &'static str, msg: impl Into<String>) {
        self.errors.entry(field).or_insert_with(|| msg.into());
    }
}

/// An id typed into a form (credential, account, webhook): 1 to 64 letters, digits, `-`,
/// `_` and `.`, so that it is safe in URLs and file names as it is.
pub fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// A date as forms show it: `2026-11-27` (UTC).
pub fn format_date(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(time::macros::format_description!("[year]-[month]-[day]"))
                .ok()
        })
        .unwrap_or_default()
}

/// A date as typed, `YYYY-MM-DD`: the unix time of its midnight, UTC.
pub fn parse_date(s: &str) -> Option<i64> {
    let date =
        time::Date::parse(s, time::macros::format_description!("[year]-[month]-[day]")).ok()?;
    Some(date.midnight().assume_utc().unix_timestamp())
}
