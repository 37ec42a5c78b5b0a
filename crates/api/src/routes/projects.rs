//! Projects (applications): the webhooks plugin, the quotation secret, and the
//! quotation routes under each project's `projectUrl` (`{PUBLIC_URL}/projects/{app_id}`).
//!
//! - `GET|PUT /api/v1/app/{app_id}/plugins/webhooks`: the plugin is the application's
//!   endpoint with uid `webhooks-plugin`, subscribed to every event type; disabling it
//!   sets the endpoint's `disabled` flag and keeps its URL and signing secret.
//! - `GET /api/v1/app/{app_id}/quotation-secret`, `POST …/quotation-secret/rotate`.
//! - `POST|GET {projectUrl}/quotations`, `GET {projectUrl}/quotations/{id}`,
//!   `GET {projectUrl}/quotation/files/{file_id}`: bearer = the project's quotation
//!   secret or an admin token; 401 otherwise, 404 for anything of another project.

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use skyhook_domain::clock::{now_ms, to_rfc3339};
use skyhook_domain::model::{Application, Endpoint};
use skyhook_domain::quotation::{
    self, MAX_REQUEST_BYTES, Quotation, QuotationError, QuotationFile, QuotationRequest, Upload,
};
use skyhook_store::TokenScope;

use crate::dto::EndpointIn;
use crate::error::{ApiError, ApiResult, FieldError};
use crate::extract::{Auth, Body, bearer, parse_json, token_scope, unauthorized};
use crate::pagination::{ListQuery, ListResponse, respond};
use crate::routes::endpoints;
use crate::{AppState, idempotency, validate};

/// Uid of the endpoint that is an application's webhooks plugin.
pub const PLUGIN_UID: &str = skyhook_domain::model::WEBHOOKS_PLUGIN_UID;

/// Routes under `/api/v1` (management API: admin or the application's own token).
pub fn api_routes() -> Router<AppState> {
    Router::new()
        .route(
            "/app/{app_id}/plugins/webhooks",
            get(get_plugin).put(put_plugin),
        )
        .route("/app/{app_id}/quotation-secret", get(get_secret))
        .route("/app/{app_id}/quotation-secret/rotate", post(rotate_secret))
}

/// Routes under `/projects/{app_id}` (the `projectUrl`).
pub fn project_routes(state: &AppState) -> Router<AppState> {
    Router::new()
        .route(
            "/projects/{app_id}/quotations",
            get(list_quotations).post(create_quotation).layer(
                // Multipart reads the body through this limit; JSON bodies are read below
                // with the same one.
                DefaultBodyLimit::max(MAX_REQUEST_BYTES),
            ),
        )
        .route(
            "/projects/{app_id}/quotations/{quotation_id}",
            get(get_quotation),
        )
        .route(
            "/projects/{app_id}/quotation/files/{file_id}",
            get(get_file),
        )
        .layer(middleware::from_fn_with_state(
            state.clone(),
            idempotency::layer,
        ))
}

// ---------------------------------------------------------------- webhooks plugin

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct PluginIn {
    enabled: bool,
    url: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PluginOut {
    enabled: bool,
    url: Option<String>,
    endpoint_id: Option<String>,
    secret: Option<String>,
}

impl From<Option<Endpoint>> for PluginOut {
    fn from(ep: Option<Endpoint>) -> Self {
        match ep {
            Some(ep) => Self {
                enabled: !ep.disabled,
                url: Some(ep.url),
                endpoint_id: Some(ep.id),
                secret: Some(ep.secrets.current().to_string()),
            },
            // Never configured: nothing to show yet.
            None => Self {
                enabled: false,
                url: None,
                endpoint_id: None,
                secret: None,
            },
        }
    }
}

async fn plugin_endpoint(state: &AppState, app: &Application) -> ApiResult<Option<Endpoint>> {
    Ok(state.store.get_endpoint(&app.id, PLUGIN_UID).await?)
}

#[utoipa::path(
    get,
    path = "/api/v1/app/{app_id}/plugins/webhooks",
    operation_id = "v1.project.get-webhooks-plugin",
    tag = "Project",
    params(("app_id" = String, Path, description = "The application's id or uid")),
    responses((status = 200, description = "OK", body = PluginOut), crate::openapi::ErrorResponses)
)]
pub async fn get_plugin(
    State(state): State<AppState>,
    auth: Auth,
    Path(app_id): Path<String>,
) -> ApiResult<Json<PluginOut>> {
    let app = auth.app(&state, &app_id).await?;
    Ok(Json(plugin_endpoint(&state, &app).await?.into()))
}

