//! `/api/v1/app/{app_id}/endpoint`: endpoints, their secrets, headers, stats and recovery.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use skyhook_domain::clock::{now_ms, parse_rfc3339, to_rfc3339};
use skyhook_domain::ids;
use skyhook_domain::model::{Application, Endpoint};
use skyhook_domain::signing::{self, SecretSet};

use crate::AppState;
use crate::dto::{
    EndpointHeadersIn, EndpointHeadersOut, EndpointHeadersPatchIn, EndpointIn, EndpointOut,
    EndpointPatch, EndpointSecretOut, EndpointSecretRotateIn, EndpointStatsOut, RecoverIn,
};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Auth, Body, Query};
use crate::pagination::{ListQuery, ListResponse, respond};
use crate::validate;

/// Default grace period of a rotated-out secret: 24 hours.
const DEFAULT_GRACE_SECONDS: u32 = 24 * 3600;

/// The application and endpoint named in the path, scoped to the caller.
pub(crate) async fn load(
    state: &AppState,
    auth: &Auth,
    app_id: &str,
    endpoint_id: &str,
) -> ApiResult<(Application, Endpoint)> {
    let app = auth.app(state, app_id).await?;
    let ep = state
        .store
        .get_endpoint(&app.id, endpoint_id)
        .await?
        .ok_or_else(|| ApiError::not_found("endpoint"))?;
    Ok((app, ep))
}

/// Checks every field an endpoint may be given.
async fn check(state: &AppState, ep: &Endpoint) -> ApiResult<()> {
    validate::endpoint_url(&ep.url, state.config.https_only)?;
    if let Some(uid) = &ep.uid {
        validate::uid(ids::ENDPOINT, uid)?;
    }
    validate::channels("channels", &ep.channels)?;
    validate::text("description", &ep.description)?;
    validate::map("metadata", ep.metadata.iter())?;
    validate::map("headers", ep.headers.iter())?;
    if ep.event_types.len() > 256 {
        return Err(ApiError::field("eventTypes", "at most 256 event types"));
    }
    for t in &ep.event_types {
        validate::name("eventTypes", t)?;
    }
    let missing = state.store.missing_event_types(&ep.event_types).await?;
    if !missing.is_empty() {
        return Err(ApiError::field(
            "eventTypes",
            format!("unknown event types: {}", missing.join(", ")),
        ));
    }
    validate::custom_headers(&ep.headers)
}

fn conflict(e: skyhook_store::StoreError) -> ApiError {
    match e {
        skyhook_store::StoreError::Conflict(_) => {
            ApiError::conflict("an endpoint with this uid already exists in the application")
        }
        other => other.into(),
    }
}

fn secret_set(secret: Option<String>) -> ApiResult<SecretSet> {
    match secret {
        Some(key) => {
            signing::validate_key(&key).map_err(|e| ApiError::field("secret", e.to_string()))?;
            Ok(SecretSet::with_key(key))
        }
        None => Ok(SecretSet::generate()),
    }
}

/// Creates an endpoint in `app` from `input`; shared by POST, PUT-upsert and the webhooks plugin.
pub(crate) async fn create_endpoint(
    state: &AppState,
    app: &Application,
    input: EndpointIn,
) -> ApiResult<Endpoint> {
    let now = now_ms();
    let ep = Endpoint {
        id: ids::new_id(ids::ENDPOINT, now),
        app_id: app.id.clone(),
        uid: input.uid,
        url: input.url,
        description: input.description,
        throttle_rate: input.throttle_rate,
        disabled: input.disabled,
        event_types: input.event_types.unwrap_or_default(),
        channels: input.channels.unwrap_or_default(),
        metadata: input.metadata.unwrap_or_default(),
        headers: input.headers.unwrap_or_default(),
        secrets: secret_set(input.secret)?,
        failing_since: None,
        created_at: now,
        updated_at: now,
    };
    check(state, &ep).await?;
    state.store.create_endpoint(&ep).await.map_err(conflict)?;
    Ok(ep)
}

