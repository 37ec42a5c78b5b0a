//! The embedded default store: one SQLite file in WAL mode.
//!
//! # Layout
//! - this file: opening the database, pragmas, migrations, error mapping.
//! - `rows`: turning rows into domain records.
//! - `batch`: the group commit of accepted messages and recorded attempts, with the
//!   handoff of new deliveries to this process's worker.
//! - `store` and `quotations`: the [`Store`](skyhook_store::Store) and
//!   [`QuotationStore`](skyhook_store::QuotationStore) implementations.
//!
//! All writes go through one connection, the `Writer` (SQLite allows one writer at a
//! time; queuing writes is cheaper than retrying `SQLITE_BUSY`), reads through a pool.
//! Commits are `synchronous=FULL`: on disk before the API answers.

use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use skyhook_store::StoreError;
use skyhook_store::handoff::Handoff;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{ConnectOptions, Connection};
use tokio::sync::{MappedMutexGuard, Mutex, MutexGuard};

mod batch;
mod jsonb;
#[cfg(test)]
mod migration_tests;
mod quotations;
mod rows;
mod store;
#[cfg(test)]
mod test_support;

/// The SQLite-backed store.
#[derive(Clone)]
pub struct SqliteStore {
    writer: Writer,
    reader: SqlitePool,
    /// The group commit of the hot writes (see `batch`).
    batch: skyhook_store::group::GroupCommit,
    /// Where new deliveries go leased, once a worker in this process asked for them.
    handoff: Arc<OnceLock<Handoff>>,
    /// Where claims start past the due rows of busy endpoints.
    skip_busy: Arc<skyhook_store::SkipBusy>,
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

impl SqliteStore {
    /// Opens (creating it and its directory if needed) the database at `url`
    /// (`sqlite://path/to/file.db`) and applies pending migrations.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let opts = SqliteConnectOptions::from_str(url)
            .map_err(internal)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a commit is on disk (the WAL fsynced) before the API answers 202, so
            // an accepted message survives power loss too, not only a crash of the
            // process. The group commit pays one fsync per batch (~0.15 ms here).
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        if let Some(dir) = Path::new(opts.get_filename())
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
        {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Unavailable(format!("{}: {e}", dir.display())))?;
        }
        let mut conn = opts.connect().await.map_err(map_err)?;
        MIGRATOR.run(&mut conn).await.map_err(|e| match e {
            sqlx::migrate::MigrateError::VersionMissing(v) => StoreError::Internal(format!(
                "the database schema is newer than this binary (it has migration {v}, which \
                 this binary does not know); upgrade skyhook"
            )),
            e => StoreError::Internal(format!("migrations: {e}")),
        })?;
        let writer = Writer::new(opts.clone(), conn);
        // No ping before each use (sqlx's default): the database is a local file, and
        // the ping was a round trip to the connection's thread on every statement.
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .test_before_acquire(false)
            .connect_with(opts.read_only(true))
            .await
            .map_err(map_err)?;
        let handoff = Arc::new(OnceLock::<Handoff>::new());
        let batch = {
            let (writer, handoff) = (writer.clone(), handoff.clone());
            skyhook_store::group::GroupCommit::spawn(move |messages, completes| {
                batch::apply(writer.clone(), handoff.get().cloned(), messages, completes)
            })
        };
        Ok(Self {
            writer,
            reader,
            batch,
            handoff,
            skip_busy: Default::default(),
        })
    }
}

/// The one write connection. Not a pool of one: sqlx's pool answers every release with
/// a spawned task that pings the connection (a round trip to its thread) before the next
/// user may have it, and on the connection every accepted message waits for, that was a
/// quarter of the group commit's time. Users queue on the mutex in arrival order. A
/// connection given up (see [`batch`]) is replaced by a new one for the next user.
#[derive(Clone)]
pub(crate) struct Writer {
    opts: SqliteConnectOptions,
    slot: Arc<Mutex<Slot>>,
}

/// The writer's connection: `None` once given up, until the next user opens another.
pub(crate) struct Slot {
    pub(crate) conn: Option<SqliteConnection>,
    /// The group commit's routes, kept across batches (and across a connection given
    /// up: they are checked against the database, not against this connection).
    pub(crate) routes: batch::RouteCache,
    closed: bool,
}

impl Writer {
    fn new(opts: SqliteConnectOptions, conn: SqliteConnection) -> Self {
        let slot = Slot {
            conn: Some(conn),
            routes: Default::default(),
            closed: false,
        };
        Self {
            opts,
            slot: Arc::new(Mutex::new(slot)),
        }
    }

    /// The connection, once the users before have finished with it.
    pub(crate) async fn conn(&self) -> Result<MappedMutexGuard<'_, SqliteConnection>, StoreError> {
        let slot = self.slot().await?;
        Ok(MutexGuard::map(slot, |s| {
            s.conn.as_mut().expect("slot() opens the connection")
        }))
    }

    /// The whole slot, with a connection in it: [`batch`] may have to give it up.
    pub(crate) async fn slot(&self) -> Result<MutexGuard<'_, Slot>, StoreError> {
        let mut slot = self.slot.lock().await;
        if slot.closed {
            return Err(closed());
        }
        if slot.conn.is_none() {
            slot.conn = Some(self.opts.connect().await.map_err(map_err)?);
        }
        Ok(slot)
    }

    /// Checkpoints and closes the connection; later users get `Unavailable`.
    async fn close(&self) {
        let mut slot = self.slot.lock().await;
        slot.closed = true;
        let Some(mut conn) = slot.conn.take() else {
            return;
        };
        // Everything into the database file, the WAL emptied: a stopped node's data is
        // one file (a copy of it is a backup) and its size is what the data takes.
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&mut conn)
            .await
        {
            tracing::warn!(error = %e, "checkpoint at shutdown failed; the WAL keeps the data");
        }
        if let Err(e) = conn.close().await {
            tracing::warn!(error = %e, "closing the SQLite writer failed");
        }
    }
}

fn closed() -> StoreError {
    StoreError::Unavailable("the store is closed".into())
}

fn internal(e: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(e.to_string())
}

/// Maps a driver error onto the store's error kinds.
pub(crate) fn map_err(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Conflict(db.message().to_string())
        }
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
            StoreError::NotFound("a record this refers to was deleted meanwhile".into())
        }
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
            StoreError::Unavailable(e.to_string())
        }
        _ => internal(e),
    }
}