/// Enables, disables or re-points the plugin. The first PUT with a URL creates its
/// endpoint (and signing secret); later ones update it, so disabling and re-enabling
/// keeps the URL and the secret.
#[utoipa::path(
    put,
    path = "/api/v1/app/{app_id}/plugins/webhooks",
    operation_id = "v1.project.update-webhooks-plugin",
    tag = "Project",
    request_body = PluginIn,
    params(("app_id" = String, Path, description = "The application's id or uid")),
    responses((status = 200, description = "OK", body = PluginOut), crate::openapi::ErrorResponses)
)]
pub async fn put_plugin(
    State(state): State<AppState>,
    auth: Auth,
    Path(app_id): Path<String>,
    Body(input): Body<PluginIn>,
) -> ApiResult<Json<PluginOut>> {
    let app = auth.app(&state, &app_id).await?;
    let ep = match (plugin_endpoint(&state, &app).await?, input.url) {
        (Some(mut ep), url) => {
            if let Some(url) = url {
                validate::endpoint_url(&url, state.config.https_only)?;
                ep.url = url;
            }
            ep.disabled = !input.enabled;
            // The plugin takes every event type on every channel.
            ep.event_types.clear();
            ep.channels.clear();
            ep.updated_at = now_ms();
            state.store.update_endpoint(&ep).await?;
            Some(ep)
        }
        (None, Some(url)) => {
            let spec = EndpointIn {
                url,
                description: "Webhooks plugin".into(),
                uid: Some(PLUGIN_UID.into()),
                throttle_rate: None,
                disabled: !input.enabled,
                event_types: None,
                channels: None,
                secret: None,
                metadata: None,
                headers: None,
            };
            Some(endpoints::create_endpoint(&state, &app, spec).await?)
        }
        (None, None) if input.enabled => {
            return Err(ApiError::field(
                "url",
                "a URL is needed to enable the plugin",
            ));
        }
        (None, None) => None,
    };
    Ok(Json(ep.into()))
}

// ---------------------------------------------------------------- quotation secret

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct QuotationSecretOut {
    key: String,
}

/// The application's quotation secret, created on first use. Called when an
/// application is created, so every project has one from the start.
pub(crate) async fn quotation_secret(state: &AppState, app_id: &str) -> ApiResult<String> {
    if let Some(s) = state.store.get_quotation_secret(app_id).await? {
        return Ok(s);
    }
    Ok(state
        .store
        .ensure_quotation_secret(app_id, &quotation::generate_secret(), now_ms())
        .await?)
}

#[utoipa::path(
    get,
    path = "/api/v1/app/{app_id}/quotation-secret",
    operation_id = "v1.project.get-quotation-secret",
    tag = "Project",
    params(("app_id" = String, Path, description = "The application's id or uid")),
    responses((status = 200, description = "OK", body = QuotationSecretOut), crate::openapi::ErrorResponses)
)]
pub async fn get_secret(
    State(state): State<AppState>,
    auth: Auth,
    Path(app_id): Path<String>,
) -> ApiResult<Json<QuotationSecretOut>> {
    let app = auth.app(&state, &app_id).await?;
    Ok(Json(QuotationSecretOut {
        key: quotation_secret(&state, &app.id).await?,
    }))
}

/// A new secret replaces the old one at once (no grace period: the secret is a bearer
/// credential, and a leaked one must stop working when rotated).
#[utoipa::path(
    post,
    path = "/api/v1/app/{app_id}/quotation-secret/rotate",
    operation_id = "v1.project.rotate-quotation-secret",
    tag = "Project",
    params(("app_id" = String, Path, description = "The application's id or uid"), ("idempotency-key" = Option<String>, Header, description = "Replays the first answer to this key for 24 hours")),
    responses((status = 200, description = "The new secret; the old one stops working at once", body = QuotationSecretOut), crate::openapi::ErrorResponses)
)]
pub async fn rotate_secret(
    State(state): State<AppState>,
    auth: Auth,
    Path(app_id): Path<String>,
) -> ApiResult<Json<QuotationSecretOut>> {
    let app = auth.app(&state, &app_id).await?;
    let key = quotation::generate_secret();
    state
        .store
        .set_quotation_secret(&app.id, &key, now_ms())
        .await?;
    Ok(Json(QuotationSecretOut { key }))
}