#[utoipa::path(
    get,
    path = "/api/v1/app/{app_id}/endpoint",
    operation_id = "v1.endpoint.list",
    tag = "Endpoint",
    params(("app_id" = String, Path, description = "The application's id or uid"), crate::pagination::ListQuery),
    responses((status = 200, description = "OK", body = ListResponse<EndpointOut>), crate::openapi::ErrorResponses)
)]
pub async fn list(
    State(state): State<AppState>,
    auth: Auth,
    Path(app_id): Path<String>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<ListResponse<EndpointOut>>> {
    let app = auth.app(&state, &app_id).await?;
    let page = q.page(false)?;
    let rows = state.store.list_endpoints(&app.id, &page).await?;
    Ok(Json(respond(
        &page,
        rows,
        |e| e.id.clone(),
        EndpointOut::from,
    )))
}

#[utoipa::path(
    post,
    path = "/api/v1/app/{app_id}/endpoint",
    operation_id = "v1.endpoint.create",
    tag = "Endpoint",
    request_body = EndpointIn,
    params(("app_id" = String, Path, description = "The application's id or uid"), ("idempotency-key" = Option<String>, Header, description = "Replays the first answer to this key for 24 hours")),
    responses((status = 201, description = "Created", body = EndpointOut), crate::openapi::ErrorResponses)
)]
pub async fn create(
    State(state): State<AppState>,
    auth: Auth,
    Path(app_id): Path<String>,
    Body(input): Body<EndpointIn>,
) -> ApiResult<(StatusCode, Json<EndpointOut>)> {
    let app = auth.app(&state, &app_id).await?;
    let ep = create_endpoint(&state, &app, input).await?;
    Ok((StatusCode::CREATED, Json(ep.into())))
}

#[utoipa::path(
    get,
    path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}",
    operation_id = "v1.endpoint.get",
    tag = "Endpoint",
    params(("app_id" = String, Path, description = "The application's id or uid"), ("endpoint_id" = String, Path, description = "The endpoint's id or uid")),
    responses((status = 200, description = "OK", body = EndpointOut), crate::openapi::ErrorResponses)
)]
pub async fn get(
    State(state): State<AppState>,
    auth: Auth,
    Path((app_id, ep_id)): Path<(String, String)>,
) -> ApiResult<Json<EndpointOut>> {
    Ok(Json(load(&state, &auth, &app_id, &ep_id).await?.1.into()))
}

#[utoipa::path(
    put,
    path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}",
    operation_id = "v1.endpoint.update",
    tag = "Endpoint",
    request_body = EndpointIn,
    params(("app_id" = String, Path, description = "The application's id or uid"), ("endpoint_id" = String, Path, description = "The endpoint's id or uid")),
    responses((status = 200, description = "Updated", body = EndpointOut), (status = 201, description = "Created", body = EndpointOut), crate::openapi::ErrorResponses)
)]
pub async fn put(
    State(state): State<AppState>,
    auth: Auth,
    Path((app_id, ep_id)): Path<(String, String)>,
    Body(input): Body<EndpointIn>,
) -> ApiResult<(StatusCode, Json<EndpointOut>)> {
    let app = auth.app(&state, &app_id).await?;
    let Some(mut ep) = state.store.get_endpoint(&app.id, &ep_id).await? else {
        if ids::is_id(ids::ENDPOINT, &ep_id) {
            return Err(ApiError::not_found("endpoint"));
        }
        // PUT on an unknown uid creates the endpoint under that uid (Svix upsert).
        let uid = input.uid.clone().unwrap_or(ep_id);
        let ep = create_endpoint(
            &state,
            &app,
            EndpointIn {
                uid: Some(uid),
                ..input
            },
        )
        .await?;
        return Ok((StatusCode::CREATED, Json(ep.into())));
    };
    ep.url = input.url;
    ep.description = input.description;
    ep.uid = input.uid;
    ep.throttle_rate = input.throttle_rate;
    ep.disabled = input.disabled;
    ep.event_types = input.event_types.unwrap_or_default();
    ep.channels = input.channels.unwrap_or_default();
    ep.metadata = input.metadata.unwrap_or_default();
    ep.updated_at = now_ms();
    check(&state, &ep).await?;
    state.store.update_endpoint(&ep).await.map_err(conflict)?;
    Ok((StatusCode::OK, Json(ep.into())))
}

