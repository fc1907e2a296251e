//! RFC 6962 hashing: `leaf = SHA-256(0x00 || bytes)`, `node = SHA-256(0x01 || left || right)`,
//! and the empty tree's root `SHA-256("")`.

use sha2::{Digest, Sha256};

/// A SHA-256 digest: a leaf hash, an interior node or a tree root.
pub type Hash = [u8; 32];

/// The `prev` of event 0: 64 `0` characters in hex.
pub const ZERO_HASH: Hash = [0u8; 32];

/// RFC 6962 leaf hash of an entry's bytes.
pub fn leaf_hash(bytes: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(bytes);
    h.finalize().into()
}

/// RFC 6962 interior node hash.
///
/// `0x01 || left || right` is 65 bytes, so with its padding it is always exactly two blocks:
/// they are laid out here and compressed in one call. (Verification hashes one node per event;
/// the streaming hasher's buffering made that ~30% dearer than the two blocks themselves.)
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut blocks = [sha2::digest::generic_array::GenericArray::default(); 2];
    let (first, second) = blocks.split_at_mut(1);
    let (first, second) = (&mut first[0], &mut second[0]);
    first[0] = 0x01;
    first[1..33].copy_from_slice(left);
    first[33..64].copy_from_slice(&right[..31]);
    second[0] = right[31];
    second[1] = 0x80; // the padding's first bit, then zeros, then the length in bits
    second[56..64].copy_from_slice(&(65u64 * 8).to_be_bytes());
    let mut state = SHA256_IV;
    sha2::compress256(&mut state, &blocks);
    let mut out = [0u8; 32];
    for (o, word) in out.chunks_exact_mut(4).zip(state) {
        o.copy_from_slice(&word.to_be_bytes());
    }
    out
}

/// SHA-256's initial hash value (FIPS 180-4, 5.3.3).
const SHA256_IV: [u32; 8] =
    [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];

/// Root of the empty tree: SHA-256 of nothing.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// Lowercase hex of a hash, as events and APIs print it.
pub fn to_hex(h: &Hash) -> String {
    hex::encode(h)
}

