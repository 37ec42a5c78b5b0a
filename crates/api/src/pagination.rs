//! `limit`, `iterator` and `order`, and the `ListResponse` envelope.
//!
//! The iterator is the key of the last row returned; a `prevIterator` is the key of
//! the first row with a `-` in front, which pages backwards.

use serde::{Deserialize, Serialize};
use skyhook_store::Page;

use crate::error::{ApiError, ApiResult};

/// Query parameters of every list.
#[derive(Debug, Deserialize, Default)]
pub struct ListQuery {
    limit: Option<u32>,
    iterator: Option<String>,
    order: Option<String>,
}

/// A page of results.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListResponse<T> {
    data: Vec<T>,
    iterator: Option<String>,
    prev_iterator: Option<String>,
    done: bool,
}

impl ListQuery {
    /// The page to read; one row more than asked for tells whether more exist.
    pub fn page(&self, default_descending: bool) -> ApiResult<Page> {
        let limit = self.limit.unwrap_or(50);
        if !(1..=250).contains(&limit) {
            return Err(ApiError::Validation(vec![crate::error::FieldError {
                loc: vec!["query".into(), "limit".into()],
                msg: "limit must be between 1 and 250".into(),
                kind: "value_error".into(),
            }]));
        }
        let descending = match self.order.as_deref() {
            None => default_descending,
            Some("ascending") => false,
            Some("descending") => true,
            Some(_) => {
                return Err(ApiError::field(
                    "order",
                    "must be 'ascending' or 'descending'",
                ));
            }
        };
        let (after, before) = match self.iterator.as_deref().filter(|s| !s.is_empty()) {
            Some(it) => match it.strip_prefix('-') {
                Some(prev) => (None, Some(prev.to_string())),
                None => (Some(it.to_string()), None),
            },
            None => (None, None),
        };
        Ok(Page {
            limit: limit + 1,
            after,
            before,
            descending,
        })
    }
}

/// Trims the extra row and builds the envelope; `key` gives a row's cursor.
pub fn respond<R, T>(
    page: &Page,
    mut rows: Vec<R>,
    key: impl Fn(&R) -> String,
    out: impl Fn(R) -> T,
) -> ListResponse<T> {
    let limit = (page.limit - 1) as usize;
    let more = rows.len() > limit;
    if more {
        if page.before.is_some() {
            rows.remove(0);
        } else {
            rows.truncate(limit);
        }
    }
    let iterator = rows.last().map(&key);
    let prev_iterator = rows.first().map(|r| format!("-{}", key(r)));
    // Going backwards, "done" means no rows are left in the forward direction either way.
    let done = if page.before.is_some() { false } else { !more };
    ListResponse {
        data: rows.into_iter().map(out).collect(),
        iterator,
        prev_iterator,
        done,
    }
}
