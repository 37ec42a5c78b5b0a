//! The `skyhook` binary: `serve`, `migrate`, `token create`.
//!
//! # Layout
//! - [`settings`]: flags, `SKYHOOK_*` variables and `skyhook.toml`, merged and checked.
//! - [`serve`]: wiring the store, the API and the delivery workers into one process.
//! - [`store`]: opening the database named by `DATABASE_URL`.

use clap::{Parser, Subcommand};

mod serve;
mod settings;
mod store;

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
    init_tracing();
    let settings = Settings::load(&cli.flags)?;
    match cli.command {
        Command::Serve { dev } => serve::run(settings, dev).await,
        Command::Migrate => {
            let store = store::open(&settings.database_url).await?;
            println!("migrations applied to {}", settings.database_url);
            drop(store);
            Ok(())
        }
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
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("SKYHOOK_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::env::var("SKYHOOK_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json")) {
        builder.json().init();
    } else {
        builder.init();
    }
}
