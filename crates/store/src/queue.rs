//! The delivery queue's unit of work.

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
