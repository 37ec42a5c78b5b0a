//! `/api/v1/app`: applications (projects).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use skyhook_domain::clock::now_ms;
use skyhook_domain::ids;
use skyhook_domain::model::Application;
use skyhook_store::TokenScope;

use crate::AppState;
use crate::dto::{ApplicationIn, ApplicationOut, ApplicationPatch};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Auth, Body, Query};
use crate::pagination::{ListQuery, ListResponse, respond};
use crate::validate;

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CreateQuery {
    get_or_create: Option<bool>,
    get_if_exists: Option<bool>,
}

fn check(input: &ApplicationIn) -> ApiResult<()> {
    if input.name.trim().is_empty() {
        return Err(ApiError::field("name", "must not be empty"));
    }
    if let Some(uid) = &input.uid {
        validate::uid(ids::APP, uid)?;
    }
    validate::text("name", &input.name)?;
    if let Some(metadata) = &input.metadata {
        validate::map("metadata", metadata.iter())?;
    }
    Ok(())
}

/// A new application from `input`; used by `POST /app` and by messages that create theirs.
pub(crate) async fn create_app(state: &AppState, input: ApplicationIn) -> ApiResult<Application> {
    check(&input)?;
    let now = now_ms();
    let app = Application {
        id: ids::new_id(ids::APP, now),
        uid: input.uid,
        name: input.name,
        throttle_rate: input.throttle_rate,
        metadata: input.metadata.unwrap_or_default(),
        created_at: now,
        updated_at: now,
    };
    state.store.create_app(&app).await.map_err(|e| match e {
        skyhook_store::StoreError::Conflict(_) => {
            ApiError::conflict("an application with this uid already exists")
        }
        other => other.into(),
    })?;
    crate::routes::projects::quotation_secret(state, &app.id).await?;
    Ok(app)
}

#[utoipa::path(
    get,
    path = "/api/v1/app",
    operation_id = "v1.application.list",
    tag = "Application",
    params(crate::pagination::ListQuery),
    responses((status = 200, description = "OK", body = ListResponse<ApplicationOut>), crate::openapi::ErrorResponses)
)]
pub async fn list(
    State(state): State<AppState>,
    auth: Auth,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<ListResponse<ApplicationOut>>> {
    let page = q.page(false)?;
    let only = match &auth.0 {
        TokenScope::Admin => None,
        TokenScope::App(id) => Some(id.as_str()),
    };
    let rows = state.store.list_apps(&page, only).await?;
    Ok(Json(respond(
        &page,
        rows,
        |a| a.id.clone(),
        ApplicationOut::from,
    )))
}

#[utoipa::path(
    post,
    path = "/api/v1/app",
    operation_id = "v1.application.create",
    tag = "Application",
    request_body = ApplicationIn,
    params(CreateQuery, ("idempotency-key" = Option<String>, Header, description = "Replays the first answer to this key for 24 hours")),
    responses((status = 201, description = "Created", body = ApplicationOut), (status = 200, description = "Already existed (get_or_create)", body = ApplicationOut), crate::openapi::ErrorResponses)
)]
pub async fn create(
    State(state): State<AppState>,
    auth: Auth,
    Query(q): Query<CreateQuery>,
    Body(input): Body<ApplicationIn>,
) -> ApiResult<(StatusCode, Json<ApplicationOut>)> {
    if q.get_or_create.or(q.get_if_exists).unwrap_or(false)
        && let Some(uid) = &input.uid
        && let Some(existing) = state.store.get_app(uid).await?
    {
        return if auth.may_see(&existing.id) {
            Ok((StatusCode::OK, Json(existing.into())))
        } else {
            Err(ApiError::conflict(
                "an application with this uid already exists",
            ))
        };
    }
    auth.require_admin()?;
    let app = create_app(&state, input).await?;
    Ok((StatusCode::CREATED, Json(app.into())))
}

