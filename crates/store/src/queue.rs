//! The delivery queue's unit of work, and how a claim skips the rows of busy endpoints.

use std::sync::Mutex;

use skyhook_domain::clock::Millis;
use skyhook_domain::model::{DeliveryStatus, Endpoint, Message};

/// A leased delivery: everything a worker needs to make one attempt.
#[derive(Debug, Clone)]
pub struct Claim {
    /// Delivery row id.
    pub delivery_id: i64,
    /// Fencing token; completion is refused once another claimer holds the row.
    pub lease: String,
    /// Scheduled attempts made before this one.
    pub attempts_made: u32,
    /// A manual attempt (resend/recover): one try, no retries after it.
    pub manual: bool,
    /// Put back earlier to wait for a throttle slot it already holds: send, don't reserve.
    pub holds_slot: bool,
    /// The message.
    pub message: Message,
    /// The endpoint as it is now (URL, headers and secrets at claim time).
    pub endpoint: Endpoint,
}

/// What happens to a delivery after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Delivered.
    Success,
    /// Failed; try again at this time.
    RetryAt(Millis),
    /// Failed for good.
    Fail,
}

impl Outcome {
    /// Whether the attempt behind this outcome succeeded.
    pub fn is_success(self) -> bool {
        self == Self::Success
    }

    /// The delivery's status after it, and when it is next due (only for a retry).
    pub fn next_state(self) -> (DeliveryStatus, Option<Millis>) {
        match self {
            Self::Success => (DeliveryStatus::Success, None),
            Self::RetryAt(t) => (DeliveryStatus::Pending, Some(t)),
            Self::Fail => (DeliveryStatus::Fail, None),
        }
    }
}

/// A fresh fencing token for a lease: 128 random bits, hex.
pub fn new_lease() -> String {
    use rand::Rng;
    format!("{:032x}", rand::rng().random::<u128>())
}

/// Where a node's claims may start their scan of due rows while some of its endpoints
/// are busy (at their cap of attempts here).
///
/// A busy endpoint's due rows stay where they are, at the head of the queue in `run_at`
/// order, so a scan that filters them out walks past all of them on every claim: behind
/// a slow endpoint 100,000 rows deep, 16 ms per claim on SQLite, and a node claims after
/// every batch that queued work. A scan that finds its first claimable row at `run_at = t`
/// has shown that every due row before `t` it could see belongs to a busy endpoint; while
/// those stay busy, the next scan starts there. Rows it could not see yet are those
/// committed after it began: a new delivery is due from its message's acceptance, which
/// its commit follows within [`LATE_MS`] unless the node is overloaded, and retried,
/// put-back and resent rows are due from their own commit. So the next scan starts at
/// `t`, but no later than [`LATE_MS`] before this one. A row later still (or stamped by
/// another node's slower clock) waits for the next full scan, at most [`RESCAN_MS`].
#[derive(Default)]
pub struct SkipBusy(Mutex<Option<Mark>>);

/// How long after its `run_at` a due row may commit and still be found by the next claim.
pub const LATE_MS: Millis = 1_000;

/// How often a node scans the whole due range anyway.
pub const RESCAN_MS: Millis = 2_000;

struct Mark {
    /// Every due row before `from` belonged to one of these.
    busy: Vec<String>,
    from: Millis,
    /// When the last scan from the start ran.
    full_scan_at: Millis,
}

impl SkipBusy {
    /// The lowest `run_at` a claim at `now` with these busy endpoints must look at.
    pub fn start(&self, busy: &[String], now: Millis) -> Millis {
        let mark = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match &*mark {
            Some(m)
                if (m.full_scan_at..m.full_scan_at + RESCAN_MS).contains(&now)
                    && m.busy.iter().all(|e| busy.contains(e)) =>
            {
                m.from
            }
            _ => Millis::MIN,
        }
    }

    /// Records a scan from `start` (as [`start`](Self::start) gave it) at `now` that
    /// found its first claimable row at `first` (`None`: it found none).
    pub fn scanned(&self, busy: &[String], start: Millis, now: Millis, first: Option<Millis>) {
        let mut mark = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let full_scan_at = match (&*mark, start) {
            (Some(m), s) if s != Millis::MIN => m.full_scan_at,
            _ => now,
        };
        *mark = (!busy.is_empty()).then(|| Mark {
            busy: busy.to_vec(),
            from: first.unwrap_or(now).min(now - LATE_MS),
            full_scan_at,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(ids: &[&str]) -> Vec<String> {
        ids.iter().map(|s| s.to_string()).collect()
    }

    const NOW: Millis = 100_000;

    #[test]
    fn a_scan_starts_where_the_last_found_work_while_the_same_endpoints_stay_busy() {
        let skip = SkipBusy::default();
        let a = set(&["ep_a"]);
        assert_eq!(skip.start(&a, NOW), Millis::MIN, "nothing scanned yet");
        skip.scanned(&a, Millis::MIN, NOW, Some(40_000));
        assert_eq!(skip.start(&a, NOW + 50), 40_000);
        let more = set(&["ep_b", "ep_a"]);
        assert_eq!(skip.start(&more, NOW + 50), 40_000, "more busy ones");
        let other = set(&["ep_b"]);
        assert_eq!(skip.start(&other, NOW + 50), Millis::MIN, "ep_a freed");
        assert_eq!(skip.start(&[], NOW + 50), Millis::MIN, "none busy");
    }

    #[test]
    fn the_next_scan_looks_back_late_ms_for_rows_committed_meanwhile() {
        let skip = SkipBusy::default();
        let a = set(&["ep_a"]);
        skip.scanned(&a, Millis::MIN, NOW, None);
        assert_eq!(skip.start(&a, NOW + 20), NOW - LATE_MS, "found nothing");
        skip.scanned(&a, Millis::MIN, NOW, Some(NOW - 10));
        assert_eq!(
            skip.start(&a, NOW + 20),
            NOW - LATE_MS,
            "found a recent row"
        );
    }

    #[test]
    fn the_whole_range_is_scanned_again_after_rescan_ms_however_often_claims_run() {
        let skip = SkipBusy::default();
        let a = set(&["ep_a"]);
        skip.scanned(&a, Millis::MIN, NOW, Some(40_000));
        // Scans from the mark keep the time of the last full one.
        let later = NOW + RESCAN_MS - 1;
        let start = skip.start(&a, later);
        assert_eq!(start, 40_000);
        skip.scanned(&a, start, later, Some(60_000));
        assert_eq!(skip.start(&a, later), 60_000);
        assert_eq!(skip.start(&a, NOW + RESCAN_MS), Millis::MIN);
        assert_eq!(
            skip.start(&a, NOW - 1),
            Millis::MIN,
            "a clock that went back"
        );
    }

    #[test]
    fn a_scan_with_no_busy_endpoint_leaves_no_mark() {
        let skip = SkipBusy::default();
        let a = set(&["ep_a"]);
        skip.scanned(&a, Millis::MIN, NOW, Some(40_000));
        skip.scanned(&[], Millis::MIN, NOW + 10, Some(50_000));
        assert_eq!(skip.start(&a, NOW + 20), Millis::MIN);
    }
}
