//! The scenarios: set up, send, wait for arrivals, compute one JSON result.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};
use tokio::sync::Semaphore;

use crate::receiver::{Receiver, Script};
use crate::server::{
    Api, DataDir, SpawnSpec, Spawned, default_skyhook_bin, main_key, message_body,
};
use crate::stats::{Percentiles, drop_pct, ms, rate};
use crate::{Scenario, TargetArgs};

/// The keys every result line has, whatever the scenario.
pub const COMMON_KEYS: &[&str] = &[
    "scenario",
    "server",
    "payload_bytes",
    "load_before",
    "load_after",
    "nodes",
    "store",
    "peak_rss_mib",
    "peak_rss_mib_per_node",
    "server_cpu_s",
    "bench_cpu_s",
    "startup_ms",
    "machine",
];

/// The scenario-specific keys of each result line.
pub fn scenario_keys(scenario: &str) -> &'static [&'static str] {
    match scenario {
        "e2e" => &[
            "messages",
            "concurrency",
            "accepted",
            "send_errors",
            "delivered",
            "missing",
            "duplicates",
            "ingest_msg_per_s",
            "delivered_msg_per_s",
            "latency_ms",
        ],
        "latency" => &[
            "target_rate",
            "warmup_s",
            "duration_s",
            "measured",
            "accepted",
            "send_errors",
            "delivered",
            "missing",
            "duplicates",
            "achieved_ingest_per_s",
            "achieved_delivered_per_s",
            "latency_ms",
            "ack_latency_ms",
            "send_lag_ms",
        ],
        "fanout" => &[
            "messages",
            "endpoints",
            "accepted",
            "deliveries",
            "missing",
            "duplicates",
            "deliveries_per_s",
            "latency_ms",
        ],
        "slow-endpoint" => &[
            "messages",
            "fast_endpoints",
            "slow_delay_ms",
            "baseline_fast_deliveries_per_s",
            "control_fast_deliveries_per_s",
            "with_slow_fast_deliveries_per_s",
            "drop_pct",
            "drop_vs_control_pct",
            "missing",
            "duplicates",
            "slow_delivered_by_end",
        ],
        "backlog" => &[
            "messages",
            "accepted",
            "ingest_msg_per_s",
            "delivered",
            "missing",
            "duplicates",
            "drain_msg_per_s",
            "drain_incl_startup_msg_per_s",
            "worker_startup_ms",
            "api_peak_rss_mib",
            "api_cpu_s",
        ],
        _ => &[],
    }
}

/// The 1, 5 and 15 minute load averages.
pub fn load_avg() -> Vec<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .filter_map(|x| x.parse().ok())
        .collect()
}

/// Everything a scenario works with.
struct Ctx {
    args: TargetArgs,
    /// One per node; the first also takes the setup calls.
    apis: Vec<Api>,
    rx: Receiver,
    /// The spawned nodes, the first one first.
    servers: Vec<Spawned>,
    /// The first node's (backlog restarts it as a worker).
    spec: Option<SpawnSpec>,
    dirs: Vec<DataDir>,
    label: String,
    load_before: Vec<f64>,
    /// The machine's own speed, measured before the run (see `machine`).
    machine: Value,
    deadline: Instant,
    tag: String,
}

