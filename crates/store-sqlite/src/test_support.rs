//! Fixtures for the unit tests: a store in a throwaway directory.

use skyhook_domain::model::Application;
use skyhook_store::Store;

use crate::SqliteStore;

pub(crate) async fn store_with_app() -> (tempfile_dir::Dir, SqliteStore, String) {
    let dir = tempfile_dir::Dir::new();
    let store = SqliteStore::open(&format!("sqlite://{}", dir.path("q.db")))
        .await
        .unwrap();
    let app = Application {
        id: "app_1".into(),
        uid: None,
        name: "p".into(),
        throttle_rate: None,
        metadata: Default::default(),
        created_at: 0,
        updated_at: 0,
    };
    store.create_app(&app).await.unwrap();
    (dir, store, app.id)
}

/// A throwaway directory without a dev-dependency.
pub(crate) mod tempfile_dir {
    pub struct Dir(std::path::PathBuf);
    impl Dir {
        pub fn new() -> Self {
            let p = std::env::temp_dir().join(format!(
                "skyhook-q-{}",
                skyhook_domain::ids::random_base62(12)
            ));
            std::fs::create_dir_all(&p).unwrap();
            Self(p)
        }
        pub fn path(&self, name: &str) -> String {
            self.0.join(name).display().to_string()
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            std::fs::remove_dir_all(&self.0).ok();
        }
    }
}
