//! The outbound HTTP client and one delivery attempt.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER, USER_AGENT};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use skyhook_domain::clock::Millis;
use skyhook_domain::model::{Endpoint, Message};

use crate::guard::{Blocked, GuardedResolver, Policy, check_url};

/// At most this much of an answer is stored with the attempt.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// Endpoint URLs kept parsed; past this many the cache starts over.
const MAX_PARSED_URLS: usize = 4096;

/// What one attempt produced.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptResult {
    /// HTTP status, or 0 when no answer came.
    pub status_code: u16,
    /// The start of the answer body, or why there was no answer.
    pub response: String,
    /// Sending to last byte read.
    pub duration: Duration,
    /// What a 429 or 503 answer asked for with `Retry-After`.
    pub retry_after: Option<Duration>,
}

impl AttemptResult {
    /// A 2xx answer.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status_code)
    }
}

/// hyper's pooled client over TLS (rustls, the platform's verifier) or plain TCP, its
/// names resolved by the guard.
type Client = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<HttpConnector<GuardedResolver>>,
    Full<Bytes>,
>;

/// The client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// A certificate of `EXTRA_CA_CERTS` did not parse.
    #[error("extra CA certificates: {0}")]
    ExtraCerts(String),
    /// rustls refused the configuration.
    #[error("TLS set-up: {0}")]
    Tls(#[from] rustls::Error),
}

/// Sends deliveries: SSRF-guarded, no proxy, no redirects, a timeout per attempt.
///
/// hyper-util's client, not reqwest: reqwest parsed each request's URL twice more (its
/// redirect policy, its response) and wrapped it in redirect and retry layers a
/// delivery never uses, about a third of an attempt's instructions (docs/BENCHMARKS.md,
/// session 13).
#[derive(Clone)]
pub struct Sender {
    client: Client,
    policy: Arc<Policy>,
    timeout: Duration,
    user_agent: HeaderValue,
    /// Listen sessions of this process, for `skyhook-listen://` endpoints.
    listen: crate::listen::Hub,
    /// Endpoint URLs by their text, parsed and allowed by `policy`: parsing one per
    /// attempt (with its IDNA mapping of the host) was about 5% of the server's
    /// instructions per delivery. A URL's text is all its parse depends on, so an
    /// endpoint whose URL changes simply looks up its new text.
    urls: Arc<std::sync::Mutex<HashMap<String, hyper::Uri>>>,
}

