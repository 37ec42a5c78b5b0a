//! `impl Store for SqliteStore`.

use async_trait::async_trait;
use skyhook_domain::clock::Millis;
use skyhook_domain::model::{
    Application, Attempt, DeliveryStatus, Destination, Endpoint, EndpointStats, EventType, Message,
};
use skyhook_store::{
    AttemptFilter, Claim, IDEMPOTENCY_CLAIM_MS, IdempotencyState, IdempotentResponse,
    MessageFilter, Outcome, Page, Result, Store, StoreError, TokenScope,
};
use sqlx::sqlite::{SqliteArguments, SqliteRow};
use sqlx::{Arguments, AssertSqlSafe, Row};

use crate::rows::{self, APP_COLS, ENDPOINT_COLS, EVENT_TYPE_COLS, MESSAGE_COLS};
use crate::{SqliteStore, map_err};
use skyhook_store::keyset;

/// A value bound into a dynamically built query.
enum Bind {
    Text(String),
    Int(i64),
}

pub(crate) fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("plain data serialises")
}

// Deliveries and attempts refer to messages and endpoints by `seq` (migration 0005):
// their text ids come from a join, and a text id given by a caller is looked up once.

const DESTINATION_COLS: &str = "e.id AS d_endpoint_id, d.status AS d_status, d.run_at AS d_run_at";

/// The columns of `skyhook_store::rows::ATTEMPT_COLS`, from `ATTEMPTS_FROM`.
const ATTEMPT_COLS: &str = "a.id, m.id AS msg_id, e.id AS endpoint_id, a.url, a.status, \
     a.response_status_code, a.response, a.response_duration_ms, a.trigger_type, a.created_at";
const ATTEMPTS_FROM: &str = "attempts a JOIN messages m ON m.seq = a.msg_seq \
     JOIN endpoints e ON e.seq = a.endpoint_seq";

/// A message's `seq` by its id (a list cursor or a filter).
const MSG_SEQ: &str = "(SELECT seq FROM messages WHERE id = ?)";
/// An endpoint's `seq` by its id.
const ENDPOINT_SEQ: &str = "(SELECT seq FROM endpoints WHERE id = ?)";
/// An attempt's `seq` by its id (a list cursor).
const ATTEMPT_SEQ: &str = "(SELECT seq FROM attempts WHERE id = ?)";

impl SqliteStore {
    /// Runs a list query `sql` (ending in a WHERE clause) with keyset paging on `col`,
    /// compared with `cursor` (SQL with one `?` for the page's cursor).
    async fn list<T>(
        &self,
        sql: &str,
        binds: Vec<Bind>,
        (col, cursor): (&str, &str),
        page: &Page,
        map: impl Fn(&SqliteRow) -> Result<T>,
    ) -> Result<Vec<T>> {
        let ks = keyset(col, page, cursor);
        let mut args = SqliteArguments::default();
        for b in binds.into_iter().chain(ks.cursor.map(Bind::Text)) {
            match b {
                Bind::Text(s) => args.add(s),
                Bind::Int(i) => args.add(i),
            }
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        }
        let full = format!("{sql}{}", ks.sql);
        let rows = sqlx::query_with(AssertSqlSafe(full), args)
            .fetch_all(&self.reader)
            .await
            .map_err(map_err)?;
        let mut out = rows.iter().map(map).collect::<Result<Vec<_>>>()?;
        if ks.reversed {
            out.reverse();
        }
        Ok(out)
    }

