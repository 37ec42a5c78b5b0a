//! The example receiver (`crates/receiver/examples/quotation_receiver.rs`) against the
//! real server: a real quotation, the real plugin, the files downloaded by the example.

mod common;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use base64::Engine;
use common::{Server, ServerOpts};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};

/// The example binary that `cargo test` builds beside this test (built on demand when
/// this test runs alone).
async fn example_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .unwrap()
        .to_path_buf();
    let bin = profile_dir.join("examples/quotation_receiver");
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = tokio::process::Command::new(cargo)
            .args([
                "build",
                "-p",
                "skyhook-receiver",
                "--example",
                "quotation_receiver",
                "--features",
                "axum",
            ])
            .status()
            .await
            .unwrap();
        assert!(status.success(), "building the example receiver");
    }
    bin
}

#[tokio::test]
async fn the_example_receiver_downloads_every_file_of_a_real_quotation() {
    let server = Server::start(ServerOpts::dev()).await;
    let api = server.api();
    let app = api.app("configurator").await;
    let qsecret = api
        .get_ok(&format!("/api/v1/app/{app}/quotation-secret"))
        .await["key"]
        .as_str()
        .unwrap()
        .to_string();

    // A free port for the example: bind, learn it, release it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (status, plugin) = api
        .put(
            &format!("/api/v1/app/{app}/plugins/webhooks"),
            json!({"enabled": true, "url": format!("http://127.0.0.1:{port}/webhook")}),
        )
        .await;
    assert_eq!(status, 200, "{plugin}");

    let mut child = tokio::process::Command::new(example_binary().await)
        .env("PORT", port.to_string())
        .env("SKYHOOK_WEBHOOK_SECRET", plugin["secret"].as_str().unwrap())
        .env("SKYHOOK_QUOTATION_SECRET", &qsecret)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(
        first.starts_with("listening on http://127.0.0.1:"),
        "{first}"
    );

    let drawing: Vec<u8> = (0..50_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let notes = "Lieferung bis KW 50 — bitte bestätigen.\n".as_bytes();
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let body = json!({
        "customer": {"name": "Ada", "email": "ada@example.com"},
        "configuration": {"model": "X1"},
        "files": [
            {"name": "drawing.bin", "contentType": "application/octet-stream", "contentBase64": b64(&drawing)},
            {"name": "notes.txt", "contentType": "text/plain; charset=utf-8", "contentBase64": b64(notes)},
        ],
    });
    let (status, quotation) = common::Api::read(
        reqwest::Client::new()
            .post(format!("{}/projects/{app}/quotations", server.url))
            .bearer_auth(&qsecret)
            .json(&body),
    )
    .await;
    assert_eq!(status, 201, "{quotation}");

    let mut printed = Vec::new();
    while printed.len() < 2 {
        let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .expect("the example prints one line per downloaded file")
            .unwrap()
            .expect("example still running");
        printed.push(line);
    }
    printed.sort();
    assert_eq!(
        printed,
        vec![
            format!("drawing.bin: {} bytes", drawing.len()),
            format!("notes.txt: {} bytes", notes.len())
        ]
    );
}
