//! Operations: logs (`tracing`, human-readable or JSON lines, optional OpenTelemetry
//! export), per-request spans with a request id, and Prometheus metrics at `/metrics`.

use std::sync::Arc;
use std::sync::OnceLock;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderName, Request, header};
use axum::response::IntoResponse;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use skyhook_store::Store;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;

/// The target of every API request's `request finished` event, so that
/// `SKYHOOK_LOG=info,skyhook::request=debug` logs the successful ones too.
pub const REQUEST_LOG: &str = "skyhook::request";

/// Header carrying the request id (taken from the client when it sends one).
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Human-readable logs by default, JSON lines with `SKYHOOK_LOG_FORMAT=json`; filter with
/// `SKYHOOK_LOG` (default `info`). With the `otel` feature and
/// `OTEL_EXPORTER_OTLP_ENDPOINT` set, spans are also exported over OTLP/HTTP.
pub fn init_tracing() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::{EnvFilter, Layer};
    let filter = EnvFilter::try_from_env("SKYHOOK_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("SKYHOOK_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    // Colours only on a terminal: a log file or journal gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    let fmt = if json {
        fmt.json()
            .with_current_span(true)
            .with_span_list(true)
            .boxed()
    } else {
        fmt.boxed()
    };
    let registry = tracing_subscriber::registry().with(filter).with(fmt);
    #[cfg(feature = "otel")]
    let registry = registry.with(otel::layer());
    registry.init();
}

#[cfg(feature = "otel")]
mod otel {
    use tracing_subscriber::Layer;

    /// The OTLP trace layer, when `OTEL_EXPORTER_OTLP_ENDPOINT` is set (the exporter
    /// reads that variable and the other standard `OTEL_*` ones itself).
    pub fn layer<S>() -> Option<Box<dyn Layer<S> + Send + Sync>>
    where
        S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a> + Send + Sync,
    {
        use opentelemetry::trace::TracerProvider as _;
        std::env::var_os("OTEL_EXPORTER_OTLP_ENDPOINT")?;
        let exporter = match opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .build()
        {
            Ok(e) => e,
            Err(e) => {
                eprintln!("OpenTelemetry export disabled: {e}");
                return None;
            }
        };
        let resource = opentelemetry_sdk::Resource::builder()
            .with_service_name("skyhook")
            .build();
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource)
            .build();
        let tracer = provider.tracer("skyhook");
        opentelemetry::global::set_tracer_provider(provider);
        Some(tracing_opentelemetry::layer().with_tracer(tracer).boxed())
    }
}

/// Request ids: `req_` + 20 random base62 characters.
#[derive(Clone, Copy, Default)]
struct NewRequestId;

impl MakeRequestId for NewRequestId {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<RequestId> {
        let id = format!("req_{}", skyhook_domain::ids::random_base62(20));
        Some(RequestId::new(id.parse().ok()?))
    }
}

/// Wraps `app` in a span per request (method, path, request id; status and latency
/// logged at the end: 5xx at warn, 4xx at info, the rest at debug) and answers with the
/// request id in `x-request-id`.
pub fn layer_requests(app: Router) -> Router {
    let trace = TraceLayer::new_for_http()
        .make_span_with(|req: &Request<_>| {
            let request_id = req
                .headers()
                .get(&REQUEST_ID)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            tracing::info_span!(
                "request",
                method = %req.method(),
                path = %req.uri().path(),
                request_id = %request_id,
            )
        })
        .on_response(
            |resp: &axum::http::Response<_>, latency: std::time::Duration, _: &tracing::Span| {
                let code = resp.status();
                let (status, latency_ms) = (code.as_u16(), latency.as_millis() as u64);
                // Answers that went well are debug: at thousands a second their lines
                // were about 3% of the server's samples (docs/BENCHMARKS.md).
                if code.is_server_error() {
                    tracing::warn!(target: REQUEST_LOG, status, latency_ms, "request finished");
                } else if code.is_client_error() {
                    tracing::info!(target: REQUEST_LOG, status, latency_ms, "request finished");
                } else {
                    tracing::debug!(target: REQUEST_LOG, status, latency_ms, "request finished");
                }
            },
        );
    // Layers run outside-in from the last one added: set the id, trace, propagate.
    app.layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(trace)
        .layer(SetRequestIdLayer::new(REQUEST_ID, NewRequestId))
}

/// Installs the process's Prometheus recorder (once) and returns its handle.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            // Seconds: 5 ms … 1 min for attempts; up to a day for ingest → 2xx, which
            // includes retries.
            let attempt = [
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
            ];
            let latency = [
                0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0, 7200.0,
                86400.0,
            ];
            let handle = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("skyhook_attempt_duration_seconds".into()),
                    &attempt,
                )
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full("skyhook_delivery_latency_seconds".into()),
                        &latency,
                    )
                })
                .expect("bucket lists are not empty")
                .install_recorder()
                .expect("the metrics recorder is installed once");
            describe();
            handle
        })
        .clone()
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "skyhook_messages_accepted_total",
        "Messages accepted (committed with their deliveries), by source: api or quotation"
    );
    describe_counter!(
        "skyhook_attempts_total",
        "Delivery attempts by outcome (success, retry, fail) and status class (2xx…5xx, none)"
    );
    describe_gauge!(
        "skyhook_deliveries_in_flight",
        "Delivery attempts running in this process"
    );
    describe_gauge!(
        "skyhook_queue_depth",
        "Unfinished deliveries by state (due, scheduled, sending), read from the database at scrape time"
    );
    describe_histogram!(
        "skyhook_attempt_duration_seconds",
        Unit::Seconds,
        "Duration of one delivery attempt, request to last byte"
    );
    describe_histogram!(
        "skyhook_delivery_latency_seconds",
        Unit::Seconds,
        "From a message's acceptance to a 2xx answer from the endpoint (retries included)"
    );
    describe_histogram!(
        "skyhook_group_commit_writes",
        Unit::Count,
        "Writes (accepted messages, recorded attempts) committed in one group-commit transaction"
    );
    describe_histogram!(
        "skyhook_group_commit_seconds",
        Unit::Seconds,
        "Duration of one group-commit transaction, commit included"
    );
    describe_histogram!(
        "skyhook_group_commit_wait_seconds",
        Unit::Seconds,
        "How long the first write of a group-commit batch waited before its batch began (the batch before it; under load, more writes to join; at modest rates attempt records, up to 5 ms for a message to join)"
    );
    describe_counter!(
        "skyhook_endpoint_failures_total",
        "Failed attempts per endpoint (the first 100 endpoints to fail have their own label, the rest count as endpoint_id=\"other\")"
    );
}

#[derive(Clone)]
struct MetricsState {
    handle: PrometheusHandle,
    store: Arc<dyn Store>,
}

/// `GET /metrics`: Prometheus text; the queue depth is read from the store at each scrape.
pub fn metrics_router(store: Arc<dyn Store>) -> Router {
    Router::new()
        .route("/metrics", axum::routing::get(render))
        .with_state(MetricsState {
            handle: metrics_handle(),
            store,
        })
}

async fn render(State(state): State<MetricsState>) -> impl IntoResponse {
    match state
        .store
        .queue_depth(skyhook_domain::clock::now_ms())
        .await
    {
        Ok(Some(depth)) => {
            for (label, n) in [
                ("due", depth.due),
                ("scheduled", depth.scheduled),
                ("sending", depth.sending),
            ] {
                metrics::gauge!("skyhook_queue_depth", "state" => label).set(n as f64);
            }
        }
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e, "reading the queue depth for /metrics failed"),
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.handle.render(),
    )
}
