//! What the mail screen and the messages API share: the list's query string (checked) and
//! loading one message by the id in its URL.

use crate::error::AppError;
use crate::state::AppState;
use crate::store::messages::{self, ListFilter, Message};

pub const PER_PAGE: i64 = 50;
/// Longer search texts or account ids are a mistake (or an attack), not a search.
pub const MAX_QUERY_CHARS: usize = 200;
/// Far beyond any mailbox; keeps OFFSET arithmetic trivially in range.
const MAX_PAGE: i64 = 1_000_000;

/// The list's query string, checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MailQuery {
    pub page: i64,
    pub account: Option<String>,
    pub q: Option<String>,
}

impl MailQuery {
    /// Reads `page`, `account` and `q` (first occurrence wins; others are ignored). A page
    /// that is not a positive number becomes 1 when `strict_page` is false (a person edited
    /// the URL) and is refused when it is true (a program should learn of its mistake).
    pub fn parse(pairs: &[(String, String)], strict_page: bool) -> Result<Self, AppError> {
        let first = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim());
        let page = match first("page") {
            None | Some("") => 1,
            Some(p) => match p.parse::<i64>() {
                Ok(n) if (1..=MAX_PAGE).contains(&n) => n,
                _ if strict_page => {
                    return Err(AppError::BadRequest(format!(
                        "page must be a whole number from 1 to {MAX_PAGE}."
                    )));
                }
                _ => 1,
            },
        };
        let text = |name: &str, what: &str| -> Result<Option<String>, AppError> {
            match first(name) {
                Some(v) if v.chars().count() > MAX_QUERY_CHARS => Err(AppError::BadRequest(
                    format!("The {what} is too long: at most {MAX_QUERY_CHARS} characters."),
                )),
                Some(v) if !v.is_empty() => Ok(Some(v.to_string())),
                _ => Ok(None),
            }
        };
        Ok(MailQuery {
            page,
            account: text("account", "account")?,
            q: text("q", "search text")?,
        })
    }

    pub fn filter(&self) -> ListFilter {
        ListFilter {
            account_id: self.account.clone(),
            search: self.q.clone(),
            offset: (self.page - 1) * PER_PAGE,
            limit: PER_PAGE,
        }
    }

    /// `/mail?…` for another page with the same filter.
    pub fn link(&self, page: i64) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        if let Some(a) = &self.account {
            q.append_pair("account", a);
        }
        if let Some(s) = &self.q {
            q.append_pair("q", s);
        }
        if page > 1 {
            q.append_pair("page", &page.to_string());
        }
        let q = q.finish();
        if q.is_empty() {
            "/mail".into()
        } else {
            format!("/mail?{q}")
        }
    }
}

/// A message id from the URL; anything that is not one is simply not found.
pub async fn load_message(state: &AppState, id: &str) -> Result<Message, AppError> {
    let id: i64 = id.parse().map_err(|_| AppError::NotFound)?;
    messages::get(&state.db, id)
        .await?
        .ok_or(AppError::NotFound)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn bad_pages_become_page_one_for_people_and_errors_for_programs() {
        for bad in ["0", "-3", "abc", "1e3", "99999999999999999999"] {
            let p = pairs(&[("page", bad)]);
            assert_eq!(MailQuery::parse(&p, false).map(|q| q.page).ok(), Some(1));
            assert!(MailQuery::parse(&p, true).is_err(), "{bad}");
        }
        let q = MailQuery::parse(&pairs(&[("page", "3"), ("q", " x ")]), true);
        assert_eq!(q.as_ref().map(|q| q.page).ok(), Some(3));
        assert_eq!(q.ok().and_then(|q| q.q).as_deref(), Some("x"));
    }

    #[test]
    fn long_search_is_refused() {
        let long = "x".repeat(MAX_QUERY_CHARS + 1);
        assert!(MailQuery::parse(&pairs(&[("q", &long)]), false).is_err());
        let ok = "é".repeat(MAX_QUERY_CHARS);
        assert!(MailQuery::parse(&pairs(&[("q", &ok)]), false).is_ok());
    }

    #[test]
    fn links_keep_the_filter() {
        let q = MailQuery {
            page: 2,
            account: Some("a&b".into()),
            q: Some("x y".into()),
        };
        assert_eq!(q.link(3), "/mail?account=a%26b&q=x+y&page=3");
        assert_eq!(MailQuery::default().link(1), "/mail");
    }
}
