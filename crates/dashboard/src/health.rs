//! Endpoint health at a glance: success rate and latency over the last 24 hours, the
//! current state and its SVG chart. Pure: the page feeds it the endpoint's newest
//! attempts (a bounded page from the store), so no store method is needed for it.

use skyhook_domain::clock::Millis;
use skyhook_domain::model::{Attempt, DeliveryStatus};

/// The window the chart covers.
pub const WINDOW_MS: Millis = 24 * 3600 * 1000;
/// Buckets in the window (one per hour).
pub const BUCKETS: usize = 24;
const BUCKET_MS: Millis = WINDOW_MS / BUCKETS as Millis;

/// The state of an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Its last attempt succeeded.
    Healthy,
    /// No attempt yet.
    Idle,
    /// Every attempt since this time failed.
    Failing {
        /// Time of the first failure of the current run of failures.
        since: Millis,
    },
    /// Disabled (by a person or after failing too long): it receives nothing.
    Disabled,
}

/// Attempts of one hour.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Bucket {
    /// Attempts made.
    pub total: u32,
    /// Of which succeeded.
    pub success: u32,
    /// Sum of their durations.
    pub latency_sum_ms: i64,
}

impl Bucket {
    /// Share of successful attempts, if there were any.
    pub fn rate(&self) -> Option<f64> {
        (self.total > 0).then(|| f64::from(self.success) / f64::from(self.total))
    }

    /// Mean duration, if there were attempts.
    pub fn avg_latency_ms(&self) -> Option<i64> {
        (self.total > 0).then(|| self.latency_sum_ms / i64::from(self.total))
    }
}

/// An endpoint's health.
#[derive(Debug, Clone, PartialEq)]
pub struct Health {
    /// Current state.
    pub state: State,
    /// Oldest bucket first; the last one ends at `now`.
    pub buckets: [Bucket; BUCKETS],
    /// All the window's attempts.
    pub total: Bucket,
    /// Whether the attempts given did not reach back over the whole window (the page
    /// was full), so the numbers cover only the newest attempts.
    pub truncated: bool,
}

/// Computes the health from `attempts` (newest first, as the store lists them),
/// `disabled`, and the store's own `failing_since` if it keeps one.
pub fn compute(
    attempts: &[Attempt],
    disabled: bool,
    failing_since: Option<Millis>,
    page_full: bool,
    now: Millis,
) -> Health {
    let start = now - WINDOW_MS;
    let mut buckets = [Bucket::default(); BUCKETS];
    let mut total = Bucket::default();
    for a in attempts
        .iter()
        .filter(|a| a.created_at > start && a.created_at <= now)
    {
        let i = (((a.created_at - start - 1) / BUCKET_MS) as usize).min(BUCKETS - 1);
        for b in [&mut buckets[i], &mut total] {
            b.total += 1;
            b.success += u32::from(a.status == DeliveryStatus::Success);
            b.latency_sum_ms += a.response_duration_ms.max(0);
        }
    }
    let oldest_given = attempts.last().map(|a| a.created_at);
    let state = if disabled {
        State::Disabled
    } else {
        match attempts.first() {
            None => State::Idle,
            Some(a) if a.status == DeliveryStatus::Success => State::Healthy,
            Some(_) => {
                let streak_start = attempts
                    .iter()
                    .take_while(|a| a.status != DeliveryStatus::Success)
                    .last()
                    .map_or(now, |a| a.created_at);
                State::Failing {
                    since: failing_since.map_or(streak_start, |s| s.min(streak_start)),
                }
            }
        }
    };
    Health {
        state,
        buckets,
        total,
        truncated: page_full && oldest_given.is_some_and(|t| t > start),
    }
}

