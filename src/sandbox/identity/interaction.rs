//! The interactive part of authorize: the sign-in page, the account picker, the consent page,
//! and the browser's sign-in session cookie that makes the picker (and `prompt=none`) work.
//!
//! The pending request stays server-side; the forms carry only its opaque id, so a posted
//! form cannot change the client, redirect URI or scopes.

use std::time::{Duration, SystemTime};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use uuid::Uuid;

use super::authorize::{Params, ReplyTo, answer_app, error_redirect};
use super::errors::{AadError, Diagnostics};
use super::pages::{self, ConsentPage, PickerAccount, SignInPage};
use super::state::{AuthorizationCode, PendingAuthorize, Prompt};
use super::{app_name, find_app, random_token, tenant_name};
use crate::sandbox::world::{UserConfig, World};

/// The sign-in session cookie. Cookies ignore ports, so the name must not collide with the
/// cookies of a Mailport server on the same loopback host.
const SSO_COOKIE: &str = "mailport_sandbox_sso";

/// Decides what the browser sees next for a pending request.
pub fn next_step(
    world: &World,
    pending_id: &str,
    headers: &HeaderMap,
    diag: &Diagnostics,
) -> Response {
    let Some(pending) = pending(world, pending_id) else {
        return pages::error_page(&AadError::sign_in_expired(), diag);
    };
    if let Some(user_id) = pending.signed_in_user.clone() {
        return after_sign_in(world, pending_id, &pending, &user_id, diag);
    }
    let accounts = session_accounts(world, headers, &pending.tenant_id);
    let hinted = pending.login_hint.as_deref().and_then(|hint| {
        accounts.iter().find(|u| {
            u.user_principal_name.eq_ignore_ascii_case(hint)
                || u.mail
                    .as_deref()
                    .is_some_and(|m| m.eq_ignore_ascii_case(hint))
        })
    });
    match pending.prompt {
        Some(Prompt::None) => {
            let only = if accounts.len() == 1 {
                accounts.first()
            } else {
                None
            };
            match hinted.or(only) {
                Some(user) => {
                    set_user(world, pending_id, &user.id);
                    after_sign_in(world, pending_id, &pending, &user.id, diag)
                }
                None => {
                    let error = if accounts.is_empty() {
                        AadError::login_required()
                    } else {
                        AadError::select_account_required()
                    };
                    finish_with_error(world, pending_id, &pending, &error, diag)
                }
            }
        }
        Some(Prompt::Login) => sign_in_form(world, pending_id, &pending, None),
        Some(Prompt::SelectAccount) => picker(pending_id, &pending, &accounts),
        Some(Prompt::Consent) | None => match hinted {
            Some(user) => {
                set_user(world, pending_id, &user.id);
                after_sign_in(world, pending_id, &pending, &user.id, diag)
            }
            None if accounts.is_empty() => sign_in_form(world, pending_id, &pending, None),
            None => picker(pending_id, &pending, &accounts),
        },
    }
}

