//! Signing in and out, the first-run setup page, and the guards for private routes.

use std::net::SocketAddr;

use askama::Template;
use axum::extract::{ConnectInfo, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;

use super::form_token;
use super::layout::Layout;
use super::login_limit::LoginLimiter;
use super::redirect::local_target;
use super::session::{AppSession, Client, FlashKind};
use super::state::WebState;
use crate::crypto::sha256_hex;
use crate::error::{AppError, render};
use crate::state::AppState;
use crate::{passwords, store};

pub use super::session::CurrentUser;

pub fn public_router() -> Router<WebState> {
    Router::new()
        .route("/login", get(login_page).post(login))
        .route("/setup", get(setup_page).post(setup))
        .route("/healthz", get(super::health::healthz))
}

pub fn private_router() -> Router<WebState> {
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

/// The signed-in administrator of this session, or None. A session whose user is gone,
/// whose password changed since (another session generation), or that is older than the
/// absolute lifetime is ended here, on its next request. A live session's last use is noted
/// (at most once a minute) for the sessions list.
pub async fn current_user(
    state: &AppState,
    session: &AppSession,
) -> Result<Option<CurrentUser>, AppError> {
    let Some(owner) = session.owner().await? else {
        return Ok(None);
    };
    let user = store::users::find_by_id(&state.db, owner.user_id).await?;
    let lifetime = state.config.sessions.lifetime.as_secs() as i64;
    let user = user.filter(|u| {
        u.session_generation == owner.generation
            && store::now() < owner.signed_in_at.saturating_add(lifetime)
    });
    let Some(user) = user else {
        session.sign_out().await?;
        return Ok(None);
    };
    if let Some(hash) = session.id_hash() {
        state
            .session_store
            .touch(&hash, state.config.sessions.idle)
            .await?;
    }
    Ok(Some(CurrentUser {
        id: user.id,
        username: user.username,
    }))
}

/// Where a sign-in came from, for the sessions list.
pub fn client_of(peer: SocketAddr, headers: &HeaderMap) -> Client {
    Client {
        address: peer.ip().to_string(),
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .chars()
            .filter(|c| !c.is_control())
            .take(256)
            .collect(),
    }
}

/// The layout of a page shown before sign-in, with its signed form token; the response
/// must carry `cookie` when it is Some.
fn anonymous_layout(state: &AppState, headers: &HeaderMap) -> (Layout, Option<HeaderValue>) {
    let (token, cookie) = form_token::issue(&state.key, headers, state.config.secure_cookies());
    (Layout::anonymous(token, state.config.demo), cookie)
}

/// A page with the form token's cookie, when a new one was issued.
fn with_cookie(mut response: Response, cookie: Option<HeaderValue>) -> Response {
    if let Some(cookie) = cookie {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    layout: Layout,
    username: String,
    next: String,
    error: Option<String>,
}

/// Where sign-in leads: the home screen, or a `next` that [`local_target`] accepts (a
/// refused one leads to `/`).
fn after_sign_in(next: Option<&str>) -> String {
    match next {
        None | Some("") => "/credentials".into(),
        Some(raw) => local_target(Some(raw)),
    }
}

#[derive(Deserialize)]
struct NextQuery {
    #[serde(default)]
    next: Option<String>,
}

async fn login_page(
    State(state): State<AppState>,
    session: AppSession,
    headers: HeaderMap,
    Query(q): Query<NextQuery>,
) -> Result<Response, AppError> {
    if current_user(&state, &session).await?.is_some() {
        return Ok(Redirect::to(&after_sign_in(q.next.as_deref())).into_response());
    }
    let (layout, cookie) = anonymous_layout(&state, &headers);
    let page = LoginPage {
        layout,
        username: String::new(),
        next: after_sign_in(q.next.as_deref()),
        error: None,
    };
    Ok(with_cookie(render(&page)?.into_response(), cookie))
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
    State(limiter): State<LoginLimiter>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    session: AppSession,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Result<Response, AppError> {
    let username = form.username.trim().to_string();
    let next = after_sign_in(form.next.as_deref());
    let user = if username.is_empty() || username.len() > 64 {
        None
    } else {
        store::users::find_by_username(&state.db, &username).await?
    };
    let generation = user.as_ref().map(|u| u.session_generation);
    let delay = match limiter
        .begin_attempt(&username, peer.ip(), generation)
        .await?
    {
        Ok(delay) => delay,
        Err(wait) => {
            let minutes = wait.div_ceil(60);
            // Debug formatting: whatever the visitor typed stays on one log line.
            tracing::warn!(user = ?username, addr = %peer.ip(), "sign-in refused: too many failures");
            let mut response = login_failed(
                &state,
                &headers,
                &form.username,
                &next,
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "Too many failed sign-ins from this address. Try again in {minutes} minute(s), \
                     from another address, or reset the password with `mailport user add`."
                ),
            )
            .await?;
            if let Ok(v) = wait.to_string().parse() {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return Ok(response);
        }
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let ok = passwords::verify(
        form.password.clone(),
        user.as_ref().map(|u| u.password_hash.clone()),
    )
    .await;
    match (ok, user) {
        (true, Some(user)) => {
            limiter.record_success(&username, peer.ip()).await?;
            session
                .sign_in(user.id, user.session_generation, &client_of(peer, &headers))
                .await?;
            tracing::info!(user = ?user.username, addr = %peer.ip(), "signed in");
            Ok(Redirect::to(&next).into_response())
        }
        _ => {
            // begin_attempt already counted this failure.
            tracing::info!(user = ?username, addr = %peer.ip(), "sign-in refused: wrong user name or password");
            login_failed(
                &state,
                &headers,
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
    state: &AppState,
    headers: &HeaderMap,
    username: &str,
    next: &str,
    status: StatusCode,
    message: String,
) -> Result<Response, AppError> {
    let (layout, cookie) = anonymous_layout(state, headers);
    let page = LoginPage {
        layout,
        username: username_for_page(username),
        next: next.to_string(),
        error: Some(message),
    };
    Ok(with_cookie(
        (status, render(&page)?).into_response(),
        cookie,
    ))
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
    headers: HeaderMap,
    Query(q): Query<SetupQuery>,
) -> Result<Response, AppError> {
    if !valid_setup_token(&state, &q.token).await? {
        return Err(AppError::Forbidden(SETUP_INVALID.into()));
    }
    let (layout, cookie) = anonymous_layout(&state, &headers);
    let page = SetupPage {
        layout,
        token: q.token,
        username: String::new(),
        errors: Vec::new(),
    };
    Ok(with_cookie(render(&page)?.into_response(), cookie))
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

async fn setup(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    session: AppSession,
    headers: HeaderMap,
    Form(form): Form<SetupForm>,
) -> Result<Response, AppError> {
    if !valid_setup_token(&state, &form.token).await? {
        return Err(AppError::Forbidden(SETUP_INVALID.into()));
    }
    let username = form.username.trim().to_string();
    let mut errors = Vec::new();
    if let Err(e) = passwords::validate_username(&username) {
        errors.push(format!("User name: {e}"));
    }
    if let Err(e) = passwords::validate(&form.password) {
        errors.push(format!("Password: {e}"));
    } else if form.password != form.password_confirm {
        errors.push("The two passwords differ.".into());
    }
    if !errors.is_empty() {
        let (layout, cookie) = anonymous_layout(&state, &headers);
        let page = SetupPage {
            layout,
            token: form.token,
            username: username_for_page(&username),
            errors,
        };
        let response = (StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response();
        return Ok(with_cookie(response, cookie));
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
    tracing::info!(user = ?username, "created the first administrator");
    session
        .sign_in(user_id, 0, &client_of(peer, &headers))
        .await?;
    session
        .flash(
            FlashKind::Ok,
            format!("Welcome, {username}. Create your first credential."),
        )
        .await?;
    Ok(Redirect::to("/credentials").into_response())
}
