//! Scale-out on PostgreSQL (issue 5): several nodes on one database, a node killed
//! mid-delivery, PostgreSQL restarted under load. Every test needs PostgreSQL at
//! 127.0.0.1:5432 and skips without it (fails under `SKYHOOK_TEST_STRICT=1`); the
//! restart test also needs `pg_ctlcluster` (root), as in CI.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use common::{Api, Backend, Home, Receiver, Server, ServerOpts, eventually, settled, skip_unless};
use serde_json::{Value, json};
use tokio::sync::RwLock;

/// Tests share PostgreSQL; the one that restarts it runs alone.
static PG: RwLock<()> = RwLock::const_new(());

/// Starts one node per `(name, opts)` on one fresh database, concurrently (their
/// migrations race, as in a real rollout).
async fn nodes(names: &[(&str, ServerOpts)]) -> (Arc<Home>, Vec<Server>) {
    let home = Arc::new(Home::new(Backend::Postgres).await);
    let starts: Vec<_> = names
        .iter()
        .map(|(name, opts)| tokio::spawn(Server::start_in(home.clone(), opts.clone().named(name))))
        .collect();
    let mut servers = Vec::new();
    for s in starts {
        servers.push(s.await.unwrap());
    }
    (home, servers)
}

/// One message POST; `Ok(id)` when accepted (202), else the status and body.
async fn send(api: &Api, app: &str, n: usize) -> Result<String, (u16, Value)> {
    let (status, body) = Api::read(
        api.raw(reqwest::Method::POST, &format!("/api/v1/app/{app}/msg"))
            .header("content-type", "application/json")
            .body(json!({"eventType": "load.test", "payload": {"n": n}}).to_string())
            .timeout(Duration::from_secs(30)),
    )
    .await;
    if status == 202 {
        Ok(body["id"].as_str().unwrap().to_string())
    } else {
        Err((status.as_u16(), body))
    }
}

