//! Verification behaviour: every error case, tampering, header sets,
//! rotation, and sign→verify properties.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, HeaderValue};
use proptest::prelude::*;
use skyhook_receiver::{Error, QuotationCreated, Signer, Webhook};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const OTHER_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const SEED: &str = "whsk_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const PUBLIC_KEY: &str = "whpk_A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg=";
const BODY: &[u8] = br#"{"type":"ping","n":1}"#;

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// Headers for `body` signed now with `secret`, under `prefix` (`webhook` or
/// `svix`).
fn signed_headers(secret: &str, prefix: &str, body: &[u8]) -> HeaderMap {
    let ts = now_secs();
    let sig = Signer::new(secret).unwrap().sign("msg_1", ts, body);
    let mut h = HeaderMap::new();
    h.insert(
        format!("{prefix}-id").parse::<http::HeaderName>().unwrap(),
        HeaderValue::from_static("msg_1"),
    );
    h.insert(
        format!("{prefix}-timestamp")
            .parse::<http::HeaderName>()
            .unwrap(),
        ts.into(),
    );
    h.insert(
        format!("{prefix}-signature")
            .parse::<http::HeaderName>()
            .unwrap(),
        sig.parse().unwrap(),
    );
    h
}

fn webhook() -> Webhook {
    Webhook::new(SECRET).unwrap()
}

#[test]
fn verifies_webhook_headers() {
    webhook()
        .verify(&signed_headers(SECRET, "webhook", BODY), BODY)
        .unwrap();
}

#[test]
fn verifies_svix_headers() {
    webhook()
        .verify(&signed_headers(SECRET, "svix", BODY), BODY)
        .unwrap();
}

#[test]
fn secret_without_prefix_is_the_same_secret() {
    let bare = Webhook::new(SECRET.strip_prefix("whsec_").unwrap()).unwrap();
    bare.verify(&signed_headers(SECRET, "webhook", BODY), BODY)
        .unwrap();
}

#[test]
fn unpadded_secret_is_accepted_like_the_reference_libraries() {
    // 32 random bytes encode to 44 chars ending in one `=`.
    let padded = "whsec_ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CBgoM=";
    let unpadded = padded.trim_end_matches('=');
    Webhook::new(unpadded)
        .unwrap()
        .verify(&signed_headers(padded, "webhook", BODY), BODY)
        .unwrap();
}

#[test]
fn missing_headers_are_named() {
    let full = signed_headers(SECRET, "webhook", BODY);
    for name in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
        let mut h = full.clone();
        h.remove(name);
        match webhook().verify(&h, BODY) {
            Err(Error::MissingHeader(missing)) => assert_eq!(missing, name),
            other => panic!("{name}: {other:?}"),
        }
    }
}

#[test]
fn empty_header_counts_as_missing() {
    let mut h = signed_headers(SECRET, "webhook", BODY);
    h.insert("webhook-id", HeaderValue::from_static(""));
    assert!(matches!(
        webhook().verify(&h, BODY),
        Err(Error::MissingHeader("webhook-id"))
    ));
}

#[test]
fn non_ascii_header_is_invalid() {
    let mut h = signed_headers(SECRET, "webhook", BODY);
    h.insert("webhook-id", HeaderValue::from_bytes(b"msg_\xff").unwrap());
    assert!(matches!(
        webhook().verify(&h, BODY),
        Err(Error::InvalidHeader("webhook-id"))
    ));
}

#[test]
fn non_integer_timestamps_are_invalid() {
    // Each of these is accepted by at least one reference library; we refuse
    // them all.
    for ts in [
        "1614265330.9",
        "1614265330abc",
        "+1614265330",
        "-1",
        " 1614265330",
        "1e9",
        "",
        "１２",
    ] {
        let err = webhook().verify_parts("msg_1", ts, "v1,AAAA", BODY, at(1_614_265_330));
        assert!(
            matches!(err, Err(Error::InvalidTimestamp)),
            "{ts:?}: {err:?}"
        );
    }
}

#[test]
fn old_and_future_timestamps_are_refused_at_the_tolerance_edge() {
    let wh = webhook();
    let ts = 1_700_000_000;
    let sig = wh.sign("msg_1", ts, BODY).unwrap();
    let check = |now: u64| wh.verify_parts("msg_1", &ts.to_string(), &sig, BODY, at(now));
    check(ts + 300).unwrap();
    check(ts - 300).unwrap();
    assert!(matches!(check(ts + 301), Err(Error::TimestampTooOld)));
    assert!(matches!(check(ts - 301), Err(Error::TimestampTooNew)));
}

