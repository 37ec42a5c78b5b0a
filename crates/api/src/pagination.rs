//! `limit`, `iterator` and `order`, and the `ListResponse` envelope.
//!
//! The iterator is the key of the last row returned; a `prevIterator` is the key of
//! the first row with a `-` in front, which pages backwards.

use serde::{Deserialize, Serialize};
use skyhook_store::Page;

use crate::error::{ApiError, ApiResult};

/// Query parameters of every list.
#[derive(Debug, Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Page size, 1 to 250 (default 50).
    #[param(minimum = 1, maximum = 250)]
    limit: Option<u32>,
    /// `iterator` (next page) or `prevIterator` (previous page) of a response.
    iterator: Option<String>,
    /// `ascending` or `descending`.
    #[param(pattern = "^(ascending|descending)$")]
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

/// Named like Svix's schemas: `ListResponse_ApplicationOut`. (`ComposeSchema` is how
/// utoipa's derive implements `PartialSchema` for generic types.)
impl<T: utoipa::ToSchema> utoipa::__dev::ComposeSchema for ListResponse<T> {
    fn compose(
        _generics: Vec<utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>>,
    ) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Ref, SchemaType, Type};
        let cursor =
            || ObjectBuilder::new().schema_type(SchemaType::from_iter([Type::String, Type::Null]));
        ObjectBuilder::new()
            .property(
                "data",
                ArrayBuilder::new().items(Ref::from_schema_name(T::name())),
            )
            .property("iterator", cursor())
            .property("prevIterator", cursor())
            .property("done", ObjectBuilder::new().schema_type(Type::Boolean))
            .required("data")
            .required("done")
            .required("iterator")
            .into()
    }
}

impl<T: utoipa::ToSchema> utoipa::ToSchema for ListResponse<T> {
    /// utoipa appends the type argument: `ListResponse_ApplicationOut`.
    fn name() -> std::borrow::Cow<'static, str> {
        "ListResponse".into()
    }

    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        schemas.push((T::name().into(), T::schema()));
        T::schemas(schemas);
    }
}
