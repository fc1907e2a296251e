//! Standard Webhooks signatures: `webhook-signature: v1,<base64 HMAC-SHA256(key, id "." timestamp
//! "." body)>` with key = base64-decode of the secret after `whsec_` (32 random bytes).
//!
//! Invariants:
//! * [`sign`] computes the specification's own example (unit test);
//! * during a rotation overlap a message carries one signature per signing secret, space-separated,
//!   the new secret's first ([`sign_all`] over `Endpoint::signing_secrets`): a receiver accepts
//!   the message if any signature verifies with its key;
//! * a secret that does not decode is an internal error, never a message sent unsigned.

use crate::error::{CoreError, Result};
use base64::Engine as _;
use hmac::{Hmac, Mac};

/// The Standard Webhooks `webhook-signature` header value for one message.
pub fn sign(secret: &str, msg_id: &str, timestamp: i64, body: &[u8]) -> Result<String> {
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
        .map_err(|e| CoreError::Internal(format!("webhook secret is not base64: {e}")))?;
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key)
        .map_err(|e| CoreError::Internal(format!("webhook secret: {e}")))?;
    mac.update(msg_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Ok(format!("v1,{}", base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())))
}

/// The `webhook-signature` header value signed by each of `secrets`, space-separated (the spec's
/// form for a rotation: a receiver accepts the message if any signature verifies with its key).
pub fn sign_all(secrets: &[&str], msg_id: &str, timestamp: i64, body: &[u8]) -> Result<String> {
    let signatures = secrets.iter().map(|s| sign(s, msg_id, timestamp, body)).collect::<Result<Vec<_>>>()?;
    Ok(signatures.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_the_spec_example() {
        // The example from the Standard Webhooks specification.
        let sig = sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        )
        .unwrap();
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }
}
