//! Skyhook's domain: the types and rules of webhook delivery, free of HTTP and SQL.
//!
//! # Layout
//! - [`ids`]: prefixed, time-sortable identifiers (`app_…`, `msg_…`) and the uid pattern.
//! - [`model`]: applications, endpoints, event types, messages, attempts and their states.
//! - [`quotation`]: quotations, their upload rules and the `quotation.created` payload.
//! - [`routing`]: which endpoints receive a message (event types and channels).
//! - [`retry`]: the retry schedule with jitter.
//! - [`operational`]: events about Skyhook itself (`endpoint.disabled`).
//! - [`sealing`]: secrets sealed with the main key before they are stored.
//! - [`signing`]: endpoint secrets and Standard Webhooks signatures.
//! - [`tokens`]: API token hashing.
//! - [`validate`]: field rules shared by the API and the dashboard.
//! - [`clock`]: millisecond timestamps and their RFC 3339 form.
#![deny(missing_docs)]

pub mod clock;
pub mod ids;
pub mod model;
pub mod operational;
pub mod quotation;
pub mod retry;
pub mod routing;
pub mod sealing;
pub mod signing;
pub mod tokens;
pub mod validate;
