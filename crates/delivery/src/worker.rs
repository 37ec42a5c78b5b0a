//! The delivery worker: claim due deliveries, run their attempts concurrently, record.
//!
//! New deliveries: the store hands those the worker has room for straight to it, leased
//! in the transaction that accepts the message (`skyhook_store::handoff`), and wakes it
//! through the `Notify` shared with [`Worker::new`] for the rest; the API and the
//! dashboard wake it after the other writes that make work due (a quotation, a resend,
//! a recover). Otherwise the worker sleeps exactly until the earliest due row (a retry,
//! or a lease that may expire), never on a fixed poll.
//! Concurrency is bounded by semaphores: requests in flight (`concurrency`), and
//! deliveries admitted here, sending or waiting (`ADMITTED_PER_SENDING` times as many,
//! within a memory budget); each attempt is its own task, so one slow endpoint holds
//! only its own permits. An endpoint at its cap of requests in flight may have
//! deliveries waiting here for a slot (FIFO), about a second's worth at its pace, so a
//! burst for one endpoint is handed over or claimed once instead of going back to the
//! database and being claimed again; one waiting longer than half its lease is put back.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use skyhook_domain::clock::{Millis, now_ms};
use skyhook_domain::ids;
use skyhook_domain::model::{Attempt, DeliveryStatus, TriggerType};
use skyhook_domain::operational;
use skyhook_domain::retry::{self, RetrySchedule};
use skyhook_store::handoff::{Admission, Handoff, Refusal, Ticket};
use skyhook_store::{Claim, Outcome, Store};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::client::{AttemptResult, Sender};

/// The longest an idle worker waits while some endpoint is at its in-flight cap.
const BUSY_POLL: Duration = Duration::from_millis(250);

/// How the worker runs.
#[derive(Clone)]
pub struct WorkerConfig {
    /// Waits between attempts.
    pub schedule: RetrySchedule,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Attempts in flight at once to one endpoint, so a slow one holds only its share.
    pub per_endpoint: usize,
    /// How long a claim stays invisible to other workers; longer than an attempt.
    pub lease: Duration,
    /// The longest the worker sleeps without checking the database (a safety net
    /// for wake-ups from other processes).
    pub max_idle: Duration,
    /// How long shutdown waits for in-flight attempts before leaving them to lease expiry.
    pub shutdown_grace: Duration,
    /// An endpoint failing without a success for this long is disabled.
    pub disable_after: Duration,
}

/// Claims and delivers.
pub struct Worker {
    store: Arc<dyn Store>,
    sender: Sender,
    config: WorkerConfig,
    wake: Arc<Notify>,
    permits: Arc<Semaphore>,
    /// Requests in flight: `concurrency`.
    sending: Arc<Semaphore>,
    /// The payloads' memory budget, in KiB (see [`memory_units`]).
    memory: Arc<Semaphore>,
    /// Per endpoint with attempts here: its request slots and how many hold or wait.
    in_flight: std::sync::Mutex<std::collections::HashMap<String, EndpointGate>>,
    /// Cancelled when the node stops: waiting deliveries go back to the queue.
    shutdown: CancellationToken,
    /// Whether the last claim was held back by the node's or an endpoint's room, so a
    /// finished attempt should wake the claim loop. When it was not, a success wakes
    /// nothing: a claim then would only find the database as the last one left it, and
    /// it would compete with the group commit for SQLite's single writer.
    starved: AtomicBool,
}

/// An endpoint's share of this node.
struct EndpointGate {
    /// `per_endpoint` request slots, taken in arrival order.
    slots: Arc<Semaphore>,
    /// Attempts admitted: sending, or waiting for a slot.
    admitted: usize,
    /// Its attempts' recent duration (a moving average), in milliseconds.
    pace_ms: f64,
}

/// The pace a newly busy endpoint is assumed to have: slow enough that its waiting room
/// starts at its floor, as many places as slots.
const SLOW_PACE_MS: f64 = 1_000.0;

/// How much each attempt moves its endpoint's pace.
const PACE_WEIGHT: f64 = 0.2;

/// The most places to wait for an endpoint's slots, in slots' worth.
const MAX_WAITING_SLOTS: usize = 64;

