//! A webhook receiver for Skyhook's `quotation.created` events.
//!
//! ```sh
//! SKYHOOK_WEBHOOK_SECRET=whsec_… SKYHOOK_QUOTATION_SECRET=… PORT=3000 \
//!     cargo run -p skyhook-receiver --example quotation_receiver --features axum
//! ```
//!
//! It verifies every `POST /webhook` with the `Verified` extractor (401 if the
//! signature is wrong), answers 200 at once, and only then downloads each file
//! of a `quotation.created` event from `{projectUrl}/quotation/files/{id}`,
//! printing `<file name>: <bytes> bytes` per file. Answering first matters:
//! the sender times out slow receivers and retries, and downloads can be slow.

use std::env;
use std::error::Error;
use std::io::Write as _;
use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::routing::post;
use skyhook_receiver::{GenericEvent, QuotationCreated, Verified, Webhook};
use tokio::net::TcpListener;

#[derive(Clone)]
struct AppState {
    webhook: Webhook,
    http: reqwest::Client,
    /// Bearer token for the file downloads; a different secret from the
    /// webhook one, so a leaked signing secret cannot read files.
    quotation_secret: Arc<str>,
}

/// Tells `Verified` where to find the webhook verifier.
impl FromRef<AppState> for Webhook {
    fn from_ref(state: &AppState) -> Self {
        state.webhook.clone()
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let webhook = Webhook::new(&required_env("SKYHOOK_WEBHOOK_SECRET")?)?;
    let quotation_secret = required_env("SKYHOOK_QUOTATION_SECRET")?.into();
    let port: u16 = match env::var("PORT") {
        Ok(p) => p.parse().map_err(|e| format!("PORT={p:?}: {e}"))?,
        Err(_) => 3000,
    };
    let state = AppState {
        webhook,
        http: reqwest::Client::new(),
        quotation_secret,
    };
    let app = Router::new()
        .route("/webhook", post(receive))
        .with_state(state);

    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on http://{}", listener.local_addr()?);
    // Whoever started us may be waiting for that line on a pipe.
    std::io::stdout().flush()?;
    axum::serve(listener, app).await?;
    Ok(())
}

fn required_env(name: &str) -> Result<String, String> {
    env::var(name).map_err(|_| format!("{name} must be set"))
}

/// Runs only for verified requests; anything else was already refused.
async fn receive(
    State(state): State<AppState>,
    Verified(event): Verified<GenericEvent>,
) -> StatusCode {
    if event["type"] != QuotationCreated::TYPE {
        // Other events are acknowledged so the sender does not retry them.
        return StatusCode::OK;
    }
    match serde_json::from_value::<QuotationCreated>(event) {
        Ok(quotation) => {
            tokio::spawn(download_files(state, quotation));
            StatusCode::OK
        }
        Err(e) => {
            eprintln!("malformed quotation.created: {e}");
            StatusCode::BAD_REQUEST
        }
    }
}

async fn download_files(state: AppState, event: QuotationCreated) {
    for file in &event.files {
        let url = event.file_url(file);
        match download(&state, &url).await {
            Ok(len) => {
                // One line per file, flushed, so a reader of our stdout sees it now.
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{}: {len} bytes", file.name).and_then(|()| out.flush());
            }
            Err(e) => eprintln!("{}: download from {url} failed: {e}", file.name),
        }
    }
}

async fn download(state: &AppState, url: &str) -> Result<usize, reqwest::Error> {
    let response = state
        .http
        .get(url)
        .bearer_auth(&state.quotation_secret)
        .send()
        .await?
        .error_for_status()?;
    Ok(response.bytes().await?.len())
}
