//! The SQLite side of the group commit ([`skyhook_store::group`]): one batch of accepted
//! messages and recorded attempts in one transaction, with multi-row statements.
//!
//! Every statement sqlx runs is a round trip to its SQLite thread (50–90 µs on a 2-core
//! box, as much as the statement itself), so a batch sends its statements together: one
//! script from `BEGIN IMMEDIATE` to `COMMIT` with every insert and update. The routes
//! (the messages' applications and their enabled endpoints) are remembered between
//! batches, checked by a guard statement at the head of the script (see [`RouteCache`]);
//! only a batch whose routes are not remembered reads them first, a round trip of its own.
//! The script gives back two rows whatever the batch's size (see `Script::outcome`):
//! sqlx hands result rows from its thread one at a time, a wake-up each.
//!
//! Each statement takes its rows as one JSONB array (read with `jsonb_each`), so its SQL
//! is the same whatever the batch's size: the few scripts there are stay prepared.
//! Statements with one `(?, …)` group per row had to be prepared for nearly every batch
//! under load, which took a third of the SQLite thread's time in `e2e`.

use std::collections::{HashMap, HashSet};

use skyhook_domain::model::{Endpoint, Message};
use skyhook_store::group::{
    Applied, BatchLease, Completion, NewDelivery, handed, latest_health, refuse_skipped, route,
};
use skyhook_store::handoff::{Handed, Handoff};
use skyhook_store::{Result, StoreError};
use sqlx::sqlite::{SqliteArguments, SqliteConnection, SqliteRow};
use sqlx::{Arguments, AssertSqlSafe, Row};
use tokio::sync::MutexGuard;

use crate::jsonb::{self, Cell};
use crate::rows::{self, ENDPOINT_COLS};
use crate::{Slot, Writer, map_err, store::to_json};

/// Applies one group-commit batch in one transaction, then hands the deliveries it
/// leased to the worker.
pub(crate) async fn apply(
    writer: Writer,
    handoff: Option<Handoff>,
    messages: Vec<Message>,
    completes: Vec<Completion>,
) -> Result<Applied> {
    let mut tx = ByHand {
        slot: writer.slot().await?,
        ended: false,
    };
    let Slot { conn, routes, .. } = &mut *tx.slot;
    let conn = conn.as_mut().expect("slot() opens the connection");
    let result = batch(conn, routes, handoff.as_ref(), &messages, &completes).await;
    tx.ended = match &result {
        // The script ended with COMMIT.
        Ok(_) => true,
        // A failed statement (or COMMIT) leaves the transaction open.
        Err(_) => sqlx::query("ROLLBACK").execute(&mut *conn).await.is_ok(),
    };
    drop(tx);
    let (queued, handed, fenced) = result?;
    if let Some(handoff) = handoff {
        handoff.hand_over(handed, &queued);
    }
    Ok((queued, fenced))
}

/// The writer in a transaction begun by hand (sqlx's own transactions send BEGIN and
/// COMMIT as round trips of their own, and roll back only what they began). Dropped
/// before the transaction ended (its ROLLBACK failed, say because BEGIN never ran, or
/// the batch was cancelled, which only a runtime shutting down does), it gives the
/// connection up, which rolls back whatever is open; the next write opens another
/// rather than run inside a transaction nobody ends.
struct ByHand<'a> {
    slot: MutexGuard<'a, Slot>,
    ended: bool,
}

impl Drop for ByHand<'_> {
    fn drop(&mut self) {
        if !self.ended {
            tracing::warn!("a group-commit transaction did not end; reopening the SQLite writer");
            self.slot.conn.take();
        }
    }
}

/// Per message its answer, the deliveries to hand over, per completion whether its
/// lease held.
type Batched = (Vec<Result<usize>>, Handed, Vec<bool>);

async fn batch(
    conn: &mut SqliteConnection,
    cache: &mut RouteCache,
    handoff: Option<&Handoff>,
    messages: &[Message],
    completes: &[Completion],
) -> Result<Batched> {
    let msgs: Vec<&Message> = messages.iter().collect();
    if let Some((routes, version)) = cache.covering(&msgs) {
        let begin = Begin::Guarded(version);
        match write(conn, routes, begin, handoff, &msgs, completes).await? {
            Some((batched, version)) => {
                cache.keep_if(version);
                return Ok(batched);
            }
            // Someone changed an endpoint or deleted an application since: forget, and
            // do the batch again with the routes read afresh.
            None => {
                sqlx::query("ROLLBACK")
                    .execute(&mut *conn)
                    .await
                    .map_err(map_err)?;
                *cache = RouteCache::default();
            }
        }
    }
    let (routes, begin) = if msgs.is_empty() {
        (Routes::default(), Begin::InScript)
    } else {
        let routes = Routes::read(conn, &msgs, "BEGIN IMMEDIATE;").await?;
        (routes, Begin::Done)
    };
    let (batched, version) = write(conn, &routes, begin, handoff, &msgs, completes)
        .await?
        .expect("only a guarded script is aborted as stale");
    cache.remember(routes, version);
    Ok(batched)
}

/// How a batch's script starts its transaction.
enum Begin {
    /// Reading the routes began it.
    Done,
    /// The script begins it.
    InScript,
    /// The script begins it, then aborts unless the routing version is still this.
    Guarded(i64),
}

/// Runs one batch's script; `None` if its guard found the routes changed (the
/// transaction is then still open, with nothing written). Else per message its answer,
/// the deliveries to hand over, the fences, and the routing version at commit.
async fn write(
    conn: &mut SqliteConnection,
    routes: &Routes,
    begin: Begin,
    handoff: Option<&Handoff>,
    msgs: &[&Message],
    completes: &[Completion],
) -> Result<Option<(Batched, i64)>> {
    let mut script = Script::default();
    match begin {
        Begin::Done => {}
        Begin::InScript => script.push("BEGIN IMMEDIATE"),
        Begin::Guarded(version) => {
            script.push("BEGIN IMMEDIATE");
            script.bind(version)?;
            script.push("INSERT INTO routing_guard VALUES (?)");
        }
    }
    let lease = BatchLease::new(handoff);
    let (queued, deliveries) = script.messages(msgs, routes, handoff, &lease)?;
    script.completions(completes)?;
    script.outcome(msgs, completes)?;
    script.push("COMMIT");
    let rows = match script.run(conn).await {
        Err(e) if is_stale(&e) => return Ok(None),
        rows => rows.map_err(map_err)?,
    };
    let returned = Returned::read(rows)?;
    let (queued, handed) = returned.settle(msgs, queued, deliveries, routes, &lease);
    let fenced = completes
        .iter()
        .map(|(_, a, _)| returned.recorded.contains(&a.id))
        .collect();
    Ok(Some(((queued, handed, fenced), returned.version)))
}

