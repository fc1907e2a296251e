//! Single-pass validation of RFC 8785 (JCS) canonical JSON bytes.
//!
//! Every event in the log is stored as its JCS canonical serialization, so verification must check
//! that stored bytes are *exactly* canonical. Parsing into a `serde_json::Value` and
//! re-canonicalizing does that, but allocates a tree and is ~25x slower than hashing the same bytes.
//! [`check_canonical`] and [`check_canonical_object`] decide the same question in one forward pass
//! over the bytes, without building a tree and without allocating (except the top-level member list
//! returned by [`check_canonical_object`]).
//!
//! # Rules checked
//!
//! The reference is `serde_json_canonicalizer::to_vec`, which follows RFC 8785. Bytes are accepted
//! iff they are byte-for-byte what that serializer produces for some JSON value:
//!
//! * The input is valid UTF-8 and holds exactly one JSON value, with no insignificant whitespace
//!   anywhere and nothing after the value.
//! * Literals are `true`, `false`, `null`.
//! * Strings: `"` and `\` appear as `\"` and `\\`; U+0008, U+0009, U+000A, U+000C, U+000D appear as
//!   `\b`, `\t`, `\n`, `\f`, `\r`; every other character below U+0020 appears as `\u00xx` with
//!   lowercase hex; no other escape is allowed (no `\/`, no `\u0041`, no `\u00e9`, no surrogate
//!   escapes); every other character (including U+007F and all non-ASCII) appears raw, as
//!   well-formed UTF-8 (no overlong forms, no encoded surrogates, nothing above U+10FFFF).
//! * Numbers follow the JSON grammar and are exactly the ECMAScript `Number::toString` of the
//!   IEEE-754 double they denote (as formatted by `ryu_js`): `1e+30` not `1E30`, `4.5` not `4.50`,
//!   `0` not `-0`, and the value must be finite (`1e400` is refused). Two fast paths decide the
//!   common forms without formatting: integers without a leading zero of at most 15 digits, or 16
//!   digits up to 2^53; and plain decimals `I.F` of at most 15 significant digits, no trailing zero
//!   in `F` and at least 1e-6 (see `Parser::number` for why these are exactly canonical).
//!   Everything else is parsed with `str::parse::<f64>` and compared with its `ryu_js` formatting.
//! * Objects: members are strictly increasing by key, comparing the *decoded* keys as sequences of
//!   UTF-16 code units (so duplicate keys are refused). Keys that are plain ASCII without escapes
//!   are compared bytewise (equivalent, and fast); others through a non-allocating UTF-16 iterator.
//! * Arrays: elements separated by `,`.
//! * Nesting is limited to [`MAX_DEPTH`] containers, the same limit `serde_json` applies, so
//!   anything accepted here also parses with `serde_json`.
//!
//! # Invariants
//!
//! * Never panics and never overflows the stack, whatever the input: every access is
//!   bounds-checked with `get`, recursion is bounded by [`MAX_DEPTH`].
//! * `check_canonical(b).is_ok()` iff `serde_json` parses `b` and `serde_json_canonicalizer`
//!   re-serializes the result to exactly `b` (property-tested in `tests/canonical_differential.rs`).
//! * An error's `offset` is the offending byte, or the start of the offending token: the first
//!   byte of a number or literal, the `\` of an escape, the opening `"` of an unsorted or
//!   duplicate key or of an unterminated string, the container that nests too deep.

use std::cmp::Ordering;
use std::ops::Range;

/// Maximum nesting of objects and arrays. `serde_json` refuses the 128th nested container, so
/// this is 127: every input accepted here is also accepted by `serde_json`.
pub const MAX_DEPTH: usize = 127;

/// Why bytes are not canonical JSON, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not canonical JSON at byte {offset}: {reason}")]
pub struct CanonicalError {
    /// Byte offset of the first offending byte (the start of the offending token or escape).
    pub offset: usize,
    /// What rule is broken.
    pub reason: &'static str,
}

/// Checks that `bytes` are exactly the RFC 8785 canonical serialization of some JSON value whose
/// top level is an object, and returns the top-level members in order as (decoded key, byte range
/// of the value).
pub fn check_canonical_object(bytes: &[u8]) -> Result<Vec<(String, Range<usize>)>, CanonicalError> {
    let mut p = Parser { b: bytes, pos: 0 };
    match p.peek() {
        Some(b'{') => {}
        other => return Err(p.unexpected(other, "top-level value is not an object")),
    }
    let mut members = Vec::with_capacity(8);
    p.object(1, Some(&mut |key, value| members.push((key, value))))?;
    p.finish()?;
    Ok(members.into_iter().map(|(key, value)| (decode_key(bytes, key), value)).collect())
}

/// Like [`check_canonical_object`] without allocating: calls `member` with the byte range of
/// each top-level key *between its quotes* and of its value, in order. In canonical form a key
/// needs no escape unless it contains `"`, `\` or a control character, so a plain ASCII name can
/// be compared with the raw key bytes directly. (Verification calls this once per event; the two
/// vectors it used to fill were a visible share of its time.)
pub fn check_canonical_object_raw(
    bytes: &[u8],
    member: &mut dyn FnMut(Range<usize>, Range<usize>),
) -> Result<(), CanonicalError> {
    let mut p = Parser { b: bytes, pos: 0 };
    match p.peek() {
        Some(b'{') => {}
        other => return Err(p.unexpected(other, "top-level value is not an object")),
    }
    p.object(1, Some(&mut |key: RawStr, value| member(key.start..key.end, value)))?;
    p.finish()
}

/// Same check for any JSON value (used by tests and for nested spans).
pub fn check_canonical(bytes: &[u8]) -> Result<(), CanonicalError> {
    let mut p = Parser { b: bytes, pos: 0 };
    p.value(0)?;
    p.finish()
}

