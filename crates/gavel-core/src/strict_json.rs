//! JSON that means one thing to every parser: a message whose object names a member twice (at
//! any depth) is refused. `serde_json::Value` keeps the last of the two, other parsers keep the
//! first or fail, so a governed front end (the MCP gateway, the ext_authz check) that judged the
//! last `name` could forward a message its upstream reads as another tool. What is judged must be
//! what runs: parse with this wherever a message is decided and then passed on byte for byte.

use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// Parses one JSON value, refusing an object that names a member twice (at any depth):
/// `serde_json::Value` keeps the last, other parsers keep the first or fail.
pub fn parse(body: &[u8]) -> Result<Value, serde_json::Error> {
    struct Strict(Value);
    impl<'de> serde::Deserialize<'de> for Strict {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_any(StrictVisitor).map(Strict)
        }
    }
    struct StrictVisitor;
    impl<'de> Visitor<'de> for StrictVisitor {
        type Value = Value;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON value")
        }
        fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
            Ok(Value::Bool(v))
        }
        fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
            Ok(Value::from(v))
        }
        fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
            Ok(Value::from(v))
        }
        fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
            // JSON has no NaN or infinity, so this is a number (`from` maps them to null).
            Ok(Value::from(v))
        }
        fn visit_str<E>(self, v: &str) -> Result<Value, E> {
            Ok(Value::String(v.to_string()))
        }
        fn visit_string<E>(self, v: String) -> Result<Value, E> {
            Ok(Value::String(v))
        }
        fn visit_unit<E>(self) -> Result<Value, E> {
            Ok(Value::Null)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
            let mut items = Vec::new();
            while let Some(Strict(item)) = seq.next_element()? {
                items.push(item);
            }
            Ok(Value::Array(items))
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
            let mut members = Map::new();
            while let Some(key) = map.next_key::<String>()? {
                if members.contains_key(&key) {
                    return Err(serde::de::Error::custom(format!("the member {key:?} is named twice")));
                }
                let Strict(value) = map.next_value()?;
                members.insert(key, value);
            }
            Ok(Value::Object(members))
        }
    }
    serde_json::from_slice::<Strict>(body).map(|Strict(v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_member_named_twice_is_refused_at_any_depth() {
        for text in [
            r#"{"name":"add","name":"wipe_disk"}"#,
            r#"{"params":{"name":"add","arguments":{},"name":"wipe_disk"}}"#,
            r#"[{"a":1},{"b":{"c":1,"c":2}}]"#,
        ] {
            let e = parse(text.as_bytes()).unwrap_err();
            assert!(e.to_string().contains("named twice"), "{text}: {e}");
        }
    }

    #[test]
    fn everything_else_parses_as_serde_json_does() {
        for text in [
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"add","arguments":{"a":1.5,"b":-2,"c":18446744073709551615}}}"#,
            r#"[null,true,false,"x\u00e9",{"a":{"a":{"a":[]}}}]"#,
            "  7 ",
        ] {
            assert_eq!(
                parse(text.as_bytes()).unwrap(),
                serde_json::from_str::<Value>(text).unwrap(),
                "{text}"
            );
        }
        for text in ["{\"x\": NaN}", "{\"a\":1,}", "", "{} {}"] {
            assert!(parse(text.as_bytes()).is_err(), "{text:?} is not JSON");
        }
    }
}
