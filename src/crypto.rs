//! Encryption at rest for client secrets and tokens: AES-256-GCM with a key that never
//! enters the database. Each ciphertext is bound (as associated data) to the row and field
//! it belongs to, so a blob copied into another row does not decrypt.

use std::fmt;
use std::fs;
use std::io::Write;
use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

/// Format byte in front of every ciphertext, so the scheme can change later.
const VERSION: u8 = 1;
const NONCE_LEN: usize = 12;
pub const KEY_ENV: &str = "MAILPORT_SECRET_KEY";
pub const KEY_FILE: &str = "secret.key";

/// The 32-byte master key. `Debug` never shows it.
#[derive(Clone)]
pub struct MasterKey {
    cipher: Aes256Gcm,
    /// HMAC-SHA256 keyed with a key derived from the master key, for signed tokens (never
    /// the master key itself, which only ever encrypts).
    mac: Hmac<Sha256>,
}

/// Where the master key came from, for messages that tell the operator what to check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// `MAILPORT_SECRET_KEY`.
    Environment,
    /// The key file at this path.
    File(std::path::PathBuf),
}

impl std::fmt::Display for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySource::Environment => write!(f, "{KEY_ENV}"),
            KeySource::File(path) => write!(f, "{}", path.display()),
        }
    }
}

/// The text encrypted as the key's check value (store::key_check).
const CHECK_CONTEXT: &str = "mailport/key-check";
const CHECK_TEXT: &[u8] = b"Mailport master key check, version 1";

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey([redacted])")
    }
}

#[derive(Debug, thiserror::Error)]
#[error("stored secret cannot be decrypted (wrong MAILPORT_SECRET_KEY or secret.key?)")]
pub struct DecryptError;

impl MasterKey {
    pub fn from_bytes(bytes: &[u8]) -> anyhow::Result<Self> {
        if bytes.len() != 32 {
            bail!("the secret key must be 32 bytes, got {}", bytes.len());
        }
        let cipher = Aes256Gcm::new_from_slice(bytes).context("invalid AES-256 key")?;
        let mut derive =
            <Hmac<Sha256> as Mac>::new_from_slice(bytes).context("invalid HMAC key")?;
        derive.update(b"mailport signed tokens v1");
        let mac = <Hmac<Sha256> as Mac>::new_from_slice(&derive.finalize().into_bytes())
            .context("invalid HMAC key")?;
        Ok(MasterKey { cipher, mac })
    }

    /// HMAC-SHA256 of `data` under a key derived from the master key, bound to `purpose`.
    pub fn sign(&self, purpose: &str, data: &[u8]) -> [u8; 32] {
        let mut mac = self.mac.clone();
        mac.update(purpose.as_bytes());
        mac.update(&[0]);
        mac.update(data);
        mac.finalize().into_bytes().into()
    }

    /// The check value stored with the database (`store::key_check`).
    pub fn check_value(&self) -> Vec<u8> {
        self.encrypt(CHECK_CONTEXT, CHECK_TEXT)
    }

    /// Whether `sealed` is this key's check value.
    pub fn opens_check_value(&self, sealed: &[u8]) -> bool {
        self.decrypt(CHECK_CONTEXT, sealed)
            .is_ok_and(|text| text == CHECK_TEXT)
    }

