//! Messages, their destinations and attempts, and resending.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use serde::Deserialize;
use skyhook_domain::clock::{now_ms, parse_rfc3339};
use skyhook_domain::ids;
use skyhook_domain::model::{Application, Message};
use skyhook_store::{AttemptFilter, MessageFilter};

use crate::AppState;
use crate::dto::{
    EndpointMessageOut, MessageAttemptOut, MessageEndpointOut, MessageIn, MessageOut,
};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Auth, Body, Query};
use crate::pagination::{ListQuery, ListResponse, respond};
use crate::routes::{apps, endpoints};
use crate::validate;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ContentQuery {
    #[serde(default = "yes")]
    with_content: bool,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MessageListQuery {
    #[serde(default = "yes")]
    with_content: bool,
    channel: Option<String>,
    before: Option<String>,
    after: Option<String>,
    status: Option<i64>,
    endpoint_id: Option<String>,
}

/// Values of a query key that may repeat (`event_types=a&event_types=b`) or be comma-separated.
fn repeated(raw: &Option<String>, key: &str) -> Vec<String> {
    let Some(raw) = raw else { return Vec::new() };
    url::form_urlencoded::parse(raw.as_bytes())
        .filter(|(k, _)| k == key || k.strip_suffix("[]") == Some(key))
        .flat_map(|(_, v)| v.split(',').map(str::to_string).collect::<Vec<_>>())
        .filter(|v| !v.is_empty())
        .collect()
}

fn time_param(field: &str, v: &Option<String>) -> ApiResult<Option<i64>> {
    v.as_deref()
        .map(|s| {
            parse_rfc3339(s).ok_or_else(|| ApiError::field(field, "must be an RFC 3339 date-time"))
        })
        .transpose()
}

async fn load_message(state: &AppState, app: &Application, msg_id: &str) -> ApiResult<Message> {
    state
        .store
        .get_message(&app.id, msg_id)
        .await?
        .ok_or_else(|| ApiError::not_found("message"))
}

/// The application of a new message: the named one, or created from `application` (Svix).
async fn target_app(
    state: &AppState,
    auth: &Auth,
    app_id: &str,
    input: &mut MessageIn,
) -> ApiResult<Application> {
    match (
        auth.app_cached(state, app_id).await,
        input.application.take(),
    ) {
        (Ok(app), _) => Ok(app),
        (Err(_), Some(mut spec)) if !ids::is_id(ids::APP, app_id) => {
            auth.require_admin()?;
            spec.uid.get_or_insert_with(|| app_id.to_string());
            apps::create_app(state, spec).await
        }
        (Err(e), _) => Err(e),
    }
}

#[utoipa::path(
    post,
    path = "/api/v1/app/{app_id}/msg",
    operation_id = "v1.message.create",
    tag = "Message",
    request_body = MessageIn,
    params(("app_id" = String, Path, description = "The application's id or uid"), ContentQuery, ("idempotency-key" = Option<String>, Header, description = "Replays the first answer to this key for 24 hours")),
    responses((status = 202, description = "Accepted: stored with its deliveries", body = MessageOut), crate::openapi::ErrorResponses)
)]
pub async fn create(
    State(state): State<AppState>,
    auth: Auth,
    Path(app_id): Path<String>,
    Query(q): Query<ContentQuery>,
    Body(mut input): Body<MessageIn>,
) -> ApiResult<(StatusCode, Json<MessageOut>)> {
    validate::name("eventType", &input.event_type)?;
    if let Some(id) = &input.event_id {
        validate::name("eventId", id)?;
    }
    validate::channels("channels", &input.channels)?;
    if input.tags.len() > 32 {
        return Err(ApiError::field("tags", "at most 32 tags"));
    }
    for tag in &input.tags {
        validate::name("tags", tag)?;
    }
    let payload = input.payload.get();
    if !payload.starts_with('{') {
        return Err(ApiError::field("payload", "must be a JSON object"));
    }
    if validate::json_depth(payload) > validate::MAX_DEPTH {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            format!(
                "the payload nests deeper than {} levels",
                validate::MAX_DEPTH
            ),
        ));
    }
    if payload.len() > state.config.max_payload_bytes {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!(
                "the payload is {} bytes; the limit is {} (MAX_PAYLOAD_BYTES)",
                payload.len(),
                state.config.max_payload_bytes
            ),
        ));
    }
    let app = target_app(&state, &auth, &app_id, &mut input).await?;
    let now = now_ms();
    let msg = Message {
        id: ids::new_id(ids::MESSAGE, now),
        app_id: app.id,
        event_id: input.event_id,
        event_type: input.event_type,
        payload: input.payload.get().to_string(),
        channels: input.channels,
        tags: input.tags,
        created_at: now,
    };
    // No wake-up from here: the store hands new deliveries to this process's worker, or
    // wakes it for what it could not take (see skyhook_store::handoff).
    state
        .store
        .create_message(&msg)
        .await
        .map_err(|e| match e {
            skyhook_store::StoreError::Conflict(_) => {
                ApiError::conflict("a message with this eventId already exists in the application")
            }
            other => other.into(),
        })?;
    metrics::counter!("skyhook_messages_accepted_total", "source" => "api").increment(1);
    Ok((
        StatusCode::ACCEPTED,
        Json(MessageOut::new(msg, q.with_content)),
    ))
}

