//! Operations and developer tools: the OpenAPI document, `/metrics`, JSON logs, and the
//! CLI (`skyhook listen`, `skyhook trigger`) against a real server.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{
    Receiver, Reply, Server, ServerOpts, eventually, interop_python, repo_root, require, settled,
};
use serde_json::{Value, json};
use skyhook_receiver::Webhook;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_skyhook");

// ------------------------------------------------------------------- OpenAPI

#[tokio::test]
async fn committed_openapi_document_is_current_and_valid_3_1() {
    let out = Command::new(BIN).arg("openapi").output().await.unwrap();
    assert!(out.status.success(), "skyhook openapi failed: {out:?}");
    let generated = String::from_utf8(out.stdout).unwrap();
    let path = repo_root().join("openapi.json");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "openapi.json at the repository root is not the document the code generates; \
         regenerate it with `cargo run -- openapi > openapi.json` and commit the diff"
    );

    // The server serves the same document.
    let server = Server::start(ServerOpts::dev()).await;
    let resp = reqwest::get(format!("{}/api/v1/openapi.json", server.url))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), generated);

    let doc: Value = serde_json::from_str(&generated).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    for schema in [
        "ApplicationIn",
        "ApplicationOut",
        "ApplicationPatch",
        "EndpointIn",
        "EndpointOut",
        "EndpointPatch",
        "EndpointSecretOut",
        "EndpointSecretRotateIn",
        "EndpointHeadersIn",
        "EndpointHeadersOut",
        "EndpointHeadersPatchIn",
        "EndpointStats",
        "EventTypeIn",
        "EventTypeOut",
        "EventTypePatch",
        "MessageIn",
        "MessageOut",
        "MessageAttemptOut",
        "EndpointMessageOut",
        "MessageEndpointOut",
        "RecoverIn",
        "RecoverOut",
        "ListResponse_ApplicationOut",
        "ListResponse_MessageOut",
        "HttpErrorOut",
        "HTTPValidationError",
    ] {
        assert!(
            doc["components"]["schemas"][schema].is_object(),
            "schema {schema} missing"
        );
    }
    for (path, method) in [
        (
            "/api/v1/app/{app_id}/endpoint/{endpoint_id}/recover",
            "post",
        ),
        ("/api/v1/app/{app_id}/plugins/webhooks", "put"),
        ("/api/v1/app/{app_id}/quotation-secret/rotate", "post"),
        ("/projects/{app_id}/quotations", "post"),
        ("/projects/{app_id}/quotation/files/{file_id}", "get"),
        ("/api/v1/app/{app_id}/listen", "get"),
    ] {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} missing"
        );
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["HTTPBearer"]["scheme"],
        "bearer"
    );

    let Some(python) = interop_python() else {
        require(false, "the interop Python venv with openapi-spec-validator");
        return;
    };
    let check = std::process::Command::new(python)
        .args([
            "-c",
            "import sys, json\n\
             from openapi_spec_validator import validate, OpenAPIV31SpecValidator\n\
             validate(json.load(open(sys.argv[1])), cls=OpenAPIV31SpecValidator)\n\
             print('valid')",
        ])
        .arg(&path)
        .output()
        .unwrap();
    let has_validator = !String::from_utf8_lossy(&check.stderr).contains("ModuleNotFoundError");
    if !require(has_validator, "openapi-spec-validator in interop/.venv") {
        return;
    }
    assert!(
        check.status.success(),
        "openapi.json is not valid OpenAPI 3.1: {}",
        String::from_utf8_lossy(&check.stderr)
    );
}

// ------------------------------------------------------------------- metrics

/// The value of the sample `name` whose labels include every `labels` pair.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (metric, rest) = match series.split_once('{') {
                Some((m, rest)) => (m, rest),
                None => (series, ""),
            };
            if metric != name {
                return None;
            }
            labels
                .iter()
                .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")))
                .then(|| value.parse().ok())?
        })
}

async fn metrics(server: &Server) -> String {
    let resp = reqwest::get(format!("{}/metrics", server.url))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain"),
        "Prometheus text format"
    );
    resp.text().await.unwrap()
}

