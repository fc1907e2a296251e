//! Secret redaction for tool-call arguments before they reach the log.
//!
//! A value is redacted when its key names a secret (`password`, `api_key`, `authorization`, …) or
//! when a substring matches a credential pattern (cloud and SaaS API keys, bearer tokens, JWTs,
//! private key blocks, gavel tokens, and payment card numbers that pass the Luhn check). The
//! matched text is replaced by `[REDACTED:<kind>]`; the rest of the string stays, so the record
//! still shows what the call was about. The digest of the *unredacted* arguments is kept separately
//! so a later approval or outcome can be bound to the exact call.

use regex::Regex;
use serde::Serialize;
use serde_json::Value;
use std::sync::OnceLock;

/// One redaction: where (a JSON pointer) and what kind of secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Redaction {
    pub path: String,
    pub kind: String,
}

const SECRET_KEYS: &[&str] = &[
    "password",
    "passwd",
    "secret",
    "token",
    "api_key",
    "apikey",
    "authorization",
    "private_key",
    "client_secret",
    "access_key",
    "secret_key",
    "credentials",
    "cookie",
];

#[allow(clippy::expect_used, reason = "static patterns; the redaction tests compile every one")]
fn patterns() -> &'static [(&'static str, Regex)] {
    static PATTERNS: OnceLock<Vec<(&'static str, Regex)>> = OnceLock::new();
    PATTERNS.get_or_init(|| {
        [
            (
                "private_key",
                r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z ]*PRIVATE KEY-----|$)",
            ),
            ("aws_access_key", r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"),
            ("github_token", r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"),
            ("slack_token", r"\bxox[abprs]-[A-Za-z0-9-]{10,}"),
            ("stripe_key", r"\b(sk|rk|pk)_(live|test)_[A-Za-z0-9]{16,}"),
            ("api_key", r"\bsk-[A-Za-z0-9_-]{20,}"),
            ("gavel_token", r"\bgvl_[A-Za-z0-9_-]{43}"),
            ("jwt", r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
            ("bearer_token", r"(?i)\bbearer\s+[A-Za-z0-9._~+/-]{16,}=*"),
            ("card_number", r"\b\d(?:[ -]?\d){12,18}\b"),
        ]
        .into_iter()
        .map(|(kind, re)| (kind, Regex::new(re).expect("static pattern compiles")))
        .collect()
    })
}

fn luhn_ok(digits: &str) -> bool {
    let ds: Vec<u32> = digits.chars().filter_map(|c| c.to_digit(10)).collect();
    if !(13..=19).contains(&ds.len()) {
        return false;
    }
    let sum: u32 = ds
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                if d * 2 > 9 {
                    d * 2 - 9
                } else {
                    d * 2
                }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// Redacts secrets in `s`; returns the kinds found (empty when nothing was redacted).
pub fn redact_str(s: &str) -> (String, Vec<&'static str>) {
    let mut out = s.to_string();
    let mut kinds = Vec::new();
    for (kind, re) in patterns() {
        if !re.is_match(&out) {
            continue;
        }
        let mut found = false;
        let replaced = re.replace_all(&out, |caps: &regex::Captures<'_>| {
            let m = &caps[0];
            if *kind == "card_number" && !luhn_ok(m) {
                return m.to_string();
            }
            found = true;
            format!("[REDACTED:{kind}]")
        });
        if found {
            out = replaced.into_owned();
            kinds.push(*kind);
        }
    }
    (out, kinds)
}

fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase().replace('-', "_");
    SECRET_KEYS.iter().any(|s| k == *s || k.ends_with(&format!("_{s}")))
}

/// Returns a redacted copy of `value` and what was redacted.
pub fn redact(value: &Value) -> (Value, Vec<Redaction>) {
    let mut found = Vec::new();
    let out = walk(value, String::new(), &mut found);
    (out, found)
}

fn pointer_escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn walk(value: &Value, path: String, found: &mut Vec<Redaction>) -> Value {
    match value {
        Value::String(s) => {
            let (redacted, kinds) = redact_str(s);
            found.extend(kinds.into_iter().map(|k| Redaction { path: path.clone(), kind: k.to_string() }));
            Value::String(redacted)
        }
        Value::Array(items) => Value::Array(
            items.iter().enumerate().map(|(i, v)| walk(v, format!("{path}/{i}"), found)).collect(),
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let p = format!("{path}/{}", pointer_escape(k));
                    if is_secret_key(k) && !v.is_null() && !v.is_object() && !v.is_array() {
                        found.push(Redaction {
                            path: p,
                            kind: format!("secret_field:{}", k.to_ascii_lowercase()),
                        });
                        (k.clone(), Value::String("[REDACTED]".into()))
                    } else {
                        (k.clone(), walk(v, p, found))
                    }
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn credential_patterns_are_redacted_in_place() {
        for (input, kind) in [
            ("key AKIAIOSFODNN7EXAMPLE here", "aws_access_key"),
            ("ghp_0123456789abcdefghijABCDEFGHIJ0123456789", "github_token"),
            ("xoxb-1234567890-abcdefghij", "slack_token"),
            ("sk_live_4eC39HqLyjWDarjtT1zdp7dc", "stripe_key"),
            ("use sk-proj-abcdefghijklmnopqrstuvwx", "api_key"),
            ("Authorization: Bearer abcdefghijklmnop.qrstu", "bearer_token"),
            ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U", "jwt"),
            ("card 4111 1111 1111 1111 exp 12/29", "card_number"),
            ("-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----", "private_key"),
        ] {
            let (out, kinds) = redact_str(input);
            assert_eq!(kinds, vec![kind], "{input}");
            assert!(out.contains(&format!("[REDACTED:{kind}]")), "{out}");
        }
        let (out, _) = redact_str("key AKIAIOSFODNN7EXAMPLE here");
        assert_eq!(out, "key [REDACTED:aws_access_key] here");
    }

    #[test]
    fn ordinary_text_and_non_luhn_numbers_are_kept() {
        for s in ["send the Q3 report to bob@example.com", "order 1234567890123 shipped", "sk-short"] {
            assert_eq!(redact_str(s), (s.to_string(), vec![]), "{s}");
        }
    }

    #[test]
    fn secret_named_fields_and_nested_values_are_redacted_with_paths() {
        let (out, found) = redact(&json!({
            "to": "bob@example.com",
            "headers": {"Authorization": "Basic dXNlcjpwYXNz", "x-api-key": "abc"},
            "db_password": "hunter2",
            "items": ["fine", "AKIAIOSFODNN7EXAMPLE"],
            "token": null,
        }));
        assert_eq!(out["to"], "bob@example.com");
        assert_eq!(out["headers"]["Authorization"], "[REDACTED]");
        assert_eq!(out["headers"]["x-api-key"], "[REDACTED]");
        assert_eq!(out["db_password"], "[REDACTED]");
        assert_eq!(out["items"][1], "[REDACTED:aws_access_key]");
        assert_eq!(out["token"], Value::Null);
        let mut paths: Vec<_> = found.iter().map(|r| r.path.as_str()).collect();
        paths.sort_unstable();
        assert_eq!(paths, ["/db_password", "/headers/Authorization", "/headers/x-api-key", "/items/1"]);
    }
}