    /// `MAILPORT_SECRET_KEY` if set, else `<data_dir>/secret.key`; None when neither exists.
    pub fn load(data_dir: &Path) -> anyhow::Result<Option<(Self, KeySource)>> {
        if let Ok(text) = std::env::var(KEY_ENV) {
            let key = Self::from_base64(&text).with_context(|| format!("reading {KEY_ENV}"))?;
            return Ok(Some((key, KeySource::Environment)));
        }
        let path = data_dir.join(KEY_FILE);
        match fs::read_to_string(&path) {
            Ok(text) => {
                restrict_permissions(&path)?;
                let key = Self::from_base64(&text)
                    .with_context(|| format!("reading {}", path.display()))?;
                Ok(Some((key, KeySource::File(path))))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }

    /// The key in `path` (`--secret-key-file`): base64 of 32 bytes, as in `secret.key`.
    /// The file must exist; a key file readable by others is tightened to 0600.
    pub fn load_file(path: &Path) -> anyhow::Result<(Self, KeySource)> {
        let text = fs::read_to_string(path)
            .with_context(|| format!("reading the key file {}", path.display()))?;
        restrict_permissions(path)?;
        let key =
            Self::from_base64(&text).with_context(|| format!("reading {}", path.display()))?;
        Ok((key, KeySource::File(path.to_path_buf())))
    }

    /// `MAILPORT_SECRET_KEY` if set, else the file `path`; None when neither is given.
    pub fn load_given(path: Option<&Path>) -> anyhow::Result<Option<(Self, KeySource)>> {
        if let Ok(text) = std::env::var(KEY_ENV) {
            let key = Self::from_base64(&text).with_context(|| format!("reading {KEY_ENV}"))?;
            return Ok(Some((key, KeySource::Environment)));
        }
        path.map(Self::load_file).transpose()
    }

    /// Generates a new key file `<data_dir>/secret.key` (mode 0600).
    pub fn create(data_dir: &Path) -> anyhow::Result<(Self, KeySource)> {
        let path = data_dir.join(KEY_FILE);
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        write_new_key_file(&path, &STANDARD.encode(key))?;
        tracing::info!(path = %path.display(), "generated a new encryption key; back it up with the database");
        Ok((Self::from_bytes(&key)?, KeySource::File(path)))
    }

    pub fn from_base64(text: &str) -> anyhow::Result<Self> {
        let bytes = STANDARD
            .decode(text.trim())
            .context("the secret key is not valid base64")?;
        Self::from_bytes(&bytes)
    }

    /// Encrypts `plaintext`, binding it to `context` (e.g. `credential/ID/client_secret`).
    pub fn encrypt(&self, context: &str, plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: context.as_bytes(),
                },
            )
            // AES-GCM only fails for plaintexts beyond 64 GiB.
            .unwrap_or_default();
        let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    pub fn decrypt(&self, context: &str, blob: &[u8]) -> Result<Vec<u8>, DecryptError> {
        if blob.len() < 1 + NONCE_LEN || blob[0] != VERSION {
            return Err(DecryptError);
        }
        let (nonce, sealed) = blob[1..].split_at(NONCE_LEN);
        self.cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| DecryptError)
    }

    pub fn encrypt_str(&self, context: &str, plaintext: &str) -> Vec<u8> {
        self.encrypt(context, plaintext.as_bytes())
    }

    pub fn decrypt_string(&self, context: &str, blob: &[u8]) -> Result<Secret, DecryptError> {
        let bytes = self.decrypt(context, blob)?;
        String::from_utf8(bytes)
            .map(Secret::new)
            .map_err(|_| DecryptError)
    }
}

fn write_new_key_file(path: &Path, contents: &str) -> anyhow::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()?;
    Ok(())
}

/// The key file must be readable by the owner only; tighten it if someone loosened it.
fn restrict_permissions(path: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(path)?.permissions().mode() & 0o777;
        if mode != 0o600 {
            tracing::warn!(path = %path.display(), mode = format!("{mode:o}"), "key file was not 0600; fixing");
            fs::set_permissions(path, fs::Permissions::from_mode(0o600))?;
        }
    }
    Ok(())
}

/// A secret string (client secret, token, password) whose `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Self {
        Secret(value)
    }
    /// The only way to read the value: grep for it in review.
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

/// Random bytes, base64url without padding: session state, PKCE, setup and API keys.
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

/// Compares two tokens (CSRF, OAuth2 state, form MACs) in time that does not depend on
/// where they differ, so that a guesser learns nothing from timing.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Hex sha256, for looking up high-entropy tokens (API keys, setup links) without storing them.
pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_context_binding() {
        let key = MasterKey::from_bytes(&[7u8; 32]).unwrap();
        let blob = key.encrypt_str("credential/a/client_secret", "s3cret");
        assert_eq!(
            key.decrypt_string("credential/a/client_secret", &blob)
                .unwrap()
                .expose(),
            "s3cret"
        );
        assert!(key.decrypt("credential/b/client_secret", &blob).is_err());
        assert!(!blob.windows(6).any(|w| w == b"s3cret"));
        assert_eq!(format!("{:?}", Secret::new("x".into())), "[redacted]");
    }
}
