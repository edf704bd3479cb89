//! Reading who signed in from the id_token. The token comes straight from the token
//! endpoint over TLS, so (as OpenID Connect Core §3.1.3.7 allows) its signature is not
//! checked; its tenant (`tid`) is: against the tenant GUID the credential's token URL
//! names, or, for a domain, `common` or `organizations`, against the tenant of the
//! credential's first sign-in (the pin). A sign-in without a `tid` is refused.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

use super::credential::SignedIn;

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
pub fn account_from_id_token(jwt: &str) -> Option<SignedIn> {
    let payload = jwt.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let claims: Claims = serde_json::from_slice(&bytes).ok()?;
    Some(SignedIn {
        username: claims.preferred_username,
        name: claims.name,
        tid: claims.tid,
        oid: claims.oid,
    })
}

/// The tenant segment of a Microsoft token or authorize URL: the segment before
/// `oauth2` (`…/{tenant}/oauth2/v2.0/token`), so that a path prefix in front (a proxy) does
/// not hide it; without an `oauth2` segment, the first segment.
pub fn tenant_segment(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    let segments: Vec<&str> = parsed.path_segments()?.collect();
    let at = segments
        .iter()
        .position(|s| s.eq_ignore_ascii_case("oauth2"))
        .and_then(|i| i.checked_sub(1))
        .unwrap_or(0);
    segments
        .get(at)
        .filter(|s| !s.is_empty())
        .map(|s| s.to_ascii_lowercase())
}

/// The tenant GUID a token or authorize URL names. `common`, `organizations` and domains
/// cannot be compared with `tid`, so they yield None (their sign-ins are pinned instead).
pub fn tenant_guid_of(url: &str) -> Option<String> {
    let segment = tenant_segment(url)?;
    uuid::Uuid::parse_str(&segment).ok().map(|u| u.to_string())
}

/// Which tenant a sign-in must come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExpectedTenant {
    /// The token URL names this tenant GUID.
    Named(String),
    /// The token URL names a domain or a multi-tenant endpoint: the tenant of the first
    /// sign-in (None before it), which later sign-ins must match.
    Pinned(Option<String>),
}

impl ExpectedTenant {
    /// For a credential with this token URL and stored pin.
    pub fn of(token_url: &str, pin: Option<&str>) -> Self {
        match tenant_guid_of(token_url) {
            Some(guid) => ExpectedTenant::Named(guid),
            None => ExpectedTenant::Pinned(pin.map(str::to_string)),
        }
    }
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
        assert_eq!(
            tenant_guid_of(
                "https://proxy.example/entra/72f988bf-86f1-41af-91ab-2d7cd011db47/oauth2/v2.0/token"
            )
            .as_deref(),
            Some("72f988bf-86f1-41af-91ab-2d7cd011db47"),
            "a path prefix does not hide the tenant"
        );
        assert_eq!(
            ExpectedTenant::of(
                "https://login.microsoftonline.com/common/oauth2/v2.0/token",
                Some("t")
            ),
            ExpectedTenant::Pinned(Some("t".into()))
        );
    }
}