/// Parses exactly 64 **lowercase** hex characters (the form events carry) into a hash, eight
/// characters at a time: verification decodes one `prev` per event, and a per-character table
/// lookup was ~3% of verification time.
pub fn from_lower_hex(text: &[u8]) -> Option<Hash> {
    let text: &[u8; 64] = text.try_into().ok()?;
    let mut out = [0u8; 32];
    for (o, chunk) in out.chunks_exact_mut(4).zip(text.chunks_exact(8)) {
        let word = u64::from_le_bytes(chunk.try_into().ok()?);
        o.copy_from_slice(&decode_lower_hex_word(word)?.to_le_bytes());
    }
    Some(out)
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// Eight lowercase hex characters (loaded little-endian) as four bytes (little-endian), or `None`
/// if any is not one of `0-9a-f`.
#[inline(always)]
fn decode_lower_hex_word(w: u64) -> Option<u32> {
    // For bytes below 0x80, adding 0x80 - lo sets a byte's high bit iff it is >= lo, with no carry
    // into the next byte (at most 0x7f + 0x50). Bytes >= 0x80 are refused on their own.
    let at_least = |lo: u8| w.wrapping_add(ONES * u64::from(0x80 - lo)) & HIGHS;
    let digit = at_least(b'0') & !at_least(b'9' + 1);
    let letter = at_least(b'a') & !at_least(b'f' + 1);
    if digit | letter != HIGHS || w & HIGHS != 0 {
        return None;
    }
    // '0'-'9' are 0x30-0x39, 'a'-'f' are 0x61-0x66 (bit 6 set): low nibble, plus 9 for letters.
    let nibbles = (w & (ONES * 0x0f)) + ((w >> 6) & ONES) * 9;
    // Each even byte becomes (its nibble << 4) | the next byte's nibble; then gather bytes 0,2,4,6.
    let pairs = ((nibbles << 4) | (nibbles >> 8)) & 0x00ff_00ff_00ff_00ff;
    let pairs = (pairs | (pairs >> 8)) & 0x0000_ffff_0000_ffff;
    Some((pairs | (pairs >> 16)) as u32)
}

/// Parses 64 lowercase-or-uppercase hex characters into a hash.
///
/// Hand-rolled because verification decodes one `prev` per event and the generic decoder was
/// a visible share of verification time.
pub fn from_hex(s: &str) -> Option<Hash> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    let bytes = s.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (o, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        *o = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lower_hex_decodes_only_64_lowercase_digits() {
        let h: Hash = core::array::from_fn(|i| (i as u8).wrapping_mul(37));
        let text = to_hex(&h);
        assert_eq!(from_lower_hex(text.as_bytes()), Some(h));
        assert_eq!(from_hex(&text), Some(h));
        assert_eq!(from_lower_hex(text.to_uppercase().as_bytes()), None, "events carry lowercase");
        assert_eq!(from_lower_hex(&text.as_bytes()[..63]), None);
        // Every byte value at every position, and next to each boundary value, against a
        // character-by-character reference.
        let reference = |t: &[u8]| -> Option<Hash> {
            if t.len() != 64 || !t.iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')) {
                return None;
            }
            let digit = |c: u8| if c <= b'9' { c - b'0' } else { c - b'a' + 10 };
            Some(core::array::from_fn(|i| (digit(t[2 * i]) << 4) | digit(t[2 * i + 1])))
        };
        for at in 0..64 {
            for c in 0u8..=255 {
                let mut t = text.clone().into_bytes();
                t[at] = c;
                assert_eq!(from_lower_hex(&t), reference(&t), "{c:#x} at {at}");
                if at < 63 {
                    for d in [0x00, b'/', b'0', b'9', b':', b'`', b'a', b'f', b'g', 0x7f, 0x80, 0xff] {
                        t[at + 1] = d;
                        assert_eq!(from_lower_hex(&t), reference(&t), "{c:#x} {d:#x} at {at}");
                    }
                }
            }
        }
        for bad in [b'g', b'G', b'/', b':', b'`', b' ', 0x80, 0xff] {
            for at in [0, 1, 62, 63] {
                let mut t = text.clone().into_bytes();
                t[at] = bad;
                assert_eq!(from_lower_hex(&t), None, "{bad:#x} at {at}");
            }
        }
    }

    #[test]
    fn empty_root_is_sha256_of_nothing() {
        assert_eq!(to_hex(&empty_root()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }

    #[test]
    fn node_hash_is_sha256_of_prefix_left_right() {
        for seed in 0u8..=255 {
            let left: Hash = core::array::from_fn(|i| (i as u8).wrapping_mul(seed).wrapping_add(seed));
            let right: Hash = core::array::from_fn(|i| (i as u8 ^ seed).wrapping_mul(31));
            let streamed: Hash =
                Sha256::new().chain_update([0x01]).chain_update(left).chain_update(right).finalize().into();
            assert_eq!(node_hash(&left, &right), streamed, "seed {seed}");
        }
    }

    #[test]
    fn leaf_and_node_use_distinct_prefixes() {
        let l = leaf_hash(b"");
        // RFC 6962 test vector: the leaf hash of the empty entry.
        assert_eq!(to_hex(&l), "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d");
        assert_ne!(node_hash(&l, &l), leaf_hash(&[l, l].concat()));
    }

    #[test]
    fn hex_round_trip_and_rejects_bad_input() {
        let h = leaf_hash(b"x");
        assert_eq!(from_hex(&to_hex(&h)), Some(h));
        assert_eq!(from_hex("zz"), None);
        assert_eq!(from_hex(&"0".repeat(63)), None);
        assert_eq!(from_hex(&"0".repeat(65)), None);
        assert_eq!(from_hex(&format!("{}g", "0".repeat(63))), None);
        assert_eq!(from_hex(&to_hex(&h).to_uppercase()), Some(h));
    }
}
