//! The OpenAPI document's list of operations, and the routes that are about the API
//! itself (health, the document).

use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use utoipa::OpenApi;

use super::{apps, endpoints, event_types, listen, messages, projects};
use crate::openapi::SecuritySchemes;

/// Liveness: 204 without authentication.
#[utoipa::path(
    get,
    path = "/api/v1/health",
    operation_id = "v1.health.get",
    tag = "Health",
    responses((status = 204, description = "The server is up")),
    security(())
)]
pub async fn health() -> StatusCode {
    StatusCode::NO_CONTENT
}

/// This document.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    operation_id = "v1.openapi.get",
    tag = "Health",
    responses((status = 200, description = "The OpenAPI 3.1 document of this API", content_type = "application/json")),
    security(())
)]
pub async fn openapi_json() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        crate::openapi::json(),
    )
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Skyhook API",
        description = "Webhook delivery: a Svix-compatible management API, projects with the webhooks plugin, and quotations.",
        license(name = "MIT OR Apache-2.0")
    ),
    paths(
        health,
        openapi_json,
        apps::list,
        apps::create,
        apps::get,
        apps::put,
        apps::patch,
        apps::delete,
        event_types::list,
        event_types::create,
        event_types::get,
        event_types::put,
        event_types::patch,
        event_types::delete,
        endpoints::list,
        endpoints::create,
        endpoints::get,
        endpoints::put,
        endpoints::patch,
        endpoints::delete,
        endpoints::get_secret,
        endpoints::rotate_secret,
        endpoints::get_headers,
        endpoints::put_headers,
        endpoints::patch_headers,
        endpoints::stats,
        endpoints::recover,
        messages::create,
        messages::list,
        messages::get,
        messages::destinations,
        messages::list_for_endpoint,
        messages::attempts_for_message,
        messages::attempts_for_endpoint,
        messages::attempt,
        messages::resend,
        listen::listen,
        projects::get_plugin,
        projects::put_plugin,
        projects::get_secret,
        projects::rotate_secret,
        projects::create_quotation,
        projects::list_quotations,
        projects::get_quotation,
        projects::get_file,
    ),
    components(schemas(
        crate::openapi::HttpErrorOut,
        crate::openapi::HttpValidationError,
        crate::dto::EndpointPatch,
        crate::dto::ApplicationPatch,
        crate::dto::EventTypePatch,
    )),
    modifiers(&SecuritySchemes),
    security(("HTTPBearer" = [])),
    tags(
        (name = "Application", description = "Applications (projects)"),
        (name = "Event Type", description = "Event types"),
        (name = "Endpoint", description = "Endpoints, their secrets, headers, stats and recovery"),
        (name = "Message", description = "Messages (events)"),
        (name = "Message Attempt", description = "Delivery status and attempts, resending"),
        (name = "Project", description = "The webhooks plugin and the quotation secret"),
        (name = "Quotation", description = "Quotation requests under each project's projectUrl"),
        (name = "Listen", description = "Streaming deliveries to `skyhook listen`"),
        (name = "Health", description = "Liveness and this document"),
    )
)]
struct ApiDoc;

/// The generated document.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
