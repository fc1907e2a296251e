//! The bundle's JSON files as Rust types: [`mod@crate::export`] writes every one of them through
//! these types and [`crate::verify`] reads them back through the same types, so a field cannot
//! be renamed, retyped or dropped on one side only.
//!
//! ```text
//! manifest.json        Manifest       framework, period, counts, Type II window, retention, claims
//! integrity.json       Integrity      chain verification, signed checkpoint, log key, proofs
//! summary.json         Summary        per criterion: evidence count, status, summary; facts; gaps
//! samples.json         Samples        what auditors sample (crate::samples)
//! controls/<ID>.json   ControlHeader  the criterion's statement, then "events": [Row, ...]
//! policies/index.json  PolicyIndex    the cited policy versions and their texts' SHA-256
//! ```
//!
//! The other files have their own owners: events.jsonl holds the log's events as gavel-ledger
//! writes them, `controls/<ID>.csv` the same [`crate::analysis::Row`]s as the JSON rows,
//! oscal/assessment-results.json NIST's OSCAL format ([`crate::oscal`]), report.pdf
//! [`crate::report`], SHA256SUMS [`crate::sums`].
//!
//! # Formats
//!
//! manifest.json's `bundle_format` names the format; each adds to the one before ([`Format`]):
//! * `gavel-evidence/1`: the files above except report.pdf, samples.json and policies/; evidence
//!   rows of eight columns ([`crate::analysis::LEGACY_COLUMNS`]).
//! * `gavel-evidence/2`: report.pdf.
//! * `gavel-evidence/3`: `policies/<set>/v<N>.cedar` and policies/index.json. Later bundles of this
//!   format also carry operating rules (`operating` in controls, `facts` in summary.json,
//!   `exporter_attestation` in the manifest), earlier ones do not; the verifier reads neither.
//! * `gavel-evidence/4`: evidence rows with names beside ids, the tool, the decision id and the
//!   deciding policies (14 columns); samples.json; the criteria's statements are recomputed by
//!   the verifier, so every field of the types above is present.
//! * `gavel-evidence/5` (current): context.jsonl, the identity events before the period that
//!   name the principals of its rows and the agents of its inventory ([`crate::context`]), and
//!   their inclusion proofs (integrity.json `context_proofs`).
//!
//! # Invariants
//! * **Bytes.** Serializing a type writes exactly the bytes of the current format: fields in
//!   declaration order, `None` written as `null` unless the field says it is skipped. The golden
//!   bundles of `tests/bundle.rs` pin them. Changing what a type writes is a new format: bump
//!   [`Format::CURRENT`] and keep reading the old one.
//! * **Tolerant reading.** Fields that a format added are `#[serde(default)]`, so older bundles
//!   read; unknown fields of a file's objects are ignored, except in the objects the verifier
//!   recomputes and compares whole (`type_ii`, disclosed gaps, findings, operating rules, samples),
//!   which refuse them as comparing whole JSON values did.
//! * **Precise failures.** [`read`] and [`read_stream`] name the file and, for a missing or
//!   mistyped field, its path (`integrity.json: inclusion_proof.seq: invalid type: ...`).

use crate::analysis::Finding;
use crate::facts::{FactValue, Facts, RuleResult};
use crate::framework::Query;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{BufReader, Read, Write};
use std::path::Path;

pub use crate::samples::Samples;

pub const MANIFEST: &str = "manifest.json";
pub const INTEGRITY: &str = "integrity.json";
pub const SUMMARY: &str = "summary.json";
/// What auditors sample from the period (since `gavel-evidence/4`).
pub const SAMPLES: &str = "samples.json";
/// The index of the policy texts (since `gavel-evidence/3`).
pub const POLICY_INDEX: &str = "policies/index.json";
/// The identity events before the period, byte for byte as stored (since `gavel-evidence/5`).
pub const CONTEXT: &str = "context.jsonl";

/// `controls/<ID>.json`.
pub fn control_json(criterion: &str) -> String {
    format!("controls/{criterion}.json")
}

