//! The projects list and a project's overview: `projectUrl`, the quotation secret, and
//! the health of each endpoint.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{Redirect, Response};
use serde::Deserialize;
use skyhook_domain::clock::{Millis, now_ms};
use skyhook_domain::model::{DeliveryStatus, Endpoint, WEBHOOKS_PLUGIN_UID};
use skyhook_domain::quotation;
use skyhook_store::{AttemptFilter, Page, TokenScope};

use super::{PAGE_SIZE, flash_text, newest_first, see_other};
use crate::DashboardState;
use crate::error::DashError;
use crate::health::{self, State as HealthState};
use crate::session::{Post, Session};
use crate::view::{self, Layout, ok};

/// Attempts read per endpoint for its health: enough for a busy day at a glance,
/// bounded so the page stays fast (the chart says when it covers less than 24 h).
const HEALTH_ATTEMPTS: u32 = 500;
/// Pending deliveries read per endpoint to find its next retry.
const NEXT_RETRY_SCAN: u32 = 100;

#[derive(Deserialize)]
pub struct ListQuery {
    after: Option<String>,
    flash: Option<String>,
}

struct ProjectRow {
    id: String,
    name: String,
    uid: String,
    created: String,
}

#[derive(Template)]
#[template(path = "projects.html")]
struct ProjectsPage {
    layout: Layout,
    projects: Vec<ProjectRow>,
    next: Option<String>,
}

/// `GET /`: the projects this session may see.
pub async fn list(
    State(state): State<DashboardState>,
    session: Session,
    Query(q): Query<ListQuery>,
) -> Result<Response, DashError> {
    let only = match &session.scope {
        TokenScope::Admin => None,
        TokenScope::App(id) => Some(id.as_str()),
    };
    let page = Page {
        limit: PAGE_SIZE + 1,
        after: q.after.filter(|s| !s.is_empty()),
        ..Default::default()
    };
    let mut apps = state.store.list_apps(&page, only).await?;
    let next = if apps.len() > PAGE_SIZE as usize {
        apps.truncate(PAGE_SIZE as usize);
        apps.last().map(|a| a.id.clone())
    } else {
        None
    };
    let projects = apps
        .into_iter()
        .map(|a| ProjectRow {
            created: view::time(a.created_at),
            uid: a.uid.unwrap_or_default(),
            id: a.id,
            name: a.name,
        })
        .collect();
    Ok(ok(&ProjectsPage {
        layout: Layout::new(&session, "Projects").flash(flash_text(q.flash.as_deref())),
        projects,
        next,
    }))
}

/// One endpoint's card on the overview.
pub struct EndpointHealth {
    pub id: String,
    pub name: String,
    pub url: String,
    pub insecure: bool,
    pub is_plugin: bool,
    /// `healthy`, `idle`, `failing`, `disabled` (a CSS class too).
    pub state: &'static str,
    pub state_text: String,
    pub rate: String,
    pub latency: String,
    pub attempts: u32,
    pub chart: String,
    pub next_retry: Option<String>,
    pub truncated: bool,
}

/// The health card of `ep`, from its newest attempts and pending deliveries.
pub async fn endpoint_health(
    state: &DashboardState,
    ep: &Endpoint,
    now: Millis,
) -> Result<EndpointHealth, DashError> {
    let page = Page {
        limit: HEALTH_ATTEMPTS,
        descending: true,
        ..Default::default()
    };
    let attempts = state
        .store
        .list_attempts_for_endpoint(&ep.id, &AttemptFilter::default(), &page)
        .await?;
    let full = attempts.len() >= HEALTH_ATTEMPTS as usize;
    let h = health::compute(&attempts, ep.disabled, ep.failing_since, full, now);
    let next_retry = next_retry(state, &ep.id).await?;
    let (state_name, state_text) = match h.state {
        HealthState::Healthy => ("healthy", "Healthy".to_string()),
        HealthState::Idle => ("idle", "No deliveries yet".to_string()),
        HealthState::Failing { since } => (
            "failing",
            format!(
                "Failing since {} ({})",
                view::time(since),
                view::relative(since, now)
            ),
        ),
        HealthState::Disabled => ("disabled", "Disabled".to_string()),
    };
    Ok(EndpointHealth {
        id: ep.id.clone(),
        name: ep.uid.clone().unwrap_or_else(|| ep.id.clone()),
        url: ep.url.clone(),
        insecure: ep.url.starts_with("http://"),
        is_plugin: ep.uid.as_deref() == Some(WEBHOOKS_PLUGIN_UID),
        state: state_name,
        state_text,
        rate: h
            .total
            .rate()
            .map_or("–".into(), |r| format!("{:.1}%", r * 100.0)),
        latency: h
            .total
            .avg_latency_ms()
            .map_or("–".into(), |ms| format!("{ms} ms")),
        attempts: h.total.total,
        chart: health::chart_svg(&h),
        next_retry: next_retry.map(|t| format!("{} ({})", view::time(t), view::relative(t, now))),
        truncated: h.truncated,
    })
}

