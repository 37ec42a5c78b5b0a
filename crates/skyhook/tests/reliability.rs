//! Reliability and security: crashes, graceful stops, endpoint health, rate limits,
//! hostile receivers, HTTPS rules and tenant isolation, against the real binary.

mod common;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Api, Receiver, Reply, Server, ServerOpts, eventually, settled};
use serde_json::json;
use skyhook_receiver::Webhook;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Sends messages with `clients` concurrent senders until the server stops answering;
/// returns the ids it accepted (answered 202).
async fn send_until_dead(
    api: Api,
    app: String,
    clients: usize,
    accepted: Arc<Mutex<Vec<String>>>,
    cap: usize,
) {
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (api, app, accepted) = (api.clone(), app.clone(), accepted.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                if accepted.lock().unwrap().len() >= cap {
                    return;
                }
                let req = api
                    .raw(reqwest::Method::POST, &format!("/api/v1/app/{app}/msg"))
                    .header("content-type", "application/json")
                    .body(
                        json!({"eventType": "load.test", "payload": {"pad": "x".repeat(200)}})
                            .to_string(),
                    );
                match req.send().await {
                    Ok(resp) if resp.status() == 202 => {
                        if let Ok(v) = resp.json::<serde_json::Value>().await {
                            accepted
                                .lock()
                                .unwrap()
                                .push(v["id"].as_str().unwrap().to_string());
                        }
                    }
                    Ok(_) => {}
                    Err(_) => return, // the server is gone
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_at_random_moments_loses_no_accepted_message() {
    let opts = ServerOpts::dev()
        .env("SKYHOOK_DELIVERY_TIMEOUT", "1s")
        .env("SKYHOOK_RETRY_SCHEDULE", "200ms");
    let rx = Receiver::start().await;
    let mut server = Server::start(opts.clone()).await;
    let api = server.api();
    let app = api.app("crashes").await;
    api.endpoint(&app, json!({"url": rx.url("/hook")})).await;
    let accepted = Arc::new(Mutex::new(Vec::new()));
    let kills = [350u64, 700, 500];
    for (round, delay) in kills.iter().enumerate() {
        let sender = tokio::spawn(send_until_dead(
            server.api(),
            app.clone(),
            8,
            accepted.clone(),
            2_000,
        ));
        // The kill lands mid-ingest and mid-delivery: both are running at this moment.
        tokio::time::sleep(Duration::from_millis(*delay)).await;
        let dir = server.dir.clone();
        server.kill().await;
        sender.await.unwrap();
        eprintln!(
            "round {round}: {} accepted so far",
            accepted.lock().unwrap().len()
        );
        server = Server::start_in(dir, opts.clone()).await;
    }
    send_until_dead(server.api(), app.clone(), 8, accepted.clone(), 2_000).await;
    let accepted: HashSet<String> = accepted.lock().unwrap().iter().cloned().collect();
    assert!(accepted.len() >= 2_000, "{} accepted", accepted.len());
    let got = eventually(
        "every accepted message delivered",
        Duration::from_secs(60),
        || async {
            let got: Vec<String> = rx
                .at("/hook")
                .iter()
                .map(|d| d.header("webhook-id").to_string())
                .collect();
            let seen: HashSet<String> = got.iter().cloned().collect();
            accepted.is_subset(&seen).then_some(got)
        },
    )
    .await;
    let unique: HashSet<&String> = got.iter().collect();
    eprintln!(
        "{} accepted, {} deliveries, {} duplicates after 3 kills",
        accepted.len(),
        got.len(),
        got.len() - unique.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_for_one_endpoint_keeps_to_its_32_requests_at_once() {
    // Each request takes 200 ms, so with at most 32 at once no 190 ms window can see
    // more than 32 arrive; the rest of the burst waits (on the node or in the queue).
    const SERVICE: Duration = Duration::from_millis(200);
    let server = Server::start(ServerOpts::dev()).await;
    let api = server.api();
    let rx = Receiver::start().await;
    rx.set_default(Reply::Slow(SERVICE));
    let app = api.app("burst").await;
    api.endpoint(&app, json!({"url": rx.url("/burst")})).await;
    let mut sends = tokio::task::JoinSet::new();
    for i in 0..150 {
        let (api, app) = (api.clone(), app.clone());
        sends.spawn(async move { api.message(&app, "a.b", json!({"i": i})).await });
    }
    let mut ids = HashSet::new();
    while let Some(id) = sends.join_next().await {
        ids.insert(id.unwrap());
    }
    let got = rx.wait_for("/burst", 150).await;
    let seen: HashSet<&str> = got.iter().map(|d| d.header("webhook-id")).collect();
    assert_eq!(seen.len(), 150, "every message once");
    assert!(ids.iter().all(|id| seen.contains(id.as_str())));
    let mut at: Vec<Instant> = got.iter().map(|d| d.at).collect();
    at.sort();
    let window = SERVICE - Duration::from_millis(10);
    let most = (0..at.len())
        .map(|i| at[i..].iter().take_while(|t| **t - at[i] < window).count())
        .max()
        .unwrap();
    assert!(most <= 32, "{most} requests began within {window:?}");
    // The cap was reached: the test would pass trivially if the sends were slow.
    assert!(
        most >= 16,
        "only {most} requests at once: the burst did not pile up"
    );
    for id in &ids {
        assert_eq!(settled(&api, &app, id).await[0]["status"], 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_under_load_exits_cleanly_and_loses_nothing() {
    let opts = ServerOpts::dev().env("SKYHOOK_DELIVERY_TIMEOUT", "2s");
    let rx = Receiver::start().await;
    rx.set_default(Reply::Slow(Duration::from_millis(30)));
    let server = Server::start(opts.clone()).await;
    let api = server.api();
    let app = api.app("sigterm").await;
    api.endpoint(&app, json!({"url": rx.url("/hook")})).await;
    let mut ids = Vec::new();
    for i in 0..300 {
        ids.push(api.message(&app, "a.b", json!({"i": i})).await);
    }
    let dir = server.dir.clone();
    let stopping = Instant::now();
    assert_eq!(server.stop().await, 0, "exit code after SIGTERM");
    // The bound: in-flight attempts get DELIVERY_TIMEOUT plus a second.
    assert!(
        stopping.elapsed() < Duration::from_secs(5),
        "stopped in {:?}",
        stopping.elapsed()
    );
    let server = Server::start_in(dir, opts).await;
    let api = server.api();
    for id in &ids {
        assert_eq!(settled(&api, &app, id).await[0]["status"], 0);
    }
    let seen: HashSet<String> = rx
        .at("/hook")
        .iter()
        .map(|d| d.header("webhook-id").to_string())
        .collect();
    assert!(ids.iter().all(|id| seen.contains(id)));
}

#[tokio::test]
async fn a_failing_endpoint_is_disabled_and_reported_by_an_operational_webhook() {
    let server = Server::start(
        ServerOpts::dev()
            .env("SKYHOOK_ENDPOINT_DISABLE_AFTER", "1s")
            .env(
                "SKYHOOK_RETRY_SCHEDULE",
                "300ms,300ms,300ms,300ms,300ms,300ms,300ms,300ms",
            ),
    )
    .await;
    let api = server.api();
    let rx = Receiver::start().await;
    api.post_ok(
        "/api/v1/app",
        json!({"name": "Operations", "uid": "skyhook-operational"}),
        201,
    )
    .await;
    let (_, ops_secret) = api
        .endpoint(
            "skyhook-operational",
            json!({"url": rx.url("/ops"), "eventTypes": ["endpoint.disabled"]}),
        )
        .await;
    let app = api
        .post_ok("/api/v1/app", json!({"name": "Shop", "uid": "shop"}), 201)
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (ep, _) = api
        .endpoint(&app, json!({"url": rx.url("/broken"), "uid": "erp"}))
        .await;
    rx.set_default(Reply::Status(500));
    let msg = api.message(&app, "a.b", json!({})).await;

    let ops = rx.wait_for("/ops", 1).await;
    Webhook::new(&ops_secret)
        .unwrap()
        .verify(&ops[0].headers, &ops[0].body)
        .expect("operational webhook is signed");
    let event = ops[0].json();
    assert_eq!(event["type"], "endpoint.disabled");
    assert_eq!(event["data"]["endpointId"], ep.as_str());
    assert_eq!(event["data"]["endpointUid"], "erp");
    assert_eq!(event["data"]["appUid"], "shop");
    assert!(event["createdAt"].is_string() && event["data"]["failSince"].is_string());
    let endpoint = api
        .get_ok(&format!("/api/v1/app/{app}/endpoint/{ep}"))
        .await;
    assert_eq!(endpoint["disabled"], true);
    let failures = rx.at("/broken").len();
    assert!(
        failures >= 3,
        "failed for a whole second first ({failures} attempts)"
    );

    // Re-enabled, it works again and a success keeps it enabled.
    let (status, _) = api
        .patch(
            &format!("/api/v1/app/{app}/endpoint/{ep}"),
            json!({"disabled": false}),
        )
        .await;
    assert_eq!(status, 200);
    rx.set_default(Reply::Status(200));
    let (status, _) = api
        .post(
            &format!("/api/v1/app/{app}/msg/{msg}/endpoint/{ep}/resend"),
            json!({}),
        )
        .await;
    assert_eq!(status, 202);
    eventually("the resend succeeds", Duration::from_secs(10), || async {
        (settled(&api, &app, &msg).await[0]["status"] == 0).then_some(())
    })
    .await;
    assert_eq!(
        api.get_ok(&format!("/api/v1/app/{app}/endpoint/{ep}"))
            .await["disabled"],
        false
    );
    assert_eq!(rx.at("/ops").len(), 1, "one report per disabling");
}

#[tokio::test]
async fn throttle_rate_delays_and_never_drops() {
    let server = Server::start(ServerOpts::dev()).await;
    let api = server.api();
    let rx = Receiver::start().await;
    let app = api.app("throttled").await;
    api.endpoint(&app, json!({"url": rx.url("/slowed"), "throttleRate": 5}))
        .await;
    api.endpoint(&app, json!({"url": rx.url("/free")})).await;
    let started = Instant::now();
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(api.message(&app, "a.b", json!({"i": i})).await);
    }
    let free = rx.wait_for("/free", 20).await;
    let slowed = rx.wait_for("/slowed", 20).await;
    let span = slowed.last().unwrap().at - slowed.first().unwrap().at;
    assert!(
        span >= Duration::from_millis(3_500),
        "20 deliveries at 5/s took {span:?}"
    );
    assert!(
        free.last().unwrap().at - started < span,
        "an unthrottled endpoint is not held back"
    );
    let seen: HashSet<&str> = slowed.iter().map(|d| d.header("webhook-id")).collect();
    assert_eq!(seen.len(), 20, "none dropped, none doubled");
    for id in &ids {
        let attempts = api.attempts(&app, id).await;
        assert_eq!(attempts.len(), 2, "a deferral is not an attempt");
    }
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let server = Server::start(ServerOpts::dev().env("SKYHOOK_RETRY_SCHEDULE", "100ms")).await;
    let api = server.api();
    let rx = Receiver::start().await;
    let app = api.app("retry-after").await;
    api.endpoint(&app, json!({"url": rx.url("/busy")})).await;
    rx.script([Reply::Header(429, "retry-after", "2")]);
    api.message(&app, "a.b", json!({})).await;
    let got = rx.wait_for("/busy", 2).await;
    let gap = got[1].at - got[0].at;
    assert!(
        gap >= Duration::from_millis(1_900),
        "waited {gap:?} despite Retry-After: 2"
    );
}

/// A raw TCP server that misbehaves in one of several ways.
async fn hostile_server(kind: &'static str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                let _ = sock.read(&mut buf).await;
                match kind {
                    "slowloris" => {
                        let _ = sock
                            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n")
                            .await;
                        for _ in 0..1000 {
                            if sock.write_all(b"x").await.is_err() {
                                return;
                            }
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    }
                    "huge" => {
                        let _ = sock
                            .write_all(b"HTTP/1.1 500 Oops\r\ncontent-length: 104857600\r\n\r\n")
                            .await;
                        let chunk = vec![b'y'; 1 << 20];
                        for _ in 0..100 {
                            if sock.write_all(&chunk).await.is_err() {
                                return;
                            }
                        }
                    }
                    _ => {
                        let _ = sock.write_all(b"HTTP/1.1 200 OK\r\n").await;
                        for i in 0..1_000_000u32 {
                            if sock
                                .write_all(format!("x-h{i}: {}\r\n", "v".repeat(100)).as_bytes())
                                .await
                                .is_err()
                            {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
    format!("http://{addr}/hook")
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn hostile_receivers_cannot_stall_others_or_exhaust_memory() {
    let server = Server::start(
        ServerOpts::dev()
            .env("SKYHOOK_RETRY_SCHEDULE", "")
            .env("SKYHOOK_DELIVERY_TIMEOUT", "3s"),
    )
    .await;
    let api = server.api();
    let rx = Receiver::start().await;
    let app = api.app("hostile").await;
    for kind in ["slowloris", "huge", "headers"] {
        api.endpoint(
            &app,
            json!({"url": hostile_server(kind).await, "description": kind}),
        )
        .await;
    }
    api.endpoint(&app, json!({"url": rx.url("/good")})).await;
    let started = Instant::now();
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(api.message(&app, "a.b", json!({"i": i})).await);
    }
    rx.wait_for("/good", 20).await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the good endpoint was served while hostile ones held connections ({:?})",
        started.elapsed()
    );
    for id in &ids {
        let dest = settled(&api, &app, id).await;
        assert_eq!(
            dest.iter().filter(|d| d["status"] == 2).count(),
            3,
            "all three hostile endpoints fail"
        );
    }
    for a in api.attempts(&app, &ids[0]).await {
        assert!(
            a["response"].as_str().unwrap().len() <= 64 * 1024,
            "at most 64 KiB of an answer is kept"
        );
    }
    let peak_mib = rss_kib(server.pid()) / 1024;
    assert!(
        peak_mib < 300,
        "peak RSS {peak_mib} MiB after 100 MB answers"
    );
}

#[tokio::test]
async fn https_only_refuses_plain_http_endpoints() {
    let server = Server::start(ServerOpts::dev().env("SKYHOOK_HTTPS_ONLY", "true")).await;
    let api = server.api();
    let app = api.app("tls").await;
    let (status, err) = api
        .post(
            &format!("/api/v1/app/{app}/endpoint"),
            json!({"url": "http://example.com/hook"}),
        )
        .await;
    assert_eq!(status, 422, "{err}");
    assert!(err["detail"][0]["msg"].as_str().unwrap().contains("https"));
    api.post_ok(
        &format!("/api/v1/app/{app}/endpoint"),
        json!({"url": "https://example.com/hook"}),
        201,
    )
    .await;
}

/// A TLS receiver on 127.0.0.1 whose certificate (for `localhost`) is signed by a fresh
/// test CA, offering HTTP/2 and HTTP/1.1 by ALPN; it answers with the HTTP version the
/// request came in. Returns its URL and the CA's PEM.
async fn tls_receiver() -> (String, String) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_pem = ca_params.self_signed(&ca_key).unwrap().pem();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &Issuer::new(ca_params, ca_key))
        .unwrap();
    let config = axum_server::tls_rustls::RustlsConfig::from_pem(
        leaf.pem().into_bytes(),
        leaf_key.serialize_pem().into_bytes(),
    )
    .await
    .unwrap();
    let handle: axum_server::Handle<std::net::SocketAddr> = axum_server::Handle::new();
    let app = axum::Router::new()
        .fallback(|req: axum::extract::Request| async move { format!("{:?}", req.version()) });
    let server =
        axum_server::bind_rustls("127.0.0.1:0".parse().unwrap(), config).handle(handle.clone());
    tokio::spawn(async move { server.serve(app.into_make_service()).await.unwrap() });
    let addr = handle.listening().await.unwrap();
    (format!("https://localhost:{}/hook", addr.port()), ca_pem)
}

#[tokio::test]
async fn https_deliveries_trust_an_extra_ca_only_when_configured() {
    let (url, ca_pem) = tls_receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let ca_path = dir.path().join("ca.pem");
    std::fs::write(&ca_path, ca_pem).unwrap();

    let trusting =
        Server::start(ServerOpts::dev().env("SKYHOOK_EXTRA_CA_CERTS", ca_path.to_str().unwrap()))
            .await;
    let api = trusting.api();
    let app = api.app("tls").await;
    api.endpoint(&app, json!({"url": url})).await;
    let msg = api.message(&app, "a.b", json!({})).await;
    let dest = settled(&api, &app, &msg).await;
    let attempts = api.attempts(&app, &msg).await;
    assert_eq!(dest[0]["status"], 0, "{attempts:?}");
    // HTTP/2 when the receiver offers it: the client negotiates it by ALPN.
    assert_eq!(attempts[0]["response"], "HTTP/2.0", "{attempts:?}");

    let plain = Server::start(ServerOpts::dev().env("SKYHOOK_RETRY_SCHEDULE", "")).await;
    let api = plain.api();
    let app = api.app("tls").await;
    api.endpoint(&app, json!({"url": url})).await;
    let msg = api.message(&app, "a.b", json!({})).await;
    assert_eq!(settled(&api, &app, &msg).await[0]["status"], 2);
    let attempt = &api.attempts(&app, &msg).await[0];
    assert_eq!(attempt["responseStatusCode"], 0);
    let reason = attempt["response"].as_str().unwrap().to_lowercase();
    assert!(reason.contains("certificate"), "{reason}");
}

#[tokio::test]
async fn an_application_token_reaches_nothing_of_another_application_on_any_route() {
    let server = Server::start(ServerOpts::dev()).await;
    let api = server.api();
    let rx = Receiver::start().await;
    let a = api.app("tenant a").await;
    let b = api.app("tenant b").await;
    let (ep, secret) = api.endpoint(&b, json!({"url": rx.url("/b")})).await;
    let msg = api.message(&b, "a.b", json!({"secret": "of b"})).await;
    settled(&api, &b, &msg).await;
    let attempt = api.attempts(&b, &msg).await[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let qsecret = api
        .get_ok(&format!("/api/v1/app/{b}/quotation-secret"))
        .await["key"]
        .as_str()
        .unwrap()
        .to_string();
    let quotation = common::Api::read(
        reqwest::Client::new()
            .post(format!("{}/projects/{b}/quotations", server.url))
            .bearer_auth(&qsecret)
            .json(&json!({"customer": {"name": "B"}, "files": [{"name": "f.txt", "contentType": "text/plain", "contentBase64": "aGk="}]})),
    )
    .await
    .1;
    let quo = quotation["id"].as_str().unwrap().to_string();
    let file = quotation["files"][0]["id"].as_str().unwrap().to_string();

    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_skyhook"))
        .args([
            "token",
            "create",
            "--app",
            &a,
            "--database-url",
            &format!("sqlite://{}", server.db_path().display()),
        ])
        .output()
        .await
        .unwrap();
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let other = api.with_token(&token);

    use reqwest::Method as M;
    let base = format!("/api/v1/app/{b}");
    let e = format!("{base}/endpoint/{ep}");
    let body = json!({"url": "https://example.com/x", "name": "x", "headers": {"x": "y"}, "enabled": true, "since": "2000-01-01T00:00:00Z", "eventType": "a.b", "payload": {}});
    let routes: Vec<(M, String)> = vec![
        (M::GET, base.clone()),
        (M::PUT, base.clone()),
        (M::PATCH, base.clone()),
        (M::DELETE, base.clone()),
        (M::GET, format!("{base}/endpoint")),
        (M::POST, format!("{base}/endpoint")),
        (M::GET, e.clone()),
        (M::PUT, e.clone()),
        (M::PATCH, e.clone()),
        (M::DELETE, e.clone()),
        (M::GET, format!("{e}/secret")),
        (M::POST, format!("{e}/secret/rotate")),
        (M::GET, format!("{e}/headers")),
        (M::PUT, format!("{e}/headers")),
        (M::PATCH, format!("{e}/headers")),
        (M::POST, format!("{e}/recover")),
        (M::GET, format!("{e}/stats")),
        (M::GET, format!("{e}/msg")),
        (M::GET, format!("{base}/msg")),
        (M::POST, format!("{base}/msg")),
        (M::GET, format!("{base}/msg/{msg}")),
        (M::GET, format!("{base}/msg/{msg}/endpoint")),
        (M::GET, format!("{base}/msg/{msg}/attempt/{attempt}")),
        (M::POST, format!("{base}/msg/{msg}/endpoint/{ep}/resend")),
        (M::GET, format!("{base}/attempt/msg/{msg}")),
        (M::GET, format!("{base}/attempt/endpoint/{ep}")),
        (M::GET, format!("{base}/plugins/webhooks")),
        (M::PUT, format!("{base}/plugins/webhooks")),
        (M::GET, format!("{base}/quotation-secret")),
        (M::POST, format!("{base}/quotation-secret/rotate")),
    ];
    for (method, path) in routes {
        let (status, resp) = other.send(method.clone(), &path, Some(body.clone())).await;
        assert_eq!(status, 404, "{method} {path}: {resp}");
        assert!(
            !resp.to_string().contains("of b") && !resp.to_string().contains(&secret),
            "{method} {path} leaked: {resp}"
        );
    }
    let project = format!("/projects/{b}");
    for (method, path) in [
        (M::GET, format!("{project}/quotations")),
        (M::POST, format!("{project}/quotations")),
        (M::GET, format!("{project}/quotations/{quo}")),
        (M::GET, format!("{project}/quotation/files/{file}")),
    ] {
        let (status, resp) = other.send(method.clone(), &path, Some(body.clone())).await;
        assert_eq!(status, 401, "{method} {path}: {resp}");
    }
    // Nothing of B changed.
    assert_eq!(
        api.get_ok(&format!("{e}/secret")).await["key"],
        secret.as_str()
    );
    assert_eq!(
        api.get_ok(&format!("{base}/quotation-secret")).await["key"],
        qsecret.as_str()
    );
    assert_eq!(
        api.get_ok(&format!("{base}/msg")).await["data"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn secrets_are_sealed_at_rest_and_still_sign_after_a_restart() {
    let server = Server::start(ServerOpts::dev()).await;
    let api = server.api();
    let rx = Receiver::start().await;
    let app = api.app("sealed").await;
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    api.endpoint(&app, json!({"url": rx.url("/hook"), "secret": secret}))
        .await;
    let qsecret = api
        .get_ok(&format!("/api/v1/app/{app}/quotation-secret"))
        .await["key"]
        .as_str()
        .unwrap()
        .to_string();
    let dir = server.dir.clone();
    assert_eq!(server.stop().await, 0);

    // The database files (with the WAL) hold neither secret; the key lives beside them.
    let mut stored = Vec::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("skyhook.db")
        {
            stored.extend(std::fs::read(&path).unwrap());
        }
    }
    let stored = String::from_utf8_lossy(&stored);
    assert!(
        !stored.contains("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
        "endpoint secret in the clear"
    );
    assert!(!stored.contains(&qsecret), "quotation secret in the clear");
    assert!(stored.contains("sealed:v1:"));
    assert!(dir.path().join("main.key").exists());

    let server = Server::start_in(dir, ServerOpts::dev()).await;
    let api = server.api();
    assert_eq!(
        api.get_ok(&format!("/api/v1/app/{app}/quotation-secret"))
            .await["key"],
        qsecret.as_str()
    );
    api.message(&app, "a.b", json!({})).await;
    let d = &rx.wait_for("/hook", 1).await[0];
    Webhook::new(secret)
        .unwrap()
        .verify(&d.headers, &d.body)
        .expect("signed with the sealed secret after a restart");
}

#[tokio::test]
async fn a_slow_endpoint_holds_only_its_own_share_of_delivery_slots() {
    let server = Server::start(ServerOpts::dev()).await;
    let api = server.api();
    let slow = Receiver::start().await;
    slow.set_default(Reply::Slow(Duration::from_secs(2)));
    let fast = Receiver::start().await;
    let app = api.app("isolation").await;
    api.endpoint(&app, json!({"url": slow.url("/slow")})).await;
    api.endpoint(&app, json!({"url": fast.url("/fast")})).await;
    for i in 0..600 {
        api.message(&app, "a.b", json!({"i": i})).await;
    }
    fast.wait_for("/fast", 600).await;
    // 600 slow deliveries at 2 s each would need over 4 s even with every slot; the fast
    // endpoint was served while at most one endpoint cap of them was in flight.
    let slow_done = slow.at("/slow").len();
    assert!(
        slow_done < 300,
        "fast endpoint waited behind the slow one ({slow_done} slow done first)"
    );
}

#[tokio::test]
async fn oversized_or_deep_input_is_refused_with_a_clear_error() {
    let server = Server::start(ServerOpts::dev()).await;
    let api = server.api();
    let app = api.app("limits").await;
    let cases = [
        (
            format!("/api/v1/app/{app}/endpoint"),
            json!({"url": "https://example.com", "description": "d".repeat(5000)}),
            "description",
        ),
        (
            format!("/api/v1/app/{app}/endpoint"),
            json!({"url": "https://example.com", "metadata": (0..100).map(|i| (format!("k{i}"), json!("v"))).collect::<serde_json::Map<_, _>>()}),
            "metadata",
        ),
        (
            "/api/v1/app".to_string(),
            json!({"name": "n".repeat(5000)}),
            "name",
        ),
        (
            "/api/v1/app".to_string(),
            json!({"name": "x", "uid": "u".repeat(300)}),
            "uid",
        ),
        (
            format!("/api/v1/app/{app}/msg"),
            json!({"eventType": "a.b", "payload": {}, "tags": (0..40).map(|i| format!("t{i}")).collect::<Vec<_>>()}),
            "tags",
        ),
    ];
    for (path, body, field) in cases {
        let (status, err) = api.post(&path, body).await;
        assert_eq!(status, 422, "{path} {field}: {err}");
        assert_eq!(err["detail"][0]["loc"][1], field, "{err}");
    }
    // 10,000 nested arrays: refused as malformed, and the server lives on.
    let deep = format!(
        r#"{{"eventType":"a.b","payload":{{"x":{}{}}}}}"#,
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let (status, err) = Api::read(
        api.raw(reqwest::Method::POST, &format!("/api/v1/app/{app}/msg"))
            .header("content-type", "application/json")
            .body(deep),
    )
    .await;
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["code"], "invalid_json");
    // Hundreds of request headers are refused before any handler runs.
    let mut req = api.raw(reqwest::Method::GET, "/api/v1/app");
    for i in 0..500 {
        req = req.header(format!("x-h{i}"), "v");
    }
    let status = req.send().await.map(|r| r.status().as_u16()).unwrap_or(431);
    assert!(status == 431 || status == 400, "{status}");
    assert_eq!(api.get("/api/v1/health").await.0, 204);
    assert_eq!(
        api.get_ok(&format!("/api/v1/app/{app}/endpoint")).await["data"],
        json!([])
    );
}

#[tokio::test]
async fn settings_come_from_skyhook_toml_then_variables_then_flags() {
    let home = Arc::new(common::Home::new(common::Backend::Sqlite).await);
    std::fs::write(
        home.path().join("skyhook.toml"),
        "max_payload_bytes = 100\nhttps_only = true\n",
    )
    .unwrap();
    let payload = json!({"pad": "x".repeat(200)});

    // The file alone: both settings apply.
    let server = Server::start_in(home.clone(), ServerOpts::dev()).await;
    let api = server.api();
    let app = api.app("settings").await;
    let (status, _) = api
        .post(
            &format!("/api/v1/app/{app}/msg"),
            json!({"eventType": "a.b", "payload": payload}),
        )
        .await;
    assert_eq!(status, 413, "max_payload_bytes from skyhook.toml");
    let (status, _) = api
        .post(
            &format!("/api/v1/app/{app}/endpoint"),
            json!({"url": "http://example.com"}),
        )
        .await;
    assert_eq!(status, 422, "https_only from skyhook.toml");
    assert_eq!(server.stop().await, 0);

    // A variable beats the file.
    let server = Server::start_in(
        home.clone(),
        ServerOpts::dev().env("SKYHOOK_MAX_PAYLOAD_BYTES", "100000"),
    )
    .await;
    let (status, _) = server
        .api()
        .post(
            &format!("/api/v1/app/{app}/msg"),
            json!({"eventType": "a.b", "payload": payload}),
        )
        .await;
    assert_eq!(status, 202, "SKYHOOK_MAX_PAYLOAD_BYTES over skyhook.toml");
    assert_eq!(server.stop().await, 0);

    // A flag beats the variable (the harness passes --admin-token; a wrong variable loses).
    let server = Server::start_in(
        home,
        ServerOpts::dev().env("SKYHOOK_ADMIN_TOKEN", "not-the-flag"),
    )
    .await;
    assert_eq!(
        server.api().get("/api/v1/app").await.0,
        200,
        "--admin-token over SKYHOOK_ADMIN_TOKEN"
    );
}
