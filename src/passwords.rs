//! Administrators' sign-in rules: what a user name and a password may be, and argon2id
//! password hashes, computed off the async runtime and at most a few at a time so that
//! sign-in floods cannot starve the server. Shared by the setup page and `mailport user add`.

use std::sync::LazyLock;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use tokio::sync::Semaphore;

pub const MIN_LENGTH: usize = 10;
pub const MAX_LENGTH: usize = 1024;

static HASHING: LazyLock<Semaphore> = LazyLock::new(|| Semaphore::new(2));

/// A hash of a random password, verified against when the user name is unknown, so that
/// a wrong user name takes as long as a wrong password.
static DUMMY_HASH: LazyLock<String> =
    LazyLock::new(|| hash_blocking("dummy password that matches nothing").unwrap_or_default());

/// An administrator's user name: 1 to 64 visible characters, no spaces.
pub fn validate_username(name: &str) -> Result<(), String> {
    if name.is_empty() || name.chars().count() > 64 {
        return Err("Use 1 to 64 characters.".into());
    }
    if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("Spaces and control characters are not allowed.".into());
    }
    Ok(())
}

/// A new password: at least [`MIN_LENGTH`] characters, at most [`MAX_LENGTH`] bytes.
pub fn validate(password: &str) -> Result<(), String> {
    let n = password.chars().count();
    if n < MIN_LENGTH {
        return Err(format!("Use at least {MIN_LENGTH} characters."));
    }
    if password.len() > MAX_LENGTH {
        return Err(format!("Use at most {MAX_LENGTH} bytes."));
    }
    Ok(())
}

pub fn hash_blocking(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing failed: {e}"))
}

pub async fn hash(password: String) -> anyhow::Result<String> {
    let _permit = HASHING.acquire().await?;
    tokio::task::spawn_blocking(move || hash_blocking(&password)).await?
}

/// Verifies against `hash`, or against a dummy hash when the user does not exist.
pub async fn verify(password: String, hash: Option<String>) -> bool {
    let Ok(_permit) = HASHING.acquire().await else {
        return false;
    };
    let known = hash.is_some();
    let result = tokio::task::spawn_blocking(move || {
        let hash = hash.unwrap_or_else(|| DUMMY_HASH.clone());
        PasswordHash::new(&hash)
            .map(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false)
    })
    .await;
    known && result.unwrap_or(false)
}
