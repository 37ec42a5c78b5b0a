//! Group commit of the hot writes, for both stores.
//!
//! Accepting a message and recording an attempt are the writes every delivery makes.
//! Done one transaction each, their commits (SQLite's single writer, PostgreSQL's WAL
//! flush) are the limit. Instead, every caller queues its write here and awaits the
//! answer; a task takes everything waiting (up to [`MAX_BATCH`]) and hands it to the
//! store, which applies it in one transaction with multi-row statements. Alone, a write
//! goes through at once; under load, one commit carries hundreds. Above about 6,000
//! writes a second, while the writer is in commits less than 80% of the time, a batch of
//! fewer than 48 waits up to a millisecond (two, by tokio's timer) for more: each
//! commit has a fixed cost that small batches pay again and again. Below half that
//! rate, attempt records without a message wait up to 5 ms for one to share its commit
//! (nobody but their worker waits on them).
//!
//! Metrics (the `metrics` facade; `/metrics` when the binary installs the recorder):
//! `skyhook_group_commit_writes` (writes per batch), `skyhook_group_commit_seconds`
//! (one batch's transaction) and `skyhook_group_commit_wait_seconds` (how long a batch's
//! first write waited before its batch began: for the batch before it, and for company,
//! a message's or more writes').

use std::collections::HashMap;
use std::future::Future;
use std::time::{Duration, Instant};

use skyhook_domain::clock::Millis;
use skyhook_domain::model::{Attempt, DeliveryStatus, Endpoint, Message};
use skyhook_domain::routing;
use tokio::sync::{mpsc, oneshot};

use crate::handoff::{Handed, Handoff, Refusal, Ticket};
use crate::{Claim, Outcome, Result, StoreError};

/// Most writes applied in one transaction.
pub const MAX_BATCH: usize = 512;

/// A recorded attempt: the fence of the claim it ends, the attempt row, what happens
/// next.
pub type Completion = (Fence, Attempt, Outcome);

/// What recording an attempt needs of its claim: the delivery, and the lease that must
/// still hold it. Not the whole claim, whose message and endpoint were copied for every
/// attempt recorded only to be left unread.
#[derive(Debug, Clone)]
pub struct Fence {
    /// Delivery row id.
    pub delivery_id: i64,
    /// The claim's lease.
    pub lease: String,
}

/// What a store's batch function answers: per message the number of deliveries queued
/// (or its own error, e.g. a taken `eventId`), per completion whether its lease still held.
pub type Applied = (Vec<Result<usize>>, Vec<bool>);

/// Below this many writes a second (3,000 messages and their attempts), a message never
/// waits for others to join its batch: at such rates latency comes first.
const LINGER_RATE: f64 = 6_000.0;
/// Above it, a batch smaller than [`LINGER_BATCH`] waits up to this long for more
/// writes (tokio's timer ticks in milliseconds, so up to about twice that)...
const LINGER_MAX: Duration = Duration::from_millis(1);
/// ...or until it holds this many.
const LINGER_BATCH: usize = 48;
/// But only while the writer is in commits for less than this share of the time: a
/// busy writer (a slow machine, or a rate near its limit) needs every moment, and its
/// batches grow by themselves.
const LINGER_BUSY: f64 = 0.8;
/// The longest attempt records wait for a message to carry them (see [`ride_along`]).
const RIDE_MAX: Duration = Duration::from_millis(5);
/// Below this many writes a second (1,500 messages and their attempts) they wait. Where
/// clients send in bursts (`e2e`, 50 clients), a batch of records taken between two of
/// messages waited for the first message of the next burst and committed with it alone,
/// leaving the rest of the burst to one more commit (`e2e` on SQLite without a limit:
/// -5% by the median of 10 pairs). At modest rates messages come one at a time.
const RIDE_RATE: f64 = 3_000.0;

/// The rate of writes and the writer's load, to decide whether a small batch waits for
/// company. A commit costs about twenty WAL pages, an `fsync` and a dozen thread
/// wake-ups whatever its size, so at 5,500 messages a second batches of a few writes
/// spent a fifth of the server's CPU on commits (docs/BENCHMARKS.md, session 11).
#[derive(Debug, Default)]
struct Pace {
    /// When the last batch was taken.
    last: Option<Instant>,
    /// Writes a second, a moving average over batches.
    per_s: f64,
    /// The share of the time spent in commits, a moving average over batches.
    busy: f64,
}