/// The raw bytes of a string between its quotes, and whether they are plain ASCII without escapes
/// (so that the raw bytes are the decoded string).
#[derive(Clone, Copy)]
struct RawStr {
    start: usize,
    end: usize,
    plain: bool,
}

struct Parser<'a> {
    b: &'a [u8],
    pos: usize,
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// For 8 bytes loaded little-endian, a mask whose lowest set bit is the high bit of the first byte
/// that is `"`, `\`, below 0x20 or at least 0x80 (zero if there is none). Higher bits may be
/// spurious (borrow propagation), the lowest one is exact.
#[inline(always)]
fn special_bytes(w: u64) -> u64 {
    let quote = w ^ (ONES * u64::from(b'"'));
    let backslash = w ^ (ONES * u64::from(b'\\'));
    let is_quote = quote.wrapping_sub(ONES) & !quote;
    let is_backslash = backslash.wrapping_sub(ONES) & !backslash;
    let is_control = w.wrapping_sub(ONES * 0x20) & !w;
    (is_quote | is_backslash | is_control | w) & HIGHS
}

/// Whether `c` ends a run of plain string bytes: `"`, `\\`, a control character or non-ASCII.
#[inline(always)]
fn is_special(c: u8) -> bool {
    c == b'"' || c == b'\\' || !(0x20..0x80).contains(&c)
}

