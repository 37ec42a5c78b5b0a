//! The `skyhook` binary: `serve`, `migrate`, `token create`, `openapi`, and the CLI
//! that talks to a server over HTTP (`app`, `endpoint`, `msg`, `trigger`, `listen`, `recover`).
//!
//! # Layout
//! - [`settings`]: flags, `SKYHOOK_*` variables and `skyhook.toml`, merged and checked.
//! - [`serve`]: wiring the store, the API and the delivery workers into one process.
//! - [`store`]: opening the database named by `DATABASE_URL`.
//! - [`main_key`]: the key that seals secrets at rest.
//! - [`telemetry`]: logs, request spans, OpenTelemetry, Prometheus metrics.
//! - [`cli`]: the commands that talk to a running server.

use clap::{Parser, Subcommand};

/// glibc's malloc and free were about a sixth of the server's CPU under load;
/// mimalloc takes most of that back (docs/BENCHMARKS.md, "The allocator and quieter
/// request logs").
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod cli;
mod main_key;
mod serve;
mod settings;
mod store;
mod telemetry;

use settings::{Flags, Settings};

#[derive(Parser)]
#[command(
    name = "skyhook",
    version,
    about = "Webhook delivery: a Svix-compatible API, durable queue and signed deliveries"
)]
struct Cli {
    #[command(flatten)]
    flags: Flags,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the API and the delivery workers.
    Serve {
        /// Also allow http:// endpoints on loopback (not for production).
        #[arg(long)]
        dev: bool,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Print the OpenAPI 3.1 document of the API (the committed `openapi.json`).
    Openapi,
    #[command(flatten)]
    Client(cli::ClientCommand),
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Print a new API token: admin-wide, or limited to one application.
    Create {
        /// Limit the token to this application (id or uid).
        #[arg(long)]
        app: Option<String>,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // These need no settings, database or key: they print, or talk to a server.
    let command = match cli.command {
        Command::Openapi => {
            print!("{}", skyhook_api::openapi::json());
            return Ok(());
        }
        Command::Client(command) => return cli::run(command).await,
        other => other,
    };
    init_tracing();
    let settings = Settings::load(&cli.flags)?;
    main_key::install(&settings)?;
    match command {
        Command::Serve { dev } => serve::run(settings, dev).await,
        Command::Migrate => {
            let store = store::open(&settings.database_url).await?;
            println!("migrations applied to {}", settings.database_url);
            drop(store);
            Ok(())
        }
        Command::Openapi | Command::Client(_) => unreachable!("handled above"),
        Command::Token {
            command: TokenCommand::Create { app },
        } => {
            let store = store::open(&settings.database_url).await?;
            println!(
                "{}",
                serve::create_token(store.as_ref(), app.as_deref()).await?
            );
            Ok(())
        }
    }
}

/// Human-readable logs by default, JSON lines with `SKYHOOK_LOG_FORMAT=json`.
fn init_tracing() {
    telemetry::init_tracing();
}