impl Pace {
    /// Counts a batch of `writes` taken at `now` whose commit took `took`.
    fn batch(&mut self, now: Instant, writes: usize, took: Duration) {
        if let Some(last) = self.last.replace(now) {
            let secs = now.duration_since(last).as_secs_f64().max(1e-6);
            self.per_s = 0.8 * self.per_s + 0.2 * (writes as f64 / secs);
            self.busy = 0.8 * self.busy + 0.2 * (took.as_secs_f64() / secs).min(1.0);
        }
    }

    /// Whether attempt records alone wait for a message (see [`ride_along`]): only
    /// below [`RIDE_RATE`].
    fn rides(&self) -> bool {
        self.per_s < RIDE_RATE
    }

    /// How long a batch holding `have` writes waits for more, if at all: as long as the
    /// current rate takes to bring it to [`LINGER_BATCH`], at most [`LINGER_MAX`].
    fn linger(&self, have: usize) -> Option<Duration> {
        if self.per_s < LINGER_RATE || self.busy >= LINGER_BUSY || have >= LINGER_BATCH {
            return None;
        }
        let fill = (LINGER_BATCH - have) as f64 / self.per_s;
        Some(LINGER_MAX.min(Duration::from_secs_f64(fill)))
    }
}

/// A write waiting for the group commit.
enum Op {
    Message(Message, oneshot::Sender<Result<usize>>),
    Complete(Box<Completion>, oneshot::Sender<Result<bool>>),
}

/// A write with the moment it was queued.
type Queued = (Instant, Op);

/// The queue of a running group commit.
#[derive(Clone)]
pub struct GroupCommit {
    ops: mpsc::Sender<Queued>,
}

