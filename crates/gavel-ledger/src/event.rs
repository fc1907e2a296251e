//! Log events and their canonical bytes.
//!
//! An event is a JSON object `{seq, time, kind, actor, data, prev}`. Its bytes in the log are its
//! RFC 8785 (JCS) canonical form; its Merkle leaf is `SHA-256(0x00 || bytes)` and `prev` is the
//! lowercase hex leaf hash of event `seq - 1` (64 zeros for event 0), so leaves also form a hash chain.
//!
//! Invariants enforced here, before anything reaches the log:
//! * `kind` is a dotted lowercase name; `actor.id` is non-empty; `data` is a JSON object;
//! * every number in `data` stands for itself alone as a JCS (IEEE-754 double) number: magnitudes
//!   beyond 2^53 - 1 are refused rather than silently rounded (`jcs::check_exact_numbers`);
//! * `from_bytes` accepts only bytes that are exactly the canonical form of a well-formed event.

use crate::clock::{is_log_time, is_log_time_bytes};
use crate::hash::{self, Hash};
use crate::jcs;
use crate::LedgerError;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::ops::Range;

use crate::jcs::MAX_SAFE_INTEGER;

/// Who caused an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActorType {
    Agent,
    User,
    System,
}

impl ActorType {
    pub fn as_str(self) -> &'static str {
        match self {
            ActorType::Agent => "agent",
            ActorType::User => "user",
            ActorType::System => "system",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Actor {
    #[serde(rename = "type")]
    pub kind: ActorType,
    pub id: String,
}

impl Actor {
    pub fn system(id: &str) -> Self {
        Actor { kind: ActorType::System, id: id.to_string() }
    }
    pub fn user(id: &str) -> Self {
        Actor { kind: ActorType::User, id: id.to_string() }
    }
    pub fn agent(id: &str) -> Self {
        Actor { kind: ActorType::Agent, id: id.to_string() }
    }
}

/// What a caller asks the log to record; the writer assigns `seq`, `time` and `prev`.
#[derive(Debug, Clone, PartialEq)]
pub struct EventDraft {
    pub kind: String,
    pub actor: Actor,
    pub data: Value,
}

impl EventDraft {
    /// Builds a draft, refusing anything that could not be stored canonically.
    pub fn new(kind: &str, actor: Actor, data: Value) -> Result<Self, LedgerError> {
        validate_kind(kind)?;
        if actor.id.is_empty() {
            return Err(LedgerError::InvalidEvent("actor id is empty".into()));
        }
        if !data.is_object() {
            return Err(LedgerError::InvalidEvent("data must be a JSON object".into()));
        }
        jcs::check_exact_numbers(&data, "data")?;
        Ok(EventDraft { kind: kind.to_string(), actor, data })
    }
}

/// A draft whose kind, actor and data are already in canonical form, so the single log writer
/// only splices in `prev`, `seq` and `time` (cheap) instead of canonicalizing the whole event.
///
/// This is exact, not an approximation: JCS sorts an object's members and canonicalizes each value
/// independently, and the event's top-level keys are fixed ASCII names whose order is
/// `actor, data, kind, prev, seq, time`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealableDraft {
    /// `{"actor":…,"data":…,"kind":…` — everything before `,"prev":`.
    head: String,
    pub kind: String,
    pub actor: Actor,
}

impl SealableDraft {
    pub fn new(draft: &EventDraft) -> Result<Self, LedgerError> {
        let mut head = Vec::with_capacity(256);
        head.extend_from_slice(b"{\"actor\":{\"id\":");
        jcs::write_value(&mut head, &Value::String(draft.actor.id.clone()))?;
        head.extend_from_slice(b",\"type\":\"");
        head.extend_from_slice(draft.actor.kind.as_str().as_bytes());
        head.extend_from_slice(b"\"},\"data\":");
        jcs::write_value(&mut head, &draft.data)?;
        head.extend_from_slice(b",\"kind\":");
        jcs::write_value(&mut head, &Value::String(draft.kind.clone()))?;
        // Only strings and canonical JSON went in, so the bytes are UTF-8.
        let head = String::from_utf8(head)
            .map_err(|_| LedgerError::InvalidEvent("canonical form is not UTF-8".into()))?;
        Ok(SealableDraft { head, kind: draft.kind.clone(), actor: draft.actor.clone() })
    }

