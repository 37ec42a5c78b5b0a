//! The SQLite side of the group commit ([`skyhook_store::group`]): one batch of accepted
//! messages and recorded attempts in one transaction, with multi-row statements. Under
//! load that turns several statements and one commit per message into a handful per batch.

use std::collections::{HashMap, HashSet};

use skyhook_domain::model::{Endpoint, Message};
use skyhook_store::group::{Applied, BatchLease, Completion, handed, latest_health, route};
use skyhook_store::handoff::{Handoff, Ticket};
use skyhook_store::{Claim, Result, StoreError};
use sqlx::sqlite::{SqliteArguments, SqliteConnection, SqlitePool};
use sqlx::{Arguments, AssertSqlSafe, Row};

use crate::rows::{self, ENDPOINT_COLS};
use crate::{map_err, store::to_json};

/// Rows per multi-row statement (SQLite allows 32,766 bound values).
const CHUNK: usize = 200;

/// Applies one group-commit batch in one transaction, then hands the deliveries it
/// leased to the worker.
pub(crate) async fn apply(
    writer: SqlitePool,
    handoff: Option<Handoff>,
    messages: Vec<Message>,
    completes: Vec<Completion>,
) -> Result<Applied> {
    let mut tx = writer.begin().await.map_err(map_err)?;
    let msgs: Vec<&Message> = messages.iter().collect();
    let (queued, handed) = insert_messages(&mut tx, &msgs, handoff.as_ref()).await?;
    let done: Vec<&Completion> = completes.iter().collect();
    let fenced = complete_many(&mut tx, &done).await?;
    tx.commit().await.map_err(map_err)?;
    if let Some(handoff) = handoff {
        handoff.hand_over(handed, &queued);
    }
    Ok((queued, fenced))
}

/// Runs `sql` + one `(…)` group per row, in chunks; returns the rows of every chunk.
async fn multi_row<T>(
    conn: &mut SqliteConnection,
    head: &str,
    tail: &str,
    items: &[T],
    arity: usize,
    bind: impl Fn(&mut SqliteArguments, &T) -> std::result::Result<(), sqlx::error::BoxDynError>,
) -> Result<Vec<sqlx::sqlite::SqliteRow>> {
    let group = format!("({})", vec!["?"; arity].join(", "));
    let mut out = Vec::new();
    for chunk in items.chunks(CHUNK) {
        let mut args = SqliteArguments::default();
        for item in chunk {
            bind(&mut args, item).map_err(|e| StoreError::Internal(e.to_string()))?;
        }
        let sql = format!(
            "{head} {} {tail}",
            vec![group.as_str(); chunk.len()].join(", ")
        );
        out.extend(
            sqlx::query_with(AssertSqlSafe(sql), args)
                .fetch_all(&mut *conn)
                .await
                .map_err(map_err)?,
        );
    }
    Ok(out)
}

/// Inserts messages and one due delivery per endpoint that accepts each; per message the
/// number queued, `Conflict` when its `eventId` is taken in its application, `NotFound`
/// when its application was deleted meanwhile. Deliveries the `handoff`'s worker admits
/// are written leased to it and returned as claims, to be handed over after the commit.
pub(crate) async fn insert_messages(
    conn: &mut SqliteConnection,
    msgs: &[&Message],
    handoff: Option<&Handoff>,
) -> Result<(Vec<Result<usize>>, Vec<(Claim, Ticket)>)> {
    if msgs.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    // The applications with their enabled endpoints, in one query inside the write
    // transaction: routing then sees every endpoint created before this message, and a
    // message whose application was deleted since the API looked it up (it would break
    // the foreign key and with it the whole batch) is refused alone.
    let app_ids: HashSet<&str> = msgs.iter().map(|m| m.app_id.as_str()).collect();
    let sql = format!(
        "SELECT a.id AS live_app, e.seq AS e_seq, {ENDPOINT_COLS} FROM applications a \
         LEFT JOIN endpoints e ON e.app_id = a.id AND e.disabled = 0 \
         WHERE a.id IN (SELECT value FROM json_each(?))"
    );
    let mut endpoints: HashMap<String, Vec<Endpoint>> = HashMap::new();
    // Deliveries refer to endpoints and messages by `seq` (migration 0005).
    let mut endpoint_seqs: HashMap<String, i64> = HashMap::new();
    for row in sqlx::query(AssertSqlSafe(sql))
        .bind(to_json(&app_ids))
        .fetch_all(&mut *conn)
        .await
        .map_err(map_err)?
    {
        let list = endpoints.entry(row.get("live_app")).or_default();
        if let Some(seq) = row.get::<Option<i64>, _>("e_seq") {
            let endpoint = rows::endpoint(&row)?;
            endpoint_seqs.insert(endpoint.id.clone(), seq);
            list.push(endpoint);
        }
    }
    let live: Vec<&Message> = msgs
        .iter()
        .copied()
        .filter(|m| endpoints.contains_key(&m.app_id))
        .collect();
    let msg_seqs: HashMap<String, i64> = multi_row(
        conn,
        "INSERT INTO messages (id, app_id, event_id, event_type, payload, channels, tags, created_at) VALUES",
        "ON CONFLICT DO NOTHING RETURNING id, seq",
        &live,
        8,
        |a, m| {
            a.add(&m.id)?;
            a.add(&m.app_id)?;
            a.add(&m.event_id)?;
            a.add(&m.event_type)?;
            a.add(&m.payload)?;
            a.add(to_json(&m.channels))?;
            a.add(to_json(&m.tags))?;
            a.add(m.created_at)
        },
    )
    .await?
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect();
    let inserted: HashSet<String> = msg_seqs.keys().cloned().collect();
    let (results, deliveries) = route(msgs, &endpoints, &inserted, handoff);
    let lease = BatchLease::new(handoff);
    let ids = multi_row(
        conn,
        "INSERT INTO deliveries (msg_seq, endpoint_seq, run_at, updated_at, status, lease, attempts) VALUES",
        "RETURNING id, msg_seq, endpoint_seq",
        &deliveries,
        7,
        |a, d| {
            let row = d.row(&lease);
            a.add(msg_seqs[&d.msg.id])?;
            a.add(endpoint_seqs[&d.endpoint.id])?;
            a.add(row.run_at)?;
            a.add(row.updated_at)?;
            a.add(row.status.code())?;
            a.add(row.lease)?;
            a.add(row.attempts)
        },
    )
    .await?;
    // RETURNING gives no order: match the ids by (message, endpoint), which is unique.
    let msg_ids: HashMap<i64, &String> = msg_seqs.iter().map(|(id, seq)| (*seq, id)).collect();
    let endpoint_ids: HashMap<i64, &String> =
        endpoint_seqs.iter().map(|(id, seq)| (*seq, id)).collect();
    let ids: HashMap<(String, String), i64> = ids
        .iter()
        .map(|r| {
            let (msg, endpoint): (i64, i64) = (r.get(1), r.get(2));
            let key = (msg_ids[&msg].clone(), endpoint_ids[&endpoint].clone());
            (key, r.get(0))
        })
        .collect();
    let handed = handed(deliveries, &ids, &lease);
    Ok((results, handed))
}

