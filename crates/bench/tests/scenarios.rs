//! Every scenario at a tiny size with `--spawn` against the debug build of `skyhook`, so
//! that the bench cannot rot, and `chart` of such a run. The figures are printed, not
//! asserted: only that every message was accepted and delivered, and the keys.
//!
//! The skyhook binary comes from `$SKYHOOK_BIN`, or `skyhook` next to this package's
//! binaries (the same target dir and profile: build it with `cargo build -p skyhook`).
//! When it is absent the tests print SKIPPED, unless `SKYHOOK_TEST_STRICT=1`.
//!
//! The two-node run needs PostgreSQL at `$SKYHOOK_TEST_DATABASE_URL` (default
//! postgres://postgres@127.0.0.1:5432/postgres), where it creates a fresh
//! `skyhook_bench_…` database and drops it after; unreachable, it is SKIPPED the same way.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::str::FromStr;
use std::sync::{Mutex, PoisonError};

use serde_json::Value;
use sqlx::postgres::PgConnectOptions;
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, Executor};

const BENCH: &str = env!("CARGO_BIN_EXE_skyhook-bench");

/// One spawned server at a time: CI has 2 cores, and `latency` keeps a send schedule.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn skyhook_bin() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("SKYHOOK_BIN") {
        return Some(PathBuf::from(p));
    }
    // .../target/debug/skyhook-bench → .../target/debug/skyhook
    let candidate = PathBuf::from(BENCH).parent()?.join("skyhook");
    candidate.exists().then_some(candidate)
}

/// Prints why a test does nothing, or fails with it under `SKYHOOK_TEST_STRICT=1`.
fn skip(reason: &str) {
    if std::env::var("SKYHOOK_TEST_STRICT").as_deref() == Ok("1") {
        panic!("{reason}");
    }
    eprintln!("SKIPPED: {reason}");
}

/// Runs `cmd`, asserting that it succeeds.
fn succeed(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("running skyhook-bench");
    assert!(
        out.status.success(),
        "{cmd:?} failed\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs `skyhook-bench ARGS --spawn` and checks the shape of its one result line, which it
/// prints and returns; None (SKIPPED) when there is no skyhook binary.
fn run(args: &str) -> Option<Value> {
    let Some(bin) = skyhook_bin() else {
        skip(
            "no skyhook binary next to skyhook-bench; run `cargo build -p skyhook` (or set SKYHOOK_BIN)",
        );
        return None;
    };
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
    let out = succeed(
        Command::new(BENCH)
            .args(args.split_whitespace())
            .args(["--spawn", "--timeout", "120", "--skyhook-bin"])
            .arg(&bin)
            .env_remove("SKYHOOK_BENCH_SERVER"),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "exactly one JSON line on stdout: {stdout}");
    let v: Value = serde_json::from_str(lines[0]).expect("valid JSON");
    println!("{v}");
    let scenario = args.split_whitespace().next().unwrap();
    assert_eq!(v["scenario"], scenario);
    let common = [
        "server",
        "payload_bytes",
        "load_before",
        "load_after",
        "nodes",
        "peak_rss_mib",
        "peak_rss_mib_per_node",
        "startup_ms",
        "receiver_requests",
    ];
    for key in common.iter().chain(keys(scenario)) {
        assert!(v.get(key).is_some(), "key {key} missing in {v}");
    }
    if let Some(lat) = v.get("latency_ms") {
        for key in ["p50_ms", "p90_ms", "p99_ms", "max_ms"] {
            assert!(lat[key].is_number(), "latency_ms.{key} in {v}");
        }
    }
    assert!(v["peak_rss_mib"].as_f64().unwrap() > 0.0, "{v}");
    assert!(v["server_cpu_s"].as_f64().unwrap() >= 0.0, "{v}");
    assert!(v["bench_cpu_s"].as_f64().unwrap() > 0.0, "{v}");
    Some(v)
}

/// The scenario's own keys, as docs/BENCHMARKS.md lists them.
fn keys(scenario: &str) -> &'static [&'static str] {
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
            "stored_bytes_per_message",
            "stored_bytes_beyond_payload",
        ],
        "latency" => &[
            "target_rate",
            "measured",
            "accepted",
            "send_errors",
            "delivered",
            "missing",
            "achieved_ingest_per_s",
            "achieved_delivered_per_s",
            "latency_ms",
            "ack_latency_ms",
            "p99_by_second_ms",
            "first_second_max_ack_ms",
        ],
        "fanout" => &[
            "messages",
            "endpoints",
            "accepted",
            "send_errors",
            "deliveries",
            "missing",
            "deliveries_per_s",
            "ingest_msg_per_s",
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
            "baseline_fast_p99_ms",
            "control_fast_p99_ms",
            "with_slow_fast_p99_ms",
            "missing",
            "duplicates",
            "control_extra_delivered",
            "slow_delivered_by_end",
        ],
        "backlog" => &[
            "messages",
            "accepted",
            "send_errors",
            "delivered",
            "missing",
            "ingest_msg_per_s",
            "drain_msg_per_s",
            "drain_incl_startup_msg_per_s",
            "worker_startup_ms",
            "api_peak_rss_mib",
        ],
        other => panic!("no keys for {other}"),
    }
}

/// Asserts `v[key] == n` for each pair.
fn assert_counts(v: &Value, counts: &[(&str, u64)]) {
    for &(key, n) in counts {
        assert_eq!(v[key].as_u64(), Some(n), "{key} in {v}");
    }
}

