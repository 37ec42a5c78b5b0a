//! [`Webhook`]: the verifier.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use ed25519_dalek::{SigningKey, VerifyingKey};
use http::HeaderMap;
use serde::de::DeserializeOwned;

use crate::secret::{self, B64, B64_LENIENT, PUBLIC_KEY_PREFIX, SECRET_PREFIX, SIGNING_KEY_PREFIX};
use crate::{Error, sig};

/// How far a timestamp may be from our clock, either way, by default. It is
/// what every Standard Webhooks library uses, so senders expect it.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(5 * 60);

/// Header names, Standard Webhooks first; the `svix-` set is what Svix SDKs
/// send and expect, and Skyhook sends both.
const ID: [&str; 2] = ["webhook-id", "svix-id"];
const TIMESTAMP: [&str; 2] = ["webhook-timestamp", "svix-timestamp"];
const SIGNATURE: [&str; 2] = ["webhook-signature", "svix-signature"];

/// Verifies webhooks signed with one secret (`v1`, HMAC-SHA256) or one
/// Ed25519 public key (`v1a`).
///
/// Cheap to clone: the key is shared, not copied.
#[derive(Clone)]
pub struct Webhook {
    key: Key,
    tolerance: Duration,
}

#[derive(Clone)]
enum Key {
    Hmac(Arc<[u8]>),
    Ed25519(VerifyingKey),
}

impl fmt::Debug for Webhook {
    // The HMAC secret is as good as a password; never print it. The public key
    // is not secret, but printing only the scheme keeps logs uniform.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match self.key {
            Key::Hmac(_) => "v1",
            Key::Ed25519(_) => "v1a",
        };
        f.debug_struct("Webhook")
            .field("scheme", &scheme)
            .field("key", &"[redacted]")
            .field("tolerance", &self.tolerance)
            .finish()
    }
}

impl Webhook {
    /// A verifier for the secret shown in Skyhook's dashboard.
    ///
    /// Accepts `whsec_<base64>` or the bare base64 (`v1`, HMAC-SHA256), and
    /// for convenience `whpk_<base64>` (same as
    /// [`from_ed25519_public_key`](Self::from_ed25519_public_key)) or a
    /// `whsk_` private key, of which only the public half is kept.
    pub fn new(secret: &str) -> Result<Self, Error> {
        let secret = secret.trim();
        if secret.starts_with(PUBLIC_KEY_PREFIX) {
            return Self::from_ed25519_public_key(secret);
        }
        let key = if secret.starts_with(SIGNING_KEY_PREFIX) {
            let seed = secret::decode_32(secret, SIGNING_KEY_PREFIX)?;
            Key::Ed25519(SigningKey::from_bytes(&seed).verifying_key())
        } else {
            Key::Hmac(secret::decode_key(secret, SECRET_PREFIX)?.into())
        };
        Ok(Self::with_key(key))
    }

    /// A `v1a` verifier for `whpk_<base64 of the 32-byte Ed25519 public key>`.
    pub fn from_ed25519_public_key(public_key: &str) -> Result<Self, Error> {
        let bytes = secret::decode_32(public_key.trim(), PUBLIC_KEY_PREFIX)?;
        let key = VerifyingKey::from_bytes(&bytes).map_err(|_| Error::InvalidSecret)?;
        Ok(Self::with_key(Key::Ed25519(key)))
    }

    pub(crate) fn from_verifying_key(key: VerifyingKey) -> Self {
        Self::with_key(Key::Ed25519(key))
    }

    pub(crate) fn from_hmac_key(key: Arc<[u8]>) -> Self {
        Self::with_key(Key::Hmac(key))
    }

    fn with_key(key: Key) -> Self {
        Self {
            key,
            tolerance: DEFAULT_TOLERANCE,
        }
    }