/// The error `routing_guard` raises (migration 0006).
fn is_stale(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|db| db.message() == "routes changed")
}

/// Inserts messages and one due delivery per endpoint that accepts each, inside the
/// caller's transaction (a quotation's); per message the number queued, `Conflict` when
/// its `eventId` is taken in its application, `NotFound` when its application was
/// deleted meanwhile.
pub(crate) async fn insert_messages(
    conn: &mut SqliteConnection,
    msgs: &[&Message],
) -> Result<Vec<Result<usize>>> {
    let routes = Routes::read(conn, msgs, "").await?;
    let lease = BatchLease::new(None);
    let mut script = Script::default();
    let (queued, deliveries) = script.messages(msgs, &routes, None, &lease)?;
    script.outcome(msgs, &[])?;
    let returned = Returned::read(script.run(conn).await.map_err(map_err)?)?;
    Ok(returned.settle(msgs, queued, deliveries, &routes, &lease).0)
}

/// The applications of a batch's messages with their enabled endpoints.
#[derive(Default)]
pub(crate) struct Routes {
    /// By application id; an application deleted meanwhile is missing.
    endpoints: HashMap<String, Vec<Endpoint>>,
    /// Deliveries refer to endpoints by `seq` (migration 0005).
    endpoint_seqs: HashMap<String, i64>,
    /// `routing_version` when these were read; `None` if no application was found.
    version: Option<i64>,
}

impl Routes {
    /// Read in one query inside the write transaction (`prefix` may begin it): routing
    /// then sees every endpoint created before these messages, and a message whose
    /// application was deleted since the API looked it up (it would break the foreign
    /// key and with it the whole batch) is refused alone.
    async fn read(conn: &mut SqliteConnection, msgs: &[&Message], prefix: &str) -> Result<Self> {
        let app_ids: HashSet<&str> = msgs.iter().map(|m| m.app_id.as_str()).collect();
        let sql = format!(
            "{prefix} SELECT a.id AS live_app, (SELECT n FROM routing_version) AS routing_version, \
             e.seq AS e_seq, {ENDPOINT_COLS} FROM applications a \
             LEFT JOIN endpoints e ON e.app_id = a.id AND e.disabled = 0 \
             WHERE a.id IN (SELECT value FROM json_each(?))"
        );
        let mut routes = Self::default();
        for row in sqlx::query(AssertSqlSafe(sql))
            .bind(to_json(&app_ids))
            .fetch_all(&mut *conn)
            .await
            .map_err(map_err)?
        {
            routes.version = Some(row.get("routing_version"));
            let list = routes.endpoints.entry(row.get("live_app")).or_default();
            if let Some(seq) = row.get::<Option<i64>, _>("e_seq") {
                let endpoint = rows::endpoint(&row)?;
                routes.endpoint_seqs.insert(endpoint.id.clone(), seq);
                list.push(endpoint);
            }
        }
        Ok(routes)
    }
}

/// The routes of the applications recent batches wrote to, all read at one routing
/// version (migration 0006), so that a batch whose applications are all here needs no
/// read of its own. Held with the writer's connection: only the group commit uses it.
/// Whoever changes an endpoint or deletes an application moves the version, from any
/// connection or process: the batch's guard then aborts it, and it reads afresh.
#[derive(Default)]
pub(crate) struct RouteCache(Option<Routes>);

impl RouteCache {
    /// Past this many applications, the routes read last replace the rest, which keeps
    /// memory bounded however many applications send.
    const MAX_APPS: usize = 4_096;

    /// The remembered routes and their version, if they hold every application `msgs`
    /// go to.
    fn covering(&self, msgs: &[&Message]) -> Option<(&Routes, i64)> {
        let routes = self.0.as_ref()?;
        let covered = !msgs.is_empty()
            && msgs
                .iter()
                .all(|m| routes.endpoints.contains_key(&m.app_id));
        Some((routes, routes.version?)).filter(|_| covered)
    }

    /// After a batch committed at `version`: what is remembered stays only if nothing
    /// changed since it was read (the batch itself may have, by an endpoint's health).
    fn keep_if(&mut self, version: i64) {
        if self.0.as_ref().and_then(|r| r.version) != Some(version) {
            self.0 = None;
        }
    }

    /// After a batch that read `routes` committed at `version`: adds them, if they are
    /// still current.
    fn remember(&mut self, routes: Routes, version: i64) {
        self.keep_if(version);
        if routes.version != Some(version) {
            return;
        }
        match &mut self.0 {
            Some(known) if known.endpoints.len() + routes.endpoints.len() <= Self::MAX_APPS => {
                known.endpoints.extend(routes.endpoints);
                known.endpoint_seqs.extend(routes.endpoint_seqs);
            }
            _ => self.0 = Some(routes),
        }
    }
}

/// Statements sent to SQLite's thread together, as one string with one argument list
/// (sqlx binds each statement's `?`s in turn).
#[derive(Default)]
struct Script {
    sql: String,
    args: SqliteArguments,
}

impl Script {
    fn push(&mut self, statement: &str) {
        self.sql.push_str(statement);
        self.sql.push_str(";\n");
    }

    /// Binds the next statement's next `?`.
    fn bind<T>(&mut self, value: T) -> Result<()>
    where
        T: for<'q> sqlx::Encode<'q, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite> + 'static,
    {
        self.args
            .add(value)
            .map_err(|e| StoreError::Internal(e.to_string()))
    }