/// A bundle format (manifest.json `bundle_format`), oldest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Format {
    V1,
    V2,
    V3,
    V4,
    V5,
}

impl Format {
    /// The format this build writes.
    pub const CURRENT: Format = Format::V5;

    /// Its `bundle_format` string.
    pub const fn name(self) -> &'static str {
        match self {
            Format::V1 => "gavel-evidence/1",
            Format::V2 => "gavel-evidence/2",
            Format::V3 => "gavel-evidence/3",
            Format::V4 => "gavel-evidence/4",
            Format::V5 => "gavel-evidence/5",
        }
    }

    /// The format a `bundle_format` string names. One this build does not know (or none) is
    /// read under the current format's rules: it must carry at least what the current one does.
    pub fn of(bundle_format: &str) -> Format {
        [Format::V1, Format::V2, Format::V3, Format::V4, Format::V5]
            .into_iter()
            .find(|f| f.name() == bundle_format)
            .unwrap_or(Format::CURRENT)
    }

    /// Bundles of this format have report.pdf.
    pub fn has_report(self) -> bool {
        self >= Format::V2
    }

    /// Bundles of this format carry the cited policy texts and policies/index.json.
    pub fn has_policies(self) -> bool {
        self >= Format::V3
    }

    /// Evidence rows have every column of [`crate::analysis::CSV_HEADER`] (names, tool,
    /// decision, policies), and the criteria's statements follow operating rules, so the
    /// verifier recomputes them.
    pub fn has_statements(self) -> bool {
        self >= Format::V4
    }

    /// Bundles of this format carry context.jsonl (the identity events before the period that
    /// name its principals) with an inclusion proof for each in integrity.json.
    pub fn has_context(self) -> bool {
        self >= Format::V5
    }
}

/// The period, in manifest.json, summary.json and each controls header: `[from, to)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Period {
    /// First day (`YYYY-MM-DD`).
    pub from: String,
    /// The day after the period.
    pub to: String,
    /// Midnight UTC of `from`, as the log writes times.
    pub from_time: String,
    pub to_time: String,
}

/// manifest.json: what the bundle is and claims.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// A missing one reads as empty, which [`Format::of`] takes for the current format.
    #[serde(default)]
    pub bundle_format: String,
    pub framework: FrameworkRef,
    pub period: Period,
    pub generated_at: String,
    pub generator: String,
    pub org: String,
    pub log_origin: String,
    pub counts: Counts,
    pub type_ii: TypeII,
    pub retention: Retention,
    pub simulated: bool,
    /// The framework's gaps, as it states them.
    pub disclosed_gaps: Vec<DisclosedGap>,
    pub warnings: Vec<String>,
    /// The manifest's fields the log's events cannot show (the exporter's word). Written since
    /// operating rules (late `gavel-evidence/3`).
    #[serde(default)]
    pub exporter_attestation: Vec<String>,
}

impl Manifest {
    pub fn format(&self) -> Format {
        Format::of(&self.bundle_format)
    }
}

/// manifest.json read for its `bundle_format` alone: which files the bundle must have, known
/// even when the rest of the manifest does not read.
#[derive(Debug, Clone, Deserialize)]
pub struct ManifestFormat {
    #[serde(default)]
    pub bundle_format: Option<String>,
}

/// manifest.json `framework`: which framework file the bundle follows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrameworkRef {
    pub id: String,
    pub name: String,
    pub version: String,
    pub source: String,
    /// SHA-256 of the framework file's bytes (hex).
    pub sha256: String,
}

/// manifest.json `counts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Lines of events.jsonl.
    pub events: u64,
    pub events_by_kind: BTreeMap<String, u64>,
    /// Evidence events per criterion, in the framework's order.
    pub criteria: CriterionCounts,
}

/// Evidence counts by criterion id, a JSON object kept in its order (the framework's).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CriterionCounts(pub Vec<(String, u64)>);

