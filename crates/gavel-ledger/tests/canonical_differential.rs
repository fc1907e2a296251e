//! Differential tests of `gavel_ledger::canonical` against `serde_json_canonicalizer`.
//!
//! The oracle: bytes `m` are canonical iff `serde_json` parses them and `serde_json_canonicalizer`
//! re-serializes the result to exactly `m`. (`serde_json` keeps the last of duplicate keys, so
//! re-canonicalization drops a member and the oracle refuses duplicates, as the validator must.)
//!
//! The throughput check is an ignored test, run by hand in release:
//! `cargo test --release -p gavel-ledger --test canonical_differential -- --ignored --nocapture`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is the test failing

use gavel_ledger::canonical::{check_canonical, check_canonical_object};
use gavel_ledger::jcs;
use proptest::prelude::*;
use serde_json::{Map, Number, Value};

/// The oracle: does `m` parse and re-canonicalize to exactly itself?
fn oracle(m: &[u8]) -> bool {
    match serde_json::from_slice::<Value>(m) {
        Ok(v) => serde_json_canonicalizer::to_vec(&v).is_ok_and(|c| c == m),
        Err(_) => false,
    }
}

/// The same question answered with this crate's own serializer (`jcs`, which writes events).
fn jcs_oracle(m: &[u8]) -> bool {
    match serde_json::from_slice::<Value>(m) {
        Ok(v) => jcs::to_vec(&v).is_ok_and(|c| c == m),
        Err(_) => false,
    }
}

fn assert_agrees(m: &[u8]) -> Result<(), TestCaseError> {
    let ours = check_canonical(m);
    let expected = oracle(m);
    prop_assert_eq!(
        jcs_oracle(m),
        expected,
        "the two references disagree on {:?}",
        String::from_utf8_lossy(m)
    );
    prop_assert_eq!(
        ours.is_ok(),
        expected,
        "validator says {:?}, oracle says {} for {:?}",
        ours,
        expected,
        String::from_utf8_lossy(m)
    );
    Ok(())
}

fn arb_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => any::<char>(),
        3 => proptest::char::range('a', 'f'),
        2 => (0u8..0x20).prop_map(char::from),
        2 => prop::sample::select(vec!['"', '\\', '/', '\u{7f}', ' ', 'A', 'B', '_', '~']),
        1 => prop::sample::select(vec![
            '\u{80}', '\u{e9}', '\u{7ff}', '\u{800}', '\u{20ac}', '\u{d7ff}', '\u{e000}', '\u{fffd}',
            '\u{ffff}', '\u{10000}', '\u{1f600}', '\u{10ffff}',
        ]),
    ]
}

fn arb_string() -> impl Strategy<Value = String> {
    prop::collection::vec(arb_char(), 0..10).prop_map(String::from_iter)
}

/// Long strings: runs of plain ASCII of any length with the occasional special character, so that
/// escapes, raw non-ASCII, control characters and the closing quote fall at every offset of the
/// validator's 16- and 8-byte scan steps (`arb_string` stops at 10 characters).
fn arb_long_string() -> impl Strategy<Value = String> {
    prop::collection::vec(prop_oneof![12 => proptest::char::range(' ', '~'), 1 => arb_char()], 0..70)
        .prop_map(String::from_iter)
}

/// Values made of long strings (as keys too), nested.
fn arb_long_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        4 => arb_long_string().prop_map(Value::String),
        1 => arb_number().prop_map(Value::Number),
        1 => Just(Value::Null),
    ];
    leaf.prop_recursive(3, 32, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((arb_long_string(), inner), 0..5)
                .prop_map(|members| Value::Object(members.into_iter().collect::<Map<String, Value>>())),
        ]
    })
}

fn arb_number() -> impl Strategy<Value = Number> {
    const SAFE: i64 = 1 << 53;
    prop_oneof![
        3 => (0i64..1000).prop_map(Number::from),
        2 => (-SAFE..=SAFE).prop_map(Number::from),
        1 => any::<i64>().prop_map(Number::from),
        1 => any::<u64>().prop_map(Number::from),
        2 => any::<u64>().prop_filter_map("finite", |bits| Number::from_f64(f64::from_bits(bits))),
        3 => (-1.0e3f64..1.0e3, -330i32..330)
            .prop_filter_map("finite", |(m, e)| Number::from_f64(m * 10f64.powi(e))),
        2 => (-1000i32..1000, 0u32..8).prop_map(|(n, d)| Number::from_f64(f64::from(n) / 10f64.powi(d as i32))
            .unwrap_or_else(|| Number::from(0))),
    ]
}

