//! Opening the store named by `DATABASE_URL`.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use skyhook_store::Store;
use skyhook_store_postgres::{PgSettings, PgStore};
use skyhook_store_sqlite::SqliteStore;

use crate::settings::Settings;

/// Whether `url` names a PostgreSQL database.
pub fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres:") || url.starts_with("postgresql:")
}

/// Opens the database with default pool settings and applies migrations.
pub async fn open(url: &str) -> anyhow::Result<Arc<dyn Store>> {
    open_with(url, &PgSettings::default()).await
}

/// Opens the database with the pool settings of `settings` and applies migrations.
pub async fn open_configured(settings: &Settings) -> anyhow::Result<Arc<dyn Store>> {
    let pg = PgSettings {
        pool_size: settings.database_pool_size,
        statement_timeout: settings.database_statement_timeout,
        ..PgSettings::default()
    };
    open_with(&settings.database_url, &pg).await
}

async fn open_with(url: &str, pg: &PgSettings) -> anyhow::Result<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        let store = SqliteStore::open(url)
            .await
            .with_context(|| format!("opening {url}"))?;
        return Ok(Arc::new(store));
    }
    if is_postgres(url) {
        // The error names host, port and database; never the URL (it may hold a password).
        let store = PgStore::open(url, pg).await?;
        return Ok(Arc::new(store));
    }
    bail!("DATABASE_URL must start with sqlite:// or postgres://, got {url:?}")
}

/// The longest an idle worker sleeps without looking at the database. On PostgreSQL,
/// other nodes' wake-ups arrive by LISTEN/NOTIFY, which is lost while the listener
/// reconnects; a short poll bounds the delay that can cause. SQLite has one process,
/// whose API wakes its worker directly.
pub fn worker_max_idle(url: &str) -> Duration {
    if is_postgres(url) {
        Duration::from_secs(2)
    } else {
        Duration::from_secs(30)
    }
}
