//! The queue on PostgreSQL at the store level: concurrent claimers never share a row
//! (`FOR UPDATE SKIP LOCKED`), an expired lease is taken over and fences the old
//! holder out, claims pass over busy endpoints' rows, NOTIFY reaches a listener, and a
//! database migrated by a newer build is refused with a clear message. Needs PostgreSQL at 127.0.0.1:5432 (skips without it,
//! fails under `SKYHOOK_TEST_STRICT=1`).

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::SeqCst;
use std::time::Duration;

use skyhook_domain::model::{Application, Attempt, DeliveryStatus, Endpoint, Message, TriggerType};
use skyhook_domain::signing::SecretSet;
use skyhook_store::handoff::{Refusal, Ticket};
use skyhook_store::{Outcome, Store, StoreError};
use skyhook_store_postgres::{PgSettings, PgStore};
use sqlx::{AssertSqlSafe, Connection, Executor};

const HOST: &str = "127.0.0.1:5432";

/// A fresh database, dropped (with FORCE) at the end.
struct Db(String);

impl Db {
    async fn new() -> Option<Self> {
        let reachable =
            std::net::TcpStream::connect_timeout(&HOST.parse().unwrap(), Duration::from_secs(2))
                .is_ok();
        if !reachable {
            let strict = std::env::var("SKYHOOK_TEST_STRICT").is_ok_and(|v| v == "1");
            assert!(
                !strict,
                "SKYHOOK_TEST_STRICT=1 but PostgreSQL is not reachable at {HOST}"
            );
            eprintln!("SKIPPED: PostgreSQL is not reachable at {HOST}");
            return None;
        }
        let name = format!(
            "skyhook_t_{}",
            skyhook_domain::ids::random_base62(20).to_lowercase()
        );
        admin(&format!("CREATE DATABASE {name}")).await;
        Some(Self(name))
    }

    fn url(&self) -> String {
        format!("postgres://postgres@{HOST}/{}", self.0)
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.0);
        std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(admin(&sql))
        })
        .join()
        .ok();
    }
}

async fn admin(sql: &str) {
    let mut conn = sqlx::PgConnection::connect(&format!("postgres://postgres@{HOST}/postgres"))
        .await
        .unwrap();
    conn.execute(AssertSqlSafe(sql.to_string())).await.unwrap();
}

/// A store with one application and one endpoint, and `n` messages queued for it.
async fn queued(db: &Db, n: usize) -> PgStore {
    let store = PgStore::open(&db.url(), &PgSettings::default())
        .await
        .unwrap();
    let app = Application {
        id: "app_1".into(),
        uid: None,
        name: "a".into(),
        throttle_rate: None,
        metadata: Default::default(),
        created_at: 0,
        updated_at: 0,
    };
    store.create_app(&app).await.unwrap();
    let ep = Endpoint {
        id: "ep_1".into(),
        app_id: app.id.clone(),
        uid: None,
        url: "https://example.com/hook".into(),
        description: String::new(),
        throttle_rate: None,
        disabled: false,
        event_types: vec![],
        channels: vec![],
        metadata: Default::default(),
        headers: Default::default(),
        secrets: SecretSet::generate(),
        failing_since: None,
        created_at: 0,
        updated_at: 0,
    };
    store.create_endpoint(&ep).await.unwrap();
    for i in 0..n {
        let msg = Message {
            payload: format!("{{\"i\":{i}}}"),
            ..message(&format!("msg_{i:08}"), 1_000)
        };
        assert_eq!(store.create_message(&msg).await.unwrap(), 1);
    }
    store
}

/// A message of application `app_1`, accepted at `created_at`.
fn message(id: &str, created_at: i64) -> Message {
    Message {
        id: id.into(),
        app_id: "app_1".into(),
        event_id: None,
        event_type: "a.b".into(),
        payload: "{}".into(),
        channels: vec![],
        tags: vec![],
        created_at,
    }
}