#[tokio::test]
async fn metrics_count_a_success_a_failure_and_a_retry() {
    // One retry 100 ms after a failure, then the delivery fails for good.
    let server = Server::start(ServerOpts::dev().env("SKYHOOK_RETRY_SCHEDULE", "100ms")).await;
    let api = server.api();
    let ok = Receiver::start().await;
    let bad = Receiver::start().await;
    bad.set_default(Reply::Status(500));
    let flaky = Receiver::start().await;
    flaky.script([Reply::Status(503)]);

    let mut eps = Vec::new();
    let mut msgs = Vec::new();
    for (name, rx) in [("ok", &ok), ("bad", &bad), ("flaky", &flaky)] {
        let app = api.app(name).await;
        let (ep, _) = api.endpoint(&app, json!({"url": rx.url("/hook")})).await;
        let msg = api.message(&app, "order.paid", json!({"n": name})).await;
        eps.push(ep);
        msgs.push((app, msg));
    }
    for (app, msg) in &msgs {
        settled(&api, app, msg).await;
    }
    let (ep_ok, ep_bad, ep_flaky) = (&eps[0], &eps[1], &eps[2]);

    // Counters are recorded just after the attempt is, a group commit's just after it
    // answered its writes (3 messages, 5 attempts); poll until they show up.
    let text = eventually("attempt metrics", Duration::from_secs(10), || async {
        let t = metrics(&server).await;
        let attempts = sample(&t, "skyhook_attempt_duration_seconds_count", &[]);
        let writes = sample(&t, "skyhook_group_commit_writes_sum", &[]);
        (attempts == Some(5.0) && writes == Some(8.0)).then_some(t)
    })
    .await;
    let get = |name: &str, labels: &[(&str, &str)]| sample(&text, name, labels).unwrap_or(0.0);
    assert_eq!(
        get("skyhook_messages_accepted_total", &[("source", "api")]),
        3.0,
        "{text}"
    );
    // ok: 2xx success; flaky: 5xx retry then 2xx success; bad: 5xx retry then 5xx fail.
    let attempts = "skyhook_attempts_total";
    assert_eq!(
        get(attempts, &[("outcome", "success"), ("status_class", "2xx")]),
        2.0,
        "{text}"
    );
    assert_eq!(
        get(attempts, &[("outcome", "retry"), ("status_class", "5xx")]),
        2.0,
        "{text}"
    );
    assert_eq!(
        get(attempts, &[("outcome", "fail"), ("status_class", "5xx")]),
        1.0,
        "{text}"
    );
    let failures = "skyhook_endpoint_failures_total";
    assert_eq!(get(failures, &[("endpoint_id", ep_bad)]), 2.0, "{text}");
    assert_eq!(get(failures, &[("endpoint_id", ep_flaky)]), 1.0, "{text}");
    assert_eq!(get(failures, &[("endpoint_id", ep_ok)]), 0.0, "{text}");
    // Ingest → 2xx for the two delivered messages; the bucket list is a histogram's.
    assert_eq!(
        get("skyhook_delivery_latency_seconds_count", &[]),
        2.0,
        "{text}"
    );
    assert!(
        text.contains("skyhook_delivery_latency_seconds_bucket{le=\"0.5\"}"),
        "{text}"
    );
    assert!(
        text.contains("skyhook_attempt_duration_seconds_bucket"),
        "{text}"
    );
    // One transaction per batch, each timed, and none can hold more writes than exist.
    let batches = get("skyhook_group_commit_writes_count", &[]);
    assert!((1.0..=8.0).contains(&batches), "{text}");
    assert_eq!(
        get("skyhook_group_commit_seconds_count", &[]),
        batches,
        "{text}"
    );
    assert_eq!(
        get("skyhook_group_commit_wait_seconds_count", &[]),
        batches,
        "{text}"
    );
    assert_eq!(get("skyhook_deliveries_in_flight", &[]), 0.0, "{text}");
    for state in ["due", "scheduled", "sending"] {
        assert_eq!(
            sample(&text, "skyhook_queue_depth", &[("state", state)]),
            Some(0.0),
            "everything settled: no queue ({state})\n{text}"
        );
    }
}

#[tokio::test]
async fn queue_depth_counts_deliveries_waiting_for_a_retry() {
    let server = Server::start(ServerOpts::dev().env("SKYHOOK_RETRY_SCHEDULE", "1h")).await;
    let api = server.api();
    let bad = Receiver::start().await;
    bad.set_default(Reply::Status(500));
    let app = api.app("queue").await;
    api.endpoint(&app, json!({"url": bad.url("/hook")})).await;
    api.message(&app, "order.paid", json!({})).await;
    bad.wait_for("/hook", 1).await;
    eventually("one scheduled retry", Duration::from_secs(10), || async {
        let t = metrics(&server).await;
        (sample(&t, "skyhook_queue_depth", &[("state", "scheduled")]) == Some(1.0)).then_some(())
    })
    .await;
}