#[utoipa::path(
    get,
    path = "/api/v1/app/{app_id}/msg",
    operation_id = "v1.message.list",
    tag = "Message",
    params(("app_id" = String, Path, description = "The application's id or uid"), crate::pagination::ListQuery, MessageListQuery, ("event_types" = Option<Vec<String>>, Query, description = "Only these event types (repeat or comma-separate)")),
    responses((status = 200, description = "OK", body = ListResponse<MessageOut>), crate::openapi::ErrorResponses)
)]
pub async fn list(
    State(state): State<AppState>,
    auth: Auth,
    Path(app_id): Path<String>,
    Query(list): Query<ListQuery>,
    Query(q): Query<MessageListQuery>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<ListResponse<MessageOut>>> {
    let app = auth.app(&state, &app_id).await?;
    let page = list.page(true)?;
    let filter = MessageFilter {
        event_types: repeated(&raw, "event_types"),
        channel: q.channel,
        before: time_param("before", &q.before)?,
        after: time_param("after", &q.after)?,
    };
    let rows = state.store.list_messages(&app.id, &filter, &page).await?;
    let with_content = q.with_content;
    Ok(Json(respond(
        &page,
        rows,
        |m| m.id.clone(),
        |m| MessageOut::new(m, with_content),
    )))
}

#[utoipa::path(
    get,
    path = "/api/v1/app/{app_id}/msg/{msg_id}",
    operation_id = "v1.message.get",
    tag = "Message",
    params(("app_id" = String, Path, description = "The application's id or uid"), ("msg_id" = String, Path, description = "The message's id or eventId"), ContentQuery),
    responses((status = 200, description = "OK", body = MessageOut), crate::openapi::ErrorResponses)
)]
pub async fn get(
    State(state): State<AppState>,
    auth: Auth,
    Path((app_id, msg_id)): Path<(String, String)>,
    Query(q): Query<ContentQuery>,
) -> ApiResult<Json<MessageOut>> {
    let app = auth.app(&state, &app_id).await?;
    Ok(Json(MessageOut::new(
        load_message(&state, &app, &msg_id).await?,
        q.with_content,
    )))
}

#[utoipa::path(
    get,
    path = "/api/v1/app/{app_id}/msg/{msg_id}/endpoint",
    operation_id = "v1.message-attempt.list-attempted-destinations",
    tag = "Message Attempt",
    params(("app_id" = String, Path, description = "The application's id or uid"), ("msg_id" = String, Path, description = "The message's id or eventId"), crate::pagination::ListQuery),
    responses((status = 200, description = "OK", body = ListResponse<MessageEndpointOut>), crate::openapi::ErrorResponses)
)]
pub async fn destinations(
    State(state): State<AppState>,
    auth: Auth,
    Path((app_id, msg_id)): Path<(String, String)>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<ListResponse<MessageEndpointOut>>> {
    let app = auth.app(&state, &app_id).await?;
    let msg = load_message(&state, &app, &msg_id).await?;
    let page = q.page(false)?;
    let rows = state.store.list_destinations(&msg.id, &page).await?;
    let mut out = Vec::with_capacity(rows.len());
    for d in rows {
        if let Some(ep) = state.store.get_endpoint(&app.id, &d.endpoint_id).await? {
            out.push((ep, d));
        }
    }
    Ok(Json(respond(
        &page,
        out,
        |(e, _)| e.id.clone(),
        |(e, d)| MessageEndpointOut::new(e, d),
    )))
}

#[utoipa::path(
    get,
    path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/msg",
    operation_id = "v1.message-attempt.list-attempted-messages",
    tag = "Message Attempt",
    params(("app_id" = String, Path, description = "The application's id or uid"), ("endpoint_id" = String, Path, description = "The endpoint's id or uid"), crate::pagination::ListQuery, MessageListQuery),
    responses((status = 200, description = "OK", body = ListResponse<EndpointMessageOut>), crate::openapi::ErrorResponses)
)]
pub async fn list_for_endpoint(
    State(state): State<AppState>,
    auth: Auth,
    Path((app_id, ep_id)): Path<(String, String)>,
    Query(list): Query<ListQuery>,
    Query(q): Query<MessageListQuery>,
) -> ApiResult<Json<ListResponse<EndpointMessageOut>>> {
    let (_, ep) = endpoints::load(&state, &auth, &app_id, &ep_id).await?;
    let page = list.page(true)?;
    let rows = state
        .store
        .list_endpoint_messages(&ep.id, q.status, &page)
        .await?;
    let with_content = q.with_content;
    Ok(Json(respond(
        &page,
        rows,
        |(m, _)| m.id.clone(),
        |(m, d)| EndpointMessageOut::new(m, d, with_content),
    )))
}

