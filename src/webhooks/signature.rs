//! Signing secrets and signatures exactly as the Standard Webhooks specification 1.0.0 says
//! (<https://www.standardwebhooks.com/>, "Signature scheme"): a symmetric secret is
//! `whsec_` + base64 of random bytes; the signature is `v1,` + base64 of
//! HMAC-SHA256(secret bytes, `{webhook-id}.{webhook-timestamp}.{body}`), and the
//! `webhook-signature` header lists one signature per valid secret, separated by spaces.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

use crate::crypto::Secret;

/// The prefix of a symmetric Standard Webhooks secret.
pub const SECRET_PREFIX: &str = "whsec_";
/// Random bytes in a new secret (the specification asks for 24 to 64).
const SECRET_BYTES: usize = 32;

/// A new signing secret: `whsec_` + base64 of 32 random bytes.
pub fn new_secret() -> Secret {
    let mut bytes = [0u8; SECRET_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    Secret::new(format!("{SECRET_PREFIX}{}", STANDARD.encode(bytes)))
}

/// The key bytes of a `whsec_` secret; `None` if it is not one.
pub fn secret_key(secret: &Secret) -> Option<Vec<u8>> {
    let encoded = secret.expose().strip_prefix(SECRET_PREFIX)?;
    STANDARD.decode(encoded).ok().filter(|k| !k.is_empty())
}

/// `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`.
pub fn sign(key: &[u8], webhook_id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        // HMAC takes keys of any length; this branch cannot be reached.
        .unwrap_or_else(|_| <Hmac<Sha256> as Mac>::new_from_slice(&[0]).expect("HMAC key"));
    mac.update(webhook_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// The `webhook-signature` header: one signature per key, space-separated (the current
/// secret first, then the previous one while it is still valid after a rotation).
pub fn signature_header(keys: &[&[u8]], webhook_id: &str, timestamp: i64, body: &[u8]) -> String {
    keys.iter()
        .map(|k| sign(k, webhook_id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_specification_example() {
        // The test vector of the Rust reference implementation (standardwebhooks 1.0).
        let key = secret_key(&Secret::new(
            "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD".into(),
        ))
        .unwrap();
        assert_eq!(
            sign(
                &key,
                "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
                1649367553,
                br#"{"email":"test@example.com","username":"test_user"}"#
            ),
            "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw="
        );
    }

    #[test]
    fn new_secrets_are_whsec_with_32_bytes() {
        let s = new_secret();
        assert!(s.expose().starts_with("whsec_"));
        assert_eq!(secret_key(&s).unwrap().len(), 32);
        assert_ne!(new_secret().expose(), s.expose());
        assert!(secret_key(&Secret::new("nope".into())).is_none());
        let two = signature_header(&[b"a", b"b"], "msg_1", 1, b"{}");
        assert_eq!(two.split(' ').count(), 2);
    }
}
