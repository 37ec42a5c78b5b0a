//! A batch statement's rows in SQLite's binary JSON (JSONB, <https://sqlite.org/jsonb.html>),
//! bound as one blob that `jsonb_each` reads as it is.
//!
//! As text JSON, serde escaped every string (payloads are JSON, full of quotes) and
//! SQLite parsed the whole array back into JSONB for each statement, then unescaped
//! each field it read. JSONB is SQLite's on-disk format, stable across versions; these
//! rows use only its plain elements: null, true, false, integers (as decimal text) and
//! raw text (no escapes).

use std::borrow::Cow;

const NULL: u8 = 0;
const TRUE: u8 = 1;
const FALSE: u8 = 2;
const INT: u8 = 3;
const TEXTRAW: u8 = 10;
const ARRAY: u8 = 11;

/// One field of a row.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cell<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Text(Cow<'a, str>),
}

impl<'a> From<&'a str> for Cell<'a> {
    fn from(s: &'a str) -> Self {
        Self::Text(Cow::Borrowed(s))
    }
}

impl<'a> From<&'a String> for Cell<'a> {
    fn from(s: &'a String) -> Self {
        Self::Text(Cow::Borrowed(s))
    }
}

impl From<String> for Cell<'_> {
    fn from(s: String) -> Self {
        Self::Text(Cow::Owned(s))
    }
}

impl From<i64> for Cell<'_> {
    fn from(n: i64) -> Self {
        Self::Int(n)
    }
}

impl From<bool> for Cell<'_> {
    fn from(b: bool) -> Self {
        Self::Bool(b)
    }
}

impl<'a, T: Into<Cell<'a>>> From<Option<T>> for Cell<'a> {
    fn from(v: Option<T>) -> Self {
        v.map_or(Self::Null, Into::into)
    }
}

impl Cell<'_> {
    fn write(&self, out: &mut Vec<u8>) {
        match self {
            Self::Null => header(out, NULL, 0),
            Self::Bool(true) => header(out, TRUE, 0),
            Self::Bool(false) => header(out, FALSE, 0),
            Self::Int(n) => element(out, INT, itoa::Buffer::new().format(*n).as_bytes()),
            Self::Text(s) => element(out, TEXTRAW, s.as_bytes()),
        }
    }
}

/// An array of arrays, one per row, each holding its cells in order.
pub(crate) fn rows<'a, const N: usize>(rows: impl IntoIterator<Item = [Cell<'a>; N]>) -> Vec<u8> {
    let (mut all, mut row) = (Vec::new(), Vec::new());
    for cells in rows {
        row.clear();
        for cell in &cells {
            cell.write(&mut row);
        }
        element(&mut all, ARRAY, &row);
    }
    let mut out = Vec::with_capacity(all.len() + 9);
    element(&mut out, ARRAY, &all);
    out
}

fn element(out: &mut Vec<u8>, kind: u8, payload: &[u8]) {
    header(out, kind, payload.len());
    out.extend_from_slice(payload);
}

/// The element's type in the low four bits; its payload size in the high four when
/// under 12, else 12–15 there and the size in the next 1, 2, 4 or 8 bytes (big-endian).
fn header(out: &mut Vec<u8>, kind: u8, size: usize) {
    match size {
        0..=11 => out.push(kind | (size as u8) << 4),
        12..=0xff => out.extend_from_slice(&[kind | 0xc0, size as u8]),
        0x100..=0xffff => {
            out.push(kind | 0xd0);
            out.extend_from_slice(&(size as u16).to_be_bytes());
        }
        _ => match u32::try_from(size) {
            Ok(size) => {
                out.push(kind | 0xe0);
                out.extend_from_slice(&size.to_be_bytes());
            }
            Err(_) => {
                out.push(kind | 0xf0);
                out.extend_from_slice(&(size as u64).to_be_bytes());
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::{Connection, Row, SqliteConnection};

    /// What SQLite itself makes of our rows: `json()` renders JSONB as text JSON, and
    /// `->>` gives each field back as an SQL value.
    #[tokio::test]
    async fn sqlite_reads_the_rows_as_written() {
        let long = "x".repeat(300) + "\"quoted\" \\ \u{e9}\u{1F600}\n";
        let huge = "y".repeat(70_000);
        let blob = rows([
            [
                Cell::from("a\"b"),
                Cell::from(-42),
                Cell::Null,
                Cell::from(true),
            ],
            [
                Cell::from(long.clone()),
                Cell::from(i64::MAX),
                Cell::from(Some(i64::MIN)),
                Cell::from(false),
            ],
            [
                Cell::from(""),
                Cell::from(0),
                Cell::from(None::<&str>),
                Cell::from(huge.as_str()),
            ],
        ]);
        let mut db = SqliteConnection::connect("sqlite::memory:").await.unwrap();
        let text: String = sqlx::query_scalar("SELECT json(?)")
            .bind(&blob)
            .fetch_one(&mut db)
            .await
            .unwrap();
        let expected = serde_json::json!([
            ["a\"b", -42, null, true],
            [long, i64::MAX, i64::MIN, false],
            ["", 0, null, huge],
        ]);
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&text).unwrap(),
            expected
        );
        let got = sqlx::query(
            "SELECT value->>0 AS t, value->>1 AS n, value->>2 AS o, typeof(value->>2) AS o_type \
             FROM jsonb_each(?) ORDER BY key",
        )
        .bind(&blob)
        .fetch_all(&mut db)
        .await
        .unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!(got[1].get::<String, _>("t"), long);
        assert_eq!(got[1].get::<i64, _>("n"), i64::MAX);
        assert_eq!(got[1].get::<i64, _>("o"), i64::MIN);
        assert_eq!(got[2].get::<String, _>("o_type"), "null");
        assert_eq!(got[0].get::<String, _>("t"), "a\"b");
    }

    #[test]
    fn sizes_take_the_shortest_header() {
        let mut out = Vec::new();
        for size in [0, 11, 12, 255, 256, 65_535, 65_536] {
            out.clear();
            header(&mut out, TEXTRAW, size);
            let expected: &[u8] = match size {
                0 => &[0x0a],
                11 => &[0xba],
                12 => &[0xca, 12],
                255 => &[0xca, 255],
                256 => &[0xda, 1, 0],
                65_535 => &[0xda, 0xff, 0xff],
                _ => &[0xea, 0, 1, 0, 0],
            };
            assert_eq!(out, expected, "size {size}");
        }
    }
}