    async fn fetch_app(&self, id_or_uid: &str) -> Result<Option<Application>> {
        let sql = format!("SELECT {APP_COLS} FROM applications WHERE id = ?1 OR uid = ?1 LIMIT 1");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(id_or_uid)
            .fetch_optional(&self.reader)
            .await
            .map_err(map_err)?;
        row.as_ref().map(rows::application).transpose()
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn create_token(&self, hash: &str, scope: &TokenScope) -> Result<()> {
        let app = match scope {
            TokenScope::Admin => None,
            TokenScope::App(id) => Some(id.as_str()),
        };
        sqlx::query("INSERT INTO tokens (hash, app_id, created_at) VALUES (?, ?, ?)")
            .bind(hash)
            .bind(app)
            .bind(skyhook_domain::clock::now_ms())
            .execute(&mut *self.writer.conn().await?)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn find_token(&self, hash: &str) -> Result<Option<TokenScope>> {
        let row = sqlx::query("SELECT app_id FROM tokens WHERE hash = ?")
            .bind(hash)
            .fetch_optional(&self.reader)
            .await
            .map_err(map_err)?;
        Ok(row.map(|r| match r.get::<Option<String>, _>(0) {
            None => TokenScope::Admin,
            Some(app) => TokenScope::App(app),
        }))
    }

    async fn has_admin_token(&self) -> Result<bool> {
        let row = sqlx::query("SELECT EXISTS (SELECT 1 FROM tokens WHERE app_id IS NULL)")
            .fetch_one(&mut *self.writer.conn().await?)
            .await
            .map_err(map_err)?;
        Ok(row.get::<bool, _>(0))
    }

    async fn create_app(&self, app: &Application) -> Result<()> {
        sqlx::query("INSERT INTO applications (id, uid, name, throttle_rate, metadata, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)")
            .bind(&app.id)
            .bind(&app.uid)
            .bind(&app.name)
            .bind(app.throttle_rate.map(i64::from))
            .bind(to_json(&app.metadata))
            .bind(app.created_at)
            .bind(app.updated_at)
            .execute(&mut *self.writer.conn().await?)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn get_app(&self, id_or_uid: &str) -> Result<Option<Application>> {
        self.fetch_app(id_or_uid).await
    }

    async fn list_apps(&self, page: &Page, only: Option<&str>) -> Result<Vec<Application>> {
        let (sql, binds) = match only {
            Some(id) => (
                format!("SELECT {APP_COLS} FROM applications WHERE id = ?"),
                vec![Bind::Text(id.into())],
            ),
            None => (
                format!("SELECT {APP_COLS} FROM applications WHERE 1"),
                vec![],
            ),
        };
        self.list(&sql, binds, ("id", "?"), page, rows::application)
            .await
    }

    async fn update_app(&self, app: &Application) -> Result<()> {
        sqlx::query("UPDATE applications SET uid = ?, name = ?, throttle_rate = ?, metadata = ?, updated_at = ? WHERE id = ?")
            .bind(&app.uid)
            .bind(&app.name)
            .bind(app.throttle_rate.map(i64::from))
            .bind(to_json(&app.metadata))
            .bind(app.updated_at)
            .bind(&app.id)
            .execute(&mut *self.writer.conn().await?)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn delete_app(&self, id: &str) -> Result<()> {
        sqlx::query("DELETE FROM applications WHERE id = ?")
            .bind(id)
            .execute(&mut *self.writer.conn().await?)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn create_event_type(&self, et: &EventType) -> Result<()> {
        sqlx::query("INSERT INTO event_types (name, description, archived, deprecated, schemas, group_name, feature_flags, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
            .bind(&et.name)
            .bind(&et.description)
            .bind(et.archived)
            .bind(et.deprecated)
            .bind(et.schemas.as_ref().map(to_json))
            .bind(&et.group_name)
            .bind(to_json(&et.feature_flags))
            .bind(et.created_at)
            .bind(et.updated_at)
            .execute(&mut *self.writer.conn().await?)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn get_event_type(&self, name: &str) -> Result<Option<EventType>> {
        let sql = format!("SELECT {EVENT_TYPE_COLS} FROM event_types WHERE name = ?");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(name)
            .fetch_optional(&self.reader)
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
            "1"
        } else {
            "archived = 0"
        };
        let sql = format!("SELECT {EVENT_TYPE_COLS} FROM event_types WHERE {cond}");
        self.list(&sql, vec![], ("name", "?"), page, rows::event_type)
            .await
    }

    async fn update_event_type(&self, et: &EventType) -> Result<()> {
        sqlx::query("UPDATE event_types SET description = ?, archived = ?, deprecated = ?, schemas = ?, group_name = ?, feature_flags = ?, updated_at = ? WHERE name = ?")
            .bind(&et.description)
            .bind(et.archived)
            .bind(et.deprecated)
            .bind(et.schemas.as_ref().map(to_json))
            .bind(&et.group_name)
            .bind(to_json(&et.feature_flags))
            .bind(et.updated_at)
            .bind(&et.name)
            .execute(&mut *self.writer.conn().await?)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn delete_event_type(&self, name: &str) -> Result<()> {
        sqlx::query("DELETE FROM event_types WHERE name = ?")
            .bind(name)
            .execute(&mut *self.writer.conn().await?)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn missing_event_types(&self, names: &[String]) -> Result<Vec<String>> {
        let mut missing = Vec::new();
        for name in names {
            let row = sqlx::query("SELECT 1 FROM event_types WHERE name = ? AND archived = 0")
                .bind(name)
                .fetch_optional(&self.reader)
                .await
                .map_err(map_err)?;
            if row.is_none() {
                missing.push(name.clone());
            }
        }
        Ok(missing)
    }

    async fn create_endpoint(&self, ep: &Endpoint) -> Result<()> {
        sqlx::query("INSERT INTO endpoints (id, app_id, uid, url, description, throttle_rate, disabled, event_types, channels, metadata, headers, secrets, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
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
            .execute(&mut *self.writer.conn().await?)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn get_endpoint(&self, app_id: &str, id_or_uid: &str) -> Result<Option<Endpoint>> {
        let sql = format!(
            "SELECT {ENDPOINT_COLS} FROM endpoints e WHERE e.app_id = ?1 AND (e.id = ?2 OR e.uid = ?2) LIMIT 1"
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(app_id)
            .bind(id_or_uid)
            .fetch_optional(&self.reader)
            .await
            .map_err(map_err)?;
        row.as_ref().map(rows::endpoint).transpose()
    }

    async fn list_endpoints(&self, app_id: &str, page: &Page) -> Result<Vec<Endpoint>> {
        let sql = format!("SELECT {ENDPOINT_COLS} FROM endpoints e WHERE e.app_id = ?");
        self.list(
            &sql,
            vec![Bind::Text(app_id.into())],
            ("e.id", "?"),
            page,
            rows::endpoint,
        )
        .await
    }

    async fn update_endpoint(&self, ep: &Endpoint) -> Result<()> {
        // Re-enabling an endpoint restarts its health clock (the RHS sees the old row).
        sqlx::query("UPDATE endpoints SET uid = ?, url = ?, description = ?, throttle_rate = ?, \
                     failing_since = CASE WHEN disabled = 1 AND ? = 0 THEN NULL ELSE failing_since END, \
                     disabled = ?, event_types = ?, channels = ?, metadata = ?, headers = ?, secrets = ?, updated_at = ? WHERE id = ? AND app_id = ?")
            .bind(&ep.uid)
            .bind(&ep.url)
            .bind(&ep.description)
            .bind(ep.throttle_rate.map(i64::from))
            .bind(ep.disabled)
            .bind(ep.disabled)
            .bind(to_json(&ep.event_types))
            .bind(to_json(&ep.channels))
            .bind(to_json(&ep.metadata))
            .bind(to_json(&ep.headers))
            .bind(to_json(&ep.secrets))
            .bind(ep.updated_at)
            .bind(&ep.id)
            .bind(&ep.app_id)
            .execute(&mut *self.writer.conn().await?)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn delete_endpoint(&self, app_id: &str, id: &str) -> Result<()> {
        sqlx::query("DELETE FROM endpoints WHERE id = ? AND app_id = ?")
            .bind(id)
            .bind(app_id)
            .execute(&mut *self.writer.conn().await?)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn endpoint_stats(&self, endpoint_id: &str) -> Result<EndpointStats> {
        let sql = format!(
            "SELECT status, COUNT(*) FROM deliveries WHERE endpoint_seq = {ENDPOINT_SEQ} GROUP BY status"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(endpoint_id)
            .fetch_all(&self.reader)
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
            "SELECT {MESSAGE_COLS} FROM messages m WHERE m.app_id = ?1 AND (m.id = ?2 OR m.event_id = ?2) LIMIT 1"
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(app_id)
            .bind(id_or_event_id)
            .fetch_optional(&self.reader)
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
        let mut sql = format!("SELECT {MESSAGE_COLS} FROM messages m WHERE m.app_id = ?");
        let mut binds = vec![Bind::Text(app_id.into())];
        if !filter.event_types.is_empty() {
            sql.push_str(" AND m.event_type IN (SELECT value FROM json_each(?))");
            binds.push(Bind::Text(to_json(&filter.event_types)));
        }
        if let Some(ch) = &filter.channel {
            sql.push_str(" AND EXISTS (SELECT 1 FROM json_each(m.channels) WHERE value = ?)");
            binds.push(Bind::Text(ch.clone()));
        }
        if let Some(t) = filter.before {
            sql.push_str(" AND m.created_at < ?");
            binds.push(Bind::Int(t));
        }
        if let Some(t) = filter.after {
            sql.push_str(" AND m.created_at > ?");
            binds.push(Bind::Int(t));
        }
        self.list(&sql, binds, ("m.seq", MSG_SEQ), page, rows::message)
            .await
    }

    async fn list_destinations(&self, msg_id: &str, page: &Page) -> Result<Vec<Destination>> {
        let sql = format!(
            "SELECT {DESTINATION_COLS} FROM deliveries d JOIN endpoints e ON e.seq = d.endpoint_seq \
             WHERE d.msg_seq = {MSG_SEQ}"
        );
        self.list(
            &sql,
            vec![Bind::Text(msg_id.into())],
            ("e.id", "?"),
            page,
            rows::destination,
        )
        .await
    }

    async fn list_endpoint_messages(
        &self,
        endpoint_id: &str,
        status: Option<i64>,
        page: &Page,
    ) -> Result<Vec<(Message, Destination)>> {
        let mut sql = format!(
            "SELECT {MESSAGE_COLS}, {DESTINATION_COLS} FROM deliveries d JOIN messages m ON m.seq = d.msg_seq \
             JOIN endpoints e ON e.seq = d.endpoint_seq WHERE d.endpoint_seq = {ENDPOINT_SEQ}"
        );
        let mut binds = vec![Bind::Text(endpoint_id.into())];
        if let Some(s) = status {
            sql.push_str(" AND d.status = ?");
            binds.push(Bind::Int(s));
        }
        self.list(&sql, binds, ("d.msg_seq", MSG_SEQ), page, |r| {
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
        self.list_attempts("a.msg_seq", MSG_SEQ, msg_id, filter, page)
            .await
    }

    async fn list_attempts_for_endpoint(
        &self,
        endpoint_id: &str,
        filter: &AttemptFilter,
        page: &Page,
    ) -> Result<Vec<Attempt>> {
        self.list_attempts("a.endpoint_seq", ENDPOINT_SEQ, endpoint_id, filter, page)
            .await
    }

    async fn get_attempt(&self, msg_id: &str, attempt_id: &str) -> Result<Option<Attempt>> {
        let sql = format!("SELECT {ATTEMPT_COLS} FROM {ATTEMPTS_FROM} WHERE m.id = ? AND a.id = ?");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(msg_id)
            .bind(attempt_id)
            .fetch_optional(&self.reader)
            .await
            .map_err(map_err)?;
        row.as_ref().map(rows::attempt).transpose()
    }

    async fn resend(&self, msg_id: &str, endpoint_id: &str, now: Millis) -> Result<()> {
        // A delivery still on its schedule is just made due now; a finished one gets
        // a single manual attempt.
        sqlx::query(
            "INSERT INTO deliveries (msg_seq, endpoint_seq, status, run_at, manual, updated_at) \
             SELECT m.seq, e.seq, 1, ?3, 1, ?3 FROM messages m, endpoints e WHERE m.id = ?1 AND e.id = ?2 \
             ON CONFLICT (msg_seq, endpoint_seq) DO UPDATE SET run_at = ?3, updated_at = ?3, \
               manual = CASE WHEN status IN (0, 2) THEN 1 ELSE manual END, \
               status = CASE WHEN status IN (0, 2) THEN 1 ELSE status END",
        )
        .bind(msg_id)
        .bind(endpoint_id)
        .bind(now)
        .execute(&mut *self.writer.conn().await?)
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn recover(
        &self,
        endpoint_id: &str,
        since: Millis,
        until: Millis,
        now: Millis,
    ) -> Result<u64> {
        let done = sqlx::query(
            "UPDATE deliveries SET status = 1, run_at = ?1, manual = 1, updated_at = ?1 \
             WHERE endpoint_seq = (SELECT seq FROM endpoints WHERE id = ?2) AND status = 2 AND msg_seq IN \
               (SELECT seq FROM messages WHERE created_at >= ?3 AND created_at < ?4)",
        )
        .bind(now)
        .bind(endpoint_id)
        .bind(since)
        .bind(until)
        .execute(&mut *self.writer.conn().await?)
        .await
        .map_err(map_err)?;
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
        // The due rows are found on a reader: the scan past the due rows of busy
        // endpoints can be long (`SkipBusy` shortens it), and readers run beside the
        // writer, which every accepted message waits for. The writer then leases, by
        // primary key, those still due; with nothing due it is not used at all.
        let start = self.skip_busy.start(busy_endpoints, now);
        let due: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT id, run_at FROM deliveries WHERE run_at >= ? AND run_at <= ? \
             AND endpoint_seq NOT IN (SELECT seq FROM endpoints WHERE id IN (SELECT value FROM json_each(?))) \
             ORDER BY run_at LIMIT ?",
        )
        .bind(start)
        .bind(now)
        .bind(to_json(&busy_endpoints))
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await
        .map_err(map_err)?;
        let first = due.first().map(|&(_, run_at)| run_at);
        self.skip_busy.scanned(busy_endpoints, start, now, first);
        if due.is_empty() {
            return Ok(Vec::new());
        }
        // The ids go to the update, then to the read of what it leased.
        let due_json = to_json(&due.iter().map(|&(id, _)| id).collect::<Vec<i64>>());
        // Leased rows are due when the lease runs out, so `run_at` fences against
        // another claim that leased one meanwhile. No RETURNING: sqlx hands each result
        // row from its SQLite thread on its own, a wake-up each, on the connection every
        // accepted message waits for; the read below finds the rows by their lease.
        let claimed = sqlx::query(
            "UPDATE deliveries SET status = 3, run_at = ?1 + ?2, lease = ?3, attempts = attempts + 1 - manual, updated_at = ?1 \
             WHERE id IN (SELECT value FROM json_each(?4)) AND run_at <= ?1",
        )
        .bind(now)
        .bind(lease_ms)
        .bind(&lease)
        .bind(&due_json)
        .execute(&mut *self.writer.conn().await?)
        .await
        .map_err(map_err)?;
        if claimed.rows_affected() == 0 {
            return Ok(Vec::new());
        }
        // By primary key: `lease` has no index, and a scan of it grew with the table.
        // The update has committed, so a reader sees it.
        let sql = format!(
            "SELECT d.id AS d_id, d.attempts AS d_attempts, d.manual AS d_manual, d.holds_slot AS d_holds_slot, {MESSAGE_COLS}, {ENDPOINT_COLS} \
             FROM deliveries d JOIN messages m ON m.seq = d.msg_seq JOIN endpoints e ON e.seq = d.endpoint_seq \
             WHERE d.id IN (SELECT value FROM json_each(?)) AND d.lease = ?"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(&due_json)
            .bind(&lease)
            .fetch_all(&self.reader)
            .await
            .map_err(map_err)?;
        rows.iter()
            .map(|row| {
                Ok(Claim {
                    delivery_id: row.get("d_id"),
                    lease: lease.clone(),
                    attempts_made: row.get::<i64, _>("d_attempts").max(0) as u32,
                    manual: row.get("d_manual"),
                    holds_slot: row.get("d_holds_slot"),
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
            "UPDATE deliveries SET status = 1, run_at = ?1, lease = NULL, attempts = attempts - 1 + manual, \
               holds_slot = ?5, updated_at = ?2 WHERE id = ?3 AND lease = ?4",
        )
        .bind(until)
        .bind(skyhook_domain::clock::now_ms())
        .bind(claim.delivery_id)
        .bind(&claim.lease)
        .bind(holds_slot)
        .execute(&mut *self.writer.conn().await?)
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
        let row = sqlx::query(
            "UPDATE endpoints SET throttle_next_us = MAX(COALESCE(throttle_next_us, 0), ?2) + ?3 \
             WHERE id = ?1 RETURNING throttle_next_us - ?3",
        )
        .bind(endpoint_id)
        .bind(now_us)
        .bind(interval_us)
        .fetch_optional(&mut *self.writer.conn().await?)
        .await
        .map_err(map_err)?;
        // A deleted endpoint has no slot to wait for.
        Ok(row.map_or(now_us, |r| r.get(0)))
    }

    async fn disable_endpoint(&self, endpoint_id: &str, now: Millis) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE endpoints SET disabled = 1, updated_at = ? WHERE id = ? AND disabled = 0",
        )
        .bind(now)
        .bind(endpoint_id)
        .execute(&mut *self.writer.conn().await?)
        .await
        .map_err(map_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn next_due(&self) -> Result<Option<Millis>> {
        // A reader sees every commit made before it starts, which is all the worker
        // needs; on the writer it queued behind group-commit batches and held them up.
        let row = sqlx::query("SELECT MIN(run_at) FROM deliveries WHERE run_at IS NOT NULL")
            .fetch_one(&self.reader)
            .await
            .map_err(map_err)?;
        Ok(row.get(0))
    }

    async fn queue_depth(&self, now: Millis) -> Result<Option<skyhook_store::QueueDepth>> {
        let row = sqlx::query(
            "SELECT COUNT(*) FILTER (WHERE status <> 3 AND run_at <= ?1), \
                    COUNT(*) FILTER (WHERE status <> 3 AND run_at > ?1), \
                    COUNT(*) FILTER (WHERE status = 3) \
             FROM deliveries WHERE run_at IS NOT NULL",
        )
        .bind(now)
        .fetch_one(&self.reader)
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
        sqlx::query("DELETE FROM idempotency WHERE key = ?1 AND (created_at < ?2 OR (status = 0 AND created_at < ?3))")
            .bind(key)
            .bind(since)
            .bind(now - IDEMPOTENCY_CLAIM_MS)
            .execute(&mut *self.writer.conn().await?)
            .await
            .map_err(map_err)?;
        let claimed = sqlx::query("INSERT INTO idempotency (key, status, body, created_at) VALUES (?1, 0, '', ?2) ON CONFLICT (key) DO NOTHING")
            .bind(key)
            .bind(now)
            .execute(&mut *self.writer.conn().await?)
            .await
            .map_err(map_err)?;
        if claimed.rows_affected() == 1 {
            return Ok(IdempotencyState::Fresh);
        }
        let row = sqlx::query("SELECT status, body FROM idempotency WHERE key = ?")
            .bind(key)
            .fetch_optional(&mut *self.writer.conn().await?)
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
        sqlx::query("DELETE FROM idempotency WHERE key = ? AND status = 0")
            .bind(key)
            .execute(&mut *self.writer.conn().await?)
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
        sqlx::query("INSERT OR REPLACE INTO idempotency (key, status, body, created_at) VALUES (?, ?, ?, ?)")
            .bind(key)
            .bind(i64::from(resp.status))
            .bind(&resp.body)
            .bind(now)
            .execute(&mut *self.writer.conn().await?)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }
}

impl SqliteStore {
    /// Attempts whose `col` is the seq that `seq_of` finds for `id`.
    async fn list_attempts(
        &self,
        col: &str,
        seq_of: &str,
        id: &str,
        filter: &AttemptFilter,
        page: &Page,
    ) -> Result<Vec<Attempt>> {
        let mut sql = format!("SELECT {ATTEMPT_COLS} FROM {ATTEMPTS_FROM} WHERE {col} = {seq_of}");
        let mut binds = vec![Bind::Text(id.into())];
        if let Some(s) = filter.status {
            sql.push_str(" AND a.status = ?");
            binds.push(Bind::Int(s));
        }
        if let Some(ep) = &filter.endpoint_id {
            sql.push_str(" AND e.id = ?");
            binds.push(Bind::Text(ep.clone()));
        }
        self.list(&sql, binds, ("a.seq", ATTEMPT_SEQ), page, rows::attempt)
            .await
    }
}
