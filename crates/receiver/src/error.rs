//! The one error type of the crate.

/// Why a webhook was rejected. Each variant names the check that failed, so a
/// receiver can log a precise reason (the HTTP answer should stay generic).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A required header (`webhook-id`, `webhook-timestamp` or
    /// `webhook-signature`, or its `svix-` twin) is absent.
    #[error("missing header `{0}`")]
    MissingHeader(&'static str),
    /// A header is present but its value is not visible ASCII, so it cannot be
    /// part of the signed content.
    #[error("header `{0}` is not valid ASCII")]
    InvalidHeader(&'static str),
    /// The timestamp header is not a plain non-negative integer of seconds.
    #[error("timestamp header is not an integer number of seconds")]
    InvalidTimestamp,
    /// The timestamp is further in the past than the tolerance allows
    /// (a replayed or badly delayed message).
    #[error("timestamp is too old")]
    TimestampTooOld,
    /// The timestamp is further in the future than the tolerance allows.
    #[error("timestamp is too far in the future")]
    TimestampTooNew,
    /// No signature of this webhook's scheme (`v1` or `v1a`) matches the
    /// message.
    #[error("no matching signature")]
    NoMatchingSignature,
    /// The secret or key given to [`Webhook`](crate::Webhook) or
    /// [`Signer`](crate::Signer) could not be decoded.
    #[error("invalid webhook secret")]
    InvalidSecret,
    /// This [`Webhook`](crate::Webhook) holds only an Ed25519 public key, which
    /// can verify but not sign.
    #[error("a public key cannot sign")]
    CannotSign,
    /// The signature was valid but the body is not the expected JSON.
    #[error("invalid payload: {0}")]
    InvalidPayload(#[source] serde_json::Error),
}
