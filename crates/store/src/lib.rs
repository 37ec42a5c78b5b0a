//! The storage boundary: everything Skyhook keeps, behind one trait that SQLite and
//! PostgreSQL both implement.
//!
//! The delivery queue is part of the store, not beside it: a delivery row is the state
//! of one message for one endpoint, and workers *claim* due rows with a lease (a
//! visibility timeout plus a fencing token) instead of holding in-memory locks, so
//! several worker processes can share one database and a crashed worker's rows simply
//! become due again when the lease runs out.
//!
//! Shared by both stores: [`group`], the group commit of the hot writes, and
//! [`handoff`], new deliveries leased to the local worker as they are created.
#![deny(missing_docs)]

use async_trait::async_trait;
use skyhook_domain::clock::Millis;
use skyhook_domain::model::{
    Application, Attempt, Destination, Endpoint, EndpointStats, EventType, Message,
};

pub mod group;
pub mod handoff;
mod page;
mod queue;
mod quotations;
pub mod rows;
pub use page::{Keyset, keyset};
pub use queue::{Claim, LATE_MS, Outcome, RESCAN_MS, SkipBusy, new_lease};
pub use quotations::QuotationStore;

/// Unfinished deliveries by state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueDepth {
    /// Pending and due now (the backlog).
    pub due: i64,
    /// Pending and due later (retries waiting for their time).
    pub scheduled: i64,
    /// Leased by a worker: an attempt is running (or its worker died and the lease
    /// has yet to run out).
    pub sending: i64,
}

/// Errors of the storage layer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was broken; the text names it.
    #[error("conflict: {0}")]
    Conflict(String),
    /// A record this write refers to is gone (deleted concurrently); the text names it.
    #[error("not found: {0}")]
    NotFound(String),
    /// The database cannot be reached right now.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Anything else the database reported.
    #[error("database error: {0}")]
    Internal(String),
}

/// Result of a store call.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Where a list page starts and which way it runs.
#[derive(Debug, Clone, Default)]
pub struct Page {
    /// Rows per page (the API bounds it).
    pub limit: u32,
    /// Return rows after this key in the list's order (exclusive).
    pub after: Option<String>,
    /// Return the rows just *before* this key instead, still in the list's order.
    pub before: Option<String>,
    /// Newest first.
    pub descending: bool,
}

/// Filters for message lists.
#[derive(Debug, Clone, Default)]
pub struct MessageFilter {
    /// Only these event types (any, when empty).
    pub event_types: Vec<String>,
    /// Only messages on this channel.
    pub channel: Option<String>,
    /// Created strictly before.
    pub before: Option<Millis>,
    /// Created strictly after.
    pub after: Option<Millis>,
}

/// Filters for attempt lists.
#[derive(Debug, Clone, Default)]
pub struct AttemptFilter {
    /// Only attempts with this status code (0 success, 2 fail).
    pub status: Option<i64>,
    /// Only attempts for this endpoint (message-scoped lists).
    pub endpoint_id: Option<String>,
}

/// The scope of an API token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenScope {
    /// Every application.
    Admin,
    /// One application.
    App(String),
}

/// What an `idempotency-key` finds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyState {
    /// Free: this request now holds it.
    Fresh,
    /// Answered before: replay this.
    Replay(IdempotentResponse),
    /// Another request with this key is running.
    InProgress,
}

/// How long a claim on an idempotency key may stay unanswered before it is taken as
/// abandoned (its request's node died).
pub const IDEMPOTENCY_CLAIM_MS: Millis = 60_000;

/// A stored API response replayed for a repeated `idempotency-key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotentResponse {
    /// HTTP status.
    pub status: u16,
    /// JSON body.
    pub body: String,
}