fn arb_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        arb_number().prop_map(Value::Number),
        arb_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((arb_string(), inner), 0..6)
                .prop_map(|members| Value::Object(members.into_iter().collect::<Map<String, Value>>())),
        ]
    })
}

fn arb_object() -> impl Strategy<Value = Value> {
    prop::collection::vec((arb_string(), arb_value()), 0..8)
        .prop_map(|members| Value::Object(members.into_iter().collect::<Map<String, Value>>()))
}

/// Canonical bytes built independently of the reference's object writer (keys sorted here by
/// UTF-16, leaves serialized by the reference), optionally swapping two adjacent members of the
/// `swap`-th object (pre-order) that has at least two members.
fn emit(v: &Value, swap: &mut Option<usize>, out: &mut Vec<u8>) {
    match v {
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                emit(item, swap, out);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            members.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
            if members.len() >= 2 {
                match swap {
                    Some(0) => {
                        let k = members.len() / 2;
                        members.swap(k - 1, k);
                        *swap = None;
                    }
                    Some(n) => *n -= 1,
                    None => {}
                }
            }
            out.push(b'{');
            for (i, (k, item)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend(serde_json_canonicalizer::to_vec(k).unwrap());
                out.push(b':');
                emit(item, swap, out);
            }
            out.push(b'}');
        }
        leaf => out.extend(serde_json_canonicalizer::to_vec(leaf).unwrap()),
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    Replace(usize, u8),
    Flip(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    Whitespace(usize, u8),
    Swap(usize),
}

/// Bytes most likely to turn canonical JSON into other valid (but perhaps non-canonical) JSON.
fn interesting_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        3 => prop::sample::select(
            b"\"\\/u0123456789abcdefABCDEF.eE+-{}[],:ntrfl \t\n\r\x00\x1f\x7f\x80\xbf\xc3\xe2\xed\xf0\xff".to_vec()
        ),
        1 => any::<u8>(),
    ]
}

