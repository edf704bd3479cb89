//! What the identity half remembers between requests: pending sign-ins, browser sessions,
//! authorization codes, refresh tokens, consents, queued faults and the token-request log.
//!
//! It lives inside [`crate::sandbox::world::WorldState`] so that one lock guards everything;
//! handlers take the lock, copy what they need and release it before any await.

use std::collections::{HashMap, VecDeque};
use std::time::SystemTime;

use serde::Serialize;

use super::faults::Fault;
use super::scopes::GrantedScopes;

/// An authorize request waiting for the user to sign in and consent. The browser only
/// holds its opaque id (a hidden form field), so nothing it posts can alter these values.
#[derive(Debug, Clone)]
pub struct PendingAuthorize {
    pub tenant_id: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub response_mode: ResponseMode,
    pub state: Option<String>,
    pub scopes: GrantedScopes,
    pub prompt: Option<Prompt>,
    pub login_hint: Option<String>,
    pub code_challenge: Option<PkceChallenge>,
    pub nonce: Option<String>,
    /// Set once the password (or the account picker) has identified the user.
    pub signed_in_user: Option<String>,
    pub created_at: SystemTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseMode {
    Query,
    Fragment,
    FormPost,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prompt {
    Login,
    None,
    Consent,
    SelectAccount,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PkceChallenge {
    S256(String),
    Plain(String),
}

/// A browser's sign-in session (the `sandbox_sso` cookie): the accounts signed in there.
#[derive(Debug, Clone, Default)]
pub struct BrowserSession {
    /// (tenant id, user object id), most recent last.
    pub accounts: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub struct AuthorizationCode {
    pub tenant_id: String,
    pub client_id: String,
    pub user_id: String,
    pub redirect_uri: String,
    pub scopes: GrantedScopes,
    pub code_challenge: Option<PkceChallenge>,
    pub nonce: Option<String>,
    pub expires_at: SystemTime,
    pub redeemed: bool,
}

#[derive(Debug, Clone)]
pub struct RefreshTokenRecord {
    pub tenant_id: String,
    pub client_id: String,
    pub user_id: String,
    /// Everything the user granted: a refresh may ask for a subset of it.
    pub scopes: GrantedScopes,
    pub issued_at: SystemTime,
    pub expires_at: SystemTime,
    /// The token issued when this one was redeemed; using this one again afterwards is the
    /// "client kept the old refresh token" bug the log makes visible.
    pub superseded_by: Option<String>,
    pub revoked: bool,
    pub times_presented: u32,
}

/// A user's consent to an app: the delegated permissions (short names) and OIDC scopes.
#[derive(Debug, Clone, Serialize)]
pub struct ConsentRecord {
    pub tenant_id: String,
    pub client_id: String,
    pub user_id: String,
    pub scopes: Vec<String>,
}

/// How a token request authenticated the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuthMethod {
    ClientSecretPost,
    ClientSecretBasic,
    None,
}

/// One call to the token endpoint, as the tests see it.
#[derive(Debug, Clone, Serialize)]
pub struct TokenLogEntry {
    /// Unix seconds.
    pub at: i64,
    pub grant_type: Option<String>,
    pub client_id: Option<String>,
    pub auth_method: ClientAuthMethod,
    /// The refresh token the request presented (refresh_token grant).
    pub presented_refresh_token: Option<String>,
    /// True when the presented refresh token had already been exchanged for a newer one.
    pub presented_superseded_refresh_token: bool,
    /// The refresh token issued in the answer, if any.
    pub issued_refresh_token: Option<String>,
    /// `ok`, the OAuth error code (`invalid_grant`...), or `fault:<kind>`.
    pub result: String,
    /// The AADSTS code of an error answer.
    pub error_code: Option<u32>,
    /// The client's `User-Agent` (Mailport names its instance there).
    pub user_agent: Option<String>,
}

/// Counters over the token log, for quick assertions.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct TokenCounters {
    pub requests: u64,
    pub successes: u64,
    pub errors: u64,
    pub faults: u64,
    pub authorization_code: u64,
    pub refresh_token: u64,
    pub client_credentials: u64,
    /// Refresh requests that presented a refresh token already exchanged for a newer one.
    pub superseded_refresh_token_reuse: u64,
}

#[derive(Debug, Default)]
pub struct IdentityState {
    pub pending: HashMap<String, PendingAuthorize>,
    pub sessions: HashMap<String, BrowserSession>,
    pub codes: HashMap<String, AuthorizationCode>,
    pub refresh_tokens: HashMap<String, RefreshTokenRecord>,
    pub consents: Vec<ConsentRecord>,
    pub faults: VecDeque<Fault>,
    pub token_log: Vec<TokenLogEntry>,
    pub counters: TokenCounters,
}

impl IdentityState {
    /// The scopes a user has consented to for an app (short names), if any.
    pub fn consented_scopes(&self, tenant_id: &str, client_id: &str, user_id: &str) -> Vec<String> {
        self.consents
            .iter()
            .find(|c| c.tenant_id == tenant_id && c.client_id == client_id && c.user_id == user_id)
            .map(|c| c.scopes.clone())
            .unwrap_or_default()
    }

    /// Adds scopes to a user's consent for an app (consent is cumulative, as at Microsoft).
    pub fn record_consent(
        &mut self,
        tenant_id: &str,
        client_id: &str,
        user_id: &str,
        scopes: &[String],
    ) {
        let existing = self
            .consents
            .iter_mut()
            .find(|c| c.tenant_id == tenant_id && c.client_id == client_id && c.user_id == user_id);
        let record = match existing {
            Some(record) => record,
            None => {
                self.consents.push(ConsentRecord {
                    tenant_id: tenant_id.to_owned(),
                    client_id: client_id.to_owned(),
                    user_id: user_id.to_owned(),
                    scopes: Vec::new(),
                });
                let last = self.consents.len() - 1;
                &mut self.consents[last]
            }
        };
        for scope in scopes {
            if !record.scopes.iter().any(|s| s.eq_ignore_ascii_case(scope)) {
                record.scopes.push(scope.clone());
            }
        }
    }

    /// Records a finished token request and updates the counters.
    pub fn log_token_request(&mut self, entry: TokenLogEntry) {
        let counters = &mut self.counters;
        counters.requests += 1;
        if entry.result == "ok" {
            counters.successes += 1;
        } else if entry.result.starts_with("fault:") {
            counters.faults += 1;
        } else {
            counters.errors += 1;
        }
        match entry.grant_type.as_deref() {
            Some("authorization_code") => counters.authorization_code += 1,
            Some("refresh_token") => counters.refresh_token += 1,
            Some("client_credentials") => counters.client_credentials += 1,
            _ => {}
        }
        if entry.presented_superseded_refresh_token {
            counters.superseded_refresh_token_reuse += 1;
        }
        self.token_log.push(entry);
    }
}
