//! `GET /{tenant}/oauth2/v2.0/authorize`: validates the request the way Entra ID does, then
//! hands it to the sign-in and consent interaction, and builds the answers sent back to
//! the app's redirect URI.
//!
//! Order matters: until the client and its redirect URI are trusted, errors are shown as a
//! page; after that they go back to the app as `error=...` on the redirect URI.

use std::time::{Duration, SystemTime};

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use url::Url;

use super::errors::{AadError, Diagnostics};
use super::scopes::{self, ScopeError};
use super::state::{PendingAuthorize, PkceChallenge, Prompt, ResponseMode};
use super::{interaction, pages, random_token, resolve_app, tenant_name};
use crate::sandbox::world::World;

/// Where and how to answer the app.
#[derive(Debug, Clone)]
pub struct ReplyTo {
    pub redirect_uri: String,
    pub response_mode: ResponseMode,
    pub state: Option<String>,
}

pub async fn authorize(
    State(world): State<World>,
    Path(tenant): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let diag = Diagnostics::from_headers(&headers);
    let params = Params::parse(query.as_deref().unwrap_or(""));
    match validate(&world, &tenant, &params) {
        Ok(pending) => {
            let id = random_token(24);
            {
                let mut state = world.lock();
                let pending_map = &mut state.identity.pending;
                // Abandoned sign-ins are forgotten after an hour, like Entra ID's flow token.
                pending_map.retain(|_, p| {
                    p.created_at
                        .elapsed()
                        .is_ok_and(|age| age < PENDING_LIFETIME)
                });
                pending_map.insert(id.clone(), pending);
            }
            interaction::next_step(&world, &id, &headers, &diag)
        }
        Err(Rejection::Page(error)) => pages::error_page(&error, &diag),
        Err(Rejection::Redirect(reply, error)) => error_redirect(&reply, &error, &diag),
    }
}

/// How long a sign-in may sit between pages before it must start over.
const PENDING_LIFETIME: Duration = Duration::from_secs(3600);

/// Form-encoded parameters (a query string or a form body); the first occurrence wins.
pub struct Params(Vec<(String, String)>);

impl Params {
    /// Parses leniently: malformed pairs become odd values that validation then rejects.
    pub fn parse(query: &str) -> Self {
        Self::from_bytes(query.as_bytes())
    }

    pub fn from_bytes(bytes: &[u8]) -> Self {
        Params(url::form_urlencoded::parse(bytes).into_owned().collect())
    }

    /// A parameter's value; an empty value counts as absent, as at Entra ID.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }
}

enum Rejection {
    Page(AadError),
    Redirect(ReplyTo, AadError),
}