    /// The canonical bytes of the event at `seq`, written at `time`, following `prev`.
    pub fn seal(&self, seq: u64, time: &str, prev: &Hash) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.head.len() + 140);
        out.extend_from_slice(self.head.as_bytes());
        out.extend_from_slice(b",\"prev\":\"");
        out.extend_from_slice(hash::to_hex(prev).as_bytes());
        out.extend_from_slice(b"\",\"seq\":");
        out.extend_from_slice(seq.to_string().as_bytes());
        out.extend_from_slice(b",\"time\":\"");
        out.extend_from_slice(time.as_bytes());
        out.extend_from_slice(b"\"}");
        out
    }
}

/// What verification needs from an event's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventHeader {
    pub seq: u64,
    pub prev: Hash,
    /// Whether the event is a purge record ([`PURGE_RECORD_KIND`]).
    pub is_purge_record: bool,
}

/// The kind of the event that records a retention purge. Its `data.ranges` lists the half-open
/// seq ranges `[[from, to], …]` whose payloads it cleared, all below its own seq. Verification
/// of a log up to its end accepts a missing payload only inside such a range, so deleting an
/// event's content outside retention is caught even though its leaf hash is kept.
pub const PURGE_RECORD_KIND: &str = "retention.purged";

/// The ranges a purge record declares, clamped below the record's own seq (a purge can only
/// clear what came before it).
pub fn purge_record_ranges(bytes: &[u8]) -> Result<Vec<(u64, u64)>, LedgerError> {
    let event = Event::from_bytes(bytes)?;
    let malformed =
        || LedgerError::InvalidEvent("a purge record's data.ranges must be [[from, to], …]".into());
    let ranges = event.data.get("ranges").and_then(Value::as_array).ok_or_else(malformed)?;
    ranges
        .iter()
        .map(|r| match r.as_array().map(Vec::as_slice) {
            Some([from, to]) => match (from.as_u64(), to.as_u64()) {
                (Some(from), Some(to)) if from < to => Ok((from, to.min(event.seq))),
                _ => Err(malformed()),
            },
            _ => Err(malformed()),
        })
        .collect()
}

/// A log event, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    pub seq: u64,
    pub time: String,
    pub kind: String,
    pub actor: Actor,
    pub data: Value,
    pub prev: String,
}

impl Event {
    /// The event that follows `prev` (the leaf hash of event `seq - 1`).
    pub fn from_draft(draft: EventDraft, seq: u64, time: String, prev: &Hash) -> Self {
        Event { seq, time, kind: draft.kind, actor: draft.actor, data: draft.data, prev: hash::to_hex(prev) }
    }

    /// RFC 8785 canonical bytes: what the log stores and hashes.
    pub fn canonical_bytes(&self) -> Result<Vec<u8>, LedgerError> {
        let value = serde_json::to_value(self)
            .map_err(|e| LedgerError::InvalidEvent(format!("cannot serialize: {e}")))?;
        jcs::to_vec(&value)
    }

