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

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) config: Arc<ApiConfig>,
    /// Poked after a message is committed so the delivery workers start at once.
    pub(crate) wake: Arc<Notify>,
    /// Shared, like everything here: axum clones the state for every request.
    pub(crate) admin_hash: Option<Arc<str>>,
    /// `skyhook listen` sessions served by this process.
    pub(crate) listen: skyhook_delivery::listen::Hub,
    /// Applications looked up by the message hot path.
    pub(crate) apps: Arc<cache::Cache<Application>>,
    /// Stored tokens found, by hash.
    pub(crate) tokens: Arc<cache::Cache<TokenScope>>,
}

impl AppState {
    /// State over `store`; `wake` is the delivery workers' wake-up handle.
    pub fn new(store: Arc<dyn Store>, config: ApiConfig, wake: Arc<Notify>) -> Self {
        let admin_hash = config.admin_token.as_deref().map(|t| hash_token(t).into());
        Self {
            store,
            config: Arc::new(config),
            wake,
            admin_hash,
            listen: Default::default(),
            apps: Default::default(),
            tokens: Default::default(),
        }
    }

    /// Serves `skyhook listen` sessions through `hub`, the one the local worker's
    /// sender hands `skyhook-listen://` deliveries to.
    pub fn with_listen_hub(mut self, hub: skyhook_delivery::listen::Hub) -> Self {
        self.listen = hub;
        self
    }
}

/// The whole API router.
pub fn router(state: AppState) -> Router {
    routes::router(state)
}