    /// `WITH v(columns) AS (rows of `items`) ` + `body`, the rows bound as one JSONB
    /// array of arrays (one per item, as `row` gives it, its cells in `columns`' order;
    /// see [`jsonb`]). `->>` gives each field back as an SQL value: text as text,
    /// integers as integers, null as NULL, booleans as 1 and 0.
    fn rows<'a, T, const N: usize>(
        &mut self,
        columns: &[&str; N],
        body: &str,
        items: &'a [T],
        row: impl Fn(&'a T) -> [Cell<'a>; N],
    ) -> Result<()> {
        if items.is_empty() {
            return Ok(());
        }
        self.bind(jsonb::rows(items.iter().map(row)))?;
        let fields: Vec<String> = (0..N).map(|i| format!("value->>{i}")).collect();
        self.push(&format!(
            "WITH v({}) AS (SELECT {} FROM jsonb_each(?)) {body}",
            columns.join(", "),
            fields.join(", ")
        ));
        Ok(())
    }

    /// Adds the inserts of `msgs` whose application is live and of their deliveries;
    /// returns per message its answer as if every insert succeeds (see
    /// [`Returned::settle`]) and the deliveries. Those the `handoff`'s worker admits are
    /// written leased to it under `lease`.
    fn messages<'a>(
        &mut self,
        msgs: &[&'a Message],
        routes: &'a Routes,
        handoff: Option<&Handoff>,
        lease: &BatchLease,
    ) -> Result<(Vec<Result<usize>>, Vec<NewDelivery<'a>>)> {
        let live: Vec<&Message> = msgs
            .iter()
            .copied()
            .filter(|m| routes.endpoints.contains_key(&m.app_id))
            .collect();
        // A row whose id is one of ours but whose seq is not past this is an earlier
        // message's: ours clashed with it and was skipped.
        self.push("SELECT coalesce(max(seq), 0) AS seq_before FROM messages");
        self.rows(
            &["id", "app_id", "event_id", "event_type", "payload", "channels", "tags", "created_at"],
            "INSERT INTO messages (id, app_id, event_id, event_type, payload, channels, tags, created_at) \
             SELECT * FROM v WHERE true ON CONFLICT DO NOTHING",
            &live,
            |m| {
                [
                    (&m.id).into(),
                    (&m.app_id).into(),
                    m.event_id.as_ref().into(),
                    (&m.event_type).into(),
                    (&m.payload).into(),
                    to_json(&m.channels).into(),
                    to_json(&m.tags).into(),
                    m.created_at.into(),
                ]
            },
        )?;
        let (queued, deliveries) = route(msgs, &routes.endpoints, handoff);
        // By message id: a message the insert skipped (its `eventId` taken) has no row
        // to join, so its deliveries are skipped too.
        self.rows(
            &["msg_id", "endpoint_seq", "run_at", "updated_at", "status", "lease", "attempts"],
            "INSERT INTO deliveries (msg_seq, endpoint_seq, run_at, updated_at, status, lease, attempts) \
             SELECT m.seq, v.endpoint_seq, v.run_at, v.updated_at, v.status, v.lease, v.attempts \
             FROM v JOIN messages m ON m.id = v.msg_id",
            &deliveries,
            |d| {
                let row = d.row(lease);
                [
                    (&d.msg.id).into(),
                    routes.endpoint_seqs[&d.endpoint.id].into(),
                    row.run_at.into(),
                    row.updated_at.into(),
                    row.status.code().into(),
                    row.lease.into(),
                    row.attempts.into(),
                ]
            },
        )?;
        Ok((queued, deliveries))
    }

    /// Adds what recording `done` writes, fenced by lease: the attempts, the deliveries
    /// moved on, the endpoints' health by their latest outcome (touched only where it
    /// changes). Attempts come first: they join their delivery while it still holds the
    /// lease, which the update then clears.
    fn completions(&mut self, done: &[Completion]) -> Result<()> {
        if done.is_empty() {
            return Ok(());
        }
        self.rows(
            &[
                "id",
                "delivery",
                "lease",
                "url",
                "status",
                "response_status_code",
                "response",
                "response_duration_ms",
                "trigger_type",
                "created_at",
            ],
            "INSERT INTO attempts (id, msg_seq, endpoint_seq, url, status, response_status_code, response, response_duration_ms, trigger_type, created_at) \
             SELECT v.id, d.msg_seq, d.endpoint_seq, v.url, v.status, v.response_status_code, v.response, v.response_duration_ms, v.trigger_type, v.created_at \
             FROM v JOIN deliveries d ON d.id = v.delivery AND d.lease = v.lease",
            done,
            |(c, a, _)| {
                [
                    (&a.id).into(),
                    c.delivery_id.into(),
                    (&c.lease).into(),
                    (&a.url).into(),
                    a.status.code().into(),
                    a.response_status_code.into(),
                    (&a.response).into(),
                    a.response_duration_ms.into(),
                    (a.trigger_type as i64).into(),
                    a.created_at.into(),
                ]
            },
        )?;
        self.rows(
            &["id", "lease", "status", "run_at", "updated_at"],
            "UPDATE deliveries SET status = v.status, run_at = v.run_at, lease = NULL, manual = 0, holds_slot = 0, updated_at = v.updated_at \
             FROM v WHERE deliveries.id = v.id AND deliveries.lease = v.lease",
            done,
            |(fence, attempt, outcome)| {
                let (status, run_at) = outcome.next_state();
                [
                    fence.delivery_id.into(),
                    (&fence.lease).into(),
                    status.code().into(),
                    run_at.into(),
                    attempt.created_at.into(),
                ]
            },
        )?;
        // Only if that latest attempt was recorded, i.e. its lease held.
        let latest: Vec<&Completion> = latest_health(done).into_values().collect();
        self.rows(
            &["id", "attempt", "success", "at"],
            "UPDATE endpoints SET failing_since = CASE WHEN v.success THEN NULL ELSE v.at END \
             FROM v WHERE endpoints.id = v.id AND endpoints.disabled = 0 \
             AND (endpoints.failing_since IS NULL) = (NOT v.success) \
             AND EXISTS (SELECT 1 FROM attempts WHERE attempts.id = v.attempt)",
            &latest,
            |(_, attempt, outcome)| {
                [
                    (&attempt.endpoint_id).into(),
                    (&attempt.id).into(),
                    outcome.is_success().into(),
                    attempt.created_at.into(),
                ]
            },
        )
    }

    /// Adds the statement whose one row tells what the script wrote: the routing
    /// version, the messages with `msgs`' ids with their deliveries, which of `done`'s
    /// attempts were recorded (their lease held). One row, not one per written row
    /// (RETURNING): sqlx hands each row from SQLite's thread to the task on its own,
    /// a wake-up each, and under load the batch waited on the busy runtime for every
    /// one of them.
    fn outcome(&mut self, msgs: &[&Message], done: &[Completion]) -> Result<()> {
        let msg_ids: Vec<&str> = msgs.iter().map(|m| m.id.as_str()).collect();
        let attempt_ids: Vec<&str> = done.iter().map(|(_, a, _)| a.id.as_str()).collect();
        self.bind(to_json(&msg_ids))?;
        self.bind(to_json(&attempt_ids))?;
        self.push(
            "SELECT (SELECT n FROM routing_version) AS routing_version, \
             (SELECT json_group_array(json_array(m.id, m.seq, d.endpoint_seq, d.id)) FROM messages m \
              LEFT JOIN deliveries d ON d.msg_seq = m.seq \
              WHERE m.id IN (SELECT value FROM json_each(?))) AS inserted, \
             (SELECT json_group_array(id) FROM attempts \
              WHERE id IN (SELECT value FROM json_each(?))) AS recorded",
        );
        Ok(())
    }

    async fn run(self, conn: &mut SqliteConnection) -> sqlx::Result<Vec<SqliteRow>> {
        sqlx::query_with(AssertSqlSafe(self.sql), self.args)
            .fetch_all(conn)
            .await
    }
}