fn arb_mutation() -> impl Strategy<Value = Mutation> {
    let idx = any::<prop::sample::Index>();
    prop_oneof![
        3 => (any::<usize>(), interesting_byte()).prop_map(|(i, b)| Mutation::Replace(i, b)),
        1 => (any::<usize>(), 0u8..8).prop_map(|(i, bit)| Mutation::Flip(i, bit)),
        3 => (any::<usize>(), interesting_byte()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        2 => any::<usize>().prop_map(Mutation::Delete),
        1 => (any::<usize>(), prop::sample::select(b" \t\n\r".to_vec()))
            .prop_map(|(i, b)| Mutation::Whitespace(i, b)),
        2 => idx.prop_map(|i| Mutation::Swap(i.index(1 << 16))),
    ]
}

fn apply(v: &Value, canonical: &[u8], m: &Mutation) -> Vec<u8> {
    let mut out = canonical.to_vec();
    let n = out.len();
    match *m {
        Mutation::Replace(i, b) => out[i % n] = b,
        Mutation::Flip(i, bit) => out[i % n] ^= 1 << bit,
        Mutation::Insert(i, b) | Mutation::Whitespace(i, b) => out.insert(i % (n + 1), b),
        Mutation::Delete(i) => {
            out.remove(i % n);
        }
        Mutation::Swap(k) => {
            out.clear();
            let objects = count_swappable(v);
            let mut swap = if objects == 0 { None } else { Some(k % objects) };
            emit(v, &mut swap, &mut out);
        }
    }
    out
}

fn count_swappable(v: &Value) -> usize {
    match v {
        Value::Array(items) => items.iter().map(count_swappable).sum(),
        Value::Object(map) => usize::from(map.len() >= 2) + map.values().map(count_swappable).sum::<usize>(),
        _ => 0,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// (1) Whatever the reference produces is accepted; top-level spans are the members' own
    /// canonical bytes; the independent emitter agrees with the reference.
    #[test]
    fn reference_output_is_accepted(v in arb_value()) {
        let canonical = serde_json_canonicalizer::to_vec(&v).unwrap();
        prop_assert_eq!(check_canonical(&canonical), Ok(()), "{}", String::from_utf8_lossy(&canonical));
        let mut emitted = Vec::new();
        emit(&v, &mut None, &mut emitted);
        prop_assert_eq!(&emitted, &canonical);
    }

    #[test]
    fn top_level_members_are_returned_in_order(v in arb_object()) {
        let canonical = serde_json_canonicalizer::to_vec(&v).unwrap();
        let members = check_canonical_object(&canonical).unwrap();
        let map = v.as_object().unwrap();
        let mut keys: Vec<&String> = map.keys().collect();
        keys.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));
        prop_assert_eq!(members.iter().map(|(k, _)| k).collect::<Vec<_>>(), keys);
        for (k, range) in &members {
            let span = &canonical[range.clone()];
            prop_assert_eq!(span, &serde_json_canonicalizer::to_vec(&map[k]).unwrap()[..]);
            prop_assert_eq!(check_canonical(span), Ok(()));
        }
    }

    /// (2) Mutated canonical bytes are accepted iff the oracle accepts them.
    #[test]
    fn mutations_agree_with_the_oracle(
        v in arb_value(),
        mutations in prop::collection::vec(arb_mutation(), 1..4),
    ) {
        let mut bytes = serde_json_canonicalizer::to_vec(&v).unwrap();
        for m in &mutations {
            // Swaps re-emit `v`, so they apply to the unmutated bytes; other edits compound.
            bytes = apply(&v, &bytes, m);
            if bytes.is_empty() {
                break;
            }
        }
        assert_agrees(&bytes)?;
    }

    /// Swapping two members anywhere always breaks canonicity.
    #[test]
    fn swapped_members_are_refused(
        (key, suffix) in (arb_string(), arb_string().prop_filter("non-empty", |s| !s.is_empty())),
        (a, b) in (arb_value(), arb_value()),
        k in any::<usize>(),
    ) {
        // At least one object with two members: `key` and the distinct, longer `key + suffix`.
        let mut map = Map::new();
        map.insert(key.clone(), a);
        map.insert(key + &suffix, b);
        let v = Value::Object(map);
        let objects = count_swappable(&v);
        let mut out = Vec::new();
        emit(&v, &mut Some(k % objects), &mut out);
        prop_assert!(check_canonical(&out).is_err());
        assert_agrees(&out)?;
    }

    /// Plain (non-canonical) serde_json output: accepted iff it happens to be canonical.
    #[test]
    fn serde_json_output_agrees_with_the_oracle(v in arb_value()) {
        assert_agrees(&serde_json::to_vec(&v).unwrap())?;
        assert_agrees(&serde_json::to_vec_pretty(&v).unwrap())?;
    }

    /// Arbitrary JSON number tokens, canonical or not.
    #[test]
    fn number_tokens_agree_with_the_oracle(
        token in "-?(0|[1-9][0-9]{0,22})(\\.[0-9]{1,20})?([eE][+-]?[0-9]{1,3})?",
    ) {
        assert_agrees(token.as_bytes())?;
        assert_agrees(format!("[{token}]").as_bytes())?;
    }

    /// Short decimals and exponent forms around the fast paths' limits (15-17 significant
    /// digits, up to and beyond five leading zeros, trailing zeros, integers near 2^53).
    #[test]
    fn short_number_tokens_agree_with_the_oracle(
        token in "-?(0|[1-9][0-9]{0,8})(\\.0{0,7}[0-9]{0,9}[0-9]?)?([eE][+-]?[0-9]{1,2})?",
        int in "-?[1-9][0-9]{14,16}",
        near in -40i64..40,
    ) {
        assert_agrees(token.as_bytes())?;
        assert_agrees(int.as_bytes())?;
        let near = (1i64 << 53) + near;
        assert_agrees(near.to_string().as_bytes())?;
        assert_agrees((-near).to_string().as_bytes())?;
    }

    /// One escape sequence of any kind (valid or not) spliced into canonical string text, so that
    /// it decides the outcome alone: `\u001A` vs `\u001a`, `\u000a` vs `\n`, `\/`, `\u0041` ...
    #[test]
    fn spliced_escapes_agree_with_the_oracle(
        s in arb_string(),
        at in any::<prop::sample::Index>(),
        escape in "\\\\([\"\\\\/bfnrtuxa0]|u[0-9a-fA-F]{4}|u00[01][0-9a-fA-F]|u00[0-9a-fA-F]{0,2})",
        as_key in any::<bool>(),
    ) {
        // The canonical text of each character, so the escape lands between two of them.
        let mut pieces: Vec<String> = s
            .chars()
            .map(|c| {
                let quoted = String::from_utf8(serde_json_canonicalizer::to_vec(&c.to_string()).unwrap()).unwrap();
                quoted[1..quoted.len() - 1].to_string()
            })
            .collect();
        pieces.insert(at.index(pieces.len() + 1), escape);
        let text = format!("\"{}\"", pieces.concat());
        if as_key {
            assert_agrees(format!("{{{text}:0}}").as_bytes())?;
        } else {
            assert_agrees(text.as_bytes())?;
        }
    }

    /// Raw bytes inside a string, biased to UTF-8 lead and continuation bytes: the validator's
    /// UTF-8 checks agree with serde_json's (overlongs, surrogates, > U+10FFFF, truncations).
    #[test]
    fn raw_string_bytes_agree_with_the_oracle(
        prefix in "[a-z\u{e9}]{0,3}",
        lead in 0x80u8..=0xff,
        rest in prop::collection::vec(
            prop_oneof![
                4 => prop::sample::select(vec![0x80u8, 0x8f, 0x90, 0x9f, 0xa0, 0xbf]),
                1 => any::<u8>(),
            ],
            0..4,
        ),
    ) {
        let mut m = format!("\"{prefix}").into_bytes();
        m.push(lead);
        m.extend(&rest);
        m.push(b'"');
        assert_agrees(&m)?;
    }
    /// Doubles of every magnitude as the reference writes them, and variants of that text (a
    /// trailing zero, an exponent without `+`, an uppercase `E`).
    #[test]
    fn formatted_doubles_agree_with_the_oracle(bits in any::<u64>(), scale in -30i32..30) {
        let v = f64::from_bits(bits);
        prop_assume!(v.is_finite());
        for x in [v, (v * 10f64.powi(scale)).clamp(-1e300, 1e300), (v.fract() * 1e6).round() / 1e6] {
            let text = ryu_js::Buffer::new().format_finite(x).to_string();
            prop_assert_eq!(check_canonical(text.as_bytes()), Ok(()), "{}", text);
            assert_agrees(text.as_bytes())?;
            if text.contains('.') && !text.contains('e') {
                assert_agrees(format!("{text}0").as_bytes())?;
            }
            assert_agrees(text.replace("e+", "e").as_bytes())?;
            assert_agrees(text.replace('e', "E").as_bytes())?;
        }
    }

    /// Arbitrary JSON string tokens with every kind of escape, canonical or not.
    #[test]
    fn string_tokens_agree_with_the_oracle(
        token in "\"([^\"\\\\]|\\\\[\"\\\\/bfnrt]|\\\\u00[0-9a-fA-F]{2}|\\\\u[0-9a-fA-F]{4}|\\\\[^u])*\"",
    ) {
        assert_agrees(token.as_bytes())?;
        assert_agrees(format!("{{{token}:0}}").as_bytes())?;
    }

    /// Objects with keys that differ only in hard-to-order ways.
    #[test]
    fn key_orders_agree_with_the_oracle(
        keys in prop::collection::vec(
            prop::collection::vec(
                prop::sample::select(vec!["a", "\\n", "\\\"", "\\\\", "\\u001f", " ", "\u{e000}", "\u{10000}", "\u{ffff}", "\u{7f}"]),
                0..3,
            ),
            0..5,
        ),
    ) {
        let body: Vec<String> = keys.iter().enumerate().map(|(i, k)| format!("\"{}\":{i}", k.concat())).collect();
        assert_agrees(format!("{{{}}}", body.join(",")).as_bytes())?;
    }

    /// Long strings and keys: the reference output is accepted (and both references write it),
    /// and mutations of it agree with the oracle.
    #[test]
    fn long_strings_agree_with_the_oracle(
        v in arb_long_value(),
        mutations in prop::collection::vec(arb_mutation(), 0..3),
    ) {
        let canonical = serde_json_canonicalizer::to_vec(&v).unwrap();
        prop_assert_eq!(&jcs::to_vec(&v).unwrap(), &canonical);
        prop_assert_eq!(check_canonical(&canonical), Ok(()), "{}", String::from_utf8_lossy(&canonical));
        let mut bytes = canonical;
        for m in &mutations {
            bytes = apply(&v, &bytes, m);
            if bytes.is_empty() {
                break;
            }
        }
        assert_agrees(&bytes)?;
    }

    /// Any byte value written at any position inside a long canonical string (as a value, a key,
    /// or followed by more members), or inserted there: quotes, backslashes, control
    /// characters, UTF-8 lead and continuation bytes at every scan offset.
    #[test]
    fn any_byte_inside_a_long_string_agrees_with_the_oracle(
        s in arb_long_string(),
        at in any::<prop::sample::Index>(),
        byte in prop_oneof![3 => any::<u8>(), 1 => prop::sample::select(b"\"\\\x00\x1f\x7f\x80\xbf\xc3\xe2\xed\xf0\xff".to_vec())],
        insert in any::<bool>(),
        shape in 0usize..3,
    ) {
        let quoted = serde_json_canonicalizer::to_vec(&s).unwrap();
        let mut m = match shape {
            0 => quoted.clone(),
            1 => [&b"{"[..], &quoted, b":0}"].concat(),
            _ => [&b"{"[..], &quoted, b":[],\"~~~\":1}"].concat(),
        };
        let first = usize::from(shape != 0) + 1; // the first byte inside the quotes
        let i = first + at.index(quoted.len() - 1);
        if insert {
            m.insert(i, byte);
        } else if i < first + quoted.len() - 2 {
            m[i] = byte;
        } else {
            m.insert(i, byte);
        }
        assert_agrees(&m)?;
    }

    /// Arbitrary bytes never panic, and agree with the oracle.
    #[test]
    fn arbitrary_bytes_agree_with_the_oracle(bytes in prop::collection::vec(any::<u8>(), 0..32)) {
        assert_agrees(&bytes)?;
    }
}

