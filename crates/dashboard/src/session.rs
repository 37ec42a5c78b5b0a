//! Sessions without server state, and CSRF protection.
//!
//! The cookie holds the token the person logged in with; each request hashes it and
//! looks it up like an API bearer token, so a session ends as soon as its token is
//! revoked and every node can serve it. The CSRF token of a session is derived from
//! its token, so it needs no storage either: a cross-site page cannot read it, and a
//! POST without it is refused before anything changes.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use serde::de::DeserializeOwned;
use skyhook_domain::model::Application;
use skyhook_domain::tokens::{hash_token, secrets_equal, sha256_hex};
use skyhook_store::TokenScope;

use crate::DashboardState;
use crate::error::DashError;

/// Name of the session cookie.
pub const COOKIE: &str = "skyhook_session";

/// Largest form body accepted.
const MAX_FORM_BYTES: usize = 256 * 1024;

/// The CSRF token of the session of `token`: hex SHA-256 of `"csrf:" + token`.
pub fn csrf_token(token: &str) -> String {
    sha256_hex(&format!("csrf:{token}"))
}

/// Whether `given` is the CSRF token of the session of `token` (constant time).
pub fn csrf_ok(token: &str, given: &str) -> bool {
    let expected = csrf_token(token);
    secrets_equal(&expected, given)
}

/// The `Set-Cookie` value that starts a session for `token`.
pub fn session_cookie(token: &str, secure: bool) -> String {
    let value: String = url::form_urlencoded::byte_serialize(token.as_bytes()).collect();
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE}={value}; HttpOnly; SameSite=Strict; Path=/{secure}")
}

/// The `Set-Cookie` value that ends the session.
pub fn clear_cookie(secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE}=; Max-Age=0; HttpOnly; SameSite=Strict; Path=/{secure}")
}