/// What a script wrote, from its two rows: `seq_before` (see [`Script::messages`]) and
/// that of [`Script::outcome`].
struct Returned {
    /// Inserted messages, by id.
    inserted: HashSet<String>,
    /// Inserted deliveries: (message id, endpoint seq, delivery id).
    deliveries: Vec<(String, i64, i64)>,
    /// Attempts recorded, i.e. whose completion held its lease.
    recorded: HashSet<String>,
    /// `routing_version` at the end of the batch.
    version: i64,
}

/// Per message with one of the batch's ids: id, seq, and per delivery of it endpoint
/// seq and id (null for a message without deliveries).
type Found = Vec<(String, i64, Option<i64>, Option<i64>)>;

impl Returned {
    fn read(rows: Vec<SqliteRow>) -> Result<Self> {
        let [before, outcome] = <[SqliteRow; 2]>::try_from(rows).map_err(|rows| {
            StoreError::Internal(format!("a batch returned {} rows, not two", rows.len()))
        })?;
        let seq_before: i64 = before.try_get("seq_before").map_err(map_err)?;
        let json = |col: &str| -> Result<String> { outcome.try_get(col).map_err(map_err) };
        let unreadable =
            |e: serde_json::Error| StoreError::Internal(format!("a batch's outcome: {e}"));
        let found: Found = serde_json::from_str(&json("inserted")?).map_err(unreadable)?;
        let mut out = Self {
            inserted: HashSet::new(),
            deliveries: Vec::new(),
            recorded: serde_json::from_str(&json("recorded")?).map_err(unreadable)?,
            version: outcome.try_get("routing_version").map_err(map_err)?,
        };
        for (msg, seq, endpoint_seq, delivery) in found {
            if seq <= seq_before {
                continue;
            }
            if let (Some(endpoint_seq), Some(delivery)) = (endpoint_seq, delivery) {
                out.deliveries.push((msg.clone(), endpoint_seq, delivery));
            }
            out.inserted.insert(msg);
        }
        Ok(out)
    }