/// Every message accepted without error, and delivered once to each of its `endpoints`.
fn assert_all_delivered(v: &Value, messages: u64, delivered_key: &str, endpoints: u64) {
    let counts = [
        ("accepted", messages),
        ("send_errors", 0),
        (delivered_key, messages * endpoints),
        ("missing", 0),
    ];
    assert_counts(v, &counts);
}

#[test]
fn e2e() {
    if let Some(v) = run("e2e -n 200 -c 5") {
        assert_all_delivered(&v, 200, "delivered", 1);
        // A spawned SQLite node reports its file's size per message: at least the payload.
        let stored = v["stored_bytes_per_message"].as_f64();
        assert!(stored.is_some_and(|b| b >= 256.0), "{v}");
    }
}

#[test]
fn latency() {
    let Some(v) = run("latency --rate 200 --warmup 1 --duration 2") else {
        return;
    };
    // The sends scheduled in the measured window: 2 s × 200/s (± float rounding).
    let measured = v["measured"].as_u64().unwrap();
    assert!(measured.abs_diff(400) <= 1, "{v}");
    assert_all_delivered(&v, measured, "delivered", 1);
}

#[test]
fn fanout() {
    if let Some(v) = run("fanout -n 50 --endpoints 5 -c 5") {
        assert_all_delivered(&v, 50, "deliveries", 5);
    }
}

#[test]
fn slow_endpoint() {
    let Some(v) = run("slow-endpoint -n 20 --fast 2 --slow-delay-ms 300 -c 5") else {
        return;
    };
    assert_counts(&v, &[("missing", 0)]);
    // It reports no `accepted`, so count at the receiver: both fast endpoints got every
    // message of all three phases. The scenario reads `receiver_requests` last, so
    // arrivals while it reads its counters can only add to this.
    let n = |key: &str| v[key].as_u64().unwrap();
    let fast = n("receiver_requests")
        - n("duplicates")
        - n("control_extra_delivered")
        - n("slow_delivered_by_end");
    assert!(fast >= 3 * 20 * 2, "{v}");
}

#[test]
fn backlog() {
    if let Some(v) = run("backlog -n 500 -c 5") {
        assert_all_delivered(&v, 500, "delivered", 1);
    }
}

/// A fresh database on the PostgreSQL server of `$SKYHOOK_TEST_DATABASE_URL`, dropped
/// (with FORCE, in case a node is still connected) on drop.
struct PgDatabase {
    server: PgConnectOptions,
    name: String,
}

impl PgDatabase {
    /// Err (why) when the server cannot be reached or refuses.
    fn create() -> Result<Self, String> {
        let url = std::env::var("SKYHOOK_TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let server = PgConnectOptions::from_str(&url).map_err(|e| format!("{url}: {e}"))?;
        let name = format!(
            "skyhook_bench_{}",
            skyhook_domain::ids::random_base62(12).to_lowercase()
        );
        admin(&server, &format!("CREATE DATABASE {name}"))
            .map_err(|e| format!("cannot create a database on PostgreSQL at {url}: {e}"))?;
        Ok(Self { server, name })
    }

    fn url(&self) -> String {
        self.server
            .clone()
            .database(&self.name)
            .to_url_lossy()
            .into()
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        if let Err(e) = admin(&self.server, &sql) {
            eprintln!("{sql}: {e}");
        }
    }
}

/// Runs `sql` on the database the URL names, on a small runtime of its own (`drop` can
/// neither await nor reach one).
fn admin(server: &PgConnectOptions, sql: &str) -> Result<(), sqlx::Error> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut conn = server.connect().await?;
        conn.execute(AssertSqlSafe(sql.to_string())).await?;
        conn.close().await
    })
}

#[test]
fn e2e_on_two_postgres_nodes() {
    let db = match PgDatabase::create() {
        Ok(db) => db,
        Err(reason) => return skip(&reason),
    };
    let Some(v) = run(&format!("e2e -n 200 --nodes 2 --database-url {}", db.url())) else {
        return;
    };
    assert_all_delivered(&v, 200, "delivered", 1);
    assert_counts(&v, &[("nodes", 2)]);
    let rss = v["peak_rss_mib_per_node"].as_array().unwrap();
    assert_eq!(rss.len(), 2, "{v}");
    assert!(rss.iter().all(|r| r.as_f64() > Some(0.0)), "{v}");
}

#[test]
fn chart_of_a_run() {
    let mut lines = String::new();
    for args in ["e2e -n 20 -c 2", "fanout -n 5 --endpoints 2 -c 2"] {
        let Some(v) = run(args) else {
            return;
        };
        lines += &format!("{v}\n\n");
    }
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results.jsonl");
    std::fs::write(&results, &lines).unwrap();
    let file = dir.path().join("chart.svg");
    let chart = || {
        let mut cmd = Command::new(BENCH);
        cmd.arg("chart").arg(&results);
        cmd
    };
    succeed(chart().arg("-o").arg(&file));
    let svg = std::fs::read_to_string(&file).unwrap();
    let stdout = succeed(&mut chart()).stdout;
    assert_eq!(
        String::from_utf8(stdout).unwrap(),
        svg,
        "the same on stdout"
    );
    assert!(svg.starts_with("<svg"), "{svg}");
    assert!(svg.trim_end().ends_with("</svg>"), "{svg}");
    for text in [
        ">e2e sqlite n=20 c=2<",
        ">delivered msg/s<",
        ">fanout sqlite n=5 endpoints=2<",
        ">deliveries/s<",
        ">p99<",
    ] {
        assert!(svg.contains(text), "{text} in {svg}");
    }
    std::fs::write(&results, format!("{lines}oops\n")).unwrap();
    let out = chart().output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("line 5: not JSON"),
        "{stderr}"
    );
}
