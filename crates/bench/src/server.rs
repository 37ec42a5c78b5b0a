//! The server under test: a spawned `skyhook serve` or a running one, and the
//! Svix-compatible API calls the scenarios make.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use base64::prelude::{BASE64_STANDARD, Engine as _};
use bytes::Bytes;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// How to start `skyhook serve`.
#[derive(Debug, Clone)]
pub struct SpawnSpec {
    pub bin: PathBuf,
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    pub token: String,
    /// `SKYHOOK_MAIN_KEY`: nodes sharing a database must seal secrets with the same key.
    pub main_key: String,
    /// `SKYHOOK_NODE_ROLES`, when not the default (both).
    pub roles: Option<String>,
}

/// A `skyhook serve` process this tool started; stopped (SIGTERM, then SIGKILL) on drop.
pub struct Spawned {
    child: Option<Child>,
    pub pid: u32,
    /// The `http://ADDR` it printed.
    pub url: String,
    /// Spawn → the "listening" line.
    pub listening: Duration,
    /// Spawn → the first successful `GET /api/v1/health`.
    pub startup: Duration,
    pub log: PathBuf,
    pub spawned_at: Instant,
}

/// The line `skyhook serve` prints once it is bound (also on worker-only nodes).
pub fn parse_listening_line(line: &str) -> Option<&str> {
    line.trim()
        .strip_prefix("Skyhook listening on ")
        .filter(|u| u.starts_with("http://") || u.starts_with("https://"))
}

/// `VmHWM` (peak resident set) of `pid`, in KiB.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_vm_hwm(&status)
}

fn parse_vm_hwm(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// CPU time (user and system, all threads) `pid` has used so far, in seconds; `self`
/// for this process.
pub fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_cpu_ticks(&stat).map(|ticks| ticks as f64 / USER_HZ)
}

/// The unit of `/proc/*/stat` times: fixed at 100 a second by the kernel's ABI
/// (`USER_HZ`), whatever the kernel's own tick rate.
const USER_HZ: f64 = 100.0;

/// `utime` + `stime` (fields 14 and 15) of a `/proc/*/stat` line. The command name
/// (field 2) is in parentheses and may hold spaces, so fields are counted after it.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

impl SpawnSpec {
    /// Starts the server and waits until it answers health checks (at most 60 s).
    pub async fn spawn(&self) -> anyhow::Result<Spawned> {
        if !self.bin.exists() {
            bail!(
                "no skyhook binary at {} (build it with `cargo build --release -p skyhook`, or pass --skyhook-bin)",
                self.bin.display()
            );
        }
        std::fs::create_dir_all(&self.data_dir)?;
        let db = self
            .database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("skyhook.db").display()));
        let n = std::fs::read_dir(&self.data_dir)?.count();
        let log = self.data_dir.join(format!("server-{n}.log"));
        let log_file = std::fs::File::create(&log)?;
        let mut cmd = Command::new(&self.bin);
        cmd.arg("serve")
            .args(["--listen", "127.0.0.1:0", "--dev"])
            .args(["--admin-token", &self.token])
            .args(["--database-url", &db])
            .env("SKYHOOK_MAIN_KEY", &self.main_key)
            // No stray skyhook.toml is picked up from here.
            .current_dir(&self.data_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file)
            .kill_on_drop(true);
        match &self.roles {
            Some(r) => cmd.env("SKYHOOK_NODE_ROLES", r),
            None => cmd.env_remove("SKYHOOK_NODE_ROLES"),
        };
        let spawned_at = Instant::now();
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting {}", self.bin.display()))?;
        let pid = child.id().context("the server exited at once")?;
        let stdout = child.stdout.take().expect("piped");
        let mut lines = BufReader::new(stdout).lines();
        let url = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await? {
                if let Some(url) = parse_listening_line(&line) {
                    return Ok(url.to_string());
                }
            }
            bail!(
                "the server exited without a listening line; see {}",
                log.display()
            )
        })
        .await
        .with_context(|| format!("no listening line within 60 s; see {}", log.display()))??;
        let listening = spawned_at.elapsed();
        // Keep draining stdout so the server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let http = reqwest::Client::builder().no_proxy().build()?;
        let health = format!("{url}/api/v1/health");
        let deadline = spawned_at + Duration::from_secs(60);
        let startup = loop {
            if let Ok(r) = http.get(&health).send().await
                && r.status().is_success()
            {
                break spawned_at.elapsed();
            }
            if Instant::now() > deadline {
                bail!("{health} did not answer within 60 s; see {}", log.display());
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        };
        Ok(Spawned {
            child: Some(child),
            pid,
            url,
            listening,
            startup,
            log,
            spawned_at,
        })
    }
}

