//! Secrets: API keys and platform keys are generated here, shown once, and only
//! their SHA-256 is kept. Keys are 32 random alphanumerics (~190 bits), so a
//! fast hash is enough: there is nothing to brute-force.

use cohort_core::KeyHash;
use rand::distr::{Alphanumeric, SampleString};
use sha2::{Digest, Sha256};

/// A fresh key in Zulip's API-key format: 32 ASCII letters and digits.
pub fn generate_key() -> String {
    Alphanumeric.sample_string(&mut rand::rng(), 32)
}

pub fn hash_key(key: &str) -> KeyHash {
    let digest = Sha256::digest(key.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(&digest);
    KeyHash(out)
}

/// Prefix of realm API tokens, so a leaked one is recognisable (and
/// secret scanners can be taught it).
pub const TOKEN_PREFIX: &str = "cohort_";

/// A fresh realm API token: the prefix and 40 letters and digits (~238 bits).
pub fn generate_token() -> String {
    format!(
        "{TOKEN_PREFIX}{}",
        Alphanumeric.sample_string(&mut rand::rng(), 40)
    )
}

/// A fresh webhook signing secret: `whsec_` and 32 random bytes in base64
/// (Standard Webhooks asks for 24 to 64).
pub fn generate_webhook_secret() -> cohort_core::model::Secret {
    use base64::Engine as _;
    let bytes: [u8; 32] = rand::random();
    cohort_core::model::Secret(format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    ))
}

/// A realm API token's shape, checked before any lookup.
pub fn is_well_formed_token(token: &str) -> bool {
    token
        .strip_prefix(TOKEN_PREFIX)
        .is_some_and(|rest| rest.len() == 40 && rest.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// Zulip's API-key shape, checked before any lookup.
pub fn is_well_formed_api_key(key: &str) -> bool {
    key.len() == 32 && key.bytes().all(|b| b.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_zulip_shaped_and_distinct() {
        let a = generate_key();
        let b = generate_key();
        assert!(is_well_formed_api_key(&a));
        assert_ne!(a, b);
        assert_eq!(hash_key(&a), hash_key(&a));
        assert_ne!(hash_key(&a), hash_key(&b));
    }
}
