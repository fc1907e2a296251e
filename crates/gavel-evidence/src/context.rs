//! context.jsonl: the identity events before the period that the period's evidence needs.
//!
//! A user or agent created before the period appears in its events by id only; its name, owner
//! and status were stated by `user.*` / `agent.*` events the period does not contain. So the
//! exporter adds, for every principal with identity events before the period, its first one (the
//! creation: name, owner, role) and its last status change before the period (suspended,
//! deactivated, reactivated, role changed), byte for byte as stored, each with an inclusion
//! proof against the bundle's checkpoint. The analysis learns from them before the period's
//! first event ([`crate::analysis::PeriodAnalysis::learn_context`]): names in evidence rows and
//! the agent inventory's name, owner and status at the start of the period.
//!
//! Invariants:
//! * **Only proven log events.** The verifier accepts a context event only if its leaf is in the
//!   signed tree at its seq, its kind is an identity kind, it precedes the period (time before
//!   `from_time`, seq before the first event's) and seqs ascend; so every name a row shows is
//!   the log's, never the exporter's word.
//! * **Selection is attested.** Which earlier events are included cannot be checked without the
//!   whole log: an exporter could leave one out (a name then stays blank) or pick an older status
//!   change. The verifier says so (the exporter's attestation), as it does for `org`.
//! * **Bounded.** At most [`MAX_PRINCIPALS`] principals; payloads purged past retention cannot
//!   be included and are counted in a manifest warning.

use crate::bundle::{self, InclusionProof, Integrity};
use crate::EvidenceError;
use gavel_ledger::event::Event;
use gavel_ledger::hash::{from_hex, leaf_hash, to_hex, Hash};
use gavel_ledger::merkle::verify_inclusion;
use gavel_ledger::verify::StoredEntry;
use gavel_store::Store;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;

/// The event kinds context.jsonl may hold.
pub const KIND_PREFIXES: [&str; 2] = ["user.", "agent."];

/// The identity events that change what a principal is (its status or role): the last one before
/// the period is included beside the creation.
const STATE_KINDS: [&str; 5] =
    ["user.role_changed", "user.deactivated", "agent.suspended", "agent.deactivated", "agent.reactivated"];

/// Principals followed at most (as many as [`crate::analysis::Names`] remembers).
pub const MAX_PRINCIPALS: usize = 100_000;

/// The principal an identity event is about: `("user", id)` or `("agent", id)`.
fn principal(kind: &str, data: &Value) -> Option<(&'static str, String)> {
    let (which, key) = if kind.starts_with("user.") {
        ("user", "user_id")
    } else if kind.starts_with("agent.") {
        ("agent", "agent_id")
    } else {
        return None;
    };
    Some((which, data.get(key)?.as_str()?.to_string()))
}

/// What the exporter includes.
#[derive(Debug, Default)]
pub struct Selected {
    /// In seq order, each with its stored bytes.
    pub entries: Vec<(StoredEntry, Event)>,
    /// Identity events before the period whose payload was purged past retention.
    pub purged: u64,
    /// Principals left out because there were more than [`MAX_PRINCIPALS`].
    pub left_out: u64,
}

impl Selected {
    /// What the manifest says about what could not be included.
    pub fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        if self.purged > 0 {
            w.push(format!(
                "{} identity event(s) before the period were purged past retention: principals they named may \
                 appear in evidence rows without a name",
                self.purged
            ));
        }
        if self.left_out > 0 {
            w.push(format!(
                "{} principal(s) created before the period are not in context.jsonl (more than {MAX_PRINCIPALS}): \
                 they appear in evidence rows without a name",
                self.left_out
            ));
        }
        w
    }
}

