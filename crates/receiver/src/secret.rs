//! Parsing of the `whsec_` / `whsk_` / `whpk_` key strings.

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

use crate::Error;

/// Prefix of an HMAC-SHA256 (`v1`) secret.
pub const SECRET_PREFIX: &str = "whsec_";
/// Prefix of an Ed25519 (`v1a`) private key: base64 of the 32-byte seed.
pub const SIGNING_KEY_PREFIX: &str = "whsk_";
/// Prefix of an Ed25519 (`v1a`) public key: base64 of the 32-byte key.
pub const PUBLIC_KEY_PREFIX: &str = "whpk_";

/// What we emit: canonical, padded standard base64. The npm library compares
/// base64 *strings*, so any other spelling would fail there.
pub(crate) const B64: GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// What we accept: padding optional, because the Python and Node libraries
/// both accept unpadded secrets and we must not be stricter than the senders.
pub(crate) const B64_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Decodes the base64 after an optional `prefix`, refusing an empty key: an
/// HMAC with an empty key would accept signatures anyone can compute.
pub(crate) fn decode_key(s: &str, prefix: &str) -> Result<Vec<u8>, Error> {
    let b64 = s.strip_prefix(prefix).unwrap_or(s);
    match B64_LENIENT.decode(b64.trim()) {
        Ok(key) if !key.is_empty() => Ok(key),
        _ => Err(Error::InvalidSecret),
    }
}

/// Decodes a `whsk_`/`whpk_` string that must hold exactly 32 bytes.
pub(crate) fn decode_32(s: &str, prefix: &str) -> Result<[u8; 32], Error> {
    let rest = s.strip_prefix(prefix).ok_or(Error::InvalidSecret)?;
    decode_key(rest, "")?
        .try_into()
        .map_err(|_| Error::InvalidSecret)
}