/// Records attempts and moves their deliveries on, fenced by lease; per completion
/// whether its lease still held. Keeps each endpoint's health by its latest outcome.
async fn complete_many(conn: &mut SqliteConnection, done: &[&Completion]) -> Result<Vec<bool>> {
    if done.is_empty() {
        return Ok(Vec::new());
    }
    let fenced: HashSet<i64> = multi_row(
        conn,
        "WITH v(id, lease, status, run_at, updated_at) AS (VALUES",
        ") UPDATE deliveries SET status = v.status, run_at = v.run_at, lease = NULL, manual = 0, holds_slot = 0, updated_at = v.updated_at \
         FROM v WHERE deliveries.id = v.id AND deliveries.lease = v.lease RETURNING deliveries.id",
        done,
        5,
        |a, (claim, attempt, outcome)| {
            let (status, run_at) = outcome.next_state();
            a.add(claim.delivery_id)?;
            a.add(&claim.lease)?;
            a.add(status.code())?;
            a.add(run_at)?;
            a.add(attempt.created_at)
        },
    )
    .await?
    .iter()
    .map(|r| r.get::<i64, _>(0))
    .collect();
    let recorded: Vec<&&Completion> = done
        .iter()
        .filter(|(c, _, _)| fenced.contains(&c.delivery_id))
        .collect();
    multi_row(
        conn,
        "WITH v(id, delivery, url, status, response_status_code, response, response_duration_ms, trigger_type, created_at) AS (VALUES",
        ") INSERT INTO attempts (id, msg_seq, endpoint_seq, url, status, response_status_code, response, response_duration_ms, trigger_type, created_at) \
         SELECT v.id, d.msg_seq, d.endpoint_seq, v.url, v.status, v.response_status_code, v.response, v.response_duration_ms, v.trigger_type, v.created_at \
         FROM v JOIN deliveries d ON d.id = v.delivery",
        &recorded,
        9,
        |args, (c, a, _)| {
            args.add(&a.id)?;
            args.add(c.delivery_id)?;
            args.add(&a.url)?;
            args.add(a.status.code())?;
            args.add(a.response_status_code)?;
            args.add(&a.response)?;
            args.add(a.response_duration_ms)?;
            args.add(a.trigger_type as i64)?;
            args.add(a.created_at)
        },
    )
    .await?;
    // The latest outcome per endpoint decides its health; touch only endpoints whose
    // health changes.
    for (endpoint_id, (success, at)) in latest_health(recorded.iter().copied().copied()) {
        sqlx::query(
            "UPDATE endpoints SET failing_since = CASE WHEN ?1 THEN NULL ELSE ?2 END \
             WHERE id = ?3 AND disabled = 0 AND (failing_since IS NULL) = (NOT ?1)",
        )
        .bind(success)
        .bind(at)
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use skyhook_domain::model::{Application, Attempt, DeliveryStatus, Endpoint, Message};
    use skyhook_domain::signing::SecretSet;
    use skyhook_store::handoff::{Admission, Handoff, Ticket};
    use skyhook_store::{Outcome, Store, StoreError};

    use crate::test_support::store_with_app;

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

    /// Admits the first `n` deliveries.
    struct FirstN(AtomicUsize);

    impl Admission for FirstN {
        fn admit(&self, _endpoint_id: &str) -> Option<Ticket> {
            let left = self
                .0
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
            left.is_ok().then(|| Box::new(()) as Ticket)
        }
    }

    #[tokio::test]
    async fn admitted_deliveries_are_handed_over_leased_and_the_rest_is_queued() {
        let (_dir, store, app) = store_with_app().await;
        store
            .create_endpoint(&Endpoint {
                id: "ep_1".into(),
                app_id: app.clone(),
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
            })
            .await
            .unwrap();
        let (claims, mut handed) = tokio::sync::mpsc::unbounded_channel();
        let wake = Arc::new(tokio::sync::Notify::new());
        store.set_handoff(Handoff {
            admission: Arc::new(FirstN(AtomicUsize::new(1))),
            claims,
            lease_ms: 60_000,
            wake: wake.clone(),
        });
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