    /// The messages' answers (`Conflict` for one the insert skipped) and the admitted
    /// deliveries as claims, to hand over after the commit.
    fn settle(
        &self,
        msgs: &[&Message],
        mut queued: Vec<Result<usize>>,
        deliveries: Vec<NewDelivery<'_>>,
        routes: &Routes,
        lease: &BatchLease,
    ) -> (Vec<Result<usize>>, Handed) {
        refuse_skipped(msgs, &mut queued, |id| self.inserted.contains(id));
        // The ids come in no order: match them by (message, endpoint), which is unique.
        let endpoint_ids: HashMap<i64, &String> = routes
            .endpoint_seqs
            .iter()
            .map(|(id, seq)| (*seq, id))
            .collect();
        let ids: HashMap<(String, String), i64> = self
            .deliveries
            .iter()
            .map(|(msg, endpoint, id)| {
                let key = (msg.clone(), endpoint_ids[endpoint].clone());
                (key, *id)
            })
            .collect();
        (queued, handed(deliveries, &ids, lease))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use skyhook_domain::model::{Application, Attempt, DeliveryStatus, Endpoint, Message};
    use skyhook_domain::signing::SecretSet;
    use skyhook_store::handoff::{Admission, Handoff, Refusal, Ticket};
    use skyhook_store::{Outcome, Store, StoreError};

    use crate::test_support::store_with_app;
    use crate::test_support::tempfile_dir::Dir;

    fn message(id: &str, app_id: &str) -> Message {
        Message {
            id: id.into(),
            app_id: app_id.into(),
            event_id: None,
            event_type: "order.paid".into(),
            payload: "{}".into(),
            channels: vec![],
            tags: vec![],
            created_at: 1,
        }
    }

    #[tokio::test]
    async fn a_message_for_a_deleted_application_is_refused_alone() {
        let (_dir, store, live) = store_with_app().await;
        let gone = Application {
            id: "app_gone".into(),
            uid: None,
            name: "gone".into(),
            throttle_rate: None,
            metadata: Default::default(),
            created_at: 0,
            updated_at: 0,
        };
        store.create_app(&gone).await.unwrap();
        store.delete_app(&gone.id).await.unwrap();
        // Sent together, so the group commit takes them in one batch.
        let (ma, mb, mc) = (
            message("msg_a", &live),
            message("msg_b", &gone.id),
            message("msg_c", &live),
        );
        let (a, b, c) = tokio::join!(
            store.create_message(&ma),
            store.create_message(&mb),
            store.create_message(&mc),
        );
        assert_eq!(a.unwrap(), 0);
        assert!(matches!(b, Err(StoreError::NotFound(_))), "{b:?}");
        assert_eq!(c.unwrap(), 0);
        assert!(store.get_message(&live, "msg_a").await.unwrap().is_some());
        assert!(store.get_message(&live, "msg_c").await.unwrap().is_some());
    }

    fn endpoint(app_id: &str) -> Endpoint {
        Endpoint {
            id: "ep_1".into(),
            app_id: app_id.into(),
            uid: None,
            url: "https://example.com/hook".into(),
            description: String::new(),
            throttle_rate: None,
            disabled: false,
            event_types: vec![],
            channels: vec![],
            metadata: Default::default(),
            headers: Default::default(),
            secrets: SecretSet::generate(),
            failing_since: None,
            created_at: 0,
            updated_at: 0,
        }
    }

    fn attempt(id: &str, claim: &skyhook_store::Claim) -> Attempt {
        Attempt {
            id: id.into(),
            msg_id: claim.message.id.clone(),
            endpoint_id: claim.endpoint.id.clone(),
            url: claim.endpoint.url.clone(),
            status: DeliveryStatus::Success,
            response_status_code: 200,
            response: String::new(),
            response_duration_ms: 1,
            trigger_type: skyhook_domain::model::TriggerType::Scheduled,
            created_at: skyhook_domain::clock::now_ms(),
        }
    }

    #[tokio::test]
    async fn a_taken_event_id_in_a_batch_refuses_that_message_alone_and_queues_nothing_for_it() {
        let (_dir, store, app) = store_with_app().await;
        store.create_endpoint(&endpoint(&app)).await.unwrap();
        let with_event = |id: &str| Message {
            event_id: Some("evt_1".into()),
            ..message(id, &app)
        };
        let (ma, mb, mc) = (
            with_event("msg_a"),
            with_event("msg_b"),
            message("msg_c", &app),
        );
        // Sent together, so the group commit takes them in one batch.
        let (a, b, c) = tokio::join!(
            store.create_message(&ma),
            store.create_message(&mb),
            store.create_message(&mc),
        );
        assert_eq!(a.unwrap(), 1, "the first with evt_1 is accepted");
        assert!(matches!(b, Err(StoreError::Conflict(_))), "{b:?}");
        assert_eq!(c.unwrap(), 1);
        assert!(store.get_message(&app, "msg_b").await.unwrap().is_none());
        let now = skyhook_domain::clock::now_ms();
        let claimed = store.claim_due(now, 10, 60_000, &[]).await.unwrap();
        let mut ids: Vec<&str> = claimed.iter().map(|c| c.message.id.as_str()).collect();
        ids.sort();
        assert_eq!(
            ids,
            ["msg_a", "msg_c"],
            "no delivery for the refused message"
        );
    }

    /// A store with one endpoint and a delivery of msg_a and msg_b to it, both claimed.
    async fn two_claimed() -> (Dir, crate::SqliteStore, String, Vec<skyhook_store::Claim>) {
        let (dir, store, app) = store_with_app().await;
        store.create_endpoint(&endpoint(&app)).await.unwrap();
        store.create_message(&message("msg_a", &app)).await.unwrap();
        store.create_message(&message("msg_b", &app)).await.unwrap();
        let now = skyhook_domain::clock::now_ms();
        let claimed = store.claim_due(now, 10, 60_000, &[]).await.unwrap();
        (dir, store, app, claimed)
    }

    #[tokio::test]
    async fn a_batch_that_fails_is_rolled_back_whole_and_the_next_one_goes_through() {
        let (_dir, store, app, claimed) = two_claimed().await;
        let [first, second] = &claimed[..] else {
            panic!("two claims: {claimed:?}")
        };
        assert!(
            store
                .complete(first, &attempt("atmpt_1", first), Outcome::Success)
                .await
                .unwrap()
        );
        // The same attempt id again breaks its unique index: the batch fails at its
        // attempt insert, and the message sent with it must not be stored either.
        let (again, mc) = (attempt("atmpt_1", second), message("msg_c", &app));
        let (taken, msg) = tokio::join!(
            store.complete(second, &again, Outcome::Success),
            store.create_message(&mc),
        );
        assert!(matches!(taken, Err(StoreError::Conflict(_))), "{taken:?}");
        assert!(msg.is_err(), "{msg:?}");
        assert!(store.get_message(&app, "msg_c").await.unwrap().is_none());
        // Nothing of it stayed: the delivery still holds its lease, and the writer
        // goes on.
        assert!(
            store
                .complete(second, &attempt("atmpt_2", second), Outcome::Success)
                .await
                .unwrap()
        );
        assert_eq!(store.create_message(&mc).await.unwrap(), 1);
    }

    #[tokio::test]
    async fn a_writer_given_up_mid_transaction_is_rolled_back_and_replaced() {
        let (_dir, store, app) = store_with_app().await;
        {
            let mut slot = store.writer.slot().await.unwrap();
            let conn = slot.conn.as_mut().unwrap();
            sqlx::query("BEGIN IMMEDIATE")
                .execute(&mut *conn)
                .await
                .unwrap();
            sqlx::query("DELETE FROM applications")
                .execute(&mut *conn)
                .await
                .unwrap();
            // As a batch whose ROLLBACK failed leaves it.
            let _lost = super::ByHand { slot, ended: false };
        }
        // The next write gets a new connection, and the deletion never happened.
        assert_eq!(
            store.create_message(&message("msg_a", &app)).await.unwrap(),
            0
        );
        assert!(store.get_message(&app, "msg_a").await.unwrap().is_some());
        store.close().await;
        let closed = store.create_message(&message("msg_b", &app)).await;
        assert!(
            matches!(closed, Err(StoreError::Unavailable(_))),
            "{closed:?}"
        );
    }

    /// Rows travel to SQLite as JSON text: every value must come back as it was sent,
    /// text byte for byte (escapes, control characters, NUL, characters beyond the
    /// BMP), numbers and NULLs with their types.
    #[tokio::test]
    async fn batched_values_are_stored_exactly_as_given() {
        let (_dir, store, app) = store_with_app().await;
        store.create_endpoint(&endpoint(&app)).await.unwrap();
        let odd = "{ \"a\" : \"\\u00e9\\\"é\\n\", \"b\":[1 ,2.50], \"c\": \"😀\\t\" }\n";
        let sent = Message {
            event_id: Some("evt \"1\" ü".into()),
            channels: vec!["ch-1".into(), "é".into()],
            tags: vec!["t\\1".into()],
            created_at: 1_700_000_000_123,
            payload: odd.into(),
            ..message("msg_a", &app)
        };
        assert_eq!(store.create_message(&sent).await.unwrap(), 1);
        let plain = message("msg_b", &app);
        assert_eq!(store.create_message(&plain).await.unwrap(), 1);
        assert_eq!(store.get_message(&app, "msg_a").await.unwrap(), Some(sent));
        assert_eq!(store.get_message(&app, "msg_b").await.unwrap(), Some(plain));

        let now = skyhook_domain::clock::now_ms();
        let claimed = store.claim_due(now, 10, 60_000, &[]).await.unwrap();
        let claim = claimed.iter().find(|c| c.message.id == "msg_a").unwrap();
        let recorded = Attempt {
            status: DeliveryStatus::Fail,
            response_status_code: 503,
            response: "a\0b \"q\" \\ \u{1}\r\n 😀 é".into(),
            response_duration_ms: 123_456,
            ..attempt("atmpt_1", claim)
        };
        let retry = Outcome::RetryAt(now + 60_000);
        assert!(store.complete(claim, &recorded, retry).await.unwrap());
        let got = store.get_attempt("msg_a", "atmpt_1").await.unwrap();
        assert_eq!(got, Some(recorded));
    }

    /// An endpoint's health follows its latest recorded attempt: a failure marks it
    /// failing, a success clears that, and an attempt whose lease was lost changes
    /// nothing.
    #[tokio::test]
    async fn endpoint_health_follows_recorded_attempts_only() {
        let (_dir, store, app, claimed) = two_claimed().await;
        let [a, b] = &claimed[..] else {
            panic!("two claims: {claimed:?}")
        };
        let failing_since = || async {
            let ep = store.get_endpoint(&app, "ep_1").await.unwrap().unwrap();
            ep.failing_since
        };
        let failed = Attempt {
            status: DeliveryStatus::Fail,
            response_status_code: 500,
            created_at: 5_000,
            ..attempt("atmpt_1", a)
        };
        let retry = Outcome::RetryAt(skyhook_domain::clock::now_ms() + 60_000);
        assert!(store.complete(a, &failed, retry).await.unwrap());
        assert_eq!(failing_since().await, Some(5_000));
        let mut stale = b.clone();
        stale.lease = "someone else's".into();
        let late = attempt("atmpt_2", b);
        assert!(
            !store
                .complete(&stale, &late, Outcome::Success)
                .await
                .unwrap()
        );
        assert_eq!(failing_since().await, Some(5_000), "a fenced-out success");
        let ok = attempt("atmpt_3", b);
        assert!(store.complete(b, &ok, Outcome::Success).await.unwrap());
        assert_eq!(failing_since().await, None);
    }

    /// Claims pass over the due rows of busy endpoints (from where the last scan found
    /// work, looking back for rows committed since) and find them again once the
    /// endpoint is free.
    #[tokio::test]
    async fn claims_pass_over_busy_endpoints_and_find_them_again_when_freed() {
        let (_dir, store, app) = store_with_app().await;
        store.create_endpoint(&endpoint(&app)).await.unwrap();
        for i in 0..5 {
            let old = message(&format!("msg_old{i}"), &app);
            store.create_message(&old).await.unwrap();
        }
        let fast = Endpoint {
            id: "ep_2".into(),
            ..endpoint(&app)
        };
        store.create_endpoint(&fast).await.unwrap();
        let busy = ["ep_1".to_string()];
        assert_eq!(
            claimed(&store, 10_000, &busy).await,
            [],
            "all due rows are ep_1's"
        );
        // Accepted before that scan, committed after it.
        let late = Message {
            created_at: 9_500,
            ..message("msg_a", &app)
        };
        store.create_message(&late).await.unwrap();
        assert_eq!(
            claimed(&store, 10_100, &busy).await,
            [("msg_a".to_string(), "ep_2".to_string())]
        );
        let freed = claimed(&store, 10_200, &[]).await;
        let ids: Vec<&str> = freed.iter().map(|(m, _)| m.as_str()).collect();
        assert_eq!(
            ids,
            [
                "msg_a", "msg_old0", "msg_old1", "msg_old2", "msg_old3", "msg_old4"
            ]
        );
        assert!(freed.iter().all(|(_, e)| e == "ep_1"), "{freed:?}");
    }

    /// The deliveries a claim at `now` past `busy` endpoints gets, as (message,
    /// endpoint), sorted.
    async fn claimed(
        store: &crate::SqliteStore,
        now: i64,
        busy: &[String],
    ) -> Vec<(String, String)> {
        let claims = store.claim_due(now, 100, 60_000, busy).await.unwrap();
        let mut got: Vec<(String, String)> = claims
            .into_iter()
            .map(|c| (c.message.id, c.endpoint.id))
            .collect();
        got.sort();
        got
    }

    /// Per due delivery (message, endpoint), claimed now, sorted.
    async fn routed(store: &crate::SqliteStore) -> Vec<(String, String)> {
        claimed(store, skyhook_domain::clock::now_ms(), &[]).await
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(m, e)| (m.to_string(), e.to_string()))
            .collect()
    }