#[utoipa::path(
    get,
    path = "/api/v1/app/{app_id}/attempt/msg/{msg_id}",
    operation_id = "v1.message-attempt.list-by-msg",
    tag = "Message Attempt",
    params(("app_id" = String, Path, description = "The application's id or uid"), ("msg_id" = String, Path, description = "The message's id or eventId"), crate::pagination::ListQuery, MessageListQuery),
    responses((status = 200, description = "OK", body = ListResponse<MessageAttemptOut>), crate::openapi::ErrorResponses)
)]
pub async fn attempts_for_message(
    State(state): State<AppState>,
    auth: Auth,
    Path((app_id, msg_id)): Path<(String, String)>,
    Query(list): Query<ListQuery>,
    Query(q): Query<MessageListQuery>,
) -> ApiResult<Json<ListResponse<MessageAttemptOut>>> {
    let app = auth.app(&state, &app_id).await?;
    let msg = load_message(&state, &app, &msg_id).await?;
    let endpoint_id = match &q.endpoint_id {
        Some(e) => Some(endpoints::load(&state, &auth, &app.id, e).await?.1.id),
        None => None,
    };
    let page = list.page(true)?;
    let filter = AttemptFilter {
        status: q.status,
        endpoint_id,
    };
    let rows = state
        .store
        .list_attempts_for_message(&msg.id, &filter, &page)
        .await?;
    Ok(Json(respond(
        &page,
        rows,
        |a| a.id.clone(),
        MessageAttemptOut::from,
    )))
}

#[utoipa::path(
    get,
    path = "/api/v1/app/{app_id}/attempt/endpoint/{endpoint_id}",
    operation_id = "v1.message-attempt.list-by-endpoint",
    tag = "Message Attempt",
    params(("app_id" = String, Path, description = "The application's id or uid"), ("endpoint_id" = String, Path, description = "The endpoint's id or uid"), crate::pagination::ListQuery, MessageListQuery),
    responses((status = 200, description = "OK", body = ListResponse<MessageAttemptOut>), crate::openapi::ErrorResponses)
)]
pub async fn attempts_for_endpoint(
    State(state): State<AppState>,
    auth: Auth,
    Path((app_id, ep_id)): Path<(String, String)>,
    Query(list): Query<ListQuery>,
    Query(q): Query<MessageListQuery>,
) -> ApiResult<Json<ListResponse<MessageAttemptOut>>> {
    let (_, ep) = endpoints::load(&state, &auth, &app_id, &ep_id).await?;
    let page = list.page(true)?;
    let filter = AttemptFilter {
        status: q.status,
        endpoint_id: None,
    };
    let rows = state
        .store
        .list_attempts_for_endpoint(&ep.id, &filter, &page)
        .await?;
    Ok(Json(respond(
        &page,
        rows,
        |a| a.id.clone(),
        MessageAttemptOut::from,
    )))
}

#[utoipa::path(
    get,
    path = "/api/v1/app/{app_id}/msg/{msg_id}/attempt/{attempt_id}",
    operation_id = "v1.message-attempt.get",
    tag = "Message Attempt",
    params(("app_id" = String, Path, description = "The application's id or uid"), ("msg_id" = String, Path, description = "The message's id or eventId"), ("attempt_id" = String, Path, description = "The attempt's id")),
    responses((status = 200, description = "OK", body = MessageAttemptOut), crate::openapi::ErrorResponses)
)]
pub async fn attempt(
    State(state): State<AppState>,
    auth: Auth,
    Path((app_id, msg_id, attempt_id)): Path<(String, String, String)>,
) -> ApiResult<Json<MessageAttemptOut>> {
    let app = auth.app(&state, &app_id).await?;
    let msg = load_message(&state, &app, &msg_id).await?;
    let a = state
        .store
        .get_attempt(&msg.id, &attempt_id)
        .await?
        .ok_or_else(|| ApiError::not_found("attempt"))?;
    Ok(Json(a.into()))
}

#[utoipa::path(
    post,
    path = "/api/v1/app/{app_id}/msg/{msg_id}/endpoint/{endpoint_id}/resend",
    operation_id = "v1.message-attempt.resend",
    tag = "Message Attempt",
    params(("app_id" = String, Path, description = "The application's id or uid"), ("msg_id" = String, Path, description = "The message's id or eventId"), ("endpoint_id" = String, Path, description = "The endpoint's id or uid"), ("idempotency-key" = Option<String>, Header, description = "Replays the first answer to this key for 24 hours")),
    responses((status = 202, description = "Queued", body = crate::openapi::EmptyResponse), crate::openapi::ErrorResponses)
)]
pub async fn resend(
    State(state): State<AppState>,
    auth: Auth,
    Path((app_id, msg_id, ep_id)): Path<(String, String, String)>,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    let (app, ep) = endpoints::load(&state, &auth, &app_id, &ep_id).await?;
    let msg = load_message(&state, &app, &msg_id).await?;
    state.store.resend(&msg.id, &ep.id, now_ms()).await?;
    state.wake.notify_one();
    // Svix SDKs parse the answer as an (empty) JSON object.
    Ok((StatusCode::ACCEPTED, Json(serde_json::json!({}))))
}