// ---------------------------------------------------------------- project authentication

async fn is_admin(state: &AppState, token: &str) -> ApiResult<bool> {
    Ok(token_scope(state, token).await? == Some(TokenScope::Admin))
}

/// The project named in the path, if the bearer is its quotation secret or an admin
/// token. A caller that is neither learns nothing: 401 whether the project exists or not.
async fn project(state: &AppState, headers: &HeaderMap, app_id: &str) -> ApiResult<Application> {
    let token = bearer(headers, "missing Authorization: Bearer <quotation secret>")?;
    let app = state.store.get_app(app_id).await?;
    if let Some(app) = &app
        && let Some(secret) = state.store.get_quotation_secret(&app.id).await?
        && skyhook_domain::tokens::secrets_equal(&secret, token)
    {
        return Ok(app.clone());
    }
    if !is_admin(state, token).await? {
        return Err(unauthorized("invalid quotation secret"));
    }
    app.ok_or_else(|| ApiError::not_found("project"))
}

// ---------------------------------------------------------------- quotations

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QuotationIn {
    #[schema(value_type = Option<Object>)]
    customer: Option<Value>,
    #[schema(value_type = Option<Object>)]
    configuration: Option<Value>,
    #[serde(default)]
    files: Vec<FileIn>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FileIn {
    name: String,
    content_type: Option<String>,
    content_base64: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QuotationOut {
    id: String,
    project_url: String,
    message_id: String,
    #[schema(value_type = Object)]
    customer: Value,
    #[schema(value_type = Object)]
    configuration: Value,
    files: Vec<FileOut>,
    created_at: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FileOut {
    id: String,
    name: String,
    content_type: String,
    size: u64,
    /// Where to download it (with the quotation secret).
    url: String,
}

impl QuotationOut {
    fn new(state: &AppState, q: Quotation) -> Self {
        let project_url = quotation::project_url(&state.config.public_url, &q.app_id);
        Self {
            files: q
                .files
                .into_iter()
                .map(|f: QuotationFile| FileOut {
                    url: format!("{project_url}/quotation/files/{}", f.id),
                    id: f.id,
                    name: f.name,
                    content_type: f.content_type,
                    size: f.size,
                })
                .collect(),
            id: q.id,
            project_url,
            message_id: q.message_id,
            customer: q.customer,
            configuration: q.configuration,
            created_at: to_rfc3339(q.created_at),
        }
    }
}

fn too_large(detail: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", detail)
}

fn request_too_large() -> ApiError {
    too_large(format!(
        "the request body exceeds {MAX_REQUEST_BYTES} bytes; files are limited to {} bytes each and {} in all",
        quotation::MAX_FILE_BYTES,
        quotation::MAX_TOTAL_BYTES
    ))
}

impl From<QuotationError> for ApiError {
    fn from(e: QuotationError) -> Self {
        match e {
            QuotationError::Invalid { loc, msg } => Self::Validation(vec![FieldError {
                loc: std::iter::once("body".to_string()).chain(loc).collect(),
                msg,
                kind: "value_error".into(),
            }]),
            QuotationError::TooLarge(detail) => too_large(detail),
        }
    }
}

/// Appends the base64 files of a JSON request to `req`.
fn add_json(req: &mut QuotationRequest, input: QuotationIn) -> ApiResult<()> {
    req.customer = input.customer;
    req.configuration = input.configuration;
    for f in input.files {
        let index = req.files.len();
        req.files.push(Upload {
            content: quotation::decode_base64(index, &f.content_base64)?,
            name: f.name,
            content_type: f.content_type,
        });
    }
    Ok(())
}

fn multipart_error(e: axum::extract::multipart::MultipartError) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        request_too_large()
    } else {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_multipart", e.body_text())
    }
}

/// `multipart/form-data`: a `request` part with the JSON fields (`customer`,
/// `configuration`, and optionally base64 `files`), and one part per file, each with a
/// `filename` and, ideally, a `Content-Type`.
async fn read_multipart(state: &AppState, request: Request) -> ApiResult<QuotationRequest> {
    let mut multipart = Multipart::from_request(request, state)
        .await
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_multipart", e.body_text()))?;
    let mut req = QuotationRequest::default();
    let mut json: Option<QuotationIn> = None;
    if let Err(e) = read_parts(&mut multipart, &mut req, &mut json).await {
        // Read the rest (bounded by the body limit) so that the client, still sending,
        // gets this answer instead of a reset connection.
        while let Ok(Some(mut field)) = multipart.next_field().await {
            while let Ok(Some(_)) = field.chunk().await {}
        }
        return Err(e);
    }
    let json = json.ok_or_else(|| {
        ApiError::field(
            "request",
            "a 'request' part with the JSON fields (customer, configuration) is required",
        )
    })?;
    // Files given in the JSON part come first, then the file parts.
    let uploaded = std::mem::take(&mut req.files);
    add_json(&mut req, json)?;
    req.files.extend(uploaded);
    Ok(req)
}

async fn read_parts(
    multipart: &mut Multipart,
    req: &mut QuotationRequest,
    json: &mut Option<QuotationIn>,
) -> ApiResult<()> {
    let mut total = 0usize;
    while let Some(mut field) = multipart.next_field().await.map_err(multipart_error)? {
        if field.name() == Some("request") && field.file_name().is_none() {
            if json.is_some() {
                return Err(ApiError::field(
                    "request",
                    "only one request part is allowed",
                ));
            }
            let bytes = field.bytes().await.map_err(multipart_error)?;
            *json = Some(parse_json(&bytes)?);
            continue;
        }
        let index = req.files.len();
        let name = field.file_name().map(str::to_string).ok_or_else(|| {
            ApiError::field(
                "files",
                format!(
                    "part {:?} is not a file (no filename); the JSON fields go in the 'request' part",
                    field.name().unwrap_or("")
                ),
            )
        })?;
        let content_type = field.content_type().map(str::to_string);
        let mut content = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
            content.extend_from_slice(&chunk);
            quotation::check_file_size(index, content.len())?;
            quotation::check_total_size(total + content.len())?;
        }
        total += content.len();
        req.files.push(Upload {
            name,
            content_type,
            content,
        });
    }
    Ok(())
}

