//! Keyset pagination: a page is "rows after (or before) this key", never an offset,
//! so pages stay stable while rows are added.

use skyhook_store::Page;

/// The `AND key … ? ORDER BY key … LIMIT n` tail of a list query, its cursor bind,
/// and whether the rows come back reversed (a `before` page is read backwards).
pub(crate) struct Keyset {
    pub(crate) sql: String,
    pub(crate) cursor: Option<String>,
    pub(crate) reversed: bool,
}

pub(crate) fn keyset(col: &str, page: &Page) -> Keyset {
    let (cursor, reversed) = match (&page.after, &page.before) {
        (_, Some(b)) => (Some(b.clone()), true),
        (Some(a), None) => (Some(a.clone()), false),
        (None, None) => (None, false),
    };
    // Reading forward in descending order, or backward in ascending order, walks down.
    let down = page.descending != reversed;
    let cmp = if down { "<" } else { ">" };
    let dir = if down { "DESC" } else { "ASC" };
    let filter = if cursor.is_some() {
        format!(" AND {col} {cmp} ?")
    } else {
        String::new()
    };
    Keyset {
        sql: format!("{filter} ORDER BY {col} {dir} LIMIT {}", page.limit),
        cursor,
        reversed,
    }
}
