//! The Email server accounts screen: list, create, edit, delete, Test connection, Run now.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};

use super::account_form::{AccountForm, GRAPH_PRESETS, validate};
use super::account_input::is_reserved;
use super::account_list::{ListQuery, load_page};
use super::by_id::ById;
use super::form::{Validation, valid_id};
use super::layout::{Frame, Layout, Nav};
use super::page::html_page;
use super::session::{AppSession, FlashKind};
use super::state::WebState;
use super::views::{AccountView, RunView, short_duration};
use crate::error::AppError;
use crate::import::diagnose::{Diagnosis, test_connection};
use crate::state::AppState;
use crate::store::accounts::StatusFilter;
use crate::store::{self, Taken, UniqueViolationExt, accounts, credentials, runs};

pub fn router() -> Router<WebState> {
    Router::new()
        .route("/accounts", get(list).post(create))
        .route("/accounts.csv", get(super::accounts_csv::export))
        .route(
            "/accounts/import",
            get(super::accounts_csv::upload_page).post(super::accounts_csv::preview),
        )
        .route("/accounts/import/apply", post(super::accounts_csv::apply))
        .route("/accounts/import/cancel", post(super::accounts_csv::cancel))
        .route("/accounts/new", get(new_page))
        .route("/accounts/{id}", get(show).post(update))
        .route("/accounts/{id}/delete", get(confirm_delete).post(delete))
        .route("/accounts/{id}/test", post(test))
        .route("/accounts/{id}/import", post(run_now))
}

#[derive(Template)]
#[template(path = "accounts/list.html")]
struct ListPage {
    layout: Layout,
    accounts: Vec<AccountView>,
    has_credentials: bool,
    /// What the list is narrowed to, as typed.
    q: String,
    status: String,
    credential: String,
    statuses: Vec<(&'static str, &'static str)>,
    credential_ids: Vec<String>,
    total: i64,
    page: i64,
    pages: i64,
    first_shown: i64,
    last_shown: i64,
    prev_link: Option<String>,
    next_link: Option<String>,
    /// The filter as a query string (for the export link), empty or `?…`.
    filter_query: String,
    filtered: bool,
    lag: LagSummary,
}

/// The poll lag overview in words, for the list's header.
struct LagSummary {
    scheduled: usize,
    running: usize,
    overdue: usize,
    stale: usize,
    parked: usize,
    never_polled: usize,
    p50: String,
    p99: String,
    max: String,
    state: &'static str,
}

impl LagSummary {
    fn new(o: &crate::import::lag::LagOverview) -> Self {
        LagSummary {
            scheduled: o.scheduled,
            running: o.running,
            overdue: o.overdue,
            stale: o.stale,
            parked: o.parked,
            never_polled: o.never_polled,
            p50: short_duration(o.p50_secs),
            p99: short_duration(o.p99_secs),
            max: short_duration(o.max_secs),
            state: o.state(),
        }
    }
}

/// `?q=…&status=…&credential=…&page=N` for links that keep the list's filter.
fn list_query(filter: &ListQuery, page: Option<i64>) -> String {
    let mut pairs: Vec<(&str, String)> = Vec::new();
    for (name, value) in [
        ("q", &filter.q),
        ("status", &filter.status),
        ("credential", &filter.credential),
    ] {
        if let Some(v) = value.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
            pairs.push((name, v.to_string()));
        }
    }
    if let Some(p) = page.filter(|p| *p > 1) {
        pairs.push(("page", p.to_string()));
    }
    if pairs.is_empty() {
        String::new()
    } else {
        format!(
            "?{}",
            serde_urlencoded::to_string(&pairs).unwrap_or_default()
        )
    }
}

async fn view(state: &AppState, a: &accounts::Account) -> Result<AccountView, AppError> {
    let cred = credentials::get(&state.db, &a.credential_id).await?;
    let last = runs::last(&state.db, &a.id).await?;
    Ok(AccountView::new(
        a,
        cred.as_ref(),
        last.as_ref(),
        state.importer.is_running(&a.id),
    ))
}

