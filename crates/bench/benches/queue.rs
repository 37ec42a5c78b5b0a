//! The delivery queue's hot path through the `Store` trait: accepting one message, and
//! one worker round of claiming 64 due deliveries and recording their attempts. SQLite
//! always; PostgreSQL when `SKYHOOK_BENCH_DATABASE_URL` names a server (a fresh
//! `skyhook_bench_…` database is created beside the one it names, and dropped after).

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures_util::future::join_all;
use skyhook_domain::clock::now_ms;
use skyhook_domain::ids::{self, new_id};
use skyhook_domain::model::{Application, Attempt, DeliveryStatus, Endpoint, Message, TriggerType};
use skyhook_domain::sealing;
use skyhook_domain::signing::SecretSet;
use skyhook_store::{Outcome, Store};
use skyhook_store_postgres::{PgSettings, PgStore};
use skyhook_store_sqlite::SqliteStore;
use sqlx::postgres::PgConnectOptions;
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, Executor};
use tokio::runtime::Runtime;

/// Deliveries one claim takes, as a worker asks for them.
const BATCH: usize = 64;
const LEASE_MS: i64 = 30_000;
const URL: &str = "https://example.com/hook";

/// The application and endpoint every message goes to.
struct Target {
    app_id: String,
    endpoint_id: String,
}

async fn target(store: &dyn Store) -> Target {
    let now = now_ms();
    let app = Application {
        id: new_id(ids::APP, now),
        uid: None,
        name: "bench".into(),
        throttle_rate: None,
        metadata: Default::default(),
        created_at: now,
        updated_at: now,
    };
    store.create_app(&app).await.unwrap();
    let ep = Endpoint {
        id: new_id(ids::ENDPOINT, now),
        app_id: app.id.clone(),
        uid: None,
        url: URL.into(),
        description: String::new(),
        throttle_rate: None,
        disabled: false,
        event_types: vec![],
        channels: vec![],
        metadata: Default::default(),
        headers: Default::default(),
        secrets: SecretSet::generate(),
        failing_since: None,
        created_at: now,
        updated_at: now,
    };
    store.create_endpoint(&ep).await.unwrap();
    Target {
        app_id: app.id,
        endpoint_id: ep.id,
    }
}

fn message(app_id: &str) -> Message {
    let now = now_ms();
    Message {
        id: new_id(ids::MESSAGE, now),
        app_id: app_id.into(),
        event_id: None,
        event_type: "invoice.paid".into(),
        payload: r#"{"type":"invoice.paid","data":{"id":"in_1","amount":4200,"currency":"eur"}}"#
            .into(),
        channels: vec![],
        tags: vec![],
        created_at: now,
    }
}

fn attempt(msg_id: &str, endpoint_id: &str) -> Attempt {
    let now = now_ms();
    Attempt {
        id: new_id(ids::ATTEMPT, now),
        msg_id: msg_id.into(),
        endpoint_id: endpoint_id.into(),
        url: URL.into(),
        status: DeliveryStatus::Success,
        response_status_code: 200,
        response: "ok".into(),
        response_duration_ms: 12,
        trigger_type: TriggerType::Scheduled,
        created_at: now,
    }
}