impl GroupCommit {
    /// Starts the task. `apply` runs one batch in one transaction, one batch at a time:
    /// what arrives meanwhile forms the next batch. (On PostgreSQL, more batches at once
    /// measured slower: smaller batches, more commits; 4 at a time cost 10-25 %.)
    pub fn spawn<F, Fut>(apply: F) -> Self
    where
        F: Fn(Vec<Message>, Vec<Completion>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Applied>> + Send + 'static,
    {
        let (tx, mut rx) = mpsc::channel::<Queued>(4 * MAX_BATCH);
        tokio::spawn(async move {
            let mut pace = Pace::default();
            while let Some((queued_at, first)) = rx.recv().await {
                let mut ops = vec![first];
                take_queued(&mut ops, &mut rx);
                // At modest rates attempt records alone wait a moment for a message to
                // share its commit.
                if pace.rides() && ops.iter().all(|op| matches!(op, Op::Complete(..))) {
                    ride_along(&mut ops, &mut rx).await;
                }
                // Under load a small batch waits a moment for more (see `Pace`).
                if let Some(linger) = pace.linger(ops.len()) {
                    gather(&mut ops, &mut rx, linger, |_| false).await;
                }
                let started = Instant::now();
                metrics::histogram!("skyhook_group_commit_wait_seconds")
                    .record(started.duration_since(queued_at).as_secs_f64());
                let writes = ops.len();
                metrics::histogram!("skyhook_group_commit_writes").record(writes as f64);
                run(ops, &apply).await;
                let took = started.elapsed();
                metrics::histogram!("skyhook_group_commit_seconds").record(took.as_secs_f64());
                pace.batch(started, writes, took);
            }
        });
        Self { ops: tx }
    }

    /// Accepts `msg` with its deliveries; the number of deliveries queued.
    pub async fn create_message(&self, msg: &Message) -> Result<usize> {
        let (reply, answer) = oneshot::channel();
        self.send(Op::Message(msg.clone(), reply)).await?;
        answer.await.map_err(closed)?
    }

    /// Records an attempt, fenced by the claim's lease; whether the lease still held.
    pub async fn complete(
        &self,
        claim: &Claim,
        attempt: &Attempt,
        outcome: Outcome,
    ) -> Result<bool> {
        let (reply, answer) = oneshot::channel();
        let fence = Fence {
            delivery_id: claim.delivery_id,
            lease: claim.lease.clone(),
        };
        let op = Op::Complete(Box::new((fence, attempt.clone(), outcome)), reply);
        self.send(op).await?;
        answer.await.map_err(closed)?
    }

    async fn send(&self, op: Op) -> Result<()> {
        self.ops.send((Instant::now(), op)).await.map_err(closed)
    }
}

/// Waits up to [`RIDE_MAX`] for a message to join `ops`, attempt records only (or until
/// they are [`LINGER_BATCH`]), then takes whatever else is queued. Nobody waits on an
/// attempt record but its own worker task, and a crash before its commit only repeats
/// the delivery (its lease runs out), so it need not pay a commit of its own: at modest
/// rates every message and every attempt was a commit, and at 1,000 messages a second
/// those commits were most of the server's CPU. Messages never wait here: a client is
/// waiting on them.
async fn ride_along(ops: &mut Vec<Op>, rx: &mut mpsc::Receiver<Queued>) {
    if gather(ops, rx, RIDE_MAX, |op| matches!(op, Op::Message(..))).await {
        take_queued(ops, rx);
    }
}

/// Adds what is queued now to `ops`, up to [`MAX_BATCH`].
fn take_queued(ops: &mut Vec<Op>, rx: &mut mpsc::Receiver<Queued>) {
    while ops.len() < MAX_BATCH {
        match rx.try_recv() {
            Ok((_, op)) => ops.push(op),
            Err(_) => break,
        }
    }
}

/// Adds what arrives within `wait` to `ops` until they are [`LINGER_BATCH`] or an op
/// `ends` the wait; whether the wait ended before its time.
async fn gather(
    ops: &mut Vec<Op>,
    rx: &mut mpsc::Receiver<Queued>,
    wait: Duration,
    ends: impl Fn(&Op) -> bool,
) -> bool {
    let until = tokio::time::Instant::now() + wait;
    while ops.len() < LINGER_BATCH {
        match tokio::time::timeout_at(until, rx.recv()).await {
            Ok(Some((_, op))) => {
                let end = ends(&op);
                ops.push(op);
                if end {
                    return true;
                }
            }
            _ => return false,
        }
    }
    true
}

async fn run<F, Fut>(ops: Vec<Op>, apply: &F)
where
    F: Fn(Vec<Message>, Vec<Completion>) -> Fut,
    Fut: Future<Output = Result<Applied>>,
{
    let mut messages = Vec::new();
    let mut message_replies = Vec::new();
    let mut completes = Vec::new();
    let mut complete_replies = Vec::new();
    for op in ops {
        match op {
            Op::Message(m, reply) => {
                messages.push(m);
                message_replies.push(reply);
            }
            Op::Complete(c, reply) => {
                completes.push(*c);
                complete_replies.push(reply);
            }
        }
    }
    match apply(messages, completes).await {
        Ok((queued, fenced)) => {
            for (reply, result) in message_replies.into_iter().zip(queued) {
                let _ = reply.send(result);
            }
            for (reply, result) in complete_replies.into_iter().zip(fenced) {
                let _ = reply.send(Ok(result));
            }
        }
        // The transaction failed as a whole: every write in it gets the error (the API
        // answers it, the worker retries recording).
        Err(e) => {
            for reply in message_replies {
                let _ = reply.send(Err(e.clone()));
            }
            for reply in complete_replies {
                let _ = reply.send(Err(e.clone()));
            }
        }
    }
}

fn closed<E>(_: E) -> StoreError {
    StoreError::Unavailable("the store is shutting down".into())
}

/// One delivery of a new message, about to be written by the store's batch.
pub struct NewDelivery<'a> {
    /// The message.
    pub msg: &'a Message,
    /// The endpoint that accepts it.
    pub endpoint: &'a Endpoint,
    /// What the local worker said, if there is one: room (written leased, handed over
    /// after the commit) or why not (written due, to be claimed).
    pub offer: Option<std::result::Result<Ticket, Refusal>>,
}

/// Routes a batch of new messages before they are written: per message its answer
/// (`NotFound` when its application is not a key of `endpoints`, else how many endpoints
/// accept it; [`refuse_skipped`] corrects it once the insert is known), and those
/// deliveries, each offered to `handoff`'s worker.
pub fn route<'a>(
    msgs: &[&'a Message],
    endpoints: &'a HashMap<String, Vec<Endpoint>>,
    handoff: Option<&Handoff>,
) -> (Vec<Result<usize>>, Vec<NewDelivery<'a>>) {
    let mut results = Vec::with_capacity(msgs.len());
    let mut deliveries = Vec::new();
    for &msg in msgs {
        let Some(candidates) = endpoints.get(&msg.app_id) else {
            results.push(Err(StoreError::NotFound(
                "the application was deleted".into(),
            )));
            continue;
        };
        let before = deliveries.len();
        for endpoint in candidates
            .iter()
            .filter(|ep| routing::accepts(ep, &msg.event_type, &msg.channels))
        {
            let offer = handoff.map(|h| h.admission.admit(&endpoint.id, msg.payload.len()));
            deliveries.push(NewDelivery {
                msg,
                endpoint,
                offer,
            });
        }
        results.push(Ok(deliveries.len() - before));
    }
    (results, deliveries)
}

