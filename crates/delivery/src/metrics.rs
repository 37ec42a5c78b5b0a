//! Delivery metrics, through the `metrics` facade (the binary installs the Prometheus
//! recorder and renders `/metrics`; without a recorder these calls do nothing).
//!
//! - `skyhook_attempts_total{outcome, status_class}`: outcome `success`, `retry` or
//!   `fail`; status class `2xx`…`5xx`, or `none` when no answer came.
//! - `skyhook_deliveries_in_flight`: attempts running now.
//! - `skyhook_admissions_refused_total{reason}`: deliveries the worker had no room for
//!   (`node` or `endpoint`), left in the queue to be claimed.
//! - `skyhook_attempt_duration_seconds`: one attempt, send to last byte.
//! - `skyhook_delivery_latency_seconds`: message accepted → 2xx answer.
//! - `skyhook_endpoint_failures_total{endpoint_id}`: failed attempts per endpoint, for
//!   at most [`MAX_ENDPOINT_LABELS`] endpoints per process; the rest count as `other`.

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use skyhook_store::Outcome;
use skyhook_store::handoff::Refusal;

/// Distinct `endpoint_id` labels one process gives `skyhook_endpoint_failures_total`.
pub const MAX_ENDPOINT_LABELS: usize = 100;

/// Label for failures of endpoints beyond the cap.
pub const OTHER_ENDPOINTS: &str = "other";

/// `2xx`…`5xx`, or `none` for no HTTP answer (connection error, timeout, refused).
pub fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        500..=599 => "5xx",
        _ => "none",
    }
}

fn outcome_label(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Success => "success",
        Outcome::RetryAt(_) => "retry",
        Outcome::Fail => "fail",
    }
}

/// The label an endpoint's failures are counted under: its id while fewer than
/// [`MAX_ENDPOINT_LABELS`] endpoints have one, `other` after.
pub fn endpoint_label(endpoint_id: &str) -> String {
    static SEEN: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    let mut seen = SEEN
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if seen.contains(endpoint_id) {
        return endpoint_id.to_string();
    }
    if seen.len() < MAX_ENDPOINT_LABELS {
        seen.insert(endpoint_id.to_string());
        return endpoint_id.to_string();
    }
    OTHER_ENDPOINTS.to_string()
}

/// Records one finished attempt. `latency` is accepted → now, given for a success.
pub fn attempt(
    endpoint_id: &str,
    status: u16,
    outcome: Outcome,
    duration: Duration,
    latency: Option<Duration>,
) {
    metrics::counter!(
        "skyhook_attempts_total",
        "outcome" => outcome_label(outcome),
        "status_class" => status_class(status),
    )
    .increment(1);
    metrics::histogram!("skyhook_attempt_duration_seconds").record(duration.as_secs_f64());
    if outcome.is_success() {
        if let Some(latency) = latency {
            metrics::histogram!("skyhook_delivery_latency_seconds").record(latency.as_secs_f64());
        }
    } else {
        metrics::counter!(
            "skyhook_endpoint_failures_total",
            "endpoint_id" => endpoint_label(endpoint_id),
        )
        .increment(1);
    }
}

/// Counts a delivery the worker had no room for, new at the handoff (once its batch
/// committed) or claimed over the cap (`reason`: `node`, its admissions or its payload
/// memory all taken; `endpoint`, the endpoint's cap reached): it waits in the queue to
/// be claimed. A stopping worker refuses everything, for want of time, not of room: not
/// counted.
pub fn refused(refusal: Refusal) {
    let reason = match refusal {
        Refusal::Node => "node",
        Refusal::Endpoint => "endpoint",
        Refusal::Stopping => return,
    };
    metrics::counter!("skyhook_admissions_refused_total", "reason" => reason).increment(1);
}

/// Counts an attempt in `skyhook_deliveries_in_flight` while it lives.
pub struct InFlight(());

impl InFlight {
    /// Starts counting.
    pub fn start() -> Self {
        metrics::gauge!("skyhook_deliveries_in_flight").increment(1.0);
        Self(())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        metrics::gauge!("skyhook_deliveries_in_flight").decrement(1.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_classes() {
        assert_eq!(status_class(204), "2xx");
        assert_eq!(status_class(302), "3xx");
        assert_eq!(status_class(429), "4xx");
        assert_eq!(status_class(503), "5xx");
        assert_eq!(status_class(0), "none");
    }

    #[test]
    fn endpoint_labels_are_capped() {
        let labels: Vec<String> = (0..MAX_ENDPOINT_LABELS + 5)
            .map(|i| endpoint_label(&format!("ep_cap_test_{i}")))
            .collect();
        let distinct: HashSet<&String> = labels.iter().collect();
        assert!(
            distinct.len() <= MAX_ENDPOINT_LABELS + 1,
            "{}",
            distinct.len()
        );
        assert_eq!(labels.last().unwrap(), OTHER_ENDPOINTS);
        // An endpoint that got a label keeps it.
        assert_eq!(endpoint_label(&labels[0]), labels[0]);
    }
}
