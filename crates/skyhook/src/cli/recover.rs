//! `skyhook recover --app APP --endpoint EP --since 2h`: resend every failed message of
//! the window, then follow the resent deliveries with a progress bar.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};
use skyhook_domain::clock::{now_ms, parse_rfc3339, to_rfc3339};

use super::{Client, seg};

/// `2h` → now − 2 h; an RFC 3339 time as is.
pub fn since_ms(since: &str, now: i64) -> anyhow::Result<i64> {
    if let Some(t) = parse_rfc3339(since) {
        return Ok(t);
    }
    let d = humantime::parse_duration(since).with_context(|| {
        format!("--since {since:?}: give a duration (2h, 30m) or an RFC 3339 time")
    })?;
    Ok(now - d.as_millis() as i64)
}

/// The ids of the endpoint's messages with `status` since `since` (every page).
async fn messages(
    client: &Client,
    base: &str,
    status: i64,
    since: &str,
) -> anyhow::Result<Vec<String>> {
    let mut ids = Vec::new();
    let mut iterator: Option<String> = None;
    loop {
        let mut path = format!(
            "{base}/msg?status={status}&after={}&limit=250&with_content=false",
            seg(since)
        );
        if let Some(it) = &iterator {
            path.push_str(&format!("&iterator={}", seg(it)));
        }
        let page: Value = client.get(&path).await?;
        ids.extend(
            page["data"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|m| m["id"].as_str().map(str::to_string)),
        );
        if page["done"] != true {
            iterator = page["iterator"].as_str().map(str::to_string);
            if iterator.is_some() {
                continue;
            }
        }
        return Ok(ids);
    }
}

pub async fn run(
    client: &Client,
    app: &str,
    endpoint: &str,
    since: &str,
    wait: Duration,
) -> anyhow::Result<()> {
    let now = now_ms();
    let since = to_rfc3339(since_ms(since, now)?);
    let base = format!("/api/v1/app/{}/endpoint/{}", seg(app), seg(endpoint));
    let failed: HashSet<String> = messages(client, &base, 2, &since)
        .await?
        .into_iter()
        .collect();
    if failed.is_empty() {
        println!("no failed messages since {since}");
        return Ok(());
    }
    client
        .post(&format!("{base}/recover"), json!({"since": since}))
        .await?;
    let bar = ProgressBar::new(failed.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{spinner} recovering [{bar:30}] {pos}/{len} {msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    let deadline = Instant::now() + wait;
    let (ok, still_failed) = loop {
        let delivered: HashSet<String> = messages(client, &base, 0, &since)
            .await?
            .into_iter()
            .collect();
        let failing: HashSet<String> = messages(client, &base, 2, &since)
            .await?
            .into_iter()
            .collect();
        let ok = failed.intersection(&delivered).count();
        let still_failed = failed.intersection(&failing).count();
        bar.set_position((ok + still_failed) as u64);
        bar.set_message(format!("{ok} delivered, {still_failed} failed again"));
        if ok + still_failed >= failed.len() || Instant::now() >= deadline {
            break (ok, still_failed);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    bar.finish();
    let pending = failed.len() - ok - still_failed;
    println!(
        "recovered {} messages since {since}: {ok} delivered, {still_failed} failed again, {pending} still pending",
        failed.len()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_a_duration_or_a_time() {
        assert_eq!(since_ms("2h", 10_000_000).unwrap(), 10_000_000 - 7_200_000);
        assert_eq!(
            since_ms("2026-11-28T12:00:00Z", 0).unwrap(),
            parse_rfc3339("2026-11-28T12:00:00Z").unwrap()
        );
        assert!(since_ms("yesterday-ish", 0).is_err());
    }
}
