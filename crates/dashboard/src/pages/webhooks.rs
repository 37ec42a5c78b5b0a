//! Plugins → Webhooks: enable/disable, URL, signing secret, send a test event.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use skyhook_domain::clock::{Millis, now_ms, to_rfc3339};
use skyhook_domain::ids;
use skyhook_domain::model::{Application, DeliveryStatus, Endpoint, Message, WEBHOOKS_PLUGIN_UID};
use skyhook_domain::quotation::{self, EVENT_TYPE};
use skyhook_domain::signing::{self, SecretSet};
use skyhook_domain::validate;
use skyhook_store::{AttemptFilter, Page, StoreError};

use super::{flash_text, see_other};
use crate::DashboardState;
use crate::error::DashError;
use crate::session::{Post, Session};
use crate::view::{self, Layout, ok, render};

/// Grace period of a rotated-out signing secret (as the API's default).
const SIGNING_GRACE_MS: i64 = 24 * 3600 * 1000;

/// The outcome of the test event, shown under the form.
pub struct TestResult {
    pub msg_id: String,
    pub status: &'static str,
    pub next_retry: Option<String>,
    pub attempt: Option<AttemptView>,
}

/// One attempt as shown.
pub struct AttemptView {
    pub id: String,
    pub time: String,
    pub endpoint: String,
    pub ok: bool,
    /// `HTTP 200`, or `no answer` when the connection failed.
    pub code: String,
    pub duration: String,
    pub manual: bool,
    /// The receiver's answer, or the connection error.
    pub response: String,
    /// When there was no HTTP answer: why.
    pub error: Option<String>,
}

impl AttemptView {
    pub fn new(a: &skyhook_domain::model::Attempt, endpoint: String) -> Self {
        let ok = a.status == DeliveryStatus::Success;
        let no_answer = a.response_status_code == 0;
        Self {
            id: a.id.clone(),
            time: view::time(a.created_at),
            endpoint,
            ok,
            code: if no_answer {
                "no answer".into()
            } else {
                format!("HTTP {}", a.response_status_code)
            },
            duration: format!("{} ms", a.response_duration_ms),
            manual: a.trigger_type == skyhook_domain::model::TriggerType::Manual,
            response: if no_answer {
                String::new()
            } else {
                view::truncate(&a.response, 64 * 1024)
            },
            error: no_answer.then(|| {
                if a.response.is_empty() {
                    "connection failed".to_string()
                } else {
                    a.response.clone()
                }
            }),
        }
    }
}

#[derive(Template)]
#[template(path = "webhooks.html")]
struct WebhooksPage {
    layout: Layout,
    app_id: String,
    configured: bool,
    enabled: bool,
    url: String,
    insecure: bool,
    url_error: Option<String>,
    secret: String,
    endpoint_id: String,
    https_only: bool,
    test: Option<TestResult>,
}

#[derive(Deserialize)]
pub struct PageQuery {
    flash: Option<String>,
    test: Option<String>,
}

async fn plugin(state: &DashboardState, app: &Application) -> Result<Option<Endpoint>, DashError> {
    Ok(state
        .store
        .get_endpoint(&app.id, WEBHOOKS_PLUGIN_UID)
        .await?)
}

fn page_of(
    session: &Session,
    state: &DashboardState,
    app: &Application,
    ep: Option<&Endpoint>,
) -> WebhooksPage {
    WebhooksPage {
        layout: Layout::new(session, format!("{} · Webhooks plugin", app.name))
            .in_project(app, "webhooks"),
        app_id: app.id.clone(),
        configured: ep.is_some(),
        enabled: ep.is_some_and(|e| !e.disabled),
        url: ep.map(|e| e.url.clone()).unwrap_or_default(),
        insecure: ep.is_some_and(|e| e.url.starts_with("http://")),
        url_error: None,
        secret: ep
            .map(|e| e.secrets.current().to_string())
            .unwrap_or_default(),
        endpoint_id: ep.map(|e| e.id.clone()).unwrap_or_default(),
        https_only: state.config.https_only,
        test: None,
    }
}