/// An endpoint holds at most 32 requests in flight and 32 more waiting on a node; what
/// comes beyond that is counted as refused and left in the queue, and is still delivered.
#[tokio::test]
async fn deliveries_beyond_an_endpoints_room_are_counted_as_refused_and_still_delivered() {
    let server = Server::start(ServerOpts::dev()).await;
    let api = server.api();
    let slow = Receiver::start().await;
    slow.set_default(Reply::Slow(Duration::from_millis(1500)));
    let app = api.app("crowded").await;
    api.endpoint(&app, json!({"url": slow.url("/hook")})).await;
    for n in 0..70 {
        api.message(&app, "order.paid", json!({ "n": n })).await;
    }
    let refused = eventually("6 refusals", Duration::from_secs(10), || async {
        let t = metrics(&server).await;
        let endpoint = sample(
            &t,
            "skyhook_admissions_refused_total",
            &[("reason", "endpoint")],
        );
        endpoint.filter(|n| *n >= 6.0).map(|_| t)
    })
    .await;
    assert_eq!(
        sample(
            &refused,
            "skyhook_admissions_refused_total",
            &[("reason", "node")]
        ),
        None,
        "the node had room: {refused}"
    );
    slow.set_default(Reply::Status(200));
    slow.wait_for("/hook", 70).await;
}

// ------------------------------------------------------------------- logs

#[tokio::test]
async fn json_logs_parse_line_by_line_and_carry_the_ids() {
    // Successful attempts and requests log at debug (failures at info or warn).
    let server = Server::start(ServerOpts::dev().env("SKYHOOK_LOG_FORMAT", "json").env(
        "SKYHOOK_LOG",
        "info,skyhook_delivery=debug,skyhook::request=debug",
    ))
    .await;
    let api = server.api();
    let rx = Receiver::start().await;
    let app = api.app("logs").await;
    let (ep, _) = api.endpoint(&app, json!({"url": rx.url("/hook")})).await;
    let resp = api
        .raw(reqwest::Method::POST, &format!("/api/v1/app/{app}/msg"))
        .header("content-type", "application/json")
        .body(json!({"eventType": "order.paid", "payload": {}}).to_string())
        .send()
        .await
        .unwrap();
    let request_id = resp.headers()["x-request-id"].to_str().unwrap().to_string();
    assert!(request_id.starts_with("req_"), "{request_id}");
    let msg: Value = resp.json().await.unwrap();
    let msg_id = msg["id"].as_str().unwrap().to_string();
    settled(&api, &app, &msg_id).await;

    let lines = eventually(
        "the attempt and request in the log",
        Duration::from_secs(10),
        || async {
            let log = server.log();
            let lines: Vec<Value> = log
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| {
                    serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}"))
                })
                .collect();
            let attempt = lines.iter().any(|l| {
                l["fields"]["message"] == "delivery attempt"
                    && l["span"]["name"] == "delivery_attempt"
                    && l["span"]["msg_id"] == msg_id.as_str()
                    && l["span"]["endpoint_id"] == ep.as_str()
                    && l["span"]["attempt_number"] == 1
            });
            let request = lines.iter().any(|l| {
                l["fields"]["message"] == "request finished"
                    && l["span"]["request_id"] == request_id.as_str()
                    && l["span"]["method"] == "POST"
                    && l["fields"]["status"] == 202
            });
            (attempt && request).then_some(lines)
        },
    )
    .await;
    assert!(
        lines
            .iter()
            .all(|l| l["level"].is_string() && l["timestamp"].is_string())
    );
}

#[tokio::test]
async fn text_logs_carry_no_colour_codes_and_by_default_only_requests_that_failed() {
    // The test server's stderr is a file, as under systemd or with `2> skyhook.log`.
    let server = Server::start(ServerOpts::dev()).await;
    let api = server.api();
    api.app("plain").await;
    let missing = api
        .raw(reqwest::Method::GET, "/api/v1/app/app_missing")
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let log = eventually("the 404 in the log", Duration::from_secs(10), || async {
        let log = server.log();
        log.contains("request finished").then_some(log)
    })
    .await;
    assert!(log.contains("status=404"), "{log}");
    // The 201 came first; its line would be there by now if it were logged at `info`.
    assert!(
        !log.contains("status=201"),
        "a successful request logged at info:\n{log}"
    );
    assert!(!log.contains('\u{1b}'), "ANSI escape codes in:\n{log}");
}

