//! Signing in and out, the first-run setup page, and the guards for private routes.

use std::net::SocketAddr;

use askama::Template;
use axum::extract::{ConnectInfo, Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;

use super::layout::Layout;
use super::session::AppSession;
use crate::app::AppState;
use crate::crypto::sha256_hex;
use crate::error::{AppError, render};
use crate::{passwords, store};

/// The signed-in administrator, put into request extensions by [`require_admin`].
#[derive(Clone, Debug)]
pub struct CurrentUser {
    pub id: i64,
    pub username: String,
}

pub fn public_router() -> Router<AppState> {
    Router::new()
        .route("/login", get(login_page).post(login))
        .route("/setup", get(setup_page).post(setup))
        .route("/healthz", get(super::health::healthz))
}

pub fn private_router() -> Router<AppState> {
    Router::new()
        .route("/logout", post(logout))
        .route("/", get(|| async { Redirect::to("/credentials") }))
}

/// Lets a request through only with a signed-in administrator; others go to the sign-in page.
pub async fn require_admin(
    State(state): State<AppState>,
    session: AppSession,
    mut request: Request,
    next: Next,
) -> Response {
    match current_user(&state, &session).await {
        Ok(Some(user)) => {
            request.extensions_mut().insert(user);
            next.run(request).await
        }
        Ok(None) => {
            let path = request
                .uri()
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/");
            let target = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("next", path)
                .finish();
            Redirect::to(&format!("/login?{target}")).into_response()
        }
        Err(e) => e.into_response(),
    }
}

pub async fn current_user(
    state: &AppState,
    session: &AppSession,
) -> Result<Option<CurrentUser>, AppError> {
    let Some(id) = session.user_id().await? else {
        return Ok(None);
    };
    Ok(store::users::find_by_id(&state.db, id)
        .await?
        .map(|u| CurrentUser {
            id: u.id,
            username: u.username,
        }))
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    layout: Layout,
    username: String,
    next: String,
    error: Option<String>,
}

#[derive(Deserialize)]
struct NextQuery {
    #[serde(default)]
    next: Option<String>,
}

/// Only local paths are followed after sign-in (no open redirect).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_string(),
        _ => "/credentials".to_string(),
    }
}

async fn login_page(
    State(state): State<AppState>,
    session: AppSession,
    Query(q): Query<NextQuery>,
) -> Result<Response, AppError> {
    if current_user(&state, &session).await?.is_some() {
        return Ok(Redirect::to(&safe_next(q.next.as_deref())).into_response());
    }
    let page = LoginPage {
        layout: Layout::new(&session, None, "").await?,
        username: String::new(),
        next: safe_next(q.next.as_deref()),
        error: None,
    };
    Ok(render(&page)?.into_response())
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: Option<String>,
}

async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    session: AppSession,
    Form(form): Form<LoginForm>,
) -> Result<Response, AppError> {
    let username = form.username.trim().to_string();
    let next = safe_next(form.next.as_deref());
    if let Err(wait) = state
        .login_limiter
        .begin_attempt(&username, Some(peer.ip()))
    {
        let minutes = wait.div_ceil(60);
        tracing::warn!(user = %username, addr = %peer.ip(), "sign-in refused: too many failures");
        let mut response = login_failed(
            &session,
            &form.username,
            &next,
            StatusCode::TOO_MANY_REQUESTS,
            format!("Too many failed sign-ins. Try again in {minutes} minute(s)."),
        )
        .await?;
        if let Ok(v) = wait.to_string().parse() {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, v);
        }
        return Ok(response);
    }
    let user = if username.is_empty() || username.len() > 64 {
        None
    } else {
        store::users::find_by_username(&state.db, &username).await?
    };
    let ok = passwords::verify(
        form.password.clone(),
        user.as_ref().map(|u| u.password_hash.clone()),
    )
    .await;
    match (ok, user) {
        (true, Some(user)) => {
            state
                .login_limiter
                .record_success(&username, Some(peer.ip()));
            session.sign_in(user.id).await?;
            tracing::info!(user = %user.username, "signed in");
            Ok(Redirect::to(&next).into_response())
        }
        _ => {
            // begin_attempt already counted this failure.
            login_failed(
                &session,
                &form.username,
                &next,
                StatusCode::UNAUTHORIZED,
                "The user name or password is wrong.".into(),
            )
            .await
        }
    }
}