fn attempt(msg_id: &str, at: i64) -> Attempt {
    Attempt {
        id: format!("atmpt_{}", skyhook_domain::ids::random_base62(12)),
        msg_id: msg_id.into(),
        endpoint_id: "ep_1".into(),
        url: "https://example.com/hook".into(),
        status: DeliveryStatus::Success,
        response_status_code: 200,
        // A receiver's answer may hold NUL, which TEXT cannot.
        response: "ok\0".into(),
        response_duration_ms: 1,
        trigger_type: TriggerType::Scheduled,
        created_at: at,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_claimers_never_share_a_row() {
    let Some(db) = Db::new().await else { return };
    let n = 1_000;
    let store = Arc::new(queued(&db, n).await);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let claims = store.claim_due(2_000, 25, 60_000, &[]).await.unwrap();
                if claims.is_empty() {
                    return mine;
                }
                for c in claims {
                    let a = attempt(&c.message.id, 2_000);
                    assert!(store.complete(&c, &a, Outcome::Success).await.unwrap());
                    mine.push(c.message.id);
                }
            }
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let unique: HashSet<&String> = all.iter().collect();
    assert_eq!(all.len(), n, "every row claimed once");
    assert_eq!(unique.len(), n, "no row claimed twice");
    assert_eq!(store.next_due().await.unwrap(), None);
}

/// Claims pass over the due rows of busy endpoints (from where the last scan found
/// work, looking back for rows committed since) and find them again once the endpoint
/// is free.
#[tokio::test]
async fn claims_pass_over_busy_endpoints_and_find_them_again_when_freed() {
    let Some(db) = Db::new().await else { return };
    let store = queued(&db, 5).await;
    let ep = store.get_endpoint("app_1", "ep_1").await.unwrap().unwrap();
    let fast = Endpoint {
        id: "ep_2".into(),
        ..ep
    };
    store.create_endpoint(&fast).await.unwrap();
    let claimed = async |now, busy: &[String]| {
        let claims = store.claim_due(now, 10, 60_000, busy).await.unwrap();
        let mut got: Vec<(String, String)> = claims
            .into_iter()
            .map(|c| (c.message.id, c.endpoint.id))
            .collect();
        got.sort();
        got
    };
    let busy = ["ep_1".to_string()];
    assert_eq!(claimed(10_000, &busy).await, [], "all due rows are ep_1's");
    // Accepted before that scan, committed after it.
    store
        .create_message(&message("msg_late", 9_500))
        .await
        .unwrap();
    assert_eq!(
        claimed(10_100, &busy).await,
        [("msg_late".to_string(), "ep_2".to_string())]
    );
    let freed = claimed(10_200, &[]).await;
    assert_eq!(freed.len(), 6, "{freed:?}");
    assert!(freed.iter().all(|(_, e)| e == "ep_1"), "{freed:?}");
}

#[tokio::test]
async fn an_expired_lease_is_taken_over_and_fences_the_old_holder_out() {
    let Some(db) = Db::new().await else { return };
    let store = queued(&db, 1).await;
    let first = store.claim_due(2_000, 10, 5_000, &[]).await.unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].attempts_made, 1);
    assert!(
        store
            .claim_due(6_999, 10, 5_000, &[])
            .await
            .unwrap()
            .is_empty(),
        "invisible while leased"
    );
    assert_eq!(store.next_due().await.unwrap(), Some(7_000));
    let second = store.claim_due(7_000, 10, 5_000, &[]).await.unwrap();
    assert_eq!(second.len(), 1, "due again once the lease ran out");
    assert_eq!(second[0].attempts_made, 2);
    let a = attempt(&first[0].message.id, 7_100);
    assert!(
        !store
            .complete(&first[0], &a, Outcome::Success)
            .await
            .unwrap(),
        "the old holder is fenced out"
    );
    let a = attempt(&second[0].message.id, 7_200);
    assert!(
        store
            .complete(&second[0], &a, Outcome::Success)
            .await
            .unwrap()
    );
    let attempts = store
        .list_attempts_for_message(
            &second[0].message.id,
            &Default::default(),
            &skyhook_store::Page {
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].response, "ok\u{FFFD}");
}

