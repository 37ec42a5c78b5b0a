//! `skyhook-bench`: a load generator for Svix-compatible webhook servers.
//!
//! It creates an application and endpoints pointing at its own built-in receiver,
//! sends 256-byte messages through `POST /api/v1/app/{app}/msg`, and times each one
//! from send (or scheduled send) to arrival at the receiver. Each scenario prints one
//! JSON line of results on stdout; progress goes to stderr. `chart` draws such lines as
//! an SVG.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// The bench shares the box with the server it measures: every cycle it spends is one
/// the server does not get. glibc's malloc was 9% of its CPU; the server's allocator
/// takes most of that back here too.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod chart;
mod machine;
mod receiver;
mod scenarios;
mod server;
mod stats;

/// Load generator for Svix-compatible webhook servers (Skyhook or any other).
#[derive(Debug, Parser)]
#[command(name = "skyhook-bench", version)]
pub struct Cli {
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// A scenario, or `chart` of their results.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    #[command(flatten)]
    Scenario(Scenario),
    /// Draw result lines (any scenarios, several runs each) as an SVG: throughput and
    /// latency percentiles, the median over runs with the same parameters.
    Chart {
        /// JSON lines as the scenarios print them.
        results: PathBuf,
        /// Write the SVG here [default: stdout].
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
}

/// Which server to measure, and limits shared by every scenario.
#[derive(Debug, Clone, Args)]
pub struct TargetArgs {
    /// Base URL of a running server (e.g. http://127.0.0.1:8071).
    #[arg(
        long,
        global = true,
        env = "SKYHOOK_BENCH_SERVER",
        conflicts_with = "spawn"
    )]
    pub server: Option<String>,
    /// Admin bearer token of the running server.
    #[arg(long, global = true, env = "SKYHOOK_BENCH_TOKEN")]
    pub token: Option<String>,
    /// Start `skyhook serve` on a fresh temporary data dir instead.
    #[arg(long, global = true)]
    pub spawn: bool,
    /// The skyhook binary for --spawn [default: $CARGO_TARGET_DIR/release/skyhook if it
    /// exists, else target/release/skyhook in the repository].
    #[arg(long, global = true)]
    pub skyhook_bin: Option<PathBuf>,
    /// Passed to the spawned server (e.g. postgres://…); default: SQLite in the data dir.
    #[arg(long, global = true)]
    pub database_url: Option<String>,
    /// Spawn this many `skyhook serve` nodes on the --database-url database (PostgreSQL);
    /// messages are sent to them round-robin, setup calls to the first.
    #[arg(long, global = true, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub nodes: u32,
    /// Keep the spawned servers' data dirs (their paths are printed).
    #[arg(long, global = true)]
    pub keep_data: bool,
    /// Payload size in bytes (the JSON object given as `payload`).
    #[arg(long, global = true, default_value_t = 256)]
    pub payload_bytes: usize,
    /// Give up waiting for deliveries after this many seconds.
    #[arg(long, global = true, default_value_t = 300)]
    pub timeout: u64,
}

impl TargetArgs {
    /// The combinations clap cannot express.
    pub fn check(&self) -> anyhow::Result<()> {
        if self.nodes > 1 && !self.spawn {
            anyhow::bail!("--nodes needs --spawn");
        }
        if self.nodes > 1 && self.database_url.is_none() {
            anyhow::bail!(
                "--nodes {} needs --database-url postgres://…: the nodes share one database, \
                 and a spawned SQLite database belongs to one node's data dir",
                self.nodes
            );
        }
        Ok(())
    }
}

/// The scenarios; each is bounded in count and time.
#[derive(Debug, Clone, Subcommand)]
pub enum Scenario {
    /// N messages from C concurrent keep-alive clients to one endpoint.
    E2e {
        #[arg(short = 'n', long, default_value_t = 20_000)]
        messages: u64,
        #[arg(short = 'c', long, default_value_t = 50)]
        concurrency: usize,
    },
    /// A fixed send rate; latency counts from the scheduled send time.
    Latency {
        /// Messages per second.
        #[arg(long, default_value_t = 1_000)]
        rate: u64,
        /// Measured seconds (after the warm-up).
        #[arg(long, default_value_t = 20)]
        duration: u64,
        /// Unmeasured seconds first.
        #[arg(long, default_value_t = 5)]
        warmup: u64,
        /// Requests in flight at most (later sends wait, and their wait counts).
        #[arg(long, default_value_t = 2_000)]
        max_in_flight: usize,
    },
    /// One event type, many endpoints subscribed to it.
    Fanout {
        #[arg(short = 'n', long, default_value_t = 1_000)]
        messages: u64,
        #[arg(long, default_value_t = 100)]
        endpoints: u32,
        #[arg(short = 'c', long, default_value_t = 50)]
        concurrency: usize,
    },
    /// Fast endpoints' throughput alone, beside one more fast endpoint (the control), then
    /// beside one that answers late.
    SlowEndpoint {
        #[arg(short = 'n', long, default_value_t = 5_000)]
        messages: u64,
        #[arg(long, default_value_t = 10)]
        fast: u32,
        /// How late the slow endpoint answers, in milliseconds.
        #[arg(long, default_value_t = 2_000)]
        slow_delay_ms: u64,
        #[arg(short = 'c', long, default_value_t = 50)]
        concurrency: usize,
    },
    /// Queue N messages on an API-only node, then time a worker-only node draining them
    /// (needs --spawn).
    Backlog {
        #[arg(short = 'n', long, default_value_t = 100_000)]
        messages: u64,
        #[arg(short = 'c', long, default_value_t = 50)]
        concurrency: usize,
    },
}