/// The index of the first special byte (see [`is_special`]) at or after `i`, or `b.len()`.
/// Strings are most of an event's bytes, so this runs 16 bytes at a time, then 8, then 1.
#[inline(always)]
fn skip_plain(b: &[u8], mut i: usize) -> usize {
    while let Some(chunk) = b.get(i..).and_then(<[u8]>::first_chunk::<16>) {
        match first_special_16(chunk) {
            Some(k) => return i + k,
            None => i += 16,
        }
    }
    if let Some(chunk) = b.get(i..).and_then(<[u8]>::first_chunk::<8>) {
        let mask = special_bytes(u64::from_le_bytes(*chunk));
        if mask != 0 {
            return i + (mask.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while b.get(i).is_some_and(|&c| !is_special(c)) {
        i += 1;
    }
    i
}

/// The position of the first special byte among 16, if any (two words of [`special_bytes`]).
///
/// An SSE2 version (one compare per class, `movemask`) measured no faster in verification:
/// event strings average ~14 bytes, so the scan costs per string (a call, a branch on its end),
/// not per byte.
#[inline(always)]
fn first_special_16(chunk: &[u8; 16]) -> Option<usize> {
    let w = u128::from_le_bytes(*chunk);
    let (lo, hi) = (special_bytes(w as u64), special_bytes((w >> 64) as u64));
    if lo != 0 {
        Some((lo.trailing_zeros() / 8) as usize)
    } else if hi != 0 {
        Some(8 + (hi.trailing_zeros() / 8) as usize)
    } else {
        None
    }
}

#[inline(always)]
fn is_json_whitespace(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r')
}

#[inline(always)]
fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// 2^53: every integer up to it is an exact double, written as plain digits by ECMAScript.
const TWO_POW_53: u64 = 1 << 53;

impl<'a> Parser<'a> {
    #[inline(always)]
    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    #[inline(always)]
    fn err(&self, offset: usize, reason: &'static str) -> CanonicalError {
        CanonicalError { offset, reason }
    }

    /// The error for byte `got` at `self.pos` where something else was expected: whitespace and
    /// end of input get their own reasons, anything else gets `expected`.
    #[cold]
    fn unexpected(&self, got: Option<u8>, expected: &'static str) -> CanonicalError {
        let reason = match got {
            None => "unexpected end of input",
            Some(c) if is_json_whitespace(c) => "insignificant whitespace",
            Some(_) => expected,
        };
        self.err(self.pos, reason)
    }

    fn finish(&self) -> Result<(), CanonicalError> {
        match self.peek() {
            None => Ok(()),
            Some(c) if is_json_whitespace(c) => Err(self.err(self.pos, "insignificant whitespace")),
            Some(_) => Err(self.err(self.pos, "trailing data after the JSON value")),
        }
    }

    /// One value starting at `self.pos`, inside `depth` enclosing containers.
    #[inline]
    fn value(&mut self, depth: usize) -> Result<(), CanonicalError> {
        match self.peek() {
            Some(b'"') => self.string().map(|_plain| ()),
            Some(b'{') => self.object(depth + 1, None),
            Some(b'[') => self.array(depth + 1),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            other => Err(self.unexpected(other, "expected a JSON value")),
        }
    }

    #[inline(always)]
    fn literal<const N: usize>(&mut self, lit: &'static [u8; N]) -> Result<(), CanonicalError> {
        // A fixed-size comparison: a few integer compares, no call to memcmp.
        if self.b.get(self.pos..).and_then(<[u8]>::first_chunk::<N>) == Some(lit) {
            self.pos += N;
            Ok(())
        } else {
            Err(self.err(self.pos, "invalid literal (expected true, false or null)"))
        }
    }

    /// An object at `self.pos` (which holds `{`) at nesting level `depth`; if `members` is given,
    /// it is called with each member as (raw key, value range), in order.
    fn object(
        &mut self,
        depth: usize,
        mut members: Option<&mut dyn FnMut(RawStr, Range<usize>)>,
    ) -> Result<(), CanonicalError> {
        if depth > MAX_DEPTH {
            return Err(self.err(self.pos, "nesting too deep"));
        }
        self.pos += 1;
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(());
        }
        let mut prev: Option<RawStr> = None;
        loop {
            let key_offset = self.pos;
            match self.peek() {
                Some(b'"') => {}
                other => return Err(self.unexpected(other, "expected a string key")),
            }
            // Built here from scalars, not returned by `string`: a struct result travelled through
            // memory and reading it back stalled on store forwarding.
            let plain = self.string()?;
            let key = RawStr { start: key_offset + 1, end: self.pos - 1, plain };
            if let Some(prev) = prev {
                match compare_keys(self.b, prev, key) {
                    Ordering::Less => {}
                    Ordering::Equal => return Err(self.err(key_offset, "duplicate object key")),
                    Ordering::Greater => {
                        return Err(self.err(key_offset, "object keys are not sorted by UTF-16 code units"))
                    }
                }
            }
            prev = Some(key);
            match self.peek() {
                Some(b':') => self.pos += 1,
                other => return Err(self.unexpected(other, "expected ':' after an object key")),
            }
            let value_start = self.pos;
            // Most values are strings: decided inline here, not through a call to `value`.
            if self.peek() == Some(b'"') {
                self.string()?;
            } else {
                self.value(depth)?;
            }
            if let Some(members) = members.as_deref_mut() {
                members(key, value_start..self.pos);
            }
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(());
                }
                other => return Err(self.unexpected(other, "expected ',' or '}' in an object")),
            }
        }
    }

    /// An array at `self.pos` (which holds `[`) at nesting level `depth`.
    fn array(&mut self, depth: usize) -> Result<(), CanonicalError> {
        if depth > MAX_DEPTH {
            return Err(self.err(self.pos, "nesting too deep"));
        }
        self.pos += 1;
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            if self.peek() == Some(b'"') {
                self.string()?;
            } else {
                self.value(depth)?;
            }
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(());
                }
                other => return Err(self.unexpected(other, "expected ',' or ']' in an array")),
            }
        }
    }

    /// A string at `self.pos` (which holds `"`); leaves `self.pos` after the closing quote and
    /// returns whether the string is plain ASCII without escapes (see [`RawStr`]).
    ///
    /// Always inlined, with the common case (plain ASCII up to the closing quote) decided here
    /// and everything else in [`Self::string_rest`]: called out of line, its result came back
    /// through memory and reading it stalled on store forwarding, ~5% of verification time.
    #[inline(always)]
    fn string(&mut self) -> Result<bool, CanonicalError> {
        let i = skip_plain(self.b, self.pos + 1);
        if self.b.get(i) == Some(&b'"') {
            self.pos = i + 1;
            return Ok(true);
        }
        self.string_rest(i)
    }

    /// The rest of the string whose `"` is at `self.pos`, from `i`, its first byte that is not
    /// plain ASCII (or the end of input); returns whether the string is plain after all.
    #[inline(never)]
    fn string_rest(&mut self, mut i: usize) -> Result<bool, CanonicalError> {
        let b = self.b;
        let mut plain = true;
        loop {
            let Some(&c) = b.get(i) else {
                return Err(self.err(self.pos, "unterminated string"));
            };
            match c {
                b'"' => {
                    self.pos = i + 1;
                    return Ok(plain);
                }
                b'\\' => {
                    plain = false;
                    i = self.escape(i)?;
                }
                0x00..=0x1f => return Err(self.err(i, "unescaped control character in a string")),
                0x80..=0xff => {
                    plain = false;
                    i = utf8_char_end(b, i).ok_or_else(|| self.err(i, "invalid UTF-8"))?;
                }
                _ => i += 1,
            }
            i = skip_plain(b, i);
        }
    }

    /// Checks the escape sequence whose `\` is at `i`; returns the index after it.
    #[inline]
    fn escape(&self, i: usize) -> Result<usize, CanonicalError> {
        let b = self.b;
        match b.get(i + 1) {
            Some(b'"' | b'\\' | b'b' | b't' | b'n' | b'f' | b'r') => Ok(i + 2),
            Some(b'/') => Err(self.err(i, "escaped solidus '\\/' is not canonical ('/' appears raw)")),
            Some(b'u') => {
                let mut v: u32 = 0;
                let mut uppercase = false;
                for k in 2..6 {
                    let Some(&h) = b.get(i + k) else {
                        return Err(self.err(i, "unterminated \\u escape"));
                    };
                    let Some(d) = hex_value(h) else {
                        return Err(self.err(i, "invalid \\u escape (expected four hex digits)"));
                    };
                    uppercase |= h.is_ascii_uppercase();
                    v = (v << 4) | u32::from(d);
                }
                match v {
                    0x08 | 0x09 | 0x0a | 0x0c | 0x0d | 0x22 | 0x5c => Err(self.err(
                        i,
                        "\\u escape where a short escape (\\b \\t \\n \\f \\r \\\" \\\\) is required",
                    )),
                    0x20.. => Err(self.err(i, "\\u escape of a character that must appear unescaped")),
                    _ if uppercase => Err(self.err(i, "\\u escape must use lowercase hex digits")),
                    _ => Ok(i + 6),
                }
            }
            Some(_) => Err(self.err(i, "invalid escape sequence")),
            None => Err(self.err(i, "unterminated string")),
        }
    }

    /// A number at `self.pos` (which holds `-` or a digit).
    #[inline]
    fn number(&mut self) -> Result<(), CanonicalError> {
        let b = self.b;
        let start = self.pos;
        let mut i = start;
        let negative = b.get(i) == Some(&b'-');
        if negative {
            i += 1;
        }
        let int_start = i;
        match b.get(i) {
            Some(b'0') => {
                i += 1;
                if b.get(i).is_some_and(u8::is_ascii_digit) {
                    return Err(self.err(start, "leading zero in a number"));
                }
            }
            Some(b'1'..=b'9') => {
                i += 1;
                while b.get(i).is_some_and(u8::is_ascii_digit) {
                    i += 1;
                }
            }
            _ => return Err(self.err(start, "invalid number (expected a digit)")),
        }
        let int_end = i;
        let mut fraction: Option<Range<usize>> = None;
        if b.get(i) == Some(&b'.') {
            i += 1;
            let frac_start = i;
            if !b.get(i).is_some_and(u8::is_ascii_digit) {
                return Err(self.err(start, "invalid number (expected a digit after '.')"));
            }
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            fraction = Some(frac_start..i);
        }
        let mut exponent = false;
        if matches!(b.get(i), Some(b'e' | b'E')) {
            exponent = true;
            i += 1;
            if matches!(b.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            if !b.get(i).is_some_and(u8::is_ascii_digit) {
                return Err(self.err(start, "invalid number (expected a digit in the exponent)"));
            }
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
        }
        self.pos = i;
        let token = b.get(start..i).unwrap_or_default();
        let digits = b.get(int_start..int_end).unwrap_or_default();

        if fraction.is_none() && !exponent {
            if digits == b"0" {
                return if negative {
                    Err(self.err(start, "negative zero is not canonical (write 0)"))
                } else {
                    Ok(())
                };
            }
            // No leading zero (checked above), so at most 15 digits means below 10^15 < 2^53.
            if digits.len() <= 15 {
                return Ok(());
            }
            if digits.len() == 16 {
                let v = digits.iter().fold(0u64, |acc, d| acc * 10 + u64::from(d - b'0'));
                if v <= TWO_POW_53 {
                    return Ok(());
                }
            }
        } else if let (Some(fraction), false) = (fraction, exponent) {
            // A plain decimal `I.F` with at most 15 significant digits names a double whose
            // shortest round-trip digits are exactly those digits (every decimal of at most 15
            // significant digits survives decimal -> double -> decimal, so no shorter decimal
            // reaches the same double). ECMAScript then writes it as `I.F` if it is at least 1e-6
            // (at most five zeros after "0."), and with no trailing zero in F.
            let frac = b.get(fraction).unwrap_or_default();
            if frac.last().is_some_and(|&d| d != b'0') {
                let (significant, in_range) = if digits == b"0" {
                    let zeros = frac.iter().take_while(|&&d| d == b'0').count();
                    (frac.len() - zeros, zeros <= 5)
                } else {
                    (digits.len() + frac.len(), true)
                };
                if in_range && significant <= 15 {
                    return Ok(());
                }
            }
        }
        self.number_slow(start, token)
    }

    #[cold]
    #[inline(never)]
    fn number_slow(&self, start: usize, token: &[u8]) -> Result<(), CanonicalError> {
        let text = std::str::from_utf8(token).map_err(|_| self.err(start, "invalid number"))?;
        let v: f64 = text.parse().map_err(|_| self.err(start, "invalid number"))?;
        if !v.is_finite() {
            return Err(self.err(start, "number is out of the range of a finite double"));
        }
        let mut buf = ryu_js::Buffer::new();
        // ryu_js writes both zeros as "0", as ECMAScript does; the check keeps it explicit.
        let canonical = if v == 0.0 { "0" } else { buf.format_finite(v) };
        if canonical.as_bytes() == token {
            Ok(())
        } else {
            Err(self.err(start, "number is not in canonical (ECMAScript shortest round-trip) form"))
        }
    }
}