    /// Parses stored bytes, accepting them only if they are exactly the canonical form of a
    /// well-formed event.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, LedgerError> {
        let event: Event = serde_json::from_slice(bytes)
            .map_err(|e| LedgerError::InvalidEvent(format!("not an event: {e}")))?;
        event.check_well_formed()?;
        if event.canonical_bytes()? != bytes {
            return Err(LedgerError::InvalidEvent("bytes are not in JCS canonical form".into()));
        }
        Ok(event)
    }

    /// Parses an event read back from the log without re-checking its canonical form: for readers
    /// that act on the content (detectors, webhooks) while verification — which does check every
    /// byte — runs separately. The members must still be well-formed.
    pub fn from_stored_bytes(bytes: &[u8]) -> Result<Self, LedgerError> {
        let event: Event = serde_json::from_slice(bytes)
            .map_err(|e| LedgerError::InvalidEvent(format!("not an event: {e}")))?;
        event.check_well_formed()?;
        Ok(event)
    }

    /// Whether stored event bytes may be a `decision` (never false for one): a cheap filter
    /// before parsing. In canonical form the kind member sits between `data` and `prev`, and a
    /// quote inside a string is always escaped, so every decision's bytes contain this run.
    pub fn may_be_decision(bytes: &[u8]) -> bool {
        const RUN: &[u8] = b"\"kind\":\"decision\",\"prev\":";
        bytes.windows(RUN.len()).any(|w| w == RUN)
    }

    /// Whether stored event bytes may be of `kind` (never false for one), like
    /// [`Event::may_be_decision`] for any kind.
    pub fn may_be_kind(bytes: &[u8], kind: &str) -> bool {
        let run = format!("\"kind\":\"{kind}\",\"prev\":");
        bytes.windows(run.len()).any(|w| w == run.as_bytes())
    }

    /// Checks stored bytes without building the event: they must be canonical JCS of an object
    /// with exactly the event's six members, each well-formed. Returns the event's `seq` and
    /// `prev`. Accepts exactly what [`Event::from_bytes`] accepts (a test checks both agree), at
    /// close to memory speed, which is what full-log verification needs.
    pub fn check_bytes(bytes: &[u8]) -> Result<EventHeader, LedgerError> {
        let invalid = |m: String| LedgerError::InvalidEvent(m);
        const KEYS: [&str; 6] = ["actor", "data", "kind", "prev", "seq", "time"];
        // The value ranges of the six members, in KEYS order; any other member count or name is
        // refused below (`count` keeps counting past six).
        let mut values: [Range<usize>; 6] = Default::default();
        let mut count = 0usize;
        let mut names_match = true;
        crate::canonical::check_canonical_object_raw(bytes, &mut |key, value| {
            match KEYS.get(count) {
                Some(want) if &bytes[key] == want.as_bytes() => values[count] = value,
                _ => names_match = false,
            }
            count += 1;
        })
        .map_err(|e| invalid(format!("bytes are not in JCS canonical form: {e}")))?;
        if count != KEYS.len() || !names_match {
            return Err(invalid(format!("an event has exactly the members {KEYS:?}")));
        }
        let span = |i: usize| &bytes[values[i].clone()];
        // Canonical strings of the shapes below never contain escapes, so the raw bytes between
        // the quotes are the value. The byte checks below accept only ASCII without `\`; when
        // one fails, `plain_string` finds the precise reason (so the fast path skips a UTF-8
        // pass and an escape search per string, and the messages are unchanged).
        let quoted = |i: usize| span(i).strip_prefix(b"\"").and_then(|r| r.strip_suffix(b"\""));
        let plain_string = |i: usize, what: &str| -> Result<&str, LedgerError> {
            quoted(i)
                .filter(|r| !r.contains(&b'\\'))
                .and_then(|r| std::str::from_utf8(r).ok())
                .ok_or_else(|| invalid(format!("{what} must be a plain string")))
        };
        let actor_id = parse_actor_id(span(0)).map_err(|e| invalid(format!("actor is malformed: {e}")))?;
        if actor_id.is_empty() {
            return Err(invalid("actor id is empty".into()));
        }
        if span(1).first() != Some(&b'{') {
            return Err(invalid("data must be a JSON object".into()));
        }
        if !quoted(2).is_some_and(is_kind) {
            validate_kind(plain_string(2, "kind")?)?;
        }
        let prev = match quoted(3).and_then(hash::from_lower_hex) {
            Some(prev) => prev,
            None => {
                plain_string(3, "prev")?;
                return Err(invalid("prev is not 64 lowercase hex characters".into()));
            }
        };
        let seq = parse_decimal(span(4))
            .filter(|s| *s <= MAX_SAFE_INTEGER)
            .ok_or_else(|| invalid("seq must be an integer in 0..2^53".into()))?;
        if !quoted(5).is_some_and(is_log_time_bytes) {
            let time = plain_string(5, "time")?;
            return Err(invalid(format!("time {time:?} is not RFC 3339 UTC with microseconds")));
        }
        let kind = span(2);
        let is_purge_record = kind.len() == PURGE_RECORD_KIND.len() + 2
            && &kind[1..kind.len() - 1] == PURGE_RECORD_KIND.as_bytes();
        Ok(EventHeader { seq, prev, is_purge_record })
    }

    /// The `prev` field as a hash.
    pub fn prev_hash(&self) -> Result<Hash, LedgerError> {
        if self.prev.len() != 64 || self.prev.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(LedgerError::InvalidEvent("prev is not 64 lowercase hex characters".into()));
        }
        hash::from_hex(&self.prev)
            .ok_or_else(|| LedgerError::InvalidEvent("prev is not 64 lowercase hex characters".into()))
    }

    fn check_well_formed(&self) -> Result<(), LedgerError> {
        validate_kind(&self.kind)?;
        if !is_log_time(&self.time) {
            return Err(LedgerError::InvalidEvent(format!(
                "time {:?} is not RFC 3339 UTC with microseconds",
                self.time
            )));
        }
        if self.actor.id.is_empty() {
            return Err(LedgerError::InvalidEvent("actor id is empty".into()));
        }
        if !self.data.is_object() {
            return Err(LedgerError::InvalidEvent("data must be a JSON object".into()));
        }
        if self.seq > MAX_SAFE_INTEGER {
            return Err(LedgerError::InvalidEvent("seq exceeds 2^53 - 1".into()));
        }
        self.prev_hash()?;
        Ok(())
    }
}