#[utoipa::path(
    get,
    path = "/api/v1/app/{app_id}",
    operation_id = "v1.application.get",
    tag = "Application",
    params(("app_id" = String, Path, description = "The application's id or uid")),
    responses((status = 200, description = "OK", body = ApplicationOut), crate::openapi::ErrorResponses)
)]
pub async fn get(
    State(state): State<AppState>,
    auth: Auth,
    Path(app_id): Path<String>,
) -> ApiResult<Json<ApplicationOut>> {
    Ok(Json(auth.app(&state, &app_id).await?.into()))
}

#[utoipa::path(
    put,
    path = "/api/v1/app/{app_id}",
    operation_id = "v1.application.upsert",
    tag = "Application",
    request_body = ApplicationIn,
    params(("app_id" = String, Path, description = "The application's id or uid")),
    responses((status = 200, description = "Updated", body = ApplicationOut), (status = 201, description = "Created", body = ApplicationOut), crate::openapi::ErrorResponses)
)]
pub async fn put(
    State(state): State<AppState>,
    auth: Auth,
    Path(app_id): Path<String>,
    Body(input): Body<ApplicationIn>,
) -> ApiResult<(StatusCode, Json<ApplicationOut>)> {
    check(&input)?;
    match auth.app(&state, &app_id).await {
        Ok(mut app) => {
            app.name = input.name;
            app.uid = input.uid;
            app.throttle_rate = input.throttle_rate;
            app.metadata = input.metadata.unwrap_or_default();
            app.updated_at = now_ms();
            state.store.update_app(&app).await?;
            state.apps.clear();
            Ok((StatusCode::OK, Json(app.into())))
        }
        // PUT on a uid that does not exist yet creates it (Svix upsert).
        Err(_) if !ids::is_id(ids::APP, &app_id) => {
            auth.require_admin()?;
            let uid = input.uid.clone().unwrap_or(app_id);
            let app = create_app(
                &state,
                ApplicationIn {
                    uid: Some(uid),
                    ..input
                },
            )
            .await?;
            Ok((StatusCode::CREATED, Json(app.into())))
        }
        Err(e) => Err(e),
    }
}

#[utoipa::path(
    patch,
    path = "/api/v1/app/{app_id}",
    operation_id = "v1.application.patch",
    tag = "Application",
    request_body = ApplicationPatch,
    params(("app_id" = String, Path, description = "The application's id or uid")),
    responses((status = 200, description = "OK", body = ApplicationOut), crate::openapi::ErrorResponses)
)]
pub async fn patch(
    State(state): State<AppState>,
    auth: Auth,
    Path(app_id): Path<String>,
    Body(input): Body<ApplicationPatch>,
) -> ApiResult<Json<ApplicationOut>> {
    let mut app = auth.app(&state, &app_id).await?;
    if let Some(name) = input.name {
        app.name = name;
    }
    if let Some(uid) = input.uid {
        app.uid = uid;
    }
    if let Some(rate) = input.throttle_rate {
        app.throttle_rate = rate;
    }
    if let Some(metadata) = input.metadata {
        app.metadata = metadata;
    }
    check(&ApplicationIn {
        name: app.name.clone(),
        uid: app.uid.clone(),
        throttle_rate: None,
        metadata: Some(app.metadata.clone()),
    })?;
    app.updated_at = now_ms();
    state.store.update_app(&app).await?;
    state.apps.clear();
    Ok(Json(app.into()))
}

#[utoipa::path(
    delete,
    path = "/api/v1/app/{app_id}",
    operation_id = "v1.application.delete",
    tag = "Application",
    params(("app_id" = String, Path, description = "The application's id or uid")),
    responses((status = 204, description = "Deleted"), crate::openapi::ErrorResponses)
)]
pub async fn delete(
    State(state): State<AppState>,
    auth: Auth,
    Path(app_id): Path<String>,
) -> ApiResult<StatusCode> {
    let app = auth.app(&state, &app_id).await?;
    state.store.delete_app(&app.id).await?;
    state.apps.clear();
    Ok(StatusCode::NO_CONTENT)
}
