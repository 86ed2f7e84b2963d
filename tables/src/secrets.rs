//! Encryption of secrets at rest: the keys (storage account keys, SAS tokens,
//! obfuscated literals) inside definitions the database stores are sealed with
//! ChaCha20-Poly1305 (`ring`'s AEAD) under a key that lives outside the database root.
//!
//! A key is 32 bytes, written as base64 (44 characters) or hex (64 characters). A
//! [`SecretKeys`] is a key ring: the first key seals, every key opens, so rotating is
//! "put the new key first, keep the old one until everything is re-sealed". A sealed
//! secret reads `v1:<key id>:<base64 of nonce, ciphertext and tag>`, where the key id
//! is a hash of the key: a secret sealed under a key that is not configured is reported
//! by id, never decrypted into garbage.

use std::fmt;

use base64::Engine as _;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};

/// The environment variable holding the secret key(s): base64 or hex, several
/// separated by commas or whitespace, the first one sealing.
pub const SECRET_KEY_ENV: &str = "DFEXPORT_SECRET_KEY";

/// How to configure a key, for error messages.
pub const SECRET_KEY_HOWTO: &str = "set DFEXPORT_SECRET_KEY to a 32-byte key (base64 or hex, \
e.g. from `openssl rand -base64 32`), pass --secret-key-file PATH, or set \
DatabaseOptions::secret_keys; keep the key outside the database root";

const VERSION: &str = "v1";

/// Why a key could not be read, or a secret not sealed or opened. Never holds key
/// material or plaintext.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretError(pub String);

impl fmt::Display for SecretError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SecretError {}

/// One 32-byte key and its id. `Debug` shows the id only.
#[derive(Clone)]
pub struct SecretKey {
    bytes: [u8; 32],
    id: String,
}

impl SecretKey {
    /// A key from its 32 bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        let mut h = Vec::with_capacity(64);
        h.extend_from_slice(b"dfexport-secret-key-id\0");
        h.extend_from_slice(&bytes);
        let digest = ring::digest::digest(&ring::digest::SHA256, &h);
        let id = digest.as_ref()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Self { bytes, id }
    }

    /// A fresh random key.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        SystemRandom::new()
            .fill(&mut bytes)
            .expect("the system random source failed");
        Self::from_bytes(bytes)
    }

    /// Parses base64 (standard or URL-safe, padded or not) or hex text of 32 bytes.
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        let text = text.trim();
        let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            (0..32)
                .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16))
                .collect::<Result<Vec<u8>, _>>()
                .map_err(|_| SecretError("the secret key is not valid hex".into()))?
        } else {
            use base64::engine::general_purpose::{
                STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD,
            };
            [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
                .iter()
                .find_map(|e| e.decode(text).ok())
                .ok_or_else(|| {
                    SecretError(format!(
                        "the secret key is neither base64 nor hex of 32 bytes ({SECRET_KEY_HOWTO})"
                    ))
                })?
        };
        let bytes: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| {
            SecretError(format!(
                "the secret key is {} bytes; it must be 32 ({SECRET_KEY_HOWTO})",
                b.len()
            ))
        })?;
        Ok(Self::from_bytes(bytes))
    }

    /// The key's id: 16 hex digits of a hash of the key (safe to show).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The key as base64 (to write a key file).
    pub fn to_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.bytes)
    }

    fn aead(&self) -> LessSafeKey {
        LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, &self.bytes).expect("a 32-byte key"))
    }

    fn aad(&self) -> String {
        format!("dfexport-secret-{VERSION}:{}", self.id)
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey({})", self.id)
    }
}

/// A key ring: the first key seals, every key opens. `Debug` shows key ids only.
#[derive(Clone)]
pub struct SecretKeys {
    keys: Vec<SecretKey>,
}

impl SecretKeys {
    /// A ring of one key.
    pub fn new(key: SecretKey) -> Self {
        Self { keys: vec![key] }
    }

    /// A ring whose first key seals; `None` when `keys` is empty.
    pub fn from_keys(keys: Vec<SecretKey>) -> Option<Self> {
        (!keys.is_empty()).then_some(Self { keys })
    }

