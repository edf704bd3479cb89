//! The Email server accounts screen: list, create, edit, delete, Test connection, Run now.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Form, Router};

use super::account_form::{AccountForm, GRAPH_PRESETS, validate};
use super::auth::CurrentUser;
use super::credential_form::{Validation, valid_id};
use super::layout::Layout;
use super::session::AppSession;
use super::views::{AccountView, RunView};
use crate::app::AppState;
use crate::error::{AppError, render};
use crate::import::diagnose::{Diagnosis, test_connection};
use crate::store::{self, accounts, credentials, runs};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/accounts", get(list).post(create))
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
}

async fn views(state: &AppState) -> Result<Vec<AccountView>, AppError> {
    let mut out = Vec::new();
    for a in accounts::list(&state.db).await? {
        out.push(view(state, &a).await?);
    }
    Ok(out)
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

async fn list(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    session: AppSession,
) -> Result<Response, AppError> {
    let page = ListPage {
        layout: Layout::new(&session, Some(user.username), "accounts").await?,
        accounts: views(&state).await?,
        has_credentials: !credentials::list(&state.db).await?.is_empty(),
    };
    Ok(render(&page)?.into_response())
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
    session: &AppSession,
    user: CurrentUser,
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
            let mut runs: Vec<RunView> = runs::recent(&state.db, &a.id, 20)
                .await?
                .iter()
                .map(RunView::new)
                .collect();
            // The database gets a run's counts when it ends; until then they come from memory.
            if let Some(live) = state.importer.live_progress(&a.id)
                && runs.first().is_some_and(|r| r.outcome == "running")
            {
                let current = runs.remove(0);
                runs.insert(0, current.with_live(&live));
            }
            (Some(view(state, a).await?), runs)
        }
        None => (None, Vec::new()),
    };
    let older_runs = runs.split_off(runs.len().min(LATEST_RUNS));
    let queued = existing.is_some_and(|a| state.importer.is_queued(&a.id));
    Ok(FormPage {
        layout: Layout::new(session, Some(user.username), "accounts").await?,
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

async fn new_page(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    session: AppSession,
) -> Result<Response, AppError> {
    let page = form_page(
        &state,
        &session,
        user,
        None,
        AccountForm::new_defaults(),
        Validation::default(),
        None,
    )
    .await?;
    Ok(render(&page)?.into_response())
}

async fn invalid(
    state: &AppState,
    session: &AppSession,
    user: CurrentUser,
    existing: Option<&accounts::Account>,
    form: AccountForm,
    v: Validation,
) -> Result<Response, AppError> {
    let page = form_page(state, session, user, existing, form, v, None).await?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response())
}

async fn flash_saved(session: &AppSession, v: &Validation) -> Result<(), AppError> {
    if v.warnings.is_empty() {
        session.flash("ok", "Email server account saved.").await
    } else {
        session
            .flash(
                "warn",
                format!("Email server account saved. Note: {}", v.warnings.join(" ")),
            )
            .await
    }
}

async fn create(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    session: AppSession,
    Form(form): Form<AccountForm>,
) -> Result<Response, AppError> {
    let cred = lookup_credential(&state, &form.credential_id).await?;
    let (settings, mut v) = match validate(&form, None, cred.as_ref()) {
        Ok(ok) => ok,
        Err(v) => return invalid(&state, &session, user, None, form, v).await,
    };
    // The primary key, not a look-up first, decides whether the id is taken: no race.
    if let Err(e) = accounts::insert(&state.db, &settings).await {
        if store::is_unique_violation(&e) {
            v.add(
                "id",
                format!(
                    "An email server account with the id {} already exists.",
                    settings.id
                ),
            );
            return invalid(&state, &session, user, None, form, v).await;
        }
        return Err(e.into());
    }
    tracing::info!(account = %settings.id, by = %user.username, "email server account created");
    flash_saved(&session, &v).await?;
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

async fn load(state: &AppState, id: &str) -> Result<accounts::Account, AppError> {
    if !valid_id(id) {
        return Err(AppError::NotFound);
    }
    accounts::get(&state.db, id)
        .await?
        .ok_or(AppError::NotFound)
}

async fn show(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    session: AppSession,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let account = load(&state, &id).await?;
    saved_account_page(&state, &session, user, &account, None).await
}

/// The page of a saved account as stored, with Test connection's findings if any.
async fn saved_account_page(
    state: &AppState,
    session: &AppSession,
    user: CurrentUser,
    account: &accounts::Account,
    diagnosis: Option<Diagnosis>,
) -> Result<Response, AppError> {
    let form = AccountForm::from_settings(&account.settings());
    let page = form_page(
        state,
        session,
        user,
        Some(account),
        form,
        Validation::default(),
        diagnosis,
    )
    .await?;
    Ok(render(&page)?.into_response())
}

async fn update(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    session: AppSession,
    Path(id): Path<String>,
    Form(mut form): Form<AccountForm>,
) -> Result<Response, AppError> {
    let account = load(&state, &id).await?;
    form.id = account.id.clone();
    let cred = lookup_credential(&state, &form.credential_id).await?;
    let (settings, v) = match validate(&form, Some(&account.id), cred.as_ref()) {
        Ok(ok) => ok,
        Err(v) => return invalid(&state, &session, user, Some(&account), form, v).await,
    };
    accounts::update(&state.db, &settings).await?;
    tracing::info!(account = %account.id, by = %user.username, "email server account updated");
    flash_saved(&session, &v).await?;
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
    Extension(user): Extension<CurrentUser>,
    session: AppSession,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let account = load(&state, &id).await?;
    let page = DeletePage {
        layout: Layout::new(&session, Some(user.username), "accounts").await?,
        account: view(&state, &account).await?,
        message_count: store::messages::count_for_account(&state.db, &account.id).await?,
    };
    Ok(render(&page)?.into_response())
}

async fn delete(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    session: AppSession,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let account = load(&state, &id).await?;
    if state.importer.is_running(&account.id) {
        session
            .flash(
                "error",
                "The account is importing right now; delete it when the run has finished.",
            )
            .await?;
        return Ok(Redirect::to(&format!("/accounts/{}", account.id)).into_response());
    }
    accounts::delete(&state.db, &account.id).await?;
    tracing::info!(account = %account.id, by = %user.username, "email server account deleted");
    session
        .flash(
            "ok",
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
    Extension(user): Extension<CurrentUser>,
    session: AppSession,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let account = load(&state, &id).await?;
    let diagnosis = test_connection(&state.importer, &account).await;
    tracing::info!(account = %account.id, ok = diagnosis.ok, "connection tested");
    saved_account_page(&state, &session, user, &account, Some(diagnosis)).await
}

async fn run_now(
    State(state): State<AppState>,
    session: AppSession,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let account = load(&state, &id).await?;
    if state.importer.is_running(&account.id) {
        session
            .flash(
                "warn",
                "An import of this account is already running; its counts below update every few seconds.",
            )
            .await?;
    } else {
        let before = runs::last(&state.db, &account.id).await?.map(|r| r.id);
        state.importer.request_run(&account.id);
        let text = if run_started(&state, &account.id, before).await? {
            "Import started. Its counts show below and update every few seconds until the run ends."
                .to_string()
        } else {
            format!(
                "Import requested. It starts as soon as one of the {} import slots is free; this page refreshes itself until then.",
                state.importer.settings.concurrent_accounts
            )
        };
        session.flash("ok", text).await?;
    }
    Ok(Redirect::to(&format!("/accounts/{}", account.id)).into_response())
}

/// Waits a moment for the scheduler to take a requested run, so that the flash can say
/// what is happening: true once the run is going (or already over).
async fn run_started(state: &AppState, id: &str, before: Option<i64>) -> Result<bool, AppError> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        if state.importer.is_running(id) || runs::last(&state.db, id).await?.map(|r| r.id) != before
        {
            return Ok(true);
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(false);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
