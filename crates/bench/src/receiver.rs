//! The built-in receiver: a plain hyper HTTP/1.1 server on 127.0.0.1 that records the
//! `webhook-id` (or `svix-id`) and arrival time of every delivery.
//!
//! Endpoints are paths `/ep/{n}`; each may be scripted to answer another status or to
//! answer late (the slow-endpoint scenario). A second arrival of the same id at the same
//! path counts as a duplicate; only the first arrival's time is kept.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// Endpoint indices at or beyond this share one counter.
const MAX_ENDPOINTS: usize = 4096;

/// How one endpoint answers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Script {
    pub status: u16,
    pub delay: Duration,
}

impl Default for Script {
    fn default() -> Self {
        Self {
            status: 200,
            delay: Duration::ZERO,
        }
    }
}

#[derive(Default)]
struct Inner {
    /// First arrival per (endpoint, id).
    arrivals: Mutex<HashMap<(u32, Box<str>), Instant>>,
    scripts: RwLock<HashMap<u32, Script>>,
    unique: Vec<AtomicU64>,
    duplicates: AtomicU64,
    without_id: AtomicU64,
    requests: AtomicU64,
    connections: AtomicU64,
}

/// A running receiver; it stops when the runtime does.
#[derive(Clone)]
pub struct Receiver {
    addr: SocketAddr,
    inner: Arc<Inner>,
}

/// One endpoint's path on a receiver.
pub fn endpoint_path(ep: u32) -> String {
    format!("/ep/{ep}")
}

fn parse_endpoint(path: &str) -> u32 {
    path.strip_prefix("/ep/")
        .and_then(|n| n.parse().ok())
        .unwrap_or(u32::MAX)
}

