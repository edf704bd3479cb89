//! The Settings screen: API keys for `/api/v1`. A new key is shown once, in the answer to
//! the POST that made it; only its hash is stored, as with `mailport apikey create`.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Extension, Form, Router};
use serde::Deserialize;

use super::auth::CurrentUser;
use super::layout::Layout;
use super::session::AppSession;
use super::views::TimeView;
use crate::app::AppState;
use crate::crypto::{random_token, sha256_hex};
use crate::error::{AppError, render};
use crate::store::{self, api_keys};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/settings", get(page))
        .route("/settings/api-keys", get(page).post(create))
        .route(
            "/settings/api-keys/{id}/delete",
            get(confirm_delete).post(delete),
        )
}

pub struct KeyView {
    pub id: i64,
    pub name: String,
    /// `read` or `admin`.
    pub scope: String,
    pub created: TimeView,
    pub last_used: Option<TimeView>,
}

#[derive(Template)]
#[template(path = "settings/page.html")]
struct SettingsPage {
    layout: Layout,
    keys: Vec<KeyView>,
    /// The key just created: shown this once.
    new_key: Option<String>,
    name: String,
    error: Option<String>,
}

async fn render_page(
    state: &AppState,
    session: &AppSession,
    user: CurrentUser,
    new_key: Option<String>,
    name: String,
    error: Option<String>,
) -> Result<Response, AppError> {
    let keys = api_keys::list(&state.db)
        .await?
        .into_iter()
        .map(|k| KeyView {
            id: k.id,
            name: k.name,
            scope: k.scope,
            created: TimeView::at(k.created_at),
            last_used: k.last_used_at.map(TimeView::at),
        })
        .collect();
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let page = SettingsPage {
        layout: Layout::new(session, Some(user.username), "settings").await?,
        keys,
        new_key,
        name,
        error,
    };
    Ok((status, render(&page)?).into_response())
}

async fn page(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    session: AppSession,
) -> Result<Response, AppError> {
    render_page(&state, &session, user, None, String::new(), None).await
}

#[derive(Deserialize)]
struct NewKey {
    #[serde(default)]
    name: String,
    /// `read` (the default) or `admin`.
    #[serde(default)]
    scope: String,
}

fn validate_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.chars().count() > 64 {
        return Err(
            "Give the key a name of 1 to 64 characters, such as the application that uses it."
                .into(),
        );
    }
    if name.chars().any(char::is_control) {
        return Err("The name cannot contain control characters.".into());
    }
    Ok(())
}

async fn create(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    session: AppSession,
    Form(form): Form<NewKey>,
) -> Result<Response, AppError> {
    let name = form.name.trim().to_string();
    if let Err(e) = validate_name(&name) {
        return render_page(&state, &session, user, None, name, Some(e)).await;
    }
    let scope = match form.scope.trim() {
        "" => Some(api_keys::ApiScope::Read),
        s => api_keys::ApiScope::parse(s),
    };
    let Some(scope) = scope else {
        let msg = "Choose what the key may do: read, or read and change (admin).".to_string();
        return render_page(&state, &session, user, None, name, Some(msg)).await;
    };
    let key = format!("mp_{}", random_token(32));
    match api_keys::create_with_scope(&state.db, &name, &sha256_hex(key.as_bytes()), scope).await {
        Ok(()) => {}
        Err(e) if store::is_unique_violation(&e) => {
            let msg = format!("An API key named {name} already exists. Choose another name.");
            return render_page(&state, &session, user, None, name, Some(msg)).await;
        }
        Err(e) => return Err(e.into()),
    }
    tracing::info!(key = %name, scope = scope.as_str(), by = %user.username, "API key created");
    // Rendered, not redirected: the key must not pass through the session store.
    render_page(&state, &session, user, Some(key), String::new(), None).await
}

#[derive(Template)]
#[template(path = "settings/delete.html")]
struct DeletePage {
    layout: Layout,
    key: KeyView,
}

async fn load(state: &AppState, id: &str) -> Result<api_keys::ApiKey, AppError> {
    let id: i64 = id.parse().map_err(|_| AppError::NotFound)?;
    api_keys::get(&state.db, id)
        .await?
        .ok_or(AppError::NotFound)
}

async fn confirm_delete(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    session: AppSession,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let k = load(&state, &id).await?;
    let page = DeletePage {
        layout: Layout::new(&session, Some(user.username), "settings").await?,
        key: KeyView {
            id: k.id,
            name: k.name,
            scope: k.scope,
            created: TimeView::at(k.created_at),
            last_used: k.last_used_at.map(TimeView::at),
        },
    };
    Ok(render(&page)?.into_response())
}

async fn delete(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    session: AppSession,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let k = load(&state, &id).await?;
    api_keys::delete(&state.db, k.id).await?;
    tracing::info!(key = %k.name, by = %user.username, "API key revoked");
    session
        .flash(
            "ok",
            format!("API key {} revoked: it no longer opens the API.", k.name),
        )
        .await?;
    Ok(Redirect::to("/settings").into_response())
}
