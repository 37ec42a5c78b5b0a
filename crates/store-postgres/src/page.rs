//! Keyset pagination: a page is "rows after (or before) this key", never an offset,
//! so pages stay stable while rows are added.

use skyhook_store::Page;

/// The `AND key … $n ORDER BY key … LIMIT n` tail of a list query, its cursor bind,
/// and whether the rows come back reversed (a `before` page is read backwards).
pub(crate) struct Keyset {
    pub(crate) sql: String,
    pub(crate) cursor: Option<String>,
    pub(crate) reversed: bool,
}

/// `placeholder` is the number of the cursor's `$n` (one more than the binds before it).
pub(crate) fn keyset(col: &str, page: &Page, placeholder: usize) -> Keyset {
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
        format!(" AND {col} {cmp} ${placeholder}")
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
    fn a_before_page_reads_backwards_with_the_next_placeholder() {
        let page = Page {
            limit: 5,
            before: Some("k".into()),
            ..Default::default()
        };
        let ks = keyset("m.id", &page, 3);
        assert_eq!(ks.sql, " AND m.id < $3 ORDER BY m.id DESC LIMIT 5");
        assert!(ks.reversed);
        assert_eq!(ks.cursor.as_deref(), Some("k"));
    }
}
