//! Request extractors: bearer authentication and strict JSON bodies.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use serde::de::DeserializeOwned;
use skyhook_domain::model::Application;
use skyhook_store::TokenScope;

use crate::AppState;
use crate::error::{ApiError, FieldError};

pub use skyhook_domain::tokens::hash_token;
use skyhook_domain::tokens::secrets_equal;

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct Auth(pub TokenScope);

pub(crate) fn unauthorized(detail: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "authentication_failed", detail)
}

/// The token of an `Authorization: Bearer …` header; `missing` is the error's detail when
/// there is no such header.
pub(crate) fn bearer<'a>(headers: &'a HeaderMap, missing: &str) -> Result<&'a str, ApiError> {
    let header = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| unauthorized(missing))?;
    header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| unauthorized("the Authorization header must be 'Bearer <token>'"))
}

/// What `token` may do: the admin token of the settings, or a stored token (cached,
/// since stored tokens never change); `None` for an unknown one.
pub(crate) async fn token_scope(
    state: &AppState,
    token: &str,
) -> Result<Option<TokenScope>, ApiError> {
    let hash = hash_token(token);
    if let Some(admin) = &state.admin_hash
        && secrets_equal(admin, &hash)
    {
        return Ok(Some(TokenScope::Admin));
    }
    if let Some(scope) = state.tokens.get(&hash) {
        return Ok(Some(scope));
    }
    let found = state.store.find_token(&hash).await?;
    if let Some(scope) = &found {
        state.tokens.put(&hash, scope);
    }
    Ok(found)
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer(&parts.headers, "missing Authorization: Bearer <token>")?;
        match token_scope(state, token).await? {
            Some(scope) => Ok(Self(scope)),
            None => Err(unauthorized("invalid token")),
        }
    }
}

impl Auth {
    /// Whether the caller may see application `app_id`.
    pub fn may_see(&self, app_id: &str) -> bool {
        match &self.0 {
            TokenScope::Admin => true,
            TokenScope::App(id) => id == app_id,
        }
    }

    /// Refuses application tokens.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        match self.0 {
            TokenScope::Admin => Ok(()),
            TokenScope::App(_) => Err(ApiError::forbidden("this needs an admin token")),
        }
    }

    /// The application `id_or_uid` if it exists and the caller may see it; 404 otherwise,
    /// so an application token learns nothing about other applications.
    pub async fn app(&self, state: &AppState, id_or_uid: &str) -> Result<Application, ApiError> {
        match state.store.get_app(id_or_uid).await? {
            Some(app) if self.may_see(&app.id) => Ok(app),
            _ => Err(ApiError::not_found("application")),
        }
    }

    /// [`Auth::app`] through the one-second application cache: for paths that only
    /// need the application's identity, never for read-modify-write.
    pub async fn app_cached(
        &self,
        state: &AppState,
        id_or_uid: &str,
    ) -> Result<Application, ApiError> {
        let app = match state.apps.get(id_or_uid) {
            Some(app) => app,
            None => {
                let app = self.app(state, id_or_uid).await?;
                state.apps.put(id_or_uid, &app);
                return Ok(app);
            }
        };
        if self.may_see(&app.id) {
            Ok(app)
        } else {
            Err(ApiError::not_found("application"))
        }
    }
}

/// Query parameters; a bad value is a 422 naming the query, never a plain-text rejection.
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::try_from_uri(&parts.uri)
            .map(|q| Self(q.0))
            .map_err(|e| {
                ApiError::Validation(vec![FieldError {
                    loc: vec!["query".into()],
                    msg: e.body_text(),
                    kind: "value_error".into(),
                }])
            })
    }
}

/// A JSON body parsed strictly: 400 for malformed JSON, 422 naming the field for a
/// schema violation, 413 beyond the size limit.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        // The payload limit applies to the payload; the envelope gets some room.
        let limit = state.config.max_payload_bytes + 64 * 1024;
        let bytes = axum::body::to_bytes(req.into_body(), limit)
            .await
            .map_err(|_| {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    format!("the request body exceeds {limit} bytes"),
                )
            })?;
        parse_json(&bytes).map(Body)
    }
}

/// Parses `bytes` as `T` with the error rules of [`Body`].
pub fn parse_json<T: DeserializeOwned>(bytes: &Bytes) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let inner = e.inner();
        if inner.is_syntax() || inner.is_eof() {
            return ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_json",
                format!("malformed JSON: {inner}"),
            );
        }
        let mut loc = vec!["body".to_string()];
        loc.extend(
            e.path()
                .to_string()
                .split('.')
                .filter(|s| !s.is_empty() && *s != "?")
                .map(str::to_string),
        );
        ApiError::Validation(vec![FieldError {
            loc,
            msg: inner.to_string(),
            kind: "type_error".into(),
        }])
    })
}
