//! Reading who signed in from the id_token. The token comes straight from the token
//! endpoint over TLS, so (as OpenID Connect Core §3.1.3.7 allows) its signature is not
//! checked; its tenant is, against the tenant the credential's token URL names.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

use crate::store::credentials::Account;

#[derive(Debug, Deserialize)]
struct Claims {
    #[serde(default)]
    preferred_username: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    tid: Option<String>,
    #[serde(default)]
    oid: Option<String>,
}

/// The account claims of a JWT, or None if it is not a readable JWT.
pub fn account_from_id_token(jwt: &str) -> Option<Account> {
    let payload = jwt.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let claims: Claims = serde_json::from_slice(&bytes).ok()?;
    Some(Account {
        username: claims.preferred_username,
        name: claims.name,
        tid: claims.tid,
        oid: claims.oid,
    })
}

/// The tenant segment of a Microsoft token or authorize URL, when it is a tenant GUID.
/// `common`, `organizations` and domains cannot be compared with `tid`, so they yield None.
pub fn tenant_guid_of(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    let first = parsed.path_segments()?.next()?.to_ascii_lowercase();
    uuid::Uuid::parse_str(&first).ok().map(|u| u.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_claims_and_tenant() {
        let payload = URL_SAFE_NO_PAD.encode(
            br#"{"preferred_username":"adele@contoso.com","name":"Adele","tid":"t","oid":"o"}"#,
        );
        let jwt = format!("e30.{payload}.sig");
        let acct = account_from_id_token(&jwt).unwrap();
        assert_eq!(acct.username.as_deref(), Some("adele@contoso.com"));
        assert!(account_from_id_token("garbage").is_none());
        assert_eq!(
            tenant_guid_of("https://login.microsoftonline.com/72F988BF-86F1-41AF-91AB-2D7CD011DB47/oauth2/v2.0/token").as_deref(),
            Some("72f988bf-86f1-41af-91ab-2d7cd011db47")
        );
        assert_eq!(
            tenant_guid_of("https://login.microsoftonline.com/contoso.com/oauth2/v2.0/token"),
            None
        );
    }
}
