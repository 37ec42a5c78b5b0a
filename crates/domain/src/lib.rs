//! Skyhook's domain: the types and rules of webhook delivery, free of HTTP and SQL.
//!
//! # Layout
//! - [`ids`]: prefixed, time-sortable identifiers (`app_…`, `msg_…`) and the uid pattern.
//! - [`model`]: applications, endpoints, event types, messages, attempts and their states.
//! - [`quotation`]: quotations, their upload rules and the `quotation.created` payload.
//! - [`routing`]: which endpoints receive a message (event types and channels).
//! - [`retry`]: the retry schedule with jitter.
//! - [`signing`]: endpoint secrets and Standard Webhooks signatures.
//! - [`clock`]: millisecond timestamps and their RFC 3339 form.
#![deny(missing_docs)]

pub mod clock;
pub mod ids;
pub mod model;
pub mod quotation;
pub mod retry;
pub mod routing;
pub mod signing;
