//! Secrets at rest: endpoint signing secrets and quotation secrets are sealed with the
//! main key (`MAIN_KEY`, XChaCha20-Poly1305) before they reach the database, so a copy
//! of the database alone yields no usable secret.
//!
//! The key is installed once at start ([`install_main_key`]); every store then seals on
//! write and opens on read through [`seal`] and [`open`]. Values written before a key
//! was installed (plain text) are still read, so an existing database keeps working and
//! is sealed as its rows are rewritten.

use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;

const PREFIX: &str = "sealed:v1:";
static KEY: OnceLock<XChaCha20Poly1305> = OnceLock::new();

/// A sealed value that cannot be opened: wrong `MAIN_KEY`, or corrupted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("a sealed secret cannot be opened: MAIN_KEY is missing or not the key it was sealed with")]
pub struct SealError;

/// A main key that is not base64 of 32 bytes.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("MAIN_KEY must be base64 of 32 random bytes")]
pub struct BadMainKey;

/// Parses `MAIN_KEY` text into key bytes.
pub fn parse_main_key(text: &str) -> Result<[u8; 32], BadMainKey> {
    STANDARD
        .decode(text.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(BadMainKey)
}

/// A new random main key, as `MAIN_KEY` text.
pub fn generate_main_key() -> String {
    let mut key = [0u8; 32];
    rand::rng().fill_bytes(&mut key);
    STANDARD.encode(key)
}

/// Installs the main key for this process; later calls are ignored (one key per process).
pub fn install_main_key(key: &[u8; 32]) {
    let _ = KEY.set(XChaCha20Poly1305::new(key.into()));
}

/// Seals `plain` with the main key (a fresh random nonce each time); without a key
/// installed the value is returned as is.
pub fn seal(plain: &str) -> String {
    let Some(cipher) = KEY.get() else {
        return plain.to_string();
    };
    let mut nonce = [0u8; 24];
    rand::rng().fill_bytes(&mut nonce);
    let sealed = cipher
        .encrypt(&XNonce::from(nonce), plain.as_bytes())
        .expect("XChaCha20-Poly1305 cannot fail to encrypt");
    let mut bytes = nonce.to_vec();
    bytes.extend(sealed);
    format!("{PREFIX}{}", STANDARD.encode(bytes))
}

/// Opens a value made by [`seal`]; plain (never sealed) values pass through.
pub fn open(stored: &str) -> Result<String, SealError> {
    let Some(b64) = stored.strip_prefix(PREFIX) else {
        return Ok(stored.to_string());
    };
    let cipher = KEY.get().ok_or(SealError)?;
    let bytes = STANDARD.decode(b64).map_err(|_| SealError)?;
    if bytes.len() < 24 {
        return Err(SealError);
    }
    let (nonce, sealed) = bytes.split_at(24);
    let nonce: [u8; 24] = nonce.try_into().map_err(|_| SealError)?;
    let plain = cipher
        .decrypt(&XNonce::from(nonce), sealed)
        .map_err(|_| SealError)?;
    String::from_utf8(plain).map_err(|_| SealError)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_hide_the_secret_and_open_again() {
        install_main_key(&parse_main_key(&generate_main_key()).unwrap());
        let a = seal("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        let b = seal("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        assert!(a.starts_with(PREFIX) && !a.contains("MfKQ"));
        assert_ne!(a, b, "a fresh nonce each time");
        assert_eq!(open(&a).unwrap(), "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        assert_eq!(
            open("qs_plain").unwrap(),
            "qs_plain",
            "values from before the key still read"
        );
        let mut tampered = a.clone();
        tampered.pop();
        tampered.push(if a.ends_with('A') { 'B' } else { 'A' });
        assert_eq!(open(&tampered), Err(SealError));
        assert_eq!(parse_main_key("c2hvcnQ="), Err(BadMainKey));
    }
}