/// The accounts list: paged, searchable and filterable, with the poll lag overview on top.
async fn list(
    State(state): State<AppState>,
    frame: Frame,
    Query(query): Query<ListQuery>,
) -> Result<Response, AppError> {
    let params = query.parse().map_err(AppError::BadRequest)?;
    let page = load_page(&state, &params).await?;
    let accounts = page
        .accounts
        .iter()
        .map(|a| {
            AccountView::new(
                a,
                page.credentials.get(&a.credential_id),
                page.last_runs.get(&a.id),
                page.running.contains(&a.id),
            )
        })
        .collect();
    let pages = ((page.total + params.per_page - 1) / params.per_page).max(1);
    let filter_only = ListQuery {
        page: None,
        per_page: None,
        ..query.clone()
    };
    let mut credential_ids: Vec<String> = page.credentials.keys().cloned().collect();
    credential_ids.sort();
    let first_shown = ((params.page - 1) * params.per_page + 1).min(page.total);
    let list_page = ListPage {
        layout: frame.layout(Nav::Accounts).await?,
        accounts,
        has_credentials: !page.credentials.is_empty(),
        q: params.filter.q.clone().unwrap_or_default(),
        status: params
            .filter
            .status
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
        credential: params.filter.credential_id.clone().unwrap_or_default(),
        statuses: StatusFilter::ALL
            .iter()
            .map(|s| (s.as_str(), s.label()))
            .collect(),
        credential_ids,
        total: page.total,
        page: params.page,
        pages,
        first_shown,
        last_shown: (params.page * params.per_page).min(page.total),
        prev_link: (params.page > 1).then(|| {
            format!(
                "/accounts{}",
                list_query(&filter_only, Some(params.page - 1))
            )
        }),
        next_link: (params.page < pages).then(|| {
            format!(
                "/accounts{}",
                list_query(&filter_only, Some(params.page + 1))
            )
        }),
        filter_query: list_query(&filter_only, None),
        filtered: params.filter != accounts::ListFilter::default(),
        lag: LagSummary::new(&state.importer.lag_overview().await?),
    };
    Ok(list_page.into_response())
}

#[derive(Template)]
#[template(path = "accounts/form.html")]
struct FormPage {
    layout: Layout,
    existing: Option<AccountView>,
    form: AccountForm,
    v: Validation,
    credentials: Vec<(String, String)>,
    presets: &'static [(&'static str, &'static str)],
    /// The newest runs, shown at the top; the current one first while it runs.
    latest_runs: Vec<RunView>,
    /// Older runs, folded away below the form.
    older_runs: Vec<RunView>,
    /// Run now was pressed and the run waits for a free import slot.
    queued: bool,
    diagnosis: Option<Diagnosis>,
    /// Which instance imports the account's mailbox (several may share the database).
    importer_instance: Option<String>,
}

/// Runs shown at the top of an account's page; the rest of the last 20 are folded away.
const LATEST_RUNS: usize = 5;

impl FormPage {
    fn action(&self) -> String {
        match &self.existing {
            Some(a) => format!("/accounts/{}", a.id),
            None => "/accounts".into(),
        }
    }
}