impl CriterionCounts {
    pub fn get(&self, id: &str) -> Option<u64> {
        self.0.iter().find(|(k, _)| k == id).map(|(_, n)| *n)
    }

    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(k, _)| k.as_str())
    }
}

impl Serialize for CriterionCounts {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

impl<'de> Deserialize<'de> for CriterionCounts {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = CriterionCounts;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object of evidence counts by criterion id")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<CriterionCounts, A::Error> {
                let mut out: Vec<(String, u64)> = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, u64>()? {
                    // A repeated key keeps its first place and its last value, as a JSON object
                    // read into a map does.
                    match out.iter_mut().find(|(id, _)| *id == k) {
                        Some(entry) => entry.1 = v,
                        None => out.push((k, v)),
                    }
                }
                Ok(CriterionCounts(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// Type II validation of the period (manifest.json `type_ii`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TypeII {
    pub type_ii: bool,
    pub observation_days: i64,
    pub start_date: String,
    /// Last day of the period (inclusive).
    pub end_date: String,
    /// Days of the period without a single event.
    pub coverage_gaps: Vec<String>,
    pub warnings: Vec<String>,
}

/// A criterion the framework leaves out, and why (manifest.json and summary.json
/// `disclosed_gaps[]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisclosedGap {
    pub id: String,
    pub title: String,
    pub reason: String,
}

impl From<&crate::framework::Gap> for DisclosedGap {
    fn from(g: &crate::framework::Gap) -> Self {
        DisclosedGap { id: g.id.clone(), title: g.title.clone(), reason: g.reason.clone() }
    }
}

/// manifest.json `retention`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retention {
    pub days: u32,
    /// In words.
    pub policy: String,
}

/// integrity.json: what ties events.jsonl to the log's signed checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Integrity {
    /// The hash chain verified over the period when the bundle was exported.
    pub hash_chain_verified: bool,
    pub total_events: u64,
    /// `None` when the period has no events.
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    pub first_event_time: Option<String>,
    pub last_event_time: Option<String>,
    /// Where the chain broke, when it did (at most one entry).
    #[serde(default)]
    pub gaps_detected: Vec<ChainBreak>,
    #[serde(default)]
    pub chain_verification: ChainVerification,
    /// Hex leaf hash of the event before the period (zeros when the period starts the log).
    pub prev_of_first: String,
    /// The C2SP signed note of the checkpoint the bundle is anchored to.
    pub checkpoint: String,
    pub checkpoint_size: u64,
    /// Hex root of the checkpoint's tree.
    pub checkpoint_root: String,
    /// The log's verifier key (signed-note form).
    pub log_key: String,
    /// The last event's inclusion in the checkpoint's tree; `None` when the period has no events.
    pub inclusion_proof: Option<InclusionProof>,
    /// From each earlier export's checkpoint this one extends.
    #[serde(default)]
    pub consistency_proofs: Vec<ConsistencyProof>,
    /// The inclusion of each context.jsonl event in the checkpoint's tree, in its order (since
    /// `gavel-evidence/5`; empty before).
    #[serde(default)]
    pub context_proofs: Vec<InclusionProof>,
}

/// integrity.json `gaps_detected[]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainBreak {
    pub first_break: Option<u64>,
    pub reason: Option<String>,
}

/// integrity.json `chain_verification`: the log's verification of the period, as
/// `gavel audit verify --json` printed it when the bundle was exported. Every field reads with a
/// default: older bundles have fewer of them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ChainVerification {
    pub verified: u64,
    pub total: u64,
    pub valid: bool,
    pub first_break: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub checkpoints_checked: u64,
    pub purged: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl From<&gavel_ledger::verify::VerifyReport> for ChainVerification {
    fn from(r: &gavel_ledger::verify::VerifyReport) -> Self {
        ChainVerification {
            verified: r.verified,
            total: r.total,
            valid: r.valid,
            first_break: r.first_break,
            reason: r.reason.clone(),
            checkpoints_checked: r.checkpoints_checked,
            purged: r.purged,
            warnings: r.warnings.clone(),
        }
    }
}

