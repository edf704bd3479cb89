//! OAuth2 credentials and the tokens they hold. Secret columns hold ciphertexts only. The
//! repository speaks [`Secret`]s at its edge: it encrypts what it writes and decrypts what
//! it is asked for with the `crypto::MasterKey` passed in, under the `*_context` names
//! below, so that no caller handles a ciphertext.

use crate::oauth::credential::{ClientAuth, GrantType, RecordedError, SignedIn, TokenStatus};

use super::{Db, now};
use crate::crypto::{DecryptError, MasterKey, Secret};

super::text_column!(GrantType {
    AuthorizationCode,
    ClientCredentials
});
super::text_column!(ClientAuth { Post, Basic });
super::text_column!(TokenStatus {
    None,
    Valid,
    Expired,
    NeedsConsent,
    InvalidClient,
    Error
});

/// The editable settings of a credential (everything on the form but the secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialSettings {
    pub id: String,
    pub description: String,
    pub grant_type: GrantType,
    pub authorization_url: String,
    pub access_token_url: String,
    pub client_id: String,
    pub scope: String,
    pub client_auth: ClientAuth,
}

/// A credential row, secrets still encrypted.
#[derive(Clone, sqlx::FromRow)]
pub struct Credential {
    pub id: String,
    pub description: String,
    grant_type: GrantType,
    pub authorization_url: String,
    pub access_token_url: String,
    pub client_id: String,
    pub client_secret: Option<Vec<u8>>,
    pub scope: String,
    client_auth: ClientAuth,
    pub created_at: i64,
    pub updated_at: i64,
    token_status: TokenStatus,
    pub access_token: Option<Vec<u8>>,
    pub refresh_token: Option<Vec<u8>>,
    pub expires_at: Option<i64>,
    pub granted_scope: Option<String>,
    pub token_updated_at: Option<i64>,
    pub account_username: Option<String>,
    pub account_name: Option<String>,
    pub account_tid: Option<String>,
    pub account_oid: Option<String>,
    pub last_error_code: Option<String>,
    pub last_error_description: Option<String>,
    pub last_error_trace_id: Option<String>,
    pub last_error_at: Option<i64>,
    /// The tenant of the first sign-in when the token URL names no tenant GUID.
    pub tenant_pin: Option<String>,
}

// Secrets are ciphertexts, but keep them out of logs all the same.
impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("id", &self.id)
            .field("grant_type", &self.grant_type)
            .field("token_status", &self.token_status)
            .finish_non_exhaustive()
    }
}

impl Credential {
    pub fn grant_type(&self) -> GrantType {
        self.grant_type
    }
    pub fn client_auth(&self) -> ClientAuth {
        self.client_auth
    }
    /// The stored status, with `valid` turned into `expired` once the access token ran out.
    pub fn status_at(&self, now: i64) -> TokenStatus {
        let stored = self.token_status;
        match (stored, self.expires_at) {
            (TokenStatus::Valid, Some(exp)) if exp <= now => TokenStatus::Expired,
            _ => stored,
        }
    }
    pub fn status(&self) -> TokenStatus {
        self.status_at(now())
    }
    /// The status as stored, before the expiry check.
    pub fn stored_status(&self) -> TokenStatus {
        self.token_status
    }
    pub fn settings(&self) -> CredentialSettings {
        CredentialSettings {
            id: self.id.clone(),
            description: self.description.clone(),
            grant_type: self.grant_type(),
            authorization_url: self.authorization_url.clone(),
            access_token_url: self.access_token_url.clone(),
            client_id: self.client_id.clone(),
            scope: self.scope.clone(),
            client_auth: self.client_auth(),
        }
    }
    pub fn has_refresh_token(&self) -> bool {
        self.refresh_token.is_some()
    }
    /// The client secret, decrypted; `None` when none is stored.
    pub fn open_client_secret(&self, key: &MasterKey) -> Result<Option<Secret>, DecryptError> {
        open(
            key,
            &secret_context(&self.id),
            self.client_secret.as_deref(),
        )
    }
    /// The stored access token, decrypted; `None` when none is stored.
    pub fn open_access_token(&self, key: &MasterKey) -> Result<Option<Secret>, DecryptError> {
        open(
            key,
            &access_token_context(&self.id),
            self.access_token.as_deref(),
        )
    }
    /// The stored refresh token, decrypted; `None` when none is stored.
    pub fn open_refresh_token(&self, key: &MasterKey) -> Result<Option<Secret>, DecryptError> {
        open(
            key,
            &refresh_token_context(&self.id),
            self.refresh_token.as_deref(),
        )
    }
}

fn open(
    key: &MasterKey,
    context: &str,
    blob: Option<&[u8]>,
) -> Result<Option<Secret>, DecryptError> {
    blob.map(|b| key.decrypt_string(context, b)).transpose()
}

