//! Code we did not write checks us: the official Svix Python SDK drives the API, and the
//! PyPI `standardwebhooks`/`svix` and npm `standardwebhooks` libraries verify deliveries.
//! Needs `interop/setup.sh`; skipped with a message without it, fatal under
//! `SKYHOOK_TEST_STRICT=1`.

mod common;

use common::{Receiver, Server, ServerOpts, interop_node, interop_python, repo_root, require};
use serde_json::{Value, json};

/// Runs a script without blocking the runtime (the receiver lives on it).
async fn run(program: &std::path::Path, args: &[&str]) -> (bool, String) {
    let out = tokio::process::Command::new(program)
        .args(args)
        .current_dir(repo_root())
        .output()
        .await
        .expect("run interop script");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test]
async fn third_party_verifiers_accept_our_deliveries() {
    let python = interop_python();
    if !require(
        python.is_some() && interop_node(),
        "the interop verifiers (Python venv and npm packages)",
    ) {
        return;
    }
    let python = python.unwrap();
    let server = Server::start(ServerOpts::dev()).await;
    let api = server.api();
    let rx = Receiver::start().await;
    let app = api.app("interop").await;
    let (_, secret) = api.endpoint(&app, json!({"url": rx.url("/hook")})).await;
    api.message(
        &app,
        "interop.check",
        json!({"text": "grüße ✓", "n": [1, 2.5]}),
    )
    .await;
    let d = rx.wait_for("/hook", 1).await.remove(0);

    let dir = tempfile::tempdir().unwrap();
    let headers: serde_json::Map<String, Value> = d
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.to_string(),
                Value::String(v.to_str().unwrap().to_string()),
            )
        })
        .collect();
    let headers_path = dir.path().join("headers.json");
    let body_path = dir.path().join("body.json");
    std::fs::write(&headers_path, Value::Object(headers.clone()).to_string()).unwrap();
    std::fs::write(&body_path, &d.body).unwrap();
    let (h, b) = (headers_path.to_str().unwrap(), body_path.to_str().unwrap());

    for lib in ["standardwebhooks", "svix"] {
        let (ok, out) = run(
            &python,
            &[
                "interop/verify.py",
                "--lib",
                lib,
                "--secret",
                &secret,
                "--headers-json",
                h,
                "--body-file",
                b,
            ],
        )
        .await;
        assert!(ok, "PyPI {lib} rejected our delivery: {out}");
    }
    let node = std::path::Path::new("node");
    let (ok, out) = run(
        node,
        &[
            "interop/verify.mjs",
            "--secret",
            &secret,
            "--headers-json",
            h,
            "--body-file",
            b,
        ],
    )
    .await;
    assert!(ok, "npm standardwebhooks rejected our delivery: {out}");

    // And they are not rubber stamps: one changed byte fails in each.
    let mut tampered = d.body.to_vec();
    tampered[2] ^= 1;
    std::fs::write(&body_path, &tampered).unwrap();
    let (ok, _) = run(
        &python,
        &[
            "interop/verify.py",
            "--secret",
            &secret,
            "--headers-json",
            h,
            "--body-file",
            b,
        ],
    )
    .await;
    assert!(!ok, "a tampered body must fail in PyPI standardwebhooks");
    let (ok, _) = run(
        node,
        &[
            "interop/verify.mjs",
            "--secret",
            &secret,
            "--headers-json",
            h,
            "--body-file",
            b,
        ],
    )
    .await;
    assert!(!ok, "a tampered body must fail in npm standardwebhooks");
}

#[tokio::test]
async fn the_official_svix_python_sdk_works_unchanged() {
    let Some(python) = interop_python().filter(|_| true) else {
        require(false, "the interop Python venv with the svix SDK");
        return;
    };
    let server = Server::start(ServerOpts::dev()).await;
    let rx = Receiver::start().await;
    let (ok, out) = run(
        &python,
        &[
            "interop/svix_sdk_flow.py",
            "--server",
            &server.url,
            "--token",
            &server.token,
            "--receiver",
            &rx.url("/sdk"),
        ],
    )
    .await;
    assert!(
        ok,
        "Svix SDK flow failed: {out}\nserver log:\n{}",
        server.log()
    );
    let seen: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(seen["attempts"], 2);
    assert_eq!(seen["firstStatus"], 200);
    assert_eq!(seen["triggerTypes"], json!([0, 1]));
    assert_eq!(seen["attemptFetched"], true);
    assert_eq!(seen["destinations"], json!([seen["endpoint"]]));
    assert_eq!(seen["endpointMessages"], json!([seen["msg"]]));
    assert_eq!(seen["success"], 1);
    let got = rx.wait_for("/sdk", 2).await;
    assert_eq!(got[0].header("x-from"), "sdk");
    let secret = seen["secret"].as_str().unwrap();
    skyhook_receiver::Webhook::new(secret)
        .unwrap()
        .verify(&got[1].headers, &got[1].body)
        .expect("signed with the rotated secret");
}
