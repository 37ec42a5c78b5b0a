//! The PostgreSQL store: several Skyhook nodes on one database.
//!
//! # Layout
//! - this file: connecting, pool settings, migrations, error mapping, the wake-up
//!   listener.
//! - `rows`: turning rows into domain records (the same mapping as on SQLite: BIGINT
//!   milliseconds, JSON text).
//! - `batch`: the group commit of accepted messages and recorded attempts.
//! - `store` and `quotations`: the [`Store`](skyhook_store::Store) and
//!   [`QuotationStore`](skyhook_store::QuotationStore) implementations.
//!
//! # Work distribution
//! A node's new deliveries go straight to its own worker when it has room, leased in the
//! transaction that accepts them (`skyhook_store::handoff`). Everything else is claimed by
//! the workers of every node with `FOR UPDATE SKIP LOCKED` and a lease (a visibility
//! timeout plus a fencing token), so nodes never wait on each other's rows and a node
//! that dies has its rows become due again when their leases run out. Every transaction
//! that makes work due for the claimers also runs `pg_notify('skyhook_work', '')`;
//! PostgreSQL delivers it on commit to every node's listener
//! ([`Store::watch_for_work`]), which wakes that node's idle worker at once.
//!
//! [`Store::watch_for_work`]: skyhook_store::Store::watch_for_work

use std::str::FromStr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use skyhook_store::StoreError;
use skyhook_store::handoff::Handoff;
use sqlx::migrate::MigrateError;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Connection};
use tokio::sync::Notify;

mod batch;
mod quotations;
mod rows;
mod store;

/// The channel that announces due work.
pub(crate) const CHANNEL: &str = "skyhook_work";

/// Connection-pool settings.
#[derive(Debug, Clone)]
pub struct PgSettings {
    /// Connections this node keeps at most (besides one for wake-ups).
    pub pool_size: u32,
    /// How long a call waits for a free (or new) connection before failing with
    /// [`StoreError::Unavailable`]; keeps API calls from hanging while the database is away.
    pub acquire_timeout: Duration,
    /// Longest a single statement may run (`statement_timeout`); zero for no limit.
    pub statement_timeout: Duration,
}

impl Default for PgSettings {
    fn default() -> Self {
        Self {
            pool_size: 16,
            acquire_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(30),
        }
    }
}

/// The PostgreSQL-backed store.
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    /// One connection for `LISTEN`, apart from the pool so it never takes a slot.
    listen: PgPool,
    /// The group commit of the hot writes (see `batch`).
    batch: skyhook_store::group::GroupCommit,
    /// Where new deliveries go leased, once a worker in this process asked for them.
    handoff: Arc<OnceLock<Handoff>>,
    /// Where claims start past the due rows of busy endpoints.
    skip_busy: Arc<skyhook_store::SkipBusy>,
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

impl PgStore {
    /// Connects to `url` (`postgres://…` or `postgresql://…`), applies pending
    /// migrations and opens the pool.
    ///
    /// Errors are meant for an operator: an unreachable database gives
    /// `cannot connect to PostgreSQL at host:port/db: …` (never the password), a database
    /// migrated by a newer Skyhook gives `the database schema is newer than this binary`.
    pub async fn open(url: &str, settings: &PgSettings) -> Result<Self, StoreError> {
        let base = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Internal(format!("DATABASE_URL is not valid: {e}")))?
            .application_name("skyhook");
        let target = format!(
            "{}:{}/{}",
            base.get_host(),
            base.get_port(),
            base.get_database().unwrap_or(base.get_username())
        );
        let unreachable =
            |e: &dyn std::fmt::Display| format!("cannot connect to PostgreSQL at {target}: {e}");

        // Migrations run on their own connection without a statement timeout: a long
        // migration on a big table must not be cut off.
        let mut conn = tokio::time::timeout(settings.acquire_timeout * 2, base.connect())
            .await
            .map_err(|_| StoreError::Unavailable(unreachable(&"timed out")))?
            .map_err(|e| StoreError::Unavailable(unreachable(&e)))?;
        MIGRATOR.run(&mut conn).await.map_err(migrate_error)?;
        conn.close().await.ok();