/// Selects the context of a period whose first seq is `first`: per principal, its first identity
/// event and its last status change before `first`.
pub fn select(store: &dyn Store, first: u64) -> Result<Selected, EvidenceError> {
    struct Kept {
        created: (StoredEntry, Event),
        last_state: Option<(StoredEntry, Event)>,
    }
    let mut by_principal: BTreeMap<(&'static str, String), Kept> = BTreeMap::new();
    let mut out = Selected::default();
    let mut failure = None;
    store.scan_kinds(0, first, &KIND_PREFIXES, &mut |entry| {
        let Some(bytes) = entry.bytes.as_deref() else {
            out.purged += 1;
            return true;
        };
        let event = match Event::from_bytes(bytes) {
            Ok(e) => e,
            Err(e) => {
                failure = Some(EvidenceError::Export(format!(
                    "identity event {} is not a valid event: {e}",
                    entry.seq
                )));
                return false;
            }
        };
        let Some(key) = principal(&event.kind, &event.data) else { return true };
        let is_state = STATE_KINDS.contains(&event.kind.as_str());
        let full = by_principal.len() >= MAX_PRINCIPALS;
        match by_principal.get_mut(&key) {
            Some(kept) => {
                if is_state {
                    kept.last_state = Some((entry, event));
                }
            }
            None if full => out.left_out += 1,
            None => {
                by_principal.insert(key, Kept { created: (entry, event), last_state: None });
            }
        }
        true
    })?;
    if let Some(e) = failure {
        return Err(e);
    }
    out.entries =
        by_principal.into_values().flat_map(|k| std::iter::once(k.created).chain(k.last_state)).collect();
    out.entries.sort_by_key(|(entry, _)| entry.seq);
    Ok(out)
}

/// Writes context.jsonl and returns the inclusion proofs for integrity.json, in the same order.
pub fn write(
    store: &dyn Store,
    selected: &Selected,
    tree_size: u64,
    dir: &Path,
) -> Result<Vec<InclusionProof>, EvidenceError> {
    let mut file = std::io::BufWriter::new(std::fs::File::create(dir.join(bundle::CONTEXT))?);
    let mut proofs = Vec::with_capacity(selected.entries.len());
    for (entry, _) in &selected.entries {
        let bytes = entry.bytes.as_deref().unwrap_or_default();
        file.write_all(bytes)?;
        file.write_all(b"\n")?;
        proofs.push(InclusionProof {
            seq: entry.seq,
            leaf_hash: to_hex(&entry.leaf_hash),
            tree_size,
            hashes: store.inclusion_proof(entry.seq, tree_size)?.iter().map(to_hex).collect(),
        });
    }
    file.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    Ok(proofs)
}

/// Reads and checks context.jsonl against integrity.json and the checkpoint's tree (`size`,
/// `root`, already verified): every event is canonical, an identity event, before the period
/// (`from_time`, and the period's first seq when it has events) in ascending seq order, and its
/// leaf is in the tree. Returns the events.
pub fn check(
    dir: &Path,
    integrity: &Integrity,
    from_time: &str,
    size: u64,
    root: &Hash,
) -> Result<Vec<Event>, String> {
    let f = bundle::CONTEXT;
    let file = std::fs::File::open(dir.join(f)).map_err(|e| format!("{f}: cannot read: {e}"))?;
    let mut reader = BufReader::new(file);
    let mut events = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).map_err(|e| format!("{f}: cannot read: {e}"))? == 0 {
            break;
        }
        let n = events.len() + 1;
        let bytes =
            line.strip_suffix(b"\n").ok_or_else(|| format!("{f} line {n}: does not end with a newline"))?;
        Event::check_bytes(bytes).map_err(|e| format!("{f} line {n}: {e}"))?;
        let event: Event =
            serde_json::from_slice(bytes).map_err(|e| format!("{f} line {n}: invalid event: {e}"))?;
        let at = format!("{f} line {n} (seq {})", event.seq);
        if principal(&event.kind, &event.data).is_none() {
            return Err(format!("{at}: kind {:?} is not an identity event naming its principal", event.kind));
        }
        if event.time.as_str() >= from_time || integrity.first_seq.is_some_and(|first| event.seq >= first) {
            return Err(format!("{at}: is not before the period"));
        }
        if let Some(prev) = events.last().map(|e: &Event| e.seq) {
            if event.seq <= prev {
                return Err(format!("{at}: seqs must ascend (after seq {prev})"));
            }
        }
        let p = integrity
            .context_proofs
            .get(events.len())
            .ok_or_else(|| format!("{at}: integrity.json context_proofs has no proof for it"))?;
        let pf = format!("integrity.json context_proofs[{}]", events.len());
        let leaf = leaf_hash(bytes);
        if p.seq != event.seq || p.tree_size != size || from_hex(&p.leaf_hash) != Some(leaf) {
            return Err(format!(
                "{pf}: is not the proof of {at} in the checkpoint's tree of size {size} (seq, leaf_hash or tree_size)"
            ));
        }
        let hashes = p
            .hashes
            .iter()
            .map(|h| from_hex(h))
            .collect::<Option<Vec<Hash>>>()
            .ok_or_else(|| format!("{pf}: hashes must be 64-hex-digit strings"))?;
        verify_inclusion(&leaf, event.seq, size, &hashes, root)
            .map_err(|e| format!("{at}: is not in the signed checkpoint's tree: {e}"))?;
        events.push(event);
    }
    if integrity.context_proofs.len() != events.len() {
        return Err(format!(
            "integrity.json: {} context proof(s) for {} event(s) in {f}",
            integrity.context_proofs.len(),
            events.len()
        ));
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_identity_event_names_its_principal() {
        assert_eq!(principal("user.created", &json!({"user_id": "u1"})), Some(("user", "u1".into())));
        assert_eq!(principal("agent.suspended", &json!({"agent_id": "a1"})), Some(("agent", "a1".into())));
        assert_eq!(principal("agent.suspended", &json!({"user_id": "u1"})), None);
        assert_eq!(principal("decision", &json!({"agent_id": "a1"})), None);
        assert_eq!(principal("user.created", &json!({"user_id": 7})), None);
    }
}