/// Every lead byte followed by every second byte (and valid continuations), inside a string.
#[test]
fn utf8_sequences_agree_with_the_oracle_exhaustively() {
    for lead in 0x80u8..=0xff {
        for second in 0u8..=0xff {
            for tail in [&[][..], &[0x80], &[0x80, 0x80], &[0xbf, 0xbf]] {
                let mut m = vec![b'"', lead, second];
                m.extend_from_slice(tail);
                m.push(b'"');
                assert_eq!(check_canonical(&m).is_ok(), oracle(&m), "{m:x?}");
            }
        }
    }
}

/// An event-like object of about 500 bytes.
fn event_like(seq: u64) -> Vec<u8> {
    let v = serde_json::json!({
        "actor": {"id": format!("agent-{}", seq % 17), "type": "agent"},
        "data": {
            "args": {"body": "Please find the quarterly report attached; numbers are preliminary.", "cc": [], "subject": "Q3 report", "to": ["alice@example.com", "bob@example.com"]},
            "cost_usd": 0.0125,
            "duration_ms": 1234 + seq % 1000,
            "ok": true,
            "request_id": format!("req-{:016x}", seq.wrapping_mul(0x9e37_79b9_7f4a_7c15)),
            "tool": "send_email",
            "tokens": {"input": 1532, "output": 211},
        },
        "kind": "tool.call",
        "prev": format!("{:064x}", u128::from(seq) * 0x1234_5678_9abc_def0_1122_3344),
        "seq": seq,
        "time": "2026-11-29T01:02:03.000004Z",
    });
    serde_json_canonicalizer::to_vec(&v).unwrap()
}