#[utoipa::path(
    patch,
    path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}",
    operation_id = "v1.endpoint.patch",
    tag = "Endpoint",
    request_body = EndpointPatch,
    params(("app_id" = String, Path, description = "The application's id or uid"), ("endpoint_id" = String, Path, description = "The endpoint's id or uid")),
    responses((status = 200, description = "OK", body = EndpointOut), crate::openapi::ErrorResponses)
)]
pub async fn patch(
    State(state): State<AppState>,
    auth: Auth,
    Path((app_id, ep_id)): Path<(String, String)>,
    Body(input): Body<EndpointPatch>,
) -> ApiResult<Json<EndpointOut>> {
    let (_, mut ep) = load(&state, &auth, &app_id, &ep_id).await?;
    if let Some(url) = input.url {
        ep.url = url;
    }
    if let Some(d) = input.description {
        ep.description = d;
    }
    if let Some(uid) = input.uid {
        ep.uid = uid;
    }
    if let Some(rate) = input.throttle_rate {
        ep.throttle_rate = rate;
    }
    if let Some(disabled) = input.disabled {
        ep.disabled = disabled;
    }
    if let Some(types) = input.event_types {
        ep.event_types = types.unwrap_or_default();
    }
    if let Some(channels) = input.channels {
        ep.channels = channels.unwrap_or_default();
    }
    if let Some(metadata) = input.metadata {
        ep.metadata = metadata;
    }
    ep.updated_at = now_ms();
    check(&state, &ep).await?;
    state.store.update_endpoint(&ep).await.map_err(conflict)?;
    Ok(Json(ep.into()))
}

#[utoipa::path(
    delete,
    path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}",
    operation_id = "v1.endpoint.delete",
    tag = "Endpoint",
    params(("app_id" = String, Path, description = "The application's id or uid"), ("endpoint_id" = String, Path, description = "The endpoint's id or uid")),
    responses((status = 204, description = "Deleted"), crate::openapi::ErrorResponses)
)]
pub async fn delete(
    State(state): State<AppState>,
    auth: Auth,
    Path((app_id, ep_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let (app, ep) = load(&state, &auth, &app_id, &ep_id).await?;
    state.store.delete_endpoint(&app.id, &ep.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    get,
    path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/secret",
    operation_id = "v1.endpoint.get-secret",
    tag = "Endpoint",
    params(("app_id" = String, Path, description = "The application's id or uid"), ("endpoint_id" = String, Path, description = "The endpoint's id or uid")),
    responses((status = 200, description = "OK", body = EndpointSecretOut), crate::openapi::ErrorResponses)
)]
pub async fn get_secret(
    State(state): State<AppState>,
    auth: Auth,
    Path((app_id, ep_id)): Path<(String, String)>,
) -> ApiResult<Json<EndpointSecretOut>> {
    let (_, ep) = load(&state, &auth, &app_id, &ep_id).await?;
    Ok(Json(EndpointSecretOut {
        key: ep.secrets.current().to_string(),
    }))
}

/// Answers 200 with the new secret, as current Svix SDKs expect.
#[utoipa::path(
    post,
    path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/secret/rotate",
    operation_id = "v1.endpoint.rotate-secret",
    tag = "Endpoint",
    request_body = EndpointSecretRotateIn,
    params(("app_id" = String, Path, description = "The application's id or uid"), ("endpoint_id" = String, Path, description = "The endpoint's id or uid"), ("idempotency-key" = Option<String>, Header, description = "Replays the first answer to this key for 24 hours")),
    responses((status = 200, description = "The new secret", body = EndpointSecretOut), crate::openapi::ErrorResponses)
)]
pub async fn rotate_secret(
    State(state): State<AppState>,
    auth: Auth,
    Path((app_id, ep_id)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> ApiResult<Json<EndpointSecretOut>> {
    // The body is optional: an empty one means "generate a key, default grace".
    let input: EndpointSecretRotateIn = if body.iter().all(u8::is_ascii_whitespace) {
        Default::default()
    } else {
        crate::extract::parse_json(&body)?
    };
    let (_, mut ep) = load(&state, &auth, &app_id, &ep_id).await?;
    let key = match input.key {
        Some(k) => {
            signing::validate_key(&k).map_err(|e| ApiError::field("key", e.to_string()))?;
            k
        }
        None => signing::generate_key(),
    };
    let now = now_ms();
    let grace = i64::from(input.grace_period_seconds.unwrap_or(DEFAULT_GRACE_SECONDS)) * 1000;
    ep.secrets.rotate(key.clone(), now, grace);
    ep.updated_at = now;
    state.store.update_endpoint(&ep).await?;
    Ok(Json(EndpointSecretOut { key }))
}

#[utoipa::path(
    get,
    path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/headers",
    operation_id = "v1.endpoint.get-headers",
    tag = "Endpoint",
    params(("app_id" = String, Path, description = "The application's id or uid"), ("endpoint_id" = String, Path, description = "The endpoint's id or uid")),
    responses((status = 200, description = "OK", body = EndpointHeadersOut), crate::openapi::ErrorResponses)
)]
pub async fn get_headers(
    State(state): State<AppState>,
    auth: Auth,
    Path((app_id, ep_id)): Path<(String, String)>,
) -> ApiResult<Json<EndpointHeadersOut>> {
    let (_, ep) = load(&state, &auth, &app_id, &ep_id).await?;
    Ok(Json(EndpointHeadersOut {
        headers: ep.headers,
        sensitive: Vec::new(),
    }))
}

