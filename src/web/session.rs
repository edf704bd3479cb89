//! A typed view of the session: the signed-in user, the CSRF token, pending OAuth sign-ins
//! and the flash message, so handlers never deal in string keys.

use serde::{Deserialize, Serialize};
use tower_sessions::Session;

use crate::crypto::{Secret, random_token};
use crate::error::AppError;

use crate::store::sessions::keys::{ADDRESS, GENERATION, SIGNED_IN_AT, USER_AGENT, USER_ID};

/// The name of the session cookie (HttpOnly, `SameSite=Lax` so that it survives the
/// redirect back from the sign-in; set up in `web::router_with`).
pub const SESSION_COOKIE: &str = "mailport_session";

const CSRF: &str = "csrf";
const PENDING_AUTH: &str = "pending_oauth";
const FLASH: &str = "flash";

/// How long the key button's `state` stays redeemable.
pub const PENDING_AUTH_TTL_SECS: i64 = 600;
/// At most this many sign-ins may be pending in one session (several tabs).
const MAX_PENDING: usize = 5;

/// A sign-in started by the key button, waiting for `/OAuth2Callback`.
#[derive(Serialize, Deserialize, Clone)]
pub struct PendingAuth {
    pub state: String,
    pub credential_id: String,
    verifier: String,
    pub created_at: i64,
}

impl PendingAuth {
    pub fn verifier(&self) -> Secret {
        Secret::new(self.verifier.clone())
    }
}

/// The signed-in administrator, put into request extensions by `auth::require_admin`.
#[derive(Clone, Debug)]
pub struct CurrentUser {
    pub id: i64,
    pub username: String,
}

/// A one-shot message shown on the next page.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Flash {
    pub kind: FlashKind,
    pub text: String,
}

/// How a flash message reads: stored in the session as `ok`, `warn` or `error`, and shown
/// with the CSS class `flash-{kind}`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum FlashKind {
    Ok,
    Warn,
    Error,
}

impl FlashKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FlashKind::Ok => "ok",
            FlashKind::Warn => "warn",
            FlashKind::Error => "error",
        }
    }

    /// The ARIA role: an error interrupts (`alert`), the others wait their turn (`status`).
    pub fn role(self) -> &'static str {
        match self {
            FlashKind::Error => "alert",
            FlashKind::Ok | FlashKind::Warn => "status",
        }
    }
}

impl std::fmt::Display for FlashKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who a session belongs to, and since when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    pub user_id: i64,
    /// The user's session generation at sign-in; a password change moves the user's on.
    pub generation: i64,
    /// Unix seconds; the session ends a lifetime after it, however busy.
    pub signed_in_at: i64,
}

/// What the sessions list shows about where a sign-in came from.
#[derive(Debug, Clone, Default)]
pub struct Client {
    pub address: String,
    pub user_agent: String,
}

pub struct AppSession(pub Session);

impl AppSession {
    /// The signed-in owner; None for an anonymous visitor.
    pub async fn owner(&self) -> Result<Option<Owner>, AppError> {
        let Some(user_id) = self.0.get::<i64>(USER_ID).await? else {
            return Ok(None);
        };
        Ok(Some(Owner {
            user_id,
            generation: self.0.get(GENERATION).await?.unwrap_or(0),
            signed_in_at: self.0.get(SIGNED_IN_AT).await?.unwrap_or(0),
        }))
    }

    /// Signs the user in under a NEW session id (no fixation) and a new CSRF token. Only
    /// now is the session stored: anonymous visitors never cost a row.
    pub async fn sign_in(
        &self,
        user_id: i64,
        generation: i64,
        client: &Client,
    ) -> Result<(), AppError> {
        self.0.cycle_id().await?;
        self.0.clear().await;
        self.0.insert(USER_ID, user_id).await?;
        self.0.insert(GENERATION, generation).await?;
        self.0.insert(SIGNED_IN_AT, crate::store::now()).await?;
        self.0.insert(ADDRESS, &client.address).await?;
        self.0.insert(USER_AGENT, &client.user_agent).await?;
        self.0.insert(CSRF, random_token(32)).await?;
        Ok(())
    }

    /// The hash under which the store keeps this session, if it has an id.
    pub fn id_hash(&self) -> Option<String> {
        self.0.id().map(|id| crate::store::sessions::id_hash(&id))
    }

    /// Deletes the session server-side.
    pub async fn sign_out(&self) -> Result<(), AppError> {
        self.0.flush().await?;
        Ok(())
    }

    /// The session's CSRF token, created on first use.
    pub async fn csrf_token(&self) -> Result<String, AppError> {
        if let Some(t) = self.0.get::<String>(CSRF).await? {
            return Ok(t);
        }
        let t = random_token(32);
        self.0.insert(CSRF, &t).await?;
        Ok(t)
    }

    pub async fn existing_csrf_token(&self) -> Result<Option<String>, AppError> {
        Ok(self.0.get(CSRF).await?)
    }

    /// Remembers a sign-in started by the key button; returns its `state`.
    pub async fn start_auth(
        &self,
        credential_id: &str,
        state: String,
        verifier: &Secret,
    ) -> Result<(), AppError> {
        let now = crate::store::now();
        let mut pending: Vec<PendingAuth> = self.0.get(PENDING_AUTH).await?.unwrap_or_default();
        pending.retain(|p| now - p.created_at < PENDING_AUTH_TTL_SECS);
        if pending.len() >= MAX_PENDING {
            pending.remove(0);
        }
        pending.push(PendingAuth {
            state,
            credential_id: credential_id.to_string(),
            verifier: verifier.expose().to_string(),
            created_at: now,
        });
        self.0.insert(PENDING_AUTH, pending).await?;
        Ok(())
    }

    /// Takes (single use) the pending sign-in with this `state`, if it exists and is fresh.
    pub async fn take_auth(&self, state: &str) -> Result<Option<PendingAuth>, AppError> {
        let now = crate::store::now();
        let mut pending: Vec<PendingAuth> = self.0.get(PENDING_AUTH).await?.unwrap_or_default();
        let found = pending
            .iter()
            .position(|p| crate::crypto::constant_time_eq(&p.state, state))
            .map(|i| pending.remove(i));
        pending.retain(|p| now - p.created_at < PENDING_AUTH_TTL_SECS);
        self.0.insert(PENDING_AUTH, pending).await?;
        Ok(found.filter(|p| now - p.created_at < PENDING_AUTH_TTL_SECS))
    }

    pub async fn flash(&self, kind: FlashKind, text: impl Into<String>) -> Result<(), AppError> {
        self.0
            .insert(
                FLASH,
                Flash {
                    kind,
                    text: text.into(),
                },
            )
            .await?;
        Ok(())
    }

    pub async fn take_flash(&self) -> Result<Option<Flash>, AppError> {
        Ok(self.0.remove(FLASH).await?)
    }
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for AppSession {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        Session::from_request_parts(parts, state)
            .await
            .map(AppSession)
            .map_err(|_| AppError::Internal(anyhow::anyhow!("session layer missing")))
    }
}
