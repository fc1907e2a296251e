//! Identifiers and bearer credentials.
//!
//! Ids are a short type prefix and 96 random bits in hex (`agt_…`, `usr_…`, `dec_…`). Tokens are
//! 256 random bits, `gvl_` + base64url; only their SHA-256 is ever stored, and the store is
//! looked up by that hash, so no secret is compared byte by byte.

use base64::Engine as _;
use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};

pub fn new_id(prefix: &str) -> String {
    let mut bytes = [0u8; 12];
    OsRng.fill_bytes(&mut bytes);
    format!("{prefix}_{}", hex::encode(bytes))
}

/// A fresh bearer token (returned to its owner once, never stored).
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    format!("gvl_{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// What the store keeps of a token.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_tokens_are_fresh_and_well_formed() {
        let (a, b) = (new_id("agt"), new_id("agt"));
        assert!(a.starts_with("agt_") && a.len() == 28 && a != b);
        let t = new_token();
        assert!(t.starts_with("gvl_") && t.len() == 47);
        assert_ne!(token_hash(&t), token_hash(&new_token()));
        assert_eq!(token_hash("x"), "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881");
    }
}