impl Sender {
    /// A sender with `policy`, a per-attempt `timeout`, and CA certificates trusted
    /// besides the system roots (`EXTRA_CA_CERTS`, a PEM bundle) for private PKI.
    pub fn new(
        policy: Policy,
        timeout: Duration,
        extra_ca_pem: Option<&[u8]>,
    ) -> Result<Self, ClientError> {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        let policy = Arc::new(policy);
        let extra = match extra_ca_pem {
            Some(pem) => CertificateDer::pem_slice_iter(pem)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| ClientError::ExtraCerts(e.to_string()))?,
            None => Vec::new(),
        };
        let provider = rustls::crypto::CryptoProvider::get_default()
            .cloned()
            .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
        let verifier = if extra.is_empty() {
            rustls_platform_verifier::Verifier::new(provider.clone())?
        } else {
            rustls_platform_verifier::Verifier::new_with_extra_roots(extra, provider.clone())?
        };
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        let mut tcp = HttpConnector::new_with_resolver(GuardedResolver(policy.clone()));
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(Some(timeout.min(Duration::from_secs(10))));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_all_versions()
            .wrap_connector(tcp);
        // No proxy: a proxy would make the guarded resolver judge the proxy, not the
        // target. No redirects: a 3xx is the attempt's answer.
        let client = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            // As many idle connections as attempts may run at once on a node (256): many
            // endpoints may share one host, and with fewer, a burst to them closed and
            // reopened connections (fanout: 24,000 connections for 100,000 deliveries).
            .pool_max_idle_per_host(256)
            .pool_timer(TokioTimer::new())
            .build(connector);
        let user_agent = HeaderValue::from_str(&format!("Skyhook/{}", env!("CARGO_PKG_VERSION")))
            .expect("ascii");
        Ok(Self {
            client,
            policy,
            timeout,
            user_agent,
            listen: crate::listen::Hub::default(),
            urls: Arc::default(),
        })
    }

    /// Hands deliveries to `skyhook-listen://` endpoints to the sessions of `hub`.
    pub fn with_listen_hub(mut self, hub: crate::listen::Hub) -> Self {
        self.listen = hub;
        self
    }

    /// A listen session's delivery: the signed request goes to the session, not out.
    async fn hand_to_session(
        &self,
        session: &str,
        endpoint: &Endpoint,
        msg: &Message,
        now: Millis,
    ) -> Result<(u16, String, Option<Duration>), String> {
        let headers = self
            .headers(endpoint, msg, now)
            .iter()
            .filter_map(|(k, v)| Some((k.to_string(), v.to_str().ok()?.to_string())))
            .collect();
        let event = crate::listen::ListenEvent {
            msg_id: msg.id.clone(),
            headers,
            body: msg.payload.clone(),
            taken: None,
        };
        self.listen.deliver(session, event).await?;
        Ok((200, "handed to the listen session".into(), None))
    }

    /// The headers of a delivery: custom ones first, so ours always win.
    fn headers(&self, endpoint: &Endpoint, msg: &Message, now: Millis) -> HeaderMap {
        // Ours are eight: content type, user agent, and three in two spellings.
        let mut h = HeaderMap::with_capacity(endpoint.headers.len() + 8);
        for (k, v) in &endpoint.headers {
            if let (Ok(k), Ok(v)) = (
                HeaderName::try_from(k.as_str()),
                HeaderValue::try_from(v.as_str()),
            ) {
                h.insert(k, v);
            }
        }
        let ts = now / 1000;
        let sig = endpoint
            .secrets
            .sign(&msg.id, ts, msg.payload.as_bytes(), now);
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        h.insert(USER_AGENT, self.user_agent.clone());
        // Both spellings: Standard Webhooks verifiers read `webhook-*`, Svix's `svix-*`.
        for (names, value) in [
            (["webhook-id", "svix-id"], msg.id.clone()),
            (["webhook-timestamp", "svix-timestamp"], ts.to_string()),
            (["webhook-signature", "svix-signature"], sig),
        ] {
            let value = HeaderValue::try_from(value)
                .expect("ids, numbers and base64 are valid header values");
            for name in names {
                h.insert(HeaderName::from_static(name), value.clone());
            }
        }
        h
    }

    /// POSTs `msg` to `endpoint` once and reports what happened.
    pub async fn attempt(&self, endpoint: &Endpoint, msg: &Message, now: Millis) -> AttemptResult {
        let started = Instant::now();
        let outcome = match endpoint.url.strip_prefix(crate::listen::SCHEME) {
            Some(session) => self.hand_to_session(session, endpoint, msg, now).await,
            None => self.send(endpoint, msg, now).await,
        };
        let (status_code, response, retry_after) = match outcome {
            Ok(ok) => ok,
            Err(reason) => (0, reason, None),
        };
        AttemptResult {
            status_code,
            response,
            duration: started.elapsed(),
            retry_after,
        }
    }

    async fn send(
        &self,
        endpoint: &Endpoint,
        msg: &Message,
        now: Millis,
    ) -> Result<(u16, String, Option<Duration>), String> {
        let uri = self.checked_uri(&endpoint.url)?;
        let mut req = hyper::Request::post(uri)
            .body(Full::new(Bytes::copy_from_slice(msg.payload.as_bytes())))
            .map_err(|e| e.to_string())?;
        *req.headers_mut() = self.headers(endpoint, msg, now);
        tokio::time::timeout(self.timeout, async {
            let resp = self.client.request(req).await.map_err(|e| describe(&e))?;
            let status = resp.status().as_u16();
            let retry_after = match status {
                429 | 503 => resp.headers().get(RETRY_AFTER).and_then(parse_retry_after),
                _ => None,
            };
            let mut body = resp.into_body();
            let mut read = Vec::new();
            while read.len() < MAX_RESPONSE_BYTES {
                match body.frame().await {
                    Some(Ok(frame)) => {
                        if let Some(chunk) = frame.data_ref() {
                            read.extend_from_slice(chunk);
                        }
                    }
                    Some(Err(e)) => {
                        return Err(format!(
                            "HTTP {status}, then reading the answer failed: {}",
                            chain(&e)
                        ));
                    }
                    None => break,
                }
            }
            read.truncate(MAX_RESPONSE_BYTES);
            Ok((
                status,
                String::from_utf8_lossy(&read).into_owned(),
                retry_after,
            ))
        })
        .await
        .map_err(|_| format!("timeout after {} ms", self.timeout.as_millis()))?
    }

    /// `text` parsed, if it is a URL the policy allows (before DNS: the resolver checks
    /// the addresses of a host name when connecting).
    fn checked_uri(&self, text: &str) -> Result<hyper::Uri, String> {
        if let Some(uri) = self.urls.lock().expect("not poisoned").get(text) {
            return Ok(uri.clone());
        }
        let url = url::Url::parse(text).map_err(|e| format!("invalid URL: {e}"))?;
        check_url(&self.policy, &url).map_err(|e| e.to_string())?;
        // The URL as `url` normalised it (IP spellings, IDNA), which `check_url` judged.
        let uri: hyper::Uri = url
            .as_str()
            .parse()
            .map_err(|e| format!("invalid URL: {e}"))?;
        let mut urls = self.urls.lock().expect("not poisoned");
        if urls.len() >= MAX_PARSED_URLS {
            urls.clear();
        }
        urls.insert(text.to_owned(), uri.clone());
        Ok(uri)
    }
}

