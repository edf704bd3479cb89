//! The Credentials screen (UCTool > Authorisation > Credentials): list, create, edit, delete.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Router};

use super::by_id::ById;
use super::credential_form::{CLOUDS, Cloud, CredentialForm, fill_from_entra, validate};
use super::form::Validation;
use super::layout::{Frame, Layout, Nav};
use super::page::html_page;
use super::session::FlashKind;
use super::state::WebState;
use super::views::CredentialView;
use crate::crypto::Secret;
use crate::error::AppError;
use crate::state::AppState;
use crate::store::{Taken, UniqueViolationExt, credentials};

pub fn router() -> Router<WebState> {
    Router::new()
        .route("/credentials", get(list).post(create))
        .route("/credentials/new", get(new_page))
        .route("/credentials/{id}", get(show).post(update))
        .route("/credentials/{id}/delete", get(confirm_delete).post(delete))
}

#[derive(Template)]
#[template(path = "credentials/list.html")]
struct ListPage {
    layout: Layout,
    credentials: Vec<CredentialView>,
}

async fn list(State(state): State<AppState>, frame: Frame) -> Result<ListPage, AppError> {
    let credentials = credentials::list(&state.db)
        .await?
        .iter()
        .map(CredentialView::new)
        .collect();
    Ok(ListPage {
        layout: frame.layout(Nav::Credentials).await?,
        credentials,
    })
}

#[derive(Template)]
#[template(path = "credentials/form.html")]
struct FormPage {
    layout: Layout,
    /// None for a new credential.
    existing: Option<CredentialView>,
    form: CredentialForm,
    v: Validation,
    redirect_uri: String,
    clouds: &'static [Cloud],
    has_secret: bool,
}

impl FormPage {
    fn action(&self) -> String {
        match &self.existing {
            Some(c) => format!("/credentials/{}", c.id),
            None => "/credentials".into(),
        }
    }
}

async fn form_page(
    state: &AppState,
    frame: &Frame,
    existing: Option<&credentials::Credential>,
    mut form: CredentialForm,
    v: Validation,
) -> Result<FormPage, AppError> {
    // The secret is write-only: it never goes back to the browser.
    form.client_secret = Default::default();
    if form.cloud.is_empty() {
        form.cloud = "global".into();
    }
    Ok(FormPage {
        layout: frame.layout(Nav::Credentials).await?,
        existing: existing.map(CredentialView::new),
        form,
        v,
        redirect_uri: state.config.redirect_uri(),
        clouds: CLOUDS,
        has_secret: existing.is_some_and(|c| c.client_secret.is_some()),
    })
}

async fn new_page(State(state): State<AppState>, frame: Frame) -> Result<FormPage, AppError> {
    let form = CredentialForm {
        grant_type: "authorization_code".into(),
        client_auth: "post".into(),
        ..Default::default()
    };
    form_page(&state, &frame, None, form, Validation::default()).await
}

async fn create(
    State(state): State<AppState>,
    frame: Frame,
    Form(mut form): Form<CredentialForm>,
) -> Result<Response, AppError> {
    if form.action == "fill" {
        let v = fill_from_entra(&mut form, &state.config.hosts);
        let status = status_for(&v);
        let page = form_page(&state, &frame, None, form, v).await?;
        return Ok((status, page).into_response());
    }
    let (settings, v) = match validate(&form, None, &state.config.hosts) {
        Ok(ok) => ok,
        Err(v) => return invalid(&state, &frame, None, form, v).await,
    };
    let secret = Secret::new(form.client_secret.expose().trim().to_string());
    // The primary key, not a look-up first, decides whether the id is taken: no race.
    if let Err(Taken) = credentials::insert(&state.db, &state.key, &settings, Some(&secret))
        .await
        .on_unique_violation()?
    {
        let mut v = v;
        v.errors.insert(
            "id",
            format!("A credential with the id {} already exists.", settings.id),
        );
        return invalid(&state, &frame, None, form, v).await;
    }
    tracing::info!(credential = %settings.id, by = %frame.user.username, "credential created");
    frame.flash_saved(&v, "Credential saved.").await?;
    Ok(Redirect::to(&format!("/credentials/{}", settings.id)).into_response())
}

fn status_for(v: &Validation) -> StatusCode {
    if v.errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    }
}

