//! RFC 8785 (JCS) serialization of `serde_json::Value`: the bytes the log stores and hashes.
//!
//! Written for the hot path (every append canonicalizes its event): one pass over the value, no
//! intermediate re-parse. The rules, per RFC 8785:
//! * no whitespace; object members sorted by key in UTF-16 code-unit order;
//! * strings: `"` and `\` escaped, U+0000..U+001F escaped (`\b \t \n \f \r`, else `\u00xx`
//!   lowercase), everything else raw UTF-8;
//! * numbers: the ECMAScript Number-to-String of the IEEE-754 double (`ryu-js`); integers whose
//!   magnitude is at most 2^53 print as plain decimals, which is what ECMAScript prints for them.
//!
//! What the log accepts (`check_exact_numbers`): a number is accepted only if the double it parses
//! to stands for that number alone, i.e. its magnitude is at most 2^53 - 1 (RFC 7493's I-JSON
//! range). Beyond it doubles are two or more apart, so distinct integers a caller sends (an amount
//! of 18446744073709551616 and of ...617) would share one canonical form and one digest; they are
//! refused, whatever their spelling (`1e23` too), and must be sent as strings. Within it, decimals
//! parse correctly rounded (serde_json's `float_roundtrip`), so the canonical form is what every
//! RFC 8785 implementation prints for the same text.
//!
//! `serde_json_canonicalizer` and Python's `rfc8785` are the independent oracles in the tests
//! (`tests/rfc8785_numbers.rs`: RFC 8785's own and generated number texts). gavel is stricter
//! than `rfc8785` in one place: it refuses floats beyond 2^53 - 1 (`1e23`), which `rfc8785` prints.

use crate::LedgerError;
use serde_json::{Map, Number, Value};
use std::cmp::Ordering;

/// The canonical bytes of `value`.
pub fn to_vec(value: &Value) -> Result<Vec<u8>, LedgerError> {
    let mut out = Vec::with_capacity(256);
    write_value(&mut out, value)?;
    Ok(out)
}

/// Appends the canonical bytes of `value` to `out`.
pub fn write_value(out: &mut Vec<u8>, value: &Value) -> Result<(), LedgerError> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => write_number(out, n)?,
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, item)?;
            }
            out.push(b']');
        }
        Value::Object(map) => write_object(out, map)?,
    }
    Ok(())
}

fn write_object(out: &mut Vec<u8>, map: &Map<String, Value>) -> Result<(), LedgerError> {
    out.push(b'{');
    // serde_json's map may iterate in insertion order (its `preserve_order` feature is switched on
    // by any crate in the build that asks for it), so never trust its order: check, and sort when
    // needed.
    let sorted = map.keys().zip(map.keys().skip(1)).all(|(a, b)| key_cmp(a, b) == Ordering::Less);
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    if !sorted {
        entries.sort_by(|a, b| key_cmp(a.0, b.0));
    }
    for (i, (k, v)) in entries.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_string(out, k);
        out.push(b':');
        write_value(out, v)?;
    }
    out.push(b'}');
    Ok(())
}

/// RFC 8785 member order. UTF-8 byte order equals code-point order, which differs from UTF-16
/// order only between supplementary characters and U+E000..U+FFFF (UTF-8 lead bytes 0xEE and up).
fn key_cmp(a: &str, b: &str) -> Ordering {
    if a.bytes().chain(b.bytes()).any(|x| x >= 0xEE) {
        utf16_cmp(a, b)
    } else {
        a.as_bytes().cmp(b.as_bytes())
    }
}

/// Compares two strings by their UTF-16 code units, as RFC 8785 sorts keys.
pub fn utf16_cmp(a: &str, b: &str) -> Ordering {
    a.encode_utf16().cmp(b.encode_utf16())
}

