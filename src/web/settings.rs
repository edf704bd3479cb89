//! The Settings screen: API keys for `/api/v1` (a new key is shown once, in the answer to
//! the POST that made it; only its hash is stored, as with `mailport apikey create`), the
//! administrator's password, and the administrator's active sessions with "Sign out all
//! other sessions" (OWASP ASVS 4.0.3, 2.1 and 3.3).

use askama::Template;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;

use super::auth::{CurrentUser, client_of};
use super::layout::{Frame, Layout, Nav};
use super::login_limit::LoginLimiter;
use super::page::html_page;
use super::session::{AppSession, FlashKind};
use super::state::WebState;
use super::views::TimeView;
use crate::crypto::{random_token, sha256_hex};
use crate::error::AppError;
use crate::passwords;
use crate::state::AppState;
use crate::store::{Taken, UniqueViolationExt, api_keys, sessions, users};

pub fn router() -> Router<WebState> {
    Router::new()
        .route("/settings", get(page))
        .route("/settings/password", post(change_password))
        .route("/settings/sessions/sign-out-others", post(sign_out_others))
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

/// One of the administrator's sessions, as the list shows it.
pub struct SessionView {
    pub created: TimeView,
    pub last_seen: TimeView,
    pub address: String,
    pub user_agent: String,
    /// The session this page is shown in.
    pub current: bool,
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
    sessions: Vec<SessionView>,
    /// Errors of the password form, by field.
    password_errors: Vec<(&'static str, String)>,
}

impl SettingsPage {
    fn password_error(&self, field: &str) -> Option<&str> {
        self.password_errors
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, e)| e.as_str())
    }
}

async fn session_views(
    state: &AppState,
    session: &AppSession,
    user: &CurrentUser,
) -> Result<Vec<SessionView>, AppError> {
    let current = session.id_hash();
    Ok(sessions::list_for_user(&state.db, user.id)
        .await?
        .into_iter()
        .map(|s| SessionView {
            current: current.as_deref() == Some(s.id_hash.as_str()),
            created: TimeView::at(s.created_at),
            last_seen: TimeView::at(s.last_seen_at),
            address: s.address,
            user_agent: s.user_agent,
        })
        .collect())
}

/// The Settings page: `new_key` shown once, the key form's `name` and `error`, and the
/// password form's errors.
async fn render_page(
    state: &AppState,
    frame: &Frame,
    new_key: Option<String>,
    name: String,
    error: Option<String>,
    password_errors: Vec<(&'static str, String)>,
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
    let status = if error.is_some() || !password_errors.is_empty() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let sessions = session_views(state, &frame.session, &frame.user).await?;
    let page = SettingsPage {
        layout: frame.layout(Nav::Settings).await?,
        keys,
        new_key,
        name,
        error,
        sessions,
        password_errors,
    };
    Ok((status, page).into_response())
}

async fn page(State(state): State<AppState>, frame: Frame) -> Result<Response, AppError> {
    render_page(&state, &frame, None, String::new(), None, Vec::new()).await
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
    frame: Frame,
    Form(form): Form<NewKey>,
) -> Result<Response, AppError> {
    let name = form.name.trim().to_string();
    if let Err(e) = validate_name(&name) {
        return render_page(&state, &frame, None, name, Some(e), Vec::new()).await;
    }
    let scope = match form.scope.trim() {
        "" => Some(api_keys::ApiScope::Read),
        s => api_keys::ApiScope::parse(s),
    };
    let Some(scope) = scope else {
        let msg = "Choose what the key may do: read, or read and change (admin).".to_string();
        return render_page(&state, &frame, None, name, Some(msg), Vec::new()).await;
    };
    let key = format!("mp_{}", random_token(32));
    let hash = sha256_hex(key.as_bytes());
    if let Err(Taken) = api_keys::create_with_scope(&state.db, &name, &hash, scope)
        .await
        .on_unique_violation()?
    {
        let msg = format!("An API key named {name} already exists. Choose another name.");
        return render_page(&state, &frame, None, name, Some(msg), Vec::new()).await;
    }
    tracing::info!(key = ?name, scope = scope.as_str(), by = %frame.user.username, "API key created");
    // Rendered, not redirected: the key must not pass through the session store.
    render_page(&state, &frame, Some(key), String::new(), None, Vec::new()).await
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
    frame: Frame,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let k = load(&state, &id).await?;
    let page = DeletePage {
        layout: frame.layout(Nav::Settings).await?,
        key: KeyView {
            id: k.id,
            name: k.name,
            scope: k.scope,
            created: TimeView::at(k.created_at),
            last_used: k.last_used_at.map(TimeView::at),
        },
    };
    Ok(page.into_response())
}

async fn delete(
    State(state): State<AppState>,
    frame: Frame,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let k = load(&state, &id).await?;
    api_keys::delete(&state.db, k.id).await?;
    tracing::info!(key = ?k.name, by = %frame.user.username, "API key revoked");
    frame
        .session
        .flash(
            FlashKind::Ok,
            format!("API key {} revoked: it no longer opens the API.", k.name),
        )
        .await?;
    Ok(Redirect::to("/settings").into_response())
}

#[derive(Deserialize)]
struct PasswordForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password_confirm: String,
}

