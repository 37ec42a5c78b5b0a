//! A tiny `e2e` run with `--spawn` against the debug build of `skyhook`.
//!
//! The skyhook binary comes from `$SKYHOOK_BIN`, or `skyhook` next to this package's
//! binaries (the same target dir and profile: build it with `cargo build -p skyhook`).
//! When it is absent the test prints SKIPPED, unless `SKYHOOK_TEST_STRICT=1`.

use std::path::PathBuf;
use std::process::Command;

fn skyhook_bin() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("SKYHOOK_BIN") {
        return Some(PathBuf::from(p));
    }
    // .../target/debug/skyhook-bench → .../target/debug/skyhook
    let bench = PathBuf::from(env!("CARGO_BIN_EXE_skyhook-bench"));
    let candidate = bench.parent()?.join("skyhook");
    candidate.exists().then_some(candidate)
}

#[test]
fn tiny_e2e_against_a_spawned_skyhook() {
    let Some(bin) = skyhook_bin() else {
        if std::env::var("SKYHOOK_TEST_STRICT").as_deref() == Ok("1") {
            panic!("no skyhook binary: run `cargo build -p skyhook` first (or set SKYHOOK_BIN)");
        }
        eprintln!(
            "SKIPPED: no skyhook binary next to skyhook-bench; run `cargo build -p skyhook` (or set SKYHOOK_BIN)"
        );
        return;
    };
    let out = Command::new(env!("CARGO_BIN_EXE_skyhook-bench"))
        .args(["e2e", "-n", "200", "-c", "5", "--spawn", "--timeout", "120"])
        .arg("--skyhook-bin")
        .arg(&bin)
        .env_remove("SKYHOOK_BENCH_SERVER")
        .output()
        .expect("running skyhook-bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "skyhook-bench failed\nstdout: {stdout}\nstderr: {stderr}"
    );
    let lines: Vec<&str> = stdout.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "exactly one JSON line on stdout: {stdout}");
    let v: serde_json::Value = serde_json::from_str(lines[0]).expect("valid JSON");
    println!("{v}");
    for key in [
        "scenario",
        "server",
        "payload_bytes",
        "load_before",
        "load_after",
        "peak_rss_mib",
        "startup_ms",
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
    ] {
        assert!(v.get(key).is_some(), "key {key} missing in {v}");
    }
    for key in ["p50_ms", "p90_ms", "p99_ms", "max_ms"] {
        assert!(v["latency_ms"][key].is_number(), "latency_ms.{key} in {v}");
    }
    assert_eq!(v["scenario"], "e2e");
    assert_eq!(v["accepted"], 200, "{v}");
    assert_eq!(v["send_errors"], 0, "{v}");
    assert_eq!(v["delivered"], 200, "{v}");
    assert_eq!(v["missing"], 0, "{v}");
    assert!(v["peak_rss_mib"].as_f64().unwrap() > 0.0, "{v}");
}