fn write_string(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            0x09 => b"\\t",
            0x0A => b"\\n",
            0x0C => b"\\f",
            0x0D => b"\\r",
            0x00..=0x1F => &[b'\\', b'u', b'0', b'0', HEX[(b >> 4) as usize], HEX[(b & 0xF) as usize]],
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(escape);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

const MAX_EXACT: u64 = 1 << 53;

/// The largest magnitude a JSON number may have in the log: 2^53 - 1, the last integer no other
/// integer shares a double with.
pub const MAX_SAFE_INTEGER: u64 = MAX_EXACT - 1;

/// Whether `n` stands for one number only once it is a double (see the module doc).
pub fn is_exact_number(n: &Number) -> bool {
    if let Some(u) = n.as_u64() {
        u <= MAX_SAFE_INTEGER
    } else if let Some(i) = n.as_i64() {
        i.unsigned_abs() <= MAX_SAFE_INTEGER
    } else {
        // The bound converts to f64 exactly (it is below 2^53).
        n.as_f64().is_some_and(|f| f.is_finite() && f.abs() <= MAX_SAFE_INTEGER as f64)
    }
}

/// Refuses the first number in `value` that [`is_exact_number`] rejects, naming its JSON path
/// (`path` is the name of `value` itself, e.g. `arguments`).
pub fn check_exact_numbers(value: &Value, path: &str) -> Result<(), LedgerError> {
    match value {
        Value::Number(n) if !is_exact_number(n) => Err(LedgerError::InvalidEvent(format!(
            "number {n} at {path} is outside the range JSON carries exactly (|n| <= 2^53 - 1 = \
             {MAX_SAFE_INTEGER}); send it as a string"
        ))),
        Value::Array(items) => {
            items.iter().enumerate().try_for_each(|(i, x)| check_exact_numbers(x, &format!("{path}[{i}]")))
        }
        Value::Object(map) => {
            map.iter().try_for_each(|(k, x)| check_exact_numbers(x, &format!("{path}.{k}")))
        }
        _ => Ok(()),
    }
}

fn write_number(out: &mut Vec<u8>, n: &Number) -> Result<(), LedgerError> {
    if let Some(u) = n.as_u64().filter(|u| *u <= MAX_EXACT) {
        out.extend_from_slice(u.to_string().as_bytes());
        return Ok(());
    }
    if let Some(i) = n.as_i64().filter(|i| i.unsigned_abs() <= MAX_EXACT) {
        out.extend_from_slice(i.to_string().as_bytes());
        return Ok(());
    }
    let f = n
        .as_f64()
        .filter(|f| f.is_finite())
        .ok_or_else(|| LedgerError::InvalidEvent(format!("number {n} has no canonical JSON form")))?;
    if f == 0.0 {
        // Both +0 and -0 print as "0" in ECMAScript.
        out.push(b'0');
    } else {
        out.extend_from_slice(ryu_js::Buffer::new().format_finite(f).as_bytes());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn jcs(v: &Value) -> String {
        String::from_utf8(to_vec(v).unwrap()).unwrap()
    }

    #[test]
    #[allow(clippy::excessive_precision)] // the RFC's own input, more digits than an f64 holds
    fn rfc8785_example() {
        let v = json!({"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
                       "string": "\u{20ac}$\u{000F}\u{000a}A'\u{0042}\u{0022}\u{005c}\\\"/",
                       "literals": [null, true, false]});
        assert_eq!(
            jcs(&v),
            r#"{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}"#
        );
    }

    #[test]
    fn keys_sort_by_utf16_code_units() {
        // U+10000 is the surrogate pair D800 DC00, which sorts before U+E000 in UTF-16.
        let v = json!({"\u{E000}": 1, "\u{10000}": 2, "a": 3});
        assert_eq!(jcs(&v), "{\"a\":3,\"\u{10000}\":2,\"\u{E000}\":1}");
    }

    #[test]
    fn members_are_sorted_whatever_the_map_order() {
        // With serde_json's preserve_order feature a Map keeps insertion order.
        let mut map = serde_json::Map::new();
        map.insert("zeta".into(), json!(1));
        map.insert("alpha".into(), json!({"y": 2, "b": 3}));
        map.insert("\u{E000}".into(), json!(4));
        map.insert("\u{10000}".into(), json!(5));
        assert_eq!(
            jcs(&Value::Object(map)),
            "{\"alpha\":{\"b\":3,\"y\":2},\"zeta\":1,\"\u{10000}\":5,\"\u{E000}\":4}"
        );
    }

    #[test]
    fn numbers_follow_ecmascript() {
        assert_eq!(
            jcs(&json!([-0.0, 0, 9007199254740992u64, -9007199254740992i64, 1e21, 1e-7, 0.1])),
            "[0,0,9007199254740992,-9007199254740992,1e+21,1e-7,0.1]"
        );
        // Beyond 2^53 an integer is a double: print what the double is.
        assert_eq!(jcs(&json!([18446744073709551615u64])), "[18446744073709552000]");
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|i| json!(i)),
            any::<u64>().prop_map(|u| json!(u)),
            any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| json!(f)),
            "\\PC*".prop_map(Value::String),
            any::<String>().prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
                prop::collection::btree_map(any::<String>(), inner, 0..8)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn matches_the_reference_canonicalizer(v in arb_json()) {
            let reference = serde_json_canonicalizer::to_vec(&v).unwrap();
            prop_assert_eq!(to_vec(&v).unwrap(), reference);
        }
    }
}