/// If a well-formed UTF-8 sequence for one scalar value starts at `i` (whose byte is >= 0x80),
/// the index after it (Unicode Table 3-7: no overlongs, no surrogates, nothing above U+10FFFF).
#[inline]
fn utf8_char_end(b: &[u8], i: usize) -> Option<usize> {
    let cont = |k: usize| b.get(i + k).is_some_and(|&c| (0x80..=0xbf).contains(&c));
    let second = |lo: u8, hi: u8| b.get(i + 1).is_some_and(|&c| (lo..=hi).contains(&c));
    match *b.get(i)? {
        0xc2..=0xdf if cont(1) => Some(i + 2),
        0xe0 if second(0xa0, 0xbf) && cont(2) => Some(i + 3),
        0xe1..=0xec | 0xee..=0xef if cont(1) && cont(2) => Some(i + 3),
        0xed if second(0x80, 0x9f) && cont(2) => Some(i + 3),
        0xf0 if second(0x90, 0xbf) && cont(2) && cont(3) => Some(i + 4),
        0xf1..=0xf3 if cont(1) && cont(2) && cont(3) => Some(i + 4),
        0xf4 if second(0x80, 0x8f) && cont(2) && cont(3) => Some(i + 4),
        _ => None,
    }
}

/// Orders two keys (raw bytes between quotes, already validated) by their decoded UTF-16 code
/// units, as RFC 8785 section 3.2.3 requires.
#[inline]
fn compare_keys(b: &[u8], x: RawStr, y: RawStr) -> Ordering {
    let xs = b.get(x.start..x.end).unwrap_or_default();
    let ys = b.get(y.start..y.end).unwrap_or_default();
    if x.plain && y.plain {
        // ASCII without escapes: bytes are code units. Keys are short and usually differ early,
        // so an inline loop beats a call to memcmp.
        for (a, b) in xs.iter().zip(ys) {
            if a != b {
                return a.cmp(b);
            }
        }
        xs.len().cmp(&ys.len())
    } else {
        Utf16Units::new(xs).cmp(Utf16Units::new(ys))
    }
}

/// The decoded text of a key whose raw bytes were validated by [`Parser::string`].
fn decode_key(b: &[u8], k: RawStr) -> String {
    let raw = b.get(k.start..k.end).unwrap_or_default();
    match std::str::from_utf8(raw) {
        Ok(s) if k.plain => s.to_owned(),
        Ok(s) => DecodedChars { rest: s.chars() }.collect(),
        // Unreachable: the parser validated the key as UTF-8.
        Err(_) => String::new(),
    }
}

