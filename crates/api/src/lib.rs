//! Skyhook's HTTP API: the Svix-compatible management API.
//!
//! # Layout
//! - [`error`]: `ApiError`, the one error type of this layer, rendered as `{"code","detail"}`
//!   or as a 422 validation list.
//! - `extract`: request extractors: bearer authentication and strict JSON bodies.
//! - `cache`: applications and tokens cached for a second for the message hot path.
//! - `dto`: the JSON shapes of the Svix API (camelCase) and their conversions.
//! - `pagination`: `limit`/`iterator`/`order` and `ListResponse`.
//! - `idempotency`: replaying the first answer to a repeated `idempotency-key`.
//! - `routes`: one module per resource.
//! - [`openapi`]: the generated OpenAPI 3.1 document.

use std::sync::Arc;

use axum::Router;
use skyhook_domain::model::Application;
use skyhook_store::{Store, TokenScope};
use tokio::sync::Notify;

mod cache;
mod dto;
pub mod error;
mod extract;
#[doc(hidden)]
pub mod fuzzing;
mod idempotency;
pub mod openapi;
mod pagination;
mod routes;
mod validate;

pub use extract::hash_token;

/// Settings of the API layer.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Base of `projectUrl` and links.
    pub public_url: String,
    /// Larger message payloads are refused with 413.
    pub max_payload_bytes: usize,
    /// Refuse `http://` endpoint URLs.
    pub https_only: bool,
    /// The admin token given in the settings (compared by hash), if any.
    pub admin_token: Option<String>,
}

/// Shared state of every handler. One `Arc`: axum clones the state for every request,
/// and cloning and dropping seven reference counts each time was 1.6% of the server's
/// CPU in `e2e`.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// What [`AppState`] shares; its fields are the API's own.
pub struct Shared {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) config: ApiConfig,
    /// Poked after a message is committed so the delivery workers start at once.
    pub(crate) wake: Arc<Notify>,
    /// The hash of the settings' admin token, compared with each request's.
    pub(crate) admin_hash: Option<String>,
    /// `skyhook listen` sessions served by this process.
    pub(crate) listen: skyhook_delivery::listen::Hub,
    /// Applications looked up by the message hot path.
    pub(crate) apps: cache::Cache<Application>,
    /// Stored tokens found, by hash.
    pub(crate) tokens: cache::Cache<TokenScope>,
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    /// State over `store`; `wake` is the delivery workers' wake-up handle, `listen` the
    /// hub the local worker's sender hands `skyhook-listen://` deliveries to.
    pub fn new(
        store: Arc<dyn Store>,
        config: ApiConfig,
        wake: Arc<Notify>,
        listen: skyhook_delivery::listen::Hub,
    ) -> Self {
        let admin_hash = config.admin_token.as_deref().map(hash_token);
        Self(Arc::new(Shared {
            store,
            config,
            wake,
            admin_hash,
            listen,
            apps: Default::default(),
            tokens: Default::default(),
        }))
    }
}

/// The whole API router.
pub fn router(state: AppState) -> Router {
    routes::router(state)
}
