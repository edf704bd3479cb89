//! CSRF tokens for the forms a visitor fills in before any session exists (sign-in and
//! first-run setup): a signed double-submit cookie (OWASP CSRF Prevention Cheat Sheet,
//! "Signed Double-Submit Cookie"). The token is `ISSUED.NONCE.MAC`, with the MAC an
//! HMAC-SHA256 under a key derived from the master key; it goes out both as the
//! `mailport_form` cookie and in the form, and a POST must carry both, equal and valid.
//! Nothing is stored, so anonymous visitors cannot grow the database, and any Mailport
//! instance sharing the key can check it.

use axum::http::{HeaderMap, HeaderValue, header};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::crypto::{MasterKey, constant_time_eq, random_token};

/// The cookie that carries the token.
pub const COOKIE: &str = "mailport_form";
/// How long a sign-in or setup form stays usable after it was shown.
pub const LIFETIME_SECS: i64 = 8 * 3600;
const PURPOSE: &str = "pre-session form";

fn mac(key: &MasterKey, issued: i64, nonce: &str) -> String {
    URL_SAFE_NO_PAD.encode(key.sign(PURPOSE, format!("{issued}.{nonce}").as_bytes()))
}

fn new_token(key: &MasterKey) -> String {
    let issued = crate::store::now();
    let nonce = random_token(16);
    format!("{issued}.{nonce}.{}", mac(key, issued, &nonce))
}

/// Whether `token` was made with `key` and is still fresh.
fn valid(key: &MasterKey, token: &str) -> bool {
    let mut parts = token.splitn(3, '.');
    let (Some(issued), Some(nonce), Some(given)) = (parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let Ok(issued) = issued.parse::<i64>() else {
        return false;
    };
    let age = crate::store::now() - issued;
    (0..=LIFETIME_SECS).contains(&age) && constant_time_eq(&mac(key, issued, nonce), given)
}

/// The token the request's cookie carries, if it is valid.
fn from_cookie(key: &MasterKey, headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_string())
        .find(|value| valid(key, value))
}

/// The token for a form on this page, and the `Set-Cookie` to send when the request did
/// not already carry a valid one.
pub fn issue(key: &MasterKey, headers: &HeaderMap, secure: bool) -> (String, Option<HeaderValue>) {
    if let Some(token) = from_cookie(key, headers) {
        return (token, None);
    }
    let token = new_token(key);
    let cookie = format!(
        "{COOKIE}={token}; Path=/; Max-Age={LIFETIME_SECS}; HttpOnly; SameSite=Strict{}",
        if secure { "; Secure" } else { "" }
    );
    (token, HeaderValue::from_str(&cookie).ok())
}

/// Whether a POST's `given` token matches its cookie and is valid.
pub fn verify(key: &MasterKey, headers: &HeaderMap, given: &str) -> bool {
    from_cookie(key, headers).is_some_and(|cookie| constant_time_eq(&cookie, given))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_cookie(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("other=1; {COOKIE}={value}")).unwrap(),
        );
        h
    }

    #[test]
    fn a_token_needs_its_cookie_its_key_and_its_age() {
        let key = MasterKey::from_bytes(&[1u8; 32]).unwrap();
        let other = MasterKey::from_bytes(&[2u8; 32]).unwrap();
        let (token, cookie) = issue(&key, &HeaderMap::new(), true);
        let cookie = cookie.expect("a new cookie");
        assert!(
            cookie
                .to_str()
                .unwrap()
                .contains("HttpOnly; SameSite=Strict; Secure")
        );
        assert!(verify(&key, &with_cookie(&token), &token));
        let (again, none) = issue(&key, &with_cookie(&token), true);
        assert_eq!((again.as_str(), none), (token.as_str(), None));
        assert!(!verify(&key, &HeaderMap::new(), &token), "no cookie");
        assert!(!verify(&other, &with_cookie(&token), &token), "another key");
        let (second, _) = issue(&key, &HeaderMap::new(), true);
        assert!(
            !verify(&key, &with_cookie(&token), &second),
            "another cookie"
        );
        let old = crate::store::now() - LIFETIME_SECS - 1;
        let nonce = "n";
        let stale = format!("{old}.{nonce}.{}", mac(&key, old, nonce));
        assert!(!verify(&key, &with_cookie(&stale), &stale), "too old");
        let forged = format!("{}.{nonce}.{}", old + 10, mac(&key, old, nonce));
        assert!(
            !verify(&key, &with_cookie(&forged), &forged),
            "changed time"
        );
    }
}
