//! `impl QuotationStore for SqliteStore`: quotations, their files (BLOBs) and the
//! per-project quotation secrets.

use async_trait::async_trait;
use skyhook_domain::clock::Millis;
use skyhook_domain::quotation::{NewQuotation, Quotation, QuotationFile};
use skyhook_domain::sealing;
use skyhook_store::{Page, QuotationStore, Result, StoreError};
use sqlx::sqlite::SqliteRow;
use sqlx::{AssertSqlSafe, Connection, Row};

use crate::batch::insert_messages;
use crate::{SqliteStore, map_err};
use skyhook_store::keyset;

const QUOTATION_COLS: &str = "id, app_id, msg_id, customer, configuration, created_at";
const FILE_COLS: &str = "id, quotation_id, name, content_type, size";

fn json_value(row: &SqliteRow, col: &str) -> Result<serde_json::Value> {
    let text: String = row.try_get(col).map_err(map_err)?;
    serde_json::from_str(&text)
        .map_err(|e| StoreError::Internal(format!("stored {col} is unreadable: {e}")))
}

fn quotation(row: &SqliteRow) -> Result<Quotation> {
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

fn file(row: &SqliteRow) -> Result<QuotationFile> {
    Ok(QuotationFile {
        id: row.try_get("id").map_err(map_err)?,
        quotation_id: row.try_get("quotation_id").map_err(map_err)?,
        name: row.try_get("name").map_err(map_err)?,
        content_type: row.try_get("content_type").map_err(map_err)?,
        size: row.try_get::<i64, _>("size").map_err(map_err)?.max(0) as u64,
    })
}

impl SqliteStore {
    /// Fills in the files of `quotations` with one query.
    async fn attach_files(&self, quotations: &mut [Quotation]) -> Result<()> {
        if quotations.is_empty() {
            return Ok(());
        }
        let ids: Vec<&str> = quotations.iter().map(|q| q.id.as_str()).collect();
        let sql = format!(
            "SELECT {FILE_COLS} FROM quotation_files \
             WHERE quotation_id IN (SELECT value FROM json_each(?)) ORDER BY quotation_id, position"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(serde_json::to_string(&ids).expect("strings serialise"))
            .fetch_all(&self.reader)
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
impl QuotationStore for SqliteStore {
    async fn ensure_quotation_secret(
        &self,
        app_id: &str,
        candidate: &str,
        now: Millis,
    ) -> Result<String> {
        let mut conn = self.writer.conn().await?;
        let mut tx = conn.begin().await.map_err(map_err)?;
        sqlx::query(
            "INSERT INTO quotation_secrets (app_id, secret, created_at, updated_at) VALUES (?1, ?2, ?3, ?3) \
             ON CONFLICT (app_id) DO NOTHING",
        )
        .bind(app_id)
        .bind(sealing::seal(candidate))
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        let row = sqlx::query("SELECT secret FROM quotation_secrets WHERE app_id = ?")
            .bind(app_id)
            .fetch_one(&mut *tx)
            .await
            .map_err(map_err)?;
        tx.commit().await.map_err(map_err)?;
        unseal(row.get(0))
    }

    async fn get_quotation_secret(&self, app_id: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT secret FROM quotation_secrets WHERE app_id = ?")
            .bind(app_id)
            .fetch_optional(&self.reader)
            .await
            .map_err(map_err)?;
        row.map(|r| unseal(r.get(0))).transpose()
    }

    async fn set_quotation_secret(&self, app_id: &str, secret: &str, now: Millis) -> Result<()> {
        sqlx::query(
            "INSERT INTO quotation_secrets (app_id, secret, created_at, updated_at) VALUES (?1, ?2, ?3, ?3) \
             ON CONFLICT (app_id) DO UPDATE SET secret = ?2, updated_at = ?3",
        )
        .bind(app_id)
        .bind(sealing::seal(secret))
        .bind(now)
        .execute(&mut *self.writer.conn().await?)
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
        let mut conn = self.writer.conn().await?;
        let mut tx = conn.begin().await.map_err(map_err)?;
        sqlx::query(
            "INSERT INTO quotations (id, app_id, msg_id, customer, configuration, created_at) VALUES (?, ?, ?, ?, ?, ?)",
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
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
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
        // Queued, not handed over: the worker claims it after the commit's wake-up.
        let queued = insert_messages(&mut tx, &[&new.message])
            .await?
            .pop()
            .expect("one result per message")?;
        tx.commit().await.map_err(map_err)?;
        Ok(queued)
    }

    async fn get_quotation(&self, app_id: &str, id: &str) -> Result<Option<Quotation>> {
        let sql = format!("SELECT {QUOTATION_COLS} FROM quotations WHERE app_id = ? AND id = ?");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(app_id)
            .bind(id)
            .fetch_optional(&self.reader)
            .await
            .map_err(map_err)?;
        let Some(row) = row else { return Ok(None) };
        let mut found = [quotation(&row)?];
        self.attach_files(&mut found).await?;
        let [q] = found;
        Ok(Some(q))
    }

    async fn list_quotations(&self, app_id: &str, page: &Page) -> Result<Vec<Quotation>> {
        let ks = keyset("id", page, "?");
        let sql = format!(
            "SELECT {QUOTATION_COLS} FROM quotations WHERE app_id = ?{}",
            ks.sql
        );
        let mut query = sqlx::query(AssertSqlSafe(sql)).bind(app_id);
        if let Some(cursor) = ks.cursor {
            query = query.bind(cursor);
        }
        let rows = query.fetch_all(&self.reader).await.map_err(map_err)?;
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
        let sql =
            format!("SELECT {FILE_COLS}, content FROM quotation_files WHERE app_id = ? AND id = ?");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(app_id)
            .bind(file_id)
            .fetch_optional(&self.reader)
            .await
            .map_err(map_err)?;
        row.map(|r| Ok((file(&r)?, r.try_get("content").map_err(map_err)?)))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use skyhook_domain::quotation::{QuotationRequest, Upload, build};
    use skyhook_store::Store;

    use super::*;
    use crate::test_support::store_with_app;

    #[tokio::test]
    async fn a_quotation_its_files_and_its_message_commit_together() {
        let (_dir, store, app) = store_with_app().await;
        let req = QuotationRequest {
            customer: Some(json!({"name": "Ada"})),
            configuration: None,
            files: vec![
                Upload {
                    name: "a.bin".into(),
                    content_type: None,
                    content: vec![0, 1, 2, 255],
                },
                Upload {
                    name: "b.txt".into(),
                    content_type: Some("text/plain".into()),
                    content: b"hi".to_vec(),
                },
            ],
        };
        let new = build(&app, "http://h/projects/app_1", req, 1000).unwrap();
        assert_eq!(store.create_quotation(&new).await.unwrap(), 0);
        let q = store
            .get_quotation(&app, &new.quotation.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(q, new.quotation);
        let (meta, bytes) = store
            .get_quotation_file(&app, &q.files[0].id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(meta, q.files[0]);
        assert_eq!(bytes, vec![0, 1, 2, 255]);
        assert!(
            store
                .get_quotation_file("app_other", &q.files[0].id)
                .await
                .unwrap()
                .is_none()
        );
        let msg = store.get_message(&app, &q.id).await.unwrap().unwrap();
        assert_eq!(msg, new.message);
        let page = Page {
            limit: 10,
            ..Default::default()
        };
        let listed = store.list_quotations(&app, &page).await.unwrap();
        assert_eq!(listed, vec![q]);

        // A message id that is taken makes the whole quotation fail: nothing is kept.
        let mut clash = build(
            &app,
            "u",
            QuotationRequest {
                customer: Some(json!({})),
                ..Default::default()
            },
            2000,
        )
        .unwrap();
        clash.message.id = new.message.id.clone();
        assert!(store.create_quotation(&clash).await.is_err());
        assert!(
            store
                .get_quotation(&app, &clash.quotation.id)
                .await
                .unwrap()
                .is_none()
        );
    }

    #[tokio::test]
    async fn secrets_are_created_once_and_rotated() {
        let (_dir, store, app) = store_with_app().await;
        assert_eq!(store.get_quotation_secret(&app).await.unwrap(), None);
        let s = store
            .ensure_quotation_secret(&app, "qs_a", 1)
            .await
            .unwrap();
        assert_eq!(s, "qs_a");
        let s = store
            .ensure_quotation_secret(&app, "qs_b", 2)
            .await
            .unwrap();
        assert_eq!(s, "qs_a");
        store.set_quotation_secret(&app, "qs_c", 3).await.unwrap();
        assert_eq!(
            store.get_quotation_secret(&app).await.unwrap().as_deref(),
            Some("qs_c")
        );
    }
}