/// integrity.json `inclusion_proof` (RFC 9162).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InclusionProof {
    pub seq: u64,
    /// Hex.
    pub leaf_hash: String,
    pub tree_size: u64,
    /// Hex, leaf to root.
    pub hashes: Vec<String>,
}

/// integrity.json `consistency_proofs[]` (RFC 9162), from an earlier export's tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsistencyProof {
    pub export_id: String,
    pub old_size: u64,
    /// Hex.
    pub old_root: String,
    /// Hex.
    pub hashes: Vec<String>,
}

/// summary.json: one line per criterion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub framework: String,
    pub period: Period,
    /// The period's facts the operating rules are judged on (since operating rules, late
    /// `gavel-evidence/3`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facts: Option<Facts>,
    pub criteria: Vec<SummaryCriterion>,
    pub disclosed_gaps: Vec<DisclosedGap>,
}

/// summary.json `criteria[]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SummaryCriterion {
    pub id: String,
    pub title: String,
    pub evidence_count: u64,
    pub summary: String,
    /// `satisfied` | `not-satisfied`.
    pub status: String,
}

/// `controls/<ID>.json` up to its evidence rows: the file is this object with an `events` array of
/// [`crate::analysis::Row`]s after its last field ([`ControlHeader::write`]). Read back for the
/// current format only (the verifier recomputes every field); [`ControlEvidence`] reads the rows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ControlHeader {
    /// The framework's id.
    pub framework: String,
    pub criterion: String,
    pub title: String,
    pub description: String,
    /// The criterion's controls that were in place in the period.
    pub controls: Vec<String>,
    /// The framework's queries that select the criterion's evidence events.
    pub queries: Vec<Query>,
    pub period: Period,
    pub evidence_count: u64,
    pub summary: String,
    /// `satisfied` | `not-satisfied`.
    pub status: String,
    /// Each operating rule over the period's facts.
    #[serde(deserialize_with = "strict_rule_results")]
    pub operating: Vec<RuleResult>,
    pub findings: Vec<Finding>,
    /// The criterion's analysis details; their shape is its analysis kind's
    /// ([`crate::framework::Analysis`], built by [`crate::analysis`]).
    pub analysis: Value,
}

impl ControlHeader {
    /// Writes the whole file: this header, then `"events":[` and `rows` (the rows' JSON,
    /// comma-separated, as the export streamed them) and `]}`.
    pub fn write(&self, w: &mut impl Write, rows: &mut impl Read) -> std::io::Result<()> {
        let head = serde_json::to_string(self).map_err(std::io::Error::other)?;
        w.write_all(head.strip_suffix('}').unwrap_or(&head).as_bytes())?;
        w.write_all(b",\"events\":[\n")?;
        // Large reads: the rows of a 10 M-event period are gigabytes, and `w` may hash them.
        let mut buf = vec![0u8; 1 << 20];
        loop {
            match rows.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => w.write_all(buf.get(..n).unwrap_or_default())?,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        w.write_all(b"\n]}\n")
    }
}

/// `controls/<ID>.json` read for its evidence rows, in every format: the header fields the rows
/// are checked against, and the rows through `R` (the verifier folds them into digests as they
/// are parsed, so a criterion with millions of rows costs no memory).
#[derive(Debug, Clone, Deserialize)]
pub struct ControlEvidence<R> {
    pub criterion: String,
    pub evidence_count: u64,
    pub status: String,
    pub queries: Vec<Query>,
    pub events: R,
}

/// policies/index.json (since `gavel-evidence/3`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyIndex {
    pub versions: Vec<PolicyVersionEntry>,
}

/// One cited policy version whose text is in the bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyVersionEntry {
    pub set_id: String,
    pub version: u32,
    /// `policies/<set>/v<N>.cedar` ([`crate::policies::file_of`]).
    pub file: String,
    /// Of the text file's bytes (hex).
    pub sha256: String,
    /// The author's name, creation time and source (`pack:<name>@<version>`) as the policy
    /// version's stored document says: the exporter's word.
    pub author: Option<String>,
    pub created_at: Option<String>,
    pub source: Option<String>,
    /// Decisions of the period that cite the version.
    pub cited_by_decisions: u64,
    /// Seqs of the period's events that state the version's SHA-256.
    pub sha256_in_events: Vec<u64>,
}

