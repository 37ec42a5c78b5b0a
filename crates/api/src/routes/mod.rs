//! The router: one module per resource of the Svix API.

use axum::Router;
use axum::http::StatusCode;
use axum::middleware;
use axum::routing::{get, post};

use crate::error::ApiError;
use crate::{AppState, idempotency};

mod apps;
mod doc;
mod endpoints;
mod event_types;
mod listen;
mod messages;
pub(crate) mod projects;

/// The OpenAPI document of these routes.
pub(crate) fn openapi_doc() -> utoipa::openapi::OpenApi {
    doc::document()
}

pub fn router(state: AppState) -> Router {
    let ep = "/app/{app_id}/endpoint/{endpoint_id}";
    let msg = "/app/{app_id}/msg/{msg_id}";
    let v1 = Router::new()
        .route("/app", get(apps::list).post(apps::create))
        .route(
            "/app/{app_id}",
            get(apps::get)
                .put(apps::put)
                .patch(apps::patch)
                .delete(apps::delete),
        )
        .route(
            "/event-type",
            get(event_types::list).post(event_types::create),
        )
        .route(
            "/event-type/{name}",
            get(event_types::get)
                .put(event_types::put)
                .patch(event_types::patch)
                .delete(event_types::delete),
        )
        .route(
            "/app/{app_id}/endpoint",
            get(endpoints::list).post(endpoints::create),
        )
        .route(
            ep,
            get(endpoints::get)
                .put(endpoints::put)
                .patch(endpoints::patch)
                .delete(endpoints::delete),
        )
        .route(&format!("{ep}/secret"), get(endpoints::get_secret))
        .route(
            &format!("{ep}/secret/rotate"),
            post(endpoints::rotate_secret),
        )
        .route(
            &format!("{ep}/headers"),
            get(endpoints::get_headers)
                .put(endpoints::put_headers)
                .patch(endpoints::patch_headers),
        )
        .route(&format!("{ep}/recover"), post(endpoints::recover))
        .route(&format!("{ep}/stats"), get(endpoints::stats))
        .route(&format!("{ep}/msg"), get(messages::list_for_endpoint))
        .route(
            "/app/{app_id}/msg",
            get(messages::list).post(messages::create),
        )
        .route(msg, get(messages::get))
        .route(&format!("{msg}/endpoint"), get(messages::destinations))
        .route(
            &format!("{msg}/attempt/{{attempt_id}}"),
            get(messages::attempt),
        )
        .route(
            &format!("{msg}/endpoint/{{endpoint_id}}/resend"),
            post(messages::resend),
        )
        .route(
            "/app/{app_id}/attempt/msg/{msg_id}",
            get(messages::attempts_for_message),
        )
        .route(
            "/app/{app_id}/attempt/endpoint/{endpoint_id}",
            get(messages::attempts_for_endpoint),
        )
        .route("/app/{app_id}/listen", get(listen::listen))
        .merge(projects::api_routes())
        .layer(middleware::from_fn_with_state(
            state.clone(),
            idempotency::layer,
        ))
        .route("/health", get(doc::health))
        .route("/openapi.json", get(doc::openapi_json));
    Router::new()
        .nest("/api/v1", v1)
        .merge(projects::project_routes(&state))
        .fallback(|| async { ApiError::not_found("route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "method not allowed on this route",
            )
        })
        .with_state(state)
}
