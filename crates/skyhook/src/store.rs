//! Opening the store named by `DATABASE_URL`.

use std::sync::Arc;

use anyhow::{Context, bail};
use skyhook_store::Store;
use skyhook_store_sqlite::SqliteStore;

/// Opens the database and applies migrations.
pub async fn open(url: &str) -> anyhow::Result<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        let store = SqliteStore::open(url)
            .await
            .with_context(|| format!("opening {url}"))?;
        return Ok(Arc::new(store));
    }
    if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        bail!("PostgreSQL is not supported by this build yet; use a sqlite:// DATABASE_URL");
    }
    bail!("DATABASE_URL must start with sqlite:// or postgres://, got {url:?}")
}
