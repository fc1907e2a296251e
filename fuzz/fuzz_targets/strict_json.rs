//! The strict JSON parser the MCP gateway (stdio and HTTP) and the Envoy ext_authz route judge
//! messages with (`gavel_core::strict_json::parse`), on arbitrary bytes. What it accepts is
//! relayed byte for byte, so an accepted message must mean the same thing to any upstream:
//! * never a panic or a hang (libFuzzer's -timeout);
//! * accepted bytes parse with plain `serde_json` (a lax upstream that keeps the last of two
//!   members) to the same value: no "bypass" where gavel judged one request and the upstream
//!   reads another;
//! * no object in accepted bytes names a member twice: an independent reading that keeps the
//!   first member (as other parsers do) saw no repeat and agrees with the accepted value;
//! * re-serializing the accepted value and parsing it strictly again gives the same value;
//! * it refuses nothing else: bytes `serde_json` parses and that repeat no member are accepted
//!   (a refusal is answered, never relayed, so over-refusing is an outage, not a hole).
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::cell::Cell;

/// A reading that keeps the first of two members named alike and counts how many repeats it
/// met, written independently of the parser under test.
struct FirstWins<'a> {
    repeats: &'a Cell<usize>,
}

impl<'de> DeserializeSeed<'de> for FirstWins<'_> {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for FirstWins<'_> {
    type Value = Value;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(v.into())
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(v.into())
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(v.into())
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(v.into())
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(v.into())
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(FirstWins { repeats: self.repeats })? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut members = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(FirstWins { repeats: self.repeats })?;
            if members.contains_key(&key) {
                self.repeats.set(self.repeats.get() + 1);
            } else {
                members.insert(key, value);
            }
        }
        Ok(Value::Object(members))
    }
}

/// The first-wins reading of `data` and how many repeated members it met.
fn first_wins(data: &[u8]) -> Option<(Value, usize)> {
    let repeats = Cell::new(0);
    let mut de = serde_json::Deserializer::from_slice(data);
    let value = FirstWins { repeats: &repeats }.deserialize(&mut de).ok()?;
    de.end().ok()?;
    Some((value, repeats.get()))
}

fuzz_target!(|data: &[u8]| {
    let strict = gavel_core::strict_json::parse(data);
    let lax = serde_json::from_slice::<Value>(data);
    let first = first_wins(data);
    // The first-wins reader parses exactly what serde_json parses (only the choice of member differs).
    assert_eq!(first.is_some(), lax.is_ok(), "the readers disagree on {:?}", String::from_utf8_lossy(data));

    let Ok(value) = strict else {
        // Refused: only for bytes serde_json refuses or that repeat a member.
        assert!(
            first.as_ref().is_none_or(|(_, repeats)| *repeats > 0),
            "refused bytes that serde_json parses and that repeat no member: {:?}",
            String::from_utf8_lossy(data)
        );
        return;
    };
    let text = || String::from_utf8_lossy(data).into_owned();
    let lax = lax.unwrap_or_else(|e| panic!("accepted, but serde_json refuses {:?}: {e}", text()));
    assert_eq!(value, lax, "accepted, but serde_json reads another value from {:?}", text());
    let (first, repeats) = first.expect("serde_json parses it, so does the first-wins reader");
    assert_eq!(repeats, 0, "accepted bytes that name a member twice: {:?}", text());
    assert_eq!(value, first, "accepted, but a first-wins parser reads another value from {:?}", text());

    let again = serde_json::to_vec(&value).expect("a Value serializes");
    let reparsed = gavel_core::strict_json::parse(&again).unwrap_or_else(|e| {
        panic!("the re-serialized {:?} is refused: {e}", String::from_utf8_lossy(&again))
    });
    assert_eq!(reparsed, value, "re-serializing changes the value of {:?}", text());
});