fn validate(world: &World, tenant: &str, params: &Params) -> Result<PendingAuthorize, Rejection> {
    if !super::tenant_exists(world, tenant) {
        return Err(Rejection::Page(AadError::unknown_tenant(tenant)));
    }
    let client_id = params
        .get("client_id")
        .ok_or_else(|| Rejection::Page(AadError::missing_parameter("client_id")))?;
    let (tenant_config, app) = resolve_app(world, tenant, client_id).map_err(Rejection::Page)?;
    let redirect_uri =
        match params.get("redirect_uri") {
            Some(uri) if app.redirect_uris.iter().any(|r| r == uri) => uri.to_owned(),
            Some(uri) => {
                return Err(Rejection::Page(AadError::redirect_uri_mismatch(
                    uri,
                    &app.client_id,
                )));
            }
            // Without a redirect_uri Entra ID falls back to the app's default reply URL.
            None => app.redirect_uris.first().cloned().ok_or_else(|| {
                Rejection::Page(AadError::no_redirect_uri_registered(&app.client_id))
            })?,
        };
    let state = params.get("state").map(str::to_owned);
    let mut reply = ReplyTo {
        redirect_uri,
        response_mode: ResponseMode::Query,
        state,
    };
    let redirect = |reply: &ReplyTo, error: AadError| Rejection::Redirect(reply.clone(), error);

    reply.response_mode = match params.get("response_mode") {
        None | Some("query") => ResponseMode::Query,
        Some("fragment") => ResponseMode::Fragment,
        Some("form_post") => ResponseMode::FormPost,
        Some(other) => {
            return Err(redirect(
                &reply,
                AadError::invalid_parameter_value("response_mode", other),
            ));
        }
    };
    match params.get("response_type") {
        None => {
            return Err(redirect(
                &reply,
                AadError::missing_parameter("response_type"),
            ));
        }
        Some("code") => {}
        Some(other) => {
            return Err(redirect(&reply, AadError::unsupported_response_type(other)));
        }
    }
    let raw_scope = params
        .get("scope")
        .ok_or_else(|| redirect(&reply, AadError::missing_parameter("scope")))?;
    let scopes = scopes::parse_delegated(raw_scope, &app).map_err(|e| {
        let error = match e {
            ScopeError::Missing => AadError::missing_parameter("scope"),
            ScopeError::Invalid(s) => AadError::invalid_scope(&s),
            ScopeError::UnknownResource(r) => {
                AadError::unknown_resource(&r, tenant_name(&tenant_config))
            }
        };
        redirect(&reply, error)
    })?;
    let prompt = match params.get("prompt") {
        None => None,
        Some("login") => Some(Prompt::Login),
        Some("none") => Some(Prompt::None),
        Some("consent") => Some(Prompt::Consent),
        Some("select_account") => Some(Prompt::SelectAccount),
        Some(other) => {
            return Err(redirect(
                &reply,
                AadError::invalid_parameter_value("prompt", other),
            ));
        }
    };
    let code_challenge = match params.get("code_challenge") {
        None => None,
        Some(challenge) => {
            // RFC 7636 §4.2: 43 to 128 characters of the unreserved set.
            let well_formed = (43..=128).contains(&challenge.len())
                && challenge
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
            if !well_formed {
                return Err(redirect(
                    &reply,
                    AadError::invalid_parameter_value("code_challenge", challenge),
                ));
            }
            // Entra ID, like RFC 7636, defaults to `plain`.
            match params.get("code_challenge_method") {
                None | Some("plain") => Some(PkceChallenge::Plain(challenge.to_owned())),
                Some("S256") => Some(PkceChallenge::S256(challenge.to_owned())),
                Some(other) => {
                    return Err(redirect(
                        &reply,
                        AadError::invalid_parameter_value("code_challenge_method", other),
                    ));
                }
            }
        }
    };
    Ok(PendingAuthorize {
        tenant_id: tenant_config.id.clone(),
        client_id: app.client_id.clone(),
        redirect_uri: reply.redirect_uri,
        response_mode: reply.response_mode,
        state: reply.state,
        scopes,
        prompt,
        login_hint: params.get("login_hint").map(str::to_owned),
        code_challenge,
        nonce: params.get("nonce").map(str::to_owned),
        signed_in_user: None,
        created_at: SystemTime::now(),
    })
}

impl ReplyTo {
    pub fn of(pending: &PendingAuthorize) -> Self {
        ReplyTo {
            redirect_uri: pending.redirect_uri.clone(),
            response_mode: pending.response_mode,
            state: pending.state.clone(),
        }
    }
}

/// Sends an error back to the app: `error`, `error_description`, `error_uri`, `state`.
pub fn error_redirect(reply: &ReplyTo, error: &AadError, diag: &Diagnostics) -> Response {
    let mut params = vec![
        ("error", error.error.to_owned()),
        ("error_description", error.description(diag)),
        ("error_uri", error.error_uri()),
    ];
    if let Some(state) = &reply.state {
        params.push(("state", state.clone()));
    }
    answer_app(reply, &params, diag)
}

/// Sends the parameters to the redirect URI in the requested response mode.
pub fn answer_app(reply: &ReplyTo, params: &[(&str, String)], diag: &Diagnostics) -> Response {
    let Ok(mut url) = Url::parse(&reply.redirect_uri) else {
        // Only registered URIs get here; an unparsable one is a configuration mistake.
        let error = AadError::redirect_uri_mismatch(&reply.redirect_uri, "");
        return pages::error_page(&error, diag);
    };
    match reply.response_mode {
        ResponseMode::Query => {
            url.query_pairs_mut()
                .extend_pairs(params.iter().map(|(k, v)| (*k, v.as_str())));
        }
        ResponseMode::Fragment => {
            let fragment = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(params.iter().map(|(k, v)| (*k, v.as_str())))
                .finish();
            url.set_fragment(Some(&fragment));
        }
        ResponseMode::FormPost => return pages::form_post_page(&reply.redirect_uri, params),
    }
    let mut response = StatusCode::FOUND.into_response();
    if let Ok(location) = HeaderValue::from_str(url.as_str()) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-store, no-cache"),
    );
    response
}
