//! `skyhook serve`: the store, the API and the delivery workers in one process.
//!
//! Shutdown (SIGINT or SIGTERM) cancels one token: the HTTP server stops accepting and
//! finishes running requests, the worker stops claiming and waits, bounded, for
//! attempts in flight; anything unfinished is retried after its lease runs out.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use skyhook_api::{ApiConfig, AppState};
use skyhook_delivery::{Policy, Sender, Worker, WorkerConfig};
use skyhook_domain::ids;
use skyhook_store::{Store, TokenScope};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::settings::Settings;
use crate::store;

/// Creates and stores (hashed) a new token; returns it.
pub async fn create_token(store: &dyn Store, app: Option<&str>) -> anyhow::Result<String> {
    let scope = match app {
        None => TokenScope::Admin,
        Some(id) => {
            let app = store
                .get_app(id)
                .await?
                .with_context(|| format!("no application {id:?}"))?;
            TokenScope::App(app.id)
        }
    };
    let token = format!("sk_{}", ids::random_base62(40));
    store
        .create_token(&skyhook_api::hash_token(&token), &scope)
        .await?;
    Ok(token)
}

pub async fn run(settings: Settings, dev: bool) -> anyhow::Result<()> {
    let store = store::open_configured(&settings).await?;
    let listener = tokio::net::TcpListener::bind(&settings.listen)
        .await
        .with_context(|| format!("cannot listen on {}", settings.listen))?;
    let addr = listener.local_addr()?;
    let public_url = settings
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"));
    let public_url = public_url.trim_end_matches('/').to_string();

    if dev {
        tracing::warn!(
            "--dev: deliveries to loopback addresses are allowed; do not use this in production"
        );
    }
    let first_token = match &settings.admin_token {
        Some(_) => None,
        None if store.has_admin_token().await? => None,
        None => Some(create_token(store.as_ref(), None).await?),
    };

    let wake = Arc::new(Notify::new());
    // `skyhook listen` sessions: served by the API, fed by this process's worker.
    let listen_hub = skyhook_delivery::listen::Hub::default();
    let shutdown = CancellationToken::new();
    let mut worker_task = None;
    if settings.run_worker {
        let policy = Policy {
            allow_nets: settings.allowed_private_destinations.clone(),
            allow_loopback: dev,
        };
        let sender = Sender::new(
            policy,
            settings.delivery_timeout,
            settings.extra_ca_certs.as_deref(),
        )
        .context("building the HTTP client (check EXTRA_CA_CERTS)")?
        .with_listen_hub(listen_hub.clone());
        let config = WorkerConfig {
            schedule: settings.retry_schedule.clone(),
            disable_after: settings.endpoint_disable_after,
            concurrency: 256,
            per_endpoint: 32,
            // Long enough for an attempt (at most the timeout) and its recording.
            lease: settings.delivery_timeout * 2 + Duration::from_secs(5),
            max_idle: store::worker_max_idle(&settings.database_url),
            shutdown_grace: settings.delivery_timeout + Duration::from_secs(1),
        };
        let worker = Worker::new(store.clone(), sender, config, wake.clone());
        // Other nodes' new work wakes this worker too (PostgreSQL LISTEN/NOTIFY).
        store.watch_for_work(wake.clone());
        worker_task = Some(tokio::spawn(worker.run(shutdown.clone())));
    }

    let app = if settings.run_api {
        let config = ApiConfig {
            public_url: public_url.clone(),
            max_payload_bytes: settings.max_payload_bytes,
            https_only: settings.https_only,
            admin_token: settings.admin_token.clone(),
        };
        let dashboard = skyhook_dashboard::DashboardConfig {
            public_url: public_url.clone(),
            https_only: settings.https_only,
            admin_token: settings.admin_token.clone(),
        };
        skyhook_api::router(AppState::new(
            store.clone(),
            config,
            wake.clone(),
            listen_hub,
        ))
        .merge(skyhook_dashboard::router(
            skyhook_dashboard::DashboardState::new(store.clone(), dashboard, wake),
        ))
    } else {
        // A worker-only node still answers health checks.
        axum::Router::new().route(
            "/api/v1/health",
            axum::routing::get(|| async { axum::http::StatusCode::NO_CONTENT }),
        )
    }
    .merge(crate::telemetry::metrics_router(store.clone()));
    let app = crate::telemetry::layer_requests(app);

    println!("Skyhook listening on http://{addr}");
    println!("API: {public_url}/api/v1");
    if settings.run_api {
        println!("Dashboard: {public_url}/");
    }
    if let Some(token) = first_token {
        println!("Admin token (shown once, stored hashed): {token}");
    }

    let signal = shutdown.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down");
        signal.cancel();
    });
    let stop = shutdown.clone();
    // A `Router` served as it is rebuilds its route table for every connection (axum
    // 0.8: 18 KB and a box per route, each time); `into_make_service` builds it once
    // and hands each connection a reference to it.
    axum::serve(listener, app.into_make_service())
        .with_graceful_shutdown(async move { stop.cancelled().await })
        .await?;
    if let Some(task) = worker_task {
        task.await.ok();
    }
    store.close().await;
    Ok(())
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    ctrl_c.await.ok();
}