    /// Sets how far the `webhook-timestamp` may be from the local clock
    /// (default [`DEFAULT_TOLERANCE`], 5 minutes). Sub-second parts are
    /// ignored, as timestamps are whole seconds.
    #[must_use]
    pub fn with_tolerance(mut self, tolerance: Duration) -> Self {
        self.tolerance = tolerance;
        self
    }

    /// The timestamp tolerance in use.
    pub fn tolerance(&self) -> Duration {
        self.tolerance
    }

    /// Verifies a request from its headers and raw body bytes.
    ///
    /// Reads `webhook-id`, `webhook-timestamp` and `webhook-signature`,
    /// falling back to the `svix-` names for each one that is absent. Several
    /// `webhook-signature` header lines are treated as one space-separated
    /// list.
    pub fn verify(&self, headers: &HeaderMap, body: &[u8]) -> Result<(), Error> {
        let id = header(headers, ID)?;
        let timestamp = header(headers, TIMESTAMP)?;
        let signatures = signature_header(headers)?;
        self.verify_parts(id, timestamp, &signatures, body, SystemTime::now())
    }

    /// Verifies, then parses the body as JSON into `T`. Parsing happens only
    /// after the signature is checked, so untrusted input never reaches the
    /// deserializer.
    pub fn verify_and_parse<T: DeserializeOwned>(
        &self,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<T, Error> {
        self.verify(headers, body)?;
        serde_json::from_slice(body).map_err(Error::InvalidPayload)
    }

    /// The framework-agnostic core of [`verify`](Self::verify): the three
    /// header values as strings, the raw body, and the clock reading to judge
    /// the timestamp against (pass [`SystemTime::now()`] outside tests).
    ///
    /// Checks, in order: the id is not empty, the timestamp is a plain integer
    /// within the tolerance of `now`, and one entry of `signature_header`
    /// (space-separated `<version>,<base64>`) of this webhook's version is a
    /// valid signature. Entries of other versions are skipped, so a header
    /// carrying both `v1` and `v1a` signatures (or old and new secrets during
    /// rotation) verifies.
    pub fn verify_parts(
        &self,
        msg_id: &str,
        timestamp: &str,
        signature_header: &str,
        body: &[u8],
        now: SystemTime,
    ) -> Result<(), Error> {
        if msg_id.is_empty() {
            return Err(Error::MissingHeader(ID[0]));
        }
        self.check_timestamp(parse_timestamp(timestamp)?, now)?;
        let matched = match &self.key {
            Key::Hmac(key) => {
                let expected = sig::hmac_v1(key, msg_id, timestamp, body);
                candidates(signature_header, sig::V1).any(|s| sig::ct_eq(&expected, &s))
            }
            Key::Ed25519(key) => {
                let content = sig::signed_content(msg_id, timestamp, body);
                candidates(signature_header, sig::V1A).any(|s| sig::verify_v1a(key, &content, &s))
            }
        };
        if matched {
            Ok(())
        } else {
            Err(Error::NoMatchingSignature)
        }
    }

    /// Signs with this webhook's `v1` secret, giving `v1,<base64>`; for tests
    /// and for senders. A webhook built from an Ed25519 public key cannot
    /// sign ([`Error::CannotSign`]); use a [`Signer`](crate::Signer).
    pub fn sign(&self, msg_id: &str, timestamp: u64, body: &[u8]) -> Result<String, Error> {
        match &self.key {
            Key::Hmac(key) => {
                let tag = sig::hmac_v1(key, msg_id, &timestamp.to_string(), body);
                Ok(format!("{},{}", sig::V1, B64.encode(tag)))
            }
            Key::Ed25519(_) => Err(Error::CannotSign),
        }
    }

    fn check_timestamp(&self, timestamp: u64, now: SystemTime) -> Result<(), Error> {
        // i128 so that neither a clock before 1970 nor a huge timestamp or
        // tolerance can overflow the comparison.
        let now = match now.duration_since(UNIX_EPOCH) {
            Ok(d) => i128::from(d.as_secs()),
            Err(e) => -i128::from(e.duration().as_secs()),
        };
        let tolerance = i128::from(self.tolerance.as_secs());
        let timestamp = i128::from(timestamp);
        if timestamp < now - tolerance {
            Err(Error::TimestampTooOld)
        } else if timestamp > now + tolerance {
            Err(Error::TimestampTooNew)
        } else {
            Ok(())
        }
    }
}

/// Only ASCII digits: `str::parse` alone would take `+123`, and the reference
/// libraries take `1.5` (Python) or `123abc` (Node). Whatever we accept here is
/// also what gets signed, so leniency buys nothing.
fn parse_timestamp(s: &str) -> Result<u64, Error> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::InvalidTimestamp);
    }
    s.parse().map_err(|_| Error::InvalidTimestamp)
}

