//! The shared signing vectors (`tests/vectors.json`, also read by the server's
//! signer): every one must verify here and be reproduced byte for byte.

use std::time::{Duration, UNIX_EPOCH};

use serde::Deserialize;
use skyhook_receiver::{Signer, Webhook};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Vector {
    name: String,
    secret: String,
    public_key: Option<String>,
    msg_id: String,
    timestamp: u64,
    body: String,
    signature: String,
}

fn vectors() -> Vec<Vector> {
    let vectors: Vec<Vector> =
        serde_json::from_str(include_str!("vectors.json")).expect("vectors.json parses");
    assert!(vectors.len() >= 8, "vectors.json lost entries");
    vectors
}

/// The vectors are old; judge them at their own time.
fn verify(webhook: &Webhook, v: &Vector) -> Result<(), skyhook_receiver::Error> {
    let now = UNIX_EPOCH + Duration::from_secs(v.timestamp);
    webhook.verify_parts(
        &v.msg_id,
        &v.timestamp.to_string(),
        &v.signature,
        v.body.as_bytes(),
        now,
    )
}

#[test]
fn every_vector_verifies() {
    for v in vectors() {
        let webhook = match &v.public_key {
            Some(pk) => Webhook::from_ed25519_public_key(pk).unwrap(),
            None => Webhook::new(&v.secret).unwrap(),
        };
        verify(&webhook, &v).unwrap_or_else(|e| panic!("{}: {e}", v.name));
        // `whsk_` given to `Webhook::new` keeps only the public half.
        verify(&Webhook::new(&v.secret).unwrap(), &v).unwrap_or_else(|e| panic!("{}: {e}", v.name));
    }
}

#[test]
fn signer_reproduces_every_vector() {
    for v in vectors() {
        let signer = Signer::new(&v.secret).unwrap();
        let ours = signer.sign(&v.msg_id, v.timestamp, v.body.as_bytes());
        assert_eq!(ours, v.signature, "{}", v.name);
        assert_eq!(signer.public_key(), v.public_key, "{}", v.name);
    }
}

#[test]
fn webhook_sign_reproduces_v1_vectors() {
    for v in vectors().into_iter().filter(|v| v.public_key.is_none()) {
        let ours = Webhook::new(&v.secret)
            .unwrap()
            .sign(&v.msg_id, v.timestamp, v.body.as_bytes());
        assert_eq!(ours.unwrap(), v.signature, "{}", v.name);
    }
}

#[test]
fn a_vector_fails_with_another_vectors_secret() {
    let vectors = vectors();
    let (a, b) = (&vectors[0], &vectors[1]);
    let wrong = Webhook::new(&b.secret).unwrap();
    assert!(matches!(
        verify(&wrong, a),
        Err(skyhook_receiver::Error::NoMatchingSignature)
    ));
}