/// Runs both benchmarks on stores from `open`, a fresh one each, so that the messages
/// `create_message` leaves pending are not claimed by `claim+complete`.
fn bench_store(
    c: &mut Criterion,
    rt: &Runtime,
    backend: &str,
    mut open: impl AsyncFnMut() -> Arc<dyn Store>,
) {
    let mut group = c.benchmark_group(format!("queue/{backend}"));

    let store = rt.block_on(open());
    let to = rt.block_on(target(&*store));
    group.throughput(Throughput::Elements(1));
    group.bench_function("create_message", |b| {
        b.to_async(rt).iter(|| async {
            assert_eq!(store.create_message(&message(&to.app_id)).await.unwrap(), 1);
        })
    });
    rt.block_on(store.close());

    let store = rt.block_on(open());
    let to = rt.block_on(target(&*store));
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("claim+complete", |b| {
        b.to_async(rt).iter_custom(|iters| {
            let (store, to) = (&store, &to);
            async move {
                let mut timed = Duration::ZERO;
                for _ in 0..iters {
                    // Queued concurrently (untimed), so SQLite's group commit keeps the
                    // setup short.
                    let queued = (0..BATCH).map(|_| async {
                        store.create_message(&message(&to.app_id)).await.unwrap()
                    });
                    join_all(queued).await;

                    let start = Instant::now();
                    let due = store.claim_due(now_ms(), BATCH as u32, LEASE_MS, &[]);
                    let claims = due.await.unwrap();
                    assert_eq!(claims.len(), BATCH);
                    // Completed concurrently, as the worker's tasks finish their attempts.
                    let completes = claims.iter().map(|claim| async move {
                        let attempt = attempt(&claim.message.id, &to.endpoint_id);
                        store.complete(claim, &attempt, Outcome::Success).await
                    });
                    for fenced in join_all(completes).await {
                        assert!(fenced.unwrap(), "the lease was lost");
                    }
                    timed += start.elapsed();
                }
                timed
            }
        })
    });
    rt.block_on(store.close());

    group.finish();
}

/// Fresh databases on the PostgreSQL server of `SKYHOOK_BENCH_DATABASE_URL`, dropped
/// (with FORCE) even when a benchmark panics.
struct PgDatabases {
    server: PgConnectOptions,
    names: Vec<String>,
}

impl PgDatabases {
    async fn create(&mut self) -> Arc<dyn Store> {
        let name = format!("skyhook_bench_{}", ids::random_base62(12).to_lowercase());
        self.admin(&format!("CREATE DATABASE {name}")).await;
        self.names.push(name.clone());
        let url = self.server.clone().database(&name).to_url_lossy();
        Arc::new(
            PgStore::open(url.as_str(), &PgSettings::default())
                .await
                .unwrap(),
        )
    }

    async fn admin(&self, sql: &str) {
        let mut conn = (self.server.clone().database("postgres").connect().await)
            .expect("connecting to the `postgres` database");
        conn.execute(AssertSqlSafe(sql.to_string())).await.unwrap();
        conn.close().await.ok();
    }
}

impl Drop for PgDatabases {
    fn drop(&mut self) {
        let sql: Vec<_> = (self.names.drain(..))
            .map(|name| format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .collect();
        // `drop` cannot await, nor reach the benchmarks' runtime: a small one of its own.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        for sql in sql {
            rt.block_on(self.admin(&sql));
        }
    }
}

fn queue(c: &mut Criterion) {
    // As in production: secrets are sealed on write and opened on every claim.
    sealing::install_main_key(&sealing::parse_main_key(&sealing::generate_main_key()).unwrap());
    let rt = Runtime::new().unwrap();

    let dir = tempfile::tempdir().unwrap();
    let mut opened = 0;
    bench_store(c, &rt, "sqlite", async || {
        opened += 1;
        let path = dir.path().join(opened.to_string()).join("bench.db");
        let url = format!("sqlite://{}", path.display());
        Arc::new(SqliteStore::open(&url).await.unwrap()) as Arc<dyn Store>
    });

    match std::env::var("SKYHOOK_BENCH_DATABASE_URL") {
        Ok(url) => {
            let mut dbs = PgDatabases {
                server: PgConnectOptions::from_str(&url).expect("SKYHOOK_BENCH_DATABASE_URL"),
                names: Vec::new(),
            };
            bench_store(c, &rt, "postgres", async || dbs.create().await);
        }
        Err(_) => eprintln!(
            "queue/postgres: skipped, SKYHOOK_BENCH_DATABASE_URL is not set \
             (e.g. postgres://postgres@127.0.0.1:5432/postgres)"
        ),
    }
}

criterion_group!(benches, queue);
criterion_main!(benches);
