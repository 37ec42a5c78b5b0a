//! `/api/v1/event-type`: the catalogue of event types (global; writes need an admin token).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use skyhook_domain::clock::now_ms;
use skyhook_domain::model::EventType;

use crate::AppState;
use crate::dto::{EventTypeIn, EventTypeOut, EventTypePatch};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Auth, Body, Query};
use crate::pagination::{ListQuery, ListResponse, respond};
use crate::validate;

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventTypeQuery {
    #[serde(default)]
    include_archived: bool,
}

#[utoipa::path(
    get,
    path = "/api/v1/event-type",
    operation_id = "v1.event-type.list",
    tag = "Event Type",
    params(crate::pagination::ListQuery, EventTypeQuery),
    responses((status = 200, description = "OK", body = ListResponse<EventTypeOut>), crate::openapi::ErrorResponses)
)]
pub async fn list(
    State(state): State<AppState>,
    _auth: Auth,
    Query(list): Query<ListQuery>,
    Query(q): Query<EventTypeQuery>,
) -> ApiResult<Json<ListResponse<EventTypeOut>>> {
    let page = list.page(false)?;
    let rows = state
        .store
        .list_event_types(&page, q.include_archived)
        .await?;
    Ok(Json(respond(
        &page,
        rows,
        |e| e.name.clone(),
        EventTypeOut::from,
    )))
}

async fn insert(state: &AppState, name: String, input: EventTypeIn) -> ApiResult<EventType> {
    validate::name("name", &name)?;
    validate::text("description", &input.description)?;
    if let Some(g) = &input.group_name {
        validate::name("groupName", g)?;
    }
    let now = now_ms();
    let et = EventType {
        name,
        description: input.description,
        archived: input.archived,
        deprecated: input.deprecated,
        schemas: input.schemas,
        group_name: input.group_name,
        feature_flags: input.feature_flags,
        created_at: now,
        updated_at: now,
    };
    state
        .store
        .create_event_type(&et)
        .await
        .map_err(|e| match e {
            skyhook_store::StoreError::Conflict(_) => {
                ApiError::conflict("an event type with this name already exists")
            }
            other => other.into(),
        })?;
    Ok(et)
}

#[utoipa::path(
    post,
    path = "/api/v1/event-type",
    operation_id = "v1.event-type.create",
    tag = "Event Type",
    request_body = EventTypeIn,
    params(("idempotency-key" = Option<String>, Header, description = "Replays the first answer to this key for 24 hours")),
    responses((status = 201, description = "Created", body = EventTypeOut), crate::openapi::ErrorResponses)
)]
pub async fn create(
    State(state): State<AppState>,
    auth: Auth,
    Body(input): Body<EventTypeIn>,
) -> ApiResult<(StatusCode, Json<EventTypeOut>)> {
    auth.require_admin()?;
    let name = input
        .name
        .clone()
        .ok_or_else(|| ApiError::field("name", "required"))?;
    let et = insert(&state, name, input).await?;
    Ok((StatusCode::CREATED, Json(et.into())))
}

async fn load(state: &AppState, name: &str) -> ApiResult<EventType> {
    state
        .store
        .get_event_type(name)
        .await?
        .ok_or_else(|| ApiError::not_found("event type"))
}

#[utoipa::path(
    get,
    path = "/api/v1/event-type/{name}",
    operation_id = "v1.event-type.get",
    tag = "Event Type",
    params(("name" = String, Path, description = "The event type's name")),
    responses((status = 200, description = "OK", body = EventTypeOut), crate::openapi::ErrorResponses)
)]
pub async fn get(
    State(state): State<AppState>,
    _auth: Auth,
    Path(name): Path<String>,
) -> ApiResult<Json<EventTypeOut>> {
    Ok(Json(load(&state, &name).await?.into()))
}

#[utoipa::path(
    put,
    path = "/api/v1/event-type/{name}",
    operation_id = "v1.event-type.upsert",
    tag = "Event Type",
    request_body = EventTypeIn,
    params(("name" = String, Path, description = "The event type's name")),
    responses((status = 200, description = "Updated", body = EventTypeOut), (status = 201, description = "Created", body = EventTypeOut), crate::openapi::ErrorResponses)
)]
pub async fn put(
    State(state): State<AppState>,
    auth: Auth,
    Path(name): Path<String>,
    Body(input): Body<EventTypeIn>,
) -> ApiResult<(StatusCode, Json<EventTypeOut>)> {
    auth.require_admin()?;
    let Some(mut et) = state.store.get_event_type(&name).await? else {
        let et = insert(&state, name, input).await?;
        return Ok((StatusCode::CREATED, Json(et.into())));
    };
    if let Some(g) = &input.group_name {
        validate::name("groupName", g)?;
    }
    et.description = input.description;
    et.archived = input.archived;
    et.deprecated = input.deprecated;
    et.schemas = input.schemas;
    et.group_name = input.group_name;
    et.feature_flags = input.feature_flags;
    et.updated_at = now_ms();
    state.store.update_event_type(&et).await?;
    Ok((StatusCode::OK, Json(et.into())))
}

#[utoipa::path(
    patch,
    path = "/api/v1/event-type/{name}",
    operation_id = "v1.event-type.patch",
    tag = "Event Type",
    request_body = EventTypePatch,
    params(("name" = String, Path, description = "The event type's name")),
    responses((status = 200, description = "OK", body = EventTypeOut), crate::openapi::ErrorResponses)
)]
pub async fn patch(
    State(state): State<AppState>,
    auth: Auth,
    Path(name): Path<String>,
    Body(input): Body<EventTypePatch>,
) -> ApiResult<Json<EventTypeOut>> {
    auth.require_admin()?;
    let mut et = load(&state, &name).await?;
    if let Some(d) = input.description {
        et.description = d;
    }
    if let Some(a) = input.archived {
        et.archived = a;
    }
    if let Some(d) = input.deprecated {
        et.deprecated = d;
    }
    if let Some(s) = input.schemas {
        et.schemas = s;
    }
    if let Some(g) = input.group_name {
        if let Some(g) = &g {
            validate::name("groupName", g)?;
        }
        et.group_name = g;
    }
    if let Some(f) = input.feature_flags {
        et.feature_flags = f;
    }
    et.updated_at = now_ms();
    state.store.update_event_type(&et).await?;
    Ok(Json(et.into()))
}

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeleteQuery {
    #[serde(default)]
    expunge: bool,
}

/// As in Svix, deleting archives the type unless `expunge=true` removes it for good.
#[utoipa::path(
    delete,
    path = "/api/v1/event-type/{name}",
    operation_id = "v1.event-type.delete",
    tag = "Event Type",
    params(("name" = String, Path, description = "The event type's name"), DeleteQuery),
    responses((status = 204, description = "Archived, or deleted with expunge=true"), crate::openapi::ErrorResponses)
)]
pub async fn delete(
    State(state): State<AppState>,
    auth: Auth,
    Path(name): Path<String>,
    Query(q): Query<DeleteQuery>,
) -> ApiResult<StatusCode> {
    auth.require_admin()?;
    let mut et = load(&state, &name).await?;
    if q.expunge {
        state.store.delete_event_type(&name).await?;
    } else {
        et.archived = true;
        et.updated_at = now_ms();
        state.store.update_event_type(&et).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}
