//! Standard Webhooks signatures: `v1,` and the base64 HMAC-SHA256 of
//! `{id}.{timestamp}.{body}`, keyed by the secret's bytes (the base64 after
//! `whsec_`), one per signing secret, separated by spaces.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use cohort_core::model::Secret;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

pub const SECRET_PREFIX: &str = "whsec_";

/// The key a secret stands for; `None` when it is not `whsec_` and base64
/// (secrets are made by `cohort_engine::secrets`, so that would be a bug).
pub fn key_of(secret: &Secret) -> Option<Vec<u8>> {
    let encoded = secret.0.strip_prefix(SECRET_PREFIX)?;
    STANDARD.decode(encoded).ok().filter(|k| !k.is_empty())
}

/// The `webhook-signature` header for one request.
pub fn signature_header<'a>(
    secrets: impl Iterator<Item = &'a Secret>,
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> String {
    let mut header = String::new();
    for key in secrets.filter_map(key_of) {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&key) else {
            continue;
        };
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        if !header.is_empty() {
            header.push(' ');
        }
        header.push_str("v1,");
        header.push_str(&STANDARD.encode(mac.finalize().into_bytes()));
    }
    header
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks specification's reference
    /// libraries: this secret, id, timestamp and body sign to this value.
    #[test]
    fn signs_as_the_reference_libraries_do() {
        let secret = Secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into());
        let body = br#"{"test": 2432232314}"#;
        let header = signature_header(
            std::iter::once(&secret),
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            body,
        );
        assert_eq!(header, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn one_signature_per_secret() {
        let a = Secret(format!("{SECRET_PREFIX}{}", STANDARD.encode([1u8; 32])));
        let b = Secret(format!("{SECRET_PREFIX}{}", STANDARD.encode([2u8; 32])));
        let both = signature_header([&a, &b].into_iter(), "1-2-0", 7, b"{}");
        let parts: Vec<&str> = both.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert_ne!(parts[0], parts[1]);
        assert_eq!(
            parts[0],
            signature_header(std::iter::once(&a), "1-2-0", 7, b"{}")
        );
        // A malformed secret signs nothing rather than signing with junk.
        let junk = Secret("nope".into());
        assert_eq!(
            signature_header(std::iter::once(&junk), "1-2-0", 7, b"{}"),
            ""
        );
    }
}