impl Spawned {
    /// CPU time used so far, in seconds.
    pub fn cpu_seconds(&self) -> Option<f64> {
        cpu_seconds(&self.pid.to_string())
    }

    /// Peak RSS so far, in MiB (3 decimals).
    pub fn peak_rss_mib(&self) -> Option<f64> {
        peak_rss_kib(self.pid).map(|k| crate::stats::round3(k as f64 / 1024.0))
    }

    /// SIGTERM, then SIGKILL after `grace`.
    pub async fn stop(&mut self, grace: Duration) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        std::process::Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()
            .ok();
        if tokio::time::timeout(grace, child.wait()).await.is_err() {
            child.kill().await.ok();
        }
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            child.start_kill().ok();
        }
    }
}

/// A fresh temporary data directory, removed on drop unless kept.
pub struct DataDir {
    _guard: Option<tempfile::TempDir>,
    pub path: PathBuf,
}

impl DataDir {
    pub fn new(keep: bool) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("skyhook-bench-")
            .tempdir()?;
        if keep {
            let path = dir.keep();
            eprintln!("data dir kept: {}", path.display());
            return Ok(Self { _guard: None, path });
        }
        Ok(Self {
            path: dir.path().to_path_buf(),
            _guard: Some(dir),
        })
    }
}

/// The Svix-compatible API of the server under test.
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    /// Message sends to a plain-HTTP server: hyper's pooled client without reqwest's
    /// layers, which parsed each request's URL twice (redirect policy, response). A send
    /// cost about 49,000 instructions through reqwest and 19,000 through this (callgrind),
    /// on the box the server shares.
    plain: PlainClient,
    base: String,
    auth: HeaderValue,
}

type PlainClient = hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    http_body_util::Full<Bytes>,
>;

/// Where one application's messages go, prepared once for all of its sends (parsing
/// the URL for each send was 8% of the bench's CPU).
#[derive(Debug, Clone)]
pub struct MessageUrl {
    url: reqwest::Url,
    /// The same, for the plain client; `None` for HTTPS, which goes through reqwest.
    plain: Option<hyper::Uri>,
}

#[derive(Deserialize)]
struct WithId {
    id: String,
}

/// `http://host:port` or `http://host:port/api/v1` → `http://host:port/api/v1`.
pub fn api_base(server: &str) -> String {
    let s = server.trim_end_matches('/');
    if s.ends_with("/api/v1") {
        s.to_string()
    } else {
        format!("{s}/api/v1")
    }
}

