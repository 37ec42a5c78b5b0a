//! The axum 0.8 extractor (feature `axum`).

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRef, FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use crate::{Error, Webhook};

/// A request body whose signature was checked, parsed as JSON into `T`.
///
/// The [`Webhook`] comes from the router state: state of type `Webhook` or
/// `Arc<Webhook>` works as is, and a larger state needs
/// `impl FromRef<AppState> for Webhook` (or `#[derive(FromRef)]`). An
/// unverified request is answered `401` and a verified but unparsable one
/// `400`, both before the handler runs. Use
/// [`GenericEvent`](crate::GenericEvent) for `T` to accept any event.
///
/// It consumes the body, so it must be the last extractor. Take
/// [`HeaderMap`](axum::http::HeaderMap) too if you need the `webhook-id`,
/// e.g. to drop duplicate deliveries.
#[derive(Debug, Clone)]
pub struct Verified<T>(pub T);

impl<S, T> FromRequest<S> for Verified<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
    Webhook: FromRef<S>,
{
    type Rejection = WebhookRejection;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let webhook = Webhook::from_ref(state);
        // Headers are needed after the body is taken; cloning the map is cheap
        // next to the HMAC over the body.
        let headers = req.headers().clone();
        let body = Bytes::from_request(req, state)
            .await
            .map_err(WebhookRejection::Body)?;
        webhook
            .verify_and_parse(&headers, &body)
            .map(Verified)
            .map_err(WebhookRejection::Invalid)
    }
}

/// Lets `Arc<Webhook>` be the router state directly.
impl FromRef<Arc<Webhook>> for Webhook {
    fn from_ref(input: &Arc<Webhook>) -> Self {
        Webhook::clone(input)
    }
}

/// Why [`Verified`] refused a request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookRejection {
    /// The body could not be read (too large, connection error, …); answered
    /// as axum answers it.
    #[error(transparent)]
    Body(BytesRejection),
    /// Verification failed (`401`) or, for [`Error::InvalidPayload`], the
    /// body is not the expected JSON (`400`).
    #[error(transparent)]
    Invalid(Error),
}

impl IntoResponse for WebhookRejection {
    fn into_response(self) -> Response {
        let (status, code, err) = match self {
            Self::Body(rejection) => return rejection.into_response(),
            Self::Invalid(err @ Error::InvalidPayload(_)) => {
                (StatusCode::BAD_REQUEST, "invalid_payload", err)
            }
            Self::Invalid(err) => (StatusCode::UNAUTHORIZED, "invalid_signature", err),
        };
        // The detail names the failed check (e.g. "timestamp is too old"); it
        // helps a sender debug and reveals nothing about the secret.
        let body = serde_json::json!({ "code": code, "detail": err.to_string() });
        (status, Json(body)).into_response()
    }
}