#[tokio::test]
async fn new_work_is_announced_to_listeners_on_commit() {
    let Some(db) = Db::new().await else { return };
    let store = queued(&db, 0).await;
    let wake = Arc::new(tokio::sync::Notify::new());
    store.watch_for_work(wake.clone());
    // The listener announces itself once when it (re)connects.
    tokio::time::timeout(Duration::from_secs(10), wake.notified())
        .await
        .expect("initial wake-up");
    let other = PgStore::open(&db.url(), &PgSettings::default())
        .await
        .unwrap();
    let msg = Message {
        event_id: Some("e".into()),
        ..message("msg_x", 5)
    };
    other.create_message(&msg).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), wake.notified())
        .await
        .expect("woken by another store's commit");
    // The same eventId again is a conflict, whichever store (node) tries.
    let again = Message {
        id: "msg_y".into(),
        ..msg
    };
    assert!(matches!(
        store.create_message(&again).await,
        Err(StoreError::Conflict(_))
    ));
    store.close().await;
    other.close().await;
}

#[tokio::test]
async fn a_schema_newer_than_the_binary_is_refused_clearly() {
    let Some(db) = Db::new().await else { return };
    PgStore::open(&db.url(), &PgSettings::default())
        .await
        .unwrap()
        .close()
        .await;
    let mut conn = sqlx::PgConnection::connect(&db.url()).await.unwrap();
    conn.execute(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (99990101000000, 'from the future', TRUE, '\\x00', 1)",
    )
    .await
    .unwrap();
    conn.close().await.unwrap();
    let err = PgStore::open(&db.url(), &PgSettings::default())
        .await
        .err()
        .expect("refused");
    assert!(
        err.to_string()
            .contains("the database schema is newer than this binary"),
        "{err}"
    );
    assert!(err.to_string().contains("upgrade skyhook"), "{err}");
}

/// The group commit puts concurrent messages in one transaction: a message whose
/// application is gone, or whose eventId is taken, is refused alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_batch_refuses_only_its_bad_messages() {
    let Some(db) = Db::new().await else { return };
    let store = Arc::new(queued(&db, 0).await);
    let msg = |id: &str, app: &str, event_id: Option<&str>| Message {
        id: id.into(),
        app_id: app.into(),
        event_id: event_id.map(Into::into),
        event_type: "a.b".into(),
        payload: "{}".into(),
        channels: vec![],
        tags: vec![],
        created_at: 1_000,
    };
    let batch = [
        msg("msg_a", "app_1", Some("e1")),
        msg("msg_b", "app_gone", None),
        msg("msg_c", "app_1", Some("e1")),
        msg("msg_d", "app_1", None),
    ];
    let (a, b, c, d) = tokio::join!(
        store.create_message(&batch[0]),
        store.create_message(&batch[1]),
        store.create_message(&batch[2]),
        store.create_message(&batch[3]),
    );
    let results = [a, b, c, d];
    // msg_a and msg_c share an eventId: whichever commits first is queued, the other
    // refused (they may land in concurrent batches).
    let winner = match (&results[0], &results[2]) {
        (Ok(1), Err(StoreError::Conflict(_))) => "msg_a",
        (Err(StoreError::Conflict(_)), Ok(1)) => "msg_c",
        _ => panic!("one of a and c must win: {results:?}"),
    };
    assert!(
        matches!(results[1], Err(StoreError::NotFound(_))),
        "{results:?}"
    );
    assert_eq!(results[3].as_ref().ok(), Some(&1), "{results:?}");
    let claimed = store.claim_due(2_000, 10, 30_000, &[]).await.unwrap();
    let mut ids: Vec<&str> = claimed.iter().map(|c| c.message.id.as_str()).collect();
    ids.sort();
    assert_eq!(ids, [winner, "msg_d"]);
}

/// An endpoint's health follows its latest recorded attempt: a failure marks it
/// failing, a success clears that, and an attempt whose lease was lost changes nothing.
#[tokio::test]
async fn endpoint_health_follows_recorded_attempts_only() {
    let Some(db) = Db::new().await else { return };
    let store = queued(&db, 2).await;
    let claimed = store.claim_due(2_000, 10, 30_000, &[]).await.unwrap();
    let [a, b] = &claimed[..] else {
        panic!("two claims: {claimed:?}")
    };
    let failing_since = || async {
        let ep = store.get_endpoint("app_1", "ep_1").await.unwrap().unwrap();
        ep.failing_since
    };
    let failed = Attempt {
        status: DeliveryStatus::Fail,
        response_status_code: 500,
        ..attempt(&a.message.id, 5_000)
    };
    assert!(
        store
            .complete(a, &failed, Outcome::RetryAt(9_000))
            .await
            .unwrap()
    );
    assert_eq!(failing_since().await, Some(5_000));
    let mut stale = b.clone();
    stale.lease = "someone else's".into();
    let late = attempt(&b.message.id, 6_000);
    assert!(
        !store
            .complete(&stale, &late, Outcome::Success)
            .await
            .unwrap()
    );
    assert_eq!(failing_since().await, Some(5_000), "a fenced-out success");
    let ok = attempt(&b.message.id, 7_000);
    assert!(store.complete(b, &ok, Outcome::Success).await.unwrap());
    assert_eq!(failing_since().await, None);
}