        let timeout_ms = settings.statement_timeout.as_millis().to_string();
        let opts = base.options([("statement_timeout", timeout_ms.as_str())]);
        let pool = PgPoolOptions::new()
            .max_connections(settings.pool_size.max(1))
            .acquire_timeout(settings.acquire_timeout)
            .connect_with(opts.clone())
            .await
            .map_err(|e| StoreError::Unavailable(unreachable(&e)))?;
        let listen = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(settings.acquire_timeout)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_lazy_with(opts);
        let handoff = Arc::new(OnceLock::<Handoff>::new());
        let batch = {
            let (pool, handoff) = (pool.clone(), handoff.clone());
            skyhook_store::group::GroupCommit::spawn(move |messages, completes| {
                batch::apply(pool.clone(), handoff.get().cloned(), messages, completes)
            })
        };
        Ok(Self {
            pool,
            listen,
            batch,
            handoff,
            skip_busy: Default::default(),
        })
    }

    /// Listens on [`CHANNEL`] until the store is closed, reconnecting with backoff.
    async fn listen_loop(listen: PgPool, wake: Arc<Notify>) {
        let mut backoff = Duration::from_millis(100);
        let mut lost = false;
        loop {
            if listen.is_closed() {
                return;
            }
            let result = async {
                let mut listener = PgListener::connect_with(&listen).await?;
                listener.listen(CHANNEL).await?;
                Ok::<_, sqlx::Error>(listener)
            }
            .await;
            match result {
                Ok(mut listener) => {
                    if lost {
                        tracing::info!("listening for wake-ups again");
                    }
                    backoff = Duration::from_millis(100);
                    // Wake-ups sent while nobody listened are gone: look once.
                    wake.notify_one();
                    loop {
                        match listener.try_recv().await {
                            Ok(Some(_)) => wake.notify_one(),
                            // The connection was lost and re-established (LISTEN included).
                            Ok(None) => wake.notify_one(),
                            Err(sqlx::Error::PoolClosed) => return,
                            Err(e) => {
                                tracing::warn!(error = %e, "lost the wake-up listener; reconnecting");
                                break;
                            }
                        }
                    }
                }
                Err(sqlx::Error::PoolClosed) => return,
                Err(e) => {
                    if !lost {
                        tracing::warn!(error = %e, "cannot listen for wake-ups; retrying (workers still poll)");
                    }
                }
            }
            lost = true;
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }
}

fn migrate_error(e: MigrateError) -> StoreError {
    match e {
        MigrateError::VersionMissing(v) => StoreError::Internal(format!(
            "the database schema is newer than this binary (it has migration {v}, which this \
             binary does not know); upgrade skyhook"
        )),
        MigrateError::VersionMismatch(v) => StoreError::Internal(format!(
            "migration {v} in the database differs from this binary's; the database was \
             migrated by another Skyhook build"
        )),
        MigrateError::Execute(e) => match map_err(e) {
            StoreError::Unavailable(d) => StoreError::Unavailable(format!("migrations: {d}")),
            other => StoreError::Internal(format!("migrations: {other}")),
        },
        other => StoreError::Internal(format!("migrations: {other}")),
    }
}

/// Maps a driver error onto the store's error kinds: a unique violation is a
/// [`StoreError::Conflict`]; anything saying the database is away or overloaded right
/// now (connection failures, pool timeouts, shutdown, start-up, statement timeouts,
/// deadlocks) is [`StoreError::Unavailable`], which the API answers with 503.
pub(crate) fn map_err(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Conflict(db.message().to_string())
        }
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
            StoreError::NotFound("a record this refers to was deleted meanwhile".into())
        }
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            // 08 connection exception, 53 insufficient resources, 57 operator
            // intervention (admin shutdown, "the database system is starting up",
            // statement timeout), 58 system error, 40001/40P01 retryable conflicts.
            let transient = ["08", "53", "57", "58"]
                .iter()
                .any(|class| code.starts_with(class))
                || code == "40001"
                || code == "40P01";
            if transient {
                StoreError::Unavailable(e.to_string())
            } else {
                StoreError::Internal(e.to_string())
            }
        }
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed => StoreError::Unavailable(e.to_string()),
        _ => StoreError::Internal(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_unreachable_database_is_named_without_its_password() {
        // A port nobody listens on.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let url = format!("postgres://skyhook:hunter2@127.0.0.1:{port}/skyhook");
        let err = PgStore::open(&url, &PgSettings::default())
            .await
            .err()
            .expect("no database there");
        let text = err.to_string();
        assert!(matches!(err, StoreError::Unavailable(_)), "{text}");
        assert!(
            text.contains(&format!(
                "cannot connect to PostgreSQL at 127.0.0.1:{port}/skyhook"
            )),
            "{text}"
        );
        assert!(!text.contains("hunter2"), "{text}");
    }
}
