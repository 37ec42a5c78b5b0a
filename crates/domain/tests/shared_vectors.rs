//! The server's signer must reproduce every vector the receiver crate verifies, so the
//! two can never drift: both read `crates/receiver/tests/vectors.json`.

use skyhook_domain::signing::SecretSet;

#[test]
fn signer_reproduces_the_shared_vectors() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../receiver/tests/vectors.json"
    );
    let text = std::fs::read_to_string(path).expect("shared vectors file");
    let vectors: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    assert!(vectors.len() >= 3, "expected the published vectors");
    for v in &vectors {
        let set = SecretSet::with_key(v["secret"].as_str().unwrap().to_string());
        let got = set.sign(
            v["msgId"].as_str().unwrap(),
            v["timestamp"].as_i64().unwrap(),
            v["body"].as_str().unwrap().as_bytes(),
            0,
        );
        assert_eq!(
            got,
            v["signature"].as_str().unwrap(),
            "vector {}",
            v["name"]
        );
    }
}
