//! The sandbox's shared state: tenants, app registrations, users, and every grant the
//! identity part has issued. The Graph part only reads access grants and users from here.
//!
//! Contract between `sandbox::identity` and `sandbox::graph`: identity registers every
//! access token it issues with [`World::register_access_token`]; graph checks bearer
//! tokens with [`World::access_grant`] and resolves users with [`World::find_user`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

/// The whole sandbox configuration, loaded from JSON (`mailport sandbox --config FILE`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxConfig {
    pub tenants: Vec<TenantConfig>,
    /// Lifetime of access tokens in seconds (Microsoft: 3599 on average).
    #[serde(default = "default_access_token_lifetime")]
    pub access_token_lifetime_secs: u64,
    /// Lifetime of refresh tokens in seconds (Microsoft: 90 days).
    #[serde(default = "default_refresh_token_lifetime")]
    pub refresh_token_lifetime_secs: u64,
    /// Lifetime of authorization codes in seconds (Microsoft: about 10 minutes).
    #[serde(default = "default_code_lifetime")]
    pub code_lifetime_secs: u64,
}

fn default_access_token_lifetime() -> u64 {
    3599
}
fn default_refresh_token_lifetime() -> u64 {
    90 * 24 * 3600
}
fn default_code_lifetime() -> u64 {
    600
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    /// The tenant GUID (`tid`).
    pub id: String,
    /// Verified domains, usable in place of the GUID in URLs (e.g. `contoso.onmicrosoft.com`).
    #[serde(default)]
    pub domains: Vec<String>,
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub apps: Vec<AppConfig>,
    #[serde(default)]
    pub users: Vec<UserConfig>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppConfig {
    pub client_id: String,
    #[serde(default)]
    pub display_name: String,
    pub secrets: Vec<SecretConfig>,
    /// Registered redirect URIs ("Web" platform); matched exactly.
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// Application permissions with admin consent, e.g. `Mail.ReadWrite` (become `roles`).
    #[serde(default)]
    pub application_permissions: Vec<String>,
    /// Delegated permissions the app may ask for, e.g. `Mail.ReadWrite`.
    #[serde(default)]
    pub delegated_permissions: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretConfig {
    pub value: String,
    /// Unix seconds after which the secret is expired (AADSTS7000222); none = never.
    #[serde(default)]
    pub expires_at: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    /// The user's object id (`oid`, also the Graph user id).
    pub id: String,
    pub user_principal_name: String,
    #[serde(default)]
    pub display_name: String,
    pub password: String,
    /// Primary SMTP address; defaults to the UPN.
    #[serde(default)]
    pub mail: Option<String>,
}

/// What a bearer token issued by the sandbox grants.
#[derive(Debug, Clone)]
pub struct AccessGrant {
    pub tenant_id: String,
    pub client_id: String,
    /// Set for delegated tokens: the signed-in user's object id (`/me`).
    pub user_id: Option<String>,
    /// Application permissions (client credentials), e.g. `Mail.ReadWrite`.
    pub roles: Vec<String>,
    /// Delegated scopes (short names, e.g. `Mail.ReadWrite`).
    pub scopes: Vec<String>,
    pub expires_at: SystemTime,
}

impl AccessGrant {
    pub fn is_expired(&self) -> bool {
        SystemTime::now() >= self.expires_at
    }
}

/// Cheaply clonable handle on the sandbox state.
#[derive(Clone)]
pub struct World {
    inner: Arc<Mutex<WorldState>>,
}

pub struct WorldState {
    pub config: SandboxConfig,
    /// access token string -> grant
    pub access_tokens: HashMap<String, AccessGrant>,
}

impl World {
    pub fn new(config: SandboxConfig) -> Self {
        World {
            inner: Arc::new(Mutex::new(WorldState {
                config,
                access_tokens: HashMap::new(),
            })),
        }
    }

    /// Locks the state. The lock is never held across an await.
    pub fn lock(&self) -> MutexGuard<'_, WorldState> {
        // A poisoned lock only means a handler panicked; the data is still usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn register_access_token(&self, token: String, grant: AccessGrant) {
        self.lock().access_tokens.insert(token, grant);
    }

    /// The grant behind a bearer token, expired or not (callers check expiry).
    pub fn access_grant(&self, token: &str) -> Option<AccessGrant> {
        self.lock().access_tokens.get(token).cloned()
    }

    /// Finds a tenant by GUID or verified domain (case-insensitive).
    pub fn find_tenant(&self, tenant: &str) -> Option<TenantConfig> {
        let state = self.lock();
        state
            .config
            .tenants
            .iter()
            .find(|t| {
                t.id.eq_ignore_ascii_case(tenant)
                    || t.domains.iter().any(|d| d.eq_ignore_ascii_case(tenant))
            })
            .cloned()
    }

    /// Finds a user of a tenant by object id, UPN or mail (case-insensitive).
    pub fn find_user(&self, tenant_id: &str, key: &str) -> Option<UserConfig> {
        let state = self.lock();
        let tenant = state.config.tenants.iter().find(|t| t.id == tenant_id)?;
        tenant
            .users
            .iter()
            .find(|u| {
                u.id.eq_ignore_ascii_case(key)
                    || u.user_principal_name.eq_ignore_ascii_case(key)
                    || u.mail.as_deref().is_some_and(|m| m.eq_ignore_ascii_case(key))
            })
            .cloned()
    }

    pub fn access_token_lifetime(&self) -> Duration {
        Duration::from_secs(self.lock().config.access_token_lifetime_secs)
    }
}
