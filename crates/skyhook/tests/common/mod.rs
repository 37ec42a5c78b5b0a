//! Test harness: the real `skyhook` binary on a random port over a fresh database (a
//! SQLite file, or a PostgreSQL database of its own: [`Backend`]), a real HTTP
//! receiver, and polling with deadlines (never fixed sleeps).
#![allow(dead_code)] // each test binary uses a different part of the harness

use std::collections::VecDeque;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A running `skyhook serve`.
pub struct Server {
    child: Child,
    pub url: String,
    pub token: String,
    pub dir: Arc<Home>,
    opts: ServerOpts,
}

/// How to start a server.
#[derive(Clone, Default)]
pub struct ServerOpts {
    /// `--dev` (loopback deliveries allowed).
    pub dev: bool,
    /// Extra `SKYHOOK_*` variables.
    pub env: Vec<(String, String)>,
    /// The database a fresh [`Server::start`] gets.
    pub backend: Backend,
    /// Names the node's log file (`server-{name}.log`), for several nodes in one test.
    pub name: Option<String>,
}

impl ServerOpts {
    pub fn dev() -> Self {
        Self {
            dev: true,
            ..Default::default()
        }
    }

    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.to_string(), v.to_string()));
        self
    }

    /// On this backend.
    pub fn on(mut self, backend: Backend) -> Self {
        self.backend = backend;
        self
    }

    /// A named node (its own log file).
    pub fn named(mut self, name: &str) -> Self {
        self.name = Some(name.to_string());
        self
    }

    fn log_file(&self) -> String {
        match &self.name {
            Some(n) => format!("server-{n}.log"),
            None => "server.log".into(),
        }
    }
}

impl Server {
    pub async fn start(opts: ServerOpts) -> Self {
        let dir = Arc::new(Home::new(opts.backend).await);
        Self::start_in(dir, opts).await
    }

    /// Starts a server on the database of `dir` (a restart when one ran there before,
    /// another node when one runs there now).
    pub async fn start_in(dir: Arc<Home>, opts: ServerOpts) -> Self {
        let token = "sk_test_admin_token_0123456789".to_string();
        let db = dir.database_url.clone();
        let log_path = dir.path().join(opts.log_file());
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_skyhook"));
        cmd.arg("serve");
        if opts.dev {
            cmd.arg("--dev");
        }
        cmd.args([
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            &db,
            "--admin-token",
            &token,
        ])
        .env(
            "SKYHOOK_LOG",
            "info,tower_http=warn,sqlx::postgres::notice=warn",
        )
        // Several test servers share one PostgreSQL: keep each one's pool small.
        .env("SKYHOOK_DATABASE_POOL_SIZE", "6")
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .kill_on_drop(true);
        for (k, v) in dir.env() {
            cmd.env(k, v);
        }
        for (k, v) in &opts.env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn skyhook");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let url = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(addr) = line.strip_prefix("Skyhook listening on ") {
                    return addr.trim().to_string();
                }
            }
            panic!(
                "skyhook exited before listening; see {}",
                log_path.display()
            );
        })
        .await
        .expect("skyhook did not start within 30 s");
        // Keep draining stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self {
            child,
            url,
            token,
            dir,
            opts,
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id().expect("running")
    }

    pub fn api(&self) -> Api {
        Api::new(&self.url, &self.token)
    }

    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("skyhook.db")
    }

    /// The `DATABASE_URL` this server runs on (for CLI commands on the same database).
    pub fn database_url(&self) -> &str {
        &self.dir.database_url
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join(self.opts.log_file())).unwrap_or_default()
    }

    /// SIGTERM and wait for a clean exit; returns the exit code.
    pub async fn stop(mut self) -> i32 {
        let pid = self.child.id().expect("running");
        std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap();
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("exit after SIGTERM")
            .unwrap();
        status.code().unwrap_or(-1)
    }

    /// SIGKILL: a crash.
    pub async fn kill(mut self) {
        self.child.kill().await.unwrap();
    }

    /// Stops this server and starts a new one on the same database.
    pub async fn restart(self, opts: ServerOpts) -> Self {
        let dir = self.dir.clone();
        assert_eq!(self.stop().await, 0, "clean exit");
        Self::start_in(dir, opts).await
    }

    pub fn opts(&self) -> &ServerOpts {
        &self.opts
    }
}

