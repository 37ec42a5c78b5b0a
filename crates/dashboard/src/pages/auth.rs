//! Login and logout.

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::DashboardState;
use crate::error::DashError;
use crate::session::{self, Post, clear_cookie, cross_site, session_cookie};
use crate::view::{Layout, ok, render};

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    layout: Layout,
    error: Option<String>,
}

/// `GET /login`: the form (or the projects when a session is open).
pub async fn form(State(state): State<DashboardState>, headers: HeaderMap) -> Response {
    if let Some(token) = session::token_from_cookies(&headers)
        && let Ok(Some(_)) = session::scope_of(&state, &token).await
    {
        return Redirect::to("/").into_response();
    }
    ok(&LoginPage {
        layout: Layout::anonymous("Log in"),
        error: None,
    })
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    token: String,
}

/// `POST /login`: a valid token (admin or application) opens a session.
pub async fn login(
    State(state): State<DashboardState>,
    headers: HeaderMap,
    Form(input): Form<LoginForm>,
) -> Result<Response, DashError> {
    if cross_site(&headers, &state.config.public_url) {
        return Err(DashError::Forbidden(
            "cross-site form submissions are refused",
        ));
    }
    let token = input.token.trim();
    if token.is_empty() || session::scope_of(&state, token).await?.is_none() {
        return Ok(render(
            StatusCode::UNAUTHORIZED,
            &LoginPage {
                layout: Layout::anonymous("Log in"),
                error: Some("This token is not valid.".into()),
            },
        ));
    }
    let mut resp = Redirect::to("/").into_response();
    let cookie = session_cookie(token, state.secure_cookies());
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(resp)
}

#[derive(Deserialize)]
pub struct Empty {}

/// `POST /logout`: clears the cookie.
pub async fn logout(State(state): State<DashboardState>, _post: Post<Empty>) -> Response {
    let mut resp = Redirect::to("/login").into_response();
    if let Ok(v) = HeaderValue::from_str(&clear_cookie(state.secure_cookies())) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}
