//! The two signature schemes of Standard Webhooks, over the signed content
//! `{msg_id}.{timestamp}.{body}`.

use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// Version tag of HMAC-SHA256 signatures.
pub(crate) const V1: &str = "v1";
/// Version tag of Ed25519 signatures.
pub(crate) const V1A: &str = "v1a";

/// HMAC-SHA256 of the signed content, fed piecewise so the body is not copied.
pub(crate) fn hmac_v1(key: &[u8], msg_id: &str, timestamp: &str, body: &[u8]) -> [u8; 32] {
    // HMAC takes keys of any length (long ones are hashed first), so this
    // cannot fail; the error type exists only for fixed-key-size MACs.
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(msg_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().into()
}

/// Ed25519 needs the whole message in one slice (it hashes it twice).
pub(crate) fn signed_content(msg_id: &str, timestamp: &str, body: &[u8]) -> Vec<u8> {
    let mut msg = Vec::with_capacity(msg_id.len() + timestamp.len() + body.len() + 2);
    msg.extend_from_slice(msg_id.as_bytes());
    msg.push(b'.');
    msg.extend_from_slice(timestamp.as_bytes());
    msg.push(b'.');
    msg.extend_from_slice(body);
    msg
}

pub(crate) fn sign_v1a(key: &SigningKey, msg_id: &str, timestamp: &str, body: &[u8]) -> [u8; 64] {
    key.sign(&signed_content(msg_id, timestamp, body))
        .to_bytes()
}

/// Constant-time equality; a length mismatch is simply "not equal".
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// `verify_strict` also refuses weak (small-order) keys and non-canonical
/// encodings, which honest signers never produce.
pub(crate) fn verify_v1a(key: &VerifyingKey, signed_content: &[u8], sig: &[u8]) -> bool {
    let Ok(sig) = Signature::from_slice(sig) else {
        return false;
    };
    key.verify_strict(signed_content, &sig).is_ok()
}
