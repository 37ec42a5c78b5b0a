//! [`Signer`]: produces signatures, for tests and for senders.

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use ed25519_dalek::SigningKey;

use crate::secret::{self, B64, PUBLIC_KEY_PREFIX, SECRET_PREFIX, SIGNING_KEY_PREFIX};
use crate::{Error, Webhook, sig};

/// Signs messages the way Skyhook does: `v1,<base64>` for a `whsec_` secret,
/// `v1a,<base64>` for a `whsk_` Ed25519 private key.
#[derive(Clone)]
pub struct Signer {
    key: SignKey,
}

#[derive(Clone)]
enum SignKey {
    Hmac(Arc<[u8]>),
    // `SigningKey` zeroizes its seed on drop.
    Ed25519(Box<SigningKey>),
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match self.key {
            SignKey::Hmac(_) => "v1",
            SignKey::Ed25519(_) => "v1a",
        };
        f.debug_struct("Signer")
            .field("scheme", &scheme)
            .field("key", &"[redacted]")
            .finish()
    }
}

impl Signer {
    /// A signer for `whsec_<base64>` (or bare base64; `v1`) or
    /// `whsk_<base64 of the 32-byte Ed25519 seed>` (`v1a`).
    pub fn new(secret: &str) -> Result<Self, Error> {
        let secret = secret.trim();
        let key = if secret.starts_with(SIGNING_KEY_PREFIX) {
            let seed = secret::decode_32(secret, SIGNING_KEY_PREFIX)?;
            SignKey::Ed25519(Box::new(SigningKey::from_bytes(&seed)))
        } else if secret.starts_with(PUBLIC_KEY_PREFIX) {
            // A public key cannot sign; say so rather than treating it as HMAC.
            return Err(Error::CannotSign);
        } else {
            SignKey::Hmac(secret::decode_key(secret, SECRET_PREFIX)?.into())
        };
        Ok(Self { key })
    }

    /// The `webhook-signature` value for one message: `v1,<base64>` or
    /// `v1a,<base64>`, canonical padded base64. `body` must be the exact bytes
    /// sent.
    pub fn sign(&self, msg_id: &str, timestamp: u64, body: &[u8]) -> String {
        let timestamp = timestamp.to_string();
        match &self.key {
            SignKey::Hmac(key) => {
                let tag = sig::hmac_v1(key, msg_id, &timestamp, body);
                format!("{},{}", sig::V1, B64.encode(tag))
            }
            SignKey::Ed25519(key) => {
                let signature = sig::sign_v1a(key, msg_id, &timestamp, body);
                format!("{},{}", sig::V1A, B64.encode(signature))
            }
        }
    }

    /// The `whpk_…` public key to give receivers, for an Ed25519 signer.
    pub fn public_key(&self) -> Option<String> {
        match &self.key {
            SignKey::Hmac(_) => None,
            SignKey::Ed25519(key) => Some(format!(
                "{PUBLIC_KEY_PREFIX}{}",
                B64.encode(key.verifying_key().as_bytes())
            )),
        }
    }

    /// The [`Webhook`] that verifies what this signer signs.
    pub fn webhook(&self) -> Webhook {
        match &self.key {
            SignKey::Hmac(key) => Webhook::from_hmac_key(Arc::clone(key)),
            SignKey::Ed25519(key) => Webhook::from_verifying_key(key.verifying_key()),
        }
    }
}
