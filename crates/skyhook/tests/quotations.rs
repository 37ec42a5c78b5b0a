//! Projects, the webhooks plugin and quotations (CONTRACT §4, issue 3), end to end: the
//! real binary, a real receiver, the PyPI `standardwebhooks` verifier for the whole
//! scenario (skipped with a message without `interop/setup.sh`, fatal under
//! `SKYHOOK_TEST_STRICT=1`).

mod common;

use std::time::Duration;

use axum::http::StatusCode;
use common::{
    Api, Backend, Receiver, Server, ServerOpts, eventually, interop_python, repo_root, require,
};
use serde_json::{Value, json};
use skyhook_receiver::{QuotationCreated, Webhook};

/// A binary file with every byte value, and some more.
fn binary_file() -> Vec<u8> {
    (0..4096u32).map(|i| (i * 7 % 256) as u8).collect()
}

const TEXT_FILE: &str = "Hello, ERP ✓\nWidth: 1200 mm\r\n";

/// A project with its webhooks plugin pointing at `rx` `/erp`; returns (app, quotation
/// secret, plugin signing secret).
async fn project(api: &Api, rx: &Receiver, name: &str) -> (String, String, String) {
    let app = api.app(name).await;
    let plugin = put_plugin(api, &app, json!({"enabled": true, "url": rx.url("/erp")})).await;
    let secret = api
        .get_ok(&format!("/api/v1/app/{app}/quotation-secret"))
        .await;
    let qs = secret["key"].as_str().unwrap().to_string();
    assert!(qs.starts_with("qs_"), "{secret}");
    (app, qs, plugin["secret"].as_str().unwrap().to_string())
}

