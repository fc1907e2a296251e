//! Hashing and diffing of policy text, for versioning (`policy.activated` events record the hash) and for
//! `gavel policy diff`.
//!
//! Invariant: hashes are over the exact bytes of the text; no normalisation (line endings, trailing
//! whitespace) happens, so the hash identifies precisely what an approver reviewed.

use sha2::{Digest, Sha256};
use similar::TextDiff;

/// Lowercase hex SHA-256 of the UTF-8 bytes of `text`.
pub fn text_sha256(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// A line-based unified diff from `old` to `new` (3 lines of context, `--- old` / `+++ new` headers).
/// Empty when the texts are equal.
pub fn diff(old: &str, new: &str) -> String {
    if old == new {
        return String::new();
    }
    TextDiff::from_lines(old, new).unified_diff().context_radius(3).header("old", "new").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_matches_known_vectors() {
        assert_eq!(text_sha256(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(text_sha256("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn sha256_is_sensitive_to_line_endings() {
        assert_ne!(text_sha256("a\n"), text_sha256("a\r\n"));
    }

    #[test]
    fn diff_shows_removed_and_added_lines() {
        let old = "a\nb\nc\n";
        let new = "a\nB\nc\nd\n";
        let d = diff(old, new);
        assert!(d.starts_with("--- old\n+++ new\n@@ "), "{d}");
        assert!(d.contains("\n-b\n"), "{d}");
        assert!(d.contains("\n+B\n"), "{d}");
        assert!(d.contains("\n+d\n"), "{d}");
        assert!(d.contains("\n a\n"), "{d}");
    }

    #[test]
    fn diff_of_equal_texts_is_empty() {
        assert_eq!(diff("x\n", "x\n"), "");
    }
}