impl Ctx {
    /// `arrivals`: how many deliveries the scenario expects (the receiver makes room).
    async fn new(
        args: &TargetArgs,
        connections: usize,
        roles: Option<&str>,
        arrivals: u64,
    ) -> anyhow::Result<Self> {
        let load_before = load_avg();
        // Where the spawned servers' data dirs go too.
        let machine = crate::machine::probe(&std::env::temp_dir());
        let rx = Receiver::start(arrivals as usize).await?;
        let tag = crate::server::random_tag();
        let (apis, servers, spec, dirs, label) = if args.spawn {
            let dirs = (0..args.nodes)
                .map(|_| DataDir::new(args.keep_data))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let token = format!("sk_bench{tag}");
            let spec = SpawnSpec {
                bin: args.skyhook_bin.clone().unwrap_or_else(default_skyhook_bin),
                data_dir: dirs[0].path.clone(),
                database_url: args.database_url.clone(),
                token: token.clone(),
                main_key: main_key(),
                roles: roles.map(str::to_string),
            };
            let (mut apis, mut servers) = (Vec::new(), Vec::new());
            // One at a time: the first node runs the migrations, and is healthy (so done
            // with them) before the next one starts.
            for (node, dir) in dirs.iter().enumerate() {
                let spec = SpawnSpec {
                    data_dir: dir.path.clone(),
                    ..spec.clone()
                };
                let server = spec.spawn().await?;
                eprintln!(
                    "spawned node {node} {} (pid {}) at {}: listening after {:.1} ms, healthy after {:.1} ms; log: {}",
                    spec.bin.display(),
                    server.pid,
                    server.url,
                    ms(server.listening),
                    ms(server.startup),
                    server.log.display()
                );
                apis.push(Api::new(&server.url, &token, connections)?);
                servers.push(server);
            }
            (apis, servers, Some(spec), dirs, "spawned".to_string())
        } else {
            let url = args
                .server
                .clone()
                .context("give --server URL --token T, or --spawn")?;
            let token = args.token.clone().context("--server needs --token")?;
            let api = Api::new(&url, &token, connections)?;
            if !api.healthy().await {
                bail!("{url}: GET /api/v1/health did not answer 2xx");
            }
            (vec![api], Vec::new(), None, Vec::new(), url)
        };
        Ok(Self {
            args: args.clone(),
            apis,
            rx,
            servers,
            spec,
            dirs,
            label,
            load_before,
            machine,
            deadline: Instant::now() + Duration::from_secs(args.timeout),
            tag,
        })
    }

    /// The first node's API, for setup calls.
    fn api(&self) -> &Api {
        &self.apis[0]
    }

    /// The API of node `i` modulo their number, to spread the load round-robin.
    fn load_api(&self, i: usize) -> Api {
        self.apis[i % self.apis.len()].clone()
    }

    /// `sqlite` or `postgres` for a spawned server; unknown (null) for `--server`.
    fn store(&self) -> Option<&'static str> {
        let postgres = |url: &String| url.starts_with("postgres");
        (!self.servers.is_empty()).then(|| match &self.args.database_url {
            Some(url) if postgres(url) => "postgres",
            _ => "sqlite",
        })
    }

    /// The common fields, then `fields`.
    fn finish(&self, scenario: &str, fields: Value) -> Value {
        let rss: Vec<Option<f64>> = self.servers.iter().map(Spawned::peak_rss_mib).collect();
        let mut out = json!({
            "scenario": scenario,
            "server": self.label,
            "payload_bytes": self.args.payload_bytes,
            "load_before": self.load_before,
            "load_after": load_avg(),
            "nodes": self.args.nodes,
            "store": self.store(),
            "peak_rss_mib": rss.iter().flatten().copied().reduce(f64::max),
            "peak_rss_mib_per_node": rss,
            // CPU seconds since start-up, all nodes together; with `bench_cpu_s`, how
            // the box's cores were shared between server and load.
            "server_cpu_s": self
                .servers
                .iter()
                .map(Spawned::cpu_seconds)
                .sum::<Option<f64>>()
                .filter(|_| !self.servers.is_empty())
                .map(crate::stats::round3),
            "bench_cpu_s": crate::server::cpu_seconds("self").map(crate::stats::round3),
            "startup_ms": self.servers.first().map(|s| ms(s.startup)),
            "machine": self.machine,
        });
        if let Some(s) = self.servers.first() {
            out["listening_ms"] = json!(ms(s.listening));
        }
        out["receiver_requests"] = json!(self.rx.requests());
        out["receiver_without_id"] = json!(self.rx.without_id());
        out["receiver_connections"] = json!(self.rx.connections());
        if let (Value::Object(o), Value::Object(f)) = (&mut out, fields) {
            o.extend(f);
        }
        out
    }

    /// A fresh application and `n` endpoints on the receiver starting at index `first`.
    async fn app_with_endpoints(
        &self,
        name: &str,
        first: u32,
        n: u32,
        event_types: Option<&[&str]>,
    ) -> anyhow::Result<(String, Vec<u32>)> {
        let app = self
            .api()
            .create_app(&format!("bench-{name}-{}", self.tag))
            .await?;
        let eps: Vec<u32> = (first..first + n).collect();
        for &ep in &eps {
            self.api()
                .create_endpoint(&app, &self.rx.url(ep), event_types)
                .await?;
        }
        Ok((app, eps))
    }
}

/// What sending a batch produced.
struct Sent {
    /// Message id → when its POST started.
    at: HashMap<String, Instant>,
    errors: u64,
    first_send: Instant,
    last_ack: Instant,
}

