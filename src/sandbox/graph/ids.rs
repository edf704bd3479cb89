//! Exchange-style opaque ids: url-safe base64 strings, case-sensitive.
//!
//! Regular message ids start like Exchange's EWS ids (`AAMkA…`), immutable ids like Exchange's
//! immutable entry ids (`AAkALg…`). Anything outside the base64 alphabet, or too short to be an
//! Exchange id, is "malformed" (400) rather than "not found" (404), as Graph distinguishes them.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE;
use rand::RngCore;

fn random_b64(prefix: &str, len: usize) -> String {
    let mut bytes = vec![0u8; len];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", URL_SAFE.encode(bytes))
}

pub fn new_regular_message_id() -> String {
    random_b64("AAMkAGI2", 66)
}

pub fn new_immutable_message_id() -> String {
    random_b64("AAkALgAA", 60)
}

pub fn new_folder_id() -> String {
    random_b64("AAMkAGI2AC4AAA", 30)
}

/// A fresh changeKey: Exchange changes it on every modification of an item.
pub fn new_change_key() -> String {
    random_b64("CQAAABYAAAB", 12)
}

/// Whether `id` could be an Exchange id at all.
pub fn is_well_formed(id: &str) -> bool {
    id.len() >= 16
        && id.len() <= 512
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'=' | b'+' | b'/'))
}

/// An opaque paging/sync token (not an Exchange id, just unguessable).
pub fn new_token() -> String {
    let mut bytes = [0u8; 24];
    rand::thread_rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
