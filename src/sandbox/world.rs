//! The sandbox's shared state: tenants, app registrations, users, and every grant the
//! identity part has issued. The Graph part only reads access grants and users from here.
//!
//! Contract between `sandbox::identity` and `sandbox::graph`: identity registers every
//! access token it issues with [`World::register_access_token`]; graph checks bearer
//! tokens with [`World::access_grant`] and resolves users with [`World::find_user`].

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::identity::state::IdentityState;

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

impl SandboxConfig {
    /// Loads a configuration file, naming the file and the offending spot on error.
    pub fn from_json_file(path: impl AsRef<Path>) -> anyhow::Result<SandboxConfig> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the sandbox configuration {}", path.display()))?;
        let config: SandboxConfig = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a valid sandbox configuration", path.display()))?;
        config
            .validate()
            .with_context(|| format!("{} is not a usable sandbox configuration", path.display()))?;
        Ok(config)
    }

    /// Checks what JSON cannot: ids present and unique, so lookups are unambiguous.
    pub fn validate(&self) -> anyhow::Result<()> {
        let mut seen = std::collections::HashSet::new();
        for tenant in &self.tenants {
            anyhow::ensure!(!tenant.id.trim().is_empty(), "a tenant has an empty id");
            for key in std::iter::once(&tenant.id).chain(&tenant.domains) {
                anyhow::ensure!(
                    seen.insert(key.to_ascii_lowercase()),
                    "tenant id or domain '{key}' appears twice"
                );
            }
            let mut clients = std::collections::HashSet::new();
            for app in &tenant.apps {
                anyhow::ensure!(
                    clients.insert(app.client_id.to_ascii_lowercase()),
                    "client id '{}' appears twice in tenant '{}'",
                    app.client_id,
                    tenant.id
                );
            }
            let mut users = std::collections::HashSet::new();
            for user in &tenant.users {
                anyhow::ensure!(
                    users.insert(user.id.to_ascii_lowercase())
                        && users.insert(user.user_principal_name.to_ascii_lowercase()),
                    "user '{}' appears twice in tenant '{}'",
                    user.user_principal_name,
                    tenant.id
                );
            }
        }
        Ok(())
    }

    /// A ready-made world for the demo and the tests: tenant `contoso.onmicrosoft.com`, the
    /// app "Mailport" (client secret [`DEMO_CLIENT_SECRET`]) with `Mail.ReadWrite` as both an
    /// application and a delegated permission, and two users whose password is
    /// [`DEMO_PASSWORD`]: `adele@contoso.onmicrosoft.com` and `alex@contoso.onmicrosoft.com`.
    pub fn demo(redirect_uris: Vec<String>) -> SandboxConfig {
        let user = |id: &str, name: &str, display: &str| UserConfig {
            id: id.to_owned(),
            user_principal_name: format!("{name}@contoso.onmicrosoft.com"),
            display_name: display.to_owned(),
            password: DEMO_PASSWORD.to_owned(),
            mail: Some(format!("{name}@contoso.onmicrosoft.com")),
        };
        SandboxConfig {
            tenants: vec![TenantConfig {
                id: DEMO_TENANT_ID.to_owned(),
                domains: vec!["contoso.onmicrosoft.com".to_owned()],
                display_name: "Contoso".to_owned(),
                apps: vec![AppConfig {
                    client_id: DEMO_CLIENT_ID.to_owned(),
                    display_name: "Mailport".to_owned(),
                    secrets: vec![SecretConfig {
                        value: DEMO_CLIENT_SECRET.to_owned(),
                        expires_at: None,
                    }],
                    redirect_uris,
                    application_permissions: vec!["Mail.ReadWrite".to_owned()],
                    delegated_permissions: vec![
                        "Mail.ReadWrite".to_owned(),
                        "User.Read".to_owned(),
                    ],
                }],
                users: vec![
                    user(
                        "0c2bd9a4-5c3e-4b8e-9a51-6a0d1e2f3a41",
                        "adele",
                        "Adele Vance",
                    ),
                    user(
                        "5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a82",
                        "alex",
                        "Alex Wilber",
                    ),
                ],
            }],
            access_token_lifetime_secs: default_access_token_lifetime(),
            refresh_token_lifetime_secs: default_refresh_token_lifetime(),
            code_lifetime_secs: default_code_lifetime(),
        }
    }
}

/// The demo tenant's GUID.
pub const DEMO_TENANT_ID: &str = "7d3b2a1c-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
/// The demo app's client id.
pub const DEMO_CLIENT_ID: &str = "3f8e2c71-5a4b-4d9e-b6c1-2a7f9e8d0b15";
/// The demo app's client secret (Entra ID secrets look like this: 40 characters with `~`).
pub const DEMO_CLIENT_SECRET: &str = "sbx8Q~demoSecretForMailportSandbox0000000";
/// The password of every demo user.
pub const DEMO_PASSWORD: &str = "Sandbox-Passw0rd!";

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

fn user_key(tenant_id: &str, key: &str) -> String {
    format!(
        "{}|{}",
        tenant_id.to_ascii_lowercase(),
        key.to_ascii_lowercase()
    )
}

impl WorldState {
    /// Rebuilds the user index from the configuration (first match wins, as a scan did).
    fn index_users(&mut self) {
        self.user_index.clear();
        for (t, tenant) in self.config.tenants.iter().enumerate() {
            for (u, user) in tenant.users.iter().enumerate() {
                let keys = [
                    Some(&user.id),
                    Some(&user.user_principal_name),
                    user.mail.as_ref(),
                ];
                for key in keys.into_iter().flatten() {
                    self.user_index
                        .entry(user_key(&tenant.id, key))
                        .or_insert((t, u));
                }
            }
        }
    }
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
    /// `tenant id|key` (lowercase; key = object id, UPN or mail) -> (tenant, user) index in
    /// `config`, so that Graph finds one of thousands of users without a scan.
    user_index: HashMap<String, (usize, usize)>,
    /// access token string -> grant
    pub access_tokens: HashMap<String, AccessGrant>,
    /// Sign-ins, codes, refresh tokens, consents, faults and the token log.
    pub identity: IdentityState,
}

impl World {
    pub fn new(config: SandboxConfig) -> Self {
        let mut state = WorldState {
            config,
            user_index: HashMap::new(),
            access_tokens: HashMap::new(),
            identity: IdentityState::default(),
        };
        state.index_users();
        World {
            inner: Arc::new(Mutex::new(state)),
        }
    }

    /// Adds users to a tenant (the bulk mailboxes of benchmarks). Fails, adding nothing,
    /// when the tenant is unknown or a UPN or id is taken.
    pub fn add_users(&self, tenant_id: &str, users: Vec<UserConfig>) -> Result<(), String> {
        let mut state = self.lock();
        let t = state
            .config
            .tenants
            .iter()
            .position(|t| t.id == tenant_id)
            .ok_or_else(|| format!("unknown tenant '{tenant_id}'"))?;
        let mut fresh = std::collections::HashSet::new();
        for u in &users {
            for key in [&u.id, &u.user_principal_name] {
                let k = user_key(tenant_id, key);
                if state.user_index.contains_key(&k) || !fresh.insert(k) {
                    return Err(format!("user '{key}' exists already"));
                }
            }
        }
        state.config.tenants[t].users.extend(users);
        state.index_users();
        Ok(())
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
        let (t, u) = *state.user_index.get(&user_key(tenant_id, key))?;
        state.config.tenants.get(t)?.users.get(u).cloned()
    }

    pub fn access_token_lifetime(&self) -> Duration {
        Duration::from_secs(self.lock().config.access_token_lifetime_secs)
    }
}
