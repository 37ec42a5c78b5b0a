//! Reading columns of SqliteRows; the mapping to domain records is shared
//! (`skyhook_store::rows`), so this file only says how one column is read.

use skyhook_domain::model::{Application, Attempt, Destination, Endpoint, EventType, Message};
use skyhook_store::Result;
use skyhook_store::rows::{self as shared, RowAccess};
pub(crate) use skyhook_store::rows::{APP_COLS, ENDPOINT_COLS, EVENT_TYPE_COLS, MESSAGE_COLS};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

/// A row seen through [`RowAccess`] (a local type, as the orphan rule asks).
struct Columns<'r>(&'r SqliteRow);

impl RowAccess for Columns<'_> {
    fn text(&self, col: &str) -> Result<Option<String>> {
        self.0.try_get(col).map_err(crate::map_err)
    }

    fn int(&self, col: &str) -> Result<Option<i64>> {
        self.0.try_get(col).map_err(crate::map_err)
    }

    fn flag(&self, col: &str) -> Result<bool> {
        self.0.try_get(col).map_err(crate::map_err)
    }
}

pub(crate) fn application(row: &SqliteRow) -> Result<Application> {
    shared::application(&Columns(row))
}

pub(crate) fn event_type(row: &SqliteRow) -> Result<EventType> {
    shared::event_type(&Columns(row))
}

pub(crate) fn endpoint(row: &SqliteRow) -> Result<Endpoint> {
    shared::endpoint(&Columns(row))
}

pub(crate) fn message(row: &SqliteRow) -> Result<Message> {
    shared::message(&Columns(row))
}

pub(crate) fn destination(row: &SqliteRow) -> Result<Destination> {
    shared::destination(&Columns(row))
}

pub(crate) fn attempt(row: &SqliteRow) -> Result<Attempt> {
    shared::attempt(&Columns(row))
}