async fn login_failed(
    session: &AppSession,
    username: &str,
    next: &str,
    status: StatusCode,
    message: String,
) -> Result<Response, AppError> {
    let page = LoginPage {
        layout: Layout::new(session, None, "").await?,
        username: username_for_page(username),
        next: next.to_string(),
        error: Some(message),
    };
    Ok((status, render(&page)?).into_response())
}

fn username_for_page(raw: &str) -> String {
    raw.chars().take(64).collect()
}

async fn logout(session: AppSession) -> Result<Response, AppError> {
    session.sign_out().await?;
    Ok(Redirect::to("/login").into_response())
}

#[derive(Template)]
#[template(path = "setup.html")]
struct SetupPage {
    layout: Layout,
    token: String,
    username: String,
    errors: Vec<String>,
}

#[derive(Deserialize)]
struct SetupQuery {
    #[serde(default)]
    token: String,
}

async fn valid_setup_token(state: &AppState, token: &str) -> Result<bool, AppError> {
    if token.is_empty() || token.len() > 128 {
        return Ok(false);
    }
    Ok(store::users::count(&state.db).await? == 0
        && store::setup::token_exists(&state.db, &sha256_hex(token.as_bytes())).await?)
}

const SETUP_INVALID: &str = "This setup link is not valid: it was already used, or an \
    administrator already exists. Restart Mailport to print a new link while no administrator \
    exists, or use `mailport user add`.";

async fn setup_page(
    State(state): State<AppState>,
    session: AppSession,
    Query(q): Query<SetupQuery>,
) -> Result<Response, AppError> {
    if !valid_setup_token(&state, &q.token).await? {
        return Err(AppError::Forbidden(SETUP_INVALID.into()));
    }
    let page = SetupPage {
        layout: Layout::new(&session, None, "").await?,
        token: q.token,
        username: String::new(),
        errors: Vec::new(),
    };
    Ok(render(&page)?.into_response())
}

#[derive(Deserialize)]
struct SetupForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password_confirm: String,
}

/// 1 to 64 visible characters, no spaces.
pub fn validate_username(name: &str) -> Result<(), String> {
    if name.is_empty() || name.chars().count() > 64 {
        return Err("Use 1 to 64 characters.".into());
    }
    if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("Spaces and control characters are not allowed.".into());
    }
    Ok(())
}

async fn setup(
    State(state): State<AppState>,
    session: AppSession,
    Form(form): Form<SetupForm>,
) -> Result<Response, AppError> {
    if !valid_setup_token(&state, &form.token).await? {
        return Err(AppError::Forbidden(SETUP_INVALID.into()));
    }
    let username = form.username.trim().to_string();
    let mut errors = Vec::new();
    if let Err(e) = validate_username(&username) {
        errors.push(format!("User name: {e}"));
    }
    if let Err(e) = passwords::validate(&form.password) {
        errors.push(format!("Password: {e}"));
    } else if form.password != form.password_confirm {
        errors.push("The two passwords differ.".into());
    }
    if !errors.is_empty() {
        let page = SetupPage {
            layout: Layout::new(&session, None, "").await?,
            token: form.token,
            username: username_for_page(&username),
            errors,
        };
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
    }
    let hash = passwords::hash(form.password).await?;
    let created = store::setup::consume_and_create_user(
        &state.db,
        &sha256_hex(form.token.as_bytes()),
        &username,
        &hash,
    )
    .await?;
    let Some(user_id) = created else {
        return Err(AppError::Forbidden(SETUP_INVALID.into()));
    };
    tracing::info!(user = %username, "created the first administrator");
    session.sign_in(user_id).await?;
    session
        .flash(
            "ok",
            format!("Welcome, {username}. Create your first credential."),
        )
        .await?;
    Ok(Redirect::to("/credentials").into_response())
}