/// Turns the answer of each routed message the insert skipped (its `eventId` taken in
/// its application; `inserted` says which were written) into `Conflict`. The store
/// writes the deliveries in the same statements as the messages, joined to the
/// messages written, so a skipped message has none.
pub fn refuse_skipped(
    msgs: &[&Message],
    answers: &mut [Result<usize>],
    inserted: impl Fn(&str) -> bool,
) {
    for (msg, answer) in msgs.iter().zip(answers.iter_mut()) {
        if answer.is_ok() && !inserted(&msg.id) {
            *answer = Err(StoreError::Conflict(
                "a message with this eventId already exists".into(),
            ));
        }
    }
}

/// The lease a batch gives the deliveries its worker admitted.
pub struct BatchLease {
    /// The fencing token they share.
    pub token: String,
    /// When the batch writes them.
    pub now: Millis,
    /// When the lease runs out, as a claim's would.
    pub until: Millis,
}

impl BatchLease {
    /// A fresh lease for a batch written now.
    pub fn new(handoff: Option<&Handoff>) -> Self {
        let now = skyhook_domain::clock::now_ms();
        Self {
            token: crate::new_lease(),
            now,
            until: now + handoff.map_or(0, |h| h.lease_ms),
        }
    }
}

/// The stored state of a new delivery.
pub struct DeliveryRow<'a> {
    /// Sending when admitted, pending otherwise.
    pub status: DeliveryStatus,
    /// Due now, or when the lease runs out.
    pub run_at: Millis,
    /// Last change.
    pub updated_at: Millis,
    /// The fencing token, when admitted.
    pub lease: Option<&'a str>,
    /// Attempts counted: an admitted delivery's first one is, as a claim counts it.
    pub attempts: i64,
}

impl NewDelivery<'_> {
    /// Its row: leased to the worker under `lease` when admitted, due now otherwise.
    pub fn row<'a>(&self, lease: &'a BatchLease) -> DeliveryRow<'a> {
        if matches!(self.offer, Some(Ok(_))) {
            DeliveryRow {
                status: DeliveryStatus::Sending,
                run_at: lease.until,
                updated_at: lease.now,
                lease: Some(&lease.token),
                attempts: 1,
            }
        } else {
            DeliveryRow {
                status: DeliveryStatus::Pending,
                run_at: self.msg.created_at,
                updated_at: self.msg.created_at,
                lease: None,
                attempts: 0,
            }
        }
    }
}

/// What to hand over once the batch committed: the admitted deliveries as claims, and
/// the refusals of the others, each found by the row id the insert returned for its
/// (message id, endpoint id). A delivery with no row (its message was skipped) is
/// neither: its ticket is dropped, its refusal forgotten.
pub fn handed(
    deliveries: Vec<NewDelivery<'_>>,
    ids: &HashMap<(String, String), i64>,
    lease: &BatchLease,
) -> Handed {
    let mut handed = Handed::default();
    for d in deliveries {
        let Some(offer) = d.offer else { continue };
        let Some(&delivery_id) = ids.get(&(d.msg.id.clone(), d.endpoint.id.clone())) else {
            continue;
        };
        match offer {
            Ok(ticket) => {
                let claim = Claim {
                    delivery_id,
                    lease: lease.token.clone(),
                    // Its first attempt, counted when written, as a claim counts it.
                    attempts_made: 1,
                    manual: false,
                    holds_slot: false,
                    message: d.msg.clone(),
                    endpoint: d.endpoint.clone(),
                };
                handed.claims.push((claim, ticket));
            }
            Err(refusal) => handed.refused.push(refusal),
        }
    }
    handed
}

