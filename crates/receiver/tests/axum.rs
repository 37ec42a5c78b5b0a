//! The `Verified<T>` extractor: bad requests never reach the handler.
#![cfg(feature = "axum")]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::FromRef;
use axum::http::{Request, StatusCode};
use axum::routing::post;
use skyhook_receiver::{GenericEvent, QuotationCreated, Signer, Verified, Webhook};
use tower::ServiceExt as _;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const QUOTATION: &str = r#"{"type":"quotation.created","createdAt":"2026-11-28T12:00:00.000Z","projectUrl":"http://127.0.0.1:8071/projects/app_1","quotation":{"id":"quo_1","customer":{},"configuration":{}},"files":[]}"#;

/// State with more than the webhook in it, as a real app has.
#[derive(Clone)]
struct AppState {
    webhook: Webhook,
    calls: Arc<AtomicUsize>,
}

impl FromRef<AppState> for Webhook {
    fn from_ref(state: &AppState) -> Self {
        state.webhook.clone()
    }
}

fn app() -> (Router, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let state = AppState {
        webhook: Webhook::new(SECRET).unwrap(),
        calls: calls.clone(),
    };
    let router = Router::new()
        .route(
            "/quotation",
            post(
                |axum::extract::State(s): axum::extract::State<AppState>,
                 Verified(q): Verified<QuotationCreated>| async move {
                    s.calls.fetch_add(1, Ordering::SeqCst);
                    q.quotation.id
                },
            ),
        )
        .with_state(state);
    (router, calls)
}

fn request(path: &str, body: &str, signature_body: &str) -> Request<Body> {
    let ts = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let sig = Signer::new(SECRET)
        .unwrap()
        .sign("msg_1", ts, signature_body.as_bytes());
    Request::post(path)
        .header("content-type", "application/json")
        .header("webhook-id", "msg_1")
        .header("webhook-timestamp", ts)
        .header("webhook-signature", sig)
        .body(Body::from(body.to_owned()))
        .unwrap()
}

async fn json_body(res: axum::response::Response) -> serde_json::Value {
    serde_json::from_slice(&to_bytes(res.into_body(), 1 << 16).await.unwrap()).unwrap()
}

#[tokio::test]
async fn a_verified_request_reaches_the_handler_typed() {
    let (app, calls) = app();
    let res = app
        .oneshot(request("/quotation", QUOTATION, QUOTATION))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(to_bytes(res.into_body(), 1024).await.unwrap(), "quo_1");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_bad_signature_is_401_before_the_handler() {
    let (app, calls) = app();
    let tampered = QUOTATION.replace("quo_1", "quo_2");
    let res = app
        .oneshot(request("/quotation", &tampered, QUOTATION))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let body = json_body(res).await;
    assert_eq!(body["code"], "invalid_signature");
    assert_eq!(body["detail"], "no matching signature");
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn missing_headers_are_401_and_named() {
    let (app, calls) = app();
    let req = Request::post("/quotation")
        .body(Body::from(QUOTATION))
        .unwrap();
    let res = app.oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        json_body(res).await["detail"],
        "missing header `webhook-id`"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_verified_but_unparsable_body_is_400_before_the_handler() {
    let (app, calls) = app();
    let other = r#"{"type":"ping"}"#;
    let res = app
        .oneshot(request("/quotation", other, other))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json_body(res).await["code"], "invalid_payload");
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn arc_webhook_state_and_generic_events_work() {
    let app = Router::new()
        .route(
            "/",
            post(|Verified(e): Verified<GenericEvent>| async move {
                e["type"].as_str().unwrap().to_owned()
            }),
        )
        .with_state(Arc::new(Webhook::new(SECRET).unwrap()));
    let body = r#"{"type":"ping"}"#;
    let res = app.clone().oneshot(request("/", body, body)).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(to_bytes(res.into_body(), 1024).await.unwrap(), "ping");
    let res = app.oneshot(request("/", body, "{}")).await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}
