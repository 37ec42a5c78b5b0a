//! The event log, a message with every attempt, and resend.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use skyhook_domain::clock::{Millis, now_ms};
use skyhook_domain::model::{Application, Destination, Endpoint};
use skyhook_store::{AttemptFilter, MessageFilter, Page};

use super::webhooks::{AttemptView, soon};
use super::{PAGE_SIZE, flash_text, see_other};
use crate::DashboardState;
use crate::error::DashError;
use crate::session::{Post, Session};
use crate::view::{self, Layout, ok};

/// Messages read per store call while filtering by status.
const SCAN_BATCH: u32 = 50;
/// Most messages looked at for one page of a status-filtered log.
const SCAN_LIMIT: usize = 1000;

/// One message's state at one endpoint.
pub struct DestView {
    pub endpoint_id: String,
    pub endpoint: String,
    pub url: String,
    pub insecure: bool,
    /// `success`, `pending`, `failed`.
    pub status: &'static str,
    pub next_retry: Option<String>,
}

fn dest_view(d: &Destination, eps: &HashMap<String, Endpoint>, now: Millis) -> DestView {
    let ep = eps.get(&d.endpoint_id);
    let status = view::status_label(d.status);
    DestView {
        endpoint_id: d.endpoint_id.clone(),
        endpoint: ep
            .and_then(|e| e.uid.clone())
            .unwrap_or_else(|| d.endpoint_id.clone()),
        url: ep.map(|e| e.url.clone()).unwrap_or_default(),
        insecure: ep.is_some_and(|e| e.url.starts_with("http://")),
        status,
        next_retry: d
            .next_attempt
            .filter(|_| status == "pending")
            .map(|t| format!("{} ({})", view::time(t), view::relative(t, now))),
    }
}

async fn endpoints_of(
    state: &DashboardState,
    app: &Application,
) -> Result<HashMap<String, Endpoint>, DashError> {
    let page = Page {
        limit: 250,
        ..Default::default()
    };
    Ok(state
        .store
        .list_endpoints(&app.id, &page)
        .await?
        .into_iter()
        .map(|e| (e.id.clone(), e))
        .collect())
}

async fn destinations(state: &DashboardState, msg_id: &str) -> Result<Vec<Destination>, DashError> {
    let page = Page {
        limit: 250,
        ..Default::default()
    };
    Ok(state.store.list_destinations(msg_id, &page).await?)
}

struct Row {
    id: String,
    event_type: String,
    time: String,
    dests: Vec<DestView>,
}

#[derive(Template)]
#[template(path = "events.html")]
struct LogPage {
    layout: Layout,
    app_id: String,
    rows: Vec<Row>,
    status: String,
    event_type: String,
    event_types: Vec<String>,
    /// Query string of the next (older) page, if any.
    older: Option<String>,
    /// Whether this is not the first page.
    paged: bool,
    scanned_out: bool,
}

#[derive(Deserialize)]
pub struct LogQuery {
    #[serde(default)]
    status: String,
    #[serde(default)]
    event_type: String,
    after: Option<String>,
}