#[test]
#[ignore = "throughput check, run by hand with --release --ignored --nocapture"]
fn throughput_vs_sha256() {
    use sha2::{Digest, Sha256};
    use std::hint::black_box;
    use std::time::Instant;

    let events: Vec<Vec<u8>> = (0..1024).map(event_like).collect();
    let total: usize = events.iter().map(Vec::len).sum();
    for e in &events {
        check_canonical_object(e).unwrap();
    }
    println!("{} events, average {} bytes", events.len(), total / events.len());

    // Each measurement runs whole passes over the events for at least a second.
    let measure = |name: &str, f: &dyn Fn(&[u8])| {
        for e in &events {
            f(e);
        }
        let start = Instant::now();
        let mut rounds = 0;
        while start.elapsed().as_secs_f64() < 1.0 {
            for e in &events {
                f(black_box(e));
            }
            rounds += 1;
        }
        let secs = start.elapsed().as_secs_f64();
        let mb_s = (total * rounds) as f64 / secs / 1e6;
        println!(
            "{name:<28} {mb_s:>8.0} MB/s  {:>6.0} ns/event",
            secs * 1e9 / (events.len() * rounds) as f64
        );
    };
    measure("check_canonical", &|e| {
        black_box(check_canonical(e)).unwrap();
    });
    measure("check_canonical_object", &|e| {
        black_box(check_canonical_object(e)).unwrap();
    });
    measure("sha256", &|e| {
        black_box(Sha256::digest(e));
    });
    measure("serde_json + canonicalizer", &|e| {
        let v: Value = serde_json::from_slice(e).unwrap();
        assert!(black_box(serde_json_canonicalizer::to_vec(&v).unwrap()) == e);
    });
}
