//! Percentiles and rates: the pure arithmetic behind every figure.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::{Value, json};

/// Latency percentiles in milliseconds, from samples in microseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Percentiles {
    pub count: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Percentiles {
    /// Percentiles of `samples_us` (microseconds); all zero when there are none.
    ///
    /// Uses an HDR histogram with 3 significant digits, so a reported value is within
    /// 0.1% of the exact sample at that rank, never above the maximum (which is exact).
    pub fn from_micros(samples_us: &[u64]) -> Self {
        if samples_us.is_empty() {
            return Self {
                count: 0,
                p50_ms: 0.0,
                p90_ms: 0.0,
                p99_ms: 0.0,
                max_ms: 0.0,
            };
        }
        let mut h = Histogram::<u64>::new(3).expect("3 significant digits is valid");
        let mut max = 0;
        for &s in samples_us {
            h.record(s)
                .expect("auto-resizing histogram accepts any u64");
            max = max.max(s);
        }
        // A histogram bucket's value can exceed the largest sample in it; clamp.
        let ms = |us: u64| round3(us.min(max) as f64 / 1000.0);
        Self {
            count: h.len(),
            p50_ms: ms(h.value_at_quantile(0.50)),
            p90_ms: ms(h.value_at_quantile(0.90)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            max_ms: ms(max),
        }
    }

    /// `{"p50_ms", "p90_ms", "p99_ms", "max_ms"}`.
    pub fn to_json(self) -> Value {
        json!({
            "p50_ms": self.p50_ms,
            "p90_ms": self.p90_ms,
            "p99_ms": self.p99_ms,
            "max_ms": self.max_ms,
        })
    }
}

/// `count` events over `elapsed`, per second (0 when nothing elapsed), rounded to 0.1.
pub fn rate(count: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs <= 0.0 {
        0.0
    } else {
        (count as f64 / secs * 10.0).round() / 10.0
    }
}

/// How much `after` fell below `before`, in percent of `before` (negative: it rose).
pub fn drop_pct(before: f64, after: f64) -> f64 {
    if before <= 0.0 {
        0.0
    } else {
        round3((before - after) / before * 100.0)
    }
}

/// Rounds to three decimals, so JSON stays readable.
pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Milliseconds as a float with three decimals.
pub fn ms(d: Duration) -> f64 {
    round3(d.as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_one_to_a_thousand_ms() {
        let samples: Vec<u64> = (1..=1000).map(|i| i * 1000).collect();
        let p = Percentiles::from_micros(&samples);
        assert_eq!(p.count, 1000);
        // HDR histograms with 3 digits are within 0.1% of the exact rank value.
        assert!((p.p50_ms - 500.0).abs() <= 0.5, "{p:?}");
        assert!((p.p90_ms - 900.0).abs() <= 0.9, "{p:?}");
        assert!((p.p99_ms - 990.0).abs() <= 1.0, "{p:?}");
        assert_eq!(p.max_ms, 1000.0);
    }

    #[test]
    fn percentiles_of_nothing_are_zero() {
        let p = Percentiles::from_micros(&[]);
        assert_eq!(p.count, 0);
        assert_eq!(p.max_ms, 0.0);
        assert_eq!(p.p99_ms, 0.0);
    }

    #[test]
    fn percentiles_keep_sub_millisecond_precision_and_order() {
        let p = Percentiles::from_micros(&[250, 250, 250, 250, 250, 250, 250, 250, 250, 7_000]);
        assert_eq!(p.p50_ms, 0.25);
        assert!(p.p50_ms <= p.p90_ms && p.p90_ms <= p.p99_ms && p.p99_ms <= p.max_ms);
        assert_eq!(p.max_ms, 7.0);
        let j = p.to_json();
        for k in ["p50_ms", "p90_ms", "p99_ms", "max_ms"] {
            assert!(j[k].is_f64(), "{k} in {j}");
        }
    }

    #[test]
    fn rates_and_drops() {
        assert_eq!(rate(1000, Duration::from_millis(500)), 2000.0);
        assert_eq!(rate(5, Duration::ZERO), 0.0);
        assert_eq!(drop_pct(1000.0, 950.0), 5.0);
        assert_eq!(drop_pct(1000.0, 1100.0), -10.0);
        assert_eq!(drop_pct(0.0, 10.0), 0.0);
        assert_eq!(ms(Duration::from_micros(1500)), 1.5);
    }
}
