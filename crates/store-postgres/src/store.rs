//! `impl Store for PgStore`.

use std::sync::Arc;

use async_trait::async_trait;
use skyhook_domain::clock::Millis;
use skyhook_domain::model::{
    Application, Attempt, DeliveryStatus, Destination, Endpoint, EndpointStats, EventType, Message,
};
use skyhook_store::{
    AttemptFilter, Claim, IDEMPOTENCY_CLAIM_MS, IdempotencyState, IdempotentResponse,
    MessageFilter, Outcome, Page, Result, Store, StoreError, TokenScope,
};
use sqlx::postgres::{PgArguments, PgConnection, PgRow};
use sqlx::{Arguments, AssertSqlSafe, Row};
use tokio::sync::Notify;

use crate::rows::{self, APP_COLS, ATTEMPT_COLS, ENDPOINT_COLS, EVENT_TYPE_COLS, MESSAGE_COLS};
use crate::{CHANNEL, PgStore, map_err};
use skyhook_store::keyset;

/// A value bound into a dynamically built query.
enum Bind {
    Text(String),
    Int(i64),
    TextList(Vec<String>),
}

/// Binds in order and hands out their `$n` placeholders.
#[derive(Default)]
struct Binds(Vec<Bind>);

impl Binds {
    fn push(&mut self, b: Bind) -> String {
        self.0.push(b);
        format!("${}", self.0.len())
    }

    fn args(self) -> Result<PgArguments> {
        let mut args = PgArguments::default();
        for b in self.0 {
            match b {
                Bind::Text(s) => args.add(s),
                Bind::Int(i) => args.add(i),
                Bind::TextList(l) => args.add(l),
            }
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        }
        Ok(args)
    }
}

pub(crate) fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("plain data serialises")
}

const DESTINATION_COLS: &str =
    "d.endpoint_id AS d_endpoint_id, d.status AS d_status, d.run_at AS d_run_at";

/// Wakes every node's listener once the surrounding transaction commits.
pub(crate) async fn notify_work(conn: &mut PgConnection) -> Result<()> {
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(CHANNEL)
        .execute(conn)
        .await
        .map_err(map_err)?;
    Ok(())
}

impl PgStore {
    /// Runs a list query `sql` (ending in a WHERE clause, its binds in `binds`) with
    /// keyset paging on `col`.
    async fn list<T>(
        &self,
        sql: &str,
        mut binds: Binds,
        col: &str,
        page: &Page,
        map: impl Fn(&PgRow) -> Result<T>,
    ) -> Result<Vec<T>> {
        let ks = keyset(col, page, &format!("${}", binds.0.len() + 1));
        if let Some(c) = ks.cursor {
            binds.push(Bind::Text(c));
        }
        let full = format!("{sql}{}", ks.sql);
        let rows = sqlx::query_with(AssertSqlSafe(full), binds.args()?)
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?;
        let mut out = rows.iter().map(map).collect::<Result<Vec<_>>>()?;
        if ks.reversed {
            out.reverse();
        }
        Ok(out)
    }

    async fn list_attempts(
        &self,
        col: &str,
        value: &str,
        filter: &AttemptFilter,
        page: &Page,
    ) -> Result<Vec<Attempt>> {
        let mut binds = Binds::default();
        let mut sql = format!(
            "SELECT {ATTEMPT_COLS} FROM attempts WHERE {col} = {}",
            binds.push(Bind::Text(value.into()))
        );
        if let Some(s) = filter.status {
            sql.push_str(&format!(" AND status = {}", binds.push(Bind::Int(s))));
        }
        if let Some(ep) = &filter.endpoint_id {
            sql.push_str(&format!(
                " AND endpoint_id = {}",
                binds.push(Bind::Text(ep.clone()))
            ));
        }
        self.list(&sql, binds, "id", page, rows::attempt).await
    }
}