async fn put_plugin(api: &Api, app: &str, body: Value) -> Value {
    let (status, json) = api
        .put(&format!("/api/v1/app/{app}/plugins/webhooks"), body)
        .await;
    assert_eq!(status, StatusCode::OK, "{json}");
    json
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn json_request(files: &[(&str, &str, &[u8])]) -> Value {
    json!({
        "customer": {"name": "Ada Lovelace", "email": "ada@example.com", "company": "Analytical Engines"},
        "configuration": {"product": "window", "width": 1200, "height": 800, "glazing": ["triple", "argon"]},
        "files": files.iter().map(|(n, ct, b)| json!({"name": n, "contentType": ct, "contentBase64": b64(b)})).collect::<Vec<_>>(),
    })
}

/// A `multipart/form-data` body: the `request` JSON part, then one part per file.
fn multipart(request: &Value, files: &[(&str, &str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "skyhook-test-boundary-7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"request\"\r\nContent-Type: application/json\r\n\r\n{request}\r\n")
            .as_bytes(),
    );
    for (name, ct, bytes) in files {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: {ct}\r\n\r\n").as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// POSTs a quotation as JSON with `token`.
async fn post_json(api: &Api, app: &str, token: &str, body: &Value) -> (StatusCode, Value) {
    let req = api.with_token(token).raw(
        reqwest::Method::POST,
        &format!("/projects/{app}/quotations"),
    );
    Api::read(
        req.header("content-type", "application/json")
            .body(body.to_string()),
    )
    .await
}

async fn post_multipart(
    api: &Api,
    app: &str,
    token: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (StatusCode, Value) {
    let req = api.with_token(token).raw(
        reqwest::Method::POST,
        &format!("/projects/{app}/quotations"),
    );
    Api::read(req.header("content-type", content_type).body(body)).await
}

/// GET with an optional bearer; returns status, headers and raw bytes.
async fn fetch(
    url: &str,
    token: Option<&str>,
) -> (StatusCode, reqwest::header::HeaderMap, Vec<u8>) {
    let mut req = reqwest::Client::new().get(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.expect("request");
    let status = StatusCode::from_u16(resp.status().as_u16()).unwrap();
    let headers = resp.headers().clone();
    (status, headers, resp.bytes().await.unwrap().to_vec())
}

fn header<'a>(h: &'a reqwest::header::HeaderMap, name: &str) -> &'a str {
    h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

fn run_verifier(python: &std::path::Path, secret: &str, d: &common::Delivery) -> (bool, String) {
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
    let (h, b) = (
        dir.path().join("headers.json"),
        dir.path().join("body.json"),
    );
    std::fs::write(&h, Value::Object(headers).to_string()).unwrap();
    std::fs::write(&b, &d.body).unwrap();
    let out = std::process::Command::new(python)
        .args([
            "interop/verify.py",
            "--lib",
            "standardwebhooks",
            "--secret",
            secret,
        ])
        .args([
            "--headers-json",
            h.to_str().unwrap(),
            "--body-file",
            b.to_str().unwrap(),
        ])
        .current_dir(repo_root())
        .output()
        .expect("run interop/verify.py");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

async fn the_whole_scenario_verified_by_a_third_party_library(backend: Backend) {
    let python = interop_python();
    if !require(
        python.is_some(),
        "the interop Python venv (PyPI standardwebhooks)",
    ) {
        return;
    }
    let python = python.unwrap();
    let server = Server::start(ServerOpts::dev().on(backend)).await;
    let api = server.api();
    let rx = Receiver::start().await;
    let (app, qs, whsec) = project(&api, &rx, "configurator").await;

    let binary = binary_file();
    let files: [(&str, &str, &[u8]); 2] = [
        ("drawing.bin", "application/octet-stream", &binary),
        (
            "notes.txt",
            "text/plain; charset=utf-8",
            TEXT_FILE.as_bytes(),
        ),
    ];
    let (status, created) = post_json(&api, &app, &qs, &json_request(&files)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let project_url = format!("{}/projects/{app}", server.url);
    assert_eq!(created["projectUrl"], project_url.as_str());
    assert!(created["id"].as_str().unwrap().starts_with("quo_"));
    assert_eq!(created["customer"]["name"], "Ada Lovelace");
    assert_eq!(created["files"][0]["size"], binary.len());
    assert_eq!(created["files"][1]["size"], TEXT_FILE.len());

    // The ERP receives quotation.created at once; a third-party library verifies it.
    let d = rx.wait_for("/erp", 1).await.remove(0);
    let (ok, out) = run_verifier(&python, &whsec, &d);
    assert!(ok, "standardwebhooks rejected our quotation.created: {out}");
    let (ok, _) = run_verifier(&python, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", &d);
    assert!(!ok, "a wrong secret must not verify");

    // It reads files and projectUrl from the payload and downloads each file.
    let event: QuotationCreated = Webhook::new(&whsec)
        .unwrap()
        .verify_and_parse(&d.headers, &d.body)
        .expect("receiver crate verifies");
    assert_eq!(event.type_, QuotationCreated::TYPE);
    assert_eq!(event.project_url, project_url);
    assert_eq!(event.quotation.id, created["id"].as_str().unwrap());
    assert_eq!(event.quotation.customer["email"], "ada@example.com");
    assert_eq!(event.quotation.configuration["width"], 1200);
    assert!(
        event.created_at.ends_with('Z') && event.created_at.len() == 24,
        "{}",
        event.created_at
    );
    assert_eq!(
        d.header("webhook-id"),
        created["messageId"].as_str().unwrap()
    );
    assert_eq!(event.files.len(), 2);
    for ((name, ct, bytes), f) in files.iter().zip(&event.files) {
        assert_eq!(
            (f.name.as_str(), f.content_type.as_str(), f.size),
            (*name, *ct, bytes.len() as u64)
        );
        let (status, h, got) = fetch(&event.file_url(f), Some(&qs)).await;
        assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&got));
        assert_eq!(&got, bytes, "downloaded {name} differs");
        assert_eq!(header(&h, "content-type"), *ct);
        assert_eq!(header(&h, "content-length"), bytes.len().to_string());
        assert!(
            header(&h, "content-disposition")
                .starts_with(&format!("attachment; filename=\"{name}\"")),
            "{h:?}"
        );
    }

    // The quotations REST API shows the same quotation.
    let qapi = api.with_token(&qs);
    let listed = qapi.get_ok(&format!("/projects/{app}/quotations")).await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    assert_eq!(listed["data"][0], created);
    assert_eq!(
        qapi.get_ok(&format!(
            "/projects/{app}/quotations/{}",
            created["id"].as_str().unwrap()
        ))
        .await,
        created
    );
    // The event is an ordinary message of the application, found by its quotation id.
    let msg = api
        .get_ok(&format!(
            "/api/v1/app/{app}/msg/{}",
            created["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(msg["eventType"], "quotation.created");
    assert_eq!(msg["id"], created["messageId"]);
}

async fn projects_are_isolated_and_need_the_right_bearer(backend: Backend) {
    let server = Server::start(ServerOpts::dev().on(backend)).await;
    let api = server.api();
    let rx = Receiver::start().await;
    let (a, qs_a, _) = project(&api, &rx, "a").await;
    let (b, qs_b, _) = project(&api, &rx, "b").await;
    assert_ne!(qs_a, qs_b);
    let (status, qa) = post_json(
        &api,
        &a,
        &qs_a,
        &json_request(&[("a.txt", "text/plain", b"secret of a")]),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{qa}");
    let file = qa["files"][0]["id"].as_str().unwrap();
    let quo = qa["id"].as_str().unwrap();
    let url = |app: &str, rest: &str| format!("{}/projects/{app}/{rest}", server.url);
    let file_path = format!("quotation/files/{file}");
    let quo_path = format!("quotations/{quo}");

    // The owner's secret and an admin token read it.
    for token in [&qs_a, &server.token] {
        let (status, _, bytes) = fetch(&url(&a, &file_path), Some(token)).await;
        assert_eq!(
            (status, bytes.as_slice()),
            (StatusCode::OK, &b"secret of a"[..])
        );
    }
    // Missing, wrong or another project's bearer: 401 on every route of project a.
    for path in [file_path.as_str(), quo_path.as_str(), "quotations"] {
        for token in [None, Some("qs_wrong"), Some(qs_b.as_str()), Some("")] {
            let (status, _, body) = fetch(&url(&a, path), token).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{path} with {token:?}");
            let body: Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(body["code"], "authentication_failed", "{body}");
        }
    }
    let (status, _) = post_json(&api, &a, &qs_b, &json_request(&[])).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // a's secret does not open project b's URL.
    let (status, _, _) = fetch(&url(&b, &file_path), Some(&qs_a)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Through project b's URL, with b's secret or an admin token, a's file does not exist.
    for token in [&qs_b, &server.token] {
        let (status, _, body) = fetch(&url(&b, &file_path), Some(token)).await;
        assert_eq!(
            status,
            StatusCode::NOT_FOUND,
            "{}",
            String::from_utf8_lossy(&body)
        );
        assert!(!String::from_utf8_lossy(&body).contains("secret of a"));
        let (status, _, _) = fetch(&url(&b, &quo_path), Some(token)).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    let listed_b = api
        .with_token(&qs_b)
        .get_ok(&format!("/projects/{b}/quotations"))
        .await;
    assert_eq!(listed_b["data"], json!([]));
    // Unknown project: 401 for a non-admin, 404 for an admin; unknown file: 404.
    let (status, _, _) = fetch(&url("app_doesnotexist", &file_path), Some(&qs_a)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, _) = fetch(&url("app_doesnotexist", &file_path), Some(&server.token)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = fetch(&url(&a, "quotation/files/file_nope"), Some(&qs_a)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The secret is readable by an admin or the project's own token, not another's.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_skyhook"))
        .args(["token", "create", "--app", &a])
        .env("SKYHOOK_DATABASE_URL", server.database_url())
        .envs(server.dir.env())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let app_a = api.with_token(String::from_utf8(out.stdout).unwrap().trim());
    assert_eq!(
        app_a
            .get_ok(&format!("/api/v1/app/{a}/quotation-secret"))
            .await["key"],
        qs_a.as_str()
    );
    let (status, _) = app_a
        .get(&format!("/api/v1/app/{b}/quotation-secret"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // An application's API token is not a quotation secret.
    let (status, _, _) = fetch(&url(&a, &file_path), Some(&app_a.token)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Rotation: the old secret stops working at once, the new one works.
    let rotated = api
        .post_ok(
            &format!("/api/v1/app/{a}/quotation-secret/rotate"),
            json!({}),
            200,
        )
        .await;
    let new_qs = rotated["key"].as_str().unwrap();
    assert!(new_qs.starts_with("qs_") && new_qs != qs_a);
    assert_eq!(
        api.get_ok(&format!("/api/v1/app/{a}/quotation-secret"))
            .await["key"],
        new_qs
    );
    let (status, _, _) = fetch(&url(&a, &file_path), Some(&qs_a)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, _) = fetch(&url(&a, &file_path), Some(new_qs)).await;
    assert_eq!(status, StatusCode::OK);
}

async fn a_disabled_plugin_gets_nothing_and_keeps_its_configuration(backend: Backend) {
    let server = Server::start(ServerOpts::dev().on(backend)).await;
    let api = server.api();
    let rx = Receiver::start().await;
    let app = api.app("p").await;
    let plugin_path = format!("/api/v1/app/{app}/plugins/webhooks");

    // Before any PUT: not configured.
    let initial = api.get_ok(&plugin_path).await;
    assert_eq!(
        initial,
        json!({"enabled": false, "url": null, "endpointId": null, "secret": null})
    );
    let (status, _) = api.put(&plugin_path, json!({"enabled": true})).await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "enabling needs a URL"
    );
    let (status, _) = api
        .put(
            &plugin_path,
            json!({"enabled": true, "url": "ftp://example.com/x"}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "URLs are validated like endpoint URLs"
    );
    assert_eq!(
        api.get_ok(&plugin_path).await,
        initial,
        "a refused PUT changes nothing"
    );

    let on = put_plugin(&api, &app, json!({"enabled": true, "url": rx.url("/erp")})).await;
    assert_eq!(on["enabled"], true);
    assert_eq!(on["url"], rx.url("/erp").as_str());
    assert!(on["secret"].as_str().unwrap().starts_with("whsec_"));
    let ep_id = on["endpointId"].as_str().unwrap().to_string();
    // It is an ordinary endpoint of the application, uid webhooks-plugin, all event types.
    let ep = api
        .get_ok(&format!("/api/v1/app/{app}/endpoint/webhooks-plugin"))
        .await;
    assert_eq!(ep["id"], ep_id.as_str());
    assert!(ep["eventTypes"].is_null(), "{ep}");
    assert_eq!(api.get_ok(&plugin_path).await, on);

    let qs = api
        .get_ok(&format!("/api/v1/app/{app}/quotation-secret"))
        .await["key"]
        .as_str()
        .unwrap()
        .to_string();
    let quote = |n: u32| json!({"customer": {"n": n}, "files": [{"name": "f.txt", "contentType": "text/plain", "contentBase64": b64(format!("quotation {n}").as_bytes())}]});
    let (_, q1) = post_json(&api, &app, &qs, &quote(1)).await;
    rx.wait_for("/erp", 1).await;

    // Disabled: URL and secret are kept; new events are not queued for it at all.
    let off = put_plugin(&api, &app, json!({"enabled": false})).await;
    assert_eq!(
        off,
        json!({"enabled": false, "url": on["url"], "endpointId": on["endpointId"], "secret": on["secret"]})
    );
    assert_eq!(api.get_ok(&plugin_path).await, off);
    let (status, q2) = post_json(&api, &app, &qs, &quote(2)).await;
    assert_eq!(status, StatusCode::CREATED);
    let q2_msg = q2["messageId"].as_str().unwrap();
    assert_eq!(
        api.destinations(&app, q2_msg).await,
        Vec::<Value>::new(),
        "no delivery is queued for a disabled plugin"
    );
    let other = api
        .message(&app, "order.shipped", json!({"type": "order.shipped"}))
        .await;
    assert_eq!(api.destinations(&app, &other).await, Vec::<Value>::new());

    // Re-enabled (no URL needed: the kept one is used): new events are delivered again.
    let again = put_plugin(&api, &app, json!({"enabled": true})).await;
    assert_eq!(again, on);
    let (_, q3) = post_json(&api, &app, &qs, &quote(3)).await;
    let got = rx.wait_for("/erp", 2).await;
    let ids: Vec<&str> = got.iter().map(|d| d.header("webhook-id")).collect();
    assert_eq!(
        ids,
        [
            q1["messageId"].as_str().unwrap(),
            q3["messageId"].as_str().unwrap()
        ]
    );
    let dest = api
        .destinations(&app, q3["messageId"].as_str().unwrap())
        .await;
    assert_eq!(dest.len(), 1);
    assert_eq!(dest[0]["id"], ep_id.as_str());
    // Signed with the kept secret.
    Webhook::new(on["secret"].as_str().unwrap())
        .unwrap()
        .verify(&got[1].headers, &got[1].body)
        .unwrap();
    // Nothing else arrives later.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.at("/erp").len(), 2);

    // Changing the URL keeps the endpoint and its secret.
    let moved = put_plugin(&api, &app, json!({"enabled": true, "url": rx.url("/erp2")})).await;
    assert_eq!(
        (&moved["endpointId"], &moved["secret"]),
        (&on["endpointId"], &on["secret"])
    );
    assert_eq!(moved["url"], rx.url("/erp2").as_str());
}

async fn invalid_quotations_create_nothing_and_emit_nothing(backend: Backend) {
    let server = Server::start(ServerOpts::dev().on(backend)).await;
    let api = server.api();
    let rx = Receiver::start().await;
    let (app, qs, _) = project(&api, &rx, "strict").await;
    let valid = json_request(&[("ok.txt", "text/plain", b"ok")]);

    let mut bad_b64 = valid.clone();
    bad_b64["files"][0]["contentBase64"] = json!("this is not base64!");
    let mut no_customer = valid.clone();
    no_customer.as_object_mut().unwrap().remove("customer");
    let mut null_customer = valid.clone();
    null_customer["customer"] = Value::Null;
    let mut string_customer = valid.clone();
    string_customer["customer"] = json!("Ada");
    let mut bad_name = valid.clone();
    bad_name["files"][0]["name"] = json!("../../etc/passwd");
    let mut bad_type = valid.clone();
    bad_type["files"][0]["contentType"] = json!("text/plain\r\nx-evil: 1");
    let mut too_big = valid.clone();
    too_big["files"][0]["contentBase64"] = json!(b64(&vec![b'x'; 10 * 1024 * 1024 + 1]));
    for (what, body, expect, loc) in [
        (
            "bad base64",
            &bad_b64,
            422,
            Some(json!(["body", "files", "0", "contentBase64"])),
        ),
        (
            "missing customer",
            &no_customer,
            422,
            Some(json!(["body", "customer"])),
        ),
        (
            "null customer",
            &null_customer,
            422,
            Some(json!(["body", "customer"])),
        ),
        (
            "customer not an object",
            &string_customer,
            422,
            Some(json!(["body", "customer"])),
        ),
        (
            "path in a file name",
            &bad_name,
            422,
            Some(json!(["body", "files", "0", "name"])),
        ),
        (
            "header injection in a content type",
            &bad_type,
            422,
            Some(json!(["body", "files", "0", "contentType"])),
        ),
        ("a file over 10 MiB", &too_big, 413, None),
    ] {
        let (status, body) = post_json(&api, &app, &qs, body).await;
        assert_eq!(status.as_u16(), expect, "{what}: {body}");
        match loc {
            Some(loc) => assert_eq!(body["detail"][0]["loc"], loc, "{what}: {body}"),
            None => assert_eq!(body["code"], "payload_too_large", "{what}: {body}"),
        }
    }
    // Multipart: 25 MiB in all, 10 MiB per file; a request part is required.
    let nine = vec![b'9'; 9 * 1024 * 1024];
    let request = json!({"customer": {"name": "Ada"}});
    let (ct, body) = multipart(
        &request,
        &[
            ("a", "text/plain", &nine),
            ("b", "text/plain", &nine),
            ("c", "text/plain", &nine),
        ],
    );
    let (status, json) = post_multipart(&api, &app, &qs, &ct, body).await;
    assert_eq!(
        status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "27 MiB in all: {json}"
    );
    let eleven = vec![0u8; 11 * 1024 * 1024];
    let (ct, body) = multipart(
        &request,
        &[("big.bin", "application/octet-stream", &eleven)],
    );
    let (status, json) = post_multipart(&api, &app, &qs, &ct, body).await;
    assert_eq!(
        status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "an 11 MiB file: {json}"
    );
    let (ct, mut body) = multipart(&json!({"customer": {}}), &[("a.txt", "text/plain", b"x")]);
    let pos = body.windows(9).position(|w| w == b"\"request\"").unwrap();
    body[pos + 1..pos + 8].copy_from_slice(b"reqXest");
    let (status, json) = post_multipart(&api, &app, &qs, &ct, body).await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "no request part: {json}"
    );
    let (ct, body) = multipart(&json!({"configuration": {}}), &[]);
    let (status, _) = post_multipart(&api, &app, &qs, &ct, body).await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "multipart without customer"
    );
    // Not JSON at all, or not a supported type.
    let req = api.with_token(&qs).raw(
        reqwest::Method::POST,
        &format!("/projects/{app}/quotations"),
    );
    let (status, _) = Api::read(
        req.header("content-type", "application/json")
            .body("{not json"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let req = api.with_token(&qs).raw(
        reqwest::Method::POST,
        &format!("/projects/{app}/quotations"),
    );
    let (status, _) = Api::read(req.header("content-type", "text/plain").body("hi")).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    // Nothing was stored and nothing emitted.
    let qapi = api.with_token(&qs);
    assert_eq!(
        qapi.get_ok(&format!("/projects/{app}/quotations")).await["data"],
        json!([])
    );
    assert_eq!(
        api.get_ok(&format!("/api/v1/app/{app}/msg")).await["data"],
        json!([])
    );
    // A valid one afterwards is the only thing that ever arrives.
    let (status, created) = post_json(&api, &app, &qs, &valid).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let got = rx.wait_for("/erp", 1).await;
    assert_eq!(
        got[0].header("webhook-id"),
        created["messageId"].as_str().unwrap()
    );
    assert_eq!(
        api.get_ok(&format!("/api/v1/app/{app}/msg")).await["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        qapi.get_ok(&format!("/projects/{app}/quotations")).await["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.deliveries().len(), 1);
}

async fn multipart_and_json_uploads_store_the_same_result(backend: Backend) {
    let server = Server::start(ServerOpts::dev().on(backend)).await;
    let api = server.api();
    let rx = Receiver::start().await;
    let (app, qs, whsec) = project(&api, &rx, "both").await;
    let binary = binary_file();
    let files: [(&str, &str, &[u8]); 2] = [
        ("drawing.bin", "application/octet-stream", &binary),
        ("Zeichnung ä.txt", "text/plain", TEXT_FILE.as_bytes()),
    ];
    let mut request = json_request(&files);

    let (status, from_json) = post_json(&api, &app, &qs, &request).await;
    assert_eq!(status, StatusCode::CREATED, "{from_json}");
    request.as_object_mut().unwrap().remove("files");
    let (ct, body) = multipart(&request, &files);
    let (status, from_multipart) = post_multipart(&api, &app, &qs, &ct, body).await;
    assert_eq!(status, StatusCode::CREATED, "{from_multipart}");

    // Same stored quotation, apart from ids and times.
    let strip = |mut q: Value| {
        for key in ["id", "messageId", "createdAt"] {
            q.as_object_mut().unwrap().remove(key);
        }
        for f in q["files"].as_array_mut().unwrap() {
            f.as_object_mut().unwrap().remove("id");
            f.as_object_mut().unwrap().remove("url");
        }
        q
    };
    let qapi = api.with_token(&qs);
    let path = |q: &Value| format!("/projects/{app}/quotations/{}", q["id"].as_str().unwrap());
    let (a, b) = (
        qapi.get_ok(&path(&from_json)).await,
        qapi.get_ok(&path(&from_multipart)).await,
    );
    assert_eq!(strip(a.clone()), strip(b.clone()));
    assert_eq!(a["files"][1]["name"], "Zeichnung ä.txt");
    for (fa, fb) in a["files"]
        .as_array()
        .unwrap()
        .iter()
        .zip(b["files"].as_array().unwrap())
    {
        let (_, ha, ba) = fetch(fa["url"].as_str().unwrap(), Some(&qs)).await;
        let (_, hb, bb) = fetch(fb["url"].as_str().unwrap(), Some(&qs)).await;
        assert_eq!(ba, bb);
        assert_eq!(header(&ha, "content-type"), header(&hb, "content-type"));
        assert_eq!(
            header(&ha, "content-disposition"),
            header(&hb, "content-disposition")
        );
    }
    let (_, h, _) = fetch(a["files"][1]["url"].as_str().unwrap(), Some(&qs)).await;
    assert_eq!(
        header(&h, "content-disposition"),
        "attachment; filename=\"Zeichnung _.txt\"; filename*=UTF-8''Zeichnung%20%C3%A4.txt"
    );

    // And the same event, apart from ids and times.
    let got = rx.wait_for("/erp", 2).await;
    let webhook = Webhook::new(&whsec).unwrap();
    let events: Vec<QuotationCreated> = got
        .iter()
        .map(|d| webhook.verify_and_parse(&d.headers, &d.body).unwrap())
        .collect();
    for e in &events {
        assert_eq!(e.quotation.customer, request["customer"]);
        assert_eq!(e.quotation.configuration, request["configuration"]);
        let meta: Vec<(&str, &str, u64)> = e
            .files
            .iter()
            .map(|f| (f.name.as_str(), f.content_type.as_str(), f.size))
            .collect();
        assert_eq!(
            meta,
            files
                .iter()
                .map(|(n, c, b)| (*n, *c, b.len() as u64))
                .collect::<Vec<_>>()
        );
    }
    let _ = eventually(
        "both messages delivered",
        Duration::from_secs(10),
        || async {
            (api.get_ok(&format!("/api/v1/app/{app}/msg")).await["data"]
                .as_array()
                .unwrap()
                .len()
                == 2)
                .then_some(())
        },
    )
    .await;
}

common::on_both_backends!(
    the_whole_scenario_verified_by_a_third_party_library,
    projects_are_isolated_and_need_the_right_bearer,
    a_disabled_plugin_gets_nothing_and_keeps_its_configuration,
    invalid_quotations_create_nothing_and_emit_nothing,
    multipart_and_json_uploads_store_the_same_result,
);
