//! Identifiers: a Svix prefix followed by 27 base62 characters that sort by creation time.
//!
//! The first 9 characters encode the creation time in milliseconds, the other 18 are
//! random, so ids sort roughly by creation and serve directly as pagination cursors.

use std::sync::Mutex;

use rand::Rng;

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const TIME_CHARS: usize = 9;
const RANDOM_CHARS: usize = 18;

/// Prefix of application ids.
pub const APP: &str = "app";
/// Prefix of endpoint ids.
pub const ENDPOINT: &str = "ep";
/// Prefix of message ids.
pub const MESSAGE: &str = "msg";
/// Prefix of attempt ids.
pub const ATTEMPT: &str = "atmpt";
/// Prefix of background task ids (recover).
pub const TASK: &str = "qtask";
/// Prefix of quotation ids.
pub const QUOTATION: &str = "quo";
/// Prefix of quotation file ids.
pub const FILE: &str = "file";

/// The last id's time and random part, so that ids made in one process strictly increase
/// even within one millisecond (lists page by id, so creation order must be id order).
static LAST: Mutex<(u64, u128)> = Mutex::new((0, 0));

/// 62^18: the range of the random part.
const RANDOM_SPACE: u128 = 62u128.pow(RANDOM_CHARS as u32);

/// A new id with `prefix` created at `now_ms`.
pub fn new_id(prefix: &str, now_ms: i64) -> String {
    let (t, r) = {
        let mut last = LAST.lock().unwrap_or_else(|e| e.into_inner());
        let now = now_ms.max(0) as u64;
        // Start low in the space so increments within a millisecond never overflow it.
        let fresh = || rand::rng().random_range(0..RANDOM_SPACE / 2);
        *last = if now > last.0 {
            (now, fresh())
        } else if last.1 + 1 < RANDOM_SPACE {
            (last.0, last.1 + 1)
        } else {
            (last.0 + 1, fresh())
        };
        *last
    };
    let mut out = String::with_capacity(prefix.len() + 1 + TIME_CHARS + RANDOM_CHARS);
    out.push_str(prefix);
    out.push('_');
    out.push_str(&base62(u128::from(t), TIME_CHARS));
    out.push_str(&base62(r, RANDOM_CHARS));
    out
}

fn base62(mut v: u128, width: usize) -> String {
    let mut buf = vec![b'0'; width];
    for slot in buf.iter_mut().rev() {
        *slot = ALPHABET[(v % 62) as usize];
        v /= 62;
    }
    String::from_utf8(buf).expect("ascii")
}

/// Whether `s` has the shape of an id with `prefix` (so it is not looked up as a uid).
pub fn is_id(prefix: &str, s: &str) -> bool {
    s.strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('_'))
        .is_some_and(|body| {
            body.len() == TIME_CHARS + RANDOM_CHARS
                && body.bytes().all(|b| b.is_ascii_alphanumeric())
        })
}

/// Whether `s` matches the Svix uid / event-type name pattern `^[a-zA-Z0-9\-_.]{1,256}$`.
pub fn is_valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 256
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// A random token body of `len` base62 characters (API tokens, quotation secrets).
pub fn random_base62(len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| ALPHABET[rng.random_range(0..62)] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_the_svix_shape_and_sort_by_time() {
        let a = new_id(MESSAGE, 1_700_000_000_000);
        let b = new_id(MESSAGE, 1_700_000_000_001);
        assert_eq!(a.len(), 4 + 27);
        assert!(is_id(MESSAGE, &a));
        assert!(!is_id(APP, &a));
        assert!(a < b);
        assert_ne!(new_id(APP, 5), new_id(APP, 5));
        let same_ms: Vec<String> = (0..1000)
            .map(|_| new_id(MESSAGE, 1_700_000_000_002))
            .collect();
        assert!(
            same_ms.windows(2).all(|w| w[0] < w[1]),
            "strictly increasing within a millisecond"
        );
    }

    #[test]
    fn names_follow_the_svix_pattern() {
        assert!(is_valid_name("quotation.created"));
        assert!(is_valid_name("my-app_1"));
        assert!(!is_valid_name(""));
        assert!(!is_valid_name("has space"));
        assert!(!is_valid_name(&"a".repeat(257)));
    }
}
