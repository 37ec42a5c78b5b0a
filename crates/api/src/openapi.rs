//! The OpenAPI 3.1 document of the API, generated from the handlers (`#[utoipa::path]`)
//! and the DTOs (`ToSchema`, named as in Svix's schemas). `GET /api/v1/openapi.json`
//! serves it; `skyhook openapi` prints it; the repository keeps a copy in `openapi.json`
//! that a test compares with this one, so any API change shows up as a diff.

use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoResponses, Modify, ToSchema};

/// The document.
pub fn document() -> utoipa::openapi::OpenApi {
    crate::routes::openapi_doc()
}

/// The document as pretty-printed JSON with a final newline (the form committed as
/// `openapi.json`).
pub fn json() -> String {
    let mut text = document()
        .to_pretty_json()
        .expect("the OpenAPI document serializes");
    text.push('\n');
    text
}

/// An error: `{"code","detail"}`.
#[derive(Serialize, ToSchema)]
#[schema(title = "HttpError")]
pub struct HttpErrorOut {
    /// Stable machine-readable code, e.g. `not_found`.
    code: String,
    /// Human explanation.
    detail: String,
}

/// One schema violation.
#[derive(Serialize, ToSchema)]
pub struct ValidationError {
    /// Where: `["body", "url"]`, `["query", "limit"]`.
    loc: Vec<String>,
    /// What is wrong.
    msg: String,
    /// `type_error` or `value_error`.
    #[serde(rename = "type")]
    kind: String,
}

/// 422: the fields that break the schema.
#[derive(Serialize, ToSchema)]
#[schema(as = HTTPValidationError)]
pub struct HttpValidationError {
    detail: Vec<ValidationError>,
}

/// The answer to a recover request: a background task, already finished.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecoverOut {
    /// `qtask_…`
    id: String,
    /// `finished`
    status: String,
    /// `endpoint.recover`
    task: String,
    #[schema(format = DateTime)]
    updated_at: String,
}

/// `{}`
#[derive(Serialize, ToSchema)]
pub struct EmptyResponse {}

/// A quotation request as `multipart/form-data`.
#[derive(Serialize, ToSchema)]
pub struct QuotationMultipart {
    /// JSON: `{"customer": {...}, "configuration": {...}}` (optionally with base64 `files`).
    request: String,
    /// One part per file, each with a filename and a Content-Type.
    #[schema(value_type = Vec<String>, format = Binary)]
    files: Vec<Vec<u8>>,
}

/// The errors every route may answer with.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum ErrorResponses {
    /// Malformed JSON or multipart body.
    #[response(status = 400)]
    BadRequest(HttpErrorOut),
    /// Missing or wrong bearer token.
    #[response(status = 401)]
    Unauthorized(HttpErrorOut),
    /// The token may not do this (an application token on an admin route).
    #[response(status = 403)]
    Forbidden(HttpErrorOut),
    /// Unknown object, or one outside the token's application.
    #[response(status = 404)]
    NotFound(HttpErrorOut),
    /// A duplicate uid or eventId.
    #[response(status = 409)]
    Conflict(HttpErrorOut),
    /// Payload over `MAX_PAYLOAD_BYTES` (or the quotation file limits).
    #[response(status = 413)]
    TooLarge(HttpErrorOut),
    /// A field that breaks the schema.
    #[response(status = 422)]
    Validation(HttpValidationError),
}

/// The security schemes: admin or application tokens, and quotation secrets.
pub(crate) struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "HTTPBearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API token (`sk_…`, admin or limited to one application) in the `Authorization` header",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "QuotationSecret",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The project's quotation secret (`qs_…`) in the `Authorization` header",
                    ))
                    .build(),
            ),
        );
    }
}