/// Parses a canonical actor object and returns its id. The common shape —
/// `{"id":"<plain id>","type":"agent"}` — is read in place; anything else goes through serde,
/// which accepts the same set of values.
fn parse_actor_id(raw: &[u8]) -> Result<std::borrow::Cow<'_, str>, String> {
    let fast = raw.strip_prefix(b"{\"id\":\"").and_then(|rest| {
        let quote = rest.iter().position(|&b| b == b'"')?;
        let (id, tail) = rest.split_at(quote);
        let known_type =
            [&b"\",\"type\":\"agent\"}"[..], b"\",\"type\":\"user\"}", b"\",\"type\":\"system\"}"]
                .contains(&tail);
        if id.contains(&b'\\') || !known_type {
            return None;
        }
        std::str::from_utf8(id).ok()
    });
    match fast {
        Some(id) => Ok(std::borrow::Cow::Borrowed(id)),
        None => serde_json::from_slice::<Actor>(raw)
            .map(|a| std::borrow::Cow::Owned(a.id))
            .map_err(|e| e.to_string()),
    }
}

/// A kind is a dotted name of lowercase ASCII segments: `decision`, `approval.decided`, `external.access_review`.
pub fn validate_kind(kind: &str) -> Result<(), LedgerError> {
    if is_kind(kind.as_bytes()) {
        Ok(())
    } else {
        Err(LedgerError::InvalidEvent(format!(
            "kind {kind:?} must be dotted lowercase segments like \"approval.decided\""
        )))
    }
}

/// Whether `kind` is a valid kind (see [`validate_kind`]); only ASCII can pass.
fn is_kind(kind: &[u8]) -> bool {
    !kind.is_empty()
        && kind.len() <= 128
        && kind.split(|&b| b == b'.').all(|seg| {
            seg.first().is_some_and(u8::is_ascii_lowercase)
                && seg.iter().all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        })
}