async fn form_page(
    state: &AppState,
    frame: &Frame,
    existing: Option<&accounts::Account>,
    form: AccountForm,
    v: Validation,
    diagnosis: Option<Diagnosis>,
) -> Result<FormPage, AppError> {
    let credentials = credentials::list(&state.db)
        .await?
        .into_iter()
        .map(|c| {
            let label = if c.description.is_empty() {
                format!("{} ({})", c.id, c.grant_type().label())
            } else {
                format!("{} — {} ({})", c.id, c.description, c.grant_type().label())
            };
            (c.id, label)
        })
        .collect();
    let (existing_view, mut runs) = match existing {
        Some(a) => {
            let mut runs: Vec<RunView> = Vec::new();
            // The database gets a run's counts when it ends; until then they come from memory.
            if let Some(live) = state.importer.live_run(&a.id) {
                runs.push(RunView::live(&live));
            }
            runs.extend(
                runs::recent(&state.db, &a.id, 20)
                    .await?
                    .iter()
                    .map(RunView::new),
            );
            (Some(view(state, a).await?), runs)
        }
        None => (None, Vec::new()),
    };
    let importer_instance = match existing {
        Some(a) => crate::import::lease::describe(&state.importer, &a.id).await?,
        None => None,
    };
    let older_runs = runs.split_off(runs.len().min(LATEST_RUNS));
    let queued = existing.is_some_and(|a| state.importer.is_queued(&a.id));
    Ok(FormPage {
        importer_instance,
        layout: frame.layout(Nav::Accounts).await?,
        existing: existing_view,
        form,
        v,
        credentials,
        presets: GRAPH_PRESETS,
        latest_runs: runs,
        older_runs,
        queued,
        diagnosis,
    })
}

async fn new_page(State(state): State<AppState>, frame: Frame) -> Result<Response, AppError> {
    let page = form_page(
        &state,
        &frame,
        None,
        AccountForm::new_defaults(),
        Validation::default(),
        None,
    )
    .await?;
    Ok(page.into_response())
}

async fn invalid(
    state: &AppState,
    frame: &Frame,
    existing: Option<&accounts::Account>,
    form: AccountForm,
    v: Validation,
) -> Result<Response, AppError> {
    let page = form_page(state, frame, existing, form, v, None).await?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
}

async fn create(
    State(state): State<AppState>,
    frame: Frame,
    Form(form): Form<AccountForm>,
) -> Result<Response, AppError> {
    let cred = lookup_credential(&state, &form.credential_id).await?;
    let (settings, mut v) = match validate(&form, None, cred.as_ref(), &state.config.hosts) {
        Ok(_) if is_reserved(&form.id) => {
            let mut v = Validation::default();
            v.add(
                "id",
                format!(
                    "{} names a page of Mailport; choose another id.",
                    form.id.trim()
                ),
            );
            return invalid(&state, &frame, None, form, v).await;
        }
        Ok(ok) => ok,
        Err(v) => return invalid(&state, &frame, None, form, v).await,
    };
    // The primary key, not a look-up first, decides whether the id is taken: no race.
    if let Err(Taken) = accounts::insert(&state.db, &settings)
        .await
        .on_unique_violation()?
    {
        v.add(
            "id",
            format!(
                "An email server account with the id {} already exists.",
                settings.id
            ),
        );
        return invalid(&state, &frame, None, form, v).await;
    }
    state.importer.accounts_changed();
    tracing::info!(account = %settings.id, by = %frame.user.username, "email server account created");
    frame.flash_saved(&v, "Email server account saved.").await?;
    Ok(Redirect::to(&format!("/accounts/{}", settings.id)).into_response())
}

async fn lookup_credential(
    state: &AppState,
    id: &str,
) -> Result<Option<credentials::Credential>, AppError> {
    if !valid_id(id.trim()) {
        return Ok(None);
    }
    Ok(credentials::get(&state.db, id.trim()).await?)
}

async fn show(
    State(state): State<AppState>,
    frame: Frame,
    ById(account): ById<accounts::Account>,
) -> Result<Response, AppError> {
    saved_account_page(&state, &frame, &account, None).await
}

/// The page of a saved account as stored, with Test connection's findings if any.
async fn saved_account_page(
    state: &AppState,
    frame: &Frame,
    account: &accounts::Account,
    diagnosis: Option<Diagnosis>,
) -> Result<Response, AppError> {
    let form = AccountForm::from_settings(&account.settings());
    let page = form_page(
        state,
        frame,
        Some(account),
        form,
        Validation::default(),
        diagnosis,
    )
    .await?;
    Ok(page.into_response())
}