#[async_trait]
impl Store for PgStore {
    async fn create_token(&self, hash: &str, scope: &TokenScope) -> Result<()> {
        let app = match scope {
            TokenScope::Admin => None,
            TokenScope::App(id) => Some(id.as_str()),
        };
        sqlx::query("INSERT INTO tokens (hash, app_id, created_at) VALUES ($1, $2, $3)")
            .bind(hash)
            .bind(app)
            .bind(skyhook_domain::clock::now_ms())
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn find_token(&self, hash: &str) -> Result<Option<TokenScope>> {
        let row = sqlx::query("SELECT app_id FROM tokens WHERE hash = $1")
            .bind(hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(row.map(|r| match r.get::<Option<String>, _>(0) {
            None => TokenScope::Admin,
            Some(app) => TokenScope::App(app),
        }))
    }

    async fn has_admin_token(&self) -> Result<bool> {
        let row = sqlx::query("SELECT EXISTS (SELECT 1 FROM tokens WHERE app_id IS NULL)")
            .fetch_one(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(row.get::<bool, _>(0))
    }

    async fn create_app(&self, app: &Application) -> Result<()> {
        sqlx::query("INSERT INTO applications (id, uid, name, throttle_rate, metadata, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(&app.id)
            .bind(&app.uid)
            .bind(&app.name)
            .bind(app.throttle_rate.map(i64::from))
            .bind(to_json(&app.metadata))
            .bind(app.created_at)
            .bind(app.updated_at)
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn get_app(&self, id_or_uid: &str) -> Result<Option<Application>> {
        // The id wins over a uid that happens to equal another application's id.
        let sql = format!(
            "SELECT {APP_COLS} FROM applications WHERE id = $1 OR uid = $1 \
             ORDER BY (id = $1) DESC LIMIT 1"
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(id_or_uid)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        row.as_ref().map(rows::application).transpose()
    }

    async fn list_apps(&self, page: &Page, only: Option<&str>) -> Result<Vec<Application>> {
        let mut binds = Binds::default();
        let sql = match only {
            Some(id) => format!(
                "SELECT {APP_COLS} FROM applications WHERE id = {}",
                binds.push(Bind::Text(id.into()))
            ),
            None => format!("SELECT {APP_COLS} FROM applications WHERE TRUE"),
        };
        self.list(&sql, binds, "id", page, rows::application).await
    }

    async fn update_app(&self, app: &Application) -> Result<()> {
        sqlx::query("UPDATE applications SET uid = $1, name = $2, throttle_rate = $3, metadata = $4, updated_at = $5 WHERE id = $6")
            .bind(&app.uid)
            .bind(&app.name)
            .bind(app.throttle_rate.map(i64::from))
            .bind(to_json(&app.metadata))
            .bind(app.updated_at)
            .bind(&app.id)
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    /// Deletes the application with everything of it. Its messages' attempts and
    /// deliveries first, by hand: their references to messages are not checked by the
    /// database (migration 0007). Holding the application's row keeps any message from
    /// being added meanwhile (its reference check waits for the row, then fails), so
    /// none is left behind; the rest (messages, endpoints, quotations) cascades.
    async fn delete_app(&self, id: &str) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        for sql in [
            "SELECT 1 FROM applications WHERE id = $1 FOR UPDATE",
            "DELETE FROM attempts WHERE msg_id IN (SELECT id FROM messages WHERE app_id = $1)",
            "DELETE FROM deliveries WHERE msg_id IN (SELECT id FROM messages WHERE app_id = $1)",
            "DELETE FROM applications WHERE id = $1",
        ] {
            sqlx::query(sql)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
        }
        tx.commit().await.map_err(map_err)
    }

    async fn create_event_type(&self, et: &EventType) -> Result<()> {
        sqlx::query("INSERT INTO event_types (name, description, archived, deprecated, schemas, group_name, feature_flags, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
            .bind(&et.name)
            .bind(&et.description)
            .bind(et.archived)
            .bind(et.deprecated)
            .bind(et.schemas.as_ref().map(to_json))
            .bind(&et.group_name)
            .bind(to_json(&et.feature_flags))
            .bind(et.created_at)
            .bind(et.updated_at)
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn get_event_type(&self, name: &str) -> Result<Option<EventType>> {
        let sql = format!("SELECT {EVENT_TYPE_COLS} FROM event_types WHERE name = $1");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        row.as_ref().map(rows::event_type).transpose()
    }

    async fn list_event_types(
        &self,
        page: &Page,
        include_archived: bool,
    ) -> Result<Vec<EventType>> {
        let cond = if include_archived {
            "TRUE"
        } else {
            "NOT archived"
        };
        let sql = format!("SELECT {EVENT_TYPE_COLS} FROM event_types WHERE {cond}");
        self.list(&sql, Binds::default(), "name", page, rows::event_type)
            .await
    }

    async fn update_event_type(&self, et: &EventType) -> Result<()> {
        sqlx::query("UPDATE event_types SET description = $1, archived = $2, deprecated = $3, schemas = $4, group_name = $5, feature_flags = $6, updated_at = $7 WHERE name = $8")
            .bind(&et.description)
            .bind(et.archived)
            .bind(et.deprecated)
            .bind(et.schemas.as_ref().map(to_json))
            .bind(&et.group_name)
            .bind(to_json(&et.feature_flags))
            .bind(et.updated_at)
            .bind(&et.name)
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn delete_event_type(&self, name: &str) -> Result<()> {
        sqlx::query("DELETE FROM event_types WHERE name = $1")
            .bind(name)
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn missing_event_types(&self, names: &[String]) -> Result<Vec<String>> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let known: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM event_types WHERE name = ANY($1) AND NOT archived",
        )
        .bind(names)
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(names
            .iter()
            .filter(|n| !known.contains(n))
            .cloned()
            .collect())
    }

    async fn create_endpoint(&self, ep: &Endpoint) -> Result<()> {
        sqlx::query("INSERT INTO endpoints (id, app_id, uid, url, description, throttle_rate, disabled, event_types, channels, metadata, headers, secrets, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)")
            .bind(&ep.id)
            .bind(&ep.app_id)
            .bind(&ep.uid)
            .bind(&ep.url)
            .bind(&ep.description)
            .bind(ep.throttle_rate.map(i64::from))
            .bind(ep.disabled)
            .bind(to_json(&ep.event_types))
            .bind(to_json(&ep.channels))
            .bind(to_json(&ep.metadata))
            .bind(to_json(&ep.headers))
            .bind(to_json(&ep.secrets))
            .bind(ep.created_at)
            .bind(ep.updated_at)
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn get_endpoint(&self, app_id: &str, id_or_uid: &str) -> Result<Option<Endpoint>> {
        let sql = format!(
            "SELECT {ENDPOINT_COLS} FROM endpoints e WHERE e.app_id = $1 AND (e.id = $2 OR e.uid = $2) \
             ORDER BY (e.id = $2) DESC LIMIT 1"
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(app_id)
            .bind(id_or_uid)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        row.as_ref().map(rows::endpoint).transpose()
    }

    async fn list_endpoints(&self, app_id: &str, page: &Page) -> Result<Vec<Endpoint>> {
        let mut binds = Binds::default();
        let sql = format!(
            "SELECT {ENDPOINT_COLS} FROM endpoints e WHERE e.app_id = {}",
            binds.push(Bind::Text(app_id.into()))
        );
        self.list(&sql, binds, "e.id", page, rows::endpoint).await
    }

    async fn update_endpoint(&self, ep: &Endpoint) -> Result<()> {
        // Re-enabling an endpoint restarts its health clock (the RHS sees the old row).
        sqlx::query("UPDATE endpoints SET uid = $1, url = $2, description = $3, throttle_rate = $4, \
                     failing_since = CASE WHEN disabled AND NOT $5 THEN NULL ELSE failing_since END, \
                     disabled = $5, event_types = $6, channels = $7, metadata = $8, headers = $9, secrets = $10, updated_at = $11 WHERE id = $12 AND app_id = $13")
            .bind(&ep.uid)
            .bind(&ep.url)
            .bind(&ep.description)
            .bind(ep.throttle_rate.map(i64::from))
            .bind(ep.disabled)
            .bind(to_json(&ep.event_types))
            .bind(to_json(&ep.channels))
            .bind(to_json(&ep.metadata))
            .bind(to_json(&ep.headers))
            .bind(to_json(&ep.secrets))
            .bind(ep.updated_at)
            .bind(&ep.id)
            .bind(&ep.app_id)
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn delete_endpoint(&self, app_id: &str, id: &str) -> Result<()> {
        sqlx::query("DELETE FROM endpoints WHERE id = $1 AND app_id = $2")
            .bind(id)
            .bind(app_id)
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn endpoint_stats(&self, endpoint_id: &str) -> Result<EndpointStats> {
        let rows = sqlx::query(
            "SELECT status, COUNT(*) FROM deliveries WHERE endpoint_id = $1 GROUP BY status",
        )
        .bind(endpoint_id)
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        let mut stats = EndpointStats::default();
        for row in rows {
            let n: i64 = row.get(1);
            match DeliveryStatus::from_code(row.get(0)) {
                Some(DeliveryStatus::Success) => stats.success = n,
                Some(DeliveryStatus::Pending) => stats.pending = n,
                Some(DeliveryStatus::Fail) => stats.fail = n,
                Some(DeliveryStatus::Sending) => stats.sending = n,
                None => {}
            }
        }
        Ok(stats)
    }

    async fn create_message(&self, msg: &Message) -> Result<usize> {
        self.batch.create_message(msg).await
    }

    async fn get_message(&self, app_id: &str, id_or_event_id: &str) -> Result<Option<Message>> {
        let sql = format!(
            "SELECT {MESSAGE_COLS} FROM messages m WHERE m.app_id = $1 AND (m.id = $2 OR m.event_id = $2) \
             ORDER BY (m.id = $2) DESC LIMIT 1"
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(app_id)
            .bind(id_or_event_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        row.as_ref().map(rows::message).transpose()
    }

    async fn list_messages(
        &self,
        app_id: &str,
        filter: &MessageFilter,
        page: &Page,
    ) -> Result<Vec<Message>> {
        let mut binds = Binds::default();
        let mut sql = format!(
            "SELECT {MESSAGE_COLS} FROM messages m WHERE m.app_id = {}",
            binds.push(Bind::Text(app_id.into()))
        );
        if !filter.event_types.is_empty() {
            let p = binds.push(Bind::TextList(filter.event_types.clone()));
            sql.push_str(&format!(" AND m.event_type = ANY({p})"));
        }
        if let Some(ch) = &filter.channel {
            let p = binds.push(Bind::Text(ch.clone()));
            sql.push_str(&format!(
                " AND m.channels::jsonb @> jsonb_build_array({p}::text)"
            ));
        }
        if let Some(t) = filter.before {
            let p = binds.push(Bind::Int(t));
            sql.push_str(&format!(" AND m.created_at < {p}"));
        }
        if let Some(t) = filter.after {
            let p = binds.push(Bind::Int(t));
            sql.push_str(&format!(" AND m.created_at > {p}"));
        }
        self.list(&sql, binds, "m.id", page, rows::message).await
    }

    async fn list_destinations(&self, msg_id: &str, page: &Page) -> Result<Vec<Destination>> {
        let mut binds = Binds::default();
        let sql = format!(
            "SELECT {DESTINATION_COLS} FROM deliveries d WHERE d.msg_id = {}",
            binds.push(Bind::Text(msg_id.into()))
        );
        self.list(&sql, binds, "d.endpoint_id", page, rows::destination)
            .await
    }

    async fn list_endpoint_messages(
        &self,
        endpoint_id: &str,
        status: Option<i64>,
        page: &Page,
    ) -> Result<Vec<(Message, Destination)>> {
        let mut binds = Binds::default();
        let mut sql = format!(
            "SELECT {MESSAGE_COLS}, {DESTINATION_COLS} FROM deliveries d JOIN messages m ON m.id = d.msg_id WHERE d.endpoint_id = {}",
            binds.push(Bind::Text(endpoint_id.into()))
        );
        if let Some(s) = status {
            sql.push_str(&format!(" AND d.status = {}", binds.push(Bind::Int(s))));
        }
        self.list(&sql, binds, "d.msg_id", page, |r| {
            Ok((rows::message(r)?, rows::destination(r)?))
        })
        .await
    }

    async fn list_attempts_for_message(
        &self,
        msg_id: &str,
        filter: &AttemptFilter,
        page: &Page,
    ) -> Result<Vec<Attempt>> {
        self.list_attempts("msg_id", msg_id, filter, page).await
    }

    async fn list_attempts_for_endpoint(
        &self,
        endpoint_id: &str,
        filter: &AttemptFilter,
        page: &Page,
    ) -> Result<Vec<Attempt>> {
        self.list_attempts("endpoint_id", endpoint_id, filter, page)
            .await
    }

    async fn get_attempt(&self, msg_id: &str, attempt_id: &str) -> Result<Option<Attempt>> {
        let sql = format!("SELECT {ATTEMPT_COLS} FROM attempts WHERE msg_id = $1 AND id = $2");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(msg_id)
            .bind(attempt_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        row.as_ref().map(rows::attempt).transpose()
    }

    async fn resend(&self, msg_id: &str, endpoint_id: &str, now: Millis) -> Result<()> {
        // A delivery still on its schedule is just made due now; a finished one gets
        // a single manual attempt. (SET expressions read the row as it was.)
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        sqlx::query(
            "INSERT INTO deliveries (msg_id, endpoint_id, status, run_at, manual, updated_at) VALUES ($1, $2, 1, $3, TRUE, $3) \
             ON CONFLICT (msg_id, endpoint_id) DO UPDATE SET run_at = $3, updated_at = $3, \
               manual = CASE WHEN deliveries.status IN (0, 2) THEN TRUE ELSE deliveries.manual END, \
               status = CASE WHEN deliveries.status IN (0, 2) THEN 1 ELSE deliveries.status END",
        )
        .bind(msg_id)
        .bind(endpoint_id)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        notify_work(&mut tx).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(())
    }

    async fn recover(
        &self,
        endpoint_id: &str,
        since: Millis,
        until: Millis,
        now: Millis,
    ) -> Result<u64> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        let done = sqlx::query(
            "UPDATE deliveries SET status = 1, run_at = $1, manual = TRUE, updated_at = $1 \
             WHERE endpoint_id = $2 AND status = 2 AND msg_id IN \
               (SELECT id FROM messages WHERE created_at >= $3 AND created_at < $4)",
        )
        .bind(now)
        .bind(endpoint_id)
        .bind(since)
        .bind(until)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        if done.rows_affected() > 0 {
            notify_work(&mut tx).await?;
        }
        tx.commit().await.map_err(map_err)?;
        Ok(done.rows_affected())
    }

    async fn claim_due(
        &self,
        now: Millis,
        limit: u32,
        lease_ms: i64,
        busy_endpoints: &[String],
    ) -> Result<Vec<Claim>> {
        let lease = skyhook_store::new_lease();
        // One statement: pick due rows no other node holds (SKIP LOCKED: never wait on
        // another claimer), lease them, and read what the attempts need. The ids go in as
        // an array: joined to a CTE instead, the planner hashed a sequential scan of the
        // whole table for every claim, which grew slower as the table grew. The scan
        // starts past the due rows of busy endpoints where `SkipBusy` knows them.
        let start = self.skip_busy.start(busy_endpoints, now);
        let sql = format!(
            "WITH picked AS MATERIALIZED ( \
               SELECT id, run_at FROM deliveries \
               WHERE run_at >= $6 AND run_at <= $1 AND NOT (endpoint_id = ANY($5)) \
               ORDER BY run_at LIMIT $4 \
               FOR UPDATE SKIP LOCKED \
             ), claimed AS ( \
               UPDATE deliveries d SET status = 3, run_at = $1 + $2, lease = $3, \
                 attempts = d.attempts + CASE WHEN d.manual THEN 0 ELSE 1 END, updated_at = $1 \
               WHERE d.id = ANY(ARRAY(SELECT id FROM picked)) \
               RETURNING d.id, d.attempts, d.manual, d.holds_slot, d.msg_id, d.endpoint_id \
             ) \
             SELECT d.id AS d_id, d.attempts AS d_attempts, d.manual AS d_manual, d.holds_slot AS d_holds_slot, \
               (SELECT min(run_at) FROM picked) AS first_run_at, {MESSAGE_COLS}, {ENDPOINT_COLS} \
             FROM claimed d JOIN messages m ON m.id = d.msg_id JOIN endpoints e ON e.id = d.endpoint_id"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(now)
            .bind(lease_ms)
            .bind(&lease)
            .bind(i64::from(limit))
            .bind(busy_endpoints)
            .bind(start)
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?;
        let first = match rows.first() {
            Some(row) => Some(row.try_get("first_run_at").map_err(map_err)?),
            None => None,
        };
        self.skip_busy.scanned(busy_endpoints, start, now, first);
        rows.iter()
            .map(|row| {
                Ok(Claim {
                    delivery_id: row.try_get("d_id").map_err(map_err)?,
                    lease: lease.clone(),
                    attempts_made: row.try_get::<i64, _>("d_attempts").map_err(map_err)?.max(0)
                        as u32,
                    manual: row.try_get("d_manual").map_err(map_err)?,
                    holds_slot: row.try_get("d_holds_slot").map_err(map_err)?,
                    message: rows::message(row)?,
                    endpoint: rows::endpoint(row)?,
                })
            })
            .collect()
    }

    async fn complete(&self, claim: &Claim, attempt: &Attempt, outcome: Outcome) -> Result<bool> {
        self.batch.complete(claim, attempt, outcome).await
    }

    fn set_handoff(&self, handoff: skyhook_store::handoff::Handoff) {
        if self.handoff.set(handoff).is_err() {
            tracing::warn!("a second worker asked for the handoff; it keeps claiming");
        }
    }

    async fn defer(&self, claim: &Claim, until: Millis, holds_slot: bool) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE deliveries SET status = 1, run_at = $1, lease = NULL, \
               attempts = attempts - CASE WHEN manual THEN 0 ELSE 1 END, holds_slot = $5, updated_at = $2 \
             WHERE id = $3 AND lease = $4",
        )
        .bind(until)
        .bind(skyhook_domain::clock::now_ms())
        .bind(claim.delivery_id)
        .bind(&claim.lease)
        .bind(holds_slot)
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn reserve_throttle_slot(
        &self,
        endpoint_id: &str,
        interval_us: i64,
        now_us: i64,
    ) -> Result<i64> {
        // The row lock makes concurrent reservations from several nodes take turns.
        let row = sqlx::query(
            "UPDATE endpoints SET throttle_next_us = GREATEST(COALESCE(throttle_next_us, 0), $2) + $3 \
             WHERE id = $1 RETURNING throttle_next_us - $3",
        )
        .bind(endpoint_id)
        .bind(now_us)
        .bind(interval_us)
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?;
        // A deleted endpoint has no slot to wait for.
        row.map_or(Ok(now_us), |r| r.try_get(0).map_err(map_err))
    }

    async fn disable_endpoint(&self, endpoint_id: &str, now: Millis) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE endpoints SET disabled = TRUE, updated_at = $1 WHERE id = $2 AND NOT disabled",
        )
        .bind(now)
        .bind(endpoint_id)
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn next_due(&self) -> Result<Option<Millis>> {
        let row = sqlx::query("SELECT MIN(run_at) FROM deliveries WHERE run_at IS NOT NULL")
            .fetch_one(&self.pool)
            .await
            .map_err(map_err)?;
        row.try_get(0).map_err(map_err)
    }

    async fn queue_depth(&self, now: Millis) -> Result<Option<skyhook_store::QueueDepth>> {
        let row = sqlx::query(
            "SELECT COUNT(*) FILTER (WHERE status <> 3 AND run_at <= $1), \
                    COUNT(*) FILTER (WHERE status <> 3 AND run_at > $1), \
                    COUNT(*) FILTER (WHERE status = 3) \
             FROM deliveries WHERE run_at IS NOT NULL",
        )
        .bind(now)
        .fetch_one(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(Some(skyhook_store::QueueDepth {
            due: row.try_get(0).map_err(map_err)?,
            scheduled: row.try_get(1).map_err(map_err)?,
            sending: row.try_get(2).map_err(map_err)?,
        }))
    }

    async fn begin_idempotent(
        &self,
        key: &str,
        now: Millis,
        since: Millis,
    ) -> Result<IdempotencyState> {
        // Status 0 marks a claim whose answer is not in yet.
        sqlx::query("DELETE FROM idempotency WHERE key = $1 AND (created_at < $2 OR (status = 0 AND created_at < $3))")
            .bind(key)
            .bind(since)
            .bind(now - IDEMPOTENCY_CLAIM_MS)
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        let claimed = sqlx::query("INSERT INTO idempotency (key, status, body, created_at) VALUES ($1, 0, '', $2) ON CONFLICT (key) DO NOTHING")
            .bind(key)
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        if claimed.rows_affected() == 1 {
            return Ok(IdempotencyState::Fresh);
        }
        let row = sqlx::query("SELECT status, body FROM idempotency WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(match row {
            Some(r) if r.get::<i64, _>(0) != 0 => IdempotencyState::Replay(IdempotentResponse {
                status: r.get::<i64, _>(0) as u16,
                body: r.get(1),
            }),
            // Held by a running request (or released in between: retrying is safe).
            _ => IdempotencyState::InProgress,
        })
    }

    async fn forget_idempotent(&self, key: &str) -> Result<()> {
        sqlx::query("DELETE FROM idempotency WHERE key = $1 AND status = 0")
            .bind(key)
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn put_idempotent(
        &self,
        key: &str,
        resp: &IdempotentResponse,
        now: Millis,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO idempotency (key, status, body, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (key) DO UPDATE SET status = excluded.status, body = excluded.body, \
               created_at = excluded.created_at",
        )
        .bind(key)
        .bind(i64::from(resp.status))
        .bind(&resp.body)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(())
    }

    fn watch_for_work(&self, wake: Arc<Notify>) {
        tokio::spawn(PgStore::listen_loop(self.listen.clone(), wake));
    }

    async fn close(&self) {
        self.listen.close().await;
        self.pool.close().await;
    }
}
