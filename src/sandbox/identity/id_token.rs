//! The `id_token`: a JWT with Entra ID's v2.0 claims. Its signature is a placeholder (the
//! sandbox publishes no keys); Mailport reads it straight from the token endpoint over TLS,
//! as Microsoft's docs allow, so it never needs verifying.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::scopes::GrantedScopes;
use crate::sandbox::world::UserConfig;

/// ID tokens live an hour at Entra ID.
const ID_TOKEN_LIFETIME_SECS: i64 = 3600;

pub struct IdTokenInput<'a> {
    pub tenant_id: &'a str,
    pub client_id: &'a str,
    pub user: &'a UserConfig,
    pub scopes: &'a GrantedScopes,
    pub nonce: Option<&'a str>,
    pub now: i64,
}

pub fn issue(input: &IdTokenInput<'_>) -> String {
    let header = json!({"typ": "JWT", "alg": "RS256", "kid": "sandbox"});
    let mut claims = json!({
        "aud": input.client_id,
        "iss": format!("https://login.microsoftonline.com/{}/v2.0", input.tenant_id),
        "iat": input.now,
        "nbf": input.now,
        "exp": input.now + ID_TOKEN_LIFETIME_SECS,
        "name": input.user.display_name,
        "oid": input.user.id,
        "sub": pairwise_subject(&input.user.id, input.client_id),
        "tid": input.tenant_id,
        "ver": "2.0",
    });
    if let Value::Object(map) = &mut claims {
        if input.scopes.has("profile") {
            map.insert(
                "preferred_username".into(),
                Value::String(input.user.user_principal_name.clone()),
            );
        }
        if input.scopes.has("email") {
            let mail = input
                .user
                .mail
                .clone()
                .unwrap_or_else(|| input.user.user_principal_name.clone());
            map.insert("email".into(), Value::String(mail));
        }
        if let Some(nonce) = input.nonce {
            map.insert("nonce".into(), Value::String(nonce.to_owned()));
        }
    }
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    // Looks like an RS256 signature's encoding but proves nothing.
    let placeholder = Sha256::digest(format!("sandbox-unsigned:{signing_input}"));
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(placeholder))
}

/// `sub` differs per app for the same user, as at Entra ID.
fn pairwise_subject(user_id: &str, client_id: &str) -> String {
    let digest = Sha256::digest(format!("{user_id}:{}", client_id.to_ascii_lowercase()));
    URL_SAFE_NO_PAD.encode(&digest[..32])
}