/// `GET /app/{app_id}/events`: messages newest first with their status per endpoint,
/// filtered by status (`success`, `pending`, `failed`: a message matches when any of
/// its endpoints is in that state) and event type, `PAGE_SIZE` per page.
pub async fn log(
    State(state): State<DashboardState>,
    session: Session,
    Path(app_id): Path<String>,
    Query(q): Query<LogQuery>,
) -> Result<Response, DashError> {
    let app = session.app(&state, &app_id).await?;
    let now = now_ms();
    let eps = endpoints_of(&state, &app).await?;
    let status = match q.status.as_str() {
        s @ ("success" | "pending" | "failed") => s.to_string(),
        _ => String::new(),
    };
    let event_type = q.event_type.trim().to_string();
    let filter = MessageFilter {
        event_types: if event_type.is_empty() {
            Vec::new()
        } else {
            vec![event_type.clone()]
        },
        ..Default::default()
    };
    let mut rows = Vec::new();
    let mut cursor = q.after.clone().filter(|s| !s.is_empty());
    let mut scanned = 0usize;
    let mut more = false;
    'scan: loop {
        let batch_size = if status.is_empty() {
            PAGE_SIZE + 1
        } else {
            SCAN_BATCH
        };
        let page = Page {
            limit: batch_size,
            after: cursor.clone(),
            before: None,
            descending: true,
        };
        let batch = state.store.list_messages(&app.id, &filter, &page).await?;
        let exhausted = batch.len() < batch_size as usize;
        for m in batch {
            if rows.len() == PAGE_SIZE as usize {
                more = true;
                break 'scan;
            }
            scanned += 1;
            cursor = Some(m.id.clone());
            let dests = destinations(&state, &m.id).await?;
            let dests: Vec<DestView> = dests.iter().map(|d| dest_view(d, &eps, now)).collect();
            if !status.is_empty() && !dests.iter().any(|d| d.status == status) {
                continue;
            }
            rows.push(Row {
                id: m.id,
                event_type: m.event_type,
                time: view::time(m.created_at),
                dests,
            });
        }
        if exhausted {
            break;
        }
        if scanned >= SCAN_LIMIT {
            more = true;
            break;
        }
    }
    // The cursor is the last message looked at, so the next page goes on from there.
    let older = more.then(|| {
        let mut qs = url::form_urlencoded::Serializer::new(String::new());
        if !status.is_empty() {
            qs.append_pair("status", &status);
        }
        if !event_type.is_empty() {
            qs.append_pair("event_type", &event_type);
        }
        if let Some(c) = &cursor {
            qs.append_pair("after", c);
        }
        qs.finish()
    });
    let event_types = state
        .store
        .list_event_types(
            &Page {
                limit: 250,
                ..Default::default()
            },
            false,
        )
        .await?
        .into_iter()
        .map(|t| t.name)
        .collect();
    Ok(ok(&LogPage {
        layout: Layout::new(&session, format!("{} · Event log", app.name))
            .in_project(&app, "events"),
        app_id: app.id.clone(),
        scanned_out: more && rows.len() < PAGE_SIZE as usize,
        rows,
        status,
        event_type,
        event_types,
        older,
        paged: q.after.is_some_and(|a| !a.is_empty()),
    }))
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage {
    layout: Layout,
    app_id: String,
    id: String,
    event_type: String,
    event_id: String,
    time: String,
    payload: String,
    dests: Vec<DestView>,
    attempts: Vec<AttemptView>,
}

#[derive(Deserialize)]
pub struct FlashQuery {
    flash: Option<String>,
}

/// `GET /app/{app_id}/events/{msg_id}`: the payload, the status at each endpoint with
/// a Resend button, and every attempt (newest first) with the receiver's answer.
pub async fn message(
    State(state): State<DashboardState>,
    session: Session,
    Path((app_id, msg_id)): Path<(String, String)>,
    Query(q): Query<FlashQuery>,
) -> Result<Response, DashError> {
    let app = session.app(&state, &app_id).await?;
    let msg = state
        .store
        .get_message(&app.id, &msg_id)
        .await?
        .ok_or(DashError::NotFound("message"))?;
    let now = now_ms();
    let eps = endpoints_of(&state, &app).await?;
    let raw = destinations(&state, &msg.id).await?;
    let refresh = raw
        .iter()
        .any(|d| soon(Some(d.status), d.next_attempt, now));
    let dests = raw.iter().map(|d| dest_view(d, &eps, now)).collect();
    let attempts = state
        .store
        .list_attempts_for_message(
            &msg.id,
            &AttemptFilter::default(),
            &Page {
                limit: 250,
                descending: true,
                ..Default::default()
            },
        )
        .await?
        .iter()
        .map(|a| {
            let name = eps
                .get(&a.endpoint_id)
                .and_then(|e| e.uid.clone())
                .unwrap_or_else(|| a.endpoint_id.clone());
            AttemptView::new(a, name)
        })
        .collect();
    let mut layout = Layout::new(&session, format!("{} · {}", app.name, msg.id))
        .in_project(&app, "events")
        .flash(flash_text(q.flash.as_deref()));
    layout.refresh = refresh;
    Ok(ok(&MessagePage {
        layout,
        app_id: app.id.clone(),
        id: msg.id.clone(),
        event_type: msg.event_type.clone(),
        event_id: msg.event_id.clone().unwrap_or_default(),
        time: view::time(msg.created_at),
        payload: view::pretty_json(&msg.payload),
        dests,
        attempts,
    }))
}

#[derive(Deserialize)]
pub struct ResendForm {
    endpoint_id: String,
}

/// `POST /app/{app_id}/events/{msg_id}/resend`: one manual attempt to that endpoint, now.
pub async fn resend(
    State(state): State<DashboardState>,
    Path((app_id, msg_id)): Path<(String, String)>,
    post: Post<ResendForm>,
) -> Result<Response, DashError> {
    let app = post.session.app(&state, &app_id).await?;
    let msg = state
        .store
        .get_message(&app.id, &msg_id)
        .await?
        .ok_or(DashError::NotFound("message"))?;
    let ep = state
        .store
        .get_endpoint(&app.id, &post.form.endpoint_id)
        .await?
        .ok_or(DashError::NotFound("endpoint"))?;
    state.store.resend(&msg.id, &ep.id, now_ms()).await?;
    state.wake.notify_one();
    Ok(see_other(&format!("/app/{}/events/{}", app.id, msg.id), "resent").into_response())
}
