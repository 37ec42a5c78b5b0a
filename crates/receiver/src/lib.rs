//! Verify and parse webhooks sent by Skyhook or
//! any [Standard Webhooks](https://www.standardwebhooks.com/) sender (Svix
//! included), in any Rust web framework.
//!
//! ```
//! use skyhook_receiver::{Signer, Webhook};
//! use std::time::{Duration, SystemTime, UNIX_EPOCH};
//!
//! let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
//! let body = br#"{"type":"ping"}"#;
//! let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
//!
//! // What the sender puts in `webhook-signature`.
//! let signature = Signer::new(secret)?.sign("msg_1", now, body);
//! assert!(signature.starts_with("v1,"));
//!
//! // What the receiver does with the request's headers and raw body.
//! let mut headers = http::HeaderMap::new();
//! headers.insert("webhook-id", "msg_1".parse()?);
//! headers.insert("webhook-timestamp", now.to_string().parse()?);
//! headers.insert("webhook-signature", signature.parse()?);
//! let webhook = Webhook::new(secret)?.with_tolerance(Duration::from_secs(60));
//! webhook.verify(&headers, body)?;
//!
//! let event: serde_json::Value = webhook.verify_and_parse(&headers, body)?;
//! assert_eq!(event["type"], "ping");
//!
//! // A changed body fails, naming the check.
//! let err = webhook.verify(&headers, br#"{"type":"pong"}"#).unwrap_err();
//! assert!(matches!(err, skyhook_receiver::Error::NoMatchingSignature));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # What is checked
//!
//! A request carries `webhook-id`, `webhook-timestamp` (Unix seconds) and
//! `webhook-signature` (or the same under `svix-` names). The signature is
//! over `{id}.{timestamp}.{body}`: `v1,<base64 HMAC-SHA256>` with a `whsec_`
//! secret, or `v1a,<base64 Ed25519>` with a `whpk_` public key. The header may
//! hold several space-separated signatures (during secret rotation); one
//! match is enough. The timestamp must be within 5 minutes of the local clock
//! ([`Webhook::with_tolerance`]) so a captured request cannot be replayed
//! later. Receivers should still drop repeated `webhook-id`s: delivery is
//! at-least-once.
//!
//! # Layout
//!
//! - [`Webhook`] verifies ([`Webhook::verify`] on an [`http::HeaderMap`],
//!   [`Webhook::verify_parts`] on plain strings for other frameworks);
//! - [`Signer`] signs, for tests and senders;
//! - [`Error`] says which check failed;
//! - [`QuotationCreated`] and friends are the typed payloads;
//! - `Verified<T>` (feature `axum`) is an axum extractor that verifies and
//!   parses before the handler runs.
//!
//! The crate has no async runtime and no dependency on the Skyhook server.
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "axum")]
mod axum;
mod error;
mod payload;
mod secret;
mod sig;
mod signer;
mod webhook;

#[cfg(feature = "axum")]
pub use crate::axum::{Verified, WebhookRejection};
pub use crate::error::Error;
pub use crate::payload::{GenericEvent, Quotation, QuotationCreated, QuotationFile};
pub use crate::secret::{PUBLIC_KEY_PREFIX, SECRET_PREFIX, SIGNING_KEY_PREFIX};
pub use crate::signer::Signer;
pub use crate::webhook::{DEFAULT_TOLERANCE, Webhook};
