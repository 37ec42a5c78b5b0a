//! The PostgreSQL side of the group commit ([`skyhook_store::group`]): one batch of
//! accepted messages and recorded attempts in one transaction. A commit waits for its
//! WAL flush; one flush per batch instead of one per write is what lets several nodes go
//! fast on one database.
//!
//! Every statement is a round trip to the server, and a node runs one batch at a time,
//! so the batch writes everything in one statement over arrays (`UNNEST`) with
//! data-modifying CTEs: messages, their deliveries, the attempts, the deliveries moved
//! on, the endpoints' health. A batch with messages is BEGIN, the routes, that statement,
//! COMMIT; a batch of attempts only is that statement alone.

use std::collections::{HashMap, HashSet};

use skyhook_domain::model::{Endpoint, Message};
use skyhook_store::Result;
use skyhook_store::group::{
    Applied, BatchLease, Completion, DeliveryRow, NewDelivery, handed, latest_health,
    refuse_skipped, route,
};
use skyhook_store::handoff::{Handed, Handoff};
use sqlx::postgres::{PgConnection, PgPool, PgRow};
use sqlx::{AssertSqlSafe, Row};

use crate::rows::{self, ENDPOINT_COLS};
use crate::store::to_json;
use crate::{CHANNEL, map_err};

/// Applies one group-commit batch in one transaction, then hands the deliveries it
/// leased to this node's worker.
pub(crate) async fn apply(
    pool: PgPool,
    handoff: Option<Handoff>,
    messages: Vec<Message>,
    completes: Vec<Completion>,
) -> Result<Applied> {
    let msgs: Vec<&Message> = messages.iter().collect();
    let lease = BatchLease::new(handoff.as_ref());
    let (queued, handed, fenced) = if msgs.is_empty() {
        // One statement is a transaction of its own.
        let mut conn = pool.acquire().await.map_err(map_err)?;
        let none = Routes::default();
        let written = write(&mut conn, &[], &none, None, &lease, &completes).await?;
        (Vec::new(), Handed::default(), written.fenced(&completes))
    } else {
        let mut tx = pool.begin().await.map_err(map_err)?;
        let routes = Routes::read(&mut tx, &msgs).await?;
        let written = write(
            &mut tx,
            &msgs,
            &routes,
            handoff.as_ref(),
            &lease,
            &completes,
        )
        .await?;
        tx.commit().await.map_err(map_err)?;
        let fenced = written.fenced(&completes);
        let (queued, handed) = written.settle(&msgs, &lease);
        (queued, handed, fenced)
    };
    if let Some(handoff) = handoff {
        handoff.hand_over(handed, &queued);
    }
    Ok((queued, fenced))
}

/// Inserts messages and one due delivery per endpoint that accepts each, inside the
/// caller's transaction (a quotation's); per message the number queued, `Conflict` when
/// its `eventId` is taken in its application, `NotFound` when its application was
/// deleted meanwhile. The deliveries are announced to every node's worker on commit.
pub(crate) async fn insert_messages(
    conn: &mut PgConnection,
    msgs: &[&Message],
) -> Result<Vec<Result<usize>>> {
    let routes = Routes::read(conn, msgs).await?;
    let lease = BatchLease::new(None);
    let written = write(conn, msgs, &routes, None, &lease, &[]).await?;
    Ok(written.settle(msgs, &lease).0)
}

/// The applications of a batch's messages with their enabled endpoints.
#[derive(Default)]
struct Routes {
    /// By application id; an application deleted meanwhile is missing.
    endpoints: HashMap<String, Vec<Endpoint>>,
}