/// The characters of a validated canonical string body, with escapes decoded.
struct DecodedChars<'a> {
    rest: std::str::Chars<'a>,
}

impl Iterator for DecodedChars<'_> {
    type Item = char;

    fn next(&mut self) -> Option<char> {
        let c = self.rest.next()?;
        if c != '\\' {
            return Some(c);
        }
        Some(match self.rest.next()? {
            'b' => '\u{8}',
            't' => '\t',
            'n' => '\n',
            'f' => '\u{c}',
            'r' => '\r',
            'u' => {
                // Validated as `\u00xx` with xx < 0x20.
                let mut v = 0u32;
                for _ in 0..4 {
                    v = (v << 4) | self.rest.next().and_then(|h| h.to_digit(16)).unwrap_or(0);
                }
                char::from_u32(v).unwrap_or('\u{fffd}')
            }
            other => other, // '"' and '\\'
        })
    }
}

/// The UTF-16 code units of a validated canonical string body, with escapes decoded.
struct Utf16Units<'a> {
    chars: DecodedChars<'a>,
    low_surrogate: Option<u16>,
}

impl<'a> Utf16Units<'a> {
    fn new(raw: &'a [u8]) -> Self {
        // The parser validated `raw` as UTF-8; the fallback is unreachable.
        let s = std::str::from_utf8(raw).unwrap_or_default();
        Utf16Units { chars: DecodedChars { rest: s.chars() }, low_surrogate: None }
    }
}

