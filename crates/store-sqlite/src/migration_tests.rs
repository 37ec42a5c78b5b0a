//! Migration 0005 (integer references) on a database filled under the schema before it:
//! every message, delivery and attempt keeps its data and its place in lists.

use skyhook_store::{AttemptFilter, MessageFilter, Page, Store, StoreError};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use std::str::FromStr;

use crate::SqliteStore;
use crate::test_support::tempfile_dir::Dir;

/// Applies the migrations before 0005 (copied to a directory of their own) to `url`.
async fn open_at_schema_4(dir: &Dir, url: &str) -> sqlx::SqlitePool {
    let old = std::path::PathBuf::from(dir.path("migrations"));
    std::fs::create_dir_all(&old).unwrap();
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let mut copied = 0;
    for entry in std::fs::read_dir(src).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        if name.as_str() < "0005" {
            std::fs::copy(&path, old.join(&name)).unwrap();
            copied += 1;
        }
    }
    assert_eq!(copied, 4);
    let opts = SqliteConnectOptions::from_str(url)
        .unwrap()
        .create_if_missing(true)
        .foreign_keys(true);
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(opts)
        .await
        .unwrap();
    sqlx::migrate::Migrator::new(old)
        .await
        .unwrap()
        .run(&pool)
        .await
        .unwrap();
    pool
}

const OLD_DATA: &str = "
INSERT INTO applications VALUES ('app_1', NULL, 'p', NULL, '{}', 0, 0);
INSERT INTO endpoints (id, app_id, uid, url, description, disabled, event_types, channels, metadata, headers, secrets, created_at, updated_at)
VALUES ('ep_a', 'app_1', 'a', 'http://a.example/', '', 0, '[]', '[]', '{}', '{}', 'SECRETS', 0, 0),
       ('ep_b', 'app_1', NULL, 'http://b.example/', '', 0, '[]', '[]', '{}', '{}', 'SECRETS', 0, 0);
INSERT INTO messages VALUES
    ('msg_1', 'app_1', NULL, 't', '{\"n\":1}', '[]', '[]', 1),
    ('msg_2', 'app_1', 'evt-2', 't', '{\"n\":2}', '[\"c\"]', '[]', 2),
    ('msg_3', 'app_1', NULL, 't', '{\"n\":3}', '[]', '[]', 3);
INSERT INTO deliveries (id, msg_id, endpoint_id, status, run_at, attempts, manual, lease, updated_at) VALUES
    (7, 'msg_1', 'ep_a', 0, NULL, 1, 0, NULL, 10),
    (8, 'msg_2', 'ep_a', 2, NULL, 3, 0, NULL, 20),
    (9, 'msg_2', 'ep_b', 0, NULL, 1, 0, NULL, 20),
    (10, 'msg_3', 'ep_a', 1, 5, 0, 0, NULL, 30);
INSERT INTO attempts VALUES
    ('atmpt_1', 'msg_1', 'ep_a', 'http://a.example/', 0, 200, 'ok', 3, 0, 11),
    ('atmpt_2', 'msg_2', 'ep_a', 'http://a.example/', 2, 500, 'no', 4, 0, 21),
    ('atmpt_3', 'msg_2', 'ep_b', 'http://b.example/', 0, 204, '', 5, 0, 22),
    ('atmpt_4', 'msg_2', 'ep_gone', 'http://gone.example/', 0, 200, '', 6, 0, 23);
";

fn page(limit: u32) -> Page {
    Page {
        limit,
        descending: true,
        ..Default::default()
    }
}

#[tokio::test]
async fn migration_5_keeps_every_row_and_its_place_in_lists() {
    let dir = Dir::new();
    let url = format!("sqlite://{}", dir.path("old.db"));
    let pool = open_at_schema_4(&dir, &url).await;
    let secrets = crate::store::to_json(&skyhook_domain::signing::SecretSet::generate());
    let data = OLD_DATA.replace("SECRETS", &secrets);
    sqlx::raw_sql(sqlx::AssertSqlSafe(data))
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;

    let store = SqliteStore::open(&url).await.unwrap();

    let ids = |msgs: Vec<skyhook_domain::model::Message>| -> Vec<String> {
        msgs.into_iter().map(|m| m.id).collect()
    };
    let all = store
        .list_messages("app_1", &MessageFilter::default(), &page(10))
        .await
        .unwrap();
    assert_eq!(all[1].payload, "{\"n\":2}");
    assert_eq!(all[1].channels, vec!["c".to_string()]);
    assert_eq!(ids(all), ["msg_3", "msg_2", "msg_1"]);
    // Paging by a message id as the cursor walks on from that message.
    let next = Page {
        after: Some("msg_3".into()),
        ..page(1)
    };
    let second = store
        .list_messages("app_1", &MessageFilter::default(), &next)
        .await
        .unwrap();
    assert_eq!(ids(second), ["msg_2"]);
    let by_event = store.get_message("app_1", "evt-2").await.unwrap().unwrap();
    assert_eq!(by_event.id, "msg_2");

    let attempts = store
        .list_attempts_for_message("msg_2", &AttemptFilter::default(), &page(10))
        .await
        .unwrap();
    let seen: Vec<(String, String, i64)> = attempts
        .iter()
        .map(|a| (a.id.clone(), a.endpoint_id.clone(), a.response_status_code))
        .collect();
    // The attempt of an endpoint deleted before the migration goes with it.
    assert_eq!(
        seen,
        [
            ("atmpt_3".to_string(), "ep_b".to_string(), 204),
            ("atmpt_2".to_string(), "ep_a".to_string(), 500)
        ]
    );
    let for_a = store
        .list_attempts_for_endpoint("ep_a", &AttemptFilter::default(), &page(10))
        .await
        .unwrap();
    let for_a: Vec<&str> = for_a.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(for_a, ["atmpt_2", "atmpt_1"]);
    let got = store
        .get_attempt("msg_1", "atmpt_1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (got.response.as_str(), got.msg_id.as_str()),
        ("ok", "msg_1")
    );

    let dests = store.list_destinations("msg_2", &page(10)).await.unwrap();
    let dests: Vec<&str> = dests.iter().map(|d| d.endpoint_id.as_str()).collect();
    assert_eq!(dests, ["ep_b", "ep_a"]);
    let stats = store.endpoint_stats("ep_a").await.unwrap();
    assert_eq!((stats.success, stats.fail, stats.pending), (1, 1, 1));

    // The pending delivery is still due and claimable, with its message and endpoint.
    let claims = store.claim_due(100, 10, 30_000, &[]).await.unwrap();
    assert_eq!(claims.len(), 1);
    assert_eq!(claims[0].delivery_id, 10);
    assert_eq!(
        (
            claims[0].message.id.as_str(),
            claims[0].endpoint.id.as_str()
        ),
        ("msg_3", "ep_a")
    );

    // An eventId stays unique within its application.
    let mut again = by_event.clone();
    again.id = "msg_4".into();
    assert!(matches!(
        store.create_message(&again).await,
        Err(StoreError::Conflict(_))
    ));
    store.close().await;
}