impl Routes {
    /// Read in one query inside the transaction, so an endpoint created concurrently
    /// either sees a message or was created after it. The applications are locked
    /// against deletion until commit (KEY SHARE lets everything else through), so one
    /// deleted meanwhile refuses its own messages only instead of breaking the foreign
    /// key of the whole batch.
    async fn read(conn: &mut PgConnection, msgs: &[&Message]) -> Result<Self> {
        let app_ids: Vec<&str> = msgs
            .iter()
            .map(|m| m.app_id.as_str())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let sql = format!(
            "SELECT a.id AS live_app, {ENDPOINT_COLS} FROM applications a \
             LEFT JOIN endpoints e ON e.app_id = a.id AND NOT e.disabled \
             WHERE a.id = ANY($1) ORDER BY a.id FOR KEY SHARE OF a"
        );
        let mut routes = Self::default();
        for row in sqlx::query(AssertSqlSafe(sql))
            .bind(&app_ids)
            .fetch_all(&mut *conn)
            .await
            .map_err(map_err)?
        {
            let list = routes
                .endpoints
                .entry(row.try_get("live_app").map_err(map_err)?)
                .or_default();
            if row
                .try_get::<Option<String>, _>("id")
                .map_err(map_err)?
                .is_some()
            {
                list.push(rows::endpoint(&row)?);
            }
        }
        Ok(routes)
    }
}

/// The one statement of a batch. Its parts see one snapshot, so each joins what the
/// part before returned: deliveries only of the messages inserted (one whose `eventId`
/// is taken is skipped), attempts only of the deliveries whose lease held (they are
/// moved on in the same statement), health only from those attempts. The endpoints
/// whose health changes are locked in id order first, so concurrent batches cannot
/// deadlock on them. The NOTIFY, only for work left for the claimers, reaches every
/// node's listener on commit.
const WRITE: &str = "\
WITH m AS ( \
  INSERT INTO messages (id, app_id, event_id, event_type, payload, channels, tags, created_at) \
  SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::bigint[]) \
  ON CONFLICT DO NOTHING RETURNING id \
), queued AS ( \
  INSERT INTO deliveries (msg_id, endpoint_id, status, run_at, updated_at, lease, attempts) \
  SELECT u.* FROM UNNEST($9::text[], $10::text[], $11::bigint[], $12::bigint[], $13::bigint[], $14::text[], $15::bigint[]) \
    AS u(msg_id, endpoint_id, status, run_at, updated_at, lease, attempts) \
  WHERE u.msg_id IN (SELECT id FROM m) \
  RETURNING id, msg_id, endpoint_id, lease \
), announced AS ( \
  SELECT pg_notify($16, '') WHERE EXISTS (SELECT 1 FROM queued WHERE lease IS NULL) \
), fenced AS ( \
  UPDATE deliveries d SET status = v.status, run_at = v.run_at, lease = NULL, manual = FALSE, \
    holds_slot = FALSE, updated_at = v.updated_at \
  FROM UNNEST($17::bigint[], $18::text[], $19::bigint[], $20::bigint[], $21::bigint[]) \
    AS v(id, lease, status, run_at, updated_at) \
  WHERE d.id = v.id AND d.lease = v.lease RETURNING d.id \
), recorded AS ( \
  INSERT INTO attempts (id, msg_id, endpoint_id, url, status, response_status_code, \
    response, response_duration_ms, trigger_type, created_at) \
  SELECT a.id, a.msg_id, a.endpoint_id, a.url, a.status, a.response_status_code, \
    a.response, a.response_duration_ms, a.trigger_type, a.created_at \
  FROM UNNEST($17::bigint[], $22::text[], $23::text[], $24::text[], $25::text[], $26::bigint[], \
    $27::bigint[], $28::text[], $29::bigint[], $30::bigint[], $21::bigint[]) \
    AS a(delivery, id, msg_id, endpoint_id, url, status, response_status_code, response, \
      response_duration_ms, trigger_type, created_at) \
  WHERE a.delivery IN (SELECT id FROM fenced) \
), changing AS ( \
  SELECT e.id, h.success, h.at FROM endpoints e \
  JOIN UNNEST($31::text[], $32::bigint[], $33::bool[], $34::bigint[]) AS h(endpoint_id, delivery, success, at) \
    ON e.id = h.endpoint_id \
  WHERE NOT e.disabled AND (e.failing_since IS NULL) = (NOT h.success) \
    AND h.delivery IN (SELECT id FROM fenced) \
  ORDER BY e.id FOR UPDATE OF e \
), health AS ( \
  UPDATE endpoints e SET failing_since = CASE WHEN c.success THEN NULL ELSE c.at END \
  FROM changing c WHERE e.id = c.id \
) \
SELECT 'message' AS kind, id AS msg_id, NULL::text AS endpoint_id, NULL::bigint AS delivery_id FROM m \
UNION ALL SELECT 'delivery', msg_id, endpoint_id, id FROM queued, (SELECT COUNT(*) FROM announced) AS n \
UNION ALL SELECT 'fenced', NULL, NULL, id FROM fenced";

