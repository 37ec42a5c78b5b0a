//! The dashboard in a real headless Chromium (Debian's `chromium`, driven by Playwright
//! from `crates/dashboard/browser-tests/flow.mjs`): the real server, a receiver that the
//! script can switch between answering 200 and 503, and a quotation with a file.
//! Screenshots land in `target/dashboard-screenshots/`. Skipped with `SKIPPED: …`
//! without Chromium, Node or `npm ci`, fatal under `SKYHOOK_TEST_STRICT=1`.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use axum::http::StatusCode;
use axum::routing::get;
use common::{Api, Server, ServerOpts, repo_root, require};
use serde_json::json;

const CHROMIUM: &str = "/usr/bin/chromium";

/// A receiver at `/hook` that answers 200, or 503 with a body after `/control/fail`.
async fn switchable_receiver() -> (String, Arc<AtomicUsize>) {
    let failing = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicUsize::new(0));
    let (f1, f2, f3, c) = (failing.clone(), failing.clone(), failing, count.clone());
    let app = axum::Router::new()
        .route(
            "/control/fail",
            get(move || async move { f1.store(true, Ordering::SeqCst) }),
        )
        .route(
            "/control/ok",
            get(move || async move { f2.store(false, Ordering::SeqCst) }),
        )
        .route(
            "/hook",
            axum::routing::post(move || {
                let (failing, count) = (f3.clone(), c.clone());
                async move {
                    count.fetch_add(1, Ordering::SeqCst);
                    if failing.load(Ordering::SeqCst) {
                        (
                            StatusCode::SERVICE_UNAVAILABLE,
                            "ERP down for maintenance (until 14:00)",
                        )
                    } else {
                        (StatusCode::OK, "thanks")
                    }
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, count)
}

fn node_present() -> bool {
    std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[tokio::test]
async fn the_dashboard_flow_in_headless_chromium() {
    let tests = repo_root().join("crates/dashboard/browser-tests");
    if !require(
        Path::new(CHROMIUM).exists(),
        "/usr/bin/chromium (apt-get install chromium)",
    ) || !require(node_present(), "node")
        || !require(
            tests.join("node_modules/playwright-core").exists(),
            "crates/dashboard/browser-tests/node_modules (npm ci there)",
        )
    {
        return;
    }
    // One scheduled attempt only, so that what the page shows after a failure stays put
    // until the resend.
    let server = Server::start(ServerOpts::dev().env("SKYHOOK_RETRY_SCHEDULE", "1h")).await;
    let (receiver, deliveries) = switchable_receiver().await;
    let api: Api = server.api();
    let app = api.app("Window Shop").await;
    let body = json!({
        "customer": {"name": "Ada Lovelace", "email": "ada@example.com"},
        "configuration": {"product": "window", "width": 1200},
        "files": [{"name": "drawing.txt", "contentType": "text/plain", "contentBase64": "aGVsbG8gZHJhd2luZwo="}],
    });
    let (status, q) = Api::read(
        api.raw(
            reqwest::Method::POST,
            &format!("/projects/{app}/quotations"),
        )
        .header("content-type", "application/json")
        .body(body.to_string()),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{q}");

    let shots = repo_root().join("target/dashboard-screenshots");
    let out = tokio::time::timeout(
        Duration::from_secs(240),
        tokio::process::Command::new("node")
            .arg(tests.join("flow.mjs"))
            .args([&server.url, &server.token, &receiver])
            .arg(&shots)
            .current_dir(&tests)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the browser flow finishes within 240 s")
    .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "browser flow failed:\n{stdout}\n{stderr}\nserver log:\n{}",
        server.log()
    );
    assert!(stdout.contains("browser flow: all"), "{stdout}");
    // The test event, the failing one, and the resend reached the receiver.
    assert!(deliveries.load(Ordering::SeqCst) >= 3);
    for name in [
        "01-login",
        "05-webhooks-test-ok",
        "08-message-failed",
        "09-message-resent",
        "13-phone-overview",
    ] {
        assert!(
            shots.join(format!("{name}.png")).exists(),
            "screenshot {name}"
        );
    }
}
