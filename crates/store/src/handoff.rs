//! Direct handoff: deliveries leased to this process's worker in the very transaction
//! that creates them, so a new message needs no claim query at all.
//!
//! Without it, a new message costs a commit, a wake-up, then a claim (a lease update
//! and a read of the message and endpoint back) before its request goes out. With it,
//! the store asks the worker's [`Admission`] for room per new delivery; what is
//! admitted is written already leased and, once committed, sent to the worker with the
//! message and endpoint it has in hand. What is not admitted is queued as usual and
//! claimed later. A crash after the commit leaves leased rows that are claimed again
//! when their lease runs out, as for any claim: a possible duplicate, never a loss.

use std::any::Any;
use std::sync::Arc;

use tokio::sync::{Notify, mpsc};

use crate::Claim;

/// Room for one more attempt, held until dropped; what the worker's admission hands out.
pub type Ticket = Box<dyn Any + Send + Sync>;

/// Why the worker had no room for a delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The node's admissions (or its budget for payloads) are all taken.
    Node,
    /// The endpoint's cap is reached.
    Endpoint,
    /// The worker is stopping (or gone): it takes nothing more.
    Stopping,
}

/// The worker's side: whether it can start an attempt to an endpoint right now.
pub trait Admission: Send + Sync {
    /// A ticket holding the room for one attempt to `endpoint_id` of a message with a
    /// payload of `payload_bytes`, or why there is none.
    fn admit(&self, endpoint_id: &str, payload_bytes: usize) -> Result<Ticket, Refusal>;

    /// Told, after the commit, of each refused delivery that was written to the queue.
    /// A batch may ask [`admit`](Self::admit) again for the same delivery (when it is
    /// done over) or not write it at all, so the refusals `admit` gives are not a count
    /// of anything; these are.
    fn refused(&self, refusal: Refusal);
}

/// What a committed batch gives its worker: the deliveries written leased, with their
/// tickets, and the refusals of those written to the queue instead.
#[derive(Default)]
pub struct Handed {
    /// Claims to start.
    pub claims: Vec<(Claim, Ticket)>,
    /// Why the others were not admitted.
    pub refused: Vec<Refusal>,
}

/// Where a store hands new deliveries over.
#[derive(Clone)]
pub struct Handoff {
    /// Asked once per new delivery.
    pub admission: Arc<dyn Admission>,
    /// The leased deliveries, each with its ticket, sent after their commit.
    pub claims: mpsc::UnboundedSender<(Claim, Ticket)>,
    /// How long a handed-over lease lasts (as a claim's would).
    pub lease_ms: i64,
    /// Woken when a batch leaves deliveries to be claimed (not admitted ones), so the
    /// worker claims them at once; a batch that handed everything over wakes nobody.
    pub wake: Arc<Notify>,
}

impl Handoff {
    /// After the commit of a batch that queued `queued` deliveries in all: sends the
    /// leased claims to the worker, tells it what it refused, and wakes it for the rest.
    pub fn hand_over(&self, handed: Handed, queued: &[crate::Result<usize>]) {
        let total: usize = queued.iter().filter_map(|r| r.as_ref().ok()).sum();
        let left = total.saturating_sub(handed.claims.len());
        for claim in handed.claims {
            // A worker that stopped meanwhile leaves the leases to run out.
            let _ = self.claims.send(claim);
        }
        for refusal in handed.refused {
            self.admission.refused(refusal);
        }
        if left > 0 {
            self.wake.notify_one();
        }
    }
}