/// Encryption contexts: a ciphertext only decrypts in the row and column it was made for.
pub fn secret_context(id: &str) -> String {
    format!("credential/{id}/client_secret")
}
pub fn access_token_context(id: &str) -> String {
    format!("credential/{id}/access_token")
}
pub fn refresh_token_context(id: &str) -> String {
    format!("credential/{id}/refresh_token")
}

const COLUMNS: &str = "id, description, grant_type, authorization_url, access_token_url, client_id, \
    client_secret, scope, client_auth, created_at, updated_at, token_status, access_token, refresh_token, \
    expires_at, granted_scope, token_updated_at, account_username, account_name, account_tid, account_oid, \
    last_error_code, last_error_description, last_error_trace_id, last_error_at, tenant_pin";

pub async fn list(db: &Db) -> sqlx::Result<Vec<Credential>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM credentials ORDER BY LOWER(id), id"
    ))
    .fetch_all(db)
    .await
}

pub async fn get(db: &Db, id: &str) -> sqlx::Result<Option<Credential>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM credentials WHERE id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await
}

/// Creates a credential; `secret` is encrypted here. Fails with a unique violation when
/// the id is taken (see [`super::UniqueViolationExt`]).
pub async fn insert(
    db: &Db,
    key: &MasterKey,
    s: &CredentialSettings,
    secret: Option<&Secret>,
) -> sqlx::Result<()> {
    let secret = secret.map(|v| key.encrypt_str(&secret_context(&s.id), v.expose()));
    let t = now();
    sqlx::query(
        "INSERT INTO credentials (id, description, grant_type, authorization_url, access_token_url,
            client_id, client_secret, scope, client_auth, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
    )
    .bind(&s.id)
    .bind(&s.description)
    .bind(s.grant_type.as_str())
    .bind(&s.authorization_url)
    .bind(&s.access_token_url)
    .bind(&s.client_id)
    .bind(secret)
    .bind(&s.scope)
    .bind(s.client_auth.as_str())
    .bind(t)
    .execute(db)
    .await
    .map(|_| ())
}

