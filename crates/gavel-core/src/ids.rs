//! Identifiers and bearer credentials.
//!
//! Ids are a short type prefix and 96 bits in hex (`agt_…`, `usr_…`, `dec_…`), random except in
//! time-ordered ids ([`new_ordered_id`], for decisions), whose first 48 bits are the creation time
//! in milliseconds and the other 48 random. Tokens are
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

/// An id whose hex starts with `at` in milliseconds since 1970 (48 bits) and ends with 48 random
/// bits: ids made later sort later (within a millisecond), so documents keyed by them are
/// inserted at the end of their key range. For the high-volume `decisions` documents, where
/// random keys made every insert read a random leaf of an ever-growing B-tree. `at` is the log's
/// clock (the event's time), so the id tells nothing the event does not.
pub fn new_ordered_id(prefix: &str, at: time::OffsetDateTime) -> String {
    let millis = (at.unix_timestamp_nanos() / 1_000_000).clamp(0, 0xffff_ffff_ffff) as u64;
    let mut bytes = [0u8; 6];
    OsRng.fill_bytes(&mut bytes);
    format!("{prefix}_{millis:012x}{}", hex::encode(bytes))
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

    #[test]
    fn ordered_ids_have_the_same_form_and_sort_by_creation_time() {
        let t = time::macros::datetime!(2026-11-29 09:00 UTC);
        let a = new_ordered_id("dec", t);
        let b = new_ordered_id("dec", t + time::Duration::milliseconds(1));
        assert!(a.starts_with("dec_") && a.len() == 28 && a[4..].bytes().all(|c| c.is_ascii_hexdigit()));
        assert!(a < b, "{a} then {b}");
        assert_eq!(&a[4..16], format!("{:012x}", 1_795_942_800_000u64), "milliseconds since 1970");
        // Same millisecond: the random half still tells them apart.
        let ids: std::collections::HashSet<String> = (0..1000).map(|_| new_ordered_id("dec", t)).collect();
        assert_eq!(ids.len(), 1000);
        // Outside 1970..2^48 ms the time is clamped, never wrapped.
        assert_eq!(
            &new_ordered_id("dec", time::macros::datetime!(1969-01-01 0:00 UTC))[4..16],
            "000000000000"
        );
    }
}