#[test]
fn tolerance_is_configurable() {
    let wh = webhook().with_tolerance(Duration::from_secs(10));
    assert_eq!(wh.tolerance(), Duration::from_secs(10));
    let sig = wh.sign("msg_1", 1000, BODY).unwrap();
    wh.verify_parts("msg_1", "1000", &sig, BODY, at(1010))
        .unwrap();
    assert!(matches!(
        wh.verify_parts("msg_1", "1000", &sig, BODY, at(1011)),
        Err(Error::TimestampTooOld)
    ));
}

#[test]
fn timestamp_is_checked_before_the_signature() {
    // A replay of a genuine old message must say "too old", not "bad
    // signature", so logs show what happened.
    let wh = webhook();
    let sig = wh.sign("msg_1", 1000, BODY).unwrap();
    assert!(matches!(
        wh.verify_parts("msg_1", "1000", &sig, BODY, at(100_000)),
        Err(Error::TimestampTooOld)
    ));
}

#[test]
fn tampered_body_fails() {
    let h = signed_headers(SECRET, "webhook", BODY);
    let err = webhook().verify(&h, br#"{"type":"ping","n":2}"#);
    assert!(matches!(err, Err(Error::NoMatchingSignature)));
}

#[test]
fn tampered_id_fails() {
    let mut h = signed_headers(SECRET, "webhook", BODY);
    h.insert("webhook-id", HeaderValue::from_static("msg_2"));
    assert!(matches!(
        webhook().verify(&h, BODY),
        Err(Error::NoMatchingSignature)
    ));
}

#[test]
fn swapped_timestamp_fails() {
    let mut h = signed_headers(SECRET, "webhook", BODY);
    h.insert("webhook-timestamp", (now_secs() - 1).into());
    assert!(matches!(
        webhook().verify(&h, BODY),
        Err(Error::NoMatchingSignature)
    ));
}

#[test]
fn wrong_secret_fails() {
    let h = signed_headers(OTHER_SECRET, "webhook", BODY);
    assert!(matches!(
        webhook().verify(&h, BODY),
        Err(Error::NoMatchingSignature)
    ));
}

#[test]
fn any_of_several_signatures_matches_during_rotation() {
    let ts = now_secs();
    let old = Signer::new(OTHER_SECRET).unwrap().sign("msg_1", ts, BODY);
    let new = Signer::new(SECRET).unwrap().sign("msg_1", ts, BODY);
    let v1a = Signer::new(SEED).unwrap().sign("msg_1", ts, BODY);
    for header in [
        format!("{old} {new}"),
        format!("{new} {old}"),
        format!("{v1a} {old} {new}"),
    ] {
        webhook()
            .verify_parts("msg_1", &ts.to_string(), &header, BODY, at(ts))
            .unwrap();
    }
}

#[test]
fn signature_lines_split_over_several_headers_are_joined() {
    let mut h = signed_headers(SECRET, "webhook", BODY);
    let good = h.remove("webhook-signature").unwrap();
    h.append("webhook-signature", HeaderValue::from_static("v1,AAAA"));
    h.append("webhook-signature", good);
    webhook().verify(&h, BODY).unwrap();
}

#[test]
fn malformed_entries_do_not_hide_a_good_one() {
    let ts = now_secs();
    let good = webhook().sign("msg_1", ts, BODY).unwrap();
    // Python standardwebhooks aborts on the comma-less entry; we skip it.
    let header = format!("garbage  v1,not-base64!! v2,AAAA {good}");
    webhook()
        .verify_parts("msg_1", &ts.to_string(), &header, BODY, at(ts))
        .unwrap();
}

#[test]
fn no_entry_of_our_version_fails() {
    let ts = now_secs();
    let v1a = Signer::new(SEED).unwrap().sign("msg_1", ts, BODY);
    for header in [v1a.as_str(), "garbage", "v1", "v1,", "v2,AAAA", " "] {
        let err = webhook().verify_parts("msg_1", &ts.to_string(), header, BODY, at(ts));
        assert!(
            matches!(err, Err(Error::NoMatchingSignature)),
            "{header:?}: {err:?}"
        );
    }
}

#[test]
fn truncated_signature_fails() {
    let ts = now_secs();
    let good = webhook().sign("msg_1", ts, BODY).unwrap();
    let cut = &good[..good.len() - 4];
    let err = webhook().verify_parts("msg_1", &ts.to_string(), cut, BODY, at(ts));
    assert!(matches!(err, Err(Error::NoMatchingSignature)));
}

#[test]
fn invalid_secrets_are_refused() {
    for s in [
        "",
        "whsec_",
        "whsec_!!!",
        "whsec_a",
        "whpk_AAAA",
        "whsk_AAAA",
        "whpk_",
        "not base64 at all",
    ] {
        assert!(
            matches!(Webhook::new(s), Err(Error::InvalidSecret)),
            "{s:?}"
        );
    }
    assert!(matches!(
        Webhook::from_ed25519_public_key("whsec_AAAA"),
        Err(Error::InvalidSecret)
    ));
    assert!(matches!(
        Signer::new("whsk_AAAA"),
        Err(Error::InvalidSecret)
    ));
    assert!(matches!(Signer::new(PUBLIC_KEY), Err(Error::CannotSign)));
}

#[test]
fn v1a_signatures_verify_with_the_public_key() {
    let signer = Signer::new(SEED).unwrap();
    assert_eq!(signer.public_key().as_deref(), Some(PUBLIC_KEY));
    let wh = Webhook::from_ed25519_public_key(PUBLIC_KEY).unwrap();
    let ts = now_secs();
    let sig = signer.sign("msg_1", ts, BODY);
    assert!(sig.starts_with("v1a,"));
    wh.verify_parts("msg_1", &ts.to_string(), &sig, BODY, at(ts))
        .unwrap();
    // `Webhook::new` recognises the prefix too.
    Webhook::new(PUBLIC_KEY)
        .unwrap()
        .verify_parts("msg_1", &ts.to_string(), &sig, BODY, at(ts))
        .unwrap();
    signer
        .webhook()
        .verify_parts("msg_1", &ts.to_string(), &sig, BODY, at(ts))
        .unwrap();
    let err = wh.verify_parts("msg_1", &ts.to_string(), &sig, b"{}", at(ts));
    assert!(matches!(err, Err(Error::NoMatchingSignature)));
}

#[test]
fn a_v1a_verifier_ignores_v1_signatures() {
    let ts = now_secs();
    let v1 = webhook().sign("msg_1", ts, BODY).unwrap();
    let wh = Webhook::from_ed25519_public_key(PUBLIC_KEY).unwrap();
    let err = wh.verify_parts("msg_1", &ts.to_string(), &v1, BODY, at(ts));
    assert!(matches!(err, Err(Error::NoMatchingSignature)));
}

#[test]
fn a_public_key_cannot_sign() {
    let wh = Webhook::from_ed25519_public_key(PUBLIC_KEY).unwrap();
    assert!(matches!(wh.sign("msg_1", 1, BODY), Err(Error::CannotSign)));
}

#[test]
fn signatures_are_canonical_padded_base64() {
    let sig = Signer::new(SECRET).unwrap().sign("msg_1", 1, BODY);
    let b64 = sig.strip_prefix("v1,").unwrap();
    assert_eq!(b64.len(), 44);
    assert!(b64.ends_with('='));
    let v1a = Signer::new(SEED).unwrap().sign("msg_1", 1, BODY);
    assert_eq!(v1a.strip_prefix("v1a,").unwrap().len(), 88);
}

#[test]
fn debug_output_never_shows_keys() {
    let dbg = format!(
        "{:?} {:?} {:?}",
        webhook(),
        Signer::new(SECRET).unwrap(),
        Signer::new(SEED).unwrap()
    );
    assert!(
        !dbg.contains("MfKQ9r8G") && !dbg.contains("AAECAwQF"),
        "{dbg}"
    );
    assert!(dbg.contains("[redacted]"));
}

#[test]
fn errors_say_which_check_failed() {
    assert_eq!(
        Error::MissingHeader("webhook-id").to_string(),
        "missing header `webhook-id`"
    );
    assert_eq!(Error::TimestampTooOld.to_string(), "timestamp is too old");
    assert_eq!(
        Error::NoMatchingSignature.to_string(),
        "no matching signature"
    );
}

const QUOTATION: &str = r#"{"type":"quotation.created","createdAt":"2026-11-28T12:00:00.000Z","projectUrl":"http://127.0.0.1:8071/projects/app_1","quotation":{"id":"quo_1","customer":{"name":"Zoë"},"configuration":{"qty":3}},"files":[{"id":"file_1","name":"drawing.pdf","contentType":"application/pdf","size":12345}],"futureField":true}"#;

#[test]
fn verify_and_parse_gives_a_typed_quotation() {
    let body = QUOTATION.as_bytes();
    let q: QuotationCreated = webhook()
        .verify_and_parse(&signed_headers(SECRET, "webhook", body), body)
        .unwrap();
    assert_eq!(q.type_, QuotationCreated::TYPE);
    assert_eq!(q.quotation.customer["name"], "Zoë");
    assert_eq!(q.files[0].content_type, "application/pdf");
    assert_eq!(q.files[0].size, 12345);
    assert_eq!(
        q.file_url(&q.files[0]),
        "http://127.0.0.1:8071/projects/app_1/quotation/files/file_1"
    );
    // Round trip keeps the wire names.
    let back = serde_json::to_value(&q).unwrap();
    assert_eq!(back["projectUrl"], "http://127.0.0.1:8071/projects/app_1");
    assert_eq!(back["files"][0]["contentType"], "application/pdf");
}

#[test]
fn verify_and_parse_gives_generic_json() {
    let v: serde_json::Value = webhook()
        .verify_and_parse(&signed_headers(SECRET, "webhook", BODY), BODY)
        .unwrap();
    assert_eq!(v["type"], "ping");
}

#[test]
fn verify_and_parse_refuses_a_valid_signature_over_the_wrong_shape() {
    let h = signed_headers(SECRET, "webhook", BODY);
    let err = webhook().verify_and_parse::<QuotationCreated>(&h, BODY);
    assert!(matches!(err, Err(Error::InvalidPayload(_))), "{err:?}");
}

#[test]
fn verify_and_parse_verifies_before_parsing() {
    // Unsigned garbage must be reported as a signature failure, never reach
    // the parser.
    let h = signed_headers(SECRET, "webhook", BODY);
    let err = webhook().verify_and_parse::<serde_json::Value>(&h, b"not json");
    assert!(matches!(err, Err(Error::NoMatchingSignature)), "{err:?}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn v1_sign_then_verify_holds_and_any_body_change_fails(
        key in prop::collection::vec(any::<u8>(), 1..64),
        id in "[a-zA-Z0-9_-]{1,40}",
        ts in 0u64..=4_102_444_800,
        body in prop::collection::vec(any::<u8>(), 1..512),
        index in any::<prop::sample::Index>(),
        flip in 1u8..=255,
    ) {
        use base64::Engine as _;
        let secret = format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(&key));
        let signer = Signer::new(&secret).unwrap();
        let wh = Webhook::new(&secret).unwrap();
        let sig = signer.sign(&id, ts, &body);
        prop_assert!(wh.verify_parts(&id, &ts.to_string(), &sig, &body, at(ts)).is_ok());

        let mut tampered = body.clone();
        tampered[index.index(body.len())] ^= flip;
        let err = wh.verify_parts(&id, &ts.to_string(), &sig, &tampered, at(ts));
        prop_assert!(matches!(err, Err(Error::NoMatchingSignature)));
    }

    #[test]
    fn v1a_sign_then_verify_holds_and_any_body_change_fails(
        seed in any::<[u8; 32]>(),
        id in "[a-zA-Z0-9_-]{1,40}",
        ts in 0u64..=4_102_444_800,
        body in prop::collection::vec(any::<u8>(), 1..256),
        index in any::<prop::sample::Index>(),
        flip in 1u8..=255,
    ) {
        use base64::Engine as _;
        let secret = format!("whsk_{}", base64::engine::general_purpose::STANDARD.encode(seed));
        let signer = Signer::new(&secret).unwrap();
        let wh = Webhook::from_ed25519_public_key(&signer.public_key().unwrap()).unwrap();
        let sig = signer.sign(&id, ts, &body);
        prop_assert!(wh.verify_parts(&id, &ts.to_string(), &sig, &body, at(ts)).is_ok());

        let mut tampered = body.clone();
        tampered[index.index(body.len())] ^= flip;
        let err = wh.verify_parts(&id, &ts.to_string(), &sig, &tampered, at(ts));
        prop_assert!(matches!(err, Err(Error::NoMatchingSignature)));
    }

    #[test]
    fn verify_parts_never_panics_on_arbitrary_input(
        id in ".{0,40}",
        ts in ".{0,24}",
        header in ".{0,200}",
        body in prop::collection::vec(any::<u8>(), 0..64),
        now in any::<u64>(),
    ) {
        let _ = webhook().verify_parts(&id, &ts, &header, &body, at(now % 8_000_000_000));
    }
}
