//! The API's error type: every failure is JSON with a fitting status.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use skyhook_store::StoreError;

/// One schema violation, in Svix's (FastAPI's) shape.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FieldError {
    /// Where: `["body", "url"]`.
    pub loc: Vec<String>,
    /// What is wrong.
    pub msg: String,
    /// A machine-readable kind.
    #[serde(rename = "type")]
    pub kind: String,
}

/// Errors of the HTTP layer.
#[derive(Debug)]
pub enum ApiError {
    /// A `{"code","detail"}` error.
    Http {
        /// HTTP status.
        status: StatusCode,
        /// Stable code, e.g. `not_found`.
        code: &'static str,
        /// Human explanation.
        detail: String,
    },
    /// A 422 with the offending fields.
    Validation(Vec<FieldError>),
}

impl ApiError {
    /// A `{"code","detail"}` error.
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self::Http {
            status,
            code,
            detail: detail.into(),
        }
    }

    /// 404 for a missing (or out-of-scope) object.
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }

    /// 422 for one field of the body.
    pub fn field(field: &str, msg: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError {
            loc: vec!["body".into(), field.into()],
            msg: msg.into(),
            kind: "value_error".into(),
        }])
    }

    /// 409 for a uniqueness conflict.
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", detail)
    }

    /// 403 for a token that may not do this.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", detail)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(d) => Self::conflict(d),
            StoreError::NotFound(d) => Self::new(StatusCode::NOT_FOUND, "not_found", d),
            StoreError::Unavailable(d) => {
                tracing::warn!(detail = %d, "database unavailable");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "database_unavailable",
                    "the database is unavailable; try again shortly",
                )
            }
            StoreError::Internal(d) => {
                tracing::error!(detail = %d, "store error");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal_error",
                    "internal error",
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            Self::Http {
                status,
                code,
                detail,
            } => (
                status,
                axum::Json(serde_json::json!({"code": code, "detail": detail})),
            )
                .into_response(),
            Self::Validation(errors) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                axum::Json(serde_json::json!({"detail": errors})),
            )
                .into_response(),
        }
    }
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;
