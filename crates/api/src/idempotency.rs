//! `idempotency-key`: a POST repeated with the same key (by the same caller, to the same
//! path) within 24 hours gets the first answer again instead of acting twice.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use skyhook_domain::clock::now_ms;
use skyhook_store::{IdempotencyState, IdempotentResponse};

use crate::AppState;
use crate::error::ApiError;
use crate::extract::hash_token;

const WINDOW_MS: i64 = 24 * 3600 * 1000;
/// Answers larger than this are not kept (they are never API answers anyway).
const MAX_KEPT: usize = 2 * 1024 * 1024;

pub async fn layer(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(key) = req
        .headers()
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
    else {
        return next.run(req).await;
    };
    if req.method() != Method::POST {
        return next.run(req).await;
    }
    let auth = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let scoped = hash_token(&format!("{auth}\n{}\n{key}", req.uri().path()));
    let now = now_ms();
    match state
        .store
        .begin_idempotent(&scoped, now, now - WINDOW_MS)
        .await
    {
        Ok(IdempotencyState::Fresh) => {}
        Ok(IdempotencyState::Replay(kept)) => return replay(kept),
        Ok(IdempotencyState::InProgress) => {
            return ApiError::conflict(
                "a request with this idempotency-key is still running; retry shortly",
            )
            .into_response();
        }
        Err(e) => return ApiError::from(e).into_response(),
    }
    let resp = next.run(req).await;
    if !resp.status().is_success() {
        // Only a success is kept; a failed request may be retried with the same key.
        if let Err(e) = state.store.forget_idempotent(&scoped).await {
            tracing::warn!(error = %e, "could not release an idempotency key");
        }
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_KEPT).await else {
        return ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "answer too large",
        )
        .into_response();
    };
    let kept = IdempotentResponse {
        status: parts.status.as_u16(),
        body: String::from_utf8_lossy(&bytes).into_owned(),
    };
    if let Err(e) = state.store.put_idempotent(&scoped, &kept, now_ms()).await {
        tracing::warn!(error = %e, "could not keep an idempotent answer");
    }
    Response::from_parts(parts, Body::from(bytes))
}

fn replay(kept: IdempotentResponse) -> Response {
    let mut resp = Response::new(Body::from(kept.body));
    *resp.status_mut() = StatusCode::from_u16(kept.status).unwrap_or(StatusCode::OK);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}