/// Sends `n` messages to `app` from `concurrency` clients, as fast as they are accepted.
async fn send_batch(
    ctx: &Ctx,
    app: &str,
    event_type: &str,
    n: u64,
    concurrency: usize,
) -> anyhow::Result<Sent> {
    let next = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let first_send = Instant::now();
    let progress = progress(ctx.rx.clone(), next.clone(), n);
    let mut tasks = Vec::new();
    for client in 0..concurrency.max(1) {
        let api = ctx.load_api(client);
        let (url, et, next, errors) = (
            api.message_url(app)?,
            event_type.to_string(),
            next.clone(),
            errors.clone(),
        );
        let payload_bytes = ctx.args.payload_bytes;
        tasks.push(tokio::spawn(async move {
            let mut done = Vec::new();
            let mut last_ack = first_send;
            loop {
                let seq = next.fetch_add(1, Ordering::Relaxed);
                if seq >= n {
                    break;
                }
                let body = message_body(&et, seq, payload_bytes);
                let t = Instant::now();
                match api.send(&url, body).await {
                    Ok(id) => {
                        last_ack = Instant::now();
                        done.push((id, t));
                    }
                    Err(e) => {
                        if errors.fetch_add(1, Ordering::Relaxed) < 5 {
                            eprintln!("send failed: {e:#}");
                        }
                    }
                }
            }
            (done, last_ack)
        }));
    }
    let mut at = HashMap::with_capacity(n as usize);
    let mut last_ack = first_send;
    for t in tasks {
        let (done, ack) = t.await?;
        last_ack = last_ack.max(ack);
        at.extend(done);
    }
    progress.abort();
    Ok(Sent {
        at,
        errors: errors.load(Ordering::Relaxed),
        first_send,
        last_ack,
    })
}

/// Prints sent/received counts to stderr every two seconds until aborted.
fn progress(rx: Receiver, sent: Arc<AtomicU64>, total: u64) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let start = Instant::now();
        loop {
            tokio::time::sleep(Duration::from_secs(2)).await;
            eprintln!(
                "{:>6.1} s: sent {}/{total}, receiver got {}",
                start.elapsed().as_secs_f64(),
                sent.load(Ordering::Relaxed).min(total),
                rx.requests()
            );
        }
    })
}

/// Joins sends with arrivals at one endpoint: (latencies in µs, last arrival, missing).
fn join(
    sent: &HashMap<String, Instant>,
    arrivals: &HashMap<Box<str>, Instant>,
) -> (Vec<u64>, Option<Instant>, u64) {
    let mut lat = Vec::with_capacity(sent.len());
    let mut last = None::<Instant>;
    let mut missing = 0;
    for (id, t) in sent {
        match arrivals.get(id.as_str()) {
            Some(a) => {
                lat.push(a.saturating_duration_since(*t).as_micros() as u64);
                last = Some(last.map_or(*a, |l| l.max(*a)));
            }
            None => missing += 1,
        }
    }
    (lat, last, missing)
}

pub async fn run(args: &TargetArgs, scenario: &Scenario) -> anyhow::Result<Value> {
    match *scenario {
        Scenario::E2e {
            messages,
            concurrency,
        } => e2e(args, messages, concurrency).await,
        Scenario::Latency {
            rate,
            duration,
            warmup,
            max_in_flight,
        } => latency(args, rate, duration, warmup, max_in_flight).await,
        Scenario::Fanout {
            messages,
            endpoints,
            concurrency,
        } => fanout(args, messages, endpoints, concurrency).await,
        Scenario::SlowEndpoint {
            messages,
            fast,
            slow_delay_ms,
            concurrency,
        } => slow_endpoint(args, messages, fast, slow_delay_ms, concurrency).await,
        Scenario::Backlog {
            messages,
            concurrency,
        } => backlog(args, messages, concurrency).await,
    }
}

