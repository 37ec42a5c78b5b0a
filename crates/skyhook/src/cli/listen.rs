//! `skyhook listen --app APP --forward-to URL`: stream an application's deliveries from
//! the server (Server-Sent Events from `GET /api/v1/app/{app}/listen`) and re-POST each
//! one, body and signature headers unchanged, to a local URL.

use anyhow::{Context, bail};
use serde_json::Value;

use super::{Client, seg};

/// One parsed SSE event.
#[derive(Debug, Default, PartialEq)]
pub struct SseEvent {
    pub event: String,
    pub data: String,
}

/// Takes every complete event (ended by a blank line) off the front of `buf`.
pub fn drain_events(buf: &mut String) -> Vec<SseEvent> {
    let mut out = Vec::new();
    loop {
        let normalized = buf.replace("\r\n", "\n");
        if normalized.len() != buf.len() {
            *buf = normalized;
        }
        let Some(end) = buf.find("\n\n") else { break };
        let block: String = buf.drain(..end + 2).collect();
        let mut ev = SseEvent::default();
        let mut data = Vec::new();
        for line in block.lines() {
            if line.starts_with(':') {
                continue; // keep-alive comment
            }
            let (field, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "event" => ev.event = value.to_string(),
                "data" => data.push(value),
                _ => {}
            }
        }
        if data.is_empty() && ev.event.is_empty() {
            continue;
        }
        ev.data = data.join("\n");
        if ev.event.is_empty() {
            ev.event = "message".into();
        }
        out.push(ev);
    }
    out
}

pub async fn run(
    client: &Client,
    app: &str,
    forward_to: &str,
    event_types: Option<&str>,
) -> anyhow::Result<()> {
    let target = url::Url::parse(forward_to).context("--forward-to must be a URL")?;
    let mut path = format!("/api/v1/app/{}/listen", seg(app));
    if let Some(types) = event_types {
        path.push_str(&format!("?eventTypes={}", seg(types)));
    }
    let mut resp = client
        .request(reqwest::Method::GET, &path)
        .header("accept", "text/event-stream")
        .send()
        .await
        .with_context(|| format!("cannot reach {}", client.base()))?;
    if !resp.status().is_success() {
        let status = resp.status();
        bail!(
            "GET {path}: HTTP {status}: {}",
            resp.text().await.unwrap_or_default()
        );
    }
    let forwarder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let mut buf = String::new();
    while let Some(chunk) = resp.chunk().await.context("the listen stream broke")? {
        buf.push_str(&String::from_utf8_lossy(&chunk));
        for ev in drain_events(&mut buf) {
            match ev.event.as_str() {
                "ready" => {
                    let ready: Value = serde_json::from_str(&ev.data)?;
                    println!(
                        "Listening on {app}: temporary endpoint {} (signing secret {}); forwarding to {target}",
                        ready["endpointId"].as_str().unwrap_or("?"),
                        ready["secret"].as_str().unwrap_or("?"),
                    );
                }
                "webhook" => forward(&forwarder, &target, &ev.data).await,
                _ => {}
            }
        }
    }
    bail!("the server closed the listen stream")
}

/// POSTs one delivery to the local URL; prints what happened (a failing local receiver
/// does not stop listening).
async fn forward(http: &reqwest::Client, target: &url::Url, data: &str) {
    let Ok(ev) = serde_json::from_str::<Value>(data) else {
        eprintln!("ignoring a malformed webhook event: {data}");
        return;
    };
    let msg_id = ev["msgId"].as_str().unwrap_or("?");
    let mut req = http
        .post(target.clone())
        .body(ev["body"].as_str().unwrap_or("").to_string());
    for (k, v) in ev["headers"].as_object().into_iter().flatten() {
        if matches!(k.as_str(), "host" | "content-length") {
            continue;
        }
        if let Some(v) = v.as_str() {
            req = req.header(k.as_str(), v);
        }
    }
    match req.send().await {
        Ok(resp) => println!("{msg_id} -> {target} {}", resp.status().as_u16()),
        Err(e) => eprintln!("{msg_id} -> {target} failed: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sse_events_across_chunks() {
        let mut buf = String::from(": keep-alive\n\nevent: ready\ndata: {\"a\":1}\n\nevent: web");
        let evs = drain_events(&mut buf);
        assert_eq!(
            evs,
            vec![SseEvent {
                event: "ready".into(),
                data: "{\"a\":1}".into()
            }]
        );
        buf.push_str("hook\ndata: x\r\ndata: y\r\n\r\n");
        let evs = drain_events(&mut buf);
        assert_eq!(evs[0].event, "webhook");
        assert_eq!(evs[0].data, "x\ny");
        assert!(buf.is_empty());
    }
}
