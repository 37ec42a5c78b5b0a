//! The dashboard over plain HTTP (issue 7): login and logout, the session cookie's
//! attributes, CSRF, project scoping for application tokens, URL validation, the test
//! event, the event log, resend and quotation downloads. The browser flow is in
//! `dashboard_browser.rs`.

mod common;

use std::time::Duration;

use axum::http::StatusCode;
use common::{Api, Receiver, Server, ServerOpts, eventually};
use serde_json::{Value, json};

/// A browser-like client: keeps the session cookie, never follows redirects.
struct Dash {
    client: reqwest::Client,
    base: String,
    cookie: Option<String>,
}

struct Page {
    status: StatusCode,
    location: String,
    set_cookie: String,
    body: String,
}

impl Dash {
    fn new(base: &str) -> Self {
        Self {
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: base.to_string(),
            cookie: None,
        }
    }

    async fn read(&self, req: reqwest::RequestBuilder) -> Page {
        let req = match &self.cookie {
            Some(c) => req.header("cookie", c),
            None => req,
        };
        let resp = req.send().await.expect("request");
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string()
        };
        let (location, set_cookie) = (header("location"), header("set-cookie"));
        let status = StatusCode::from_u16(resp.status().as_u16()).unwrap();
        Page {
            status,
            location,
            set_cookie,
            body: resp.text().await.unwrap(),
        }
    }

    async fn get(&self, path: &str) -> Page {
        self.read(self.client.get(format!("{}{path}", self.base)))
            .await
    }

    async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        self.read(
            self.client
                .post(format!("{}{path}", self.base))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body),
        )
        .await
    }

    /// Logs in with `token`; panics unless it works.
    async fn login(base: &str, token: &str) -> Self {
        let mut d = Self::new(base);
        let p = d.post("/login", &[("token", token)]).await;
        assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
        let cookie = p.set_cookie.split(';').next().unwrap().to_string();
        d.cookie = Some(cookie);
        d
    }

    /// The CSRF field of the forms on the projects page.
    async fn csrf(&self) -> String {
        csrf_of(&self.get("/").await.body)
    }
}

fn csrf_of(html: &str) -> String {
    let marker = r#"name="csrf" value=""#;
    let i = html.find(marker).expect("a form with a csrf field") + marker.len();
    html[i..i + 64].to_string()
}

async fn plugin(api: &Api, app: &str) -> Value {
    api.get_ok(&format!("/api/v1/app/{app}/plugins/webhooks"))
        .await
}

async fn put_plugin(api: &Api, app: &str, body: Value) {
    let (status, json) = api
        .put(&format!("/api/v1/app/{app}/plugins/webhooks"), body)
        .await;
    assert_eq!(status, StatusCode::OK, "{json}");
}

async fn app_token(server: &Server, app: &str) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_skyhook"))
        .args(["token", "create", "--app", app])
        .env("SKYHOOK_DATABASE_URL", server.database_url())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[tokio::test]