/// `GET /app/{app_id}/webhooks`, with the outcome of a test event when `?test=msg_…`.
pub async fn page(
    State(state): State<DashboardState>,
    session: Session,
    Path(app_id): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<Response, DashError> {
    let app = session.app(&state, &app_id).await?;
    let ep = plugin(&state, &app).await?;
    let mut page = page_of(&session, &state, &app, ep.as_ref());
    page.layout = page.layout.flash(flash_text(q.flash.as_deref()));
    if let (Some(msg_id), Some(ep)) = (q.test.as_deref(), ep.as_ref()) {
        let now = now_ms();
        let msg = state
            .store
            .get_message(&app.id, msg_id)
            .await?
            .ok_or(DashError::NotFound("message"))?;
        let dest = state
            .store
            .list_destinations(
                &msg.id,
                &Page {
                    limit: 250,
                    ..Default::default()
                },
            )
            .await?
            .into_iter()
            .find(|d| d.endpoint_id == ep.id);
        let filter = AttemptFilter {
            status: None,
            endpoint_id: Some(ep.id.clone()),
        };
        let latest = state
            .store
            .list_attempts_for_message(
                &msg.id,
                &filter,
                &Page {
                    limit: 1,
                    descending: true,
                    ..Default::default()
                },
            )
            .await?;
        let status = dest
            .as_ref()
            .map_or("pending", |d| view::status_label(d.status));
        let next = dest.as_ref().and_then(|d| d.next_attempt);
        page.layout.refresh = soon(dest.as_ref().map(|d| d.status), next, now);
        page.test = Some(TestResult {
            msg_id: msg.id.clone(),
            status,
            next_retry: next
                .filter(|_| status == "pending")
                .map(|t| format!("{} ({})", view::time(t), view::relative(t, now))),
            attempt: latest
                .first()
                .map(|a| AttemptView::new(a, WEBHOOKS_PLUGIN_UID.into())),
        });
    }
    Ok(ok(&page))
}

/// Whether a delivery in this state is worth watching: in flight, or due within a minute.
pub fn soon(status: Option<DeliveryStatus>, next: Option<Millis>, now: Millis) -> bool {
    match status {
        Some(DeliveryStatus::Sending) => true,
        Some(DeliveryStatus::Pending) => next.is_none_or(|t| t <= now + 60_000),
        _ => false,
    }
}

#[derive(Deserialize)]
pub struct PluginForm {
    /// A checkbox: present ("on") when ticked.
    enabled: Option<String>,
    #[serde(default)]
    url: String,
}

/// `POST /app/{app_id}/webhooks`: saves enabled + URL. A bad URL re-renders the form
/// with the message next to the field (422) and changes nothing.
pub async fn save(
    State(state): State<DashboardState>,
    Path(app_id): Path<String>,
    post: Post<PluginForm>,
) -> Result<Response, DashError> {
    let session = &post.session;
    let app = session.app(&state, &app_id).await?;
    let existing = plugin(&state, &app).await?;
    let enabled = post.form.enabled.is_some();
    let url = post.form.url.trim().to_string();
    let refuse = |msg: String| -> Result<Response, DashError> {
        let mut page = page_of(session, &state, &app, existing.as_ref());
        page.enabled = enabled;
        page.url = url.clone();
        page.insecure = url.starts_with("http://");
        page.url_error = Some(msg);
        Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page))
    };
    if url.is_empty() {
        if enabled || existing.is_none() {
            return refuse("Enter the URL the webhooks are sent to.".into());
        }
    } else if let Err(msg) = validate::endpoint_url(&url, state.config.https_only) {
        return refuse(format!("This URL cannot be used: {msg}."));
    }
    let now = now_ms();
    match existing {
        Some(mut ep) => {
            if !url.is_empty() {
                ep.url = url.clone();
            }
            ep.disabled = !enabled;
            // The plugin takes every event type on every channel.
            ep.event_types.clear();
            ep.channels.clear();
            ep.updated_at = now;
            state.store.update_endpoint(&ep).await?;
        }
        None => {
            let ep = Endpoint {
                id: ids::new_id(ids::ENDPOINT, now),
                app_id: app.id.clone(),
                uid: Some(WEBHOOKS_PLUGIN_UID.into()),
                url: url.clone(),
                description: "Webhooks plugin".into(),
                throttle_rate: None,
                disabled: !enabled,
                event_types: Vec::new(),
                channels: Vec::new(),
                metadata: Default::default(),
                headers: Default::default(),
                secrets: SecretSet::generate(),
                failing_since: None,
                created_at: now,
                updated_at: now,
            };
            match state.store.create_endpoint(&ep).await {
                Ok(()) => {}
                // Created meanwhile (another tab or the API): save over it next time.
                Err(StoreError::Conflict(_)) => {
                    return refuse(
                        "The plugin was just configured elsewhere; reload and try again.".into(),
                    );
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(see_other(&format!("/app/{}/webhooks", app.id), "saved").into_response())
}

#[derive(Deserialize)]
pub struct Empty {}

/// `POST /app/{app_id}/webhooks/secret/rotate`: a new signing secret; the old one keeps
/// signing alongside it for 24 hours so receivers can switch over.
pub async fn rotate_secret(
    State(state): State<DashboardState>,
    Path(app_id): Path<String>,
    post: Post<Empty>,
) -> Result<Response, DashError> {
    let app = post.session.app(&state, &app_id).await?;
    let mut ep = plugin(&state, &app)
        .await?
        .ok_or(DashError::NotFound("webhooks plugin"))?;
    let now = now_ms();
    ep.secrets
        .rotate(signing::generate_key(), now, SIGNING_GRACE_MS);
    ep.updated_at = now;
    state.store.update_endpoint(&ep).await?;
    Ok(see_other(&format!("/app/{}/webhooks", app.id), "signing-rotated").into_response())
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TestPayload<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    created_at: String,
    project_url: &'a str,
    /// Receivers can recognise and ignore it.
    test: bool,
    quotation: Value,
    files: Vec<Value>,
}

/// The body of a test event: shaped like `quotation.created` (CONTRACT §4) with
/// `"test": true`, an example customer and no files.
pub fn test_payload(project_url: &str, now: Millis) -> String {
    let payload = TestPayload {
        kind: EVENT_TYPE,
        created_at: to_rfc3339(now),
        project_url,
        test: true,
        quotation: json!({
            "id": ids::new_id(ids::QUOTATION, now),
            "customer": {"name": "Test Customer", "email": "test@example.com"},
            "configuration": {"note": "Test event sent from the Skyhook dashboard"},
        }),
        files: Vec::new(),
    };
    serde_json::to_string(&payload).expect("serializable")
}

/// `POST /app/{app_id}/webhooks/test`: commits a `quotation.created`-shaped test
/// message (it goes to every endpoint of the project that takes `quotation.created`,
/// normally just the plugin), wakes the workers, and shows the outcome.
pub async fn send_test(
    State(state): State<DashboardState>,
    Path(app_id): Path<String>,
    post: Post<Empty>,
) -> Result<Response, DashError> {
    let session = &post.session;
    let app = session.app(&state, &app_id).await?;
    let ep = plugin(&state, &app).await?;
    if ep.as_ref().is_none_or(|e| e.disabled) {
        let mut page = page_of(session, &state, &app, ep.as_ref());
        page.url_error = Some("Enable the plugin with a URL before sending a test event.".into());
        return Ok(render(StatusCode::CONFLICT, &page));
    }
    let now = now_ms();
    let project_url = quotation::project_url(&state.config.public_url, &app.id);
    let msg = Message {
        id: ids::new_id(ids::MESSAGE, now),
        app_id: app.id.clone(),
        event_id: None,
        event_type: EVENT_TYPE.into(),
        payload: test_payload(&project_url, now),
        channels: Vec::new(),
        tags: vec!["test".into()],
        created_at: now,
    };
    let queued = state.store.create_message(&msg).await?;
    if queued > 0 {
        state.wake.notify_one();
    }
    tracing::info!(app_id = %app.id, msg_id = %msg.id, queued, "dashboard test event");
    Ok(see_other(
        &format!("/app/{}/webhooks?test={}", app.id, msg.id),
        "test-sent",
    )
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_payload_is_shaped_like_quotation_created() {
        let p: Value = serde_json::from_str(&test_payload("http://h/projects/app_1", 0)).unwrap();
        assert_eq!(p["type"], "quotation.created");
        assert_eq!(p["createdAt"], "1970-01-01T00:00:00.000Z");
        assert_eq!(p["projectUrl"], "http://h/projects/app_1");
        assert_eq!(p["test"], true);
        assert!(p["quotation"]["id"].as_str().unwrap().starts_with("quo_"));
        assert!(p["quotation"]["customer"].is_object());
        assert_eq!(p["files"], json!([]));
    }

    #[test]
    fn watch_only_what_happens_soon() {
        assert!(soon(Some(DeliveryStatus::Sending), None, 0));
        assert!(soon(Some(DeliveryStatus::Pending), Some(30_000), 0));
        assert!(!soon(Some(DeliveryStatus::Pending), Some(3_600_000), 0));
        assert!(!soon(Some(DeliveryStatus::Success), None, 0));
        assert!(!soon(None, None, 0));
    }
}