// ------------------------------------------------------------------- CLI

fn cli(server: &Server) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env("SKYHOOK_SERVER", &server.url)
        .env("SKYHOOK_TOKEN", &server.token)
        .kill_on_drop(true);
    cmd
}

#[tokio::test]
async fn listen_forwards_a_signed_delivery_to_a_local_url() {
    let server = Server::start(ServerOpts::dev()).await;
    let api = server.api();
    let app = api.app("listen").await;
    let local = Receiver::start().await;

    let mut child = cli(&server)
        .args([
            "listen",
            "--app",
            &app,
            "--forward-to",
            &local.url("/webhook"),
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let ready = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .expect("skyhook listen is ready within 20 s")
        .unwrap()
        .expect("a first line");
    assert!(ready.starts_with("Listening on"), "{ready}");
    let secret = ready
        .split("signing secret ")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .expect("the secret in the ready line")
        .to_string();
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

    let eps = api.get_ok(&format!("/api/v1/app/{app}/endpoint")).await;
    let ep = eps["data"][0].clone();
    assert!(
        ep["url"].as_str().unwrap().starts_with("skyhook-listen://"),
        "{ep}"
    );

    let msg = api.message(&app, "order.paid", json!({"order": 42})).await;
    let got = local.wait_for("/webhook", 1).await;
    let d = &got[0];
    assert_eq!(d.header("webhook-id"), msg);
    assert_eq!(d.json(), json!({"order": 42}));
    Webhook::new(&secret)
        .unwrap()
        .verify(&d.headers, &d.body)
        .expect("the forwarded webhook verifies with the temporary endpoint's secret");
    let dest = settled(&api, &app, &msg).await;
    assert_eq!(dest[0]["status"], 0, "the handoff counts as delivered");

    // Closing the stream removes the temporary endpoint.
    child.kill().await.unwrap();
    eventually(
        "the temporary endpoint removed",
        Duration::from_secs(10),
        || async {
            let eps = api.get_ok(&format!("/api/v1/app/{app}/endpoint")).await;
            eps["data"].as_array().unwrap().is_empty().then_some(())
        },
    )
    .await;
}

#[tokio::test]
async fn trigger_sends_an_example_quotation_created_that_is_delivered() {
    let server = Server::start(ServerOpts::dev()).await;
    let api = server.api();
    let app = api.app("trigger").await;
    let rx = Receiver::start().await;
    let (_, secret) = api.endpoint(&app, json!({"url": rx.url("/hook")})).await;

    let out = cli(&server)
        .args(["trigger", "quotation.created", "--app", &app])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let got = rx.wait_for("/hook", 1).await;
    Webhook::new(&secret)
        .unwrap()
        .verify(&got[0].headers, &got[0].body)
        .unwrap();
    let body = got[0].json();
    assert_eq!(body["type"], "quotation.created");
    assert!(body["createdAt"].is_string());
    assert_eq!(body["projectUrl"], format!("{}/projects/{app}", server.url));
    assert!(body["quotation"]["customer"].is_object());
    assert!(!body["files"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn app_endpoint_and_msg_commands_work_against_a_server() {
    let server = Server::start(ServerOpts::dev()).await;
    let run = |args: &'static [&'static str]| {
        let mut cmd = cli(&server);
        cmd.args(args);
        async move {
            let out = cmd.output().await.unwrap();
            assert!(
                out.status.success(),
                "{args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8(out.stdout).unwrap()
        }
    };
    assert!(
        run(&["app", "create", "Shop", "--uid", "shop"])
            .await
            .contains("Shop")
    );
    assert!(run(&["app", "list"]).await.contains("\tshop\tShop"));
    let created = run(&[
        "endpoint",
        "create",
        "--app",
        "shop",
        "--url",
        "http://127.0.0.1:9/hook",
    ])
    .await;
    assert!(created.contains("secret: whsec_"), "{created}");
    assert!(
        run(&["endpoint", "list", "--app", "shop"])
            .await
            .contains("http://127.0.0.1:9/hook")
    );
    let sent = run(&[
        "msg",
        "send",
        "--app",
        "shop",
        "--event-type",
        "order.paid",
        "--data",
        "{\"n\":1}",
    ])
    .await;
    let msg_id = sent.split('\t').next().unwrap().to_string();
    assert!(msg_id.starts_with("msg_"), "{sent}");
    assert!(
        run(&["msg", "list", "--app", "shop"])
            .await
            .contains(&msg_id)
    );
}
