//! The Entra ID half of the sandbox: `/{tenant}/oauth2/v2.0/authorize` with its sign-in and
//! consent pages, `/{tenant}/oauth2/v2.0/token`, and the `/_sandbox/identity/...` controls.
//!
//! `{tenant}` is a tenant GUID or verified domain. `common` and `organizations` resolve to
//! the tenant that registered the client id (sandbox apps live in exactly one tenant, and a
//! user must belong to it), which is what a multi-tenant app signing in a home user sees.

mod authorize;
pub mod control;
pub mod errors;
pub mod faults;
mod grants;
mod id_token;
mod interaction;
pub(super) mod pages;
pub mod scopes;
pub mod state;
mod token;

use axum::Router;
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;

use super::world::{AppConfig, TenantConfig, World};
use errors::AadError;

pub use control::IdentityControl;

pub fn router(world: World) -> Router {
    Router::new()
        .route("/{tenant}/oauth2/v2.0/authorize", get(authorize::authorize))
        .route("/{tenant}/oauth2/v2.0/signin", post(interaction::sign_in))
        .route("/{tenant}/oauth2/v2.0/consent", post(interaction::consent))
        .route(
            "/{tenant}/oauth2/v2.0/token",
            post(token::token).get(token::token_get),
        )
        .merge(control::router())
        .with_state(world)
}

/// A random, URL-safe, unguessable string of `bytes` random bytes.
pub(crate) fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// True for the tenant aliases that stand for "the user's home tenant".
fn is_tenant_alias(tenant: &str) -> bool {
    tenant.eq_ignore_ascii_case("common") || tenant.eq_ignore_ascii_case("organizations")
}

/// Resolves the `{tenant}` path segment and the client id to a tenant and app registration.
fn resolve_app(
    world: &World,
    tenant: &str,
    client_id: &str,
) -> Result<(TenantConfig, AppConfig), AadError> {
    let tenant_config = if is_tenant_alias(tenant) {
        let state = world.lock();
        state
            .config
            .tenants
            .iter()
            .find(|t| find_app(t, client_id).is_some())
            .cloned()
            .ok_or_else(|| AadError::unknown_client(client_id, tenant))?
    } else {
        world
            .find_tenant(tenant)
            .ok_or_else(|| AadError::unknown_tenant(tenant))?
    };
    let app = find_app(&tenant_config, client_id)
        .cloned()
        .ok_or_else(|| AadError::unknown_client(client_id, tenant_name(&tenant_config)))?;
    Ok((tenant_config, app))
}

/// Checks that the `{tenant}` segment names a tenant (or an alias) at all.
fn tenant_exists(world: &World, tenant: &str) -> bool {
    is_tenant_alias(tenant) || world.find_tenant(tenant).is_some()
}

fn find_app<'a>(tenant: &'a TenantConfig, client_id: &str) -> Option<&'a AppConfig> {
    tenant
        .apps
        .iter()
        .find(|a| a.client_id.eq_ignore_ascii_case(client_id))
}

/// How Entra ID names a tenant in messages: its primary domain, else its id.
fn tenant_name(tenant: &TenantConfig) -> &str {
    tenant.domains.first().unwrap_or(&tenant.id)
}

/// The app's display name, falling back to its client id.
fn app_name(app: &AppConfig) -> &str {
    if app.display_name.is_empty() {
        &app.client_id
    } else {
        &app.display_name
    }
}