async fn e2e(args: &TargetArgs, n: u64, c: usize) -> anyhow::Result<Value> {
    let mut ctx = Ctx::new(args, c, None, n).await?;
    let (app, eps) = ctx.app_with_endpoints("e2e", 0, 1, None).await?;
    let ep = eps[0];
    eprintln!("e2e: {n} messages, {c} clients");
    let sent = send_batch(&ctx, &app, "bench.e2e", n, c).await?;
    let accepted = sent.at.len() as u64;
    let all = ctx
        .rx
        .wait_until(ctx.deadline, |rx| rx.unique_at(ep) >= accepted)
        .await;
    if !all {
        eprintln!("e2e: timed out waiting for deliveries");
    }
    let (lat, last, missing) = join(&sent.at, &ctx.rx.arrivals_at(ep));
    let delivered = lat.len() as u64;
    let result = ctx.finish(
        "e2e",
        json!({
            "messages": n,
            "concurrency": c,
            "accepted": accepted,
            "send_errors": sent.errors,
            "delivered": delivered,
            "missing": missing,
            "duplicates": ctx.rx.duplicates(),
            "ingest_msg_per_s": rate(accepted, sent.last_ack - sent.first_send),
            "delivered_msg_per_s": rate(delivered, last.map_or(Duration::ZERO, |l| l - sent.first_send)),
            "latency_ms": Percentiles::from_micros(&lat).to_json(),
        }),
    );
    stop(&mut ctx).await;
    Ok(with_stored_size(&ctx, result, accepted))
}

/// Adds what the accepted messages take on disk, for a spawned SQLite node once it has
/// stopped (its WAL checkpointed): the database file's bytes per message, with and
/// without the payload (`null` for PostgreSQL or `--server`). The file's fixed part
/// (schema, the app, the endpoint) is counted in too, and free pages are not vacuumed
/// away, so it is an upper bound.
fn with_stored_size(ctx: &Ctx, mut result: Value, accepted: u64) -> Value {
    let per_message = (ctx.store() == Some("sqlite") && accepted > 0).then(|| {
        let bytes: u64 = ["skyhook.db", "skyhook.db-wal"]
            .iter()
            .filter_map(|f| std::fs::metadata(ctx.dirs[0].path.join(f)).ok())
            .map(|m| m.len())
            .sum();
        bytes as f64 / accepted as f64
    });
    result["stored_bytes_per_message"] = json!(per_message.map(f64::round));
    result["stored_bytes_beyond_payload"] =
        json!(per_message.map(|b| (b - ctx.args.payload_bytes as f64).round()));
    result
}

async fn stop(ctx: &mut Ctx) {
    for s in &mut ctx.servers {
        s.stop(Duration::from_secs(20)).await;
    }
}

/// One send of the latency scenario.
struct Shot {
    scheduled: Instant,
    /// When the request began: the send loop and the runtime may fall behind schedule.
    started: Instant,
    id: Option<String>,
    acked: Instant,
}