impl Api {
    /// A client keeping up to `connections` keep-alive HTTP/1.1 connections.
    pub fn new(server: &str, token: &str, connections: usize) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .no_proxy()
            .http1_only()
            .tcp_nodelay(true)
            .pool_max_idle_per_host(connections.max(1))
            .pool_idle_timeout(Duration::from_secs(90))
            .timeout(Duration::from_secs(60))
            .build()?;
        let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
        connector.set_nodelay(true);
        let plain =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .pool_max_idle_per_host(connections.max(1))
                .pool_idle_timeout(Duration::from_secs(90))
                .pool_timer(hyper_util::rt::TokioTimer::new())
                .build(connector);
        Ok(Self {
            http,
            plain,
            base: api_base(server),
            auth: HeaderValue::from_str(&format!("Bearer {token}"))?,
        })
    }

    async fn post_json(&self, path: &str, body: Bytes) -> anyhow::Result<(u16, Bytes)> {
        let url = reqwest::Url::parse(&format!("{}{path}", self.base))?;
        self.post_to(url, body).await
    }

    async fn post_to(&self, url: reqwest::Url, body: Bytes) -> anyhow::Result<(u16, Bytes)> {
        let r = self
            .http
            .post(url)
            .header(AUTHORIZATION, self.auth.clone())
            .header(CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await?;
        let status = r.status().as_u16();
        Ok((status, r.bytes().await?))
    }

    async fn post_plain(&self, uri: &hyper::Uri, body: Bytes) -> anyhow::Result<(u16, Bytes)> {
        use http_body_util::BodyExt;
        let req = hyper::Request::post(uri.clone())
            .header(AUTHORIZATION, self.auth.clone())
            .header(CONTENT_TYPE, "application/json")
            .body(http_body_util::Full::new(body))?;
        let resp = tokio::time::timeout(Duration::from_secs(60), async {
            let resp = self.plain.request(req).await?;
            let status = resp.status().as_u16();
            anyhow::Ok((status, resp.into_body().collect().await?.to_bytes()))
        })
        .await??;
        Ok(resp)
    }

    async fn create(&self, path: &str, body: serde_json::Value) -> anyhow::Result<String> {
        let (status, body) = self
            .post_json(path, Bytes::from(serde_json::to_vec(&body)?))
            .await?;
        if !(200..300).contains(&status) {
            bail!(
                "POST {path}: HTTP {status}: {}",
                String::from_utf8_lossy(&body)
            );
        }
        Ok(serde_json::from_slice::<WithId>(&body)?.id)
    }

    /// `GET /health` answered 2xx.
    pub async fn healthy(&self) -> bool {
        matches!(self.http.get(format!("{}/health", self.base)).send().await, Ok(r) if r.status().is_success())
    }

    /// A new application; returns its id.
    pub async fn create_app(&self, name: &str) -> anyhow::Result<String> {
        self.create("/app", serde_json::json!({ "name": name }))
            .await
    }

    /// An event type; an existing one (409) is fine.
    pub async fn ensure_event_type(&self, name: &str) -> anyhow::Result<()> {
        let body = serde_json::json!({ "name": name, "description": "skyhook-bench" });
        let (status, body) = self
            .post_json("/event-type", Bytes::from(serde_json::to_vec(&body)?))
            .await?;
        if (200..300).contains(&status) || status == 409 {
            Ok(())
        } else {
            bail!(
                "POST /event-type: HTTP {status}: {}",
                String::from_utf8_lossy(&body)
            )
        }
    }

    /// An endpoint of `app` at `url`, optionally limited to `event_types`; returns its id.
    pub async fn create_endpoint(
        &self,
        app: &str,
        url: &str,
        event_types: Option<&[&str]>,
    ) -> anyhow::Result<String> {
        let mut body = serde_json::json!({ "url": url, "description": "skyhook-bench" });
        if let Some(t) = event_types {
            body["filterTypes"] = serde_json::json!(t);
        }
        self.create(&format!("/app/{app}/endpoint"), body).await
    }

    /// Where the messages of `app` are sent.
    pub fn message_url(&self, app: &str) -> anyhow::Result<MessageUrl> {
        let url = reqwest::Url::parse(&format!("{}/app/{app}/msg", self.base))?;
        let plain = match url.scheme() {
            "http" => Some(url.as_str().parse()?),
            _ => None,
        };
        Ok(MessageUrl { url, plain })
    }

    /// Sends one message (the whole request body, already encoded) to `url` (its
    /// application's [`message_url`](Self::message_url)); returns its id.
    pub async fn send(&self, url: &MessageUrl, body: Bytes) -> anyhow::Result<String> {
        let (status, answer) = match &url.plain {
            Some(uri) => self.post_plain(uri, body).await?,
            None => self.post_to(url.url.clone(), body).await?,
        };
        if status != 202 && status != 200 && status != 201 {
            bail!("HTTP {status}: {}", String::from_utf8_lossy(&answer));
        }
        Ok(serde_json::from_slice::<WithId>(&answer)?.id)
    }
}

