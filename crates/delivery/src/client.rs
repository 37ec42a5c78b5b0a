//! The outbound HTTP client and one delivery attempt.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, USER_AGENT};
use skyhook_domain::clock::Millis;
use skyhook_domain::model::{Endpoint, Message};

use crate::guard::{Blocked, GuardedResolver, Policy, check_url};

/// At most this much of an answer is stored with the attempt.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// What one attempt produced.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptResult {
    /// HTTP status, or 0 when no answer came.
    pub status_code: u16,
    /// The start of the answer body, or why there was no answer.
    pub response: String,
    /// Sending to last byte read.
    pub duration: Duration,
}

impl AttemptResult {
    /// A 2xx answer.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status_code)
    }
}

/// Sends deliveries: SSRF-guarded, no proxy, no redirects, a timeout per attempt.
#[derive(Clone)]
pub struct Sender {
    client: reqwest::Client,
    policy: Arc<Policy>,
    timeout: Duration,
    user_agent: HeaderValue,
}

impl Sender {
    /// A sender with `policy` and a per-attempt `timeout`.
    pub fn new(policy: Policy, timeout: Duration) -> reqwest::Result<Self> {
        let policy = Arc::new(policy);
        let client = reqwest::Client::builder()
            // A proxy would make the guarded resolver judge the proxy, not the target.
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(32)
            .tcp_nodelay(true)
            .dns_resolver(Arc::new(GuardedResolver(policy.clone())))
            .build()?;
        let user_agent = HeaderValue::from_str(&format!("Skyhook/{}", env!("CARGO_PKG_VERSION")))
            .expect("ascii");
        Ok(Self {
            client,
            policy,
            timeout,
            user_agent,
        })
    }

    /// The headers of a delivery: custom ones first, so ours always win.
    fn headers(&self, endpoint: &Endpoint, msg: &Message, now: Millis) -> HeaderMap {
        let mut h = HeaderMap::new();
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
        for (name, value) in [
            ("id", msg.id.clone()),
            ("timestamp", ts.to_string()),
            ("signature", sig),
        ] {
            let value = HeaderValue::try_from(value)
                .expect("ids, numbers and base64 are valid header values");
            h.insert(
                HeaderName::try_from(format!("webhook-{name}")).expect("static"),
                value.clone(),
            );
            h.insert(
                HeaderName::try_from(format!("svix-{name}")).expect("static"),
                value,
            );
        }
        h
    }

    /// POSTs `msg` to `endpoint` once and reports what happened.
    pub async fn attempt(&self, endpoint: &Endpoint, msg: &Message, now: Millis) -> AttemptResult {
        let started = Instant::now();
        let outcome = self.send(endpoint, msg, now).await;
        let (status_code, response) = match outcome {
            Ok(ok) => ok,
            Err(reason) => (0, reason),
        };
        AttemptResult {
            status_code,
            response,
            duration: started.elapsed(),
        }
    }

    async fn send(
        &self,
        endpoint: &Endpoint,
        msg: &Message,
        now: Millis,
    ) -> Result<(u16, String), String> {
        let url = url::Url::parse(&endpoint.url).map_err(|e| format!("invalid URL: {e}"))?;
        check_url(&self.policy, &url).map_err(|e| e.to_string())?;
        let mut resp = self
            .client
            .post(url)
            .headers(self.headers(endpoint, msg, now))
            .body(msg.payload.clone())
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|e| self.describe(&e))?;
        let status = resp.status().as_u16();
        let mut body = Vec::new();
        while body.len() < MAX_RESPONSE_BYTES {
            match resp.chunk().await {
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                Ok(None) => break,
                Err(e) => {
                    return Err(format!(
                        "HTTP {status}, then reading the answer failed: {}",
                        self.describe(&e)
                    ));
                }
            }
        }
        body.truncate(MAX_RESPONSE_BYTES);
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }

    /// A clear reason for a failed request: blocked, timeout, connect error, …
    fn describe(&self, e: &reqwest::Error) -> String {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
        while let Some(s) = source {
            if let Some(b) = s.downcast_ref::<Blocked>() {
                return b.to_string();
            }
            source = s.source();
        }
        let mut chain = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            chain.push_str(": ");
            chain.push_str(&s.to_string());
            source = s.source();
        }
        if e.is_timeout() {
            format!("timeout after {} ms ({chain})", self.timeout.as_millis())
        } else if e.is_connect() {
            format!("connection failed ({chain})")
        } else {
            chain
        }
    }
}