/// `operating` as the verifier compares it: whole, so a rule result with a field of its own is
/// refused (a [`RuleResult`] stored elsewhere, in a scan, reads tolerantly).
fn strict_rule_results<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<RuleResult>, D::Error> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Strict {
        fact: String,
        says: String,
        value: FactValue,
        bound: String,
        holds: bool,
    }
    let rules = Vec::<Strict>::deserialize(d)?;
    Ok(rules
        .into_iter()
        .map(|r| RuleResult { fact: r.fact, says: r.says, value: r.value, bound: r.bound, holds: r.holds })
        .collect())
}

/// Writes `value` as the bundle writes its JSON files: pretty-printed, with a final newline.
pub fn write_pretty(path: &Path, value: &impl Serialize) -> std::io::Result<()> {
    let mut text = serde_json::to_string_pretty(value).map_err(std::io::Error::other)?;
    text.push('\n');
    std::fs::write(path, text)
}

/// Reads the bundle file `name` of `dir` as a `T`, whole. The error names the file, and for a
/// missing or mistyped field its path.
pub fn read<T: DeserializeOwned>(dir: &Path, name: &str) -> Result<T, String> {
    let bytes = std::fs::read(dir.join(name)).map_err(|e| format!("{name}: cannot read: {e}"))?;
    match serde_json::from_slice(&bytes) {
        Ok(v) => Ok(v),
        Err(e) => Err(describe::<T, _>(name, e, || Ok(serde_json::Deserializer::from_slice(&bytes)))),
    }
}

/// [`read`], streaming the file (for `controls/<ID>.json`, whose rows can be many).
pub fn read_stream<T: DeserializeOwned>(dir: &Path, name: &str) -> Result<T, String> {
    let open = || {
        std::fs::File::open(dir.join(name))
            .map(|f| serde_json::Deserializer::from_reader(BufReader::new(f)))
            .map_err(|e| format!("{name}: cannot read: {e}"))
    };
    let mut de = open()?;
    match T::deserialize(&mut de).and_then(|v| de.end().map(|()| v)) {
        Ok(v) => Ok(v),
        Err(e) => Err(describe::<T, _>(name, e, open)),
    }
}