/// The value of a non-empty run of ASCII digits, exactly as `str::parse::<u64>` reads it (`None`
/// for anything else or on overflow), without a UTF-8 pass.
fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &d| {
        if d.is_ascii_digit() {
            n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decimal_parsing_matches_str_parse() {
        for s in [
            "",
            "0",
            "7",
            "007",
            "9007199254740993",
            "18446744073709551615",
            "18446744073709551616",
            "1a",
            "-1",
            "+1",
            " 1",
            "１",
        ] {
            assert_eq!(
                parse_decimal(s.as_bytes()),
                s.parse::<u64>().ok().filter(|_| s.bytes().all(|b| b.is_ascii_digit())),
                "{s:?}"
            );
        }
    }

    #[test]
    fn byte_kind_check_matches_validate_kind() {
        for k in [
            "decision",
            "approval.decided",
            "a",
            "a-b_c.d9",
            "",
            ".",
            "a.",
            ".a",
            "A",
            "a..b",
            "9a",
            "a.9",
            "é",
            "a\\nb",
            &"a".repeat(128),
            &"a".repeat(129),
        ] {
            // The rule as first written, over `str`.
            let reference = !k.is_empty()
                && k.len() <= 128
                && k.split('.').all(|seg| {
                    seg.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
                        && seg
                            .bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
                });
            assert_eq!(is_kind(k.as_bytes()), reference, "{k:?}");
            assert_eq!(validate_kind(k).is_ok(), reference, "{k:?}");
        }
    }

    fn sample(seq: u64) -> Event {
        let draft = EventDraft::new(
            "decision",
            Actor::agent("agent-1"),
            json!({"tool": "send_email", "z": 1, "a": [1.5, "é", null], "cost_usd": 0.25}),
        )
        .unwrap();
        Event::from_draft(draft, seq, "2026-11-29T01:02:03.000004Z".into(), &[7u8; 32])
    }

    #[test]
    fn the_decision_prefilter_never_misses_a_decision() {
        let decision = sample(3).canonical_bytes().unwrap();
        assert!(Event::may_be_decision(&decision));
        assert_eq!(Event::from_stored_bytes(&decision).unwrap(), sample(3));
        let mut other = sample(4);
        other.kind = "decision.note".into();
        other.data = json!({"text": "\"kind\":\"decision\",\"prev\":"});
        assert!(!Event::may_be_decision(&other.canonical_bytes().unwrap()), "quotes in strings are escaped");
        assert!(Event::from_stored_bytes(b"{}").is_err());
    }

    #[test]
    fn canonical_bytes_sort_keys_and_have_no_whitespace() {
        let bytes = sample(3).canonical_bytes().unwrap();
        let text = std::str::from_utf8(&bytes).unwrap();
        assert_eq!(
            text,
            r#"{"actor":{"id":"agent-1","type":"agent"},"data":{"a":[1.5,"é",null],"cost_usd":0.25,"tool":"send_email","z":1},"kind":"decision","prev":"0707070707070707070707070707070707070707070707070707070707070707","seq":3,"time":"2026-11-29T01:02:03.000004Z"}"#
        );
        assert_eq!(Event::from_bytes(&bytes).unwrap(), sample(3));
    }

    #[test]
    fn sealed_bytes_equal_full_canonicalization() {
        let draft = EventDraft::new(
            "approval.decided",
            Actor::user("ü-1"),
            json!({"b": {"y": [1, 2.5e-7, "\u{1F600}"], "x": true}, "\u{e9}": "é", "a": null}),
        )
        .unwrap();
        let sealed = SealableDraft::new(&draft).unwrap().seal(42, "2026-11-29T01:02:03.000004Z", &[9u8; 32]);
        let full = Event::from_draft(draft, 42, "2026-11-29T01:02:03.000004Z".into(), &[9u8; 32]);
        assert_eq!(sealed, full.canonical_bytes().unwrap());
        assert_eq!(Event::from_bytes(&sealed).unwrap(), full);
    }

    #[test]
    fn non_canonical_bytes_are_refused() {
        let good = sample(0).canonical_bytes().unwrap();
        let spaced = String::from_utf8(good.clone()).unwrap().replacen(':', ": ", 1);
        assert!(Event::from_bytes(spaced.as_bytes()).is_err());
        let reordered = format!(
            r#"{{"seq":0,"actor":{{"id":"agent-1","type":"agent"}},"data":{{}},"kind":"decision","prev":"{}","time":"2026-11-29T01:02:03.000004Z"}}"#,
            "0".repeat(64)
        );
        let reordered = reordered.into_bytes();
        assert!(Event::from_bytes(&reordered).is_err());
        assert!(Event::from_bytes(b"[]").is_err());
        assert!(Event::from_bytes(&good[..good.len() - 1]).is_err());
    }

    #[test]
    fn the_fast_check_agrees_with_full_parsing() {
        let good = sample(5).canonical_bytes().unwrap();
        assert_eq!(
            Event::check_bytes(&good).unwrap(),
            EventHeader { seq: 5, prev: [7u8; 32], is_purge_record: false }
        );
        let mut cases: Vec<Vec<u8>> = vec![good.clone(), b"{}".to_vec(), b"[]".to_vec()];
        // Every single-byte edit, and a few structural ones.
        for i in 0..good.len() {
            for x in [0x01u8, 0x20, 0x80] {
                let mut m = good.clone();
                m[i] ^= x;
                cases.push(m);
            }
        }
        for e in [
            {
                let mut e = sample(1);
                e.time = "2026-11-29T01:02:03Z".into();
                e
            }, // coarse time
            {
                let mut e = sample(1);
                e.prev = "A".repeat(64);
                e
            },
            {
                let mut e = sample(1);
                e.kind = "Bad".into();
                e
            },
            {
                let mut e = sample(1);
                e.actor.id = String::new();
                e
            },
            {
                let mut e = sample(1);
                e.data = json!([1]);
                e
            },
        ] {
            cases.push(e.canonical_bytes().unwrap());
        }
        for case in cases {
            assert_eq!(
                Event::check_bytes(&case).is_ok(),
                Event::from_bytes(&case).is_ok(),
                "{}",
                String::from_utf8_lossy(&case)
            );
        }
    }

    #[test]
    fn drafts_refuse_bad_input() {
        assert!(EventDraft::new("Decision", Actor::system("x"), json!({})).is_err());
        assert!(EventDraft::new("a..b", Actor::system("x"), json!({})).is_err());
        assert!(EventDraft::new("", Actor::system("x"), json!({})).is_err());
        assert!(EventDraft::new("ok.kind", Actor::system(""), json!({})).is_err());
        assert!(EventDraft::new("ok.kind", Actor::system("x"), json!([1])).is_err());
        assert!(EventDraft::new("ok.kind", Actor::system("x"), json!({"n": u64::MAX})).is_err());
        assert!(EventDraft::new("ok.kind", Actor::system("x"), json!({"n": [{"m": -9007199254740993i64}]}))
            .is_err());
        assert!(EventDraft::new(
            "external.access_review",
            Actor::user("u"),
            json!({"n": 9007199254740991u64})
        )
        .is_ok());
    }

    #[test]
    fn malformed_fields_are_refused_on_read() {
        let mut e = sample(1);
        e.time = "2026-11-29T01:02:03Z".into();
        assert!(Event::from_bytes(&e.canonical_bytes().unwrap()).is_err());
        let mut e = sample(1);
        e.prev = "ab".into();
        assert!(Event::from_bytes(&e.canonical_bytes().unwrap()).is_err());
        let mut e = sample(1);
        e.prev = "A".repeat(64);
        assert!(Event::from_bytes(&e.canonical_bytes().unwrap()).is_err());
    }
}