impl Scenario {
    pub fn name(&self) -> &'static str {
        match self {
            Scenario::E2e { .. } => "e2e",
            Scenario::Latency { .. } => "latency",
            Scenario::Fanout { .. } => "fanout",
            Scenario::SlowEndpoint { .. } => "slow-endpoint",
            Scenario::Backlog { .. } => "backlog",
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let scenario = match cli.command {
        Command::Scenario(s) => s,
        Command::Chart { results, output } => return chart::run(&results, output.as_deref()),
    };
    cli.target.check()?;
    let result = scenarios::run(&cli.target, &scenario).await?;
    let missing = scenarios::missing_keys(&result);
    if !missing.is_empty() {
        eprintln!("warning: result lacks {missing:?}");
    }
    println!("{}", serde_json::to_string(&result)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn scenario(cli: Cli) -> Scenario {
        match cli.command {
            Command::Scenario(s) => s,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn defaults_match_the_issue() {
        let cli = Cli::try_parse_from(["skyhook-bench", "--spawn", "e2e"]).unwrap();
        assert!(cli.target.spawn);
        assert_eq!(cli.target.payload_bytes, 256);
        match scenario(cli) {
            Scenario::E2e {
                messages,
                concurrency,
            } => assert_eq!((messages, concurrency), (20_000, 50)),
            other => panic!("{other:?}"),
        }
        let cli = Cli::try_parse_from(["skyhook-bench", "latency", "--spawn"]).unwrap();
        match scenario(cli) {
            Scenario::Latency {
                rate,
                duration,
                warmup,
                ..
            } => assert_eq!((rate, duration, warmup), (1_000, 20, 5)),
            other => panic!("{other:?}"),
        }
        let cli = Cli::try_parse_from(["skyhook-bench", "fanout"]).unwrap();
        assert!(matches!(
            scenario(cli),
            Scenario::Fanout {
                messages: 1_000,
                endpoints: 100,
                ..
            }
        ));
        let cli = Cli::try_parse_from(["skyhook-bench", "backlog"]).unwrap();
        assert!(matches!(
            scenario(cli),
            Scenario::Backlog {
                messages: 100_000,
                ..
            }
        ));
        let cli = Cli::try_parse_from(["skyhook-bench", "slow-endpoint"]).unwrap();
        assert_eq!(scenario(cli).name(), "slow-endpoint");
    }

    #[test]
    fn flags_after_the_subcommand_and_conflicts() {
        let cli = Cli::try_parse_from([
            "skyhook-bench",
            "e2e",
            "-n",
            "200",
            "-c",
            "5",
            "--server",
            "http://127.0.0.1:8071",
            "--token",
            "sk_x",
        ])
        .unwrap();
        assert_eq!(cli.target.server.as_deref(), Some("http://127.0.0.1:8071"));
        assert!(matches!(
            scenario(cli),
            Scenario::E2e {
                messages: 200,
                concurrency: 5
            }
        ));
        assert!(
            Cli::try_parse_from(["skyhook-bench", "e2e", "--spawn", "--server", "http://x"])
                .is_err()
        );
        assert!(Cli::try_parse_from(["skyhook-bench", "nonsense"]).is_err());
    }

    #[test]
    fn nodes_need_spawn_and_a_shared_database() {
        let target = |args: &str| {
            let args = ["skyhook-bench", "e2e"].into_iter().chain(args.split(' '));
            Cli::try_parse_from(args).map(|cli| cli.target)
        };
        let one = target("--spawn").unwrap();
        assert_eq!(one.nodes, 1);
        one.check().unwrap();
        let err = target("--spawn --nodes 2").unwrap().check().unwrap_err();
        assert!(err.to_string().contains("--database-url"), "{err}");
        let pg = "--database-url postgres://h/db";
        let err = target(&format!("--nodes 2 {pg}")).unwrap().check();
        assert!(err.unwrap_err().to_string().contains("--spawn"));
        let two = target(&format!("--spawn --nodes 2 {pg}")).unwrap();
        assert_eq!(two.nodes, 2);
        two.check().unwrap();
        assert!(target("--spawn --nodes 0").is_err());
    }

    #[test]
    fn chart_takes_a_file_and_an_output() {
        let cli = Cli::try_parse_from(["skyhook-bench", "chart", "r.jsonl", "-o", "r.svg"]);
        match cli.unwrap().command {
            Command::Chart { results, output } => {
                assert_eq!(results, PathBuf::from("r.jsonl"));
                assert_eq!(output, Some(PathBuf::from("r.svg")));
            }
            other => panic!("{other:?}"),
        }
        assert!(Cli::try_parse_from(["skyhook-bench", "chart"]).is_err());
    }
}