impl Iterator for Utf16Units<'_> {
    type Item = u16;

    fn next(&mut self) -> Option<u16> {
        if let Some(low) = self.low_surrogate.take() {
            return Some(low);
        }
        let mut buf = [0u16; 2];
        match *self.chars.next()?.encode_utf16(&mut buf) {
            [unit] => Some(unit),
            [high, low] => {
                self.low_surrogate = Some(low);
                Some(high)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) {
        if let Err(e) = check_canonical(s.as_bytes()) {
            panic!("{s:?} should be canonical: {e}");
        }
    }

    /// Asserts that `s` is refused at `offset` for `reason`.
    fn bad(s: &str, offset: usize, reason: &str) {
        bad_bytes(s.as_bytes(), offset, reason);
    }

    fn bad_bytes(s: &[u8], offset: usize, reason: &str) {
        match check_canonical(s) {
            Ok(()) => panic!("{:?} should not be canonical", String::from_utf8_lossy(s)),
            Err(e) => assert_eq!(
                (e.offset, e.reason),
                (offset, reason),
                "wrong error for {:?}",
                String::from_utf8_lossy(s)
            ),
        }
    }

    const RFC_INPUT: &str = r#"{"numbers":[333333333.33333329,1E30,4.50,2e-3,0.000000000000000000000000001],"string":"\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"/","literals":[null,true,false]}"#;
    const RFC_OUTPUT: &str = r#"{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}"#;

    #[test]
    fn rfc8785_example() {
        ok(RFC_OUTPUT);
        let members = check_canonical_object(RFC_OUTPUT.as_bytes()).unwrap();
        let got: Vec<(&str, &str)> =
            members.iter().map(|(k, r)| (k.as_str(), &RFC_OUTPUT[r.clone()])).collect();
        assert_eq!(
            got,
            [
                ("literals", "[null,true,false]"),
                ("numbers", "[333333333.3333333,1e+30,4.5,0.002,1e-27]"),
                ("string", r#""€$\u000f\nA'B\"\\\\\"/""#),
            ]
        );
        // The RFC's input is refused at its first non-canonical token.
        bad(RFC_INPUT, 12, "number is not in canonical (ECMAScript shortest round-trip) form");
        // And the reference agrees with the RFC.
        let v: serde_json::Value = serde_json::from_str(RFC_INPUT).unwrap();
        assert_eq!(serde_json_canonicalizer::to_string(&v).unwrap(), RFC_OUTPUT);
    }

    #[test]
    fn rfc8785_number_table() {
        // RFC 8785 appendix B: IEEE-754 bit patterns and their canonical forms.
        let table: &[(u64, &str)] = &[
            (0x0000000000000000, "0"),
            (0x8000000000000000, "0"),
            (0x0000000000000001, "5e-324"),
            (0x8000000000000001, "-5e-324"),
            (0x7fefffffffffffff, "1.7976931348623157e+308"),
            (0xffefffffffffffff, "-1.7976931348623157e+308"),
            (0x4340000000000000, "9007199254740992"),
            (0xc340000000000000, "-9007199254740992"),
            (0x4430000000000000, "295147905179352830000"),
            (0x44b52d02c7e14af5, "9.999999999999997e+22"),
            (0x44b52d02c7e14af6, "1e+23"),
            (0x44b52d02c7e14af7, "1.0000000000000001e+23"),
            (0x444b1ae4d6e2ef4e, "999999999999999700000"),
            (0x444b1ae4d6e2ef4f, "999999999999999900000"),
            (0x444b1ae4d6e2ef50, "1e+21"),
            (0x3eb0c6f7a0b5ed8c, "9.999999999999997e-7"),
            (0x3eb0c6f7a0b5ed8d, "0.000001"),
            (0x41b3de4355555553, "333333333.3333332"),
            (0x41b3de4355555554, "333333333.33333325"),
            (0x41b3de4355555555, "333333333.3333333"),
            (0x41b3de4355555556, "333333333.3333334"),
            (0x41b3de4355555557, "333333333.33333343"),
            (0xbecbf647612f3696, "-0.0000033333333333333333"),
            (0x43143ff3c1cb0959, "1424953923781206.2"),
        ];
        for &(bits, text) in table {
            assert_eq!(ryu_js::Buffer::new().format_finite(f64::from_bits(bits)), text);
            ok(text);
        }
    }

    #[test]
    fn numbers() {
        for s in [
            "0",
            "1",
            "-1",
            "10",
            "123456789012345",
            "9007199254740992",
            "-9007199254740992",
            "9007199254740994",
            "1e+21",
            "1e-7",
            "0.1",
            "-0.5",
            "1.5e+300",
            "100000000000000000000",
        ] {
            ok(s);
        }
        let not_canonical = "number is not in canonical (ECMAScript shortest round-trip) form";
        bad("-0", 0, "negative zero is not canonical (write 0)");
        bad("-0.0", 0, not_canonical);
        bad("0.0", 0, not_canonical);
        bad("1.0", 0, not_canonical);
        bad("1E+30", 0, not_canonical);
        bad("1e30", 0, not_canonical);
        bad("4.50", 0, not_canonical);
        bad("2e-3", 0, not_canonical);
        bad("1e21", 0, not_canonical);
        bad("1000000000000000000000", 0, not_canonical);
        bad("9007199254740993", 0, not_canonical); // rounds to ...992
        bad("12345678901234567", 0, not_canonical); // rounds to ...568
        bad("1e-400", 0, not_canonical); // underflows to 0
        bad("1e400", 0, "number is out of the range of a finite double");
        bad("-1e400", 0, "number is out of the range of a finite double");
        bad("01", 0, "leading zero in a number");
        bad("-01", 0, "leading zero in a number");
        bad("-", 0, "invalid number (expected a digit)");
        bad("-a", 0, "invalid number (expected a digit)");
        bad("1.", 0, "invalid number (expected a digit after '.')");
        bad("1.e3", 0, "invalid number (expected a digit after '.')");
        bad("1e", 0, "invalid number (expected a digit in the exponent)");
        bad("1e+", 0, "invalid number (expected a digit in the exponent)");
        bad("+1", 0, "expected a JSON value");
        bad(".5", 0, "expected a JSON value");
        bad("[1,.5]", 3, "expected a JSON value");
        bad("1.5.3", 3, "trailing data after the JSON value");
        bad("[1.5.3]", 4, "expected ',' or ']' in an array");
        bad("NaN", 0, "expected a JSON value");
        bad("Infinity", 0, "expected a JSON value");
    }

    #[test]
    fn literals_and_structure() {
        for s in ["true", "false", "null", "[]", "{}", "[[]]", r#"{"a":{}}"#, r#"[1,"a",null,{"b":[]}]"#] {
            ok(s);
        }
        let literal = "invalid literal (expected true, false or null)";
        bad("tru", 0, literal);
        bad("True", 0, "expected a JSON value");
        bad("nul", 0, literal);
        bad("[null,fals]", 6, literal);
        bad("", 0, "unexpected end of input");
        bad("[", 1, "unexpected end of input");
        bad("[1", 2, "unexpected end of input");
        bad("[1,", 3, "unexpected end of input");
        bad("{", 1, "unexpected end of input");
        bad(r#"{"a""#, 4, "unexpected end of input");
        bad(r#"{"a":"#, 5, "unexpected end of input");
        bad("[1,]", 3, "expected a JSON value");
        bad("[,1]", 1, "expected a JSON value");
        bad("[1;2]", 2, "expected ',' or ']' in an array");
        bad("{1:2}", 1, "expected a string key");
        bad(r#"{"a":1,}"#, 7, "expected a string key");
        bad(r#"{"a"=1}"#, 4, "expected ':' after an object key");
        bad(r#"{"a":1]"#, 6, "expected ',' or '}' in an object");
        bad("[1]]", 3, "trailing data after the JSON value");
        bad("1 2", 1, "insignificant whitespace");
        bad("\u{feff}1", 0, "expected a JSON value");
    }

    #[test]
    fn whitespace_is_refused_everywhere() {
        // Every byte outside strings is a token boundary here (no multi-byte literal or number).
        let canonical = r#"{"a":[1,{"b":"c d"}],"e":[]}"#;
        ok(canonical);
        for (i, c) in canonical.char_indices() {
            if i == 0 {
                continue;
            }
            let inside_string = canonical[..i].matches('"').count() % 2 == 1;
            for ws in [" ", "\t", "\n", "\r"] {
                let s = format!("{}{ws}{}", &canonical[..i], &canonical[i..]);
                let r = check_canonical(s.as_bytes());
                if inside_string && ws == " " {
                    // A space inside a string is legal; it may or may not break the key order.
                } else if inside_string {
                    assert_eq!(r.unwrap_err().reason, "unescaped control character in a string", "{s:?}");
                } else {
                    assert_eq!(
                        r,
                        Err(CanonicalError { offset: i, reason: "insignificant whitespace" }),
                        "{s:?} {c}"
                    );
                }
            }
        }
        bad(" 1", 0, "insignificant whitespace");
        bad("1 ", 1, "insignificant whitespace");
        bad("{}\n", 2, "insignificant whitespace");
    }

    #[test]
    fn strings() {
        for s in [
            r#""""#,
            r#""plain ascii, long enough to take the word-at-a-time path""#,
            r#""\"\\\b\t\n\f\r""#,
            r#""\u0000\u0001\u001f\u000b\u000e""#,
            "\"/\u{7f}é€\u{10ffff}\u{fffd}\"",
            "\"0123456789abcdef\u{e9}0123456789abcdef\\n0123456789\"",
        ] {
            ok(s);
        }
        bad(r#""\/""#, 1, "escaped solidus '\\/' is not canonical ('/' appears raw)");
        let raw = "\\u escape of a character that must appear unescaped";
        bad(r#""\u0041""#, 1, raw);
        bad(r#""\u00e9""#, 1, raw);
        bad(r#""\u007f""#, 1, raw);
        bad(r#""\u0020""#, 1, raw);
        bad(r#""\ud83d\ude00""#, 1, raw);
        bad(r#""\udc00""#, 1, raw);
        bad(r#""\u20ac""#, 1, raw);
        let short = "\\u escape where a short escape (\\b \\t \\n \\f \\r \\\" \\\\) is required";
        for e in ["\\u0008", "\\u0009", "\\u000a", "\\u000c", "\\u000d", "\\u0022", "\\u005c", "\\u000A"] {
            bad(&format!("\"ab{e}\""), 3, short);
        }
        bad(r#""\u000F""#, 1, "\\u escape must use lowercase hex digits");
        bad(r#""\u001B""#, 1, "\\u escape must use lowercase hex digits");
        bad(r#""\u00g0""#, 1, "invalid \\u escape (expected four hex digits)");
        bad(r#""\u00"#, 1, "unterminated \\u escape");
        bad(r#""\a""#, 1, "invalid escape sequence");
        bad(r#""\'""#, 1, "invalid escape sequence");
        bad(r#""\"#, 1, "unterminated string");
        bad("\"abc", 0, "unterminated string");
        bad("[\"0123456789abcdefghij", 1, "unterminated string");
        bad("\"a\u{1}\"", 2, "unescaped control character in a string");
        bad("\"0123456789\tabc\"", 11, "unescaped control character in a string");
        bad("\"a\nb\"", 2, "unescaped control character in a string");
        bad("\"\u{0}\"", 1, "unescaped control character in a string");
    }

    #[test]
    fn invalid_utf8_is_refused() {
        let cases: &[&[u8]] = &[
            b"\"\x80\"",             // lone continuation byte
            b"\"\xc0\xaf\"",         // overlong '/'
            b"\"\xc1\xbf\"",         // overlong
            b"\"\xe0\x80\xaf\"",     // overlong 3-byte
            b"\"\xed\xa0\x80\"",     // encoded surrogate U+D800
            b"\"\xf0\x80\x80\xaf\"", // overlong 4-byte
            b"\"\xf4\x90\x80\x80\"", // above U+10FFFF
            b"\"\xf5\x80\x80\x80\"", // invalid lead
            b"\"\xff\"",
            b"\"\xc3\"",     // truncated before the quote
            b"\"\xe2\x82\"", // truncated
            b"\"\xe2\x82",   // truncated at end of input
        ];
        for s in cases {
            bad_bytes(s, 1, "invalid UTF-8");
            assert!(std::str::from_utf8(s).is_err() || s.len() < 3);
        }
        bad_bytes(b"\"0123456789\xff\"", 11, "invalid UTF-8");
        bad_bytes(b"[1,\xc3\xa9]", 3, "expected a JSON value");
        bad_bytes(b"\xef\xbb\xbf{}", 0, "expected a JSON value");
        // Every valid boundary form is accepted.
        for c in
            ['\u{80}', '\u{7ff}', '\u{800}', '\u{d7ff}', '\u{e000}', '\u{ffff}', '\u{10000}', '\u{10ffff}']
        {
            ok(&format!("\"{c}\""));
        }
    }

    #[test]
    fn keys_are_ordered_by_utf16_code_units() {
        ok(r#"{"":0,"a":1,"aa":2,"ab":3,"b":4}"#);
        // U+10000 is D800 DC00 in UTF-16, which sorts before U+E000 although its UTF-8 sorts after.
        ok("{\"\u{10000}\":1,\"\u{e000}\":2}");
        bad("{\"\u{e000}\":1,\"\u{10000}\":2}", 9, "object keys are not sorted by UTF-16 code units");
        ok("{\"\u{ffff}x\":1,\"\u{ffff}y\":2}");
        ok("{\"a\":1,\"\u{e9}\":2,\"\u{20ac}\":3}");
        // Escaped keys compare by their decoded value: '\n' (0x0A) < ' ' (0x20) < '"' < '\\'.
        ok(r#"{"\n":1," ":2,"\"":3,"\\":4,"a":5}"#);
        bad(r#"{" ":1,"\n":2}"#, 7, "object keys are not sorted by UTF-16 code units");
        ok(r#"{"\u0000":1,"\u0001":2,"\b":3}"#);
        bad(r#"{"\\":1,"a\"":2,"]":3}"#, 16, "object keys are not sorted by UTF-16 code units");
        ok(r#"{"\\":1,"]":3}"#);
        let unsorted = "object keys are not sorted by UTF-16 code units";
        bad(r#"{"b":1,"a":2}"#, 7, unsorted);
        bad(r#"{"ab":1,"a":2}"#, 8, unsorted);
        bad(r#"{"a":{"y":1,"x":2}}"#, 12, unsorted);
        bad(r#"{"a":1,"a":2}"#, 7, "duplicate object key");
        bad(r#"{"a":1,"b":2,"b":[]}"#, 13, "duplicate object key");
        bad("{\"\u{e9}\":1,\"\u{e9}\":2}", 8, "duplicate object key");
        bad(r#"{"\n":1,"\n":2}"#, 8, "duplicate object key");
    }

    #[test]
    fn top_level_members_and_spans() {
        let s = "{\"a\\n\":[1,{\"x\":\"y\"}],\"b\":\"\u{e9}\",\"c\":-1.5e-7,\"d\":{},\"\u{e9}\":null}";
        let members = check_canonical_object(s.as_bytes()).unwrap();
        let got: Vec<(&str, &str)> = members.iter().map(|(k, r)| (k.as_str(), &s[r.clone()])).collect();
        assert_eq!(
            got,
            [
                ("a\n", "[1,{\"x\":\"y\"}]"),
                ("b", "\"\u{e9}\""),
                ("c", "-1.5e-7"),
                ("d", "{}"),
                ("\u{e9}", "null"),
            ]
        );
        for (_, r) in &members {
            check_canonical(&s.as_bytes()[r.clone()]).unwrap();
        }
        assert_eq!(check_canonical_object(b"{}").unwrap(), vec![]);
        let not_object = "top-level value is not an object";
        for s in ["[]", "1", "\"a\"", "null"] {
            assert_eq!(check_canonical_object(s.as_bytes()).unwrap_err().reason, not_object);
        }
        assert_eq!(
            check_canonical_object(b" {}").unwrap_err(),
            CanonicalError { offset: 0, reason: "insignificant whitespace" }
        );
        assert_eq!(check_canonical_object(b"").unwrap_err().reason, "unexpected end of input");
        assert_eq!(
            check_canonical_object(b"{}{}").unwrap_err(),
            CanonicalError { offset: 2, reason: "trailing data after the JSON value" }
        );
        assert_eq!(check_canonical_object(br#"{"b":1,"a":2}"#).unwrap_err().offset, 7);
    }

    #[test]
    fn control_characters_round_trip_through_the_reference() {
        for c in (0u32..0x80).filter_map(char::from_u32) {
            let s = c.to_string();
            let canonical = serde_json_canonicalizer::to_vec(&s).unwrap();
            check_canonical(&canonical).unwrap();
            let key =
                serde_json_canonicalizer::to_vec(&serde_json::json!({ s.clone(): 1, "\u{80}": 2 })).unwrap();
            check_canonical(&key).unwrap();
            let members = check_canonical_object(&key).unwrap();
            assert_eq!(members[0].0, s);
        }
    }

    #[test]
    fn depth_limit_matches_serde_json() {
        for (open, close) in [("[", "]"), ("{\"a\":", "}")] {
            let nested = |n: usize| format!("{}{}{}", open.repeat(n), "1", close.repeat(n));
            let deepest = nested(MAX_DEPTH);
            ok(&deepest);
            assert!(serde_json::from_str::<serde_json::Value>(&deepest).is_ok());
            let too_deep = nested(MAX_DEPTH + 1);
            assert_eq!(check_canonical(too_deep.as_bytes()).unwrap_err().reason, "nesting too deep");
            assert!(serde_json::from_str::<serde_json::Value>(&too_deep).is_err());
        }
        // Far too deep (and unterminated): an error, not a stack overflow.
        let s = "[".repeat(1_000_000);
        assert_eq!(
            check_canonical(s.as_bytes()),
            Err(CanonicalError { offset: MAX_DEPTH, reason: "nesting too deep" })
        );
    }

    #[test]
    fn error_display() {
        let e = check_canonical(b"[1, 2]").unwrap_err();
        assert_eq!(e.to_string(), "not canonical JSON at byte 3: insignificant whitespace");
    }

    #[test]
    fn sixteen_byte_scan_finds_the_first_special_byte() {
        let fills: Vec<u8> = (0x20u8..0x80).filter(|&c| !is_special(c)).collect();
        for fill in [b'a', b' ', b'~', 0x21, 0x5b, 0x5d, 0x7f] {
            assert_eq!(first_special_16(&[fill; 16]), None, "{fill}");
        }
        for pos in 0..16 {
            for c in 0u8..=255 {
                let fill = fills[(pos * 7 + usize::from(c)) % fills.len()];
                let mut bytes = [fill; 16];
                bytes[pos] = c;
                // A later special byte must not hide this one.
                if pos + 1 < 16 {
                    bytes[15] = b'"';
                }
                let want = if is_special(c) {
                    Some(pos)
                } else if pos + 1 < 16 {
                    Some(15)
                } else {
                    None
                };
                assert_eq!(first_special_16(&bytes), want, "{bytes:?}");
            }
        }
        // skip_plain over every length and every position of one special byte, with and without a
        // closing quote after it (the 16-, 8- and 1-byte steps and their boundaries).
        for len in 0..48 {
            let plain = vec![b'x'; len];
            assert_eq!(skip_plain(&plain, 0), len);
            for at in 0..len {
                for c in [b'"', b'\\', 0x00, 0x1f, 0x80, 0xff] {
                    let mut m = plain.clone();
                    m[at] = c;
                    for from in [0, at.saturating_sub(9), at] {
                        assert_eq!(skip_plain(&m, from), at, "{m:?} from {from}");
                    }
                    assert_eq!(skip_plain(&m, at + 1), len);
                }
            }
        }
    }

    #[test]
    fn special_bytes_mask_finds_the_first_special_byte() {
        for pos in 0..8 {
            for special in [b'"', b'\\', 0x00, 0x1f, 0x80, 0xff] {
                for fill in [b'a', b' ', b'~', 0x21, 0x5b, 0x5d, 0x7f] {
                    let mut bytes = [fill; 8];
                    bytes[pos] = special;
                    // Later bytes may also be special; the first must still be found.
                    if pos + 1 < 8 {
                        bytes[pos + 1] = 0x01;
                    }
                    let m = special_bytes(u64::from_le_bytes(bytes));
                    assert_eq!(m.trailing_zeros() / 8, pos as u32, "{bytes:?}");
                }
            }
        }
        for fill in 0x20u8..0x80 {
            if fill != b'"' && fill != b'\\' {
                assert_eq!(special_bytes(u64::from_le_bytes([fill; 8])), 0, "{fill}");
            }
        }
    }
}
