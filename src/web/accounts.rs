//! The E-mail server accounts screen: list, create, edit, delete, Test connection, Run now.

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
    runs: Vec<RunView>,
    diagnosis: Option<Diagnosis>,
}

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
    let (existing_view, runs) = match existing {
        Some(a) => (
            Some(view(state, a).await?),
            runs::recent(&state.db, &a.id, 20)
                .await?
                .iter()
                .map(RunView::new)
                .collect(),
        ),
        None => (None, Vec::new()),
    };
    Ok(FormPage {
        layout: Layout::new(session, Some(user.username), "accounts").await?,
        existing: existing_view,
        form,
        v,
        credentials,
        presets: GRAPH_PRESETS,
        runs,
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
        session.flash("ok", "E-mail account saved.").await
    } else {
        session
            .flash(
                "warn",
                format!("E-mail account saved. Note: {}", v.warnings.join(" ")),
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
    let (settings, mut v) = match validate(&form, None, cred.as_ref(), &state.config.hosts) {
        Ok(ok) => ok,
        Err(v) => return invalid(&state, &session, user, None, form, v).await,
    };
    // The primary key, not a look-up first, decides whether the id is taken: no race.
    if let Err(e) = accounts::insert(&state.db, &settings).await {
        if store::is_unique_violation(&e) {
            v.add(
                "id",
                format!(
                    "An e-mail account with the id {} already exists.",
                    settings.id
                ),
            );
            return invalid(&state, &session, user, None, form, v).await;
        }
        return Err(e.into());
    }
    tracing::info!(account = %settings.id, by = %user.username, "e-mail account created");
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
    let (settings, v) = match validate(&form, Some(&account.id), cred.as_ref(), &state.config.hosts)
    {
        Ok(ok) => ok,
        Err(v) => return invalid(&state, &session, user, Some(&account), form, v).await,
    };
    accounts::update(&state.db, &settings).await?;
    tracing::info!(account = %account.id, by = %user.username, "e-mail account updated");
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
    tracing::info!(account = %account.id, by = %user.username, "e-mail account deleted");
    session
        .flash(
            "ok",
            format!(
                "E-mail account {} deleted. Its imported mail is kept.",
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
            .flash("warn", "An import of this account is already running.")
            .await?;
    } else {
        state.importer.request_run(&account.id);
        session
            .flash("ok", "Import started. Reload the page to see the run.")
            .await?;
    }
    Ok(Redirect::to(&format!("/accounts/{}", account.id)).into_response())
}
