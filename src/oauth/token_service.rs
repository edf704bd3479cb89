//! The token service: hands out access tokens that stay valid for at least five more
//! minutes, refreshing only when needed, one refresh per credential at a time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::client::HttpSettings;
use super::credential::{GrantType, RecordedError, SignedIn, TokenStatus};
use crate::crypto::{MasterKey, Secret};
use crate::outbound::{HostPolicy, OutboundClient};
use crate::store::Db;
use crate::store::credentials::{self, Credential, NewTokens, RefreshTokenUpdate};

use super::client::{ClientConfig, IssuedTokens, TokenRequester};
use super::error::TokenFailure;
use super::id_token::{ExpectedTenant, account_from_id_token};

/// A token is refreshed when it has less than this left.
pub const REFRESH_MARGIN_SECS: i64 = 300;
/// When the server does not say how long a token lives, assume Microsoft's usual hour.
const DEFAULT_LIFETIME_SECS: i64 = 3599;

/// An access token and when it expires (unix seconds).
#[derive(Debug, Clone)]
pub struct AccessToken {
    pub secret: Secret,
    pub expires_at: i64,
}

impl AccessToken {
    /// Still usable for at least the refresh margin.
    pub fn is_fresh(&self) -> bool {
        self.expires_at - crate::clock::now() > REFRESH_MARGIN_SECS
    }
}

#[derive(Clone)]
pub struct TokenService {
    db: Db,
    key: MasterKey,
    http: OutboundClient,
    settings: Arc<HttpSettings>,
    redirect_uri: Arc<str>,
    /// One lock per credential: concurrent callers wait for the refresh in progress and
    /// then read its result from the database (single-flight).
    locks: Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
}

impl TokenService {
    pub fn new(
        db: Db,
        key: MasterKey,
        http: OutboundClient,
        settings: HttpSettings,
        redirect_uri: String,
    ) -> Self {
        TokenService {
            db,
            key,
            http,
            settings: Arc::new(settings),
            redirect_uri: redirect_uri.into(),
            locks: Arc::default(),
        }
    }

    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    /// The outbound host policy every token request goes through.
    pub fn hosts(&self) -> &HostPolicy {
        self.http.policy()
    }

    fn lock_for(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
        locks.entry(id.to_string()).or_default().clone()
    }