#[utoipa::path(
    put,
    path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/headers",
    operation_id = "v1.endpoint.update-headers",
    tag = "Endpoint",
    request_body = EndpointHeadersIn,
    params(("app_id" = String, Path, description = "The application's id or uid"), ("endpoint_id" = String, Path, description = "The endpoint's id or uid")),
    responses((status = 204, description = "Replaced"), crate::openapi::ErrorResponses)
)]
pub async fn put_headers(
    State(state): State<AppState>,
    auth: Auth,
    Path((app_id, ep_id)): Path<(String, String)>,
    Body(input): Body<EndpointHeadersIn>,
) -> ApiResult<StatusCode> {
    let (_, mut ep) = load(&state, &auth, &app_id, &ep_id).await?;
    validate::custom_headers(&input.headers)?;
    ep.headers = input.headers;
    ep.updated_at = now_ms();
    state.store.update_endpoint(&ep).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    patch,
    path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/headers",
    operation_id = "v1.endpoint.patch-headers",
    tag = "Endpoint",
    request_body = EndpointHeadersPatchIn,
    params(("app_id" = String, Path, description = "The application's id or uid"), ("endpoint_id" = String, Path, description = "The endpoint's id or uid")),
    responses((status = 204, description = "Updated"), crate::openapi::ErrorResponses)
)]
pub async fn patch_headers(
    State(state): State<AppState>,
    auth: Auth,
    Path((app_id, ep_id)): Path<(String, String)>,
    Body(input): Body<EndpointHeadersPatchIn>,
) -> ApiResult<StatusCode> {
    let (_, mut ep) = load(&state, &auth, &app_id, &ep_id).await?;
    validate::custom_headers(&input.headers)?;
    ep.headers.extend(input.headers);
    for name in &input.delete_headers {
        ep.headers.remove(name);
    }
    ep.updated_at = now_ms();
    state.store.update_endpoint(&ep).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    get,
    path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/stats",
    operation_id = "v1.endpoint.get-stats",
    tag = "Endpoint",
    params(("app_id" = String, Path, description = "The application's id or uid"), ("endpoint_id" = String, Path, description = "The endpoint's id or uid")),
    responses((status = 200, description = "OK", body = EndpointStatsOut), crate::openapi::ErrorResponses)
)]
pub async fn stats(
    State(state): State<AppState>,
    auth: Auth,
    Path((app_id, ep_id)): Path<(String, String)>,
) -> ApiResult<Json<EndpointStatsOut>> {
    let (_, ep) = load(&state, &auth, &app_id, &ep_id).await?;
    Ok(Json(state.store.endpoint_stats(&ep.id).await?.into()))
}

/// Queues a manual attempt for every failed message of the window; answers like Svix's
/// background task, already finished (the requeue is one statement).
#[utoipa::path(
    post,
    path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/recover",
    operation_id = "v1.endpoint.recover",
    tag = "Endpoint",
    request_body = RecoverIn,
    params(("app_id" = String, Path, description = "The application's id or uid"), ("endpoint_id" = String, Path, description = "The endpoint's id or uid"), ("idempotency-key" = Option<String>, Header, description = "Replays the first answer to this key for 24 hours")),
    responses((status = 202, description = "Failed messages of the window queued again", body = crate::openapi::RecoverOut), crate::openapi::ErrorResponses)
)]
pub async fn recover(
    State(state): State<AppState>,
    auth: Auth,
    Path((app_id, ep_id)): Path<(String, String)>,
    Body(input): Body<RecoverIn>,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    let (_, ep) = load(&state, &auth, &app_id, &ep_id).await?;
    let now = now_ms();
    let since = parse_rfc3339(&input.since)
        .ok_or_else(|| ApiError::field("since", "must be an RFC 3339 date-time"))?;
    let until = match &input.until {
        Some(u) => parse_rfc3339(u)
            .ok_or_else(|| ApiError::field("until", "must be an RFC 3339 date-time"))?,
        None => now + 1,
    };
    let n = state.store.recover(&ep.id, since, until, now).await?;
    state.wake.notify_one();
    tracing::info!(endpoint_id = %ep.id, requeued = n, "recover");
    Ok((
        StatusCode::ACCEPTED,
        Json(serde_json::json!({
            "id": ids::new_id(ids::TASK, now),
            "status": "finished",
            "task": "endpoint.recover",
            "updatedAt": to_rfc3339(now_ms()),
        })),
    ))
}
