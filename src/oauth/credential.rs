//! The words of an OAuth2 credential that the protocol code owns and the store persists:
//! its grant (RFC 6749 §4), how the client authenticates (RFC 6749 §2.3.1), what its token
//! is good for, who signed in, and the last error. A leaf: it imports nothing of Mailport.

use serde::Serialize;

/// The grant a credential uses, as stored and as posted by the form. Stored as snake_case
/// text (`store::text_column!`); a row holding any other text fails to load, naming it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    AuthorizationCode,
    ClientCredentials,
}

impl GrantType {
    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::ClientCredentials => "client_credentials",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "authorization_code" => Some(GrantType::AuthorizationCode),
            "client_credentials" => Some(GrantType::ClientCredentials),
            _ => None,
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            GrantType::AuthorizationCode => "Authorization code",
            GrantType::ClientCredentials => "Client credentials",
        }
    }
}

/// What the token of a credential is good for right now. Stored as snake_case text; a row
/// holding any other text fails to load, naming it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenStatus {
    None,
    Valid,
    Expired,
    NeedsConsent,
    InvalidClient,
    Error,
}

impl TokenStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenStatus::None => "none",
            TokenStatus::Valid => "valid",
            TokenStatus::Expired => "expired",
            TokenStatus::NeedsConsent => "needs_consent",
            TokenStatus::InvalidClient => "invalid_client",
            TokenStatus::Error => "error",
        }
    }
}

/// How the client authenticates at the token endpoint (RFC 6749 §2.3.1). Stored as
/// `post` or `basic`; a row holding any other text fails to load, naming it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// `client_secret_post`: client id and secret in the form body (Microsoft's usual).
    Post,
    /// HTTP Basic (RFC 6749 §2.3.1).
    Basic,
}

impl ClientAuth {
    pub fn as_str(self) -> &'static str {
        match self {
            ClientAuth::Post => "post",
            ClientAuth::Basic => "basic",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "post" | "" => Some(ClientAuth::Post),
            "basic" => Some(ClientAuth::Basic),
            _ => None,
        }
    }
}

/// Who signed in, from the id_token's claims (OpenID Connect Core §2 and Microsoft's
/// "ID token claims reference": `preferred_username`, `name`, `tid`, `oid`). Not the
/// e-mail account (`store::accounts::Account`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignedIn {
    pub username: Option<String>,
    pub name: Option<String>,
    pub tid: Option<String>,
    pub oid: Option<String>,
}

/// An error from the token endpoint or the sign-in, as shown to the administrator.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordedError {
    /// e.g. `AADSTS70008` or `invalid_grant`.
    pub code: Option<String>,
    pub description: String,
    pub trace_id: Option<String>,
}