async fn read_json(request: Request) -> ApiResult<QuotationRequest> {
    let bytes: Bytes = axum::body::to_bytes(request.into_body(), MAX_REQUEST_BYTES)
        .await
        .map_err(|_| request_too_large())?;
    let input: QuotationIn = parse_json(&bytes)?;
    let mut req = QuotationRequest::default();
    add_json(&mut req, input)?;
    Ok(req)
}

/// `POST {projectUrl}/quotations`: stores the quotation, its files and its
/// `quotation.created` message in one transaction; nothing at all on any error.
#[utoipa::path(
    post,
    path = "/projects/{app_id}/quotations",
    operation_id = "project.quotation.create",
    tag = "Quotation",
    request_body(content((QuotationIn = "application/json"), (crate::openapi::QuotationMultipart = "multipart/form-data"))),
    params(("app_id" = String, Path, description = "The application's id or uid"), ("idempotency-key" = Option<String>, Header, description = "Replays the first answer to this key for 24 hours")),
    responses((status = 201, description = "Stored with its files and its quotation.created message", body = QuotationOut), (status = 415, description = "Neither JSON nor multipart", body = crate::openapi::HttpErrorOut), crate::openapi::ErrorResponses),
    security(("QuotationSecret" = []), ("HTTPBearer" = []))
)]
pub async fn create_quotation(
    State(state): State<AppState>,
    Path(app_id): Path<String>,
    request: Request,
) -> ApiResult<(StatusCode, Json<QuotationOut>)> {
    // Authenticate before reading a possibly large body.
    let app = project(&state, request.headers(), &app_id).await?;
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_REQUEST_BYTES) {
        return Err(request_too_large());
    }
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_ascii_lowercase();
    let req = if content_type.starts_with("multipart/form-data") {
        read_multipart(&state, request).await?
    } else if content_type.starts_with("application/json") {
        read_json(request).await?
    } else {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send application/json (files in base64) or multipart/form-data",
        ));
    };
    let project_url = quotation::project_url(&state.config.public_url, &app.id);
    let new = quotation::build(&app.id, &project_url, req, now_ms())?;
    if new.message.payload.len() > state.config.max_payload_bytes {
        return Err(too_large(format!(
            "the quotation.created payload would be {} bytes; the limit is {} (MAX_PAYLOAD_BYTES)",
            new.message.payload.len(),
            state.config.max_payload_bytes
        )));
    }
    let queued = state.store.create_quotation(&new).await?;
    metrics::counter!("skyhook_messages_accepted_total", "source" => "quotation").increment(1);
    if queued > 0 {
        state.wake.notify_one();
    }
    tracing::info!(
        app_id = %app.id,
        quotation_id = %new.quotation.id,
        files = new.quotation.files.len(),
        queued,
        "quotation created"
    );
    Ok((
        StatusCode::CREATED,
        Json(QuotationOut::new(&state, new.quotation)),
    ))
}