/// Changes the administrator's password: needs the current one (counted like a sign-in, so
/// a stolen session cannot guess it faster), and the rules of the setup page. Every other
/// session of the user ends; this one continues under a new id.
async fn change_password(
    State(state): State<AppState>,
    State(limiter): State<LoginLimiter>,
    frame: Frame,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<PasswordForm>,
) -> Result<Response, AppError> {
    let Some(stored) = users::find_by_id(&state.db, frame.user.id).await? else {
        return Err(AppError::NotFound);
    };
    let mut errors: Vec<(&'static str, String)> = Vec::new();
    if let Err(e) = passwords::validate(&form.password) {
        errors.push(("password", e));
    } else if form.password != form.password_confirm {
        errors.push(("password_confirm", "The two new passwords differ.".into()));
    }
    match limiter
        .begin_attempt(&stored.username, peer.ip(), Some(stored.session_generation))
        .await?
    {
        Err(wait) => {
            return Err(AppError::TooManyRequests {
                message: format!(
                    "Too many wrong passwords from this address. Try again in {} minute(s).",
                    wait.div_ceil(60)
                ),
                retry_after: wait,
            });
        }
        Ok(delay) if !delay.is_zero() => tokio::time::sleep(delay).await,
        Ok(_) => {}
    }
    let current_ok =
        passwords::verify(form.current_password, Some(stored.password_hash.clone())).await;
    if current_ok {
        limiter.record_success(&stored.username, peer.ip()).await?;
    } else {
        tracing::info!(user = ?stored.username, addr = %peer.ip(), "password change refused: wrong current password");
        errors.insert(
            0,
            (
                "current_password",
                "This is not your current password.".into(),
            ),
        );
    }
    if !errors.is_empty() {
        return render_page(&state, &frame, None, String::new(), None, errors).await;
    }
    let hash = passwords::hash(form.password).await?;
    let generation = users::change_password(&state.db, frame.user.id, &hash).await?;
    // Every session of the user is gone now; this one signs in again under a new id.
    frame
        .session
        .sign_in(frame.user.id, generation, &client_of(peer, &headers))
        .await?;
    tracing::info!(user = ?frame.user.username, "password changed; every other session signed out");
    frame
        .session
        .flash(
            FlashKind::Ok,
            "Password changed. Every other session of yours was signed out.",
        )
        .await?;
    Ok(Redirect::to("/settings").into_response())
}

/// "Sign out all other sessions": ends every session of the administrator but this one.
async fn sign_out_others(
    State(state): State<AppState>,
    frame: Frame,
) -> Result<Response, AppError> {
    let keep = frame.session.id_hash().unwrap_or_default();
    let ended = sessions::delete_others(&state.db, frame.user.id, &keep).await?;
    tracing::info!(user = ?frame.user.username, ended, "signed out the other sessions");
    let text = match ended {
        0 => "There were no other sessions.".to_string(),
        1 => "Signed out 1 other session.".to_string(),
        n => format!("Signed out {n} other sessions."),
    };
    frame.session.flash(FlashKind::Ok, text).await?;
    Ok(Redirect::to("/settings").into_response())
}

html_page!(SettingsPage, DeletePage);