    /// Whether the writer remembers the routes of `app_id`'s messages.
    async fn remembers(store: &crate::SqliteStore, app_id: &str) -> bool {
        let slot = store.writer.slot().await.unwrap();
        slot.routes.covering(&[&message("msg_x", app_id)]).is_some()
    }

    /// A store whose writer remembers the routes of its application: one endpoint,
    /// `ep_1`, and one message, `msg_a`, written.
    async fn routes_remembered() -> (Dir, crate::SqliteStore, String) {
        let (dir, store, app) = store_with_app().await;
        store.create_endpoint(&endpoint(&app)).await.unwrap();
        store.create_message(&message("msg_a", &app)).await.unwrap();
        assert!(remembers(&store, &app).await);
        (dir, store, app)
    }

    /// Every change to an endpoint that routing sees, made after a batch remembered the
    /// routes, is seen by the next batch: a new endpoint, one disabled, one deleted (no
    /// delivery to it, and no broken foreign key taking the batch down).
    #[tokio::test]
    async fn remembered_routes_follow_every_change_to_the_endpoints() {
        let (_dir, store, app) = store_with_app().await;
        store.create_endpoint(&endpoint(&app)).await.unwrap();
        assert_eq!(
            store.create_message(&message("msg_a", &app)).await.unwrap(),
            1
        );
        assert!(remembers(&store, &app).await);
        assert_eq!(routed(&store).await, pairs(&[("msg_a", "ep_1")]));

        let second = add_second_endpoint(&store, &app).await;
        assert_eq!(
            store.create_message(&message("msg_b", &app)).await.unwrap(),
            2
        );
        assert_eq!(
            routed(&store).await,
            pairs(&[("msg_b", "ep_1"), ("msg_b", "ep_2")])
        );

        let off = Endpoint {
            disabled: true,
            ..second.clone()
        };
        store.update_endpoint(&off).await.unwrap();
        assert_eq!(
            store.create_message(&message("msg_c", &app)).await.unwrap(),
            1
        );
        assert_eq!(routed(&store).await, pairs(&[("msg_c", "ep_1")]));

        store.update_endpoint(&second).await.unwrap();
        store.delete_endpoint(&app, "ep_1").await.unwrap();
        assert_eq!(
            store.create_message(&message("msg_d", &app)).await.unwrap(),
            1
        );
        assert_eq!(routed(&store).await, pairs(&[("msg_d", "ep_2")]));
        assert!(remembers(&store, &app).await, "read again and remembered");
    }