/// Decoded signatures of `version` in a `webhook-signature` value. Malformed
/// entries (no comma, bad base64) are skipped rather than failing the whole
/// header, so one bad entry cannot hide a good one.
fn candidates<'a>(header: &'a str, version: &'a str) -> impl Iterator<Item = Vec<u8>> + 'a {
    header
        .split(' ')
        .filter_map(move |entry| match entry.split_once(',') {
            Some((v, b64)) if v == version => B64_LENIENT.decode(b64).ok(),
            _ => None,
        })
}

/// The first value of the first present name; empty counts as missing.
fn header<'a>(headers: &'a HeaderMap, names: [&'static str; 2]) -> Result<&'a str, Error> {
    let (name, value) = names
        .iter()
        .find_map(|&n| headers.get(n).map(|v| (n, v)))
        .ok_or(Error::MissingHeader(names[0]))?;
    let value = value.to_str().map_err(|_| Error::InvalidHeader(name))?;
    if value.is_empty() {
        return Err(Error::MissingHeader(name));
    }
    Ok(value)
}

/// All lines of the signature header joined by spaces: a proxy may split one
/// comma-free list into several header lines.
fn signature_header(headers: &HeaderMap) -> Result<Cow<'_, str>, Error> {
    let name = SIGNATURE
        .into_iter()
        .find(|n| headers.contains_key(*n))
        .ok_or(Error::MissingHeader(SIGNATURE[0]))?;
    let mut values = headers.get_all(name).iter();
    let first = values.next().ok_or(Error::MissingHeader(name))?;
    let first = first.to_str().map_err(|_| Error::InvalidHeader(name))?;
    let mut joined = Cow::Borrowed(first);
    for v in values {
        let v = v.to_str().map_err(|_| Error::InvalidHeader(name))?;
        let s = joined.to_mut();
        s.push(' ');
        s.push_str(v);
    }
    if joined.trim().is_empty() {
        return Err(Error::MissingHeader(name));
    }
    Ok(joined)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_parsing_is_strict() {
        for bad in [
            "",
            "+1",
            "-1",
            "1.5",
            "1e9",
            " 1",
            "1 ",
            "12abc",
            "0x10",
            "99999999999999999999999",
        ] {
            assert!(
                matches!(parse_timestamp(bad), Err(Error::InvalidTimestamp)),
                "{bad:?}"
            );
        }
        assert_eq!(parse_timestamp("1614265330").unwrap(), 1_614_265_330);
        assert_eq!(parse_timestamp("0").unwrap(), 0);
    }

    #[test]
    fn candidates_skip_other_versions_and_garbage() {
        let found: Vec<_> =
            candidates("garbage v1a,AAAA v1,AQID  v2,AQID v1,!!! v1,BAUG", "v1").collect();
        assert_eq!(found, vec![vec![1, 2, 3], vec![4, 5, 6]]);
    }

    #[test]
    fn debug_redacts_the_secret() {
        let wh = Webhook::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let dbg = format!("{wh:?}");
        assert!(!dbg.contains("MfKQ"), "{dbg}");
        assert!(dbg.contains("[redacted]"), "{dbg}");
    }
}
