//! The PostgreSQL side of the group commit ([`skyhook_store::group`]): one batch of
//! accepted messages and recorded attempts in one transaction, each kind in a few
//! statements over arrays (`UNNEST`). A commit waits for its WAL flush; one flush per
//! batch instead of one per write is what lets several nodes go fast on one database.

use std::collections::{HashMap, HashSet};

use skyhook_domain::model::{Endpoint, Message};
use skyhook_store::group::{
    Applied, BatchLease, Completion, DeliveryRow, handed, latest_health, route,
};
use skyhook_store::handoff::{Handoff, Ticket};
use skyhook_store::{Claim, Result};
use sqlx::postgres::{PgConnection, PgPool};
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
    let mut tx = pool.begin().await.map_err(map_err)?;
    let msgs: Vec<&Message> = messages.iter().collect();
    let (queued, handed) = insert_messages(&mut tx, &msgs, handoff.as_ref()).await?;
    let fenced = complete_many(&mut tx, &completes).await?;
    tx.commit().await.map_err(map_err)?;
    if let Some(handoff) = handoff {
        handoff.hand_over(handed, &queued);
    }
    Ok((queued, fenced))
}

/// Inserts messages and one due delivery per endpoint that accepts each; per message the
/// number queued, `Conflict` when its `eventId` is taken in its application, `NotFound`
/// when its application was deleted meanwhile. Deliveries the `handoff`'s worker admits
/// are written leased to it and returned as claims, to be handed over after the commit;
/// the others are announced to every node's worker on commit.
pub(crate) async fn insert_messages(
    conn: &mut PgConnection,
    msgs: &[&Message],
    handoff: Option<&Handoff>,
) -> Result<(Vec<Result<usize>>, Vec<(Claim, Ticket)>)> {
    if msgs.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    // The applications with their enabled endpoints, in one query. Routing is read
    // inside the transaction, so an endpoint created concurrently either sees a message
    // or was created after it. The applications are locked against deletion until commit
    // (KEY SHARE lets everything else through), so one deleted meanwhile refuses its own
    // messages only instead of breaking the foreign key of the whole batch.
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
    let mut endpoints: HashMap<String, Vec<Endpoint>> = HashMap::new();
    for row in sqlx::query(AssertSqlSafe(sql))
        .bind(&app_ids)
        .fetch_all(&mut *conn)
        .await
        .map_err(map_err)?
    {
        let list = endpoints
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
    // In a stable order, so two batches taking the same eventIds cannot deadlock.
    let mut live: Vec<&Message> = msgs
        .iter()
        .copied()
        .filter(|m| endpoints.contains_key(&m.app_id))
        .collect();
    live.sort_by(|a, b| (&a.app_id, &a.event_id, &a.id).cmp(&(&b.app_id, &b.event_id, &b.id)));
    let column = |f: fn(&Message) -> String| live.iter().map(|m| f(m)).collect::<Vec<_>>();
    let inserted: HashSet<String> = sqlx::query(
        "INSERT INTO messages (id, app_id, event_id, event_type, payload, channels, tags, created_at) \
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::bigint[]) \
         ON CONFLICT DO NOTHING RETURNING id",
    )
    .bind(column(|m| m.id.clone()))
    .bind(column(|m| m.app_id.clone()))
    .bind(live.iter().map(|m| m.event_id.clone()).collect::<Vec<_>>())
    .bind(column(|m| m.event_type.clone()))
    .bind(column(|m| m.payload.clone()))
    .bind(column(|m| to_json(&m.channels)))
    .bind(column(|m| to_json(&m.tags)))
    .bind(live.iter().map(|m| m.created_at).collect::<Vec<_>>())
    .fetch_all(&mut *conn)
    .await
    .map_err(map_err)?
    .iter()
    .map(|r| r.get::<String, _>(0))
    .collect();

    let (results, deliveries) = route(msgs, &endpoints, &inserted, handoff);
    if deliveries.is_empty() {
        return Ok((results, Vec::new()));
    }
    let lease = BatchLease::new(handoff);
    let rows: Vec<DeliveryRow> = deliveries.iter().map(|d| d.row(&lease)).collect();
    let column = |f: fn(&DeliveryRow) -> i64| rows.iter().map(f).collect::<Vec<i64>>();
    // The NOTIFY, only for work left for the claimers, reaches every node's listener on
    // commit.
    let returned = sqlx::query(
        "WITH queued AS ( \
           INSERT INTO deliveries (msg_id, endpoint_id, status, run_at, updated_at, lease, attempts) \
           SELECT * FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[], $6::text[], $7::bigint[]) \
           RETURNING id, msg_id, endpoint_id, lease \
         ), announced AS ( \
           SELECT pg_notify($8, '') WHERE EXISTS (SELECT 1 FROM queued WHERE lease IS NULL) \
         ) \
         SELECT id, msg_id, endpoint_id FROM queued, (SELECT COUNT(*) FROM announced) AS a",
    )
    .bind(deliveries.iter().map(|d| d.msg.id.as_str()).collect::<Vec<_>>())
    .bind(deliveries.iter().map(|d| d.endpoint.id.as_str()).collect::<Vec<_>>())
    .bind(column(|r| r.status.code()))
    .bind(column(|r| r.run_at))
    .bind(column(|r| r.updated_at))
    .bind(rows.iter().map(|r| r.lease).collect::<Vec<_>>())
    .bind(column(|r| r.attempts))
    .bind(CHANNEL)
    .fetch_all(&mut *conn)
    .await
    .map_err(map_err)?;
    // RETURNING gives no order: match the ids by (message, endpoint), which is unique.
    let ids: HashMap<(String, String), i64> = returned
        .iter()
        .map(|r| Ok(((r.try_get(1)?, r.try_get(2)?), r.try_get(0)?)))
        .collect::<std::result::Result<_, sqlx::Error>>()
        .map_err(map_err)?;
    Ok((results, handed(deliveries, &ids, &lease)))
}

/// Records attempts and moves their deliveries on, fenced by lease; per completion
/// whether its lease still held. Keeps each endpoint's health by its latest outcome.
async fn complete_many(conn: &mut PgConnection, done: &[Completion]) -> Result<Vec<bool>> {
    if done.is_empty() {
        return Ok(Vec::new());
    }
    let next: Vec<_> = done.iter().map(|(_, _, o)| o.next_state()).collect();
    let fenced: HashSet<i64> = sqlx::query(
        "UPDATE deliveries d SET status = v.status, run_at = v.run_at, lease = NULL, manual = FALSE, \
           holds_slot = FALSE, updated_at = v.updated_at \
         FROM UNNEST($1::bigint[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[]) \
           AS v(id, lease, status, run_at, updated_at) \
         WHERE d.id = v.id AND d.lease = v.lease RETURNING d.id",
    )
    .bind(done.iter().map(|(c, _, _)| c.delivery_id).collect::<Vec<_>>())
    .bind(done.iter().map(|(c, _, _)| c.lease.as_str()).collect::<Vec<_>>())
    .bind(next.iter().map(|(s, _)| s.code()).collect::<Vec<_>>())
    .bind(next.iter().map(|(_, t)| *t).collect::<Vec<_>>())
    .bind(done.iter().map(|(_, a, _)| a.created_at).collect::<Vec<_>>())
    .fetch_all(&mut *conn)
    .await
    .map_err(map_err)?
    .iter()
    .map(|r| r.get::<i64, _>(0))
    .collect();
    let recorded: Vec<&Completion> = done
        .iter()
        .filter(|(c, _, _)| fenced.contains(&c.delivery_id))
        .collect();
    if !recorded.is_empty() {
        let attempts = || recorded.iter().map(|(_, a, _)| a);
        sqlx::query(
            "INSERT INTO attempts (id, msg_id, endpoint_id, url, status, response_status_code, \
               response, response_duration_ms, trigger_type, created_at) \
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], \
               $6::bigint[], $7::text[], $8::bigint[], $9::bigint[], $10::bigint[])",
        )
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
        .bind(attempts().map(|a| a.created_at).collect::<Vec<_>>())
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    }
    // The latest outcome per endpoint decides its health; only endpoints whose health
    // changes are touched, in id order so concurrent batches cannot deadlock.
    for (endpoint_id, (_, attempt, outcome)) in latest_health(recorded.iter().copied()) {
        sqlx::query(
            "UPDATE endpoints SET failing_since = CASE WHEN $1 THEN NULL ELSE $2 END \
             WHERE id = $3 AND NOT disabled AND (failing_since IS NULL) = (NOT $1)",
        )
        .bind(outcome.is_success())
        .bind(attempt.created_at)
        .bind(endpoint_id)
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    }
    Ok(done
        .iter()
        .map(|(c, _, _)| fenced.contains(&c.delivery_id))
        .collect())
}