fn ids_at(rx: &Receiver, path: &str) -> Vec<String> {
    rx.at(path)
        .iter()
        .map(|d| d.header("webhook-id").to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_deliver_every_message_exactly_once_in_a_clean_run() {
    if !Backend::postgres_ready() {
        return;
    }
    let _shared = PG.read().await;
    let opts = ServerOpts::dev().on(Backend::Postgres);
    let (_home, servers) = nodes(&[("a", opts.clone()), ("b", opts)]).await;
    let (a, b) = (servers[0].api(), servers[1].api());
    let rx = Receiver::start().await;
    let app = a.app("two-nodes").await;
    // Created on one node, used by the other at once: no node caches anything.
    b.endpoint(&app, json!({"url": rx.url("/hook")})).await;

    let n = 200;
    let mut tasks = Vec::new();
    for client in 0..4 {
        let (a, b, app) = (a.clone(), b.clone(), app.clone());
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in (client..n).step_by(4) {
                let api = if i % 2 == 0 { &a } else { &b };
                ids.push(send(api, &app, i).await.expect("accepted"));
            }
            ids
        }));
    }
    let mut sent = Vec::new();
    for t in tasks {
        sent.extend(t.await.unwrap());
    }
    assert_eq!(sent.len(), n);

    rx.wait_for("/hook", n).await;
    for id in &sent {
        assert_eq!(settled(&a, &app, id).await[0]["status"], 0, "{id}");
    }
    let got = ids_at(&rx, "/hook");
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for id in &got {
        *counts.entry(id).or_default() += 1;
    }
    let dupes: Vec<_> = counts.iter().filter(|(_, c)| **c > 1).collect();
    assert!(dupes.is_empty(), "duplicate deliveries: {dupes:?}");
    let sent: HashSet<&str> = sent.iter().map(String::as_str).collect();
    assert_eq!(counts.keys().copied().collect::<HashSet<_>>(), sent);
    // Every message has exactly one attempt, whichever node made it.
    let attempts = a
        .get_ok(&format!(
            "/api/v1/app/{app}/attempt/endpoint/{}?limit=250",
            {
                let eps = a.get_ok(&format!("/api/v1/app/{app}/endpoint")).await;
                eps["data"][0]["id"].as_str().unwrap().to_string()
            }
        ))
        .await;
    assert_eq!(attempts["data"].as_array().unwrap().len(), n);

    // Cross-node rules hold in the database, not in one process: an eventId used on
    // one node conflicts on the other, an idempotency key used on one replays on the other.
    a.post_ok(
        &format!("/api/v1/app/{app}/msg"),
        json!({"eventType": "a.b", "eventId": "evt-x", "payload": {}}),
        202,
    )
    .await;
    let (status, err) = b
        .post(
            &format!("/api/v1/app/{app}/msg"),
            json!({"eventType": "a.b", "eventId": "evt-x", "payload": {}}),
        )
        .await;
    assert_eq!(status, 409, "{err}");
    let keyed = |api: &Api| {
        api.raw(reqwest::Method::POST, &format!("/api/v1/app/{app}/msg"))
            .header("content-type", "application/json")
            .header("idempotency-key", "k-1")
            .body(json!({"eventType": "a.b", "payload": {"k": 1}}).to_string())
    };
    let (s1, first) = Api::read(keyed(&a)).await;
    let (s2, again) = Api::read(keyed(&b)).await;
    assert_eq!((s1.as_u16(), s2.as_u16()), (202, 202));
    assert_eq!(first["id"], again["id"], "node b replays node a's answer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_idle_worker_on_another_node_is_woken_at_once() {
    if !Backend::postgres_ready() {
        return;
    }
    let _shared = PG.read().await;
    let opts = ServerOpts::dev().on(Backend::Postgres);
    let (_home, servers) = nodes(&[
        ("api", opts.clone().env("SKYHOOK_NODE_ROLES", "api")),
        ("worker", opts.env("SKYHOOK_NODE_ROLES", "worker")),
    ])
    .await;
    let api = servers[0].api();
    let rx = Receiver::start().await;
    let app = api.app("wake").await;
    api.endpoint(&app, json!({"url": rx.url("/hook")})).await;
    // The worker node polls every 2 s at most; five deliveries each well under that
    // (by chance: about 0.35^5) show LISTEN/NOTIFY woke it.
    for i in 0..5 {
        let started = Instant::now();
        send(&api, &app, i).await.expect("accepted");
        rx.wait_for("/hook", i + 1).await;
        let took = started.elapsed();
        assert!(
            took < Duration::from_millis(700),
            "delivery {i} took {took:?}: the worker node was not woken"
        );
    }
}

/// A receiver that holds every request until released, counting requests whose
/// connection was dropped while held (their node died).
#[derive(Clone)]
struct HoldingReceiver {
    base: String,
    release: Arc<tokio::sync::watch::Sender<bool>>,
    arrived: Arc<AtomicUsize>,
    abandoned: Arc<AtomicUsize>,
    delivered: Arc<Mutex<Vec<String>>>,
}

struct Held {
    abandoned: Arc<AtomicUsize>,
    done: bool,
}

impl Drop for Held {
    fn drop(&mut self) {
        if !self.done {
            self.abandoned.fetch_add(1, Ordering::SeqCst);
        }
    }
}

impl HoldingReceiver {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (release, _) = tokio::sync::watch::channel(false);
        let this = Self {
            base: format!("http://{}", listener.local_addr().unwrap()),
            release: Arc::new(release),
            arrived: Default::default(),
            abandoned: Default::default(),
            delivered: Default::default(),
        };
        let state = this.clone();
        let app = axum::Router::new().fallback(move |headers: HeaderMap| {
            let state = state.clone();
            async move {
                state.arrived.fetch_add(1, Ordering::SeqCst);
                let mut held = Held {
                    abandoned: state.abandoned.clone(),
                    done: false,
                };
                let mut open = state.release.subscribe();
                open.wait_for(|released| *released).await.ok();
                held.done = true;
                let id = headers
                    .get("webhook-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                state.delivered.lock().unwrap().push(id);
                axum::http::StatusCode::OK
            }
        });
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        this
    }

