//! The three grants the sandbox supports, and the token response they share. Tokens are
//! opaque random strings; every access token is registered with the [`World`] so the Graph
//! half can check bearer tokens against the same grant.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::authorize::Params;
use super::errors::AadError;
use super::id_token::{self, IdTokenInput};
use super::scopes::{self, GrantedScopes, ScopeError};
use super::state::{PkceChallenge, RefreshTokenRecord, TokenLogEntry};
use super::{app_name, random_token, tenant_name};
use crate::sandbox::world::{AccessGrant, AppConfig, TenantConfig, World};

/// The authenticated client.
pub struct Client {
    pub tenant: TenantConfig,
    pub app: AppConfig,
}

#[derive(Serialize)]
struct TokenResponse {
    token_type: &'static str,
    /// Absent for client credentials, as at Entra ID.
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
    expires_in: u64,
    ext_expires_in: u64,
    access_token: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id_token: Option<String>,
}

pub fn authorization_code(
    world: &World,
    client: &Client,
    form: &Params,
    entry: &mut TokenLogEntry,
) -> Result<String, AadError> {
    let code = form
        .get("code")
        .ok_or_else(|| AadError::missing_parameter("code"))?;
    let redirect_uri = form
        .get("redirect_uri")
        .ok_or_else(|| AadError::missing_parameter("redirect_uri"))?;
    let record = {
        let mut state = world.lock();
        let record = state
            .identity
            .codes
            .get_mut(code)
            .ok_or_else(AadError::code_invalid)?;
        if record.tenant_id != client.tenant.id || record.client_id != client.app.client_id {
            return Err(AadError::code_invalid());
        }
        if record.redeemed {
            return Err(AadError::code_redeemed());
        }
        if SystemTime::now() >= record.expires_at {
            return Err(AadError::code_invalid());
        }
        if record.redirect_uri != redirect_uri {
            return Err(AadError::reply_address_mismatch(
                redirect_uri,
                &record.redirect_uri,
            ));
        }
        if let Some(challenge) = &record.code_challenge {
            let verifier = form.get("code_verifier").unwrap_or_default();
            if !pkce_matches(challenge, verifier) {
                return Err(AadError::pkce_mismatch());
            }
        }
        record.redeemed = true;
        record.clone()
    };
    let scopes = narrow_scopes(client, form, &record.scopes)?;
    issue_delegated(
        world,
        client,
        &record.user_id,
        &record.scopes,
        &scopes,
        record.nonce.as_deref(),
        entry,
    )
}

pub fn refresh_token(
    world: &World,
    client: &Client,
    form: &Params,
    entry: &mut TokenLogEntry,
) -> Result<String, AadError> {
    let presented = form
        .get("refresh_token")
        .ok_or_else(|| AadError::missing_parameter("refresh_token"))?;
    entry.presented_refresh_token = Some(presented.to_owned());
    let record = {
        let mut state = world.lock();
        let record = state
            .identity
            .refresh_tokens
            .get_mut(presented)
            .ok_or_else(AadError::refresh_token_malformed)?;
        record.times_presented += 1;
        entry.presented_superseded_refresh_token = record.superseded_by.is_some();
        if record.tenant_id != client.tenant.id || record.client_id != client.app.client_id {
            return Err(AadError::refresh_token_malformed());
        }
        if record.revoked {
            return Err(AadError::refresh_token_revoked());
        }
        let now = SystemTime::now();
        if now >= record.expires_at {
            let inactive = now
                .duration_since(record.issued_at)
                .unwrap_or_default()
                .as_secs();
            let issued = time::OffsetDateTime::from(record.issued_at);
            return Err(AadError::refresh_token_expired(
                &format!("{issued}"),
                inactive,
            ));
        }
        record.clone()
    };
    if world
        .find_user(&record.tenant_id, &record.user_id)
        .is_none()
    {
        return Err(AadError::refresh_token_revoked());
    }
    let consented = world.lock().identity.consented_scopes(
        &record.tenant_id,
        &record.client_id,
        &record.user_id,
    );
    if consented.is_empty() {
        // The consent was revoked since the token was issued.
        return Err(AadError::not_consented(
            &client.app.client_id,
            app_name(&client.app),
        ));
    }
    let scopes = narrow_scopes(client, form, &record.scopes)?;
    let response = issue_delegated(
        world,
        client,
        &record.user_id,
        &record.scopes,
        &scopes,
        None,
        entry,
    )?;
    if let Some(new_token) = &entry.issued_refresh_token
        && let Some(old) = world.lock().identity.refresh_tokens.get_mut(presented)
    {
        old.superseded_by = Some(new_token.clone());
    }
    Ok(response)
}

