//! API tokens: what the store keeps instead of a token, shared by the API and the dashboard.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// SHA-256 of `text`, lower-case hex.
pub fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// SHA-256 of a token, hex: what the store keeps instead of the token.
pub fn hash_token(token: &str) -> String {
    sha256_hex(token)
}

/// Whether two secrets (tokens, their hashes, CSRF tokens) are equal, in time that does
/// not depend on where they differ.
pub fn secrets_equal(a: &str, b: &str) -> bool {
    bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_sha256_hex() {
        assert_eq!(
            hash_token("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn secrets_are_equal_only_when_identical() {
        assert!(secrets_equal("sk_abc", "sk_abc"));
        assert!(!secrets_equal("sk_abc", "sk_abd"));
        assert!(!secrets_equal("sk_abc", "sk_ab"));
        assert!(!secrets_equal("", "sk_abc"));
    }
}
