//! The dashboard's one error type, rendered as an HTML page with the fitting status.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use skyhook_store::StoreError;

use crate::view::{Layout, render};

/// Why a dashboard request failed.
#[derive(Debug, thiserror::Error)]
pub enum DashError {
    /// Not logged in on a page: go to the login form.
    #[error("login required")]
    LoginRequired,
    /// Refused (bad CSRF field, cross-site POST, not logged in on a POST): 403.
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    /// Unknown, or out of the session's scope (the same answer, so nothing leaks): 404.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A malformed request: 400.
    #[error("{0}")]
    BadRequest(String),
    /// The store failed: 500 (or 503 when unreachable).
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    layout: Layout,
    status: u16,
    message: String,
}

impl IntoResponse for DashError {
    fn into_response(self) -> Response {
        let (status, message) = match &self {
            Self::LoginRequired => return Redirect::to("/login").into_response(),
            Self::Forbidden(why) => (StatusCode::FORBIDDEN, format!("Forbidden: {why}.")),
            Self::NotFound(what) => (
                StatusCode::NOT_FOUND,
                format!("This {what} does not exist, or your token may not see it."),
            ),
            Self::BadRequest(why) => (StatusCode::BAD_REQUEST, why.clone()),
            Self::Store(StoreError::Unavailable(_)) => {
                tracing::error!(error = %self, "dashboard");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "The database cannot be reached right now; try again in a moment.".into(),
                )
            }
            Self::Store(_) => {
                tracing::error!(error = %self, "dashboard");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong on the server; it has been logged.".into(),
                )
            }
        };
        render(
            status,
            &ErrorPage {
                layout: Layout::anonymous(status.canonical_reason().unwrap_or("Error")),
                status: status.as_u16(),
                message,
            },
        )
    }
}
