//! Quotations and their files; downloads go through the session (the public file route
//! wants the quotation secret as bearer, which a browser link cannot send).

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;
use skyhook_domain::quotation;

use super::PAGE_SIZE;
use super::projects::{older_cursor, probe_page};
use crate::DashboardState;
use crate::error::DashError;
use crate::session::Session;
use crate::view::{self, Layout, ok};

struct Row {
    id: String,
    time: String,
    customer: String,
    files: usize,
}

#[derive(Template)]
#[template(path = "quotations.html")]
struct ListPage {
    layout: Layout,
    app_id: String,
    rows: Vec<Row>,
    older: Option<String>,
    paged: bool,
}

#[derive(Deserialize)]
pub struct ListQuery {
    after: Option<String>,
}

/// A customer in one line: name and e-mail when the form sent them.
fn customer_line(c: &Value) -> String {
    let field = |k: &str| {
        c.get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .trim()
            .to_string()
    };
    let parts: Vec<String> = [field("name"), field("company"), field("email")]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect();
    if parts.is_empty() {
        view::truncate(&c.to_string(), 80)
    } else {
        parts.join(" · ")
    }
}

/// `GET /app/{app_id}/quotations`: newest first.
pub async fn list(
    State(state): State<DashboardState>,
    session: Session,
    Path(app_id): Path<String>,
    Query(q): Query<ListQuery>,
) -> Result<Response, DashError> {
    let app = session.app(&state, &app_id).await?;
    let paged = q.after.as_deref().is_some_and(|a| !a.is_empty());
    let mut rows = state
        .store
        .list_quotations(&app.id, &probe_page(q.after))
        .await?;
    let older = older_cursor(&mut rows, PAGE_SIZE, |r| r.id.clone());
    Ok(ok(&ListPage {
        layout: Layout::new(&session, format!("{} · Quotations", app.name))
            .in_project(&app, "quotations"),
        app_id: app.id.clone(),
        rows: rows
            .into_iter()
            .map(|r| Row {
                time: view::time(r.created_at),
                customer: customer_line(&r.customer),
                files: r.files.len(),
                id: r.id,
            })
            .collect(),
        older,
        paged,
    }))
}

struct FileRow {
    id: String,
    name: String,
    content_type: String,
    size: String,
}

#[derive(Template)]
#[template(path = "quotation.html")]
struct DetailPage {
    layout: Layout,
    app_id: String,
    id: String,
    time: String,
    message_id: String,
    customer: String,
    configuration: String,
    files: Vec<FileRow>,
}

/// `GET /app/{app_id}/quotations/{quotation_id}`.
pub async fn detail(
    State(state): State<DashboardState>,
    session: Session,
    Path((app_id, quotation_id)): Path<(String, String)>,
) -> Result<Response, DashError> {
    let app = session.app(&state, &app_id).await?;
    let q = state
        .store
        .get_quotation(&app.id, &quotation_id)
        .await?
        .ok_or(DashError::NotFound("quotation"))?;
    let pretty = |v: &Value| serde_json::to_string_pretty(v).unwrap_or_default();
    Ok(ok(&DetailPage {
        layout: Layout::new(&session, format!("{} · {}", app.name, q.id))
            .in_project(&app, "quotations"),
        app_id: app.id.clone(),
        time: view::time(q.created_at),
        customer: pretty(&q.customer),
        configuration: pretty(&q.configuration),
        files: q
            .files
            .into_iter()
            .map(|f| FileRow {
                size: view::size(f.size),
                id: f.id,
                name: f.name,
                content_type: f.content_type,
            })
            .collect(),
        message_id: q.message_id,
        id: q.id,
    }))
}

/// `GET /app/{app_id}/files/{file_id}`: the file's bytes as an attachment, sandboxed so
/// an uploaded HTML file can never run in the dashboard's origin.
pub async fn download(
    State(state): State<DashboardState>,
    session: Session,
    Path((app_id, file_id)): Path<(String, String)>,
) -> Result<Response, DashError> {
    let app = session.app(&state, &app_id).await?;
    let (meta, bytes) = state
        .store
        .get_quotation_file(&app.id, &file_id)
        .await?
        .ok_or(DashError::NotFound("file"))?;
    let len = bytes.len();
    let mut resp = bytes.into_response();
    let h = resp.headers_mut();
    let content_type = HeaderValue::from_str(&meta.content_type)
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    h.insert(header::CONTENT_TYPE, content_type);
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    if let Ok(v) = HeaderValue::from_str(&quotation::content_disposition(&meta.name)) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox"),
    );
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn customers_in_one_line() {
        assert_eq!(
            customer_line(&json!({"name": "Ada", "email": "ada@example.com", "x": 1})),
            "Ada · ada@example.com"
        );
        assert_eq!(customer_line(&json!({"x": 1})), r#"{"x":1}"#);
    }
}