async fn update(
    State(state): State<AppState>,
    frame: Frame,
    ById(account): ById<accounts::Account>,
    Form(mut form): Form<AccountForm>,
) -> Result<Response, AppError> {
    form.id = account.id.clone();
    let cred = lookup_credential(&state, &form.credential_id).await?;
    let (settings, v) = match validate(&form, Some(&account.id), cred.as_ref(), &state.config.hosts)
    {
        Ok(ok) => ok,
        Err(v) => return invalid(&state, &frame, Some(&account), form, v).await,
    };
    accounts::update(&state.db, &settings).await?;
    state.importer.accounts_changed();
    tracing::info!(account = %account.id, by = %frame.user.username, "email server account updated");
    frame.flash_saved(&v, "Email server account saved.").await?;
    Ok(Redirect::to(&format!("/accounts/{}", account.id)).into_response())
}

#[derive(Template)]
#[template(path = "accounts/delete.html")]
struct DeletePage {
    layout: Layout,
    account: AccountView,
    message_count: i64,
}

async fn confirm_delete(
    State(state): State<AppState>,
    frame: Frame,
    ById(account): ById<accounts::Account>,
) -> Result<Response, AppError> {
    let page = DeletePage {
        layout: frame.layout(Nav::Accounts).await?,
        account: view(&state, &account).await?,
        message_count: store::messages::count_for_account(&state.db, &account.id).await?,
    };
    Ok(page.into_response())
}

async fn delete(
    State(state): State<AppState>,
    frame: Frame,
    ById(account): ById<accounts::Account>,
) -> Result<Response, AppError> {
    if state.importer.is_running(&account.id) {
        frame
            .session
            .flash(
                FlashKind::Error,
                "The account is importing right now; delete it when the run has finished.",
            )
            .await?;
        return Ok(Redirect::to(&format!("/accounts/{}", account.id)).into_response());
    }
    accounts::delete(&state.db, &account.id).await?;
    state.importer.accounts_changed();
    tracing::info!(account = %account.id, by = %frame.user.username, "email server account deleted");
    frame
        .session
        .flash(
            FlashKind::Ok,
            format!(
                "Email server account {} deleted. Its imported mail is kept.",
                account.id
            ),
        )
        .await?;
    Ok(Redirect::to("/accounts").into_response())
}

async fn test(
    State(state): State<AppState>,
    frame: Frame,
    ById(account): ById<accounts::Account>,
) -> Result<Response, AppError> {
    let diagnosis = test_connection(&state.importer, &account).await;
    tracing::info!(account = %account.id, ok = diagnosis.ok, "connection tested");
    saved_account_page(&state, &frame, &account, Some(diagnosis)).await
}

async fn run_now(
    State(state): State<AppState>,
    session: AppSession,
    ById(account): ById<accounts::Account>,
) -> Result<Response, AppError> {
    if state.importer.is_running(&account.id) {
        session
            .flash(
                FlashKind::Warn,
                "An import of this account is already running; its counts below update every few seconds.",
            )
            .await?;
    } else {
        state.importer.request_run(&account.id);
        let text = if run_started(&state, &account.id).await {
            "Import started. Its counts show below and update every few seconds until the run ends."
        } else {
            "Import requested. It starts as soon as an import slot is free; this page refreshes itself until then."
        };
        session.flash(FlashKind::Ok, text).await?;
    }
    Ok(Redirect::to(&format!("/accounts/{}", account.id)).into_response())
}

/// Waits a moment for the scheduler to take a requested run, so that the flash can say
/// what is happening: true once the run is going (or already over), that is once the
/// request has left the queue.
async fn run_started(state: &AppState, id: &str) -> bool {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        if state.importer.is_running(id) || !state.importer.is_queued(id) {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

html_page!(ListPage, FormPage, DeletePage);