    #[tokio::test]
    async fn a_message_for_an_application_deleted_after_its_routes_were_remembered_is_refused() {
        let (_dir, store, app) = routes_remembered().await;
        store.delete_app(&app).await.unwrap();
        let refused = store.create_message(&message("msg_b", &app)).await;
        assert!(
            matches!(refused, Err(StoreError::NotFound(_))),
            "{refused:?}"
        );
        assert!(!remembers(&store, &app).await);
    }

    /// Another process (here another connection) writing the file moves the version too.
    #[tokio::test]
    async fn remembered_routes_follow_a_change_made_by_another_connection() {
        use sqlx::Connection;
        let (dir, store, app) = routes_remembered().await;
        let url = format!("sqlite://{}", dir.path("q.db"));
        let mut other = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query("UPDATE endpoints SET disabled = 1 WHERE id = 'ep_1'")
            .execute(&mut other)
            .await
            .unwrap();
        assert_eq!(
            store.create_message(&message("msg_b", &app)).await.unwrap(),
            0
        );
        assert_eq!(routed(&store).await, pairs(&[("msg_a", "ep_1")]));
    }

    /// The worker disables an endpoint by its `failing_since` as handed over with each
    /// delivery: a failure recorded in a batch must reach the next batch's deliveries.
    #[tokio::test]
    async fn a_health_change_reaches_the_deliveries_handed_over_next() {
        let (_dir, store, app, claimed) = two_claimed().await;
        assert!(remembers(&store, &app).await);
        let (mut handed, _wake) = hand_to(&store, FirstN::new(1));
        let failed = Attempt {
            status: DeliveryStatus::Fail,
            response_status_code: 500,
            created_at: 5_000,
            ..attempt("atmpt_1", &claimed[0])
        };
        let retry = Outcome::RetryAt(skyhook_domain::clock::now_ms() + 60_000);
        assert!(store.complete(&claimed[0], &failed, retry).await.unwrap());
        store.create_message(&message("msg_c", &app)).await.unwrap();
        let (claim, _ticket) = handed.try_recv().expect("msg_c handed over");
        assert_eq!(claim.endpoint.failing_since, Some(5_000));
    }

    /// A throttled send moves `throttle_next_us` each time: it must not make every batch
    /// read its routes again.
    #[tokio::test]
    async fn throttle_slots_leave_the_remembered_routes_alone() {
        let (_dir, store, app) = store_with_app().await;
        store.create_endpoint(&endpoint(&app)).await.unwrap();
        store.create_message(&message("msg_a", &app)).await.unwrap();
        let version = || async {
            let mut conn = store.writer.conn().await.unwrap();
            let n: i64 = sqlx::query_scalar("SELECT n FROM routing_version")
                .fetch_one(&mut *conn)
                .await
                .unwrap();
            n
        };
        let before = version().await;
        store.reserve_throttle_slot("ep_1", 1_000, 1).await.unwrap();
        assert_eq!(version().await, before);
        assert!(remembers(&store, &app).await);
    }

    /// Migration 0006 lists the endpoint columns whose update moves the routing version:
    /// all but `seq` and `throttle_next_us`. A column added later must be listed too.
    #[tokio::test]
    async fn every_endpoint_column_but_the_throttle_slot_moves_the_routing_version() {
        let (_dir, store, _app) = store_with_app().await;
        let mut conn = store.writer.conn().await.unwrap();
        let columns: Vec<String> =
            sqlx::query_scalar("SELECT name FROM pragma_table_info('endpoints')")
                .fetch_all(&mut *conn)
                .await
                .unwrap();
        let trigger: String = sqlx::query_scalar(
            "SELECT sql FROM sqlite_master WHERE name = 'routing_endpoint_updated'",
        )
        .fetch_one(&mut *conn)
        .await
        .unwrap();
        let listed = trigger
            .split_once("UPDATE OF")
            .and_then(|(_, rest)| rest.split_once("ON endpoints"))
            .map(|(list, _)| list)
            .unwrap();
        let mut listed: Vec<&str> = listed.split(',').map(str::trim).collect();
        listed.sort();
        let mut expected: Vec<&str> = columns
            .iter()
            .map(String::as_str)
            .filter(|c| !["seq", "throttle_next_us"].contains(c))
            .collect();
        expected.sort();
        assert_eq!(listed, expected);
    }

    /// `next_due` reads through the pool, not the writer: it must still see each
    /// commit the writer made before it.
    #[tokio::test]
    async fn next_due_sees_every_commit_of_the_writer() {
        let (_dir, store, app) = store_with_app().await;
        assert_eq!(store.next_due().await.unwrap(), None);
        store.create_endpoint(&endpoint(&app)).await.unwrap();
        store.create_message(&message("msg_a", &app)).await.unwrap();
        let due = store.next_due().await.unwrap().expect("a due delivery");
        let now = skyhook_domain::clock::now_ms();
        assert!(due <= now, "due at once: {due} > {now}");
        let claimed = store.claim_due(now, 10, 60_000, &[]).await.unwrap();
        assert_eq!(
            store.next_due().await.unwrap(),
            Some(now + 60_000),
            "its lease"
        );
        let done = attempt("atmpt_1", &claimed[0]);
        assert!(
            store
                .complete(&claimed[0], &done, Outcome::Success)
                .await
                .unwrap()
        );
        assert_eq!(store.next_due().await.unwrap(), None);
    }