/// Runs [`WRITE`] for `msgs` (routed by `routes`; those the `handoff`'s worker admits
/// are written leased to it under `lease`) and `done`.
async fn write<'a>(
    conn: &mut PgConnection,
    msgs: &[&'a Message],
    routes: &'a Routes,
    handoff: Option<&Handoff>,
    lease: &BatchLease,
    done: &[Completion],
) -> Result<Written<'a>> {
    // In a stable order, so two batches taking the same eventIds cannot deadlock.
    let mut live: Vec<&Message> = msgs
        .iter()
        .copied()
        .filter(|m| routes.endpoints.contains_key(&m.app_id))
        .collect();
    live.sort_by(|a, b| (&a.app_id, &a.event_id, &a.id).cmp(&(&b.app_id, &b.event_id, &b.id)));
    // Routed as if every message is inserted; `Written::settle` corrects that.
    let (queued, deliveries) = route(msgs, &routes.endpoints, handoff);
    let rows: Vec<DeliveryRow> = deliveries.iter().map(|d| d.row(lease)).collect();
    let next: Vec<_> = done.iter().map(|(_, _, o)| o.next_state()).collect();
    let attempts = || done.iter().map(|(_, a, _)| a);
    let health: Vec<&Completion> = latest_health(done).into_values().collect();
    let returned = sqlx::query(WRITE)
        .bind(live.iter().map(|m| m.id.as_str()).collect::<Vec<_>>())
        .bind(live.iter().map(|m| m.app_id.as_str()).collect::<Vec<_>>())
        .bind(
            live.iter()
                .map(|m| m.event_id.as_deref())
                .collect::<Vec<_>>(),
        )
        .bind(
            live.iter()
                .map(|m| m.event_type.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(live.iter().map(|m| m.payload.as_str()).collect::<Vec<_>>())
        .bind(
            live.iter()
                .map(|m| to_json(&m.channels))
                .collect::<Vec<_>>(),
        )
        .bind(live.iter().map(|m| to_json(&m.tags)).collect::<Vec<_>>())
        .bind(live.iter().map(|m| m.created_at).collect::<Vec<_>>())
        .bind(
            deliveries
                .iter()
                .map(|d| d.msg.id.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            deliveries
                .iter()
                .map(|d| d.endpoint.id.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(rows.iter().map(|r| r.status.code()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.run_at).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.updated_at).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.lease).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.attempts).collect::<Vec<_>>())
        .bind(CHANNEL)
        .bind(
            done.iter()
                .map(|(c, _, _)| c.delivery_id)
                .collect::<Vec<_>>(),
        )
        .bind(
            done.iter()
                .map(|(c, _, _)| c.lease.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(next.iter().map(|(s, _)| s.code()).collect::<Vec<_>>())
        .bind(next.iter().map(|(_, t)| *t).collect::<Vec<_>>())
        // $21 and $17 serve the attempts too: their `created_at` and delivery.
        .bind(attempts().map(|a| a.created_at).collect::<Vec<_>>())
        .bind(attempts().map(|a| a.id.as_str()).collect::<Vec<_>>())
        .bind(attempts().map(|a| a.msg_id.as_str()).collect::<Vec<_>>())
        .bind(
            attempts()
                .map(|a| a.endpoint_id.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(attempts().map(|a| a.url.as_str()).collect::<Vec<_>>())
        .bind(attempts().map(|a| a.status.code()).collect::<Vec<_>>())
        .bind(
            attempts()
                .map(|a| a.response_status_code)
                .collect::<Vec<_>>(),
        )
        // TEXT cannot hold NUL; a receiver's answer may.
        .bind(
            attempts()
                .map(|a| a.response.replace('\0', "\u{FFFD}"))
                .collect::<Vec<_>>(),
        )
        .bind(
            attempts()
                .map(|a| a.response_duration_ms)
                .collect::<Vec<_>>(),
        )
        .bind(
            attempts()
                .map(|a| a.trigger_type as i64)
                .collect::<Vec<_>>(),
        )
        .bind(
            health
                .iter()
                .map(|(_, a, _)| a.endpoint_id.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            health
                .iter()
                .map(|(c, _, _)| c.delivery_id)
                .collect::<Vec<_>>(),
        )
        .bind(
            health
                .iter()
                .map(|(_, _, o)| o.is_success())
                .collect::<Vec<_>>(),
        )
        .bind(
            health
                .iter()
                .map(|(_, a, _)| a.created_at)
                .collect::<Vec<_>>(),
        )
        .fetch_all(&mut *conn)
        .await
        .map_err(map_err)?;
    Written::read(&returned, queued, deliveries)
}

/// What a batch's statement wrote, with the answers and deliveries it was built from.
struct Written<'a> {
    /// Per message its answer as if every insert succeeded.
    queued: Vec<Result<usize>>,
    deliveries: Vec<NewDelivery<'a>>,
    /// Ids of the messages inserted.
    inserted: HashSet<String>,
    /// Delivery ids by (message id, endpoint id).
    ids: HashMap<(String, String), i64>,
    /// Deliveries whose completion held its lease.
    fenced: HashSet<i64>,
}

impl<'a> Written<'a> {
    fn read(
        returned: &[PgRow],
        queued: Vec<Result<usize>>,
        deliveries: Vec<NewDelivery<'a>>,
    ) -> Result<Self> {
        let mut out = Self {
            queued,
            deliveries,
            inserted: HashSet::new(),
            ids: HashMap::new(),
            fenced: HashSet::new(),
        };
        for row in returned {
            let kind: &str = row.try_get("kind").map_err(map_err)?;
            match kind {
                "message" => {
                    out.inserted.insert(row.try_get("msg_id").map_err(map_err)?);
                }
                "delivery" => {
                    let key = (
                        row.try_get("msg_id").map_err(map_err)?,
                        row.try_get("endpoint_id").map_err(map_err)?,
                    );
                    out.ids
                        .insert(key, row.try_get("delivery_id").map_err(map_err)?);
                }
                _ => {
                    out.fenced
                        .insert(row.try_get("delivery_id").map_err(map_err)?);
                }
            }
        }
        Ok(out)
    }

    /// Per completion whether its lease held.
    fn fenced(&self, done: &[Completion]) -> Vec<bool> {
        done.iter()
            .map(|(c, _, _)| self.fenced.contains(&c.delivery_id))
            .collect()
    }

    /// The messages' answers (`Conflict` for one the insert skipped) and the admitted
    /// deliveries as claims, to hand over after the commit.
    fn settle(self, msgs: &[&Message], lease: &BatchLease) -> (Vec<Result<usize>>, Handed) {
        let mut queued = self.queued;
        refuse_skipped(msgs, &mut queued, |id| self.inserted.contains(id));
        (queued, handed(self.deliveries, &self.ids, lease))
    }
}