/// The session token in the `Cookie` headers, if any.
pub fn token_from_cookies(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| {
            url::form_urlencoded::parse(format!("t={value}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        })
        .filter(|t| !t.is_empty())
}

/// Whether the browser says this request comes from another site (Fetch Metadata, or
/// an `Origin` that is neither this `Host` nor `public_url`'s): refused for every POST,
/// login included, on top of the SameSite cookie and the CSRF field.
pub fn cross_site(headers: &HeaderMap, public_url: &str) -> bool {
    let fetch_site = headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if fetch_site == "cross-site" || fetch_site == "same-site" {
        return true;
    }
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        // Not a browser form (or a very old browser): the CSRF field still applies.
        return false;
    };
    let Ok(origin) = url::Url::parse(origin) else {
        return true; // "null" (sandboxed or privacy-sensitive contexts) or garbage
    };
    let authority = |u: &url::Url| {
        u.host_str().map(|h| match u.port() {
            Some(p) => format!("{h}:{p}"),
            None => h.to_string(),
        })
    };
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let same_host = authority(&origin).is_some_and(|a| Some(a.as_str()) == host);
    let same_public = url::Url::parse(public_url).is_ok_and(|p| p.origin() == origin.origin());
    !(same_host || same_public)
}

/// The scope of `token`, if it is a valid token (the admin token of the settings or a
/// stored one).
pub async fn scope_of(
    state: &DashboardState,
    token: &str,
) -> Result<Option<TokenScope>, DashError> {
    let hash = hash_token(token);
    if let Some(admin) = &state.admin_hash
        && secrets_equal(admin, &hash)
    {
        return Ok(Some(TokenScope::Admin));
    }
    Ok(state.store.find_token(&hash).await?)
}

/// A logged-in person.
#[derive(Debug, Clone)]
pub struct Session {
    token: String,
    /// What the token may see.
    pub scope: TokenScope,
}

impl Session {
    /// This session's CSRF token, for the hidden field of every form.
    pub fn csrf(&self) -> String {
        csrf_token(&self.token)
    }

    /// Whether this session sees every project.
    pub fn is_admin(&self) -> bool {
        self.scope == TokenScope::Admin
    }

    /// Whether this session may see application `app_id`.
    pub fn may_see(&self, app_id: &str) -> bool {
        match &self.scope {
            TokenScope::Admin => true,
            TokenScope::App(id) => id == app_id,
        }
    }

    /// The project `id_or_uid` if it exists and this session may see it; otherwise a
    /// 404, so an application token learns nothing about other projects.
    pub async fn app(
        &self,
        state: &DashboardState,
        id_or_uid: &str,
    ) -> Result<Application, DashError> {
        match state.store.get_app(id_or_uid).await? {
            Some(app) if self.may_see(&app.id) => Ok(app),
            _ => Err(DashError::NotFound("project")),
        }
    }
}

impl FromRequestParts<DashboardState> for Session {
    type Rejection = DashError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &DashboardState,
    ) -> Result<Self, DashError> {
        let not_logged_in = || {
            if parts.method == Method::GET || parts.method == Method::HEAD {
                DashError::LoginRequired
            } else {
                DashError::Forbidden("you are not logged in (or your token was revoked)")
            }
        };
        let Some(token) = token_from_cookies(&parts.headers) else {
            return Err(not_logged_in());
        };
        match scope_of(state, &token).await? {
            Some(scope) => Ok(Self { token, scope }),
            None => Err(not_logged_in()),
        }
    }
}

/// A POSTed form of a logged-in session whose CSRF field is right: the only way a
/// handler that changes anything gets its input.
pub struct Post<T> {
    /// Who posted.
    pub session: Session,
    /// The form's fields.
    pub form: T,
}

impl<T: DeserializeOwned> FromRequest<DashboardState> for Post<T> {
    type Rejection = DashError;

    async fn from_request(req: Request, state: &DashboardState) -> Result<Self, DashError> {
        let (mut parts, body) = req.into_parts();
        let session = Session::from_request_parts(&mut parts, state).await?;
        if cross_site(&parts.headers, &state.config.public_url) {
            return Err(DashError::Forbidden(
                "cross-site form submissions are refused",
            ));
        }
        let bytes: Bytes = axum::body::to_bytes(body, MAX_FORM_BYTES)
            .await
            .map_err(|_| DashError::BadRequest("the form is too large".into()))?;
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes)
            .map_err(|_| DashError::Forbidden("missing or invalid CSRF token"))?;
        let given = pairs
            .iter()
            .find(|(k, _)| k == "csrf")
            .map(|(_, v)| v.as_str())
            .unwrap_or("");
        if !csrf_ok(&session.token, given) {
            return Err(DashError::Forbidden("missing or invalid CSRF token"));
        }
        let form = serde_urlencoded::from_bytes(&bytes)
            .map_err(|e| DashError::BadRequest(format!("invalid form: {e}")))?;
        Ok(Self { session, form })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn csrf_tokens_are_bound_to_the_session_token() {
        let t = csrf_token("sk_abc");
        assert_eq!(t.len(), 64);
        assert_eq!(t, sha256_hex("csrf:sk_abc"));
        assert!(csrf_ok("sk_abc", &t));
        assert!(!csrf_ok("sk_other", &t));
        assert!(!csrf_ok("sk_abc", ""));
        assert!(!csrf_ok("sk_abc", &t[..63]));
        assert!(!csrf_ok("sk_abc", &t.to_uppercase()));
        // The token itself is not its CSRF token.
        assert!(!csrf_ok("sk_abc", "sk_abc"));
    }

    #[test]
    fn cookies_are_http_only_strict_and_secure_over_https() {
        let c = session_cookie("sk_a b;c", false);
        assert!(c.starts_with("skyhook_session=sk_a+b%3Bc;"), "{c}");
        assert!(
            c.contains("; HttpOnly") && c.contains("; SameSite=Strict") && c.contains("; Path=/")
        );
        assert!(!c.contains("Secure"));
        assert!(session_cookie("x", true).ends_with("; Secure"));
        assert!(clear_cookie(false).contains("Max-Age=0"));

        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("other=1; skyhook_session=sk_a+b%3Bc; x=2"),
        );
        assert_eq!(token_from_cookies(&h).as_deref(), Some("sk_a b;c"));
        h.insert(header::COOKIE, HeaderValue::from_static("skyhook_session="));
        assert_eq!(token_from_cookies(&h), None);
    }

    #[test]
    fn cross_site_posts_are_recognised() {
        let public = "https://hooks.example.com";
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8071"));
        assert!(!cross_site(&h, public), "no Origin: a non-browser client");
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:8071"),
        );
        assert!(!cross_site(&h, public));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://hooks.example.com"),
        );
        assert!(!cross_site(&h, public), "behind a proxy that rewrites Host");
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://evil.example"),
        );
        assert!(cross_site(&h, public));
        h.insert(header::ORIGIN, HeaderValue::from_static("null"));
        assert!(cross_site(&h, public));
        h.remove(header::ORIGIN);
        h.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(cross_site(&h, public));
        h.insert("sec-fetch-site", HeaderValue::from_static("same-origin"));
        assert!(!cross_site(&h, public));
    }
}