#[tokio::test]
async fn deleting_an_application_leaves_nothing_of_it_behind() {
    let Some(db) = Db::new().await else { return };
    let store = queued(&db, 3).await;
    let claimed = store.claim_due(2_000, 10, 30_000, &[]).await.unwrap();
    for c in &claimed[..2] {
        let done = attempt(&c.message.id, 5_000);
        assert!(store.complete(c, &done, Outcome::Success).await.unwrap());
    }
    let mut conn = sqlx::PgConnection::connect(&db.url()).await.unwrap();
    assert_eq!(rows_of_each(&mut conn).await, [3, 3, 2, 1], "before");
    store.delete_app("app_1").await.unwrap();
    assert_eq!(rows_of_each(&mut conn).await, [0, 0, 0, 0], "after");
}

/// Rows in messages, deliveries, attempts and endpoints.
async fn rows_of_each(conn: &mut sqlx::PgConnection) -> Vec<i64> {
    let mut counts = Vec::new();
    for table in ["messages", "deliveries", "attempts", "endpoints"] {
        let sql = format!("SELECT count(*) FROM {table}");
        let n = sqlx::query_scalar(AssertSqlSafe(sql))
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        counts.push(n);
    }
    counts
}

/// Admits the first deliveries (`left` of them); counts the refusals it is told of.
struct FirstN {
    left: AtomicUsize,
    refused: AtomicUsize,
}

impl skyhook_store::handoff::Admission for FirstN {
    fn admit(&self, _endpoint_id: &str, _payload_bytes: usize) -> Result<Ticket, Refusal> {
        let left = self.left.fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1));
        left.map(|_| Box::new(()) as Ticket)
            .map_err(|_| Refusal::Endpoint)
    }

    fn refused(&self, _refusal: Refusal) {
        self.refused.fetch_add(1, SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn admitted_deliveries_are_handed_over_leased_and_the_rest_is_claimable() {
    let Some(db) = Db::new().await else { return };
    let store = queued(&db, 0).await;
    let (claims, mut handed) = tokio::sync::mpsc::unbounded_channel();
    let admission = Arc::new(FirstN {
        left: 1.into(),
        refused: 0.into(),
    });
    store.set_handoff(skyhook_store::handoff::Handoff {
        admission: admission.clone(),
        claims,
        lease_ms: 60_000,
        wake: Arc::new(tokio::sync::Notify::new()),
    });
    for id in ["msg_a", "msg_b"] {
        assert_eq!(store.create_message(&message(id, 1_000)).await.unwrap(), 1);
    }
    let (claim, _ticket) = handed.try_recv().expect("msg_a handed over");
    assert_eq!(
        (claim.message.id.as_str(), claim.attempts_made),
        ("msg_a", 1)
    );
    assert!(handed.try_recv().is_err(), "msg_b was not admitted");
    assert_eq!(admission.refused.load(SeqCst), 1, "msg_b's refusal told");
    let now = skyhook_domain::clock::now_ms();
    let claimed = store.claim_due(now, 10, 60_000, &[]).await.unwrap();
    let ids: Vec<&str> = claimed.iter().map(|c| c.message.id.as_str()).collect();
    assert_eq!(ids, ["msg_b"], "msg_a is leased to the worker");
    let mut stale = claim.clone();
    stale.lease = "someone else's".into();
    let a = attempt("msg_a", now);
    assert!(!store.complete(&stale, &a, Outcome::Success).await.unwrap());
    assert!(store.complete(&claim, &a, Outcome::Success).await.unwrap());
}
