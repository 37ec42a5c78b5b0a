//! Skyhook's dashboard: server-rendered HTML over the store, mounted at `/`.
//!
//! People who configure webhooks are often not the people who write code: here they
//! log in with a token, open a project, enable the webhooks plugin, paste a URL, send a
//! test event, and later read the event log, every attempt with the receiver's answer,
//! resend, and download quotation files.
//!
//! # Design
//! - **Stateless sessions**: the login form takes a token (admin or application); the
//!   cookie holds the token itself (`HttpOnly; SameSite=Strict; Path=/`, `Secure` when
//!   `PUBLIC_URL` is https) and every request checks it against the store, exactly as
//!   the API checks a bearer token. Any node can serve any request, and revoking a
//!   token ends its sessions at once.
//! - **CSRF**: every POST form carries `csrf` = hex SHA-256 of `"csrf:" + token`,
//!   compared in constant time; a POST without it, or with another session's, is a 403
//!   and changes nothing ([`session`]).
//! - **Scope**: an application token sees only its own project; anything else is a 404,
//!   the same page as for a project that does not exist.
//! - **No build step**: askama templates checked at compile time, a small CSS and JS
//!   file embedded in the binary ([`assets`]); pages work without JavaScript (it only
//!   adds the copy buttons and confirmations).
//!
//! # Layout
//! - [`session`]: the session cookie, the CSRF token, the `Session` and `Post` extractors.
//! - [`health`]: endpoint health over 24 hours and its SVG chart (pure).
//! - `pages`: one module per page group; `view`: formatting helpers.

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use skyhook_store::Store;
use tokio::sync::Notify;

pub mod assets;
mod error;
pub mod health;
mod pages;
pub mod session;
mod view;

pub use error::DashError;

/// Settings of the dashboard.
#[derive(Debug, Clone)]
pub struct DashboardConfig {
    /// Base of `projectUrl`; an `https://` one makes the session cookie `Secure`.
    pub public_url: String,
    /// Refuse `http://` endpoint URLs.
    pub https_only: bool,
    /// The admin token given in the settings (compared by hash), if any.
    pub admin_token: Option<String>,
}

/// Shared state of every dashboard handler.
#[derive(Clone)]
pub struct DashboardState {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) config: Arc<DashboardConfig>,
    /// Poked after a message is committed (test event, resend) so workers start at once.
    pub(crate) wake: Arc<Notify>,
    pub(crate) admin_hash: Option<String>,
}

impl DashboardState {
    /// State over `store`; `wake` is the delivery workers' wake-up handle.
    pub fn new(store: Arc<dyn Store>, config: DashboardConfig, wake: Arc<Notify>) -> Self {
        let admin_hash = config
            .admin_token
            .as_deref()
            .map(skyhook_domain::tokens::hash_token);
        Self {
            store,
            config: Arc::new(config),
            wake,
            admin_hash,
        }
    }

    /// Whether cookies must be `Secure` (the dashboard is reached over https).
    pub(crate) fn secure_cookies(&self) -> bool {
        self.config.public_url.starts_with("https://")
    }
}

/// The dashboard's routes, to be merged with the API router at `/`.
pub fn router(state: DashboardState) -> Router {
    use pages::{auth, events, projects, quotations, webhooks};
    Router::new()
        .route("/", get(projects::list))
        .route("/login", get(auth::form).post(auth::login))
        .route("/logout", post(auth::logout))
        .route("/assets/{*path}", get(assets::serve))
        .route("/app/{app_id}", get(projects::overview))
        .route(
            "/app/{app_id}/quotation-secret/rotate",
            post(projects::rotate_quotation_secret),
        )
        .route(
            "/app/{app_id}/webhooks",
            get(webhooks::page).post(webhooks::save),
        )
        .route(
            "/app/{app_id}/webhooks/secret/rotate",
            post(webhooks::rotate_secret),
        )
        .route("/app/{app_id}/webhooks/test", post(webhooks::send_test))
        .route("/app/{app_id}/events", get(events::log))
        .route("/app/{app_id}/events/{msg_id}", get(events::message))
        .route("/app/{app_id}/events/{msg_id}/resend", post(events::resend))
        .route("/app/{app_id}/quotations", get(quotations::list))
        .route(
            "/app/{app_id}/quotations/{quotation_id}",
            get(quotations::detail),
        )
        .route("/app/{app_id}/files/{file_id}", get(quotations::download))
        .with_state(state)
}
