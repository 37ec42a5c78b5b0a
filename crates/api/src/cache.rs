//! Short-lived caches for the message hot path: applications, and the tokens that
//! authenticate requests.
//!
//! Accepting a message needs its application (to resolve a uid and check the token's
//! scope); reading it from the store on every request cost about a tenth of the server's
//! CPU under load. A stored token (the one `serve` prints on first start, application
//! tokens) was read from the store on every request too: 40% more server CPU in `e2e`
//! than with a token given in the settings. Local changes clear the application cache at
//! once; another node's change (a rename of the uid, a delete) is seen within [`TTL`].
//! A message for an application deleted meanwhile is refused by the store's foreign key,
//! so nothing is stored for it. Tokens are never changed once stored; only tokens found
//! are cached, so a new one works at once.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long an entry is trusted.
pub(crate) const TTL: Duration = Duration::from_secs(1);
/// Entries kept at most; the cache is emptied when full (applications and tokens are
/// few and hot).
const CAPACITY: usize = 4096;

/// Values by the key they were looked up with.
pub(crate) struct Cache<V> {
    entries: Mutex<HashMap<String, (V, Instant)>>,
}

impl<V> Default for Cache<V> {
    fn default() -> Self {
        Self {
            entries: Default::default(),
        }
    }
}

impl<V: Clone> Cache<V> {
    /// The cached value for `key`, if fresh.
    pub(crate) fn get(&self, key: &str) -> Option<V> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(key)
            .filter(|(_, at)| at.elapsed() < TTL)
            .map(|(v, _)| v.clone())
    }

    /// Remembers `value` as the answer for `key`.
    pub(crate) fn put(&self, key: &str, value: &V) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        entries.insert(key.to_string(), (value.clone(), Instant::now()));
    }

    /// Forgets everything: an application changed here.
    pub(crate) fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

#[cfg(test)]
mod tests {
    use skyhook_domain::model::Application;

    use super::*;

    fn app(id: &str) -> Application {
        Application {
            id: id.into(),
            uid: Some("shop".into()),
            name: "Shop".into(),
            throttle_rate: None,
            metadata: Default::default(),
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn answers_what_was_put_under_the_same_key_until_cleared() {
        let cache = Cache::default();
        assert_eq!(cache.get("shop"), None);
        cache.put("shop", &app("app_1"));
        assert_eq!(cache.get("shop").map(|a| a.id), Some("app_1".into()));
        assert_eq!(cache.get("app_1"), None, "keyed by the lookup, not the id");
        cache.clear();
        assert_eq!(cache.get("shop"), None);
    }

    #[test]
    fn stays_bounded() {
        let cache = Cache::default();
        for i in 0..=CAPACITY {
            cache.put(&format!("k{i}"), &app("app_1"));
        }
        assert!(cache.entries.lock().unwrap().len() <= CAPACITY);
        assert!(
            cache.get(&format!("k{CAPACITY}")).is_some(),
            "the newest is kept"
        );
    }
}