/// A clear reason for a failed request: blocked, connect error (TLS included), …
fn describe(e: &hyper_util::client::legacy::Error) -> String {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(b) = s.downcast_ref::<Blocked>() {
            return b.to_string();
        }
        source = s.source();
    }
    if e.is_connect() {
        format!("connection failed ({})", chain(e))
    } else {
        chain(e)
    }
}

/// An error and its sources, `: `-separated.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// `Retry-After` as delay-seconds or an HTTP date.
fn parse_retry_after(value: &HeaderValue) -> Option<Duration> {
    let text = value.to_str().ok()?.trim();
    if let Ok(secs) = text.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(text).ok()?;
    Some(
        at.duration_since(std::time::SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sender(policy: Policy) -> Sender {
        Sender::new(policy, Duration::from_secs(1), None).unwrap()
    }

    #[test]
    fn a_url_is_parsed_once_and_a_refused_one_never_kept() {
        let s = sender(Policy::default());
        let url = "https://hooks.example.com/a?b=1";
        assert_eq!(s.checked_uri(url).unwrap().to_string(), url);
        assert_eq!(s.checked_uri(url).unwrap().to_string(), url);
        assert_eq!(s.urls.lock().unwrap().len(), 1);
        for refused in ["http://127.0.0.1/x", "ftp://example.com/", "not a url"] {
            assert!(s.checked_uri(refused).is_err(), "{refused}");
            assert!(s.checked_uri(refused).is_err(), "{refused}, asked again");
        }
        assert_eq!(s.urls.lock().unwrap().len(), 1);
        // Another policy, another verdict: the cache is the sender's own.
        let dev = sender(Policy {
            allow_loopback: true,
            ..Policy::default()
        });
        assert!(dev.checked_uri("http://127.0.0.1/x").is_ok());
    }

    #[test]
    fn the_url_cache_starts_over_when_full() {
        let s = sender(Policy::default());
        for n in 0..=MAX_PARSED_URLS {
            s.checked_uri(&format!("https://example.com/{n}")).unwrap();
        }
        assert_eq!(s.urls.lock().unwrap().len(), 1);
    }

    #[test]
    fn retry_after_takes_seconds_or_a_date() {
        assert_eq!(
            parse_retry_after(&HeaderValue::from_static("120")),
            Some(Duration::from_secs(120))
        );
        let later = httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(90));
        let d = parse_retry_after(&HeaderValue::from_str(&later).unwrap()).unwrap();
        assert!(
            d > Duration::from_secs(80) && d <= Duration::from_secs(90),
            "{d:?}"
        );
        assert_eq!(parse_retry_after(&HeaderValue::from_static("soon")), None);
    }
}