/// The request body of message `seq`: `{"eventType", "payload"}` with a payload of
/// exactly `payload_bytes` bytes of JSON (at least 32).
pub fn message_body(event_type: &str, seq: u64, payload_bytes: usize) -> Bytes {
    let head = format!("{{\"seq\":{seq},\"pad\":\"");
    let pad = payload_bytes.saturating_sub(head.len() + 2);
    let mut body = String::with_capacity(payload_bytes + event_type.len() + 32);
    body.push_str("{\"eventType\":\"");
    body.push_str(event_type);
    body.push_str("\",\"payload\":");
    body.push_str(&head);
    body.extend(std::iter::repeat_n('x', pad));
    body.push_str("\"}}");
    Bytes::from(body)
}

/// A random lowercase tag, for unique names and tokens.
pub fn random_tag() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..12)
        .map(|_| (b'a' + rng.random_range(0..26u8)) as char)
        .collect()
}

/// `$SKYHOOK_MAIN_KEY`, or a new random one (32 bytes, base64).
pub fn main_key() -> String {
    std::env::var("SKYHOOK_MAIN_KEY")
        .ok()
        .filter(|k| !k.trim().is_empty())
        .unwrap_or_else(|| BASE64_STANDARD.encode(rand::random::<[u8; 32]>()))
}

/// Where the repository's `target/release/skyhook` is (or `$CARGO_TARGET_DIR/release/skyhook`).
pub fn default_skyhook_bin() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        let p = Path::new(&dir).join("release/skyhook");
        if p.exists() {
            return p;
        }
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/release/skyhook")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listening_line() {
        assert_eq!(
            parse_listening_line("Skyhook listening on http://127.0.0.1:40123"),
            Some("http://127.0.0.1:40123")
        );
        assert_eq!(parse_listening_line("API: http://127.0.0.1:1/api/v1"), None);
    }

    #[test]
    fn vm_hwm() {
        let status = "Name:\tskyhook\nVmPeak:\t  100 kB\nVmHWM:\t   23456 kB\nVmRSS:\t 20000 kB\n";
        assert_eq!(parse_vm_hwm(status), Some(23456));
        assert_eq!(parse_vm_hwm("Name: x\n"), None);
        assert!(peak_rss_kib(std::process::id()).unwrap() > 0);
    }

    #[test]
    fn cpu_ticks() {
        let stat = "4242 (sky hook) S 1 2 3 0 -1 4194560 900 0 0 0 1234 567 0 0 20 0 4 0 99";
        assert_eq!(parse_cpu_ticks(stat), Some(1234 + 567));
        assert_eq!(parse_cpu_ticks("4242 (x) S 1"), None);
        let spin = Instant::now();
        while spin.elapsed() < Duration::from_millis(50) {
            std::hint::black_box(spin.elapsed());
        }
        assert!(cpu_seconds("self").unwrap() > 0.0);
    }

    #[test]
    fn bases() {
        assert_eq!(api_base("http://h:1"), "http://h:1/api/v1");
        assert_eq!(api_base("http://h:1/"), "http://h:1/api/v1");
        assert_eq!(api_base("http://h:1/api/v1/"), "http://h:1/api/v1");
    }

    #[test]
    fn payloads_are_exactly_the_requested_size() {
        for seq in [0, 7, 123_456_789] {
            let body = message_body("bench.e2e", seq, 256);
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(v["eventType"], "bench.e2e");
            assert_eq!(v["payload"]["seq"], seq);
            assert_eq!(serde_json::to_string(&v["payload"]).unwrap().len(), 256);
        }
    }
}
