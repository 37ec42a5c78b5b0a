//! A short-lived cache of applications for the message hot path.
//!
//! Accepting a message needs its application (to resolve a uid and check the token's
//! scope); reading it from the store on every request cost about a tenth of the server's
//! CPU under load. Local changes clear the cache at once; another node's change (a
//! rename of the uid, a delete) is seen within [`TTL`]. A message for an application
//! deleted meanwhile is refused by the store's foreign key, so nothing is stored for it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use skyhook_domain::model::Application;

/// How long an entry is trusted.
pub(crate) const TTL: Duration = Duration::from_secs(1);
/// Entries kept at most; the cache is emptied when full (applications are few and hot).
const CAPACITY: usize = 4096;

/// Applications by the id or uid they were looked up with.
#[derive(Default)]
pub(crate) struct AppCache {
    entries: Mutex<HashMap<String, (Application, Instant)>>,
}

impl AppCache {
    /// The cached application for `id_or_uid`, if fresh.
    pub(crate) fn get(&self, id_or_uid: &str) -> Option<Application> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(id_or_uid)
            .filter(|(_, at)| at.elapsed() < TTL)
            .map(|(app, _)| app.clone())
    }

    /// Remembers `app` as the answer for `id_or_uid`.
    pub(crate) fn put(&self, id_or_uid: &str, app: &Application) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        entries.insert(id_or_uid.to_string(), (app.clone(), Instant::now()));
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
        let cache = AppCache::default();
        assert_eq!(cache.get("shop"), None);
        cache.put("shop", &app("app_1"));
        assert_eq!(cache.get("shop").map(|a| a.id), Some("app_1".into()));
        assert_eq!(cache.get("app_1"), None, "keyed by the lookup, not the id");
        cache.clear();
        assert_eq!(cache.get("shop"), None);
    }

    #[test]
    fn stays_bounded() {
        let cache = AppCache::default();
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