/// A JSON client for the API.
#[derive(Clone)]
pub struct Api {
    client: reqwest::Client,
    pub base: String,
    pub token: String,
}

impl Api {
    pub fn new(base: &str, token: &str) -> Self {
        Self {
            client: reqwest::Client::new(),
            base: base.to_string(),
            token: token.to_string(),
        }
    }

    pub fn with_token(&self, token: &str) -> Self {
        Self {
            token: token.to_string(),
            ..self.clone()
        }
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        Self::read(req).await
    }

    pub async fn read(req: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let resp = req.send().await.expect("request");
        let status = StatusCode::from_u16(resp.status().as_u16()).unwrap();
        let text = resp.text().await.unwrap();
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, json)
    }

    /// A raw request (for malformed bodies and custom headers).
    pub fn raw(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(reqwest::Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(reqwest::Method::PUT, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(reqwest::Method::PATCH, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.send(reqwest::Method::DELETE, path, None).await
    }

    /// POST that must succeed with `expect`; returns the body.
    pub async fn post_ok(&self, path: &str, body: Value, expect: u16) -> Value {
        let (status, json) = self.post(path, body).await;
        assert_eq!(status.as_u16(), expect, "POST {path}: {json}");
        json
    }

    pub async fn get_ok(&self, path: &str) -> Value {
        let (status, json) = self.get(path).await;
        assert_eq!(status, StatusCode::OK, "GET {path}: {json}");
        json
    }

    /// Creates an application and returns its id.
    pub async fn app(&self, name: &str) -> String {
        let json = self
            .post_ok("/api/v1/app", serde_json::json!({"name": name}), 201)
            .await;
        json["id"].as_str().unwrap().to_string()
    }

    /// Creates an endpoint from `spec` and returns (id, secret).
    pub async fn endpoint(&self, app: &str, spec: Value) -> (String, String) {
        let ep = self
            .post_ok(&format!("/api/v1/app/{app}/endpoint"), spec, 201)
            .await;
        let id = ep["id"].as_str().unwrap().to_string();
        let secret = self
            .get_ok(&format!("/api/v1/app/{app}/endpoint/{id}/secret"))
            .await;
        (id, secret["key"].as_str().unwrap().to_string())
    }

    /// Sends a message and returns its id.
    pub async fn message(&self, app: &str, event_type: &str, payload: Value) -> String {
        let json = self
            .post_ok(
                &format!("/api/v1/app/{app}/msg"),
                serde_json::json!({"eventType": event_type, "payload": payload}),
                202,
            )
            .await;
        json["id"].as_str().unwrap().to_string()
    }

    /// The attempts of a message, oldest first.
    pub async fn attempts(&self, app: &str, msg: &str) -> Vec<Value> {
        let json = self
            .get_ok(&format!(
                "/api/v1/app/{app}/attempt/msg/{msg}?order=ascending"
            ))
            .await;
        json["data"].as_array().unwrap().clone()
    }

    /// The status of a message at each of its endpoints.
    pub async fn destinations(&self, app: &str, msg: &str) -> Vec<Value> {
        let json = self
            .get_ok(&format!("/api/v1/app/{app}/msg/{msg}/endpoint"))
            .await;
        json["data"].as_array().unwrap().clone()
    }
}

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub at: Instant,
}

impl Delivery {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// How the receiver answers one request.
#[derive(Debug, Clone)]
pub enum Reply {
    Status(u16),
    /// Answer 200 after this long.
    Slow(Duration),
    /// 302 to another URL.
    Redirect,
    /// This status with this body.
    Body(u16, String),
    /// This status with one extra header.
    Header(u16, &'static str, &'static str),
}

/// A real HTTP server that records deliveries and answers from a script (then 200).
#[derive(Clone)]
pub struct Receiver {
    pub base: String,
    got: Arc<Mutex<Vec<Delivery>>>,
    script: Arc<Mutex<VecDeque<Reply>>>,
    default: Arc<Mutex<Reply>>,
}

impl Receiver {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let this = Self {
            base,
            got: Default::default(),
            script: Default::default(),
            default: Arc::new(Mutex::new(Reply::Status(200))),
        };
        let state = this.clone();
        let app = axum::Router::new().fallback(
            move |uri: axum::http::Uri, headers: HeaderMap, body: Bytes| {
                let state = state.clone();
                async move { state.handle(uri.path().to_string(), headers, body).await }
            },
        );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        this
    }

    async fn handle(
        &self,
        path: String,
        headers: HeaderMap,
        body: Bytes,
    ) -> axum::response::Response {
        use axum::response::IntoResponse;
        let reply = self
            .script
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or_else(|| self.default.lock().unwrap().clone());
        if let Reply::Slow(d) = reply {
            tokio::time::sleep(d).await;
        }
        self.got.lock().unwrap().push(Delivery {
            path,
            headers,
            body,
            at: Instant::now(),
        });
        match reply {
            Reply::Status(s) => StatusCode::from_u16(s).unwrap().into_response(),
            Reply::Slow(_) => StatusCode::OK.into_response(),
            Reply::Redirect => (
                StatusCode::FOUND,
                [("location", "http://127.0.0.1:1/elsewhere")],
            )
                .into_response(),
            Reply::Body(s, b) => (StatusCode::from_u16(s).unwrap(), b).into_response(),
            Reply::Header(s, k, v) => (StatusCode::from_u16(s).unwrap(), [(k, v)]).into_response(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Answers these, in order, before falling back to the default.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.script.lock().unwrap().extend(replies);
    }

    pub fn set_default(&self, reply: Reply) {
        *self.default.lock().unwrap() = reply;
    }

    pub fn deliveries(&self) -> Vec<Delivery> {
        self.got.lock().unwrap().clone()
    }

    pub fn at(&self, path: &str) -> Vec<Delivery> {
        self.deliveries()
            .into_iter()
            .filter(|d| d.path == path)
            .collect()
    }

    /// Waits until `n` deliveries reached `path`.
    pub async fn wait_for(&self, path: &str, n: usize) -> Vec<Delivery> {
        eventually(
            &format!("{n} deliveries at {path}"),
            Duration::from_secs(20),
            || async {
                let got = self.at(path);
                (got.len() >= n).then_some(got)
            },
        )
        .await
    }
}

/// Polls `f` until it yields a value, failing after `timeout`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until the message's delivery to every endpoint is finished (success or fail).
pub async fn settled(api: &Api, app: &str, msg: &str) -> Vec<Value> {
    eventually(
        &format!("message {msg} settled"),
        Duration::from_secs(30),
        || async {
            let d = api.destinations(app, msg).await;
            d.iter()
                .all(|x| x["status"] == 0 || x["status"] == 2)
                .then_some(d)
        },
    )
    .await
}

/// Whether an optional external dependency is present. Missing: the test is skipped
/// with a clear message, unless `SKYHOOK_TEST_STRICT=1` (CI), where it fails.
pub fn require(present: bool, what: &str) -> bool {
    skip_unless(
        present,
        &format!(
            "{what} is missing (run interop/setup.sh, or set SKYHOOK_TEST_STRICT=1 to make this fatal)"
        ),
    )
}

/// `true` when `ok`; otherwise prints `SKIPPED: {reason}` and returns `false`, or fails
/// under `SKYHOOK_TEST_STRICT=1`.
pub fn skip_unless(ok: bool, reason: &str) -> bool {
    if ok {
        return true;
    }
    let strict = std::env::var("SKYHOOK_TEST_STRICT").is_ok_and(|v| v == "1");
    assert!(!strict, "SKYHOOK_TEST_STRICT=1 but {reason}");
    eprintln!("SKIPPED: {reason}");
    false
}

/// The repository root.
pub fn repo_root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// The interop Python, if `interop/setup.sh` has run.
pub fn interop_python() -> Option<PathBuf> {
    let p = repo_root().join("interop/.venv/bin/python");
    p.exists().then_some(p)
}

/// Whether the npm interop packages are installed.
pub fn interop_node() -> bool {
    repo_root()
        .join("interop/node_modules/standardwebhooks")
        .exists()
}

/// The database a test server runs on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file in the test's temporary directory.
    #[default]
    Sqlite,
    /// A fresh database on the PostgreSQL at [`PG_HOST`], dropped after the test.
    Postgres,
}

/// Where the PostgreSQL tests expect a server (trust auth, user `postgres`).
pub const PG_HOST: &str = "127.0.0.1:5432";

impl Backend {
    /// Whether PostgreSQL accepts connections; prints `SKIPPED: …` when it does not
    /// (fatal under `SKYHOOK_TEST_STRICT=1`).
    pub fn postgres_ready() -> bool {
        let reachable =
            std::net::TcpStream::connect_timeout(&PG_HOST.parse().unwrap(), Duration::from_secs(2))
                .is_ok();
        skip_unless(
            reachable,
            &format!("PostgreSQL is not reachable at {PG_HOST}"),
        )
    }
}

/// A test's home: its temporary directory and its database, dropped together (a
/// PostgreSQL database with `DROP DATABASE … WITH (FORCE)`). Restarts and extra nodes
/// started in the same home share the database.
pub struct Home {
    tmp: tempfile::TempDir,
    pub database_url: String,
    pg_database: Option<String>,
}

impl Home {
    pub async fn new(backend: Backend) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        match backend {
            Backend::Sqlite => {
                let database_url = format!("sqlite://{}", tmp.path().join("skyhook.db").display());
                Self {
                    tmp,
                    database_url,
                    pg_database: None,
                }
            }
            Backend::Postgres => {
                let name = format!(
                    "skyhook_t_{}",
                    skyhook_domain::ids::random_base62(20).to_lowercase()
                );
                pg_admin(&format!("CREATE DATABASE {name}")).await;
                Self {
                    tmp,
                    database_url: format!("postgres://postgres@{PG_HOST}/{name}"),
                    pg_database: Some(name),
                }
            }
        }
    }

    pub fn path(&self) -> &Path {
        self.tmp.path()
    }

    /// Variables every process on this database needs (servers and CLI commands alike):
    /// on PostgreSQL, the `MAIN_KEY` all nodes share.
    pub fn env(&self) -> Vec<(&'static str, &'static str)> {
        match self.pg_database {
            Some(_) => vec![("SKYHOOK_MAIN_KEY", PG_TEST_MAIN_KEY)],
            None => vec![],
        }
    }
}

/// The `MAIN_KEY` of every PostgreSQL test database (bytes 0..32, base64).
pub const PG_TEST_MAIN_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

impl Drop for Home {
    fn drop(&mut self) {
        if let Some(name) = self.pg_database.take() {
            // Drop runs inside the test's runtime: use a thread with its own.
            std::thread::spawn(move || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap()
                    .block_on(pg_admin(&format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )));
            })
            .join()
            .ok();
        }
    }
}

/// Runs one statement on the `postgres` database as the superuser, retrying while
/// PostgreSQL restarts (some tests restart it).
pub async fn pg_admin(sql: &str) {
    use sqlx::{Connection, Executor};
    let url = format!("postgres://postgres@{PG_HOST}/postgres");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let result = async {
            let mut conn = sqlx::PgConnection::connect(&url).await?;
            conn.execute(sqlx::AssertSqlSafe(sql.to_string())).await?;
            conn.close().await
        }
        .await;
        match result {
            Ok(()) => return,
            Err(e) if Instant::now() < deadline => {
                eprintln!("{sql}: {e}; retrying");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(e) => panic!("{sql}: {e}"),
        }
    }
}

/// Turns `async fn name(backend: Backend)` test bodies into `sqlite::name` and
/// `postgres::name` tests; the PostgreSQL ones skip (or fail under
/// `SKYHOOK_TEST_STRICT=1`) when PostgreSQL is not reachable.
#[allow(unused_macros)]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(crate::common::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    if crate::common::Backend::postgres_ready() {
                        super::$name(crate::common::Backend::Postgres).await
                    }
                }
            )*
        }
    };
}
#[allow(unused_imports)]
pub(crate) use on_both_backends;
