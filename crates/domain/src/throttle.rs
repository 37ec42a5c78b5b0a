//! Per-endpoint pacing for `throttleRate` (deliveries per second): a delivery over the
//! rate is put back with a reserved future slot, never dropped.
//!
//! Each endpoint has a next free slot; a delivery takes the later of now and that slot
//! and moves it on by one interval. A deferred delivery keeps its slot, so when it comes
//! back it goes at once instead of queueing behind later arrivals again.

use std::collections::HashMap;

use crate::clock::Millis;

/// How close to its slot a returning delivery may be and still go.
const SLACK_MS: Millis = 20;
/// Prune bookkeeping when it grows past this many entries.
const PRUNE_AT: usize = 10_000;

/// Slots per endpoint and the slots reserved by deferred deliveries.
#[derive(Debug, Default)]
pub struct Pacer {
    /// Endpoint id → next free slot, in microseconds (rates up to 65,535/s).
    next_us: HashMap<String, i64>,
    /// Delivery id → its reserved slot in milliseconds.
    reserved: HashMap<i64, Millis>,
}

impl Pacer {
    /// When delivery `delivery_id` to `endpoint_id` may go: `None` for now, or the
    /// reserved time to defer it to.
    pub fn admit(
        &mut self,
        endpoint_id: &str,
        delivery_id: i64,
        rate: Option<u16>,
        now: Millis,
    ) -> Option<Millis> {
        let rate = rate.filter(|r| *r > 0)?;
        if let Some(slot) = self.reserved.remove(&delivery_id)
            && slot <= now + SLACK_MS
        {
            return None;
        }
        if self.next_us.len() + self.reserved.len() > PRUNE_AT {
            self.next_us.retain(|_, next| *next > now * 1000);
            self.reserved.retain(|_, slot| *slot > now - 60_000);
        }
        let interval_us = 1_000_000 / i64::from(rate);
        let next = self.next_us.entry(endpoint_id.to_string()).or_insert(0);
        let slot_us = (*next).max(now * 1000);
        *next = slot_us + interval_us;
        let slot = (slot_us + 999) / 1000;
        if slot <= now {
            None
        } else {
            self.reserved.insert(delivery_id, slot);
            Some(slot)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unthrottled_endpoints_always_go() {
        let mut p = Pacer::default();
        for id in 0..100 {
            assert_eq!(p.admit("ep", id, None, 0), None);
        }
    }

    #[test]
    fn a_burst_is_spread_at_the_rate_and_nothing_is_dropped() {
        let mut p = Pacer::default();
        let slots: Vec<Option<Millis>> = (0..20)
            .map(|id| p.admit("ep", id, Some(5), 1_000))
            .collect();
        assert_eq!(slots[0], None);
        for (i, s) in slots.iter().enumerate().skip(1) {
            assert_eq!(*s, Some(1_000 + 200 * i as Millis));
        }
        // A deferred delivery coming back at its slot goes; a newcomer waits behind the burst.
        assert_eq!(p.admit("ep", 5, Some(5), 2_000), None);
        assert_eq!(p.admit("ep", 99, Some(5), 2_000), Some(5_000));
        // Other endpoints are not affected.
        assert_eq!(p.admit("other", 100, Some(5), 1_000), None);
    }
}
