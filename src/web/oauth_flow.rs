//! The key button and `/OAuth2Callback`: getting a token for a credential.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::auth::current_user;
use super::layout::Frame;
use super::session::{AppSession, FlashKind};
use super::state::WebState;
use super::views::duration_words;
use crate::crypto::random_token;
use crate::error::AppError;
use crate::oauth::TokenFailure;
use crate::oauth::client::authorize_redirect;
use crate::oauth::credential::{GrantType, RecordedError};
use crate::oauth::error::parse_aadsts;
use crate::state::AppState;
use crate::store::credentials;

/// The callback is reachable without the admin guard: it checks the session itself, so a
/// stray or forged callback gets an explanation instead of a sign-in page.
pub fn public_router() -> Router<WebState> {
    Router::new().route("/OAuth2Callback", get(callback))
}

pub fn private_router() -> Router<WebState> {
    Router::new().route("/credentials/{id}/token", post(key_button))
}

/// OpenID scopes added to every sign-in so that the page can say who signed in. They do
/// not change what the token may do.
const OIDC_SCOPES: [&str; 2] = ["openid", "profile"];

fn sign_in_scope(scope: &str) -> String {
    let mut parts: Vec<&str> = scope.split_whitespace().collect();
    for s in OIDC_SCOPES {
        if !parts.contains(&s) {
            parts.push(s);
        }
    }
    parts.join(" ")
}

async fn key_button(
    State(state): State<AppState>,
    frame: Frame,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let cred = credentials::get(&state.db, &id)
        .await?
        .ok_or(AppError::NotFound)?;
    let detail = format!("/credentials/{}", cred.id);
    match cred.grant_type() {
        GrantType::AuthorizationCode => {
            let cfg = match state.tokens.client_config(&cred) {
                Ok(cfg) => cfg,
                Err(e) => {
                    frame.session.flash(FlashKind::Error, e.to_string()).await?;
                    return Ok(Redirect::to(&detail).into_response());
                }
            };
            let oauth_state = random_token(32);
            let (url, verifier) = match authorize_redirect(
                state.tokens.hosts(),
                &cfg,
                &cred.authorization_url,
                &sign_in_scope(&cred.scope),
                &oauth_state,
            ) {
                Ok(ok) => ok,
                Err(e) => {
                    frame.session.flash(FlashKind::Error, e.to_string()).await?;
                    return Ok(Redirect::to(&detail).into_response());
                }
            };
            frame
                .session
                .start_auth(&cred.id, oauth_state, &verifier)
                .await?;
            tracing::info!(credential = %cred.id, by = %frame.user.username, "redirecting to sign-in");
            Ok(Redirect::to(url.as_str()).into_response())
        }
        GrantType::ClientCredentials => {
            match state.tokens.fetch_client_credentials(&cred.id).await {
                Ok(()) => {
                    resume_accounts(&state, &cred.id).await?;
                    let fresh = credentials::get(&state.db, &cred.id).await?;
                    frame
                        .session
                        .flash(
                            FlashKind::Ok,
                            format!("Got an access token{}.", valid_for(fresh.as_ref())),
                        )
                        .await?;
                }
                Err(e) => flash_failure(&frame.session, &e).await?,
            }
            Ok(Redirect::to(&detail).into_response())
        }
    }
}

/// ", valid for 60 minutes": a flash cannot hold a `<time>`, so it says how long instead.
fn valid_for(cred: Option<&credentials::Credential>) -> String {
    cred.and_then(|c| c.expires_at)
        .map(|t| format!(", valid for {}", duration_words(t - crate::store::now())))
        .unwrap_or_default()
}

/// A credential got a working token: accounts that waited for it are ready, and run now.
async fn resume_accounts(state: &AppState, credential_id: &str) -> Result<(), AppError> {
    state.importer.resume_accounts(credential_id).await?;
    Ok(())
}