    /// Parses keys separated by commas, whitespace or new lines (`#` starts a
    /// comment line); the first one seals.
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        let keys = text
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .flat_map(|l| l.split(|c: char| c == ',' || c.is_whitespace()))
            .filter(|t| !t.is_empty())
            .map(SecretKey::parse)
            .collect::<Result<Vec<_>, _>>()?;
        Self::from_keys(keys)
            .ok_or_else(|| SecretError(format!("no secret key given ({SECRET_KEY_HOWTO})")))
    }

    /// Reads a key file (see [`SecretKeys::parse`]).
    pub fn from_file(path: impl AsRef<std::path::Path>) -> Result<Self, SecretError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| {
            SecretError(format!(
                "cannot read the secret key file {}: {e}",
                path.display()
            ))
        })?;
        Self::parse(&text)
            .map_err(|e| SecretError(format!("secret key file {}: {e}", path.display())))
    }

    /// The keys in [`SECRET_KEY_ENV`], `None` when it is unset or empty.
    pub fn from_env() -> Result<Option<Self>, SecretError> {
        match std::env::var(SECRET_KEY_ENV) {
            Ok(v) if !v.trim().is_empty() => Self::parse(&v)
                .map(Some)
                .map_err(|e| SecretError(format!("{SECRET_KEY_ENV}: {e}"))),
            _ => Ok(None),
        }
    }

    /// The key that seals.
    pub fn primary(&self) -> &SecretKey {
        &self.keys[0]
    }

    /// The ids of every key, the sealing one first.
    pub fn ids(&self) -> Vec<&str> {
        self.keys.iter().map(|k| k.id()).collect()
    }

    /// Seals `plaintext` under the first key: `v1:<key id>:<base64>`.
    pub fn seal(&self, plaintext: &str) -> String {
        let key = self.primary();
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .expect("the system random source failed");
        let mut data = plaintext.as_bytes().to_vec();
        key.aead()
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(key.aad().as_bytes()),
                &mut data,
            )
            .expect("sealing cannot fail for this size");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&data);
        format!(
            "{VERSION}:{}:{}",
            key.id(),
            base64::engine::general_purpose::STANDARD.encode(out)
        )
    }

    /// Opens a value [`SecretKeys::seal`] made, with whichever key has its id.
    pub fn open(&self, sealed: &str) -> Result<String, SecretError> {
        let id = sealed_key_id(sealed)?;
        let key = self.keys.iter().find(|k| k.id() == id).ok_or_else(|| {
            SecretError(format!(
                "a secret is encrypted with secret key {id}, which is not configured (the \
                 configured keys are {}); configure that key too ({SECRET_KEY_HOWTO})",
                self.ids().join(", ")
            ))
        })?;
        let body = sealed.splitn(3, ':').nth(2).unwrap_or("");
        let data = base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|_| SecretError("a sealed secret is corrupt (not base64)".into()))?;
        if data.len() < NONCE_LEN {
            return Err(SecretError("a sealed secret is corrupt (too short)".into()));
        }
        let (nonce, ct) = data.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().expect("NONCE_LEN bytes");
        let mut ct = ct.to_vec();
        let plain = key
            .aead()
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(key.aad().as_bytes()),
                &mut ct,
            )
            .map_err(|_| {
                SecretError(format!(
                    "a secret sealed with key {id} does not decrypt: it is corrupt or was altered"
                ))
            })?;
        String::from_utf8(plain.to_vec())
            .map_err(|_| SecretError("a sealed secret is not UTF-8".into()))
    }
}

/// The id of the key a sealed value was sealed with.
pub fn sealed_key_id(sealed: &str) -> Result<&str, SecretError> {
    let mut parts = sealed.splitn(3, ':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(VERSION), Some(id), Some(_)) if !id.is_empty() => Ok(id),
        _ => Err(SecretError(
            "a sealed secret is corrupt (unknown format)".into(),
        )),
    }
}

impl fmt::Debug for SecretKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.keys.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_rotate_and_wrong_key() {
        let a = SecretKey::generate();
        let b = SecretKey::generate();
        let ring_a = SecretKeys::new(a.clone());
        let sealed = ring_a.seal("https://acct/c;TOPSECRET");
        assert!(!sealed.contains("TOPSECRET"));
        assert!(sealed.starts_with(&format!("v1:{}:", a.id())));
        assert_eq!(ring_a.open(&sealed).unwrap(), "https://acct/c;TOPSECRET");
        // Two seals of one value differ (random nonce).
        assert_ne!(ring_a.seal("x"), ring_a.seal("x"));
        // A wrong key names the missing key id.
        let ring_b = SecretKeys::new(b.clone());
        let e = ring_b.open(&sealed).unwrap_err().to_string();
        assert!(e.contains(a.id()) && e.contains("not configured"), "{e}");
        // Rotation: new key first, old one still opens.
        let both = SecretKeys::from_keys(vec![b.clone(), a.clone()]).unwrap();
        assert_eq!(both.open(&sealed).unwrap(), "https://acct/c;TOPSECRET");
        assert!(both.seal("y").contains(b.id()));
        // Tampering is detected.
        let mut bad = sealed.clone();
        bad.pop();
        bad.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert!(ring_a.open(&bad).is_err());
        // Debug never shows key bytes.
        let shown = format!("{both:?} {a:?}");
        assert!(!shown.contains(&a.to_base64()) && shown.contains(a.id()));
    }

    #[test]
    fn parse_keys() {
        let k = SecretKey::generate();
        let b64 = k.to_base64();
        let hex: String = k.bytes.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(SecretKey::parse(&b64).unwrap().id(), k.id());
        assert_eq!(SecretKey::parse(&hex).unwrap().id(), k.id());
        let two = SecretKeys::parse(&format!("# new\n{hex}\n{b64}, {b64}\n")).unwrap();
        assert_eq!(two.ids().len(), 3);
        let e = SecretKey::parse("short").unwrap_err().to_string();
        assert!(e.contains("DFEXPORT_SECRET_KEY"), "{e}");
        assert!(SecretKeys::parse("# nothing\n").is_err());
    }
}