async fn latency(
    args: &TargetArgs,
    target_rate: u64,
    duration: u64,
    warmup: u64,
    max_in_flight: usize,
) -> anyhow::Result<Value> {
    let target_rate = target_rate.max(1);
    let total = target_rate * (warmup + duration);
    let mut ctx = Ctx::new(args, max_in_flight.min(512), None, total).await?;
    let (app, eps) = ctx.app_with_endpoints("latency", 0, 1, None).await?;
    let ep = eps[0];
    eprintln!("latency: {target_rate} msg/s for {warmup} s warm-up + {duration} s");
    let period = Duration::from_secs(1).as_secs_f64() / target_rate as f64;
    let t0 = Instant::now() + Duration::from_millis(20);
    let window_start = t0 + Duration::from_secs(warmup);
    let shots = Arc::new(std::sync::Mutex::new(Vec::with_capacity(total as usize)));
    let permits = Arc::new(Semaphore::new(max_in_flight.max(1)));
    let counter = Arc::new(AtomicU64::new(0));
    let progress = progress(ctx.rx.clone(), counter.clone(), total);
    // Per node its API and the message URL on it, taken round-robin.
    let targets: Vec<(Api, Arc<crate::server::MessageUrl>)> = (0..ctx.apis.len())
        .map(|i| {
            let api = ctx.load_api(i);
            Ok((api.clone(), Arc::new(api.message_url(&app)?)))
        })
        .collect::<anyhow::Result<_>>()?;
    let mut ticks = pace(t0, period, total);
    while let Some(due) = ticks.recv().await {
        for (i, scheduled) in due {
            // Waiting for a permit delays the send but not its scheduled time.
            let permit = permits.clone().acquire_owned().await?;
            counter.store(i + 1, Ordering::Relaxed);
            let (api, url) = targets[i as usize % targets.len()].clone();
            let shots = shots.clone();
            let body = message_body("bench.latency", i, ctx.args.payload_bytes);
            tokio::spawn(async move {
                let started = Instant::now();
                let id = api.send(&url, body).await.ok();
                let acked = Instant::now();
                shots.lock().unwrap().push(Shot {
                    scheduled,
                    started,
                    id,
                    acked,
                });
                drop(permit);
            });
        }
    }
    permits
        .acquire_many(max_in_flight.max(1) as u32)
        .await?
        .forget();
    progress.abort();
    let shots = std::mem::take(&mut *shots.lock().unwrap());
    let accepted_all = shots.iter().filter(|s| s.id.is_some()).count() as u64;
    ctx.rx
        .wait_until(ctx.deadline, |rx| rx.unique_at(ep) >= accepted_all)
        .await;
    let arrivals = ctx.rx.arrivals_at(ep);

    // Start-up: the worst ack among sends scheduled in the first second after health.
    let first_second_max_ack_ms = ctx.servers.first().map(|s| {
        let healthy = s.spawned_at + s.startup;
        shots
            .iter()
            .filter(|x| x.scheduled < healthy.max(t0) + Duration::from_secs(1))
            .map(|x| ms(x.acked.saturating_duration_since(x.scheduled)))
            .fold(0.0, f64::max)
    });

    let measured: Vec<&Shot> = shots
        .iter()
        .filter(|s| s.scheduled >= window_start)
        .collect();
    let mut lat = Vec::new();
    let mut ack = Vec::new();
    let mut lag = Vec::new();
    let (mut accepted, mut errors, mut missing) = (0u64, 0u64, 0u64);
    let (mut last_ack, mut last_arrival) = (window_start, window_start);
    for s in &measured {
        ack.push(s.acked.saturating_duration_since(s.scheduled).as_micros() as u64);
        lag.push(s.started.saturating_duration_since(s.scheduled).as_micros() as u64);
        let Some(id) = &s.id else {
            errors += 1;
            continue;
        };
        accepted += 1;
        last_ack = last_ack.max(s.acked);
        match arrivals.get(id.as_str()) {
            Some(a) => {
                lat.push(a.saturating_duration_since(s.scheduled).as_micros() as u64);
                last_arrival = last_arrival.max(*a);
            }
            None => missing += 1,
        }
    }
    let delivered = lat.len() as u64;
    // Latency by second of the measured window, to show stalls (e.g. checkpoints).
    let mut by_second: Vec<Vec<u64>> = vec![Vec::new(); duration as usize];
    for s in &measured {
        let sec = (s.scheduled - window_start).as_secs() as usize;
        if let (Some(bucket), Some(a)) = (
            by_second.get_mut(sec),
            s.id.as_deref().and_then(|id| arrivals.get(id)),
        ) {
            bucket.push(a.saturating_duration_since(s.scheduled).as_micros() as u64);
        }
    }
    let p99_by_second: Vec<f64> = by_second
        .iter()
        .map(|b| Percentiles::from_micros(b).p99_ms)
        .collect();
    let mut fields = json!({
        "target_rate": target_rate,
        "warmup_s": warmup,
        "duration_s": duration,
        "measured": measured.len(),
        "accepted": accepted,
        "send_errors": errors,
        "delivered": delivered,
        "missing": missing,
        "duplicates": ctx.rx.duplicates(),
        // Over the measured window: from its start to the last ack / last arrival, so a
        // server that falls behind shows a lower rate than the target.
        "achieved_ingest_per_s": rate(accepted, (last_ack - window_start).max(Duration::from_secs(duration))),
        "achieved_delivered_per_s": rate(delivered, (last_arrival - window_start).max(Duration::from_secs(duration))),
        "latency_ms": Percentiles::from_micros(&lat).to_json(),
        "ack_latency_ms": Percentiles::from_micros(&ack).to_json(),
        // The load generator's own lag behind its schedule: large values mean the
        // figures measure the generator (or the machine), not only the server.
        "send_lag_ms": Percentiles::from_micros(&lag).to_json(),
        "p99_by_second_ms": p99_by_second,
    });
    if let Some(v) = first_second_max_ack_ms {
        fields["first_second_max_ack_ms"] = json!(v);
    }
    let result = ctx.finish("latency", fields);
    stop(&mut ctx).await;
    Ok(result)
}

