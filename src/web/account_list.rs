//! The accounts list's query, shared by the list page, its CSV export and
//! `GET /api/v1/accounts`: `?page=&per_page=&q=&status=&credential=`, checked, and one page
//! of accounts loaded with their credentials and last runs.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::account_input::credentials_by_id;
use crate::error::AppError;
use crate::state::AppState;
use crate::store::accounts::{self, Account, ListFilter, StatusFilter};
use crate::store::{credentials, runs};

/// The most accounts one page holds.
pub const MAX_PER_PAGE: i64 = 500;
const DEFAULT_PER_PAGE: i64 = 50;
/// `?page=&per_page=&q=&status=&credential=` of `GET /api/v1/accounts` (and the list page).
#[derive(Debug, Default, Clone, Deserialize, Serialize, ToSchema)]
#[serde(default)]
pub struct ListQuery {
    /// 1-based.
    pub page: Option<String>,
    pub per_page: Option<String>,
    /// A part of the id, mailbox or description (case-insensitive).
    pub q: Option<String>,
    /// `ok`, `error`, `needs_consent`, `disabled`, `throttled` or `stale`.
    pub status: Option<String>,
    /// A credential id.
    pub credential: Option<String>,
}

/// A checked [`ListQuery`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListParams {
    pub page: i64,
    pub per_page: i64,
    pub filter: ListFilter,
}

impl ListQuery {
    /// Checks the query; the message says what is wrong.
    pub fn parse(&self) -> Result<ListParams, String> {
        let number = |v: &Option<String>, name: &str, default: i64, max: i64| match v
            .as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
        {
            None => Ok(default),
            Some(text) => text
                .parse::<i64>()
                .ok()
                .filter(|n| (1..=max).contains(n))
                .ok_or_else(|| format!("{name} must be a whole number from 1 to {max}")),
        };
        let page = number(&self.page, "page", 1, 1_000_000)?;
        let per_page = number(&self.per_page, "per_page", DEFAULT_PER_PAGE, MAX_PER_PAGE)?;
        let status = match self
            .status
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            None => None,
            Some(s) => Some(StatusFilter::parse(s).ok_or_else(|| {
                let known: Vec<&str> = StatusFilter::ALL.iter().map(|f| f.as_str()).collect();
                format!("status must be one of {}", known.join(", "))
            })?),
        };
        let q = self
            .q
            .as_deref()
            .map(str::trim)
            .filter(|q| !q.is_empty())
            .map(str::to_string);
        if q.as_ref().is_some_and(|q| q.chars().count() > 200) {
            return Err("q must be at most 200 characters".into());
        }
        let credential_id = self
            .credential
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_string);
        Ok(ListParams {
            page,
            per_page,
            filter: ListFilter {
                q,
                status,
                credential_id,
            },
        })
    }
}

/// One page of accounts as the list page and the API show them.
pub struct AccountPage {
    pub accounts: Vec<Account>,
    pub total: i64,
    pub credentials: std::collections::HashMap<String, credentials::Credential>,
    pub last_runs: std::collections::HashMap<String, runs::Run>,
    pub running: std::collections::HashSet<String>,
}

/// Loads a page: the accounts, their credentials and last runs in a few queries.
pub async fn load_page(state: &AppState, p: &ListParams) -> Result<AccountPage, AppError> {
    let (accounts, total) =
        accounts::page(&state.db, &p.filter, (p.page - 1) * p.per_page, p.per_page).await?;
    let ids: Vec<String> = accounts.iter().map(|a| a.id.clone()).collect();
    Ok(AccountPage {
        last_runs: runs::last_of(&state.db, &ids).await?,
        credentials: credentials_by_id(&state.db).await?,
        running: state.importer.running_ids(),
        accounts,
        total,
    })
}