/// The completion that decides each endpoint's health: its latest in `recorded`. By
/// endpoint id, in id order, so concurrent batches updating the endpoints take their row
/// locks in the same order.
pub fn latest_health<'a>(
    recorded: impl IntoIterator<Item = &'a Completion>,
) -> std::collections::BTreeMap<&'a str, &'a Completion> {
    recorded
        .into_iter()
        .map(|c| (c.1.endpoint_id.as_str(), c))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pace that saw batches of `writes` every `gap`, each committed in `took`.
    fn steady(writes: usize, gap: Duration, took: Duration) -> Pace {
        let mut pace = Pace::default();
        let mut now = Instant::now();
        for _ in 0..50 {
            pace.batch(now, writes, took);
            now += gap;
        }
        pace
    }

    #[test]
    fn at_modest_rates_a_write_never_waits() {
        // 2 writes a millisecond: 1,000 messages a second and their attempts.
        let ms = Duration::from_millis(1);
        let pace = steady(2, ms, ms / 4);
        assert!((pace.per_s - 2_000.0).abs() < 100.0, "{pace:?}");
        assert_eq!(pace.linger(1), None);
        assert_eq!(Pace::default().linger(1), None, "nothing known yet");
        assert!(pace.rides(), "attempt records wait for a message");
    }

    #[test]
    fn under_load_a_small_batch_waits_for_company_but_not_long() {
        // 11 writes every 0.55 ms, each batch committed in 0.2 ms: 20,000 a second.
        let gap = Duration::from_micros(550);
        let pace = steady(11, gap, Duration::from_micros(200));
        assert!((pace.per_s - 20_000.0).abs() < 500.0, "{pace:?}");
        assert_eq!(pace.linger(11), Some(LINGER_MAX), "37 more take 1.85 ms");
        let almost = pace.linger(40).unwrap();
        assert!(
            almost < Duration::from_micros(450),
            "8 more take 0.4 ms: {almost:?}"
        );
        assert_eq!(pace.linger(LINGER_BATCH), None, "full enough");
        assert!(!pace.rides(), "batches fill by themselves");
    }

    /// A group commit whose batches are reported as (messages, attempt records) and
    /// all succeed.
    fn recording() -> (GroupCommit, mpsc::UnboundedReceiver<(usize, usize)>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let group = GroupCommit::spawn(move |messages, completes| {
            let sizes = (messages.len(), completes.len());
            let _ = tx.send(sizes);
            async move { Ok((vec![Ok(1); sizes.0], vec![true; sizes.1])) }
        });
        (group, rx)
    }

    fn message() -> Message {
        Message {
            id: "msg_1".into(),
            app_id: "app_1".into(),
            event_id: None,
            event_type: "a.b".into(),
            payload: "{}".into(),
            channels: Vec::new(),
            tags: Vec::new(),
            created_at: 0,
        }
    }

    /// Queues an attempt record; its answer.
    async fn record(group: &GroupCommit) -> oneshot::Receiver<Result<bool>> {
        let fence = Fence {
            delivery_id: 1,
            lease: "l".into(),
        };
        let attempt = Attempt {
            id: "atmpt_1".into(),
            msg_id: "msg_1".into(),
            endpoint_id: "ep_1".into(),
            url: "https://example.com".into(),
            status: DeliveryStatus::Success,
            response_status_code: 200,
            response: String::new(),
            response_duration_ms: 1,
            trigger_type: skyhook_domain::model::TriggerType::Scheduled,
            created_at: 0,
        };
        let (reply, answer) = oneshot::channel();
        let op = Op::Complete(Box::new((fence, attempt, Outcome::Success)), reply);
        group.send(op).await.unwrap();
        answer
    }

    #[tokio::test(start_paused = true)]
    async fn an_attempt_record_waits_for_a_message_to_share_its_commit() {
        let (group, mut batches) = recording();
        let recorded = record(&group).await;
        // The clock stands still unless every task waits for it: the group's task has
        // taken the record by the time this sleep ends.
        tokio::time::sleep(Duration::from_millis(1)).await;
        group.create_message(&message()).await.unwrap();
        assert_eq!(batches.recv().await, Some((1, 1)), "one commit for both");
        assert!(recorded.await.unwrap().unwrap(), "its lease held");
    }

    #[tokio::test(start_paused = true)]
    async fn an_attempt_record_alone_waits_no_longer_than_ride_max() {
        let (group, mut batches) = recording();
        let started = tokio::time::Instant::now();
        record(&group).await.await.unwrap().unwrap();
        let waited = started.elapsed();
        assert!(waited >= RIDE_MAX && waited < RIDE_MAX * 2, "{waited:?}");
        assert_eq!(batches.recv().await, Some((0, 1)));
    }

    #[tokio::test(start_paused = true)]
    async fn a_message_never_waits_for_company_at_a_modest_rate() {
        let (group, mut batches) = recording();
        let started = tokio::time::Instant::now();
        group.create_message(&message()).await.unwrap();
        assert_eq!(started.elapsed(), Duration::ZERO);
        assert_eq!(batches.recv().await, Some((1, 0)));
    }

    #[test]
    fn a_busy_writer_never_waits() {
        // The same rate, but each commit takes most of the gap.
        let gap = Duration::from_micros(550);
        let pace = steady(11, gap, Duration::from_micros(450));
        assert!(pace.busy > LINGER_BUSY, "{pace:?}");
        assert_eq!(pace.linger(11), None);
    }
}
