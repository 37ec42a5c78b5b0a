//! The core engine end to end: the real binary, a fresh database, a real receiver; every
//! test runs on SQLite (`sqlite::…`) and on PostgreSQL (`postgres::…`).

mod common;

use std::time::Duration;

use common::{Api, Backend, Receiver, Reply, Server, ServerOpts, eventually, settled};
use reqwest::Method;
use serde_json::{Value, json};
use skyhook_receiver::Webhook;

fn headers_of(d: &common::Delivery) -> axum::http::HeaderMap {
    d.headers.clone()
}

async fn a_message_arrives_signed_byte_for_byte_and_the_attempt_is_recorded(backend: Backend) {
    let server = Server::start(ServerOpts::dev().on(backend)).await;
    let api = server.api();
    let rx = Receiver::start().await;
    let app = api.app("shop").await;
    let (ep, secret) = api.endpoint(&app, json!({"url": rx.url("/hook")})).await;
    // Odd spacing, key order and escapes must survive: the body is the payload as sent.
    let raw = r#"{"eventType":"order.paid","payload":{ "z" : 1, "a":[1, 2.50 ,"\u00e9ü"], "nested": {"k": null} }}"#;
    let (status, msg) = Api::read(
        api.raw(Method::POST, &format!("/api/v1/app/{app}/msg"))
            .header("content-type", "application/json")
            .body(raw),
    )
    .await;
    assert_eq!(status, 202, "{msg}");
    let msg_id = msg["id"].as_str().unwrap();
    assert!(msg_id.starts_with("msg_") && msg_id.len() == 31);

    let got = rx.wait_for("/hook", 1).await;
    let d = &got[0];
    assert_eq!(
        &d.body[..],
        r#"{ "z" : 1, "a":[1, 2.50 ,"\u00e9ü"], "nested": {"k": null} }"#.as_bytes()
    );
    assert_eq!(d.header("content-type"), "application/json");
    assert!(d.header("user-agent").starts_with("Skyhook/"));
    assert_eq!(d.header("webhook-id"), msg_id);
    assert_eq!(d.header("svix-id"), msg_id);
    assert_eq!(d.header("svix-signature"), d.header("webhook-signature"));
    assert_eq!(d.header("svix-timestamp"), d.header("webhook-timestamp"));
    assert!(d.header("webhook-signature").starts_with("v1,"));
    Webhook::new(&secret)
        .unwrap()
        .verify(&headers_of(d), &d.body)
        .expect("signature verifies");

    let dest = settled(&api, &app, msg_id).await;
    assert_eq!(dest[0]["id"], ep.as_str());
    assert_eq!(dest[0]["status"], 0);
    assert_eq!(dest[0]["statusText"], "success");
    let attempts = api.attempts(&app, msg_id).await;
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0]["responseStatusCode"], 200);
    assert_eq!(attempts[0]["status"], 0);
    assert_eq!(attempts[0]["endpointId"], ep.as_str());
    assert_eq!(attempts[0]["triggerType"], 0);
    let one = api
        .get_ok(&format!(
            "/api/v1/app/{app}/msg/{msg_id}/attempt/{}",
            attempts[0]["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(one["id"], attempts[0]["id"]);
    let by_ep = api
        .get_ok(&format!("/api/v1/app/{app}/attempt/endpoint/{ep}"))
        .await;
    assert_eq!(by_ep["data"][0]["msgId"], msg_id);
    let ep_msgs = api
        .get_ok(&format!("/api/v1/app/{app}/endpoint/{ep}/msg"))
        .await;
    assert_eq!(ep_msgs["data"][0]["id"], msg_id);
    assert_eq!(ep_msgs["data"][0]["statusText"], "success");
    let stats = api
        .get_ok(&format!("/api/v1/app/{app}/endpoint/{ep}/stats"))
        .await;
    assert_eq!(
        stats,
        json!({"success": 1, "pending": 0, "sending": 0, "fail": 0, "canceled": 0})
    );
    let fetched = api.get_ok(&format!("/api/v1/app/{app}/msg/{msg_id}")).await;
    assert_eq!(fetched["payload"]["a"][1], 2.5);
}

async fn endpoints_get_only_the_event_types_and_channels_they_subscribe_to(backend: Backend) {
    let server = Server::start(ServerOpts::dev().on(backend)).await;
    let api = server.api();
    let rx = Receiver::start().await;
    api.post_ok(
        "/api/v1/event-type",
        json!({"name": "user.created", "description": "d"}),
        201,
    )
    .await;
    api.post_ok(
        "/api/v1/event-type",
        json!({"name": "user.deleted", "description": "d"}),
        201,
    )
    .await;
    let app = api.app("filters").await;
    let (all, _) = api.endpoint(&app, json!({"url": rx.url("/all")})).await;
    let (created, _) = api
        .endpoint(
            &app,
            json!({"url": rx.url("/created"), "eventTypes": ["user.created"]}),
        )
        .await;
    let (eu, _) = api
        .endpoint(&app, json!({"url": rx.url("/eu"), "channels": ["eu"]}))
        .await;
    let (off, _) = api
        .endpoint(&app, json!({"url": rx.url("/off"), "disabled": true}))
        .await;

    let send = |event_type: &str, channels: Value| {
        let api = api.clone();
        let app = app.clone();
        let body = json!({"eventType": event_type, "payload": {}, "channels": channels});
        async move {
            api.post_ok(&format!("/api/v1/app/{app}/msg"), body, 202)
                .await["id"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };
    let m1 = send("user.created", json!([])).await;
    let m2 = send("user.deleted", json!(["eu"])).await;
    let m3 = send("user.deleted", json!(["us"])).await;

    let targets = |d: Vec<Value>| {
        let mut ids: Vec<String> = d
            .iter()
            .map(|x| x["id"].as_str().unwrap().to_string())
            .collect();
        ids.sort();
        ids
    };
    let sorted = |mut v: Vec<&String>| {
        v.sort();
        v.into_iter().cloned().collect::<Vec<_>>()
    };
    assert_eq!(
        targets(settled(&api, &app, &m1).await),
        sorted(vec![&all, &created])
    );
    assert_eq!(
        targets(settled(&api, &app, &m2).await),
        sorted(vec![&all, &eu])
    );
    assert_eq!(targets(settled(&api, &app, &m3).await), sorted(vec![&all]));
    assert_eq!(rx.at("/all").len(), 3);
    assert_eq!(rx.at("/created").len(), 1);
    assert_eq!(rx.at("/eu").len(), 1);
    assert_eq!(rx.at("/eu")[0].header("webhook-id"), m2);
    assert!(rx.at("/off").is_empty(), "a disabled endpoint gets nothing");
    let stats = api
        .get_ok(&format!("/api/v1/app/{app}/endpoint/{off}/stats"))
        .await;
    assert_eq!(stats["success"], 0);

    // An endpoint may only subscribe to event types that exist.
    let (status, err) = api
        .post(
            &format!("/api/v1/app/{app}/endpoint"),
            json!({"url": rx.url("/x"), "eventTypes": ["nope.never"]}),
        )
        .await;
    assert_eq!(status, 422, "{err}");
    assert_eq!(err["detail"][0]["loc"], json!(["body", "eventTypes"]));
}

async fn failures_are_retried_on_schedule_then_succeed(backend: Backend) {
    let server = Server::start(
        ServerOpts::dev()
            .on(backend)
            .env("SKYHOOK_RETRY_SCHEDULE", "300ms,600ms"),
    )
    .await;
    let api = server.api();
    let rx = Receiver::start().await;
    rx.script([
        Reply::Status(500),
        Reply::Body(503, "busy, come back".into()),
        Reply::Status(200),
    ]);
    let app = api.app("retry").await;
    api.endpoint(&app, json!({"url": rx.url("/hook")})).await;
    let msg = api.message(&app, "a.b", json!({"n": 1})).await;

    let got = rx.wait_for("/hook", 3).await;
    let gap1 = got[1].at - got[0].at;
    let gap2 = got[2].at - got[1].at;
    // ±10% jitter around 300 ms and 600 ms.
    assert!(
        gap1 >= Duration::from_millis(270) && gap1 < Duration::from_millis(600),
        "{gap1:?}"
    );
    assert!(
        gap2 >= Duration::from_millis(540) && gap2 < Duration::from_millis(1100),
        "{gap2:?}"
    );
    assert!(
        got.iter().all(|d| d.header("webhook-id") == msg),
        "retries keep the message id"
    );

    let dest = settled(&api, &app, &msg).await;
    assert_eq!(dest[0]["status"], 0);
    let attempts = api.attempts(&app, &msg).await;
    let codes: Vec<i64> = attempts
        .iter()
        .map(|a| a["responseStatusCode"].as_i64().unwrap())
        .collect();
    assert_eq!(codes, vec![500, 503, 200]);
    assert_eq!(attempts[1]["response"], "busy, come back");
    assert_eq!(attempts[1]["status"], 2);
}

async fn an_endpoint_that_keeps_failing_is_marked_failed_and_can_be_resent(backend: Backend) {
    let server = Server::start(
        ServerOpts::dev()
            .on(backend)
            .env("SKYHOOK_RETRY_SCHEDULE", "100ms,100ms"),
    )
    .await;
    let api = server.api();
    let rx = Receiver::start().await;
    rx.set_default(Reply::Status(500));
    let app = api.app("failing").await;
    let (ep, _) = api.endpoint(&app, json!({"url": rx.url("/hook")})).await;
    let msg = api.message(&app, "a.b", json!({})).await;

    let dest = settled(&api, &app, &msg).await;
    assert_eq!(dest[0]["status"], 2, "fail after the schedule");
    assert_eq!(dest[0]["statusText"], "fail");
    assert!(dest[0]["nextAttempt"].is_null());
    assert_eq!(
        api.attempts(&app, &msg).await.len(),
        3,
        "1 + len(schedule) attempts"
    );
    assert_eq!(rx.at("/hook").len(), 3);

    // Resend makes exactly one new, manual attempt.
    rx.set_default(Reply::Status(204));
    let (status, _) = api
        .post(
            &format!("/api/v1/app/{app}/msg/{msg}/endpoint/{ep}/resend"),
            json!({}),
        )
        .await;
    assert_eq!(status, 202);
    let attempts = eventually("the resend attempt", Duration::from_secs(10), || async {
        let a = api.attempts(&app, &msg).await;
        (a.len() == 4).then_some(a)
    })
    .await;
    assert_eq!(attempts[3]["triggerType"], 1);
    assert_eq!(attempts[3]["responseStatusCode"], 204);
    assert_eq!(settled(&api, &app, &msg).await[0]["status"], 0);
    assert_eq!(
        rx.at("/hook").len(),
        4,
        "nothing is tried after the schedule ends but the resend"
    );
}

async fn recover_resends_the_failed_messages_of_a_window(backend: Backend) {
    let server = Server::start(
        ServerOpts::dev()
            .on(backend)
            .env("SKYHOOK_RETRY_SCHEDULE", ""),
    )
    .await;
    let api = server.api();
    let rx = Receiver::start().await;
    rx.set_default(Reply::Status(500));
    let app = api.app("recover").await;
    let (ep, _) = api.endpoint(&app, json!({"url": rx.url("/hook")})).await;
    let a = api.message(&app, "a.b", json!({"n": 1})).await;
    let b = api.message(&app, "a.b", json!({"n": 2})).await;
    settled(&api, &app, &a).await;
    settled(&api, &app, &b).await;
    rx.set_default(Reply::Status(200));
    let out = api
        .post_ok(
            &format!("/api/v1/app/{app}/endpoint/{ep}/recover"),
            json!({"since": "2000-01-01T00:00:00Z"}),
            202,
        )
        .await;
    assert!(out["id"].as_str().unwrap().starts_with("qtask_"));
    rx.wait_for("/hook", 4).await;
    assert_eq!(settled(&api, &app, &a).await[0]["status"], 0);
    assert_eq!(settled(&api, &app, &b).await[0]["status"], 0);
}

async fn timeouts_refused_connections_and_redirects_are_failures_with_a_reason(backend: Backend) {
    let server = Server::start(
        ServerOpts::dev()
            .on(backend)
            .env("SKYHOOK_RETRY_SCHEDULE", "")
            .env("SKYHOOK_DELIVERY_TIMEOUT", "500ms"),
    )
    .await;
    let api = server.api();
    let rx = Receiver::start().await;
    let app = api.app("reasons").await;
    // A port nobody listens on: bind, learn it, close it.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    api.endpoint(&app, json!({"url": rx.url("/slow")})).await;
    api.endpoint(
        &app,
        json!({"url": format!("http://127.0.0.1:{closed}/hook")}),
    )
    .await;
    rx.set_default(Reply::Slow(Duration::from_secs(3)));
    let msg = api.message(&app, "a.b", json!({})).await;
    let dest = settled(&api, &app, &msg).await;
    assert!(dest.iter().all(|d| d["status"] == 2), "{dest:?}");
    let attempts = api.attempts(&app, &msg).await;
    assert_eq!(attempts.len(), 2);
    let reason = |needle: &str| {
        attempts
            .iter()
            .find(|a| a["url"].as_str().unwrap().contains(needle))
            .unwrap()
            .clone()
    };
    let refused = reason(&closed.to_string());
    assert_eq!(refused["responseStatusCode"], 0);
    assert!(
        refused["response"]
            .as_str()
            .unwrap()
            .contains("connection failed"),
        "{refused}"
    );
    let slow = reason("/slow");
    assert_eq!(slow["responseStatusCode"], 0);
    assert!(
        slow["response"]
            .as_str()
            .unwrap()
            .contains("timeout after 500 ms"),
        "{slow}"
    );
    assert!(slow["responseDurationMs"].as_i64().unwrap() < 2000);
}

async fn redirects_are_not_followed(backend: Backend) {
    let server = Server::start(
        ServerOpts::dev()
            .on(backend)
            .env("SKYHOOK_RETRY_SCHEDULE", ""),
    )
    .await;
    let api = server.api();
    let rx = Receiver::start().await;
    rx.set_default(Reply::Redirect);
    let app = api.app("redirect").await;
    api.endpoint(&app, json!({"url": rx.url("/moved")})).await;
    let msg = api.message(&app, "a.b", json!({})).await;
    assert_eq!(settled(&api, &app, &msg).await[0]["status"], 2);
    let attempts = api.attempts(&app, &msg).await;
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0]["responseStatusCode"], 302);
}

async fn private_destinations_are_refused_without_dev_or_an_allow_list(backend: Backend) {
    let rx = Receiver::start().await;
    let strict = Server::start(
        ServerOpts::default()
            .on(backend)
            .env("SKYHOOK_RETRY_SCHEDULE", ""),
    )
    .await;
    let api = strict.api();
    let app = api.app("ssrf").await;
    api.endpoint(&app, json!({"url": rx.url("/literal")})).await;
    let port = rx.base.rsplit(':').next().unwrap();
    api.endpoint(
        &app,
        json!({"url": format!("http://localhost:{port}/name")}),
    )
    .await;
    let msg = api.message(&app, "a.b", json!({})).await;
    let dest = settled(&api, &app, &msg).await;
    assert!(dest.iter().all(|d| d["status"] == 2));
    for a in api.attempts(&app, &msg).await {
        assert_eq!(a["responseStatusCode"], 0);
        assert!(
            a["response"]
                .as_str()
                .unwrap()
                .contains("blocked destination"),
            "{a}"
        );
    }
    assert!(
        rx.deliveries().is_empty(),
        "nothing reached the private address"
    );

    let listed = Server::start(
        ServerOpts::default()
            .on(backend)
            .env("SKYHOOK_ALLOWED_PRIVATE_DESTINATIONS", "127.0.0.0/8"),
    )
    .await;
    let api = listed.api();
    let app = api.app("allowed").await;
    api.endpoint(&app, json!({"url": rx.url("/allowed")})).await;
    api.message(&app, "a.b", json!({})).await;
    rx.wait_for("/allowed", 1).await;
}

async fn custom_headers_and_rotated_secrets_are_sent(backend: Backend) {
    let server = Server::start(ServerOpts::dev().on(backend)).await;
    let api = server.api();
    let rx = Receiver::start().await;
    let app = api.app("headers").await;
    let (ep, old) = api
        .endpoint(
            &app,
            json!({"url": rx.url("/hook"), "headers": {"X-Tenant": "acme"}}),
        )
        .await;
    let base = format!("/api/v1/app/{app}/endpoint/{ep}");
    let (status, _) = api
        .patch(
            &format!("{base}/headers"),
            json!({"headers": {"X-Extra": "1"}}),
        )
        .await;
    assert_eq!(status, 204);
    let h = api.get_ok(&format!("{base}/headers")).await;
    assert_eq!(h["headers"], json!({"X-Extra": "1", "X-Tenant": "acme"}));
    let (status, err) = api
        .put(
            &format!("{base}/headers"),
            json!({"headers": {"webhook-id": "forged"}}),
        )
        .await;
    assert_eq!(status, 422, "{err}");

    let rotated = api
        .post_ok(&format!("{base}/secret/rotate"), json!({}), 200)
        .await;
    let new = rotated["key"].as_str().unwrap().to_string();
    assert_ne!(new, old);
    assert_eq!(
        api.get_ok(&format!("{base}/secret")).await["key"],
        new.as_str()
    );

    api.message(&app, "a.b", json!({"x": 1})).await;
    let d = &rx.wait_for("/hook", 1).await[0];
    assert_eq!(d.header("x-tenant"), "acme");
    assert_eq!(d.header("x-extra"), "1");
    assert_eq!(
        d.header("webhook-signature").split(' ').count(),
        2,
        "old and new secret both sign during the grace period"
    );
    Webhook::new(&new)
        .unwrap()
        .verify(&d.headers, &d.body)
        .expect("new secret verifies");
    Webhook::new(&old)
        .unwrap()
        .verify(&d.headers, &d.body)
        .expect("old secret still verifies");

    // With no grace period the replaced secret stops signing at once (the first one
    // keeps its own 24-hour grace).
    let newest = api
        .post_ok(
            &format!("{base}/secret/rotate"),
            json!({"gracePeriodSeconds": 0}),
            200,
        )
        .await;
    api.message(&app, "a.b", json!({"x": 2})).await;
    let d = &rx.wait_for("/hook", 2).await[1];
    assert_eq!(d.header("webhook-signature").split(' ').count(), 2);
    Webhook::new(newest["key"].as_str().unwrap())
        .unwrap()
        .verify(&d.headers, &d.body)
        .expect("newest verifies");
    Webhook::new(&old)
        .unwrap()
        .verify(&d.headers, &d.body)
        .expect("first secret still in its grace");
    assert!(
        Webhook::new(&new)
            .unwrap()
            .verify(&d.headers, &d.body)
            .is_err(),
        "replaced without grace"
    );
}

async fn pending_work_survives_a_restart(backend: Backend) {
    let opts = ServerOpts::dev()
        .on(backend)
        .env("SKYHOOK_NODE_ROLES", "api");
    let server = Server::start(opts).await;
    let api = server.api();
    let rx = Receiver::start().await;
    let app = api.app("restart").await;
    api.endpoint(&app, json!({"url": rx.url("/hook")})).await;
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(api.message(&app, "a.b", json!({"i": i})).await);
    }
    assert!(
        rx.deliveries().is_empty(),
        "an api-only node delivers nothing"
    );
    let server = server.restart(ServerOpts::dev().on(backend)).await;
    ids.sort();
    // Until as many distinct ids as messages have arrived. A repeat is allowed
    // (at-least-once: an attempt whose answer is lost is retried), so waiting for 20
    // requests could stop at a repeat before the last message arrived.
    let seen = eventually(
        "every message after the restart",
        Duration::from_secs(20),
        || async {
            let mut seen: Vec<String> = rx
                .at("/hook")
                .iter()
                .map(|d| d.header("webhook-id").to_string())
                .collect();
            seen.sort();
            seen.dedup();
            (seen.len() >= ids.len()).then_some(seen)
        },
    )
    .await;
    assert_eq!(
        seen, ids,
        "every accepted message arrives after the restart"
    );
    assert_eq!(server.stop().await, 0);
}

async fn in_flight_deliveries_finish_before_a_graceful_stop(backend: Backend) {
    let server = Server::start(ServerOpts::dev().on(backend)).await;
    let api = server.api();
    let rx = Receiver::start().await;
    rx.script([Reply::Slow(Duration::from_millis(1500))]);
    let app = api.app("graceful").await;
    api.endpoint(&app, json!({"url": rx.url("/hook")})).await;
    let msg = api.message(&app, "a.b", json!({})).await;
    let dir = server.dir.clone();
    // Stop while the receiver is still holding the request.
    eventually("delivery in flight", Duration::from_secs(10), || async {
        let d = api.destinations(&app, &msg).await;
        (d[0]["status"] == 3).then_some(())
    })
    .await;
    let wal = server.db_path().with_extension("db-wal");
    assert_eq!(server.stop().await, 0);
    if backend == Backend::Sqlite {
        let wal_bytes = std::fs::metadata(&wal).map_or(0, |m| m.len());
        assert_eq!(
            wal_bytes, 0,
            "a clean stop checkpoints the WAL into the database file"
        );
    }
    let server = Server::start_in(
        dir,
        ServerOpts::dev()
            .on(backend)
            .env("SKYHOOK_NODE_ROLES", "api"),
    )
    .await;
    let dest = server.api().destinations(&app, &msg).await;
    assert_eq!(
        dest[0]["status"], 0,
        "the in-flight attempt was finished and recorded before exit"
    );
}

async fn bad_input_gets_a_clear_error_and_stores_nothing(backend: Backend) {
    let server = Server::start(
        ServerOpts::dev()
            .on(backend)
            .env("SKYHOOK_MAX_PAYLOAD_BYTES", "1000"),
    )
    .await;
    let api = server.api();
    let app = api.app("bad").await;
    let msgs = format!("/api/v1/app/{app}/msg");

    let (status, err) = Api::read(
        api.raw(Method::POST, &msgs)
            .header("content-type", "application/json")
            .body("{\"eventType\": "),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(err["code"], "invalid_json");

    let (status, err) = api
        .post(&msgs, json!({"eventType": 7, "payload": {}}))
        .await;
    assert_eq!(status, 422);
    assert_eq!(err["detail"][0]["loc"], json!(["body", "eventType"]));

    let (status, err) = api.post(&msgs, json!({"eventType": "a.b"})).await;
    assert_eq!(status, 422, "{err}");

    let (status, err) = api
        .post(&msgs, json!({"eventType": "has space", "payload": {}}))
        .await;
    assert_eq!(status, 422, "{err}");

    let (status, err) = api
        .post(&msgs, json!({"eventType": "a.b", "payload": [1, 2]}))
        .await;
    assert_eq!(status, 422, "{err}");

    let (status, err) = api
        .post(
            &msgs,
            json!({"eventType": "a.b", "payload": {"big": "x".repeat(2000)}}),
        )
        .await;
    assert_eq!(status, 413);
    assert_eq!(err["code"], "payload_too_large");

    let (status, err) = api
        .post(
            "/api/v1/app/app_doesnotexist000000000000000/msg",
            json!({"eventType": "a.b", "payload": {}}),
        )
        .await;
    assert_eq!(status, 404);
    assert_eq!(err["code"], "not_found");

    for url in ["not a url", "ftp://example.com/x", "http://", "/relative"] {
        let (status, err) = api
            .post(&format!("/api/v1/app/{app}/endpoint"), json!({"url": url}))
            .await;
        assert_eq!(status, 422, "{url}: {err}");
        assert_eq!(err["detail"][0]["loc"], json!(["body", "url"]));
    }
    let (status, _) = api
        .post(
            &format!("/api/v1/app/{app}/endpoint"),
            json!({"url": "https://example.com", "secret": "whsec_short"}),
        )
        .await;
    assert_eq!(status, 422);

    let (status, err) = api.get(&format!("{msgs}?limit=0")).await;
    assert_eq!(status, 422, "{err}");

    let (status, err) = api.get("/api/v1/nowhere").await;
    assert_eq!(status, 404);
    assert_eq!(err["code"], "not_found");

    let (status, err) = api.with_token("wrong").get("/api/v1/app").await;
    assert_eq!(status, 401);
    assert_eq!(err["code"], "authentication_failed");
    let (status, _) =
        Api::read(reqwest::Client::new().get(format!("{}/api/v1/app", server.url))).await;
    assert_eq!(status, 401);
    let (status, _) =
        Api::read(reqwest::Client::new().get(format!("{}/api/v1/health", server.url))).await;
    assert_eq!(status, 204);

    assert_eq!(
        api.get_ok(&msgs).await["data"],
        json!([]),
        "no message was stored"
    );
    assert_eq!(
        api.get_ok(&format!("/api/v1/app/{app}/endpoint")).await["data"],
        json!([]),
        "no endpoint was stored"
    );
}

async fn idempotency_keys_and_event_ids_prevent_duplicates(backend: Backend) {
    let server = Server::start(ServerOpts::dev().on(backend)).await;
    let api = server.api();
    let app = api.app("dupes").await;
    let msgs = format!("/api/v1/app/{app}/msg");
    let send = || {
        api.raw(Method::POST, &msgs)
            .header("content-type", "application/json")
            .header("idempotency-key", "key-1")
            .body(json!({"eventType": "a.b", "payload": {"n": 1}}).to_string())
    };
    let (s1, first) = Api::read(send()).await;
    let (s2, again) = Api::read(send()).await;
    assert_eq!((s1.as_u16(), s2.as_u16()), (202, 202));
    assert_eq!(first["id"], again["id"], "the first answer is replayed");
    assert_eq!(api.get_ok(&msgs).await["data"].as_array().unwrap().len(), 1);

    api.post_ok(
        &msgs,
        json!({"eventType": "a.b", "eventId": "evt-1", "payload": {}}),
        202,
    )
    .await;
    let (status, err) = api
        .post(
            &msgs,
            json!({"eventType": "a.b", "eventId": "evt-1", "payload": {}}),
        )
        .await;
    assert_eq!(status, 409);
    assert_eq!(err["code"], "conflict");
    // A message is found by its eventId too.
    assert_eq!(
        api.get_ok(&format!("{msgs}/evt-1")).await["eventId"],
        "evt-1"
    );
}

async fn lists_paginate_and_uids_work_wherever_ids_do(backend: Backend) {
    let server = Server::start(ServerOpts::dev().on(backend)).await;
    let api = server.api();
    for i in 0..5 {
        api.post_ok(
            "/api/v1/app",
            json!({"name": format!("app {i}"), "uid": format!("app-{i}")}),
            201,
        )
        .await;
    }
    let mut seen = Vec::new();
    let mut iterator = String::new();
    loop {
        let page = api
            .get_ok(&format!("/api/v1/app?limit=2&iterator={iterator}"))
            .await;
        let data = page["data"].as_array().unwrap();
        assert!(data.len() <= 2);
        seen.extend(data.iter().map(|a| a["uid"].as_str().unwrap().to_string()));
        if page["done"] == true {
            break;
        }
        iterator = page["iterator"].as_str().unwrap().to_string();
    }
    assert_eq!(seen, (0..5).map(|i| format!("app-{i}")).collect::<Vec<_>>());
    let desc = api.get_ok("/api/v1/app?limit=5&order=descending").await;
    assert_eq!(desc["data"][0]["uid"], "app-4");

    // uid lookups, get_or_create, upsert and patch.
    assert_eq!(api.get_ok("/api/v1/app/app-3").await["name"], "app 3");
    let (status, same) = api
        .post(
            "/api/v1/app?get_or_create=true",
            json!({"name": "x", "uid": "app-3"}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(same["name"], "app 3");
    let (status, _) = api
        .post("/api/v1/app", json!({"name": "x", "uid": "app-3"}))
        .await;
    assert_eq!(status, 409);
    let (status, _) = api
        .put("/api/v1/app/brand-new", json!({"name": "new"}))
        .await;
    assert_eq!(status, 201);
    let patched = api
        .patch("/api/v1/app/brand-new", json!({"metadata": {"k": "v"}}))
        .await
        .1;
    assert_eq!(patched["metadata"]["k"], "v");
    assert_eq!(patched["name"], "new");
    // A message warms the API's application cache; a rename and a delete must not be
    // hidden by it.
    let msg = json!({"eventType": "order.paid", "payload": {}});
    api.post_ok("/api/v1/app/brand-new/msg", msg.clone(), 202)
        .await;
    api.patch("/api/v1/app/brand-new", json!({"uid": "renamed"}))
        .await;
    assert_eq!(
        api.post("/api/v1/app/brand-new/msg", msg.clone()).await.0,
        404
    );
    api.post_ok("/api/v1/app/renamed/msg", msg.clone(), 202)
        .await;
    let (status, _) = api.delete("/api/v1/app/renamed").await;
    assert_eq!(status, 204);
    assert_eq!(api.get("/api/v1/app/renamed").await.0, 404);
    assert_eq!(api.post("/api/v1/app/renamed/msg", msg).await.0, 404);

    api.post_ok(
        "/api/v1/app/app-0/endpoint",
        json!({"url": "https://example.com/a", "uid": "main"}),
        201,
    )
    .await;
    assert_eq!(
        api.get_ok("/api/v1/app/app-0/endpoint/main").await["url"],
        "https://example.com/a"
    );
    let (status, ep) = api
        .patch(
            "/api/v1/app/app-0/endpoint/main",
            json!({"description": "d", "disabled": true}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(ep["disabled"], true);
    assert_eq!(ep["url"], "https://example.com/a");
}

async fn application_tokens_reach_only_their_application(backend: Backend) {
    let server = Server::start(ServerOpts::dev().on(backend)).await;
    let api = server.api();
    let mine = api.app("mine").await;
    let theirs = api.app("theirs").await;
    api.endpoint(&theirs, json!({"url": "https://example.com/x"}))
        .await;
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_skyhook"))
        .args([
            "token",
            "create",
            "--app",
            &mine,
            "--database-url",
            server.database_url(),
        ])
        .envs(server.dir.env())
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let scoped = api.with_token(&token);

    assert_eq!(
        scoped.get_ok(&format!("/api/v1/app/{mine}")).await["id"],
        mine.as_str()
    );
    let list = scoped.get_ok("/api/v1/app").await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    for path in [
        format!("/api/v1/app/{theirs}"),
        format!("/api/v1/app/{theirs}/endpoint"),
        format!("/api/v1/app/{theirs}/msg"),
    ] {
        let (status, body) = scoped.get(&path).await;
        assert_eq!(status, 404, "{path}: {body}");
    }
    let (status, _) = scoped
        .post(
            &format!("/api/v1/app/{theirs}/msg"),
            json!({"eventType": "a.b", "payload": {}}),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = scoped
        .post(
            "/api/v1/event-type",
            json!({"name": "x.y", "description": "d"}),
        )
        .await;
    assert_eq!(status, 403);
    scoped
        .post_ok(
            &format!("/api/v1/app/{mine}/msg"),
            json!({"eventType": "a.b", "payload": {}}),
            202,
        )
        .await;
    // Found tokens are cached by hash: another token is still looked up, and refused.
    let stranger = api.with_token(&format!("{token}x"));
    let (status, body) = stranger.get(&format!("/api/v1/app/{mine}")).await;
    assert_eq!(status, 401, "{body}");
}

common::on_both_backends!(
    a_message_arrives_signed_byte_for_byte_and_the_attempt_is_recorded,
    endpoints_get_only_the_event_types_and_channels_they_subscribe_to,
    failures_are_retried_on_schedule_then_succeed,
    an_endpoint_that_keeps_failing_is_marked_failed_and_can_be_resent,
    recover_resends_the_failed_messages_of_a_window,
    timeouts_refused_connections_and_redirects_are_failures_with_a_reason,
    redirects_are_not_followed,
    private_destinations_are_refused_without_dev_or_an_allow_list,
    custom_headers_and_rotated_secrets_are_sent,
    pending_work_survives_a_restart,
    in_flight_deliveries_finish_before_a_graceful_stop,
    bad_input_gets_a_clear_error_and_stores_nothing,
    idempotency_keys_and_event_ids_prevent_duplicates,
    lists_paginate_and_uids_work_wherever_ids_do,
    application_tokens_reach_only_their_application,
);