/// Saves new settings. `secret` None keeps the stored secret, unless the access token URL
/// moves to another origin: then the stored secret is dropped, since it was entered for the
/// old host (callers ask for a new one first). When `reset_tokens` is set (the app,
/// endpoint, grant or scope changed) the old tokens no longer belong to this credential and
/// are dropped. A new secret clears an `invalid_client` status.
pub async fn update(
    db: &Db,
    key: &MasterKey,
    s: &CredentialSettings,
    secret: Option<&Secret>,
    reset_tokens: bool,
) -> sqlx::Result<bool> {
    let secret = secret.map(|v| key.encrypt_str(&secret_context(&s.id), v.expose()));
    let mut tx = db.begin().await?;
    let old_url: Option<String> =
        sqlx::query_scalar("SELECT access_token_url FROM credentials WHERE id = $1")
            .bind(&s.id)
            .fetch_optional(&mut *tx)
            .await?;
    let keep_secret = old_url.is_some_and(|old| {
        crate::outbound::origin_of(&old) == crate::outbound::origin_of(&s.access_token_url)
    });
    let changed = sqlx::query(
        "UPDATE credentials SET description = $2, grant_type = $3, authorization_url = $4,
            access_token_url = $5, client_id = $6,
            client_secret = CASE WHEN $7 IS NOT NULL THEN $7 WHEN $11 THEN client_secret ELSE NULL END,
            scope = $8, client_auth = $9, updated_at = $10,
            token_status = CASE WHEN $7 IS NOT NULL AND token_status = 'invalid_client' THEN 'none' ELSE token_status END
         WHERE id = $1",
    )
    .bind(&s.id)
    .bind(&s.description)
    .bind(s.grant_type.as_str())
    .bind(&s.authorization_url)
    .bind(&s.access_token_url)
    .bind(&s.client_id)
    .bind(secret)
    .bind(&s.scope)
    .bind(s.client_auth.as_str())
    .bind(now())
    .bind(keep_secret)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        > 0;
    if changed && reset_tokens {
        sqlx::query(
            "UPDATE credentials SET token_status = 'none', access_token = NULL, refresh_token = NULL,
                expires_at = NULL, granted_scope = NULL, token_updated_at = NULL,
                account_username = NULL, account_name = NULL, account_tid = NULL, account_oid = NULL
             WHERE id = $1",
        )
        .bind(&s.id)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(changed)
}

pub async fn delete(db: &Db, id: &str) -> sqlx::Result<bool> {
    Ok(sqlx::query("DELETE FROM credentials WHERE id = $1")
        .bind(id)
        .execute(db)
        .await?
        .rows_affected()
        > 0)
}

/// What to do with the stored refresh token when new tokens arrive.
#[derive(Debug)]
pub enum RefreshTokenUpdate {
    /// Store this rotated refresh token.
    Replace(Secret),
    /// The server sent none: keep what we have.
    Keep,
    /// This grant has no refresh token (client credentials).
    Clear,
}

/// New tokens, in the clear: [`save_tokens`] encrypts them.
#[derive(Debug)]
pub struct NewTokens {
    pub access_token: Secret,
    pub refresh_token: RefreshTokenUpdate,
    pub expires_at: i64,
    pub granted_scope: Option<String>,
    /// Replaces the stored account when present (a new sign-in).
    pub account: Option<SignedIn>,
    /// Pins this tenant when the credential has no pin yet (its first sign-in).
    pub pin_tenant: Option<String>,
}

/// Stores new tokens and marks the credential valid, in ONE statement: the rotated refresh
/// token can never be lost while the access token is kept (peers lose mail after 90 days
/// that way).
pub async fn save_tokens(
    db: &Db,
    key: &MasterKey,
    id: &str,
    tokens: NewTokens,
) -> sqlx::Result<bool> {
    let (refresh_mode, refresh_blob) = match tokens.refresh_token {
        RefreshTokenUpdate::Replace(rt) => (
            "replace",
            Some(key.encrypt_str(&refresh_token_context(id), rt.expose())),
        ),
        RefreshTokenUpdate::Keep => ("keep", None),
        RefreshTokenUpdate::Clear => ("clear", None),
    };
    let account = tokens.account.clone().unwrap_or_default();
    let replace_account = tokens.account.is_some();
    let t = now();
    let n = sqlx::query(
        "UPDATE credentials SET token_status = 'valid', access_token = $2,
            refresh_token = CASE $3 WHEN 'replace' THEN $4 WHEN 'clear' THEN NULL ELSE refresh_token END,
            expires_at = $5, granted_scope = COALESCE($6, granted_scope), token_updated_at = $7,
            account_username = CASE WHEN $8 THEN $9 ELSE account_username END,
            account_name = CASE WHEN $8 THEN $10 ELSE account_name END,
            account_tid = CASE WHEN $8 THEN $11 ELSE account_tid END,
            account_oid = CASE WHEN $8 THEN $12 ELSE account_oid END,
            tenant_pin = COALESCE(tenant_pin, $13),
            last_error_code = NULL, last_error_description = NULL, last_error_trace_id = NULL, last_error_at = NULL
         WHERE id = $1",
    )
    .bind(id)
    .bind(key.encrypt_str(&access_token_context(id), tokens.access_token.expose()))
    .bind(refresh_mode)
    .bind(refresh_blob)
    .bind(tokens.expires_at)
    .bind(tokens.granted_scope)
    .bind(t)
    .bind(replace_account)
    .bind(account.username)
    .bind(account.name)
    .bind(account.tid)
    .bind(account.oid)
    .bind(tokens.pin_tenant)
    .execute(db)
    .await?
    .rows_affected();
    Ok(n > 0)
}

/// Records an error. `status` Some changes the token status (the tokens stay; the key
/// button replaces them); None leaves the status alone (transient failures, sign-in errors).
pub async fn record_error(
    db: &Db,
    id: &str,
    status: Option<TokenStatus>,
    err: &RecordedError,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE credentials SET token_status = COALESCE($2, token_status),
            last_error_code = $3, last_error_description = $4, last_error_trace_id = $5, last_error_at = $6
         WHERE id = $1",
    )
    .bind(id)
    .bind(status.map(|s| s.as_str()))
    .bind(&err.code)
    .bind(&err.description)
    .bind(&err.trace_id)
    .bind(now())
    .execute(db)
    .await
    .map(|_| ())
}

/// Forgets a credential's tenant pin: the next sign-in pins its tenant anew.
pub async fn reset_tenant_pin(db: &Db, id: &str) -> sqlx::Result<()> {
    sqlx::query("UPDATE credentials SET tenant_pin = NULL WHERE id = $1")
        .bind(id)
        .execute(db)
        .await
        .map(|_| ())
}

/// Some credential with a stored client secret: `(id, ciphertext)`, for checking that the
/// master key still opens what the database holds.
pub async fn any_secret(db: &Db) -> sqlx::Result<Option<(String, Vec<u8>)>> {
    sqlx::query_as(
        "SELECT id, client_secret FROM credentials WHERE client_secret IS NOT NULL ORDER BY id LIMIT 1",
    )
    .fetch_optional(db)
    .await
}

/// The e-mail accounts that use a credential.
pub async fn used_by(db: &Db, id: &str) -> sqlx::Result<Vec<String>> {
    super::accounts::using_credential(db, id).await
}