impl EndpointGate {
    /// The most attempts the endpoint may have admitted: its `slots`, and places to wait
    /// for about a second's worth of its answers at its recent pace (at least as many
    /// as slots, at most [`MAX_WAITING_SLOTS`] times). A fast endpoint takes bursts
    /// through the handoff instead of leaving them to the queue, whose claims cost a
    /// write each; a slow one holds no more than it can send well within its lease.
    fn cap(&self, slots: usize) -> usize {
        slots + waiting_room(slots, self.pace_ms)
    }

    /// Counts an attempt that took `took` into the pace.
    fn pace(&mut self, took: Duration) {
        self.pace_ms += (took.as_secs_f64() * 1_000.0 - self.pace_ms) * PACE_WEIGHT;
    }
}

fn waiting_room(slots: usize, pace_ms: f64) -> usize {
    let per_second = slots as f64 * 1_000.0 / pace_ms.max(1.0);
    (per_second as usize).clamp(slots, slots * MAX_WAITING_SLOTS)
}

/// Deliveries admitted here (sending or waiting) per request in flight.
const ADMITTED_PER_SENDING: usize = 16;

/// The node's budget for the payloads of admitted attempts, in KiB: bounds memory
/// whatever the payloads' size (up to `MAX_PAYLOAD_BYTES` each).
const MEMORY_BUDGET_KIB: usize = 64 * 1024;

/// An attempt's share of [`MEMORY_BUDGET_KIB`]: its payload and a KiB for the rest of
/// its claim. One larger than the budget takes all of it.
fn memory_units(payload_bytes: usize) -> u32 {
    (payload_bytes / 1024 + 2).min(MEMORY_BUDGET_KIB) as u32
}

impl Worker {
    /// A worker over `store` that sends with `sender`.
    pub fn new(
        store: Arc<dyn Store>,
        sender: Sender,
        config: WorkerConfig,
        wake: Arc<Notify>,
    ) -> Self {
        let permits = Arc::new(Semaphore::new(config.concurrency * ADMITTED_PER_SENDING));
        let sending = Arc::new(Semaphore::new(config.concurrency));
        Self {
            store,
            sender,
            config,
            wake,
            permits,
            sending,
            memory: Arc::new(Semaphore::new(MEMORY_BUDGET_KIB)),
            in_flight: Default::default(),
            shutdown: CancellationToken::new(),
            starved: AtomicBool::new(true),
        }
    }

    /// Wakes the claim loop if it was held back by room that a finished attempt frees.
    fn wake_if_starved(&self) {
        if self.starved.load(Ordering::Acquire) {
            self.wake.notify_one();
        }
    }