    fn requester(&self) -> TokenRequester<'_> {
        TokenRequester {
            http: &self.http,
            settings: &self.settings,
        }
    }

    /// The client settings of a credential, with its secret decrypted.
    pub fn client_config(&self, cred: &Credential) -> Result<ClientConfig, TokenFailure> {
        let secret = cred
            .open_client_secret(&self.key)
            .map_err(|e| TokenFailure::NotUsable(e.to_string()))?
            .unwrap_or_default();
        Ok(ClientConfig {
            client_id: cred.client_id.clone(),
            client_secret: secret,
            token_url: cred.access_token_url.clone(),
            auth: cred.client_auth(),
            redirect_uri: Some(self.redirect_uri.to_string()),
        })
    }

    async fn load(&self, id: &str) -> Result<Credential, TokenFailure> {
        credentials::get(&self.db, id)
            .await
            .map_err(db_error)?
            .ok_or_else(|| TokenFailure::NotUsable(format!("The credential {id} does not exist.")))
    }

    /// An access token valid for at least five more minutes.
    pub async fn access_token(&self, id: &str) -> Result<Secret, TokenFailure> {
        self.fresh_token(id).await.map(|t| t.secret)
    }

    /// Like [`Self::access_token`], with the token's expiry, so a caller making many
    /// requests can keep it instead of asking the database each time.
    pub async fn fresh_token(&self, id: &str) -> Result<AccessToken, TokenFailure> {
        self.fresh_token_for(&self.load(id).await?).await
    }

    /// Like [`Self::fresh_token`], for a credential the caller has just read: a fresh
    /// stored token is handed out without reading the row again. A refresh reads it again
    /// under the credential's lock, since someone may have refreshed meanwhile.
    pub async fn fresh_token_for(&self, cred: &Credential) -> Result<AccessToken, TokenFailure> {
        if let Some(token) = self.cached_token(cred, REFRESH_MARGIN_SECS)? {
            return Ok(token);
        }
        let id = cred.id.as_str();
        let lock = self.lock_for(id);
        let _guard = lock.lock().await;
        // Someone may have refreshed while we waited for the lock, here or on another
        // instance; while another instance refreshes, its still valid token serves.
        let cred = match self
            .claim_refresh(
                id,
                |c| self.cached_token(c, REFRESH_MARGIN_SECS),
                |c| self.cached_token(c, 0),
            )
            .await?
        {
            Claimed::Refresh(cred) => cred,
            Claimed::Done(token) => return Ok(token),
        };
        let renewed = self.renew_and_read(&cred).await;
        self.release_refresh(id).await;
        match renewed {
            Ok(token) => Ok(token),
            Err(failure) => {
                // A rejected client secret (expired, say) cannot get a new token, but the
                // one Microsoft issued before stays valid until it expires: mail keeps
                // coming in while the administrator enters a new secret.
                let cred = self.load(id).await?;
                match self.cached_token(&cred, 0)? {
                    Some(token) if cred.stored_status() == TokenStatus::InvalidClient => Ok(token),
                    _ => Err(failure),
                }
            }
        }
    }

    /// After Graph rejected `rejected` (401 InvalidAuthenticationToken): gets a new token,
    /// unless another caller already replaced the rejected one.
    pub async fn refresh_after_rejection(
        &self,
        id: &str,
        rejected: &str,
    ) -> Result<AccessToken, TokenFailure> {
        let lock = self.lock_for(id);
        let _guard = lock.lock().await;
        let replaced = |c: &Credential| {
            Ok(self
                .cached_token(c, 0)?
                .filter(|t| t.secret.expose() != rejected))
        };
        let cred = match self.claim_refresh(id, replaced, replaced).await? {
            Claimed::Refresh(cred) => cred,
            Claimed::Done(token) => return Ok(token),
        };
        let renewed = self.renew_and_read(&cred).await;
        self.release_refresh(id).await;
        renewed
    }

    /// Takes the credential's refresh claim in the database, so that no other instance
    /// presents the same refresh token (a strict authorization server revokes the grant
    /// when a refresh token is presented twice; RFC 9700, section 4.14.2). With the claim,
    /// the credential is read again: when `done` finds a token (another instance refreshed
    /// just before), the claim goes back and that token serves. Without it, this waits,
    /// reading the credential, until `usable` finds a token or the claim is free.
    async fn claim_refresh(
        &self,
        id: &str,
        done: impl Fn(&Credential) -> Result<Option<AccessToken>, TokenFailure>,
        usable: impl Fn(&Credential) -> Result<Option<AccessToken>, TokenFailure>,
    ) -> Result<Claimed, TokenFailure> {
        let owner = self.settings.instance_id.as_str();
        let claim_for = self.settings.refresh_claim();
        let give_up = tokio::time::Instant::now() + claim_for * 2;
        loop {
            let now = crate::clock::now_ms();
            let until = now + claim_for.as_millis() as i64;
            let claimed = crate::store::leases::claim_refresh(&self.db, id, owner, now, until)
                .await
                .map_err(db_error)?;
            let cred = self.load(id).await?;
            if claimed {
                return match done(&cred) {
                    Ok(Some(token)) => {
                        self.release_refresh(id).await;
                        Ok(Claimed::Done(token))
                    }
                    Ok(None) => Ok(Claimed::Refresh(Box::new(cred))),
                    Err(e) => {
                        self.release_refresh(id).await;
                        Err(e)
                    }
                };
            }
            if let Some(token) = usable(&cred)? {
                return Ok(Claimed::Done(token));
            }
            if tokio::time::Instant::now() >= give_up {
                return Err(TokenFailure::NotUsable(format!(
                    "another instance has been refreshing the tokens of credential {id} for too long"
                )));
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    async fn release_refresh(&self, id: &str) {
        let owner = self.settings.instance_id.as_str();
        if let Err(e) = crate::store::leases::release_refresh(&self.db, id, owner).await {
            // The claim expires on its own.
            tracing::warn!(credential = %id, error = %e, "could not release the refresh claim");
        }
    }

    /// Renews the credential's tokens (the caller holds its lock) and returns the new one.
    /// A server that issues tokens shorter than the margin still gets its token used.
    async fn renew_and_read(&self, cred: &Credential) -> Result<AccessToken, TokenFailure> {
        self.renew(cred).await?;
        let cred = self.load(&cred.id).await?;
        self.cached_token(&cred, 0)?.ok_or_else(|| {
            TokenFailure::NotUsable("The token endpoint issued an already expired token.".into())
        })
    }

    /// The stored access token if it has more than `margin` seconds left. A credential
    /// whose secret was rejected keeps the token it was issued before: it is used until it
    /// expires (no refresh is tried; a new secret clears the status).
    fn cached_token(
        &self,
        cred: &Credential,
        margin: i64,
    ) -> Result<Option<AccessToken>, TokenFailure> {
        let expires_at = match (cred.stored_status(), cred.expires_at) {
            (TokenStatus::Valid | TokenStatus::InvalidClient, Some(exp))
                if exp - crate::clock::now() > margin =>
            {
                exp
            }
            _ => return Ok(None),
        };
        let Some(secret) = cred
            .open_access_token(&self.key)
            .map_err(|e| TokenFailure::NotUsable(crate::prose::sentence(e.to_string())))?
        else {
            return Ok(None);
        };
        Ok(Some(AccessToken { secret, expires_at }))
    }

    /// Gets new tokens without a user: a refresh, or a client-credentials request.
    async fn renew(&self, cred: &Credential) -> Result<(), TokenFailure> {
        match cred.stored_status() {
            TokenStatus::NeedsConsent => {
                return Err(TokenFailure::NotUsable(format!(
                    "Credential {} needs consent: press its key button and sign in again.",
                    cred.id
                )));
            }
            TokenStatus::InvalidClient => {
                return Err(TokenFailure::NotUsable(format!(
                    "The client secret of credential {} was rejected: enter a new one.",
                    cred.id
                )));
            }
            _ => {}
        }
        let cfg = self.client_config(cred)?;
        let result = match cred.grant_type() {
            GrantType::ClientCredentials => {
                self.requester().client_credentials(&cfg, &cred.scope).await
            }
            GrantType::AuthorizationCode => {
                let Some(refresh) = cred
                    .open_refresh_token(&self.key)
                    .map_err(|e| TokenFailure::NotUsable(crate::prose::sentence(e.to_string())))?
                else {
                    return Err(TokenFailure::NotUsable(format!(
                        "Credential {} has no refresh token: press its key button and sign in.",
                        cred.id
                    )));
                };
                self.requester().refresh(&cfg, &refresh, &cred.scope).await
            }
        };
        self.store_outcome(cred, result, None).await?;
        if let Some(metrics) = self.http.metrics() {
            metrics.token_refreshed(&cred.id);
        }
        Ok(())
    }

    /// Requests a client-credentials token now (the key button), whatever the stored one.
    pub async fn fetch_client_credentials(&self, id: &str) -> Result<(), TokenFailure> {
        let lock = self.lock_for(id);
        let _guard = lock.lock().await;
        let cred = self.load(id).await?;
        let cfg = self.client_config(&cred)?;
        let result = self.requester().client_credentials(&cfg, &cred.scope).await;
        self.store_outcome(&cred, result, None).await
    }

    /// Redeems an authorization code from the callback and stores the tokens.
    pub async fn redeem_code(
        &self,
        id: &str,
        code: &str,
        verifier: &Secret,
    ) -> Result<(), TokenFailure> {
        let lock = self.lock_for(id);
        let _guard = lock.lock().await;
        let cred = self.load(id).await?;
        let cfg = self.client_config(&cred)?;
        let result = self.requester().exchange_code(&cfg, code, verifier).await;
        // A failed code exchange only fails this sign-in: the stored grant is untouched.
        let result = match result {
            Err(TokenFailure::Rejected { error, .. }) => Err(TokenFailure::Rejected {
                status: cred.stored_status(),
                error,
            }),
            other => other,
        };
        let expected = ExpectedTenant::of(&cred.access_token_url, cred.tenant_pin.as_deref());
        self.store_outcome(&cred, result, Some(expected)).await
    }

    /// Stores new tokens, or records the failure in the credential's status.
    /// `sign_in` is Some(expected tenant) for a code exchange, which also records the account
    /// (and pins its tenant when the credential expects a pin and has none yet).
    async fn store_outcome(
        &self,
        cred: &Credential,
        result: Result<IssuedTokens, TokenFailure>,
        sign_in: Option<ExpectedTenant>,
    ) -> Result<(), TokenFailure> {
        let issued = match result {
            Ok(issued) => issued,
            Err(failure) => return Err(self.record_failure(cred, failure).await),
        };
        let account = match &sign_in {
            Some(expected) => match signed_in_account(expected, &issued) {
                Ok(account) => Some(account),
                Err(failure) => return Err(self.record_failure(cred, failure).await),
            },
            None => None,
        };
        let lifetime = issued
            .expires_in
            .map(|d| d.as_secs() as i64)
            .unwrap_or(DEFAULT_LIFETIME_SECS);
        let refresh_token = match (cred.grant_type(), &issued.refresh_token) {
            (GrantType::ClientCredentials, _) => RefreshTokenUpdate::Clear,
            (_, Some(rt)) => RefreshTokenUpdate::Replace(rt.clone()),
            (_, None) => RefreshTokenUpdate::Keep,
        };
        let tokens = NewTokens {
            access_token: issued.access_token.clone(),
            refresh_token,
            expires_at: crate::clock::now() + lifetime,
            granted_scope: issued.scope.clone(),
            pin_tenant: match &sign_in {
                Some(ExpectedTenant::Pinned(None)) => account.as_ref().and_then(|a| a.tid.clone()),
                _ => None,
            },
            account,
        };
        credentials::save_tokens(&self.db, &self.key, &cred.id, tokens)
            .await
            .map_err(db_error)?;
        tracing::info!(credential = %cred.id, expires_in = lifetime, "stored new tokens");
        Ok(())
    }

    /// Records a failed token request on the credential: a refusal sets its status, a
    /// transient or malformed answer only its last error.
    async fn record_failure(&self, cred: &Credential, failure: TokenFailure) -> TokenFailure {
        let status = match &failure {
            TokenFailure::Rejected { status, .. } => Some(*status),
            _ => None,
        };
        tracing::warn!(credential = %cred.id, error = ?failure.to_string(), "token request failed");
        if let Some(metrics) = self.http.metrics() {
            metrics.token_failed(&cred.id);
        }
        if let Err(e) =
            credentials::record_error(&self.db, &cred.id, status, &failure.recorded()).await
        {
            tracing::error!(credential = %cred.id, error = %e, "could not record the token error");
        }
        failure
    }
}

/// The outcome of [`TokenService::claim_refresh`].
enum Claimed {
    /// This instance holds the claim and must refresh (then release it).
    Refresh(Box<Credential>),
    /// A token that serves without a refresh here.
    Done(AccessToken),
}

fn db_error(e: sqlx::Error) -> TokenFailure {
    TokenFailure::NotUsable(format!("The database failed: {e}."))
}

/// Who signed in, from the id_token, checked against the tenant the credential expects.
/// A sign-in whose tenant cannot be read (no id_token, no `tid`) is refused: a check that
/// cannot be made must not pass.
fn signed_in_account(
    expected: &ExpectedTenant,
    issued: &IssuedTokens,
) -> Result<SignedIn, TokenFailure> {
    let account = issued
        .id_token
        .as_deref()
        .map(|jwt| {
            account_from_id_token(jwt).ok_or_else(|| {
                TokenFailure::BadResponse(RecordedError {
                    code: None,
                    description: "The id_token in the token response is not a readable JWT.".into(),
                    trace_id: None,
                })
            })
        })
        .transpose()?;
    let Some(tid) = account.as_ref().and_then(|a| a.tid.clone()) else {
        return Err(tenant_failure(
            "tenant_unknown",
            "the sign-in did not say which tenant the account belongs to (no id_token with a \
             tid claim), so it cannot be checked; nothing was stored"
                .into(),
        ));
    };
    match expected {
        ExpectedTenant::Named(guid) if !guid.eq_ignore_ascii_case(&tid) => Err(tenant_failure(
            "tenant_mismatch",
            format!(
                "the account signed in to tenant {tid}, but this credential is for tenant {guid}; nothing was stored"
            ),
        )),
        ExpectedTenant::Pinned(Some(pin)) if !pin.eq_ignore_ascii_case(&tid) => {
            Err(tenant_failure(
                "tenant_mismatch",
                format!(
                    "the account signed in to tenant {tid}, but this credential's sign-ins are \
                     pinned to tenant {pin}, the tenant of its first sign-in; nothing was stored. \
                     If the credential really belongs to another tenant now, tick \
                     \"Forget the pinned tenant\" on its form, save, and sign in again"
                ),
            ))
        }
        _ => Ok(account.unwrap_or_default()),
    }
}

fn tenant_failure(code: &str, description: String) -> TokenFailure {
    TokenFailure::Rejected {
        status: TokenStatus::Error,
        error: RecordedError {
            code: Some(code.into()),
            description: crate::prose::sentence(description),
            trace_id: None,
        },
    }
}