impl Receiver {
    /// Binds 127.0.0.1:0 and serves until the runtime shuts down, with room for
    /// `expected` arrivals: a map that grows rehashes everything under its lock, which
    /// stalled every delivery (and the load generator's threads) for 50–300 ms at
    /// 115,000 and 230,000 arrivals, and showed up as the server's latency.
    pub async fn start(expected: usize) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let inner = Arc::new(Inner {
            arrivals: Mutex::new(HashMap::with_capacity(expected)),
            unique: (0..=MAX_ENDPOINTS).map(|_| AtomicU64::new(0)).collect(),
            ..Default::default()
        });
        let state = inner.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                stream.set_nodelay(true).ok();
                state.connections.fetch_add(1, Ordering::Relaxed);
                let state = state.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| handle(state.clone(), req));
                    hyper::server::conn::http1::Builder::new()
                        .keep_alive(true)
                        .serve_connection(TokioIo::new(stream), service)
                        .await
                        .ok();
                });
            }
        });
        Ok(Self { addr, inner })
    }

    /// `http://127.0.0.1:PORT/ep/{ep}`.
    pub fn url(&self, ep: u32) -> String {
        format!("http://{}{}", self.addr, endpoint_path(ep))
    }

    /// Makes endpoint `ep` answer per `script`.
    pub fn script(&self, ep: u32, script: Script) {
        self.inner.scripts.write().unwrap().insert(ep, script);
    }

    /// Distinct ids that reached endpoint `ep` so far.
    pub fn unique_at(&self, ep: u32) -> u64 {
        self.inner.unique[(ep as usize).min(MAX_ENDPOINTS)].load(Ordering::Relaxed)
    }

    /// Distinct (endpoint, id) pairs over the endpoints in `eps`.
    pub fn unique_over(&self, eps: &[u32]) -> u64 {
        eps.iter().map(|&e| self.unique_at(e)).sum()
    }

    /// Repeated (endpoint, id) arrivals so far.
    pub fn duplicates(&self) -> u64 {
        self.inner.duplicates.load(Ordering::Relaxed)
    }

    /// Requests that carried neither `webhook-id` nor `svix-id`.
    pub fn without_id(&self) -> u64 {
        self.inner.without_id.load(Ordering::Relaxed)
    }

    /// Every request received.
    pub fn requests(&self) -> u64 {
        self.inner.requests.load(Ordering::Relaxed)
    }

    /// TCP connections accepted so far (keep-alive reuse keeps this low).
    pub fn connections(&self) -> u64 {
        self.inner.connections.load(Ordering::Relaxed)
    }

    /// First-arrival time of `id` at endpoint `ep`.
    pub fn arrivals_at(&self, ep: u32) -> HashMap<Box<str>, Instant> {
        self.inner
            .arrivals
            .lock()
            .unwrap()
            .iter()
            .filter(|((e, _), _)| *e == ep)
            .map(|((_, id), t)| (id.clone(), *t))
            .collect()
    }

    /// Every first arrival: (endpoint, id) → time.
    pub fn all_arrivals(&self) -> HashMap<(u32, Box<str>), Instant> {
        self.inner.arrivals.lock().unwrap().clone()
    }

    /// Waits until `done()` holds, or `deadline`; returns whether it held.
    pub async fn wait_until(&self, deadline: Instant, mut done: impl FnMut(&Self) -> bool) -> bool {
        loop {
            if done(self) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

async fn handle(
    state: Arc<Inner>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let now = Instant::now();
    state.requests.fetch_add(1, Ordering::Relaxed);
    let ep = parse_endpoint(req.uri().path());
    let id: Option<Box<str>> = req
        .headers()
        .get("webhook-id")
        .or_else(|| req.headers().get("svix-id"))
        .and_then(|v| v.to_str().ok())
        .map(Box::from);
    // Read the whole body, as a real receiver would.
    req.into_body().collect().await.ok();
    match id {
        None => {
            state.without_id.fetch_add(1, Ordering::Relaxed);
        }
        Some(id) => {
            let first = {
                let mut map = state.arrivals.lock().unwrap();
                match map.entry((ep, id)) {
                    std::collections::hash_map::Entry::Occupied(_) => false,
                    std::collections::hash_map::Entry::Vacant(v) => {
                        v.insert(now);
                        true
                    }
                }
            };
            if first {
                state.unique[(ep as usize).min(MAX_ENDPOINTS)].fetch_add(1, Ordering::Relaxed);
            } else {
                state.duplicates.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    let script = state
        .scripts
        .read()
        .unwrap()
        .get(&ep)
        .copied()
        .unwrap_or_default();
    if !script.delay.is_zero() {
        tokio::time::sleep(script.delay).await;
    }
    let mut resp = Response::new(Full::new(Bytes::from_static(b"ok")));
    *resp.status_mut() = StatusCode::from_u16(script.status).unwrap_or(StatusCode::OK);
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_paths_round_trip() {
        assert_eq!(parse_endpoint(&endpoint_path(7)), 7);
        assert_eq!(parse_endpoint("/other"), u32::MAX);
        assert_eq!(parse_endpoint("/ep/x"), u32::MAX);
    }

    #[tokio::test]
    async fn makes_room_for_the_expected_arrivals_up_front() {
        let rx = Receiver::start(300_000).await.unwrap();
        assert!(rx.inner.arrivals.lock().unwrap().capacity() >= 300_000);
    }

    #[tokio::test]
    async fn records_ids_duplicates_and_scripts() {
        let rx = Receiver::start(8).await.unwrap();
        rx.script(
            2,
            Script {
                status: 503,
                delay: Duration::ZERO,
            },
        );
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        for (ep, header, id) in [
            (1, "webhook-id", "msg_a"),
            (1, "svix-id", "msg_b"),
            (1, "webhook-id", "msg_a"),
            (3, "webhook-id", "msg_a"),
        ] {
            let r = client
                .post(rx.url(ep))
                .header(header, id)
                .body("{}")
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
        }
        let r = client.post(rx.url(2)).body("{}").send().await.unwrap();
        assert_eq!(r.status(), 503);
        assert_eq!(rx.unique_at(1), 2);
        assert_eq!(rx.unique_over(&[1, 3]), 3);
        assert_eq!(rx.duplicates(), 1);
        assert_eq!(rx.without_id(), 1);
        assert_eq!(rx.requests(), 5);
        assert!(rx.connections() >= 1);
        assert_eq!(rx.arrivals_at(1).len(), 2);
        assert_eq!(rx.all_arrivals().len(), 3);
    }
}
