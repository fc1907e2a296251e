//! The policy texts a bundle carries (`policies/<set>/v<N>.cedar` and `policies/index.json`):
//! every policy version the period's events cite — the versions that decided each call
//! (`decision.policies`, `decision.would_have_policies`) and those named by policy changes.
//!
//! Invariants: what is cited is computed from events.jsonl alone, by [`collect`], at export and
//! again at verification, so the index can neither drop nor add a version unnoticed; each text's
//! SHA-256 is its file's, and where an event of the period states a version's SHA-256
//! (`policy.proposed`) the text must match it; a version whose SHA-256 no event of the period
//! states is marked `sha256_in_events: []` — its text is the exporter's word, and verify says so.
//! Set ids that could escape the directory (`..`, a leading dot) are never written.

use gavel_events::{kind, Decision, PolicyApplied, PolicyProposed};
use gavel_ledger::event::Event;
use std::collections::BTreeMap;

/// The index of the policy texts, relative to the bundle root.
pub const INDEX: &str = "policies/index.json";

/// How the period's events cite one policy version.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Cited {
    /// Decisions it took part in (enforced or observed).
    pub decisions: u64,
    /// `(seq, sha256)` of each event stating the version's SHA-256.
    pub sha256_claims: Vec<(u64, String)>,
}

/// `(set id, version)` → how it is cited.
pub type CitedVersions = BTreeMap<(String, u32), Cited>;

/// Adds what `event` cites.
pub fn collect(event: &Event, cited: &mut CitedVersions) {
    let data = &event.data;
    // A version is 1 or more; an unreadable one reads as 0 and cites nothing.
    let key = |set: &str, version: Option<u64>| -> Option<(String, u32)> {
        let version = u32::try_from(version?).ok().filter(|v| *v > 0)?;
        (!set.is_empty()).then(|| (set.to_string(), version))
    };
    let mut claim = |at: Option<(String, u32)>, sha256: Option<&str>| {
        if let Some(at) = at {
            let entry = cited.entry(at).or_default();
            if let Some(sha) = sha256 {
                entry.sha256_claims.push((event.seq, sha.to_string()));
            }
        }
    };
    match event.kind.as_str() {
        kind::DECISION => {
            let decision: Decision = gavel_events::read(data);
            let would_have = decision.would_have_policies.unwrap_or_default();
            for p in decision.policies.iter().chain(&would_have) {
                if let Some(at) = key(&p.set_id, Some(u64::from(p.version))) {
                    cited.entry(at).or_default().decisions += 1;
                }
            }
        }
        kind::POLICY_PROPOSED => {
            let p: PolicyProposed = gavel_events::read(data);
            claim(key(&p.set_id, p.version), p.sha256.as_deref());
        }
        kind::POLICY_ACTIVATED | kind::POLICY_DEACTIVATED | kind::POLICY_MODE_CHANGED => {
            let p: PolicyApplied = gavel_events::read(data);
            claim(key(&p.set_id, p.version), p.sha256.as_deref());
        }
        // A rejection names no version.
        kind::POLICY_REJECTED => {}
        kind::PACK_INSTALLED => {
            let p: gavel_events::PackInstalled = gavel_events::read(data);
            claim(
                key(&p.set_id, Some(u64::from(p.version))),
                Some(p.sha256.as_str()).filter(|s| !s.is_empty()),
            )
        }
        // Policy and pack kinds this build does not know, as they name themselves.
        k if k.starts_with("policy.") || k.starts_with("pack.") => claim(
            key(data["set_id"].as_str().unwrap_or_default(), data["version"].as_u64()),
            data["sha256"].as_str(),
        ),
        _ => {}
    }
}

/// Whether `set_id` can name a directory inside the bundle.
pub fn safe_set_id(set_id: &str) -> bool {
    !set_id.is_empty()
        && !set_id.starts_with('.')
        && set_id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// The bundle path of a version's text.
pub fn file_of(set_id: &str, version: u32) -> String {
    format!("policies/{set_id}/v{version}.cedar")
}

#[cfg(test)]
mod tests {
    use super::*;
    use gavel_ledger::event::Actor;
    use serde_json::{json, Value};

    fn event(seq: u64, kind: &str, data: Value) -> Event {
        Event {
            seq,
            time: "2026-01-01T00:00:00.000000Z".into(),
            kind: kind.into(),
            actor: Actor::user("usr_1"),
            data,
            prev: "0".repeat(64),
        }
    }

    #[test]
    fn decisions_and_changes_cite_versions() {
        let mut cited = CitedVersions::new();
        collect(
            &event(
                1,
                "decision",
                json!({"policies": [{"set_id": "team", "version": 2, "policy_id": "a"}],
                       "would_have_policies": [{"set_id": "soc2", "version": 1}]}),
            ),
            &mut cited,
        );
        collect(
            &event(2, "policy.proposed", json!({"set_id": "team", "version": 3, "sha256": "ab"})),
            &mut cited,
        );
        collect(&event(3, "policy.activated", json!({"set_id": "team", "version": 3})), &mut cited);
        collect(&event(4, "agent.registered", json!({"set_id": "x", "version": 9})), &mut cited);
        assert_eq!(cited.len(), 3);
        assert_eq!(cited[&("team".to_string(), 2)].decisions, 1);
        assert_eq!(cited[&("soc2".to_string(), 1)].decisions, 1);
        assert_eq!(cited[&("team".to_string(), 3)].sha256_claims, vec![(2, "ab".to_string())]);
    }

    #[test]
    fn set_ids_that_could_escape_are_refused() {
        for bad in ["", ".", "..", ".hidden", "a/b", "a\\b"] {
            assert!(!safe_set_id(bad), "{bad:?}");
        }
        for good in ["soc2", "team-1", "a.b_c"] {
            assert!(safe_set_id(good), "{good:?}");
        }
    }
}
