//! Keyset pagination: a page is "rows after (or before) this key", never an offset,
//! so pages stay stable while rows are added.

use crate::Page;

/// The `AND key … <placeholder> ORDER BY key … LIMIT n` tail of a list query, its cursor
/// bind, and whether the rows come back reversed (a `before` page is read backwards).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keyset {
    /// SQL to append after the query's WHERE conditions.
    pub sql: String,
    /// The cursor to bind at `placeholder`, if the page has one.
    pub cursor: Option<String>,
    /// Whether the rows must be reversed to be in the list's order.
    pub reversed: bool,
}

/// The keyset tail for listing by `col`; `placeholder` is the backend's bind marker for
/// the cursor (`?` on SQLite, `$n` on PostgreSQL).
pub fn keyset(col: &str, page: &Page, placeholder: &str) -> Keyset {
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
        format!(" AND {col} {cmp} {placeholder}")
    } else {
        String::new()
    };
    Keyset {
        sql: format!("{filter} ORDER BY {col} {dir} LIMIT {}", page.limit),
        cursor,
        reversed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_walk_the_key_in_the_lists_order() {
        let first = keyset(
            "id",
            &Page {
                limit: 3,
                ..Default::default()
            },
            "?",
        );
        assert_eq!(first.sql, " ORDER BY id ASC LIMIT 3");
        assert_eq!(first.cursor, None);
        let next = Page {
            limit: 3,
            after: Some("k".into()),
            descending: true,
            ..Default::default()
        };
        assert_eq!(
            keyset("id", &next, "?").sql,
            " AND id < ? ORDER BY id DESC LIMIT 3"
        );
        let before = Page {
            limit: 5,
            before: Some("k".into()),
            ..Default::default()
        };
        let ks = keyset("m.id", &before, "$3");
        assert_eq!(ks.sql, " AND m.id < $3 ORDER BY m.id DESC LIMIT 5");
        assert!(ks.reversed);
        assert_eq!(ks.cursor.as_deref(), Some("k"));
    }
}