/// Send times `t0 + i·period` for `i < total`, released when due, from a thread of its
/// own: tokio's timer ticks in whole milliseconds and fires up to 1 ms late, which at
/// 1,000/s was more than half the p50 measured from the scheduled times (`send_lag_ms`
/// shows what is left). The thread naps at least [`MIN_NAP`], then releases every send
/// due by then together: at 10,000/s a wake-up of its own per send (and of the task
/// that spawns it) cost the bench more CPU than the sends. A send released late still
/// counts its latency from its scheduled time.
fn pace(
    t0: Instant,
    period: f64,
    total: u64,
) -> tokio::sync::mpsc::UnboundedReceiver<Vec<(u64, Instant)>> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let at = move |i: u64| t0 + Duration::from_secs_f64(i as f64 * period);
    std::thread::spawn(move || {
        let mut next = 0;
        while next < total {
            let now = Instant::now();
            std::thread::sleep(at(next).saturating_duration_since(now).max(MIN_NAP));
            let now = Instant::now();
            let mut due = Vec::new();
            while next < total && at(next) <= now {
                due.push((next, at(next)));
                next += 1;
            }
            if !due.is_empty() && tx.send(due).is_err() {
                break;
            }
        }
    });
    rx
}

/// The pacer's shortest nap: below 2,000 sends a second every send is released on its
/// own, on time; above, sends are released together, late by at most this.
const MIN_NAP: Duration = Duration::from_micros(500);

async fn fanout(args: &TargetArgs, n: u64, endpoints: u32, c: usize) -> anyhow::Result<Value> {
    let mut ctx = Ctx::new(args, c, None, n * u64::from(endpoints)).await?;
    let et = "bench.fanout";
    ctx.api().ensure_event_type(et).await?;
    let (app, eps) = ctx
        .app_with_endpoints("fanout", 0, endpoints, Some(&[et]))
        .await?;
    eprintln!("fanout: {n} messages to {endpoints} endpoints, {c} clients");
    let sent = send_batch(&ctx, &app, et, n, c).await?;
    let accepted = sent.at.len() as u64;
    let expected = accepted * u64::from(endpoints);
    ctx.rx
        .wait_until(ctx.deadline, |rx| rx.unique_over(&eps) >= expected)
        .await;
    let mut lat = Vec::new();
    let mut last = sent.first_send;
    let mut missing = 0;
    let all = ctx.rx.all_arrivals();
    for &ep in &eps {
        for (id, t) in &sent.at {
            match all.get(&(ep, Box::from(id.as_str()))) {
                Some(a) => {
                    lat.push(a.saturating_duration_since(*t).as_micros() as u64);
                    last = last.max(*a);
                }
                None => missing += 1,
            }
        }
    }
    let deliveries = lat.len() as u64;
    let result = ctx.finish(
        "fanout",
        json!({
            "messages": n,
            "endpoints": endpoints,
            "concurrency": c,
            "accepted": accepted,
            "send_errors": sent.errors,
            "ingest_msg_per_s": rate(accepted, sent.last_ack - sent.first_send),
            "deliveries": deliveries,
            "missing": missing,
            "duplicates": ctx.rx.duplicates(),
            "deliveries_per_s": rate(deliveries, last - sent.first_send),
            "latency_ms": Percentiles::from_micros(&lat).to_json(),
        }),
    );
    stop(&mut ctx).await;
    Ok(result)
}

/// Fast endpoints' deliveries/s for one phase of the slow-endpoint scenario.
struct Phase {
    per_s: f64,
    p99_ms: f64,
    missing: u64,
}

async fn fast_phase(ctx: &Ctx, app: &str, fast: &[u32], n: u64, c: usize) -> anyhow::Result<Phase> {
    let sent = send_batch(ctx, app, "bench.slow", n, c).await?;
    let expected = sent.at.len() as u64 * fast.len() as u64;
    ctx.rx
        .wait_until(ctx.deadline, |rx| rx.unique_over(fast) >= expected)
        .await;
    let mut lat = Vec::new();
    let mut last = sent.first_send;
    let mut missing = 0;
    for &ep in fast {
        let (l, end, m) = join(&sent.at, &ctx.rx.arrivals_at(ep));
        lat.extend(l);
        missing += m;
        if let Some(end) = end {
            last = last.max(end);
        }
    }
    Ok(Phase {
        per_s: rate(lat.len() as u64, last - sent.first_send),
        p99_ms: Percentiles::from_micros(&lat).p99_ms,
        missing,
    })
}

