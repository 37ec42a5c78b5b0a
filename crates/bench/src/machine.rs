//! A quick measure of the machine itself, taken before every run and kept in its result
//! line. The VM these benchmarks run on has been 2.5 times slower on one day than on
//! another with the same binary; with this figure beside each result, a slow machine
//! can be told from a slow server.

use std::hash::Hasher;
use std::hint::black_box;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::stats::{ms, round3};

/// `{"hash_mib_per_s", "fdatasync_ms"}`: one core's speed at a fixed task, and the
/// disk's sync latency in `dir` (where the spawned servers keep their data); a figure
/// that could not be measured is null.
pub fn probe(dir: &Path) -> Value {
    json!({
        "hash_mib_per_s": hash_mib_per_s(),
        "fdatasync_ms": fdatasync(dir).map(ms),
    })
}

/// SipHash (std's `DefaultHasher`) over 256 MiB on one thread.
fn hash_mib_per_s() -> f64 {
    const MIB: usize = 1 << 20;
    const ROUNDS: u32 = 256;
    let block = vec![0x5a_u8; MIB];
    let started = Instant::now();
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for _ in 0..ROUNDS {
        hasher.write(black_box(&block));
    }
    black_box(hasher.finish());
    round3(f64::from(ROUNDS) / started.elapsed().as_secs_f64())
}

/// The median of 50 appends of 4 KiB, each followed by `fdatasync`, as a database
/// commit does.
fn fdatasync(dir: &Path) -> Option<Duration> {
    let path = dir.join(format!("skyhook-bench-sync-{}", std::process::id()));
    let result = (|| {
        let mut file = std::fs::File::create(&path).ok()?;
        let block = [0_u8; 4096];
        let mut times: Vec<Duration> = (0..50)
            .map(|_| {
                let started = Instant::now();
                file.write_all(&block)?;
                file.sync_data()?;
                Ok(started.elapsed())
            })
            .collect::<std::io::Result<_>>()
            .ok()?;
        times.sort();
        Some(times[times.len() / 2])
    })();
    let _ = std::fs::remove_file(&path);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_measures_both_figures() {
        let probe = probe(&std::env::temp_dir());
        let hash = probe["hash_mib_per_s"].as_f64().unwrap();
        let sync = probe["fdatasync_ms"].as_f64().unwrap();
        assert!(hash > 0.0 && hash.is_finite(), "{probe}");
        assert!(sync > 0.0 && sync.is_finite(), "{probe}");
        println!("machine: {probe}");
    }

    #[test]
    fn an_unwritable_directory_gives_no_sync_figure() {
        let probe = probe(Path::new("/nonexistent/skyhook-bench"));
        assert!(probe["fdatasync_ms"].is_null(), "{probe}");
        assert!(probe["hash_mib_per_s"].as_f64().unwrap() > 0.0);
    }
}