/// Everything Skyhook keeps. Lookups by "id or uid" accept either form, as Svix does.
#[async_trait]
pub trait Store: QuotationStore + Send + Sync + 'static {
    /// Stores a token by its hash.
    async fn create_token(&self, hash: &str, scope: &TokenScope) -> Result<()>;
    /// The scope of the token with this hash.
    async fn find_token(&self, hash: &str) -> Result<Option<TokenScope>>;
    /// Whether any admin token exists (the first start generates one).
    async fn has_admin_token(&self) -> Result<bool>;

    /// Creates an application; `Conflict` when its uid is taken.
    async fn create_app(&self, app: &Application) -> Result<()>;
    /// An application by id or uid.
    async fn get_app(&self, id_or_uid: &str) -> Result<Option<Application>>;
    /// Applications in id order; `only` restricts to one id (application tokens).
    async fn list_apps(&self, page: &Page, only: Option<&str>) -> Result<Vec<Application>>;
    /// Replaces an application's fields; `Conflict` when the new uid is taken.
    async fn update_app(&self, app: &Application) -> Result<()>;
    /// Deletes an application with its endpoints, messages, deliveries and attempts.
    async fn delete_app(&self, id: &str) -> Result<()>;

    /// Creates an event type; `Conflict` when the name exists.
    async fn create_event_type(&self, et: &EventType) -> Result<()>;
    /// An event type by name.
    async fn get_event_type(&self, name: &str) -> Result<Option<EventType>>;
    /// Event types in name order.
    async fn list_event_types(&self, page: &Page, include_archived: bool)
    -> Result<Vec<EventType>>;
    /// Replaces an event type's fields.
    async fn update_event_type(&self, et: &EventType) -> Result<()>;
    /// Deletes an event type.
    async fn delete_event_type(&self, name: &str) -> Result<()>;
    /// The names among `names` that are not (unarchived) event types.
    async fn missing_event_types(&self, names: &[String]) -> Result<Vec<String>>;

    /// Creates an endpoint; `Conflict` when its uid is taken in the application.
    async fn create_endpoint(&self, ep: &Endpoint) -> Result<()>;
    /// An endpoint of `app_id` by id or uid.
    async fn get_endpoint(&self, app_id: &str, id_or_uid: &str) -> Result<Option<Endpoint>>;
    /// Endpoints of an application in id order.
    async fn list_endpoints(&self, app_id: &str, page: &Page) -> Result<Vec<Endpoint>>;
    /// Replaces an endpoint's fields (including secrets and headers).
    async fn update_endpoint(&self, ep: &Endpoint) -> Result<()>;
    /// Deletes an endpoint and its pending deliveries.
    async fn delete_endpoint(&self, app_id: &str, id: &str) -> Result<()>;
    /// Counts of an endpoint's deliveries by status.
    async fn endpoint_stats(&self, endpoint_id: &str) -> Result<EndpointStats>;

    /// Commits `msg` and one due delivery per endpoint of its application that accepts
    /// it ([`skyhook_domain::routing::accepts`]), atomically, and returns how many
    /// deliveries were queued. `Conflict` when its `event_id` was used in the application.
    async fn create_message(&self, msg: &Message) -> Result<usize>;
    /// A message of `app_id` by id or event id.
    async fn get_message(&self, app_id: &str, id_or_event_id: &str) -> Result<Option<Message>>;
    /// Messages of an application, newest first unless the page says otherwise.
    async fn list_messages(
        &self,
        app_id: &str,
        filter: &MessageFilter,
        page: &Page,
    ) -> Result<Vec<Message>>;
    /// The endpoints a message was queued for, with its status at each.
    async fn list_destinations(&self, msg_id: &str, page: &Page) -> Result<Vec<Destination>>;
    /// The messages queued for an endpoint, with their status there.
    async fn list_endpoint_messages(
        &self,
        endpoint_id: &str,
        status: Option<i64>,
        page: &Page,
    ) -> Result<Vec<(Message, Destination)>>;

    /// Attempts of one message.
    async fn list_attempts_for_message(
        &self,
        msg_id: &str,
        filter: &AttemptFilter,
        page: &Page,
    ) -> Result<Vec<Attempt>>;
    /// Attempts at one endpoint.
    async fn list_attempts_for_endpoint(
        &self,
        endpoint_id: &str,
        filter: &AttemptFilter,
        page: &Page,
    ) -> Result<Vec<Attempt>>;
    /// One attempt of a message.
    async fn get_attempt(&self, msg_id: &str, attempt_id: &str) -> Result<Option<Attempt>>;

    /// Queues one manual attempt of `msg_id` to `endpoint_id`, due now, whatever the
    /// delivery's state (a new delivery row when the endpoint never had one).
    async fn resend(&self, msg_id: &str, endpoint_id: &str, now: Millis) -> Result<()>;
    /// Queues a manual attempt for every failed delivery of the endpoint whose message was
    /// created in `[since, until)`; returns how many.
    async fn recover(
        &self,
        endpoint_id: &str,
        since: Millis,
        until: Millis,
        now: Millis,
    ) -> Result<u64>;

    /// Leases up to `limit` due deliveries for `lease_ms`: each becomes `Sending` and
    /// invisible to other claimers until it is completed or the lease runs out.
    /// Deliveries to `busy_endpoints` (at their in-flight cap in this worker) are
    /// skipped, so one slow endpoint cannot fill every slot.
    async fn claim_due(
        &self,
        now: Millis,
        limit: u32,
        lease_ms: i64,
        busy_endpoints: &[String],
    ) -> Result<Vec<Claim>>;
    /// Records an attempt and moves the delivery on, only if `claim` still holds the
    /// lease (fencing); returns whether it did. Also keeps the endpoint's health: a
    /// success clears its `failing_since`, a failure sets it when unset (enabled
    /// endpoints only).
    async fn complete(&self, claim: &Claim, attempt: &Attempt, outcome: Outcome) -> Result<bool>;
    /// Puts a claimed delivery back, due at `until`, without an attempt and without
    /// counting one (rate limiting, endpoint caps); fenced like [`Store::complete`].
    /// `holds_slot`: it waits for a throttle slot it reserved.
    async fn defer(&self, claim: &Claim, until: Millis, holds_slot: bool) -> Result<bool>;
    /// Takes the endpoint's next free send slot for a rate of one per `interval_us`,
    /// atomically across nodes; returns the slot (microseconds since the epoch).
    async fn reserve_throttle_slot(
        &self,
        endpoint_id: &str,
        interval_us: i64,
        now_us: i64,
    ) -> Result<i64>;
    /// Disables an enabled endpoint; returns whether this call disabled it (so that one
    /// node alone reports it).
    async fn disable_endpoint(&self, endpoint_id: &str, now: Millis) -> Result<bool>;
    /// When the earliest pending delivery is due, if any.
    async fn next_due(&self) -> Result<Option<Millis>>;
    /// The deliveries still queued, by state (the `skyhook_queue_depth` metric);
    /// `None` from a store that cannot tell (the default).
    async fn queue_depth(&self, now: Millis) -> Result<Option<QueueDepth>> {
        let _ = now;
        Ok(None)
    }

    /// Claims an idempotency key for a request about to run, atomically across nodes:
    /// `Fresh` when the key is free (an answer older than `since`, or a claim left by a
    /// crashed request for over a minute, is dropped), `Replay` with the kept answer, or
    /// `InProgress` while another request holds it.
    async fn begin_idempotent(
        &self,
        key: &str,
        now: Millis,
        since: Millis,
    ) -> Result<IdempotencyState>;
    /// Releases a claim whose request did not succeed, so the key can be used again.
    async fn forget_idempotent(&self, key: &str) -> Result<()>;
    /// Stores a response for an idempotency key.
    async fn put_idempotent(&self, key: &str, resp: &IdempotentResponse, now: Millis)
    -> Result<()>;

    /// Wakes `wake` whenever any node (this one or another sharing the database) makes
    /// work due, so an idle worker starts at once instead of at its next poll. The
    /// default does nothing: a single-process store is woken by the API directly.
    /// Implementations run in the background until [`Store::close`], and notify once
    /// after every reconnect, since wake-ups may have been lost meanwhile.
    fn watch_for_work(&self, wake: std::sync::Arc<tokio::sync::Notify>) {
        let _ = wake;
    }

    /// Hands new deliveries to this process's worker, leased as they are created (see
    /// [`handoff`]). The default ignores it: every delivery is claimed.
    fn set_handoff(&self, handoff: handoff::Handoff) {
        let _ = handoff;
    }

    /// Closes connections, waiting for running statements (clean shutdown).
    async fn close(&self);
}