/// `POST /{tenant}/oauth2/v2.0/signin`: the password form, the picker and "Use another account".
pub async fn sign_in(
    State(world): State<World>,
    Path(_tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let diag = Diagnostics::from_headers(&headers);
    let form = Params::from_bytes(&body);
    let pending_id = form.get("pending").unwrap_or_default().to_owned();
    let Some(pending) = pending(&world, &pending_id) else {
        return pages::error_page(&AadError::sign_in_expired(), &diag);
    };
    match form.get("action").unwrap_or("password") {
        "another" => sign_in_form(&world, &pending_id, &pending, None),
        "pick" => {
            let accounts = session_accounts(&world, &headers, &pending.tenant_id);
            let chosen = form
                .get("account")
                .and_then(|id| accounts.iter().find(|u| u.id == id));
            match chosen {
                Some(user) => {
                    set_user(&world, &pending_id, &user.id);
                    next_step(&world, &pending_id, &headers, &diag)
                }
                // The picked account is not signed in here (any more): ask for the password.
                None => sign_in_form(&world, &pending_id, &pending, None),
            }
        }
        _ => password(&world, &pending_id, &pending, &form, &headers, &diag),
    }
}

fn password(
    world: &World,
    pending_id: &str,
    pending: &PendingAuthorize,
    form: &Params,
    headers: &HeaderMap,
    diag: &Diagnostics,
) -> Response {
    let login = form.get("login").unwrap_or_default().trim();
    let tenant = world.find_tenant(&pending.tenant_id);
    let tenant_label = tenant
        .as_ref()
        .map_or(pending.tenant_id.as_str(), tenant_name);
    let user = if login.is_empty() {
        None
    } else {
        world.find_user(&pending.tenant_id, login)
    };
    let Some(user) = user else {
        let error = AadError::unknown_user(login, tenant_label);
        return sign_in_form(world, pending_id, pending, Some((&error, diag, login)));
    };
    if form.get("passwd").unwrap_or_default() != user.password {
        let error = AadError::wrong_password();
        return sign_in_form(world, pending_id, pending, Some((&error, diag, login)));
    }
    let session = remember_account(world, headers, &pending.tenant_id, &user.id);
    set_user(world, pending_id, &user.id);
    let mut response = next_step(world, pending_id, headers, diag);
    let cookie = format!("{SSO_COOKIE}={session}; Path=/; HttpOnly; SameSite=Lax");
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// `POST /{tenant}/oauth2/v2.0/consent`: Accept or Cancel.
pub async fn consent(
    State(world): State<World>,
    Path(_tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let diag = Diagnostics::from_headers(&headers);
    let form = Params::from_bytes(&body);
    let pending_id = form.get("pending").unwrap_or_default().to_owned();
    let Some(pending) = pending(&world, &pending_id) else {
        return pages::error_page(&AadError::sign_in_expired(), &diag);
    };
    let Some(user_id) = pending.signed_in_user.clone() else {
        // Consent before sign-in: the form was forged or replayed; start at sign-in.
        return next_step(&world, &pending_id, &headers, &diag);
    };
    if form.get("consent") == Some("accept") {
        world.lock().identity.record_consent(
            &pending.tenant_id,
            &pending.client_id,
            &user_id,
            &pending.scopes.all(),
        );
        issue_code(&world, &pending_id, &pending, &user_id, &diag)
    } else {
        finish_with_error(
            &world,
            &pending_id,
            &pending,
            &AadError::consent_declined(),
            &diag,
        )
    }
}

/// The user is known: ask for consent if needed, else answer the app with a code.
fn after_sign_in(
    world: &World,
    pending_id: &str,
    pending: &PendingAuthorize,
    user_id: &str,
    diag: &Diagnostics,
) -> Response {
    let consented =
        world
            .lock()
            .identity
            .consented_scopes(&pending.tenant_id, &pending.client_id, user_id);
    let missing = pending
        .scopes
        .all()
        .into_iter()
        .any(|s| !consented.iter().any(|c| c.eq_ignore_ascii_case(&s)));
    let must_ask = missing || pending.prompt == Some(Prompt::Consent);
    if !must_ask {
        return issue_code(world, pending_id, pending, user_id, diag);
    }
    let app = world
        .find_tenant(&pending.tenant_id)
        .and_then(|t| find_app(&t, &pending.client_id).cloned());
    let name = app
        .as_ref()
        .map_or(pending.client_id.as_str(), app_name)
        .to_owned();
    if pending.prompt == Some(Prompt::None) {
        let error = AadError::consent_required(&pending.client_id, &name);
        return finish_with_error(world, pending_id, pending, &error, diag);
    }
    let user = world
        .find_user(&pending.tenant_id, user_id)
        .map(|u| u.user_principal_name)
        .unwrap_or_default();
    let permissions: Vec<String> = pending.scopes.all().iter().map(|s| describe(s)).collect();
    pages::consent_page(&ConsentPage {
        action: &action(pending, "consent"),
        pending_id,
        app_name: &name,
        user: &user,
        permissions: &permissions,
    })
}

fn issue_code(
    world: &World,
    pending_id: &str,
    pending: &PendingAuthorize,
    user_id: &str,
    diag: &Diagnostics,
) -> Response {
    // Real codes start with a version marker and are long; clients must not parse them.
    let code = format!("1.A{}", random_token(96));
    {
        let mut state = world.lock();
        let lifetime = Duration::from_secs(state.config.code_lifetime_secs);
        state.identity.pending.remove(pending_id);
        state.identity.codes.insert(
            code.clone(),
            AuthorizationCode {
                tenant_id: pending.tenant_id.clone(),
                client_id: pending.client_id.clone(),
                user_id: user_id.to_owned(),
                redirect_uri: pending.redirect_uri.clone(),
                scopes: pending.scopes.clone(),
                code_challenge: pending.code_challenge.clone(),
                nonce: pending.nonce.clone(),
                expires_at: SystemTime::now() + lifetime,
                redeemed: false,
            },
        );
    }
    let mut params = vec![("code", code)];
    if let Some(state) = &pending.state {
        params.push(("state", state.clone()));
    }
    params.push(("session_state", Uuid::new_v4().to_string()));
    answer_app(&ReplyTo::of(pending), &params, diag)
}

fn finish_with_error(
    world: &World,
    pending_id: &str,
    pending: &PendingAuthorize,
    error: &AadError,
    diag: &Diagnostics,
) -> Response {
    world.lock().identity.pending.remove(pending_id);
    error_redirect(&ReplyTo::of(pending), error, diag)
}

fn sign_in_form(
    world: &World,
    pending_id: &str,
    pending: &PendingAuthorize,
    error: Option<(&AadError, &Diagnostics, &str)>,
) -> Response {
    let name = world
        .find_tenant(&pending.tenant_id)
        .and_then(|t| find_app(&t, &pending.client_id).map(|a| app_name(a).to_owned()))
        .unwrap_or_else(|| pending.client_id.clone());
    let login = error
        .map(|(_, _, login)| login)
        .or(pending.login_hint.as_deref())
        .unwrap_or_default();
    pages::sign_in_page(&SignInPage {
        action: &action(pending, "signin"),
        pending_id,
        app_name: &name,
        login,
        error: error.map(|(e, d, _)| (e, d)),
    })
}

fn picker(pending_id: &str, pending: &PendingAuthorize, accounts: &[UserConfig]) -> Response {
    let accounts: Vec<PickerAccount> = accounts
        .iter()
        .rev()
        .map(|u| PickerAccount {
            user_id: u.id.clone(),
            upn: u.user_principal_name.clone(),
            display_name: u.display_name.clone(),
        })
        .collect();
    pages::account_picker(&action(pending, "signin"), pending_id, &accounts)
}

/// The form target, under the resolved tenant so the pages work for `common` too.
fn action(pending: &PendingAuthorize, step: &str) -> String {
    format!("/{}/oauth2/v2.0/{step}", pending.tenant_id)
}

fn pending(world: &World, pending_id: &str) -> Option<PendingAuthorize> {
    world.lock().identity.pending.get(pending_id).cloned()
}

fn set_user(world: &World, pending_id: &str, user_id: &str) {
    if let Some(p) = world.lock().identity.pending.get_mut(pending_id) {
        p.signed_in_user = Some(user_id.to_owned());
    }
}

fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SSO_COOKIE)
        .map(|(_, value)| value.to_owned())
}

/// The users of `tenant_id` signed in to this browser, oldest first.
fn session_accounts(world: &World, headers: &HeaderMap, tenant_id: &str) -> Vec<UserConfig> {
    let Some(id) = session_cookie(headers) else {
        return Vec::new();
    };
    let accounts = match world.lock().identity.sessions.get(&id) {
        Some(session) => session.accounts.clone(),
        None => return Vec::new(),
    };
    accounts
        .iter()
        .filter(|(tid, _)| tid == tenant_id)
        .filter_map(|(tid, uid)| world.find_user(tid, uid))
        .collect()
}

/// Adds the account to the browser's session (creating one), returning the session id.
fn remember_account(world: &World, headers: &HeaderMap, tenant_id: &str, user_id: &str) -> String {
    let mut state = world.lock();
    let sessions = &mut state.identity.sessions;
    let id = session_cookie(headers)
        .filter(|id| sessions.contains_key(id))
        .unwrap_or_else(|| random_token(24));
    let session = sessions.entry(id.clone()).or_default();
    let account = (tenant_id.to_owned(), user_id.to_owned());
    session.accounts.retain(|a| *a != account);
    session.accounts.push(account);
    id
}

/// How the consent page words a scope.
fn describe(scope: &str) -> String {
    let text = match scope {
        "openid" => "Sign you in",
        "profile" => "View your basic profile",
        "email" => "View your email address",
        "offline_access" => "Maintain access to data you have given it access to",
        s if s.eq_ignore_ascii_case("Mail.ReadWrite") => "Read and write access to your mail",
        s if s.eq_ignore_ascii_case("Mail.Read") => "Read your mail",
        s if s.eq_ignore_ascii_case("User.Read") => "Sign you in and read your profile",
        _ => return scope.to_owned(),
    };
    format!("{text} ({scope})")
}