/// The 24-hour chart: one bar per hour whose height is the success rate (coloured by
/// it), and a line of the mean latency scaled to the window's slowest hour. Numbers
/// only, so nothing in it needs escaping.
pub fn chart_svg(h: &Health) -> String {
    const W: usize = 10;
    const TOP: f64 = 4.0;
    const BASE: f64 = 44.0;
    let span = BASE - TOP;
    let max_latency = h
        .buckets
        .iter()
        .filter_map(Bucket::avg_latency_ms)
        .max()
        .unwrap_or(0)
        .max(1);
    let label = match h.total.rate() {
        Some(r) => format!(
            "Last 24 hours: {} attempts, {:.1}% successful, mean latency {} ms, slowest hour {} ms",
            h.total.total,
            r * 100.0,
            h.total.avg_latency_ms().unwrap_or(0),
            max_latency
        ),
        None => "Last 24 hours: no attempts".to_string(),
    };
    let mut out = format!(
        r#"<svg class="chart" viewBox="0 0 {w} 60" width="{w}" height="60" role="img" aria-label="{label}" xmlns="http://www.w3.org/2000/svg"><title>{label}</title>"#,
        w = W * BUCKETS
    );
    out.push_str(&format!(
        r#"<line class="axis" x1="0" y1="{BASE}" x2="{}" y2="{BASE}"/>"#,
        W * BUCKETS
    ));
    let mut points = Vec::new();
    for (i, b) in h.buckets.iter().enumerate() {
        let x = i * W + 1;
        match b.rate() {
            None => out.push_str(&format!(
                r#"<rect class="empty" x="{x}" y="{}" width="{}" height="2"/>"#,
                BASE - 2.0,
                W - 2
            )),
            Some(rate) => {
                let height = (rate * span).max(2.0);
                let class = if rate >= 0.99 {
                    "ok"
                } else if rate >= 0.5 {
                    "warn"
                } else {
                    "bad"
                };
                out.push_str(&format!(
                    r#"<rect class="{class}" x="{x}" y="{:.1}" width="{}" height="{height:.1}"><title>{:.0}% of {} ok, {} ms</title></rect>"#,
                    BASE - height,
                    W - 2,
                    rate * 100.0,
                    b.total,
                    b.avg_latency_ms().unwrap_or(0)
                ));
                let lat = b.avg_latency_ms().unwrap_or(0) as f64 / max_latency as f64;
                points.push(format!("{},{:.1}", x + (W - 2) / 2, BASE - lat * span));
            }
        }
    }
    if points.len() > 1 {
        out.push_str(&format!(
            r#"<polyline class="latency" points="{}"/>"#,
            points.join(" ")
        ));
    } else if let Some(p) = points.first() {
        let (x, y) = p.split_once(',').unwrap_or(("0", "0"));
        out.push_str(&format!(
            r#"<circle class="latency" cx="{x}" cy="{y}" r="2"/>"#
        ));
    }
    out.push_str(&format!(
        r#"<text x="0" y="58">-24 h</text><text x="{}" y="58" text-anchor="end">now</text></svg>"#,
        W * BUCKETS
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use skyhook_domain::model::TriggerType;

    const NOW: Millis = 1_800_000_000_000;
    const H: Millis = 3600 * 1000;

    fn attempt(at: Millis, ok: bool, ms: i64) -> Attempt {
        Attempt {
            id: format!("atmpt_{at}"),
            msg_id: "msg_1".into(),
            endpoint_id: "ep_1".into(),
            url: "https://example.com".into(),
            status: if ok {
                DeliveryStatus::Success
            } else {
                DeliveryStatus::Fail
            },
            response_status_code: if ok { 200 } else { 500 },
            response: String::new(),
            response_duration_ms: ms,
            trigger_type: TriggerType::Scheduled,
            created_at: at,
        }
    }

    #[test]
    fn buckets_rates_and_latency() {
        // Newest first, as the store lists them.
        let attempts = vec![
            attempt(NOW - 1000, true, 100),
            attempt(NOW - 2000, false, 300),
            attempt(NOW - 23 * H - 1, true, 50),
            attempt(NOW - 25 * H, true, 9999), // outside the window
        ];
        let h = compute(&attempts, false, None, false, NOW);
        assert_eq!(h.state, State::Healthy);
        assert_eq!(h.total.total, 3);
        assert_eq!(h.total.success, 2);
        assert_eq!(h.total.avg_latency_ms(), Some(150));
        assert_eq!(h.buckets[23].total, 2);
        assert_eq!(h.buckets[23].rate(), Some(0.5));
        assert_eq!(h.buckets[0].total, 1);
        assert_eq!(h.buckets[5].rate(), None);
        assert!(!h.truncated);
    }

    #[test]
    fn states() {
        assert_eq!(compute(&[], false, None, false, NOW).state, State::Idle);
        assert_eq!(compute(&[], true, None, false, NOW).state, State::Disabled);
        let failing = vec![
            attempt(NOW - 1000, false, 10),
            attempt(NOW - 5000, false, 10),
            attempt(NOW - 9000, true, 10),
        ];
        assert_eq!(
            compute(&failing, false, None, false, NOW).state,
            State::Failing { since: NOW - 5000 }
        );
        // The store's failing_since reaches further back than the page.
        assert_eq!(
            compute(&failing[..2], false, Some(NOW - H), true, NOW).state,
            State::Failing { since: NOW - H }
        );
        assert_eq!(
            compute(&failing, true, None, false, NOW).state,
            State::Disabled
        );
        // A full page that does not reach back 24 h says so.
        assert!(compute(&failing[..2], false, None, true, NOW).truncated);
    }

    #[test]
    fn chart_is_an_accessible_svg_with_one_bar_per_hour() {
        let attempts = vec![
            attempt(NOW - 1000, true, 100),
            attempt(NOW - 2000, false, 300),
            attempt(NOW - 3 * H, true, 40),
        ];
        let svg = chart_svg(&compute(&attempts, false, None, false, NOW));
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains(r#"role="img""#));
        assert!(svg.contains("3 attempts, 66.7% successful"), "{svg}");
        assert_eq!(svg.matches("<rect").count(), BUCKETS);
        assert_eq!(svg.matches(r#"class="empty""#).count(), BUCKETS - 2);
        assert!(svg.contains(r#"class="warn""#), "50% hour");
        assert!(svg.contains(r#"class="ok""#));
        assert!(svg.contains("<polyline"));
        assert!(!svg.contains("NaN"));

        let empty = chart_svg(&compute(&[], false, None, false, NOW));
        assert!(empty.contains("no attempts"));
        assert!(!empty.contains("<polyline") && !empty.contains("NaN"));
    }
}