/// The earliest next attempt among the endpoint's newest pending deliveries.
async fn next_retry(
    state: &DashboardState,
    endpoint_id: &str,
) -> Result<Option<Millis>, DashError> {
    let page = Page {
        limit: NEXT_RETRY_SCAN,
        descending: true,
        ..Default::default()
    };
    let rows = state
        .store
        .list_endpoint_messages(endpoint_id, Some(DeliveryStatus::Pending.code()), &page)
        .await?;
    Ok(rows.iter().filter_map(|(_, d)| d.next_attempt).min())
}

#[derive(Template)]
#[template(path = "project.html")]
struct ProjectPage {
    layout: Layout,
    app_id: String,
    name: String,
    uid: String,
    project_url: String,
    quotation_secret: String,
    endpoints: Vec<EndpointHealth>,
}

#[derive(Deserialize)]
pub struct FlashQuery {
    flash: Option<String>,
}

/// `GET /app/{app_id}`: the project's overview.
pub async fn overview(
    State(state): State<DashboardState>,
    session: Session,
    Path(app_id): Path<String>,
    Query(q): Query<FlashQuery>,
) -> Result<Response, DashError> {
    let app = session.app(&state, &app_id).await?;
    let secret = quotation_secret(&state, &app.id).await?;
    let now = now_ms();
    let eps = state
        .store
        .list_endpoints(
            &app.id,
            &Page {
                limit: 50,
                ..Default::default()
            },
        )
        .await?;
    let mut endpoints = Vec::with_capacity(eps.len());
    for ep in &eps {
        endpoints.push(endpoint_health(&state, ep, now).await?);
    }
    Ok(ok(&ProjectPage {
        layout: Layout::new(&session, app.name.clone())
            .in_project(&app, "overview")
            .flash(flash_text(q.flash.as_deref())),
        project_url: quotation::project_url(&state.config.public_url, &app.id),
        uid: app.uid.clone().unwrap_or_default(),
        app_id: app.id,
        name: app.name,
        quotation_secret: secret,
        endpoints,
    }))
}

/// The project's quotation secret, created on first use (as the API does).
async fn quotation_secret(state: &DashboardState, app_id: &str) -> Result<String, DashError> {
    if let Some(s) = state.store.get_quotation_secret(app_id).await? {
        return Ok(s);
    }
    Ok(state
        .store
        .ensure_quotation_secret(app_id, &quotation::generate_secret(), now_ms())
        .await?)
}

#[derive(Deserialize)]
pub struct Empty {}

/// `POST /app/{app_id}/quotation-secret/rotate`: the old secret stops working at once.
pub async fn rotate_quotation_secret(
    State(state): State<DashboardState>,
    Path(app_id): Path<String>,
    post: Post<Empty>,
) -> Result<Redirect, DashError> {
    let app = post.session.app(&state, &app_id).await?;
    state
        .store
        .set_quotation_secret(&app.id, &quotation::generate_secret(), now_ms())
        .await?;
    Ok(see_other(&format!("/app/{}", app.id), "rotated"))
}

/// Used by the quotations pages for "older" links.
pub fn older_cursor<T>(
    rows: &mut Vec<T>,
    limit: u32,
    key: impl Fn(&T) -> String,
) -> Option<String> {
    if rows.len() > limit as usize {
        rows.truncate(limit as usize);
        rows.last().map(key)
    } else {
        None
    }
}

/// A newest-first page one longer than `PAGE_SIZE` (to know whether there are more).
pub fn probe_page(after: Option<String>) -> Page {
    newest_first(PAGE_SIZE + 1, after)
}