async fn login_sets_a_strict_http_only_cookie_and_logout_clears_it() {
    let server = Server::start(ServerOpts::dev()).await;
    let api = server.api();
    api.app("Window Shop").await;
    let anon = Dash::new(&server.url);

    // Logged out: every page leads to the login form, which is labelled.
    let p = anon.get("/").await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    assert_eq!(p.location, "/login");
    let p = anon.get("/login").await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(p.body.contains(r#"<label for="token">"#), "{}", p.body);
    let css = anon.get("/assets/app.css").await;
    assert_eq!(css.status, StatusCode::OK);
    assert!(css.body.contains("@media"), "responsive CSS is embedded");

    // A wrong token: 401, the form again with a message, no cookie.
    let p = anon.post("/login", &[("token", "sk_wrong")]).await;
    assert_eq!(p.status, StatusCode::UNAUTHORIZED);
    assert!(p.body.contains("This token is not valid"), "{}", p.body);
    assert!(p.set_cookie.is_empty());

    // The admin token: a session cookie, HttpOnly, SameSite=Strict, Path=/, not Secure
    // over http.
    let p = anon.post("/login", &[("token", &server.token)]).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    assert_eq!(p.location, "/");
    let attrs: Vec<&str> = p.set_cookie.split("; ").collect();
    assert!(attrs[0].starts_with("skyhook_session="), "{}", p.set_cookie);
    for a in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(attrs.contains(&a), "{a} in {}", p.set_cookie);
    }
    assert!(!attrs.contains(&"Secure"));

    let dash = Dash::login(&server.url, &server.token).await;
    let home = dash.get("/").await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(home.body.contains("Window Shop"));
    assert_eq!(
        home.body.matches("no-store").count(),
        0,
        "headers, not body"
    );

    // A cross-site login or logout is refused even with the right fields.
    let cross = dash
        .read(
            dash.client
                .post(format!("{}/logout", server.url))
                .header("origin", "https://evil.example")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(format!("csrf={}", dash.csrf().await)),
        )
        .await;
    assert_eq!(cross.status, StatusCode::FORBIDDEN);

    // Logout needs the CSRF field too, then clears the cookie.
    assert_eq!(
        dash.post("/logout", &[]).await.status,
        StatusCode::FORBIDDEN
    );
    let csrf = dash.csrf().await;
    let p = dash.post("/logout", &[("csrf", &csrf)]).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    assert_eq!(p.location, "/login");
    assert!(
        p.set_cookie.starts_with("skyhook_session=;"),
        "{}",
        p.set_cookie
    );
    assert!(p.set_cookie.contains("Max-Age=0"));
}

#[tokio::test]
async fn the_cookie_is_secure_when_the_public_url_is_https() {
    let server =
        Server::start(ServerOpts::dev().env("SKYHOOK_PUBLIC_URL", "https://hooks.example.test"))
            .await;
    let p = Dash::new(&server.url)
        .post("/login", &[("token", &server.token)])
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    assert!(p.set_cookie.ends_with("; Secure"), "{}", p.set_cookie);
}

#[tokio::test]
async fn posts_without_the_right_csrf_field_are_refused_and_change_nothing() {
    let server = Server::start(ServerOpts::dev()).await;
    let rx = Receiver::start().await;
    let api = server.api();
    let app = api.app("Shop").await;
    put_plugin(&api, &app, json!({"enabled": true, "url": rx.url("/a")})).await;
    let before = plugin(&api, &app).await;
    let qs_before = api
        .get_ok(&format!("/api/v1/app/{app}/quotation-secret"))
        .await;
    let msg = api.message(&app, "order.paid", json!({"n": 1})).await;
    rx.wait_for("/a", 1).await;

    let dash = Dash::login(&server.url, &server.token).await;
    let other = Dash::login(&server.url, &app_token(&server, &app).await).await;
    let foreign_csrf = other.csrf().await;
    let save = [("enabled", "on"), ("url", &rx.url("/b"))];
    for csrf in [
        None,
        Some("0".repeat(64)),
        Some(foreign_csrf),
        Some(String::new()),
    ] {
        let mut fields = save.to_vec();
        if let Some(c) = &csrf {
            fields.push(("csrf", c));
        }
        let p = dash.post(&format!("/app/{app}/webhooks"), &fields).await;
        assert_eq!(p.status, StatusCode::FORBIDDEN, "csrf {csrf:?}: {}", p.body);
        assert!(p.body.contains("CSRF"), "{}", p.body);
        let mut bare: Vec<(&str, &str)> = Vec::new();
        if let Some(c) = &csrf {
            bare.push(("csrf", c));
        }
        for path in [
            format!("/app/{app}/quotation-secret/rotate"),
            format!("/app/{app}/webhooks/secret/rotate"),
            format!("/app/{app}/webhooks/test"),
        ] {
            assert_eq!(
                dash.post(&path, &bare).await.status,
                StatusCode::FORBIDDEN,
                "{path}"
            );
        }
        let mut resend = bare.clone();
        resend.push(("endpoint_id", "webhooks-plugin"));
        let p = dash
            .post(&format!("/app/{app}/events/{msg}/resend"), &resend)
            .await;
        assert_eq!(p.status, StatusCode::FORBIDDEN);
    }
    // Nothing changed: URL, signing secret, quotation secret, no resend, no test event.
    assert_eq!(plugin(&api, &app).await, before);
    assert_eq!(
        api.get_ok(&format!("/api/v1/app/{app}/quotation-secret"))
            .await,
        qs_before
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.deliveries().len(), 1);
    assert_eq!(api.attempts(&app, &msg).await.len(), 1);

    // Not logged in at all: 403 as well.
    let p = Dash::new(&server.url)
        .post(&format!("/app/{app}/webhooks"), &save)
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);

    // With the right field the same forms work.
    let csrf = dash.csrf().await;
    let mut fields = save.to_vec();
    fields.push(("csrf", &csrf));
    let p = dash.post(&format!("/app/{app}/webhooks"), &fields).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    assert_eq!(plugin(&api, &app).await["url"], rx.url("/b").as_str());
    let p = dash
        .post(
            &format!("/app/{app}/quotation-secret/rotate"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    assert_ne!(
        api.get_ok(&format!("/api/v1/app/{app}/quotation-secret"))
            .await,
        qs_before
    );
    let p = dash
        .post(
            &format!("/app/{app}/webhooks/secret/rotate"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    assert_ne!(plugin(&api, &app).await["secret"], before["secret"]);
}

#[tokio::test]
async fn an_application_token_cannot_see_or_change_another_project() {
    let server = Server::start(ServerOpts::dev()).await;
    let rx = Receiver::start().await;
    let api = server.api();
    let a = api.app("Alpha Windows").await;
    let b = api.app("Bravo Doors").await;
    put_plugin(&api, &b, json!({"enabled": true, "url": rx.url("/b")})).await;
    let before_b = plugin(&api, &b).await;
    let qs_b = api
        .get_ok(&format!("/api/v1/app/{b}/quotation-secret"))
        .await;
    let msg_b = api
        .message(&b, "order.paid", json!({"secret": "bravo-payload"}))
        .await;
    rx.wait_for("/b", 1).await;
    let quo_b = api
        .raw(reqwest::Method::POST, &format!("/projects/{b}/quotations"))
        .header("content-type", "application/json")
        .body(
            json!({"customer": {"name": "Bravo customer"}, "files": [
                {"name": "b.txt", "contentType": "text/plain", "contentBase64": "YnJhdm8="}]})
            .to_string(),
        );
    let (status, quo_b) = Api::read(quo_b).await;
    assert_eq!(status, StatusCode::CREATED, "{quo_b}");
    let file_b = quo_b["files"][0]["id"].as_str().unwrap().to_string();
    rx.wait_for("/b", 2).await; // the quotation.created of B's quotation
    let quo_b = quo_b["id"].as_str().unwrap().to_string();

    let dash = Dash::login(&server.url, &app_token(&server, &a).await).await;
    let home = dash.get("/").await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(home.body.contains("Alpha Windows"));
    assert!(!home.body.contains("Bravo") && !home.body.contains(&b));
    assert_eq!(dash.get(&format!("/app/{a}")).await.status, StatusCode::OK);

    // Every page of B: 404, the same as for a project that does not exist, with nothing of B.
    for path in [
        format!("/app/{b}"),
        "/app/bravo-does-not-exist".to_string(),
        format!("/app/{b}/webhooks"),
        format!("/app/{b}/events"),
        format!("/app/{b}/events/{msg_b}"),
        format!("/app/{a}/events/{msg_b}"),
        format!("/app/{b}/quotations"),
        format!("/app/{b}/quotations/{quo_b}"),
        format!("/app/{a}/quotations/{quo_b}"),
        format!("/app/{b}/files/{file_b}"),
        format!("/app/{a}/files/{file_b}"),
    ] {
        let p = dash.get(&path).await;
        assert_eq!(p.status, StatusCode::NOT_FOUND, "{path}");
        for leak in ["Bravo", "bravo", qs_b["key"].as_str().unwrap()] {
            assert!(!p.body.contains(leak), "{path} leaks {leak}");
        }
    }

    // Every form of B, with A's valid CSRF field: 404, and nothing changed.
    let csrf = dash.csrf().await;
    let url_c = rx.url("/c");
    let posts: Vec<(String, Vec<(&str, &str)>)> = vec![
        (
            format!("/app/{b}/webhooks"),
            vec![("csrf", &csrf), ("enabled", "on"), ("url", &url_c)],
        ),
        (
            format!("/app/{b}/webhooks"),
            vec![("csrf", &csrf), ("url", &url_c)],
        ),
        (
            format!("/app/{b}/webhooks/secret/rotate"),
            vec![("csrf", &csrf)],
        ),
        (
            format!("/app/{b}/quotation-secret/rotate"),
            vec![("csrf", &csrf)],
        ),
        (format!("/app/{b}/webhooks/test"), vec![("csrf", &csrf)]),
        (
            format!("/app/{b}/events/{msg_b}/resend"),
            vec![("csrf", &csrf), ("endpoint_id", "webhooks-plugin")],
        ),
        (
            format!("/app/{a}/events/{msg_b}/resend"),
            vec![("csrf", &csrf), ("endpoint_id", "webhooks-plugin")],
        ),
    ];
    for (path, fields) in &posts {
        let p = dash.post(path, fields).await;
        assert_eq!(p.status, StatusCode::NOT_FOUND, "POST {path}: {}", p.body);
    }
    assert_eq!(plugin(&api, &b).await, before_b);
    assert_eq!(
        api.get_ok(&format!("/api/v1/app/{b}/quotation-secret"))
            .await,
        qs_b
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.deliveries().len(), 2, "no test event, no resend");
    assert!(rx.at("/c").is_empty());
}

#[tokio::test]
async fn bad_urls_are_rejected_with_a_visible_message_and_change_nothing() {
    let server = Server::start(ServerOpts::dev()).await;
    let api = server.api();
    let app = api.app("Shop").await;
    let dash = Dash::login(&server.url, &server.token).await;
    let csrf = dash.csrf().await;
    let path = format!("/app/{app}/webhooks");

    // Not configured yet: a bad URL creates nothing.
    for bad in ["not a url", "ftp://erp.example.com/hook", "https://", ""] {
        let p = dash
            .post(&path, &[("csrf", &csrf), ("enabled", "on"), ("url", bad)])
            .await;
        assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad:?}");
        assert!(p.body.contains(r#"id="url-error""#), "{bad:?}: {}", p.body);
        assert!(p.body.contains(r#"role="alert""#));
        assert!(p.body.contains(r#"aria-invalid="true""#));
        assert!(
            p.body.contains("This URL cannot be used") || p.body.contains("Enter the URL"),
            "{}",
            p.body
        );
        assert_eq!(
            plugin(&api, &app).await["endpointId"],
            Value::Null,
            "{bad:?}"
        );
    }
    // The message names the problem and the typed value is kept.
    let p = dash
        .post(
            &path,
            &[
                ("csrf", &csrf),
                ("enabled", "on"),
                ("url", "ftp://erp.example.com/hook"),
            ],
        )
        .await;
    assert!(
        p.body.contains("scheme must be http or https"),
        "{}",
        p.body
    );
    assert!(p.body.contains(r#"value="ftp://erp.example.com/hook""#));

    // Configured: a bad URL leaves URL and state as they were.
    let good = "https://erp.example.com/hook";
    let p = dash
        .post(&path, &[("csrf", &csrf), ("enabled", "on"), ("url", good)])
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    let before = plugin(&api, &app).await;
    assert_eq!(before["url"], good);
    assert_eq!(before["enabled"], true);
    let p = dash
        .post(&path, &[("csrf", &csrf), ("url", "javascript:alert(1)")])
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(p.body.contains("This URL cannot be used"));
    assert_eq!(plugin(&api, &app).await, before);

    // An http:// URL is accepted but marked insecure.
    let p = dash
        .post(
            &path,
            &[
                ("csrf", &csrf),
                ("enabled", "on"),
                ("url", "http://erp.example.com/hook"),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    let page = dash.get(&path).await;
    assert!(page.body.contains("insecure"), "{}", page.body);
    assert!(
        dash.get(&format!("/app/{app}"))
            .await
            .body
            .contains("insecure (http)")
    );
}

#[tokio::test]
async fn test_event_log_attempts_resend_health_and_quotation_downloads() {
    let server = Server::start(ServerOpts::dev().env("SKYHOOK_RETRY_SCHEDULE", "1h")).await;
    let rx = Receiver::start().await;
    let api = server.api();
    let app = api.app("Shop").await;
    let dash = Dash::login(&server.url, &server.token).await;
    let csrf = dash.csrf().await;

    // Enable the plugin from the dashboard, then send a test event.
    let p = dash
        .post(
            &format!("/app/{app}/webhooks"),
            &[("csrf", &csrf), ("enabled", "on"), ("url", &rx.url("/erp"))],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    assert_eq!(plugin(&api, &app).await["enabled"], true);
    let p = dash
        .post(&format!("/app/{app}/webhooks/test"), &[("csrf", &csrf)])
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    let msg = p
        .location
        .split("test=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_string();
    let got = rx.wait_for("/erp", 1).await;
    let body = got[0].json();
    assert_eq!(body["type"], "quotation.created");
    assert_eq!(body["test"], true);
    assert_eq!(
        body["projectUrl"],
        format!("{}/projects/{app}", server.url).as_str()
    );
    assert_eq!(got[0].header("webhook-id"), msg);

    // The plugin page shows the outcome.
    let page = eventually("test outcome", Duration::from_secs(20), || async {
        let p = dash.get(&p.location).await;
        p.body.contains(r#"data-status="success""#).then_some(p)
    })
    .await;
    assert!(page.body.contains("HTTP 200"), "{}", page.body);

    // A failing event: the log, the filter, the message page with the response body.
    rx.script([common::Reply::Body(503, "ERP down for maintenance".into())]);
    let failed = api
        .message(&app, "order.paid", json!({"order": 42, "items": ["a"]}))
        .await;
    rx.wait_for("/erp", 2).await;
    // Until the attempt is recorded the delivery is in flight (also shown as pending):
    // wait for its retry to be scheduled.
    let log = eventually("failure in the log", Duration::from_secs(20), || async {
        let p = dash.get(&format!("/app/{app}/events")).await;
        (p.body.contains(r#"data-status="pending""#) && p.body.contains("next retry")).then_some(p)
    })
    .await;
    let (i_failed, i_test) = (
        log.body.find(&failed).unwrap(),
        log.body.find(&msg).unwrap(),
    );
    assert!(i_failed < i_test, "newest first");
    let only_pending = dash.get(&format!("/app/{app}/events?status=pending")).await;
    assert!(only_pending.body.contains(&failed) && !only_pending.body.contains(&msg));
    let only_success = dash.get(&format!("/app/{app}/events?status=success")).await;
    assert!(!only_success.body.contains(&failed) && only_success.body.contains(&msg));
    let by_type = dash
        .get(&format!("/app/{app}/events?event_type=order.paid"))
        .await;
    assert!(by_type.body.contains(&failed) && !by_type.body.contains(&msg));

    let page = dash.get(&format!("/app/{app}/events/{failed}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("HTTP 503"), "{}", page.body);
    assert!(page.body.contains("ERP down for maintenance"));
    assert!(
        ["&#34;", "&quot;"]
            .iter()
            .any(|q| page.body.contains(&format!("\n  {q}order{q}: 42"))),
        "pretty-printed payload: {}",
        page.body
    );

    // Resend: a new (manual) attempt appears.
    let ep = plugin(&api, &app).await["endpointId"]
        .as_str()
        .unwrap()
        .to_string();
    let p = dash
        .post(
            &format!("/app/{app}/events/{failed}/resend"),
            &[("csrf", &csrf), ("endpoint_id", &ep)],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    rx.wait_for("/erp", 3).await;
    let page = eventually("resent attempt", Duration::from_secs(20), || async {
        let p = dash.get(&format!("/app/{app}/events/{failed}")).await;
        p.body.contains("HTTP 200").then_some(p)
    })
    .await;
    assert_eq!(
        page.body.matches("class=\"card attempt ").count(),
        2,
        "{}",
        page.body
    );
    assert!(
        page.body.contains("HTTP 503"),
        "the failure stays in the history"
    );

    // Pagination: 30 more events, 25 per page, the next page goes on from there.
    for i in 0..30 {
        api.message(&app, "bulk.event", json!({"i": i})).await;
    }
    let first = dash
        .get(&format!("/app/{app}/events?event_type=bulk.event"))
        .await;
    assert_eq!(first.body.matches("<code>bulk.event</code>").count(), 25);
    let i = first.body.find("rel=\"next\"").expect("an older page");
    let href_start = first.body[..i].rfind("href=\"").unwrap() + 6;
    let href = first.body[href_start..i]
        .trim_end_matches("\" ")
        .replace("&#38;", "&")
        .replace("&amp;", "&");
    let second = dash.get(&href).await;
    assert_eq!(
        second.body.matches("<code>bulk.event</code>").count(),
        5,
        "{href}"
    );

    // Health: the plugin's card with its chart.
    let overview = dash.get(&format!("/app/{app}")).await;
    assert!(overview.body.contains("<svg class=\"chart\""));
    assert!(overview.body.contains("Success rate"));
    assert!(
        overview
            .body
            .contains(&format!("{}/projects/{app}", server.url))
    );

    // Quotations: list, detail, download through the session.
    let (status, q) = Api::read(
        api.raw(reqwest::Method::POST, &format!("/projects/{app}/quotations"))
            .header("content-type", "application/json")
            .body(
                json!({"customer": {"name": "Ada", "email": "ada@example.com"}, "files": [
                    {"name": "drawing.txt", "contentType": "text/plain", "contentBase64": "aGVsbG8gZHJhd2luZw=="}]})
                .to_string(),
            ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{q}");
    let (qid, fid) = (
        q["id"].as_str().unwrap(),
        q["files"][0]["id"].as_str().unwrap(),
    );
    let list = dash.get(&format!("/app/{app}/quotations")).await;
    assert!(list.body.contains(qid) && list.body.contains("Ada · ada@example.com"));
    let detail = dash.get(&format!("/app/{app}/quotations/{qid}")).await;
    assert!(detail.body.contains(&format!("/app/{app}/files/{fid}")));
    let file = dash.get(&format!("/app/{app}/files/{fid}")).await;
    assert_eq!(file.status, StatusCode::OK);
    assert_eq!(file.body, "hello drawing");
    let anon = Dash::new(&server.url)
        .get(&format!("/app/{app}/files/{fid}"))
        .await;
    assert_eq!(
        anon.status,
        StatusCode::SEE_OTHER,
        "a download needs a session"
    );
}
