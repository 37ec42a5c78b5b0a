//! Feeds arbitrary bytes through header parsing and `verify_parts`.
//!
//! Input layout: `id \n timestamp \n signature-header \n body`. Properties:
//! nothing panics, whatever the bytes; and a signature we make over the
//! (id, timestamp, body) parts always verifies, so parsing never rejects what
//! signing produced.
#![no_main]

use std::sync::LazyLock;
use std::time::{Duration, UNIX_EPOCH};

use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use skyhook_receiver::{Signer, Webhook};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const SEED: &str = "whsk_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

static V1: LazyLock<(Signer, Webhook)> = LazyLock::new(|| pair(SECRET));
static V1A: LazyLock<(Signer, Webhook)> = LazyLock::new(|| pair(SEED));

fn pair(secret: &str) -> (Signer, Webhook) {
    let signer = Signer::new(secret).expect("valid secret");
    let webhook = signer.webhook();
    (signer, webhook)
}

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(4, |&b| b == b'\n');
    let id = parts.next().unwrap_or_default();
    let ts = parts.next().unwrap_or_default();
    let sig = parts.next().unwrap_or_default();
    let body = parts.next().unwrap_or_default();

    // Header path: mixed webhook-/svix- names, raw bytes as values.
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("webhook-id", id),
        ("svix-timestamp", ts),
        ("webhook-signature", sig),
    ] {
        if let Ok(value) = HeaderValue::from_bytes(value) {
            headers.append(name, value);
        }
    }
    for (_, webhook) in [&*V1, &*V1A] {
        let _ = webhook.verify(&headers, body);
    }

    let (Ok(id), Ok(ts), Ok(sig)) = (str::from_utf8(id), str::from_utf8(ts), str::from_utf8(sig))
    else {
        return;
    };
    let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    for (signer, webhook) in [&*V1, &*V1A] {
        let _ = webhook.verify_parts(id, ts, sig, body, now);

        // Round trip with the fuzzed id and body at a timestamp we control.
        if !id.is_empty() {
            let t = ts.bytes().fold(0u64, |acc, b| {
                acc.wrapping_mul(31).wrapping_add(u64::from(b))
            }) % 4_000_000_000;
            let ours = signer.sign(id, t, body);
            let at = UNIX_EPOCH + Duration::from_secs(t);
            assert!(
                webhook
                    .verify_parts(id, &t.to_string(), &ours, body, at)
                    .is_ok()
            );
        }
    }
});
