//! `POST /{tenant}/oauth2/v2.0/token`: queued faults first, then the checks in Entra ID's
//! order (grant type, tenant, client, client secret), then the grant itself (`grants`).
//! Every call lands in the token log, so tests can see how the client behaved.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use time::OffsetDateTime;

use super::authorize::Params;
use super::errors::{AadError, Diagnostics, json_response};
use super::grants::{self, Client};
use super::state::{ClientAuthMethod, TokenLogEntry};
use super::{faults, resolve_app, tenant_exists};
use crate::sandbox::world::World;

const GRANT_TYPES: [&str; 3] = ["authorization_code", "refresh_token", "client_credentials"];

pub async fn token(
    State(world): State<World>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let diag = Diagnostics::from_headers(&headers);
    let form = Params::from_bytes(&body);
    let mut entry = TokenLogEntry {
        at: OffsetDateTime::now_utc().unix_timestamp(),
        grant_type: form.get("grant_type").map(str::to_owned),
        client_id: form.get("client_id").map(str::to_owned),
        auth_method: ClientAuthMethod::None,
        presented_refresh_token: None,
        presented_superseded_refresh_token: false,
        issued_refresh_token: None,
        result: String::new(),
        error_code: None,
        user_agent: headers
            .get(axum::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    };
    if let Some(kind) = faults::take(&world)
        && let Some(response) = faults::answer(&kind).await
    {
        entry.result = format!("fault:{}", fault_name(&kind));
        world.lock().identity.log_token_request(entry);
        return response;
    }
    let response = match handle(&world, &tenant, &form, &headers, &mut entry) {
        Ok(json) => {
            entry.result = "ok".to_owned();
            json_response(StatusCode::OK, json)
        }
        Err(error) => {
            entry.result = error.error.to_owned();
            entry.error_code = Some(error.code);
            error.token_response(&diag)
        }
    };
    world.lock().identity.log_token_request(entry);
    response
}

/// `GET` on the token endpoint: Entra ID answers with a JSON error, not a bare 405.
pub async fn token_get(headers: HeaderMap) -> Response {
    AadError::post_only().token_response(&Diagnostics::from_headers(&headers))
}

fn fault_name(kind: &faults::FaultKind) -> &'static str {
    match kind {
        faults::FaultKind::Status { .. } => "status",
        faults::FaultKind::Html => "html",
        faults::FaultKind::Huge { .. } => "huge",
        faults::FaultKind::Hang { .. } => "hang",
    }
}

fn handle(
    world: &World,
    tenant: &str,
    form: &Params,
    headers: &HeaderMap,
    entry: &mut TokenLogEntry,
) -> Result<String, AadError> {
    let grant_type = form
        .get("grant_type")
        .ok_or_else(|| AadError::missing_parameter("grant_type"))?;
    if !GRANT_TYPES.contains(&grant_type) {
        return Err(AadError::unsupported_grant_type(grant_type));
    }
    if !tenant_exists(world, tenant) {
        return Err(AadError::unknown_tenant(tenant));
    }
    let credentials = client_credentials(form, headers)?;
    entry.auth_method = credentials.method;
    entry.client_id = Some(credentials.client_id.clone());
    let (tenant_config, app) = resolve_app(world, tenant, &credentials.client_id)?;
    check_secret(&app.client_id, &app.secrets, credentials.secret.as_deref())?;
    let client = Client {
        tenant: tenant_config,
        app,
    };
    match grant_type {
        "authorization_code" => grants::authorization_code(world, &client, form, entry),
        "refresh_token" => grants::refresh_token(world, &client, form, entry),
        _ => grants::client_credentials(world, &client, form),
    }
}

struct Credentials {
    client_id: String,
    secret: Option<String>,
    method: ClientAuthMethod,
}

/// Reads the client's credentials from HTTP Basic (RFC 6749 §2.3.1: each part
/// form-urlencoded, then base64) or from the body (`client_secret_post`).
fn client_credentials(form: &Params, headers: &HeaderMap) -> Result<Credentials, AadError> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, value) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("basic").then(|| value.trim())
        });
    if let Some(encoded) = basic {
        let (id, secret) = decode_basic(encoded).ok_or_else(|| {
            AadError::invalid_parameter_value("Authorization", "malformed Basic credentials")
        })?;
        if form.get("client_secret").is_some() {
            // RFC 6749 §2.3: a client must not use more than one authentication method.
            return Err(AadError::invalid_parameter_value(
                "client_secret",
                "sent both in the body and in the Authorization header",
            ));
        }
        if form.get("client_id").is_some_and(|body_id| body_id != id) {
            return Err(AadError::invalid_parameter_value(
                "client_id",
                form.get("client_id").unwrap_or_default(),
            ));
        }
        return Ok(Credentials {
            client_id: id,
            secret: Some(secret).filter(|s| !s.is_empty()),
            method: ClientAuthMethod::ClientSecretBasic,
        });
    }
    let client_id = form
        .get("client_id")
        .ok_or_else(|| AadError::missing_parameter("client_id"))?;
    let secret = form.get("client_secret").map(str::to_owned);
    let method = if secret.is_some() {
        ClientAuthMethod::ClientSecretPost
    } else {
        ClientAuthMethod::None
    };
    Ok(Credentials {
        client_id: client_id.to_owned(),
        secret,
        method,
    })
}

fn decode_basic(encoded: &str) -> Option<(String, String)> {
    let decoded = STANDARD.decode(encoded).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    let unescape = |s: &str| {
        url::form_urlencoded::parse(format!("v={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
    };
    Some((unescape(id)?, unescape(secret)?))
}

/// A confidential client must present one of its secrets, and it must not have expired.
fn check_secret(
    client_id: &str,
    secrets: &[crate::sandbox::world::SecretConfig],
    presented: Option<&str>,
) -> Result<(), AadError> {
    let presented = presented.ok_or_else(AadError::missing_secret)?;
    let Some(secret) = secrets.iter().find(|s| s.value == presented) else {
        return Err(AadError::wrong_secret(client_id));
    };
    let now = OffsetDateTime::now_utc().unix_timestamp();
    if secret.expires_at.is_some_and(|at| at <= now) {
        return Err(AadError::expired_secret(client_id));
    }
    Ok(())
}
