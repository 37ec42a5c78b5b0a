//! `GET /api/v1/app/{app_id}/listen`: deliveries streamed to `skyhook listen` (SSE).
//!
//! The route registers a session in this process's listen hub and creates a temporary
//! endpoint whose URL is `skyhook-listen://<session>` (a fresh signing secret, every
//! event type unless `eventTypes` narrows it). The delivery worker hands each delivery
//! of that endpoint, signed exactly as it would be POSTed, to the session; the stream
//! sends it as an SSE event `webhook` with `{"msgId","headers","body"}`, and the
//! attempt succeeds once the stream has taken it. The first event, `ready`, carries
//! `{"endpointId","secret","session"}`. When the connection closes the endpoint is deleted.
//!
//! Single node: the worker that delivers must run in the process that serves the
//! stream (see `skyhook_delivery::listen`).

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use serde::Deserialize;
use skyhook_delivery::listen::{SCHEME, Session};
use skyhook_domain::clock::now_ms;
use skyhook_domain::ids;
use skyhook_domain::model::Endpoint;
use skyhook_domain::signing::SecretSet;
use skyhook_store::Store;

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Auth, Query};
use crate::validate;

/// Query of the listen route.
#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListenQuery {
    /// Comma-separated event types to receive; every type when absent.
    #[serde(rename = "eventTypes")]
    event_types: Option<String>,
}

/// Deletes the temporary endpoint when the stream ends (the client went away).
struct Cleanup {
    store: Arc<dyn Store>,
    app_id: String,
    endpoint_id: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let store = self.store.clone();
        let (app_id, endpoint_id) = (self.app_id.clone(), self.endpoint_id.clone());
        tracing::info!(%app_id, %endpoint_id, "listen session closed");
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                if let Err(e) = store.delete_endpoint(&app_id, &endpoint_id).await {
                    tracing::warn!(error = %e, %endpoint_id, "deleting a listen endpoint failed");
                }
            });
        }
    }
}

struct Live {
    ready: Option<Event>,
    session: Session,
    _cleanup: Cleanup,
}

/// Streams this application's deliveries to the caller over Server-Sent Events.
#[utoipa::path(
    get,
    path = "/api/v1/app/{app_id}/listen",
    operation_id = "v1.listen.stream",
    tag = "Listen",
    params(
        ("app_id" = String, Path, description = "The application's id or uid"),
        ListenQuery
    ),
    responses(
        (status = 200, description = "An SSE stream: one `ready` event (`{\"endpointId\",\"secret\",\"session\"}`), then one `webhook` event (`{\"msgId\",\"headers\",\"body\"}`) per delivery", content_type = "text/event-stream"),
        crate::openapi::ErrorResponses
    )
)]
pub async fn listen(
    State(state): State<AppState>,
    auth: Auth,
    Path(app_id): Path<String>,
    Query(q): Query<ListenQuery>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let app = auth.app(&state, &app_id).await?;
    let event_types: Vec<String> = q
        .event_types
        .as_deref()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect();
    for t in &event_types {
        validate::name("eventTypes", t)?;
    }
    let missing = state.store.missing_event_types(&event_types).await?;
    if !missing.is_empty() {
        return Err(ApiError::field(
            "eventTypes",
            format!("unknown event types: {}", missing.join(", ")),
        ));
    }
    let now = now_ms();
    let session_id = ids::random_base62(24).to_lowercase();
    let session = state.listen.register(session_id.clone());
    let endpoint = Endpoint {
        id: ids::new_id(ids::ENDPOINT, now),
        app_id: app.id.clone(),
        uid: None,
        url: format!("{SCHEME}{session_id}"),
        description: "skyhook listen session (temporary)".into(),
        throttle_rate: None,
        disabled: false,
        event_types,
        channels: Vec::new(),
        metadata: Default::default(),
        headers: Default::default(),
        secrets: SecretSet::generate(),
        failing_since: None,
        created_at: now,
        updated_at: now,
    };
    state.store.create_endpoint(&endpoint).await?;
    tracing::info!(app_id = %app.id, endpoint_id = %endpoint.id, session = %session_id, "listen session opened");
    let ready = serde_json::json!({
        "endpointId": endpoint.id,
        "secret": endpoint.secrets.current(),
        "session": session_id,
    });
    let live = Live {
        ready: Some(Event::default().event("ready").data(ready.to_string())),
        session,
        _cleanup: Cleanup {
            store: state.store.clone(),
            app_id: app.id,
            endpoint_id: endpoint.id,
        },
    };
    let stream = futures_util::stream::unfold(live, |mut live| async move {
        if let Some(ready) = live.ready.take() {
            return Some((Ok(ready), live));
        }
        let mut ev = live.session.events.recv().await?;
        let data = serde_json::json!({
            "msgId": ev.msg_id,
            "headers": ev.headers.iter().cloned().collect::<std::collections::BTreeMap<_, _>>(),
            "body": ev.body,
        });
        if let Some(taken) = ev.taken.take() {
            let _ = taken.send(());
        }
        let event = Event::default()
            .event("webhook")
            .id(ev.msg_id.clone())
            .data(data.to_string());
        Some((Ok(event), live))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}