async fn flash_failure(session: &AppSession, e: &TokenFailure) -> Result<(), AppError> {
    let r = e.recorded();
    let text = match (&r.code, &r.trace_id) {
        (Some(code), Some(trace)) if !r.description.starts_with(code.as_str()) => {
            format!("{code}: {} (trace id {trace})", r.description)
        }
        (_, Some(trace)) => format!("{} (trace id {trace})", r.description),
        _ => r.description.clone(),
    };
    session
        .flash(FlashKind::Error, format!("No token was stored. {text}"))
        .await
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
    error_uri: Option<String>,
}

async fn callback(
    State(state): State<AppState>,
    session: AppSession,
    Query(q): Query<CallbackQuery>,
) -> Result<Response, AppError> {
    if current_user(&state, &session).await?.is_none() {
        return Err(AppError::BadRequest(
            "This sign-in response does not belong to a Mailport session (you are not signed \
             in, or your session expired). Nothing was stored. Sign in to Mailport and press \
             the key button again."
                .into(),
        ));
    }
    let Some(oauth_state) = q
        .state
        .as_deref()
        .filter(|s| !s.is_empty() && s.len() <= 256)
    else {
        return Err(AppError::BadRequest(
            "The sign-in response has no state parameter, so it cannot be matched to a key \
             button press. Nothing was stored."
                .into(),
        ));
    };
    let Some(pending) = session.take_auth(oauth_state).await? else {
        return Err(AppError::BadRequest(
            "This sign-in response is unknown, expired (after 10 minutes) or was already used, \
             or it was started in another browser session. Nothing was stored. Press the key \
             button again."
                .into(),
        ));
    };
    let detail = format!("/credentials/{}", pending.credential_id);
    if credentials::get(&state.db, &pending.credential_id)
        .await?
        .is_none()
    {
        return Err(AppError::NotFound);
    }
    if let Some(error) = q.error.as_deref() {
        let description = q
            .error_description
            .as_deref()
            .map(|d| d.lines().next().unwrap_or("").trim().to_string())
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| error.to_string());
        let trace_id = q.error_description.as_deref().and_then(|d| {
            d.lines()
                .find_map(|l| l.trim().strip_prefix("Trace ID:"))
                .map(|s| s.trim().chars().take(64).collect())
        });
        let code = q
            .error_description
            .as_deref()
            .and_then(parse_aadsts)
            .map(|n| format!("AADSTS{n}"))
            .unwrap_or_else(|| error.chars().take(64).collect());
        let recorded = RecordedError {
            code: Some(code),
            description: description.chars().take(1000).collect(),
            trace_id,
        };
        // Debug formatting: the callback's parameters come from outside and stay on one line.
        tracing::warn!(credential = %pending.credential_id, error = ?error, uri = ?q.error_uri, "sign-in failed");
        credentials::record_error(&state.db, &pending.credential_id, None, &recorded).await?;
        session
            .flash(
                FlashKind::Error,
                format!(
                    "The sign-in did not complete ({error}): {}",
                    recorded.description
                ),
            )
            .await?;
        return Ok(Redirect::to(&detail).into_response());
    }
    let Some(code) = q
        .code
        .as_deref()
        .filter(|c| !c.is_empty() && c.len() <= 4096)
    else {
        return Err(AppError::BadRequest(
            "The sign-in response carries neither a code nor an error. Nothing was stored.".into(),
        ));
    };
    match state
        .tokens
        .redeem_code(&pending.credential_id, code, &pending.verifier())
        .await
    {
        Ok(()) => {
            resume_accounts(&state, &pending.credential_id).await?;
            let cred = credentials::get(&state.db, &pending.credential_id).await?;
            let who = cred
                .as_ref()
                .and_then(|c| c.account_username.clone().or(c.account_name.clone()))
                .unwrap_or_else(|| "an unnamed account".into());
            session
                .flash(
                    FlashKind::Ok,
                    format!(
                        "Signed in as {who}; got an access token{}.",
                        valid_for(cred.as_ref())
                    ),
                )
                .await?;
        }
        Err(e) => flash_failure(&session, &e).await?,
    }
    Ok(Redirect::to(&detail).into_response())
}
