//! `impl QuotationStore for PgStore`: quotations, their files (BYTEA) and the
//! per-project quotation secrets.

use async_trait::async_trait;
use skyhook_domain::clock::Millis;
use skyhook_domain::quotation::{NewQuotation, Quotation, QuotationFile};
use skyhook_domain::sealing;
use skyhook_store::{Page, QuotationStore, Result, StoreError};
use sqlx::postgres::PgRow;
use sqlx::{AssertSqlSafe, Row};

use crate::batch::insert_messages;
use crate::{PgStore, map_err};
use skyhook_store::keyset;

const QUOTATION_COLS: &str = "id, app_id, msg_id, customer, configuration, created_at";
const FILE_COLS: &str = "id, quotation_id, name, content_type, size";

fn json_value(row: &PgRow, col: &str) -> Result<serde_json::Value> {
    let text: String = row.try_get(col).map_err(map_err)?;
    serde_json::from_str(&text)
        .map_err(|e| StoreError::Internal(format!("stored {col} is unreadable: {e}")))
}

fn quotation(row: &PgRow) -> Result<Quotation> {
    Ok(Quotation {
        id: row.try_get("id").map_err(map_err)?,
        app_id: row.try_get("app_id").map_err(map_err)?,
        message_id: row.try_get("msg_id").map_err(map_err)?,
        customer: json_value(row, "customer")?,
        configuration: json_value(row, "configuration")?,
        files: Vec::new(),
        created_at: row.try_get("created_at").map_err(map_err)?,
    })
}

fn file(row: &PgRow) -> Result<QuotationFile> {
    Ok(QuotationFile {
        id: row.try_get("id").map_err(map_err)?,
        quotation_id: row.try_get("quotation_id").map_err(map_err)?,
        name: row.try_get("name").map_err(map_err)?,
        content_type: row.try_get("content_type").map_err(map_err)?,
        size: row.try_get::<i64, _>("size").map_err(map_err)?.max(0) as u64,
    })
}

impl PgStore {
    /// Fills in the files of `quotations` with one query.
    async fn attach_files(&self, quotations: &mut [Quotation]) -> Result<()> {
        if quotations.is_empty() {
            return Ok(());
        }
        let ids: Vec<&str> = quotations.iter().map(|q| q.id.as_str()).collect();
        let sql = format!(
            "SELECT {FILE_COLS} FROM quotation_files \
             WHERE quotation_id = ANY($1) ORDER BY quotation_id, position"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(&ids)
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?;
        for row in &rows {
            let f = file(row)?;
            if let Some(q) = quotations.iter_mut().find(|q| q.id == f.quotation_id) {
                q.files.push(f);
            }
        }
        Ok(())
    }
}

/// Quotation secrets are stored sealed with the main key.
fn unseal(stored: String) -> Result<String> {
    sealing::open(&stored).map_err(|e| StoreError::Internal(e.to_string()))
}

#[async_trait]
impl QuotationStore for PgStore {
    async fn ensure_quotation_secret(
        &self,
        app_id: &str,
        candidate: &str,
        now: Millis,
    ) -> Result<String> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        sqlx::query(
            "INSERT INTO quotation_secrets (app_id, secret, created_at, updated_at) VALUES ($1, $2, $3, $3) \
             ON CONFLICT (app_id) DO NOTHING",
        )
        .bind(app_id)
        .bind(sealing::seal(candidate))
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        let row = sqlx::query("SELECT secret FROM quotation_secrets WHERE app_id = $1")
            .bind(app_id)
            .fetch_one(&mut *tx)
            .await
            .map_err(map_err)?;
        tx.commit().await.map_err(map_err)?;
        unseal(row.get(0))
    }

    async fn get_quotation_secret(&self, app_id: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT secret FROM quotation_secrets WHERE app_id = $1")
            .bind(app_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        row.map(|r| unseal(r.get(0))).transpose()
    }

    async fn set_quotation_secret(&self, app_id: &str, secret: &str, now: Millis) -> Result<()> {
        sqlx::query(
            "INSERT INTO quotation_secrets (app_id, secret, created_at, updated_at) VALUES ($1, $2, $3, $3) \
             ON CONFLICT (app_id) DO UPDATE SET secret = $2, updated_at = $3",
        )
        .bind(app_id)
        .bind(sealing::seal(secret))
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn create_quotation(&self, new: &NewQuotation) -> Result<usize> {
        let q = &new.quotation;
        if new.contents.len() != q.files.len() {
            return Err(StoreError::Internal(
                "a quotation's contents must match its files".into(),
            ));
        }
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        sqlx::query(
            "INSERT INTO quotations (id, app_id, msg_id, customer, configuration, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&q.id)
        .bind(&q.app_id)
        .bind(&q.message_id)
        .bind(q.customer.to_string())
        .bind(q.configuration.to_string())
        .bind(q.created_at)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        for (position, (f, content)) in q.files.iter().zip(&new.contents).enumerate() {
            sqlx::query(
                "INSERT INTO quotation_files (id, quotation_id, app_id, position, name, content_type, size, content) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&f.id)
            .bind(&q.id)
            .bind(&q.app_id)
            .bind(position as i64)
            .bind(&f.name)
            .bind(&f.content_type)
            .bind(f.size as i64)
            .bind(content.as_slice())
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        }
        // Queued, not handed over: announced to the workers on commit.
        let queued = insert_messages(&mut tx, &[&new.message])
            .await?
            .pop()
            .expect("one result per message")?;
        tx.commit().await.map_err(map_err)?;
        Ok(queued)
    }

    async fn get_quotation(&self, app_id: &str, id: &str) -> Result<Option<Quotation>> {
        let sql = format!("SELECT {QUOTATION_COLS} FROM quotations WHERE app_id = $1 AND id = $2");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(app_id)
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        let Some(row) = row else { return Ok(None) };
        let mut found = [quotation(&row)?];
        self.attach_files(&mut found).await?;
        let [q] = found;
        Ok(Some(q))
    }

    async fn list_quotations(&self, app_id: &str, page: &Page) -> Result<Vec<Quotation>> {
        let ks = keyset("id", page, "$2");
        let sql = format!(
            "SELECT {QUOTATION_COLS} FROM quotations WHERE app_id = $1{}",
            ks.sql
        );
        let mut query = sqlx::query(AssertSqlSafe(sql)).bind(app_id);
        if let Some(cursor) = ks.cursor {
            query = query.bind(cursor);
        }
        let rows = query.fetch_all(&self.pool).await.map_err(map_err)?;
        let mut out = rows.iter().map(quotation).collect::<Result<Vec<_>>>()?;
        if ks.reversed {
            out.reverse();
        }
        self.attach_files(&mut out).await?;
        Ok(out)
    }

    async fn get_quotation_file(
        &self,
        app_id: &str,
        file_id: &str,
    ) -> Result<Option<(QuotationFile, Vec<u8>)>> {
        let sql = format!(
            "SELECT {FILE_COLS}, content FROM quotation_files WHERE app_id = $1 AND id = $2"
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(app_id)
            .bind(file_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        row.map(|r| Ok((file(&r)?, r.try_get("content").map_err(map_err)?)))
            .transpose()
    }
}
