//! Endpoint secrets and Standard Webhooks signatures.
//!
//! A signature covers `"{msg_id}.{timestamp}.{body}"`: `v1,<base64 HMAC-SHA256>` for a
//! `whsec_` secret, `v1a,<base64 ed25519>` for a `whsk_` signing key. During a rotation
//! grace period several secrets are live and the header carries one signature per secret,
//! separated by single spaces (third-party verifiers reject anything looser).

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signer, SigningKey};
use hmac::{Hmac, KeyInit, Mac};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::clock::Millis;

/// A key that was not a valid endpoint secret.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    /// Not base64 after the prefix.
    #[error("secret is not valid base64")]
    NotBase64,
    /// Wrong number of bytes for its kind.
    #[error("secret has {0} bytes; whsec_ secrets need 24 to 64, whsk_ keys exactly 32")]
    BadLength(usize),
    /// A public key cannot sign.
    #[error("a whpk_ public key cannot sign; give the whsk_ signing key")]
    PublicKey,
}

/// A parsed secret, ready to sign.
enum Key {
    Hmac(Vec<u8>),
    Ed25519(Box<SigningKey>),
}

impl Key {
    fn parse(text: &str) -> Result<Self, KeyError> {
        if text.starts_with("whpk_") {
            return Err(KeyError::PublicKey);
        }
        if let Some(b64) = text.strip_prefix("whsk_") {
            let bytes = decode(b64)?;
            let seed: [u8; 32] = bytes
                .as_slice()
                .try_into()
                .map_err(|_| KeyError::BadLength(bytes.len()))?;
            return Ok(Self::Ed25519(Box::new(SigningKey::from_bytes(&seed))));
        }
        let bytes = decode(text.strip_prefix("whsec_").unwrap_or(text))?;
        if !(24..=64).contains(&bytes.len()) {
            return Err(KeyError::BadLength(bytes.len()));
        }
        Ok(Self::Hmac(bytes))
    }

    fn sign(&self, content: &[u8]) -> String {
        match self {
            Self::Hmac(secret) => {
                let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret)
                    .expect("HMAC takes any key length");
                mac.update(content);
                format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
            }
            Self::Ed25519(key) => format!("v1a,{}", STANDARD.encode(key.sign(content).to_bytes())),
        }
    }
}

fn decode(b64: &str) -> Result<Vec<u8>, KeyError> {
    STANDARD
        .decode(b64)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(b64))
        .map_err(|_| KeyError::NotBase64)
}

/// Checks that `text` is a usable signing secret (`whsec_…` or `whsk_…`).
pub fn validate_key(text: &str) -> Result<(), KeyError> {
    Key::parse(text).map(|_| ())
}

/// A new `whsec_` secret of 24 random bytes, as Svix generates.
pub fn generate_key() -> String {
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    format!("whsec_{}", STANDARD.encode(bytes))
}

/// One secret and, once rotated out, the end of its grace period.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretEntry {
    /// The secret as text (`whsec_…` or `whsk_…`).
    pub key: String,
    /// When a rotated-out secret stops signing; `None` for the current one.
    pub expires_at: Option<Millis>,
}

/// An endpoint's secrets: the current one first, then those still in their grace period.
///
/// Its serialised form (what stores keep) is sealed with the main key
/// ([`crate::sealing`]): a JSON string instead of the plain list.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretSet(Vec<SecretEntry>);

impl Serialize for SecretSet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let plain = serde_json::to_string(&self.0).map_err(serde::ser::Error::custom)?;
        s.serialize_str(&crate::sealing::seal(&plain))
    }
}

impl<'de> Deserialize<'de> for SecretSet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        /// Sealed (a string) or, from before sealing, the plain list.
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Stored {
            Sealed(String),
            Plain(Vec<SecretEntry>),
        }
        let entries = match Stored::deserialize(d)? {
            Stored::Plain(entries) => entries,
            Stored::Sealed(text) => {
                let plain = crate::sealing::open(&text).map_err(serde::de::Error::custom)?;
                serde_json::from_str(&plain).map_err(serde::de::Error::custom)?
            }
        };
        if entries.is_empty() {
            return Err(serde::de::Error::custom(
                "an endpoint needs at least one secret",
            ));
        }
        Ok(Self(entries))
    }
}

impl fmt::Debug for SecretSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretSet([{} redacted])", self.0.len())
    }
}

impl SecretSet {
    /// A set holding one freshly generated secret.
    pub fn generate() -> Self {
        Self::with_key(generate_key())
    }

    /// A set holding `key` as its only secret (validate it first).
    pub fn with_key(key: String) -> Self {
        Self(vec![SecretEntry {
            key,
            expires_at: None,
        }])
    }

    /// The current secret.
    pub fn current(&self) -> &str {
        &self.0[0].key
    }

    /// Makes `new_key` current; the old current secret keeps signing until
    /// `now + grace_ms`, and secrets whose grace has ended are dropped.
    pub fn rotate(&mut self, new_key: String, now: Millis, grace_ms: i64) {
        self.0.retain(|e| e.expires_at.is_none_or(|t| t > now));
        if let Some(current) = self.0.first_mut() {
            current.expires_at = Some(now + grace_ms);
        }
        self.0.insert(
            0,
            SecretEntry {
                key: new_key,
                expires_at: None,
            },
        );
    }

    /// The `webhook-signature` header value for a delivery at `timestamp` (seconds).
    pub fn sign(&self, msg_id: &str, timestamp: i64, body: &[u8], now: Millis) -> String {
        let mut content = Vec::with_capacity(msg_id.len() + body.len() + 24);
        content.extend_from_slice(msg_id.as_bytes());
        content.push(b'.');
        content.extend_from_slice(timestamp.to_string().as_bytes());
        content.push(b'.');
        content.extend_from_slice(body);
        self.0
            .iter()
            .filter(|e| e.expires_at.is_none_or(|t| t > now))
            .filter_map(|e| Key::parse(&e.key).ok())
            .map(|k| k.sign(&content))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_signs_with_both_secrets_until_the_grace_ends() {
        let mut set = SecretSet::with_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into());
        let before = set.sign("msg_1", 1, b"{}", 0);
        set.rotate(generate_key(), 1_000, 500);
        let during = set.sign("msg_1", 1, b"{}", 1_200);
        assert_eq!(during.split(' ').count(), 2);
        assert!(during.ends_with(&before));
        let after = set.sign("msg_1", 1, b"{}", 1_600);
        assert_eq!(after.split(' ').count(), 1);
        assert_ne!(after, before);
    }

    #[test]
    fn keys_are_checked() {
        assert_eq!(validate_key(&generate_key()), Ok(()));
        assert_eq!(validate_key("whsec_!!!"), Err(KeyError::NotBase64));
        assert_eq!(validate_key("whsec_AAAA"), Err(KeyError::BadLength(3)));
        assert_eq!(
            validate_key("whpk_A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg="),
            Err(KeyError::PublicKey)
        );
    }

    #[test]
    fn debug_never_shows_secrets() {
        let set = SecretSet::with_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into());
        assert!(!format!("{set:?}").contains("MfKQ"));
    }
}