    /// Runs until `shutdown` is cancelled, then waits (bounded) for in-flight attempts.
    pub async fn run(mut self, shutdown: CancellationToken) {
        self.shutdown = shutdown.clone();
        let this = Arc::new(self);
        // New messages come leased straight from the store when it can (see
        // `skyhook_store::handoff`); the claim loop below picks up everything else.
        let (claims, mut handed) = tokio::sync::mpsc::unbounded_channel();
        this.store.set_handoff(Handoff {
            admission: Arc::new(Admit {
                worker: Arc::downgrade(&this),
                shutdown: shutdown.clone(),
            }),
            claims,
            lease_ms: this.config.lease.as_millis() as i64,
            wake: this.wake.clone(),
        });
        {
            let (this, shutdown) = (this.clone(), shutdown.clone());
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        Some((claim, ticket)) = handed.recv() => {
                            match ticket.downcast::<Room>() {
                                Ok(room) => this.start(claim, *room),
                                Err(_) => unreachable!("tickets come from Admit"),
                            }
                        }
                        // Handed-over leases left unstarted run out and are claimed again.
                        _ = shutdown.cancelled() => break,
                    }
                }
            });
        }
        while !shutdown.is_cancelled() {
            let wait = match this.tick().await {
                Ok(wait) => wait,
                Err(e) => {
                    tracing::warn!(error = %e, "claiming deliveries failed; retrying shortly");
                    Some(Duration::from_millis(500))
                }
            };
            let Some(wait) = wait else { continue };
            tokio::select! {
                _ = this.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.cancelled() => {}
            }
        }
        let all = (this.config.concurrency * ADMITTED_PER_SENDING) as u32;
        if tokio::time::timeout(this.config.shutdown_grace, this.permits.acquire_many(all))
            .await
            .is_err()
        {
            tracing::warn!(
                "shutdown: attempts still in flight are left to lease expiry and will be retried"
            );
        }
    }

    /// Claims what fits and starts it; returns how long to sleep, or `None` to go again at once.
    async fn tick(self: &Arc<Self>) -> Result<Option<Duration>, skyhook_store::StoreError> {
        // Starved until this claim shows otherwise, so an attempt ending meanwhile wakes us.
        self.starved.store(true, Ordering::Release);
        let free = self.permits.available_permits().min(256) as u32;
        if free == 0 {
            return Ok(Some(self.config.max_idle));
        }
        let busy = self.busy_endpoints();
        let now = now_ms();
        let claims = self
            .store
            .claim_due(now, free, self.config.lease.as_millis() as i64, &busy)
            .await?;
        let full = claims.len() as u32 == free;
        let claimed_any = !claims.is_empty();
        let mut refused = false;
        for claim in claims {
            let room = match self.admit(&claim.endpoint.id, claim.message.payload.len()) {
                Ok(room) => room,
                Err(refusal) => {
                    crate::metrics::refused(refusal);
                    refused = true;
                    // This batch brought more for one endpoint than its cap (or new messages
                    // handed over took the room meanwhile): put the rest back (not counted
                    // as attempts); they are claimed as room frees up.
                    if let Err(e) = self.store.defer(&claim, now, claim.holds_slot).await {
                        tracing::warn!(error = %e, "putting back a delivery over its endpoint's cap failed");
                    }
                    continue;
                }
            };
            self.start(claim, room);
        }
        if full {
            return Ok(None);
        }
        if !busy.is_empty() {
            // Rows of endpoints at their cap stay due (and count in `next_due`), so polling
            // by it would spin: wait for an attempt to end or a new message instead, with
            // a short bound for retries of other endpoints coming due meanwhile.
            let wait = if claimed_any {
                BUSY_POLL
            } else {
                self.config.max_idle
            };
            return Ok(Some(wait.min(self.config.max_idle)));
        }
        if !refused {
            self.starved.store(false, Ordering::Release);
        }
        let next = self.store.next_due().await?;
        Ok(Some(sleep_until(next, now_ms(), self.config.max_idle)))
    }

    /// Endpoints that can admit nothing more here.
    fn busy_endpoints(&self) -> Vec<String> {
        let in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        in_flight
            .iter()
            .filter(|(_, gate)| gate.admitted >= gate.cap(self.config.per_endpoint))
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Room for one attempt to `endpoint_id`: a node-wide permit, and a place among the
    /// endpoint's admitted attempts, if both are free now (else which was not).
    fn admit(self: &Arc<Self>, endpoint_id: &str, payload_bytes: usize) -> Result<Room, Refusal> {
        let Ok(permit) = self.permits.clone().try_acquire_owned() else {
            return Err(Refusal::Node);
        };
        let Ok(memory) = self
            .memory
            .clone()
            .try_acquire_many_owned(memory_units(payload_bytes))
        else {
            return Err(Refusal::Node);
        };
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        let gate = in_flight
            .entry(endpoint_id.to_string())
            .or_insert_with(|| EndpointGate {
                slots: Arc::new(Semaphore::new(self.config.per_endpoint)),
                admitted: 0,
                pace_ms: SLOW_PACE_MS,
            });
        if gate.admitted >= gate.cap(self.config.per_endpoint) {
            return Err(Refusal::Endpoint);
        }
        gate.admitted += 1;
        let share = EndpointShare {
            worker: self.clone(),
            endpoint_id: endpoint_id.to_string(),
            slots: gate.slots.clone(),
            took: None,
        };
        Ok(Room {
            permit,
            memory,
            share,
        })
    }

    /// Runs the attempt of `claim` in its own task, in `room`, once the endpoint has a
    /// free slot. One that waits longer than half its lease (so it cannot outlive it),
    /// or past the start of shutdown, is put back in the queue unsent.
    fn start(self: &Arc<Self>, claim: Claim, room: Room) {
        let this = self.clone();
        tokio::spawn(async move {
            let Room {
                permit,
                memory,
                share,
            } = room;
            // The endpoint's slot first, then one of the node's: a delivery waits its turn
            // at its endpoint without holding a request another endpoint could send.
            let slots = async {
                let slot = share.slots.clone().acquire_owned().await.ok()?;
                let node = this.sending.clone().acquire_owned().await.ok()?;
                Some((slot, node))
            };
            let slot = tokio::select! {
                slot = tokio::time::timeout(this.config.lease / 2, slots) => slot.ok().flatten(),
                _ = this.shutdown.cancelled() => None,
            };
            match slot {
                Some((slot, node)) => {
                    this.deliver(
                        claim,
                        EndpointSlot {
                            _slot: slot,
                            _node: node,
                            share,
                        },
                    )
                    .await
                }
                None => {
                    if let Err(e) = this.store.defer(&claim, now_ms(), claim.holds_slot).await {
                        tracing::warn!(error = %e, "putting back a delivery that waited for its endpoint failed; its lease will run out");
                    }
                    // It is due now, for whoever has room.
                    this.wake.notify_one();
                }
            }
            drop((permit, memory));
            // A freed permit may be able to take work that was left waiting.
            this.wake_if_starved();
        });
    }

    /// One attempt, in a span carrying the message id, endpoint id and attempt number
    /// (the claim already counts this attempt: 1 for the first), so every log line of
    /// the attempt names them.
    #[tracing::instrument(
        name = "delivery_attempt",
        skip_all,
        fields(
            msg_id = %claim.message.id,
            endpoint_id = %claim.endpoint.id,
            attempt_number = claim.attempts_made,
        )
    )]
    async fn deliver(&self, claim: Claim, mut slot: EndpointSlot) {
        let started = now_ms();
        if let Some(until) = self.throttle_slot(&claim, started).await {
            // Over the endpoint's throttleRate: back in the queue holding its slot, not
            // sent, not counted. If this fails the lease runs out and it comes back anyway.
            if let Err(e) = self.store.defer(&claim, until, true).await {
                tracing::warn!(error = %e, "deferring a throttled delivery failed");
            }
            // The claim loop must sleep no longer than until its slot.
            self.wake.notify_one();
            return;
        }
        let in_flight = crate::metrics::InFlight::start();
        // An endpoint disabled after the message was queued gets no request: the
        // delivery fails at once with a visible reason and can be resent once re-enabled.
        let result = if claim.endpoint.disabled {
            AttemptResult {
                status_code: 0,
                response: "endpoint is disabled".into(),
                duration: Duration::ZERO,
                retry_after: None,
            }
        } else {
            self.sender
                .attempt(&claim.endpoint, &claim.message, started)
                .await
        };
        let finished = now_ms();
        // The request is over: the endpoint may take the next one while this is recorded.
        slot.share.took = Some(result.duration);
        drop(slot);
        let outcome = self.outcome(&claim, &result, finished);
        drop(in_flight);
        crate::metrics::attempt(
            &claim.endpoint.id,
            result.status_code,
            outcome,
            result.duration,
            Some(Duration::from_millis(
                finished.saturating_sub(claim.message.created_at).max(0) as u64,
            )),
        );
        let attempt = Attempt {
            id: ids::new_id(ids::ATTEMPT, finished),
            msg_id: claim.message.id.clone(),
            endpoint_id: claim.endpoint.id.clone(),
            url: claim.endpoint.url.clone(),
            status: if outcome.is_success() {
                DeliveryStatus::Success
            } else {
                DeliveryStatus::Fail
            },
            response_status_code: i64::from(result.status_code),
            response: result.response,
            response_duration_ms: result.duration.as_millis() as i64,
            trigger_type: if claim.manual {
                TriggerType::Manual
            } else {
                TriggerType::Scheduled
            },
            created_at: finished,
        };
        // A success logs at debug: at thousands of attempts a second the line would cost
        // more than the attempt's bookkeeping, and every attempt is in the attempts table.
        // A failure is news, at info.
        macro_rules! log_attempt {
            ($level:ident) => {
                tracing::$level!(
                    msg_id = %attempt.msg_id,
                    endpoint_id = %attempt.endpoint_id,
                    attempt = claim.attempts_made,
                    status = attempt.response_status_code,
                    duration_ms = attempt.response_duration_ms,
                    ?outcome,
                    "delivery attempt"
                )
            };
        }
        if outcome.is_success() {
            log_attempt!(debug);
        } else {
            log_attempt!(info);
        }
        let recorded = self.record(&claim, &attempt, outcome).await;
        if !outcome.is_success() {
            // A retry may now be due before the claim loop means to look again.
            self.wake.notify_one();
        }
        if recorded
            && !outcome.is_success()
            && !claim.endpoint.disabled
            && operational::should_disable(
                claim.endpoint.failing_since,
                finished,
                self.config.disable_after.as_millis() as i64,
            )
        {
            self.disable(&claim, finished).await;
        }
    }

    /// When a delivery to a throttled endpoint may go, if not now. The endpoint's next
    /// free slot lives in the database, so every node paces against the same clock; a
    /// delivery put back for its slot goes when it comes back.
    async fn throttle_slot(&self, claim: &Claim, now: Millis) -> Option<Millis> {
        let rate = claim.endpoint.throttle_rate.filter(|r| *r > 0)?;
        if claim.holds_slot || claim.endpoint.disabled {
            return None;
        }
        let interval_us = 1_000_000 / i64::from(rate);
        match self
            .store
            .reserve_throttle_slot(&claim.endpoint.id, interval_us, now * 1000)
            .await
        {
            Ok(slot_us) if slot_us > now * 1000 => Some((slot_us + 999) / 1000),
            Ok(_) => None,
            Err(e) => {
                // Better late than never: wait one interval and ask again.
                tracing::warn!(error = %e, "reserving a throttle slot failed");
                Some(now + interval_us / 1000 + 1)
            }
        }
    }

    /// What happens next: success, a retry by the schedule (or later, when the receiver
    /// asked with `Retry-After`), or fail.
    fn outcome(&self, claim: &Claim, result: &AttemptResult, finished: Millis) -> Outcome {
        if result.is_success() {
            return Outcome::Success;
        }
        if claim.manual || claim.endpoint.disabled {
            return Outcome::Fail;
        }
        match self.config.schedule.next_delay(claim.attempts_made) {
            Some(d) => Outcome::RetryAt(
                finished + retry::honour_retry_after(d, result.retry_after).as_millis() as Millis,
            ),
            None => Outcome::Fail,
        }
    }

    /// Records the attempt; returns whether it was recorded under our lease.
    async fn record(&self, claim: &Claim, attempt: &Attempt, outcome: Outcome) -> bool {
        // Recording can fail while the database is away; keep trying, since the
        // attempt happened. If the lease is lost meanwhile, the row is redelivered.
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.store.complete(claim, attempt, outcome).await {
                Ok(recorded) => {
                    if !recorded {
                        tracing::warn!(msg_id = %attempt.msg_id, "lease lost before the attempt was recorded; it will be retried");
                    }
                    return recorded;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "recording an attempt failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    /// Disables an endpoint that failed for `ENDPOINT_DISABLE_AFTER` and tells the
    /// operational-webhook endpoints, if that application exists.
    async fn disable(&self, claim: &Claim, now: Millis) {
        let ep = &claim.endpoint;
        let result: Result<(), skyhook_store::StoreError> = async {
            if !self.store.disable_endpoint(&ep.id, now).await? {
                return Ok(()); // another worker got there first
            }
            tracing::warn!(endpoint_id = %ep.id, failing_since = ?ep.failing_since, "endpoint disabled after failing for ENDPOINT_DISABLE_AFTER");
            let (Some(ops), Some(app)) = (
                self.store.get_app(operational::OPERATIONAL_APP_UID).await?,
                self.store.get_app(&ep.app_id).await?,
            ) else {
                return Ok(());
            };
            let msg = operational::endpoint_disabled(&ops, &app, ep, now);
            if self.store.create_message(&msg).await? > 0 {
                self.wake.notify_one();
            }
            Ok(())
        }
        .await;
        if let Err(e) = result {
            tracing::error!(error = %e, endpoint_id = %ep.id, "disabling a failing endpoint failed");
        }
    }
}

/// What an admitted attempt holds: a node-wide permit until it is recorded, its place
/// among the endpoint's admitted attempts until its request is over.
struct Room {
    permit: OwnedSemaphorePermit,
    /// Its share of the node's memory budget (see [`memory_units`]).
    memory: OwnedSemaphorePermit,
    share: EndpointShare,
}

/// The worker's [`Admission`] for the store's handoff. Weak: the store must not keep
/// the worker alive.
/// Nothing is admitted once shutdown began: a delivery handed to a stopping worker
/// would wait for its lease to run out after the restart instead of going at once.
struct Admit {
    worker: Weak<Worker>,
    shutdown: CancellationToken,
}

impl Admission for Admit {
    fn admit(&self, endpoint_id: &str, payload_bytes: usize) -> Result<Ticket, Refusal> {
        if self.shutdown.is_cancelled() {
            return Err(Refusal::Stopping);
        }
        let worker = self.worker.upgrade().ok_or(Refusal::Stopping)?;
        let room = worker.admit(endpoint_id, payload_bytes)?;
        Ok(Box::new(room))
    }

    fn refused(&self, refusal: Refusal) {
        crate::metrics::refused(refusal);
    }
}

/// One admitted attempt to an endpoint; dropping it makes room for another and wakes the
/// claim loop.
struct EndpointShare {
    worker: Arc<Worker>,
    endpoint_id: String,
    slots: Arc<Semaphore>,
    /// How long its request took, if one was sent: counted into the endpoint's pace
    /// when the share is given back, under the same lock.
    took: Option<Duration>,
}

impl Drop for EndpointShare {
    fn drop(&mut self) {
        let mut in_flight = self
            .worker
            .in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(gate) = in_flight.get_mut(&self.endpoint_id) {
            if let Some(took) = self.took {
                gate.pace(took);
            }
            gate.admitted -= 1;
            if gate.admitted == 0 {
                in_flight.remove(&self.endpoint_id);
            }
        }
        drop(in_flight);
        self.worker.wake_if_starved();
    }
}

/// One of an endpoint's `per_endpoint` request slots on this node, held while its
/// request is in flight (the slot is freed before the share: fields drop in order).
struct EndpointSlot {
    _slot: OwnedSemaphorePermit,
    /// One of the node's requests in flight.
    _node: OwnedSemaphorePermit,
    share: EndpointShare,
}

fn sleep_until(next_due: Option<Millis>, now: Millis, max: Duration) -> Duration {
    match next_due {
        Some(t) if t <= now => Duration::ZERO,
        Some(t) => Duration::from_millis((t - now) as u64).min(max),
        None => max,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate() -> EndpointGate {
        EndpointGate {
            slots: Arc::new(Semaphore::new(32)),
            admitted: 0,
            pace_ms: SLOW_PACE_MS,
        }
    }

    #[test]
    fn an_endpoints_waiting_room_holds_about_a_second_of_its_answers() {
        assert_eq!(
            gate().cap(32),
            64,
            "a new endpoint: as many places as slots"
        );
        assert_eq!(
            waiting_room(32, 2_000.0),
            32,
            "never below one slot's worth"
        );
        assert_eq!(waiting_room(32, 100.0), 320);
        assert_eq!(waiting_room(32, 0.2), 32 * MAX_WAITING_SLOTS);
        let mut fast = gate();
        for _ in 0..30 {
            fast.pace(Duration::from_millis(1));
        }
        assert_eq!(fast.cap(32), 32 + 32 * MAX_WAITING_SLOTS);
        let mut slowed = fast;
        for _ in 0..30 {
            slowed.pace(Duration::from_secs(2));
        }
        assert_eq!(slowed.cap(32), 64, "a slow endpoint gets its floor back");
    }

    #[test]
    fn the_memory_budget_counts_payloads_and_takes_any_payload_whole() {
        assert_eq!(memory_units(0), 2);
        assert_eq!(memory_units(256), 2);
        assert_eq!(memory_units(1024 * 1024), 1026);
        assert_eq!(memory_units(usize::MAX), MEMORY_BUDGET_KIB as u32);
        // A budget of 64 MiB holds at least 63 of the largest default payloads.
        assert!(MEMORY_BUDGET_KIB / memory_units(1024 * 1024) as usize >= 63);
    }

    #[test]
    fn sleeps_until_the_next_due_row_within_the_cap() {
        let max = Duration::from_secs(30);
        assert_eq!(sleep_until(None, 1_000, max), max);
        assert_eq!(sleep_until(Some(900), 1_000, max), Duration::ZERO);
        assert_eq!(
            sleep_until(Some(1_250), 1_000, max),
            Duration::from_millis(250)
        );
        assert_eq!(sleep_until(Some(1_000_000), 1_000, max), max);
    }
}