pub fn client_credentials(
    world: &World,
    client: &Client,
    form: &Params,
) -> Result<String, AadError> {
    let scope = form
        .get("scope")
        .ok_or_else(|| AadError::missing_parameter("scope"))?;
    scopes::check_client_credentials(scope).map_err(|e| match e {
        ScopeError::Missing => AadError::missing_parameter("scope"),
        ScopeError::Invalid(s) => AadError::client_credentials_scope(&s),
        ScopeError::UnknownResource(r) => {
            AadError::unknown_resource(&r, tenant_name(&client.tenant))
        }
    })?;
    let lifetime = world.access_token_lifetime();
    let access_token = new_access_token();
    world.register_access_token(
        access_token.clone(),
        AccessGrant {
            tenant_id: client.tenant.id.clone(),
            client_id: client.app.client_id.clone(),
            user_id: None,
            roles: client.app.application_permissions.clone(),
            scopes: Vec::new(),
            expires_at: SystemTime::now() + lifetime,
        },
    );
    to_json(&TokenResponse {
        token_type: "Bearer",
        scope: None,
        expires_in: lifetime.as_secs(),
        ext_expires_in: lifetime.as_secs(),
        access_token,
        refresh_token: None,
        id_token: None,
    })
}

/// The optional `scope` of a code or refresh request: a subset of what was granted.
fn narrow_scopes(
    client: &Client,
    form: &Params,
    granted: &GrantedScopes,
) -> Result<GrantedScopes, AadError> {
    let Some(raw) = form.get("scope") else {
        return Ok(granted.clone());
    };
    let requested = scopes::parse_delegated(raw, &client.app).map_err(|e| match e {
        ScopeError::Missing => AadError::missing_parameter("scope"),
        ScopeError::Invalid(s) => AadError::invalid_scope(&s),
        ScopeError::UnknownResource(r) => {
            AadError::unknown_resource(&r, tenant_name(&client.tenant))
        }
    })?;
    if !granted.covers(&requested) {
        return Err(AadError::not_consented(
            &client.app.client_id,
            app_name(&client.app),
        ));
    }
    Ok(requested)
}

/// Issues the access token (and refresh and ID tokens when the scopes call for them).
/// `granted` is the whole grant a new refresh token carries; `scopes` is this request's part.
fn issue_delegated(
    world: &World,
    client: &Client,
    user_id: &str,
    granted: &GrantedScopes,
    scopes: &GrantedScopes,
    nonce: Option<&str>,
    entry: &mut TokenLogEntry,
) -> Result<String, AadError> {
    let user = world
        .find_user(&client.tenant.id, user_id)
        .ok_or_else(AadError::refresh_token_revoked)?;
    let lifetime = world.access_token_lifetime();
    let now = SystemTime::now();
    let access_token = new_access_token();
    world.register_access_token(
        access_token.clone(),
        AccessGrant {
            tenant_id: client.tenant.id.clone(),
            client_id: client.app.client_id.clone(),
            user_id: Some(user.id.clone()),
            roles: Vec::new(),
            scopes: scopes.resource.clone(),
            expires_at: now + lifetime,
        },
    );
    // A grant that included offline_access yields a refresh token on every redemption,
    // even when this request narrowed the scopes.
    let refresh_token = if granted.has("offline_access") {
        let token = format!("1.A{}", random_token(160));
        let mut state = world.lock();
        let rt_lifetime = Duration::from_secs(state.config.refresh_token_lifetime_secs);
        state.identity.refresh_tokens.insert(
            token.clone(),
            RefreshTokenRecord {
                tenant_id: client.tenant.id.clone(),
                client_id: client.app.client_id.clone(),
                user_id: user.id.clone(),
                scopes: granted.clone(),
                issued_at: now,
                expires_at: now + rt_lifetime,
                superseded_by: None,
                revoked: false,
                times_presented: 0,
            },
        );
        Some(token)
    } else {
        None
    };
    entry.issued_refresh_token = refresh_token.clone();
    let id_token = scopes.has("openid").then(|| {
        id_token::issue(&IdTokenInput {
            tenant_id: &client.tenant.id,
            client_id: &client.app.client_id,
            user: &user,
            scopes,
            nonce,
            now: unix(now),
        })
    });
    to_json(&TokenResponse {
        token_type: "Bearer",
        scope: Some(scopes.response_scope()),
        expires_in: lifetime.as_secs(),
        ext_expires_in: lifetime.as_secs(),
        access_token,
        refresh_token,
        id_token,
    })
}

fn pkce_matches(challenge: &PkceChallenge, verifier: &str) -> bool {
    if verifier.is_empty() {
        return false;
    }
    match challenge {
        PkceChallenge::Plain(expected) => expected == verifier,
        PkceChallenge::S256(expected) => {
            URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) == *expected
        }
    }
}

fn new_access_token() -> String {
    // Opaque to clients, like Graph tokens are meant to be treated.
    format!("sbx.{}", random_token(48))
}

fn unix(at: SystemTime) -> i64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn to_json(response: &TokenResponse) -> Result<String, AadError> {
    // Strings and numbers only: serialising cannot fail.
    Ok(serde_json::to_string(response).unwrap_or_default())
}