#[utoipa::path(
    get,
    path = "/projects/{app_id}/quotations",
    operation_id = "project.quotation.list",
    tag = "Quotation",
    params(("app_id" = String, Path, description = "The application's id or uid"), crate::pagination::ListQuery),
    responses((status = 200, description = "OK", body = ListResponse<QuotationOut>), crate::openapi::ErrorResponses),
    security(("QuotationSecret" = []), ("HTTPBearer" = []))
)]
pub async fn list_quotations(
    State(state): State<AppState>,
    Path(app_id): Path<String>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<ListResponse<QuotationOut>>> {
    let app = project(&state, &headers, &app_id).await?;
    let page = q.page(true)?;
    let rows = state.store.list_quotations(&app.id, &page).await?;
    Ok(Json(respond(
        &page,
        rows,
        |q| q.id.clone(),
        |q| QuotationOut::new(&state, q),
    )))
}

#[utoipa::path(
    get,
    path = "/projects/{app_id}/quotations/{quotation_id}",
    operation_id = "project.quotation.get",
    tag = "Quotation",
    params(("app_id" = String, Path, description = "The application's id or uid"), ("quotation_id" = String, Path, description = "The quotation's id")),
    responses((status = 200, description = "OK", body = QuotationOut), crate::openapi::ErrorResponses),
    security(("QuotationSecret" = []), ("HTTPBearer" = []))
)]
pub async fn get_quotation(
    State(state): State<AppState>,
    Path((app_id, quotation_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Json<QuotationOut>> {
    let app = project(&state, &headers, &app_id).await?;
    let q = state
        .store
        .get_quotation(&app.id, &quotation_id)
        .await?
        .ok_or_else(|| ApiError::not_found("quotation"))?;
    Ok(Json(QuotationOut::new(&state, q)))
}

/// The file's bytes, as an attachment; 404 for a file of another project.
#[utoipa::path(
    get,
    path = "/projects/{app_id}/quotation/files/{file_id}",
    operation_id = "project.quotation.get-file",
    tag = "Quotation",
    params(("app_id" = String, Path, description = "The application's id or uid"), ("file_id" = String, Path, description = "The file's id")),
    responses((status = 200, description = "The file's bytes with its Content-Type", body = Vec<u8>, content_type = "application/octet-stream"), crate::openapi::ErrorResponses),
    security(("QuotationSecret" = []), ("HTTPBearer" = []))
)]
pub async fn get_file(
    State(state): State<AppState>,
    Path((app_id, file_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let app = project(&state, &headers, &app_id).await?;
    let (meta, bytes) = state
        .store
        .get_quotation_file(&app.id, &file_id)
        .await?
        .ok_or_else(|| ApiError::not_found("file"))?;
    let header_value = |s: &str| {
        HeaderValue::from_str(s).map_err(|_| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "stored file metadata is not a valid header",
            )
        })
    };
    let len = bytes.len();
    let mut resp = bytes.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, header_value(&meta.content_type)?);
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    h.insert(
        header::CONTENT_DISPOSITION,
        header_value(&quotation::content_disposition(&meta.name))?,
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    Ok(resp)
}