/// The message for a failed read of `name`: a data error (a missing or mistyped field) is read
/// again with its path tracked, which costs nothing on the path that succeeds.
fn describe<'de, T, R>(
    name: &str,
    e: serde_json::Error,
    again: impl FnOnce() -> Result<serde_json::Deserializer<R>, String>,
) -> String
where
    T: DeserializeOwned,
    R: serde_json::de::Read<'de>,
{
    if e.is_io() {
        return format!("{name}: cannot read: {e}");
    }
    if !e.is_data() {
        return format!("{name}: not valid JSON: {e}");
    }
    let tracked = again().ok().and_then(|mut de| serde_path_to_error::deserialize::<_, T>(&mut de).err());
    match tracked {
        Some(t) if t.path().iter().next().is_some() => format!("{name}: {}: {}", t.path(), t.inner()),
        _ => format!("{name}: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(reason: Option<&str>, warnings: &[&str]) -> gavel_ledger::verify::VerifyReport {
        gavel_ledger::verify::VerifyReport {
            verified: 3,
            total: 4,
            valid: reason.is_none(),
            first_break: reason.map(|_| 3),
            reason: reason.map(str::to_string),
            checkpoints_checked: 1,
            purged: 2,
            warnings: warnings.iter().map(|w| w.to_string()).collect(),
        }
    }

    /// `chain_verification` is written as the log's own report serializes, in every variant.
    #[test]
    fn chain_verification_writes_what_the_ledger_report_wrote() {
        for r in [report(None, &[]), report(Some("broken"), &[]), report(None, &["tail not covered"])] {
            let ours = serde_json::to_string_pretty(&ChainVerification::from(&r)).unwrap();
            assert_eq!(ours, serde_json::to_string_pretty(&r).unwrap());
            let back: ChainVerification = serde_json::from_str(&ours).unwrap();
            assert_eq!(back, ChainVerification::from(&r));
        }
        // Older bundles lack fields added since.
        let old: ChainVerification =
            serde_json::from_str(r#"{"verified": 1, "total": 1, "valid": true}"#).unwrap();
        assert_eq!(old.first_break, None);
        assert!(old.warnings.is_empty());
    }

    /// The gap entries of a log that did not verify, byte for byte what `json!` wrote.
    #[test]
    fn a_chain_break_writes_both_fields() {
        let b = ChainBreak { first_break: Some(3), reason: None };
        assert_eq!(serde_json::to_string(&b).unwrap(), r#"{"first_break":3,"reason":null}"#);
    }

    #[test]
    fn criterion_counts_keep_their_order() {
        let c: CriterionCounts = serde_json::from_str(r#"{"b": 1, "a": 2, "b": 3}"#).unwrap();
        assert_eq!(c.0, [("b".to_string(), 3), ("a".to_string(), 2)]);
        assert_eq!(serde_json::to_string(&c).unwrap(), r#"{"b":3,"a":2}"#);
        assert_eq!(c.get("a"), Some(2));
        assert!(serde_json::from_str::<CriterionCounts>(r#"{"a": -1}"#).is_err());
    }

    #[test]
    fn formats_are_named_and_ordered() {
        assert_eq!(Format::of("gavel-evidence/1"), Format::V1);
        assert_eq!(Format::of("gavel-evidence/3"), Format::V3);
        assert_eq!(Format::of("gavel-evidence/9"), Format::CURRENT);
        assert_eq!(Format::of(""), Format::CURRENT);
        assert!(!Format::V1.has_report() && Format::V2.has_report());
        assert!(!Format::V2.has_policies() && Format::V3.has_policies());
        assert!(!Format::V3.has_statements() && Format::V4.has_statements());
    }

    /// A missing or mistyped field is named with its path; bad JSON is called that.
    #[test]
    fn read_errors_name_the_file_and_field() {
        let dir = tempfile::tempdir().unwrap();
        let write = |text: &str| std::fs::write(dir.path().join("x.json"), text).unwrap();
        write(r#"{"seq": 1, "leaf_hash": "ab", "tree_size": "9", "hashes": []}"#);
        let e = read::<InclusionProof>(dir.path(), "x.json").unwrap_err();
        assert!(e.starts_with("x.json: tree_size: invalid type: string \"9\", expected u64"), "{e}");
        let e = read_stream::<InclusionProof>(dir.path(), "x.json").unwrap_err();
        assert!(e.starts_with("x.json: tree_size: invalid type"), "{e}");
        write(r#"{"versions": [{"set_id": "s", "version": 1}]}"#);
        let e = read::<PolicyIndex>(dir.path(), "x.json").unwrap_err();
        assert!(e.starts_with("x.json: versions[0]: missing field `file`"), "{e}");
        write(r#"{"seq": 1, "#);
        let e = read::<InclusionProof>(dir.path(), "x.json").unwrap_err();
        assert!(e.starts_with("x.json: not valid JSON: "), "{e}");
        let e = read_stream::<InclusionProof>(dir.path(), "x.json").unwrap_err();
        assert!(e.starts_with("x.json: not valid JSON: "), "{e}");
        write(r#"{"seq": 1, "leaf_hash": "ab", "tree_size": 9, "hashes": []} x"#);
        let e = read_stream::<InclusionProof>(dir.path(), "x.json").unwrap_err();
        assert!(e.starts_with("x.json: not valid JSON: trailing characters"), "{e}");
        let e = read::<InclusionProof>(dir.path(), "missing.json").unwrap_err();
        assert!(e.starts_with("missing.json: cannot read: "), "{e}");
    }
}