    /// Admits the first `n` deliveries; counts the deliveries it is asked about and the
    /// refusals it is told of.
    #[derive(Default)]
    struct FirstN {
        left: AtomicUsize,
        asked: AtomicUsize,
        refused: AtomicUsize,
    }

    impl FirstN {
        fn new(n: usize) -> Arc<Self> {
            Arc::new(Self {
                left: AtomicUsize::new(n),
                ..Self::default()
            })
        }
    }

    impl Admission for FirstN {
        fn admit(&self, _endpoint_id: &str, _payload_bytes: usize) -> Result<Ticket, Refusal> {
            self.asked.fetch_add(1, Ordering::SeqCst);
            let left = self
                .left
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
            left.map(|_| Box::new(()) as Ticket)
                .map_err(|_| Refusal::Endpoint)
        }

        fn refused(&self, refusal: Refusal) {
            assert_eq!(refusal, Refusal::Endpoint);
            self.refused.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Hands `store`'s new deliveries to `admission`; the claims it admits arrive on the
    /// receiver, and the wake-up is for the rest.
    fn hand_to(
        store: &crate::SqliteStore,
        admission: Arc<FirstN>,
    ) -> (
        tokio::sync::mpsc::UnboundedReceiver<(skyhook_store::Claim, Ticket)>,
        Arc<tokio::sync::Notify>,
    ) {
        let (claims, handed) = tokio::sync::mpsc::unbounded_channel();
        let wake = Arc::new(tokio::sync::Notify::new());
        store.set_handoff(Handoff {
            admission,
            claims,
            lease_ms: 60_000,
            wake: wake.clone(),
        });
        (handed, wake)
    }

    /// A second endpoint, `ep_2`, of `app` (after the routes may have been remembered).
    async fn add_second_endpoint(store: &crate::SqliteStore, app: &str) -> Endpoint {
        let second = Endpoint {
            id: "ep_2".into(),
            ..endpoint(app)
        };
        store.create_endpoint(&second).await.unwrap();
        second
    }

    /// The worker counts the refusals it is told of in a metric: once per delivery
    /// written to the queue, not again when a batch is done over because the routes
    /// changed, and not for a message the insert skipped.
    #[tokio::test]
    async fn refusals_are_told_once_per_delivery_queued() {
        let (_dir, store, app) = routes_remembered().await;
        let none = FirstN::new(0);
        let _handed = hand_to(&store, none.clone());
        add_second_endpoint(&store, &app).await;
        assert_eq!(
            store.create_message(&message("msg_b", &app)).await.unwrap(),
            2
        );
        // Asked once on the remembered routes (one endpoint), then twice again.
        assert_eq!(
            none.asked.load(Ordering::SeqCst),
            3,
            "the batch was done over"
        );
        assert_eq!(none.refused.load(Ordering::SeqCst), 2);

        let with_event = |id: &str| Message {
            event_id: Some("evt_1".into()),
            ..message(id, &app)
        };
        let (mc, md) = (with_event("msg_c"), with_event("msg_d"));
        // Sent together, so the group commit takes them in one batch.
        let (c, d) = tokio::join!(store.create_message(&mc), store.create_message(&md));
        assert_eq!(c.unwrap(), 2);
        assert!(matches!(d, Err(StoreError::Conflict(_))), "{d:?}");
        assert_eq!(none.asked.load(Ordering::SeqCst), 7);
        assert_eq!(
            none.refused.load(Ordering::SeqCst),
            4,
            "msg_d's two not told"
        );
    }

    #[tokio::test]
    async fn admitted_deliveries_are_handed_over_leased_and_the_rest_is_queued() {
        let (_dir, store, app) = store_with_app().await;
        store.create_endpoint(&endpoint(&app)).await.unwrap();
        let (mut handed, wake) = hand_to(&store, FirstN::new(1));
        // A zero timeout polls once: Ready only if a wake-up is already stored.
        let woken = || tokio::time::timeout(std::time::Duration::ZERO, wake.notified());
        let queued = store.create_message(&message("msg_a", &app)).await;
        assert_eq!(queued.unwrap(), 1);
        assert!(woken().await.is_err(), "all handed over: no claim needed");
        let queued = store.create_message(&message("msg_b", &app)).await;
        assert_eq!(queued.unwrap(), 1);
        assert!(woken().await.is_ok(), "msg_b is left to be claimed");

        let (claim, _ticket) = handed.try_recv().expect("msg_a handed over");
        assert_eq!(claim.message.id, "msg_a");
        assert_eq!(claim.endpoint.id, "ep_1");
        assert_eq!(claim.attempts_made, 1);
        assert!(handed.try_recv().is_err(), "msg_b was not admitted");
        // msg_a is leased to us: a claim finds only msg_b.
        let now = skyhook_domain::clock::now_ms();
        let claimed = store.claim_due(now, 10, 60_000, &[]).await.unwrap();
        let ids: Vec<&str> = claimed.iter().map(|c| c.message.id.as_str()).collect();
        assert_eq!(ids, ["msg_b"]);
        // The handed-over lease fences like a claimed one.
        let attempt = Attempt {
            id: "atmpt_1".into(),
            msg_id: "msg_a".into(),
            endpoint_id: "ep_1".into(),
            url: "https://example.com/hook".into(),
            status: DeliveryStatus::Success,
            response_status_code: 200,
            response: String::new(),
            response_duration_ms: 1,
            trigger_type: skyhook_domain::model::TriggerType::Scheduled,
            created_at: now,
        };
        let mut stale = claim.clone();
        stale.lease = "someone else's".into();
        assert!(
            !store
                .complete(&stale, &attempt, Outcome::Success)
                .await
                .unwrap()
        );
        assert!(
            store
                .complete(&claim, &attempt, Outcome::Success)
                .await
                .unwrap()
        );
        assert!(
            store
                .claim_due(now + 120_000, 10, 60_000, &[])
                .await
                .unwrap()
                .iter()
                .all(|c| c.message.id != "msg_a")
        );
    }
}