async fn slow_endpoint(
    args: &TargetArgs,
    n: u64,
    fast: u32,
    slow_delay_ms: u64,
    c: usize,
) -> anyhow::Result<Value> {
    // Three phases' fast endpoints, the control's extra one and the slow one.
    let arrivals = n * (3 * u64::from(fast) + 2);
    let mut ctx = Ctx::new(args, c, None, arrivals).await?;
    // Phase 1: fast endpoints only.
    let (app1, fast1) = ctx.app_with_endpoints("fast", 0, fast, None).await?;
    eprintln!("slow-endpoint: baseline, {n} messages to {fast} fast endpoints");
    let base = fast_phase(&ctx, &app1, &fast1, n, c).await?;
    // Phase 2, the control: one endpoint more, answering at once. Against it, phase 3
    // differs only in how late that endpoint answers; against phase 1, it also has a
    // delivery more to write and send per message.
    let (app2, fast2) = ctx.app_with_endpoints("control", 1000, fast, None).await?;
    let extra = 3000;
    ctx.api()
        .create_endpoint(&app2, &ctx.rx.url(extra), None)
        .await?;
    eprintln!("slow-endpoint: control, {n} messages to {fast} + 1 fast endpoints");
    let control = fast_phase(&ctx, &app2, &fast2, n, c).await?;
    // Phase 3: the same with that endpoint answering late.
    let (app3, fast3) = ctx.app_with_endpoints("slow", 2000, fast, None).await?;
    let slow_ep = 4000;
    ctx.rx.script(
        slow_ep,
        Script {
            status: 200,
            delay: Duration::from_millis(slow_delay_ms),
        },
    );
    ctx.api()
        .create_endpoint(&app3, &ctx.rx.url(slow_ep), None)
        .await?;
    eprintln!(
        "slow-endpoint: {n} messages to {fast} fast endpoints + 1 answering after {slow_delay_ms} ms"
    );
    let with = fast_phase(&ctx, &app3, &fast3, n, c).await?;
    let result = ctx.finish(
        "slow-endpoint",
        json!({
            "messages": n,
            "fast_endpoints": fast,
            "slow_delay_ms": slow_delay_ms,
            "concurrency": c,
            "baseline_fast_deliveries_per_s": base.per_s,
            "control_fast_deliveries_per_s": control.per_s,
            "with_slow_fast_deliveries_per_s": with.per_s,
            "drop_pct": drop_pct(base.per_s, with.per_s),
            "drop_vs_control_pct": drop_pct(control.per_s, with.per_s),
            "baseline_fast_p99_ms": base.p99_ms,
            "control_fast_p99_ms": control.p99_ms,
            "with_slow_fast_p99_ms": with.p99_ms,
            "missing": base.missing + control.missing + with.missing,
            "duplicates": ctx.rx.duplicates(),
            "control_extra_delivered": ctx.rx.unique_at(extra),
            "slow_delivered_by_end": ctx.rx.unique_at(slow_ep),
        }),
    );
    stop(&mut ctx).await;
    Ok(result)
}

async fn backlog(args: &TargetArgs, n: u64, c: usize) -> anyhow::Result<Value> {
    if !args.spawn {
        bail!(
            "backlog needs --spawn (it restarts the server as an API-only, then a worker-only node)"
        );
    }
    if args.nodes > 1 {
        bail!("backlog runs one node at a time (API-only, then worker-only); drop --nodes");
    }
    let mut ctx = Ctx::new(args, c, Some("api"), n).await?;
    let (app, eps) = ctx.app_with_endpoints("backlog", 0, 1, None).await?;
    let ep = eps[0];
    eprintln!("backlog: queueing {n} messages on an API-only node");
    let sent = send_batch(&ctx, &app, "bench.backlog", n, c).await?;
    let accepted = sent.at.len() as u64;
    let ingest = rate(accepted, sent.last_ack - sent.first_send);
    let early = ctx.rx.requests();
    let mut api_node = ctx.servers.pop().expect("spawned");
    let api_startup = api_node.startup;
    let api_rss = api_node.peak_rss_mib();
    let api_cpu = api_node.cpu_seconds().map(crate::stats::round3);
    api_node.stop(Duration::from_secs(20)).await;
    let mut spec = ctx.spec.clone().expect("spawned");
    spec.roles = Some("worker".into());
    eprintln!("backlog: starting a worker-only node to drain {accepted}");
    let spawn_at = Instant::now();
    let worker = spec.spawn().await?;
    let worker_startup = worker.startup;
    ctx.servers.push(worker);
    let progress = progress(ctx.rx.clone(), Arc::new(AtomicU64::new(n)), n);
    ctx.rx
        .wait_until(ctx.deadline, |rx| rx.unique_at(ep) >= accepted)
        .await;
    progress.abort();
    let arrivals = ctx.rx.arrivals_at(ep);
    let (_, last, missing) = join(&sent.at, &arrivals);
    let first = arrivals.values().min().copied();
    let delivered = accepted - missing;
    let mut result = ctx.finish(
        "backlog",
        json!({
            "messages": n,
            "concurrency": c,
            "accepted": accepted,
            "send_errors": sent.errors,
            "ingest_msg_per_s": ingest,
            "delivered_before_worker": early,
            "delivered": delivered,
            "missing": missing,
            "duplicates": ctx.rx.duplicates(),
            "drain_msg_per_s": match (first, last) {
                (Some(f), Some(l)) => rate(delivered, l - f),
                _ => 0.0,
            },
            "drain_incl_startup_msg_per_s": last.map_or(0.0, |l| rate(delivered, l - spawn_at)),
            "worker_startup_ms": ms(worker_startup),
            "api_peak_rss_mib": api_rss,
            "api_cpu_s": api_cpu,
        }),
    );
    // startup_ms is the API node's; the worker's is worker_startup_ms. peak_rss_mib and
    // server_cpu_s are the worker's (the API node's are api_peak_rss_mib, api_cpu_s).
    result["startup_ms"] = json!(ms(api_startup));
    stop(&mut ctx).await;
    Ok(result)
}