    fn delivered(&self) -> HashSet<String> {
        self.delivered.lock().unwrap().iter().cloned().collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_a_node_mid_delivery_loses_no_message() {
    if !Backend::postgres_ready() {
        return;
    }
    let _shared = PG.read().await;
    // Lease = 2 × 2 s + 5 s = 9 s: the dead node's claims come back that soon.
    let opts = ServerOpts::dev()
        .on(Backend::Postgres)
        .env("SKYHOOK_DELIVERY_TIMEOUT", "2s")
        .env("SKYHOOK_RETRY_SCHEDULE", "200ms,200ms,200ms,200ms,200ms");
    let (_home, mut servers) = nodes(&[("a", opts.clone()), ("b", opts)]).await;
    let b = servers.pop().unwrap();
    let a = servers.pop().unwrap();
    let rx = HoldingReceiver::start().await;
    let api_a = a.api();
    let app = api_a.app("kill").await;
    api_a
        .endpoint(&app, json!({"url": format!("{}/hook", rx.base)}))
        .await;

    let n = 40;
    let mut accepted = HashSet::new();
    for i in 0..n {
        let api = if i % 2 == 0 { a.api() } else { b.api() };
        accepted.insert(send(&api, &app, i).await.expect("accepted"));
    }
    // Both nodes' workers now hold requests at the receiver.
    eventually(
        "every message in flight",
        Duration::from_secs(20),
        || async { (rx.arrived.load(Ordering::SeqCst) >= n).then_some(()) },
    )
    .await;
    a.kill().await;
    eventually(
        "the dead node's connections dropped",
        Duration::from_secs(10),
        || async { (rx.abandoned.load(Ordering::SeqCst) > 0).then_some(()) },
    )
    .await;
    let abandoned = rx.abandoned.load(Ordering::SeqCst);
    rx.release.send_replace(true);

    // The survivor finishes its own and, once their leases run out, the dead node's.
    let api_b = b.api();
    eventually(
        "every accepted message delivered",
        Duration::from_secs(40),
        || async { accepted.is_subset(&rx.delivered()).then_some(()) },
    )
    .await;
    for id in &accepted {
        assert_eq!(settled(&api_b, &app, id).await[0]["status"], 0, "{id}");
    }
    eprintln!(
        "{n} accepted, {abandoned} abandoned by the killed node, {} deliveries",
        rx.delivered.lock().unwrap().len()
    );
}

/// Brings PostgreSQL back if the test fails while it is stopped.
struct StartOnDrop;

impl Drop for StartOnDrop {
    fn drop(&mut self) {
        if std::thread::panicking() {
            pg_ctl("start");
        }
    }
}

fn pg_ctl(action: &str) -> bool {
    let mut cmd = std::process::Command::new("pg_ctlcluster");
    cmd.args(["15", "main", action]);
    if action == "stop" {
        cmd.args(["-m", "fast"]);
    }
    cmd.status().is_ok_and(|s| s.success())
}

fn pg_ctl_available() -> bool {
    std::process::Command::new("pg_ctlcluster")
        .arg("--help")
        .output()
        .is_ok()
}

#[derive(Default)]
struct Load {
    accepted: Vec<String>,
    /// Answers other than 202, by status.
    refused: HashMap<u16, usize>,
    /// Bodies of non-202 answers that were not 503 with a JSON error code.
    bad: Vec<String>,
    slowest: Duration,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn restarting_postgres_under_load_loses_no_accepted_message() {
    if !Backend::postgres_ready() {
        return;
    }
    if !skip_unless(
        pg_ctl_available(),
        "pg_ctlcluster is not available to restart PostgreSQL",
    ) {
        return;
    }
    let _alone = PG.write().await;
    let opts = ServerOpts::dev().on(Backend::Postgres);
    let (_home, servers) = nodes(&[("a", opts.clone()), ("b", opts)]).await;
    let (a, b) = (servers[0].api(), servers[1].api());
    let rx = Receiver::start().await;
    let app = a.app("outage").await;
    a.endpoint(&app, json!({"url": rx.url("/hook")})).await;

    let load = Arc::new(Mutex::new(Load::default()));
    let stop = stop_flag();
    let mut senders = Vec::new();
    for client in 0..4 {
        let (api, app, load, stop) = (
            if client % 2 == 0 {
                a.clone()
            } else {
                b.clone()
            },
            app.clone(),
            load.clone(),
            stop.clone(),
        );
        senders.push(tokio::spawn(async move {
            let mut i = client;
            while !*stop.borrow() {
                let started = Instant::now();
                let result = send(&api, &app, i).await;
                let took = started.elapsed();
                {
                    let mut l = load.lock().unwrap();
                    l.slowest = l.slowest.max(took);
                    match result {
                        Ok(id) => l.accepted.push(id),
                        Err((status, body)) => {
                            *l.refused.entry(status).or_default() += 1;
                            if status != 503 || body["code"] != "database_unavailable" {
                                l.bad.push(format!("{status} {body}"));
                            }
                        }
                    }
                }
                i += 4;
                // Keep the load steady rather than flat out while refused.
                if took < Duration::from_millis(5) {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        }));
    }
    let accepted_now = || load.lock().unwrap().accepted.len();
    let wait_accepting = |at_least: usize, what: &'static str| {
        let load = load.clone();
        async move {
            eventually(what, Duration::from_secs(60), || async {
                (load.lock().unwrap().accepted.len() >= at_least).then_some(())
            })
            .await
        }
    };
    wait_accepting(50, "load before the restart").await;

    // 1. A plain restart under load.
    let guard = StartOnDrop;
    assert!(pg_ctl("restart"), "pg_ctlcluster 15 main restart");
    let before = accepted_now();
    wait_accepting(before + 50, "accepting again after the restart").await;

    // 2. An outage long enough to watch: API calls fail fast with 503 JSON, on both
    //    nodes, for reads as well as writes.
    assert!(pg_ctl("stop"), "pg_ctlcluster 15 main stop");
    for api in [&a, &b] {
        let started = Instant::now();
        let (status, body) = api.get(&format!("/api/v1/app/{app}/msg")).await;
        assert_eq!(status, 503, "{body}");
        assert_eq!(body["code"], "database_unavailable", "{body}");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "a call during the outage took {:?}",
            started.elapsed()
        );
        let (status, body) = api
            .post(
                &format!("/api/v1/app/{app}/msg"),
                json!({"eventType": "a.b", "payload": {}}),
            )
            .await;
        assert_eq!(status, 503, "{body}");
    }
    let (status, _) =
        Api::read(reqwest::Client::new().get(format!("{}/api/v1/health", servers[0].url))).await;
    assert!(status.is_success() || status == 503, "health: {status}");
    assert!(pg_ctl("start"), "pg_ctlcluster 15 main start");
    drop(guard);
    let before = accepted_now();
    wait_accepting(before + 50, "accepting again after the outage").await;
    stop.send_replace(true);
    for s in senders {
        s.await.unwrap();
    }

    let load = std::mem::take(&mut *load.lock().unwrap());
    eprintln!(
        "{} accepted; refused by status: {:?}; slowest call {:?}",
        load.accepted.len(),
        load.refused,
        load.slowest
    );
    assert!(
        load.bad.is_empty(),
        "answers other than 503 JSON: {:?}",
        load.bad
    );
    assert!(
        load.slowest < Duration::from_secs(15),
        "a call hung for {:?}",
        load.slowest
    );
    // Nothing accepted is lost; both nodes survived and deliver again by themselves.
    let accepted: HashSet<String> = load.accepted.into_iter().collect();
    eventually(
        "every accepted message delivered",
        Duration::from_secs(60),
        || async {
            let seen: HashSet<String> = ids_at(&rx, "/hook").into_iter().collect();
            accepted.is_subset(&seen).then_some(())
        },
    )
    .await;
    for (i, api) in [&a, &b].into_iter().enumerate() {
        let started = Instant::now();
        let id = send(api, &app, 1_000_000 + i)
            .await
            .expect("accepted after recovery");
        eventually(
            "a new message delivered",
            Duration::from_secs(10),
            || async { ids_at(&rx, "/hook").contains(&id).then_some(()) },
        )
        .await;
        eprintln!(
            "node {i}: new message delivered {:?} after the send",
            started.elapsed()
        );
    }
}

/// A stop flag the sender tasks watch.
fn stop_flag() -> Arc<tokio::sync::watch::Sender<bool>> {
    Arc::new(tokio::sync::watch::channel(false).0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn throttle_rate_holds_across_nodes() {
    if !Backend::postgres_ready() {
        return;
    }
    let _shared = PG.read().await;
    let opts = ServerOpts::dev().on(Backend::Postgres);
    let (_home, servers) = nodes(&[("a", opts.clone()), ("b", opts)]).await;
    let (a, b) = (servers[0].api(), servers[1].api());
    let rx = Receiver::start().await;
    let app = a.app("throttled").await;
    a.endpoint(&app, json!({"url": rx.url("/slowed"), "throttleRate": 5}))
        .await;
    for i in 0..20 {
        let api = if i % 2 == 0 { &a } else { &b };
        send(api, &app, i).await.unwrap();
    }
    let got = rx.wait_for("/slowed", 20).await;
    let span = got.last().unwrap().at - got.first().unwrap().at;
    // Per-node pacing would let two workers send 20 in about 1.9 s.
    assert!(
        span >= Duration::from_millis(3_500),
        "20 deliveries at 5/s over two nodes took {span:?}"
    );
    let unique: HashSet<&str> = got.iter().map(|d| d.header("webhook-id")).collect();
    assert_eq!(unique.len(), 20, "none dropped, none doubled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_idempotency_key_sent_to_two_nodes_at_once_acts_once() {
    if !Backend::postgres_ready() {
        return;
    }
    let _shared = PG.read().await;
    let opts = ServerOpts::dev()
        .on(Backend::Postgres)
        .env("SKYHOOK_NODE_ROLES", "api");
    let (_home, servers) = nodes(&[("a", opts.clone()), ("b", opts)]).await;
    let (a, b) = (servers[0].api(), servers[1].api());
    let app = a.app("idempotent").await;
    for round in 0..10 {
        let key = format!("key-{round}");
        let post = |api: &Api| {
            api.raw(reqwest::Method::POST, &format!("/api/v1/app/{app}/msg"))
                .header("content-type", "application/json")
                .header("idempotency-key", &key)
                .body(json!({"eventType": "a.b", "payload": {"round": round}}).to_string())
        };
        let (ra, rb) = tokio::join!(Api::read(post(&a)), Api::read(post(&b)));
        let statuses = [ra.0.as_u16(), rb.0.as_u16()];
        assert!(statuses.contains(&202), "{statuses:?}");
        for (status, body) in [&ra, &rb] {
            assert!(
                status.as_u16() == 202 || status.as_u16() == 409,
                "{status}: {body}"
            );
        }
        if statuses == [202, 202] {
            assert_eq!(
                ra.1["id"], rb.1["id"],
                "the second answer is the first one replayed"
            );
        }
    }
    let listed = a.get_ok(&format!("/api/v1/app/{app}/msg?limit=50")).await;
    assert_eq!(
        listed["data"].as_array().unwrap().len(),
        10,
        "one message per key"
    );
}
