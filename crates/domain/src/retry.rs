//! The retry schedule: the waits between attempts after the first.

use std::time::Duration;

use rand::Rng;

/// Waits between attempts; attempt `n` (1-based) failing waits `steps[n-1]` before the next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule {
    steps: Vec<Duration>,
}

/// A schedule that could not be parsed.
#[derive(Debug, thiserror::Error)]
#[error("invalid retry schedule step {step:?}: {reason}")]
pub struct ScheduleError {
    step: String,
    reason: String,
}

/// The longest a receiver's `Retry-After` may push the next attempt back.
pub const RETRY_AFTER_CAP: Duration = Duration::from_secs(3600);

/// The wait before the next attempt: the schedule's, or longer when the receiver
/// asked for more with `Retry-After` (up to [`RETRY_AFTER_CAP`]).
pub fn honour_retry_after(scheduled: Duration, retry_after: Option<Duration>) -> Duration {
    retry_after.map_or(scheduled, |ra| scheduled.max(ra.min(RETRY_AFTER_CAP)))
}

impl RetrySchedule {
    /// The Standard Webhooks recommendation: about 3.15 days in all.
    pub const DEFAULT: &'static str = "5s,5m,30m,2h,5h,10h,14h,20h,24h";

    /// Parses a comma-separated list of durations such as `5s,5m,2h` (or `100ms`).
    pub fn parse(s: &str) -> Result<Self, ScheduleError> {
        let steps = s
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| {
                humantime::parse_duration(p).map_err(|e| ScheduleError {
                    step: p.to_string(),
                    reason: e.to_string(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { steps })
    }

    /// Total number of scheduled attempts: the first plus one per step.
    pub fn max_attempts(&self) -> u32 {
        self.steps.len() as u32 + 1
    }

    /// The wait after failed attempt number `attempt` (1-based) with ±10% jitter,
    /// or `None` when that was the last attempt.
    pub fn next_delay(&self, attempt: u32) -> Option<Duration> {
        let base = *self.steps.get(attempt.checked_sub(1)? as usize)?;
        Some(base.mul_f64(rand::rng().random_range(0.9..=1.1)))
    }
}

impl Default for RetrySchedule {
    fn default() -> Self {
        Self::parse(Self::DEFAULT).expect("default schedule parses")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_schedule_spans_about_three_days() {
        let s = RetrySchedule::default();
        assert_eq!(s.max_attempts(), 10);
        let total: Duration = s.steps.iter().sum();
        assert_eq!(
            total.as_secs(),
            5 + 300 + 1800 + 3600 * (2 + 5 + 10 + 14 + 20 + 24)
        );
    }

    #[test]
    fn delays_are_jittered_within_ten_percent_and_end() {
        let s = RetrySchedule::parse("100ms, 10s").unwrap();
        for _ in 0..100 {
            let d = s.next_delay(2).unwrap();
            assert!(
                d >= Duration::from_secs(9) && d <= Duration::from_secs(11),
                "{d:?}"
            );
        }
        assert!(s.next_delay(1).unwrap() <= Duration::from_millis(110));
        assert_eq!(s.next_delay(3), None);
        assert_eq!(s.next_delay(0), None);
    }

    #[test]
    fn retry_after_only_lengthens_the_wait_and_is_capped() {
        let s = Duration::from_secs(5);
        assert_eq!(honour_retry_after(s, None), s);
        assert_eq!(honour_retry_after(s, Some(Duration::from_secs(1))), s);
        assert_eq!(
            honour_retry_after(s, Some(Duration::from_secs(60))),
            Duration::from_secs(60)
        );
        assert_eq!(
            honour_retry_after(s, Some(Duration::from_secs(86_400))),
            RETRY_AFTER_CAP
        );
    }

    #[test]
    fn bad_steps_are_named() {
        let err = RetrySchedule::parse("5s,soon").unwrap_err();
        assert!(err.to_string().contains("soon"));
    }
}