/// The expected keys `result` lacks (empty when its shape is right).
pub fn missing_keys(result: &Value) -> Vec<String> {
    let scenario = result["scenario"].as_str().unwrap_or_default();
    COMMON_KEYS
        .iter()
        .chain(scenario_keys(scenario))
        .filter(|k| result.get(**k).is_none())
        .map(|k| k.to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn pace_sends_every_tick_in_order_and_none_early() {
        let t0 = Instant::now() + Duration::from_millis(5);
        let period = 0.000_5;
        let mut ticks = pace(t0, period, 40);
        let mut seen = 0;
        while let Some(due) = ticks.recv().await {
            assert!(!due.is_empty(), "only sends that are due are released");
            for (i, scheduled) in due {
                assert_eq!(i, seen, "ticks come in order");
                assert_eq!(scheduled, t0 + Duration::from_secs_f64(i as f64 * period));
                assert!(
                    Instant::now() >= scheduled,
                    "tick {i} was sent before it was due"
                );
                seen += 1;
            }
        }
        assert_eq!(seen, 40, "every tick, then the channel closes");
    }

    #[tokio::test]
    async fn pace_releases_fast_sends_together() {
        // 200 sends due within 2 ms: the pacer wakes at most once per MIN_NAP.
        let mut ticks = pace(Instant::now(), 0.000_01, 200);
        let (mut batches, mut sends) = (0, 0);
        while let Some(due) = ticks.recv().await {
            batches += 1;
            sends += due.len();
        }
        assert_eq!(sends, 200);
        assert!(batches <= 6, "{batches} wake-ups for 200 sends in 2 ms");
    }

    #[test]
    fn join_counts_missing_and_latency() {
        let t = Instant::now();
        let sent: HashMap<String, Instant> = [("a".to_string(), t), ("b".to_string(), t)].into();
        let arrivals: HashMap<Box<str>, Instant> =
            [(Box::from("a"), t + Duration::from_millis(3))].into();
        let (lat, last, missing) = join(&sent, &arrivals);
        assert_eq!(lat, vec![3000]);
        assert_eq!(last, Some(t + Duration::from_millis(3)));
        assert_eq!(missing, 1);
    }

    #[test]
    fn every_scenario_has_keys_and_load_is_read() {
        for s in ["e2e", "latency", "fanout", "slow-endpoint", "backlog"] {
            assert!(!scenario_keys(s).is_empty(), "{s}");
        }
        assert_eq!(load_avg().len(), 3);
    }

    #[test]
    fn result_shape_is_checked() {
        let mut v = json!({});
        for k in COMMON_KEYS.iter().chain(scenario_keys("e2e")) {
            v[*k] = json!(0);
        }
        v["scenario"] = json!("e2e");
        assert!(missing_keys(&v).is_empty());
        v.as_object_mut().unwrap().remove("latency_ms");
        assert_eq!(missing_keys(&v), vec!["latency_ms".to_string()]);
    }
}