async fn invalid(
    state: &AppState,
    frame: &Frame,
    existing: Option<&credentials::Credential>,
    form: CredentialForm,
    v: Validation,
) -> Result<Response, AppError> {
    let page = form_page(state, frame, existing, form, v).await?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
}

async fn show(
    State(state): State<AppState>,
    frame: Frame,
    ById(cred): ById<credentials::Credential>,
) -> Result<FormPage, AppError> {
    let form = CredentialForm::from_settings(&cred.settings());
    form_page(&state, &frame, Some(&cred), form, Validation::default()).await
}

async fn update(
    State(state): State<AppState>,
    frame: Frame,
    ById(cred): ById<credentials::Credential>,
    Form(mut form): Form<CredentialForm>,
) -> Result<Response, AppError> {
    form.id = cred.id.clone();
    if form.action == "fill" {
        let v = fill_from_entra(&mut form, &state.config.hosts);
        let status = status_for(&v);
        let page = form_page(&state, &frame, Some(&cred), form, v).await?;
        return Ok((status, page).into_response());
    }
    let (settings, v) = match validate(&form, Some(&cred.settings()), &state.config.hosts) {
        Ok(ok) => ok,
        Err(v) => return invalid(&state, &frame, Some(&cred), form, v).await,
    };
    let old = cred.settings();
    // Tokens belong to an app, an endpoint and a scope: if those change, they are void.
    let reset_tokens = old.grant_type != settings.grant_type
        || old.access_token_url != settings.access_token_url
        || old.client_id != settings.client_id
        || old.scope != settings.scope;
    let secret = form.client_secret.expose().trim();
    let secret = (!secret.is_empty()).then(|| Secret::new(secret.to_string()));
    credentials::update(
        &state.db,
        &state.key,
        &settings,
        secret.as_ref(),
        reset_tokens,
    )
    .await?;
    // Another token URL may mean another tenant: its first sign-in pins anew.
    let forget_pin =
        form.forget_tenant_pin.is_some() || old.access_token_url != settings.access_token_url;
    if forget_pin && cred.tenant_pin.is_some() {
        credentials::reset_tenant_pin(&state.db, &cred.id).await?;
        tracing::info!(credential = %cred.id, by = %frame.user.username, "tenant pin forgotten");
    }
    tracing::info!(credential = %cred.id, by = %frame.user.username, reset_tokens, "credential updated");
    let text = if reset_tokens && cred.access_token.is_some() {
        "Credential saved. The app, endpoint or scope changed, so the old token was discarded: press the key to get a new one."
    } else {
        "Credential saved."
    };
    frame.flash_saved(&v, text).await?;
    Ok(Redirect::to(&format!("/credentials/{}", cred.id)).into_response())
}

#[derive(Template)]
#[template(path = "credentials/delete.html")]
struct DeletePage {
    layout: Layout,
    credential: CredentialView,
    used_by: Vec<String>,
}

html_page!(ListPage, FormPage, DeletePage);

async fn confirm_delete(
    State(state): State<AppState>,
    frame: Frame,
    ById(cred): ById<credentials::Credential>,
) -> Result<DeletePage, AppError> {
    Ok(DeletePage {
        used_by: credentials::used_by(&state.db, &cred.id).await?,
        credential: CredentialView::new(&cred),
        layout: frame.layout(Nav::Credentials).await?,
    })
}

async fn delete(
    State(state): State<AppState>,
    Frame { user, session, .. }: Frame,
    ById(cred): ById<credentials::Credential>,
) -> Result<Response, AppError> {
    let used_by = credentials::used_by(&state.db, &cred.id).await?;
    if !used_by.is_empty() {
        session
            .flash(
                FlashKind::Error,
                format!(
                    "Credential {} was not deleted: the email server accounts {} still use it.",
                    cred.id,
                    used_by.join(", ")
                ),
            )
            .await?;
        return Ok(Redirect::to(&format!("/credentials/{}", cred.id)).into_response());
    }
    credentials::delete(&state.db, &cred.id).await?;
    tracing::info!(credential = %cred.id, by = %user.username, "credential deleted");
    session
        .flash(FlashKind::Ok, format!("Credential {} deleted.", cred.id))
        .await?;
    Ok(Redirect::to("/credentials").into_response())
}
