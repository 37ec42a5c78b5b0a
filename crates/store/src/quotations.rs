//! Quotations, their files and the per-project quotation secrets.

use async_trait::async_trait;
use skyhook_domain::clock::Millis;
use skyhook_domain::quotation::{NewQuotation, Quotation, QuotationFile};

use crate::{Page, Result};

/// What the quotations feature keeps. Every lookup is scoped by application, so one
/// project can never reach another's quotations or files.
#[async_trait]
pub trait QuotationStore: Send + Sync {
    /// The quotation secret of `app_id`; when it has none yet, stores `candidate` and
    /// returns it (so concurrent callers all get the same one).
    async fn ensure_quotation_secret(
        &self,
        app_id: &str,
        candidate: &str,
        now: Millis,
    ) -> Result<String>;
    /// The quotation secret of `app_id`, if it has one.
    async fn get_quotation_secret(&self, app_id: &str) -> Result<Option<String>>;
    /// Replaces the quotation secret of `app_id` (rotation: the old one stops working).
    async fn set_quotation_secret(&self, app_id: &str, secret: &str, now: Millis) -> Result<()>;

    /// Commits the quotation, its files and its `quotation.created` message with one
    /// due delivery per accepting endpoint, all in one transaction; returns how many
    /// deliveries were queued.
    async fn create_quotation(&self, new: &NewQuotation) -> Result<usize>;
    /// A quotation of `app_id` with its files' metadata.
    async fn get_quotation(&self, app_id: &str, id: &str) -> Result<Option<Quotation>>;
    /// Quotations of `app_id` in id order, with their files' metadata.
    async fn list_quotations(&self, app_id: &str, page: &Page) -> Result<Vec<Quotation>>;
    /// A file of a quotation of `app_id`, with its bytes.
    async fn get_quotation_file(
        &self,
        app_id: &str,
        file_id: &str,
    ) -> Result<Option<(QuotationFile, Vec<u8>)>>;
}
