//! Evidence export: one pass over the period's events writes the whole bundle.
//!
//! ```text
//! README.txt  SHA256SUMS  SHA256SUMS.sig  signing-key.pem  manifest.json  summary.json
//! controls/<ID>.json  controls/<ID>.csv  events.jsonl  context.jsonl  integrity.json
//! oscal/assessment-results.json  report.pdf  samples.json  policies/<set>/v<N>.cedar  policies/index.json
//! ```
//!
//! `events.jsonl` holds the period's events byte for byte as stored. `integrity.json` carries the
//! checkpoint, its size and root, `prev_of_first` (the leaf hash the first event's `prev` must
//! equal), the chain verification report and the consistency proofs; `manifest.json` the
//! [`BUNDLE_FORMAT`], the framework's SHA-256, counts per kind and criterion, the Type II
//! validation, disclosed gaps, warnings and `exporter_attestation` (what no event shows). Evidence
//! rows (CSV and JSON) have the [`crate::analysis::CSV_HEADER`] fields; names in them come only
//! from log events, learnt in seq order: context.jsonl (the identity events before the period,
//! [`crate::context`], each proven in the checkpoint's tree) and then the period's events. **Type II**: `observation_days` and
//! `coverage_gaps` (days without an event); fewer than [`TYPE_II_MIN_DAYS`] days or any gap is
//! `type_ii: false` and a warning. **The export key** (`keys/export.key`) signs `SHA256SUMS`; it
//! is not the log key, which signs checkpoints continuously and must never change: the export key
//! can be rotated or held by the compliance team, and neither key can forge what the other signs.
//!
//! Invariants:
//! * **Streaming.** Events are read with [`Store::scan`] and written straight to `events.jsonl`
//!   and to each matching criterion's CSV and row file; only per-criterion aggregates
//!   ([`crate::analysis`]) stay in memory. `controls/<ID>.json` is assembled at the end by
//!   copying its row file behind the header.
//! * **The period** is `[from 00:00Z, to 00:00Z)`. Seq order is time order (the writer's clock
//!   never goes back), so its seq range is found by binary search with [`Store::entry`].
//! * **Integrity.** The chain over the period is verified while streaming
//!   ([`RangeVerifier`]); `integrity.json` carries a checkpoint signed by the log key whose tree
//!   covers the period, and the inclusion proof of the last period event against it. Because
//!   events chain through `prev`, that proof authenticates every event of the period.
//! * **Previous bundles.** Each export is recorded by its caller (gavel-core writes the
//!   `evidence.exported` event with [`exported_record`], plus an `evidence_exports/<id>` document
//!   holding its checkpoint size and root): this crate writes files, never the log. The next export puts
//!   a consistency proof from each earlier export's checkpoint into `integrity.json`, so
//!   `verify --previous` can prove the earlier bundle's tree is a prefix of the later one
//!   (exports are rare, so this stays small; proofs from every stored checkpoint would not, and
//!   old checkpoints copied into the new bundle would prove nothing about the auditor's copy).
//! * **report.pdf** ([`crate::report`]) is rendered from the values computed here (never from the
//!   events) before SHA256SUMS, so it is listed and signed like every other file.
//! * **Atomic.** Everything is written under `.<name>.partial-<pid>` next to the output and
//!   renamed into place after `SHA256SUMS` is signed: a bundle directory is complete or absent.

use crate::analysis::{Finding, PeriodAnalysis, PeriodFacts, CSV_HEADER};
use crate::bundle::{
    self, ChainBreak, ConsistencyProof, ControlHeader, Counts, CriterionCounts, DisclosedGap, Format,
    FrameworkRef, InclusionProof, Integrity, Manifest, Period, PolicyIndex, PolicyVersionEntry, Retention,
    Summary, SummaryCriterion,
};
use crate::framework::Framework;
use crate::report::{self, ReportInput, REPORT_FILE};
use crate::sums::{self, HashingWriter, SIG_FILE, SUMS_FILE};
use crate::{oscal, EvidenceError, GENERATOR};
use ed25519_dalek::{Signer as _, SigningKey};
use gavel_ledger::clock::format_time;
use gavel_ledger::event::Event;
use gavel_ledger::hash::{to_hex, ZERO_HASH};
use gavel_ledger::keys::public_key_pem;
use gavel_ledger::verify::RangeVerifier;
use gavel_store::docs::DocQuery;
use gavel_store::{Store, StoredCheckpoint};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use time::{Date, Duration, OffsetDateTime};

/// manifest.json `bundle_format` of the bundles this build writes ([`crate::bundle::Format`]).
pub const BUNDLE_FORMAT: &str = Format::CURRENT.name();
/// What auditors sample from the period (since `gavel-evidence/4`).
pub const SAMPLES_FILE: &str = bundle::SAMPLES;

/// Minimum observation window of a SOC 2 Type II report, in days.
pub const TYPE_II_MIN_DAYS: i64 = 90;

/// Retention in force when the caller does not say (the minimum, 365 days).
pub const DEFAULT_RETENTION_DAYS: u32 = 365;

/// Collection and event kind with which exports record themselves.
pub const EXPORTS_COLLECTION: &str = "evidence_exports";
pub const EXPORTED_KIND: &str = "evidence.exported";

/// What to export, from where, signed with what.
pub struct ExportRequest<'a> {
    pub store: &'a dyn Store,
    /// The checkpoint the bundle is anchored to, signed by the log key. The period's events are
    /// read up to its size; the caller signs it through the log (which verifies the entries it
    /// signs over) just before the export.
    pub checkpoint: &'a StoredCheckpoint,
    /// The log's origin (the checkpoint's first line).
    pub log_origin: &'a str,
    /// The log's verifier key (signed-note form), written into integrity.json.
    pub log_key: &'a str,
    /// The export signing key: signs SHA256SUMS.
    pub export_key: &'a SigningKey,
    pub framework: &'a Framework,
    /// First day of the period (inclusive).
    pub from: Date,
    /// Day after the period (exclusive).
    pub to: Date,
    pub org: String,
    /// The bundle directory; must not exist yet (or be an empty directory).
    pub out: PathBuf,
    pub retention_days: u32,
    /// The data was produced with a simulated clock (`gavel demo`).
    pub simulated: bool,
    pub generated_at: OffsetDateTime,
    /// Called with (events done, events in the period) every few thousand events.
    pub progress: Option<&'a dyn Fn(u64, u64)>,
}

/// What an export produced (also the answer of `POST /v1/compliance/exports`).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ExportSummary {
    pub export_id: String,
    /// The bundle directory.
    #[schema(value_type = String)]
    pub out: PathBuf,
    pub total_events: u64,
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    pub checkpoint_size: u64,
    /// Hex root of the checkpoint's tree.
    pub checkpoint_root: String,
    pub hash_chain_verified: bool,
    /// Whether the period supports a SOC 2 Type II report, and why not (manifest.json's `type_ii`).
    #[schema(value_type = Object)]
    pub type_ii: TypeII,
    /// Per criterion, as summary.json lists it.
    #[schema(value_type = Vec<Object>)]
    pub criteria: Vec<CriterionResult>,
    pub sha256sums_sha256: String,
    pub warnings: Vec<String>,
}

/// The per-criterion result, as summary.json lists it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CriterionResult {
    pub id: String,
    pub title: String,
    pub evidence_count: u64,
    pub summary: String,
    /// `satisfied` or `not-satisfied`.
    #[serde(deserialize_with = "criterion_status")]
    pub status: String,
    pub findings: Vec<Finding>,
}

/// A criterion's status read back: one of the two an export writes.
fn criterion_status<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let stated = String::deserialize(d)?;
    if ["satisfied", "not-satisfied"].contains(&stated.as_str()) {
        Ok(stated)
    } else {
        Err(serde::de::Error::invalid_value(
            serde::de::Unexpected::Str(&stated),
            &"satisfied or not-satisfied",
        ))
    }
}

pub use crate::bundle::TypeII;

/// `YYYY-MM-DD`.
pub fn date_str(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// Parses `YYYY-MM-DD`.
pub fn parse_date(s: &str) -> Result<Date, EvidenceError> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(s, &fmt).map_err(|_| EvidenceError::Invalid(format!("{s:?} is not a date like 2026-01-31")))
}

/// Midnight UTC of a day.
pub fn to_datetime(d: Date) -> time::OffsetDateTime {
    d.midnight().assume_utc()
}

fn day_start(d: Date) -> String {
    format!("{}T00:00:00.000000Z", date_str(d))
}

/// Type II validation from the period and the days that had no events.
pub fn type_ii(from: Date, to: Date, coverage_gaps: Vec<String>) -> TypeII {
    let days = (to - from).whole_days();
    let mut warnings = Vec::new();
    if days < TYPE_II_MIN_DAYS {
        warnings.push(format!(
            "observation window is {days} day(s); a Type II report needs at least {TYPE_II_MIN_DAYS}"
        ));
    }
    if !coverage_gaps.is_empty() {
        let shown: Vec<&str> = coverage_gaps.iter().take(5).map(String::as_str).collect();
        warnings.push(format!(
            "{} day(s) without any event (coverage gaps), e.g. {}",
            coverage_gaps.len(),
            shown.join(", ")
        ));
    }
    TypeII {
        type_ii: warnings.is_empty(),
        observation_days: days,
        start_date: date_str(from),
        end_date: date_str(to - Duration::days(1)),
        coverage_gaps,
        warnings,
    }
}

fn export_err(msg: impl Into<String>) -> EvidenceError {
    EvidenceError::Export(msg.into())
}

fn time_of(entry_bytes: &[u8]) -> Option<String> {
    // Only the time is needed: parse loosely, the full check happens while streaming.
    #[derive(serde::Deserialize)]
    struct T {
        time: String,
    }
    serde_json::from_slice::<T>(entry_bytes).ok().map(|t| t.time)
}

/// First seq in `[0, size)` whose event time is `>= bound` (`size` if none).
fn lower_bound(store: &dyn Store, size: u64, bound: &str) -> Result<u64, EvidenceError> {
    let (mut lo, mut hi) = (0u64, size);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let entry =
            store.entry(mid)?.ok_or_else(|| export_err(format!("event {mid} is missing from the log")))?;
        let bytes = entry.bytes.ok_or_else(|| {
            export_err(format!("event {mid} was purged; cannot locate the period boundary through it"))
        })?;
        let t = time_of(&bytes).ok_or_else(|| export_err(format!("event {mid} has no readable time")))?;
        if t.as_str() < bound {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    Ok(lo)
}

/// The facts and every criterion's statement over the events with times in `[from, to)`, read
/// from the log and chain-verified as they stream: what a bundle of that period would state
/// (the readiness scan uses it so a scan and a bundle of the same period agree).
pub fn analyse_period(
    store: &dyn Store,
    fw: &Framework,
    from: time::OffsetDateTime,
    to: time::OffsetDateTime,
) -> Result<(crate::facts::Facts, Vec<crate::analysis::Statement>), EvidenceError> {
    let size = store.head()?.size;
    let first = lower_bound(store, size, &format_time(from))?;
    let end = lower_bound(store, size, &format_time(to))?.max(first);
    let prev = match first.checked_sub(1) {
        None => ZERO_HASH,
        Some(before) => {
            store.entry(before)?.ok_or_else(|| export_err(format!("event {before} is missing")))?.leaf_hash
        }
    };
    let mut verifier = RangeVerifier::new(first, prev, Vec::new());
    let mut analysis = PeriodAnalysis::new(fw, from, to);
    let mut failure = None;
    store.scan(first, end, &mut |entry| {
        verifier.push(&entry);
        match entry.bytes.as_deref() {
            Some(bytes) => {
                if let Ok(event) = serde_json::from_slice::<Event>(bytes) {
                    analysis.observe(&event, |_| {});
                }
                true
            }
            None => {
                failure = Some(export_err(format!(
                    "event {} was purged past retention; the period cannot be analysed through it",
                    entry.seq
                )));
                false
            }
        }
    })?;
    if let Some(e) = failure {
        return Err(e);
    }
    let report = verifier.finish(end - first, size);
    let chain = PeriodFacts {
        chain_verified: report.valid,
        events_verified: report.verified,
        chain_reason: report.reason,
    };
    Ok(analysis.finish(&chain))
}

/// A criterion's two row files while the period streams: its CSV (hashed as it is written) and
/// the JSON rows that `controls/<ID>.json` copies behind its header at the end.
struct CriterionOut {
    csv: BufWriter<HashingWriter<File>>,
    rows: BufWriter<File>,
    rows_path: PathBuf,
    first_row: bool,
}

/// Capacity of the streaming writers: large writes, few system calls.
const WRITE_BUFFER: usize = 1 << 18;

/// A buffer a `csv::Writer` writes into and the caller empties (the csv crate has no
/// `get_mut`): each evidence row is formatted once and its bytes written to every criterion it
/// is evidence of.
#[derive(Clone, Default)]
struct SharedBuf(std::rc::Rc<std::cell::RefCell<Vec<u8>>>);

impl Write for SharedBuf {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// One evidence row formatted as a CSV record and as JSON, the same bytes for every criterion.
struct RowFormatter {
    csv: csv::Writer<SharedBuf>,
    csv_bytes: SharedBuf,
    json: Vec<u8>,
}

impl RowFormatter {
    fn new() -> Self {
        let csv_bytes = SharedBuf::default();
        let csv = csv::WriterBuilder::new().has_headers(false).from_writer(csv_bytes.clone());
        RowFormatter { csv, csv_bytes, json: Vec::with_capacity(1024) }
    }

    /// The CSV record of `fields` (the header line).
    fn csv_record(&mut self, fields: &[&str]) -> Result<Vec<u8>, EvidenceError> {
        self.csv.write_record(fields).map_err(|e| export_err(format!("csv: {e}")))?;
        self.csv.flush()?;
        Ok(std::mem::take(&mut *self.csv_bytes.0.borrow_mut()))
    }

    /// Formats `row`; the bytes are read with [`RowFormatter::csv`] and [`RowFormatter::json`].
    fn format(&mut self, row: &crate::analysis::Row) -> Result<(), EvidenceError> {
        self.csv_bytes.0.borrow_mut().clear();
        self.csv.serialize(row).map_err(|e| export_err(format!("csv: {e}")))?;
        self.csv.flush()?;
        self.json.clear();
        serde_json::to_writer(&mut self.json, row).map_err(|e| export_err(e.to_string()))
    }
}

/// Writes the bundle. See the module documentation for what it contains and guarantees.
pub fn export(req: &ExportRequest<'_>) -> Result<ExportSummary, EvidenceError> {
    if req.from >= req.to {
        return Err(EvidenceError::Invalid(format!(
            "--from {} must be before --to {} (the period is [from, to))",
            date_str(req.from),
            date_str(req.to)
        )));
    }
    let out = &req.out;
    if out.exists() && fs::read_dir(out).map(|mut d| d.next().is_some()).unwrap_or(true) {
        return Err(EvidenceError::Invalid(format!(
            "{} exists and is not an empty directory",
            out.display()
        )));
    }
    let name = out
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| EvidenceError::Invalid(format!("{} has no usable directory name", out.display())))?;
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let tmp = parent.join(format!(".{name}.partial-{}", std::process::id()));
    if tmp.exists() {
        fs::remove_dir_all(&tmp)?;
    }
    fs::create_dir_all(tmp.join("controls"))?;
    fs::create_dir_all(tmp.join("oscal"))?;
    let result = write_bundle(req, &tmp);
    match result {
        Ok(mut summary) => {
            if out.exists() {
                fs::remove_dir(out)?;
            }
            fs::rename(&tmp, out)?;
            summary.out = out.clone();
            Ok(summary)
        }
        Err(e) => {
            let _ = fs::remove_dir_all(&tmp);
            Err(e)
        }
    }
}

/// The body of the `evidence.exported` event (and of its `evidence_exports/<id>` document) with
/// which the caller records an export, so later bundles can prove consistency with it.
pub fn exported_record(req: &ExportRequest<'_>, s: &ExportSummary) -> gavel_events::EvidenceExported {
    gavel_events::EvidenceExported {
        export_id: s.export_id.clone(),
        framework: req.framework.framework.id.clone(),
        from: date_str(req.from),
        to: date_str(req.to),
        checkpoint_size: s.checkpoint_size,
        checkpoint_root: s.checkpoint_root.clone(),
        sha256sums_sha256: s.sha256sums_sha256.clone(),
        total_events: s.total_events,
        type_ii: s.type_ii.type_ii,
        simulated: req.simulated,
        other: Default::default(),
    }
}

fn write_bundle(req: &ExportRequest<'_>, dir: &Path) -> Result<ExportSummary, EvidenceError> {
    let store = req.store;
    let fw = req.framework;
    let checkpoint = req.checkpoint.clone();
    let size = checkpoint.size;
    let from_time = day_start(req.from);
    let to_time = day_start(req.to);
    let first = lower_bound(store, size, &from_time)?;
    let end = lower_bound(store, size, &to_time)?.max(first);
    let total = end - first;

    // Consistency proofs from every earlier export's checkpoint that this tree extends.
    let mut consistency = Vec::new();
    let mut q = DocQuery::new(EXPORTS_COLLECTION, 1000);
    q.ascending = true;
    for doc in store.query_docs(&q)? {
        let (Some(old_size), Some(old_root)) =
            (doc.body["checkpoint_size"].as_u64(), doc.body["checkpoint_root"].as_str())
        else {
            continue;
        };
        if old_size > size {
            continue;
        }
        let proof = store.consistency_proof(old_size, size)?;
        consistency.push(ConsistencyProof {
            export_id: doc.id.clone(),
            old_size,
            old_root: old_root.to_string(),
            hashes: proof.iter().map(to_hex).collect(),
        });
    }

    // The SHA-256 of the big files, computed as they are written (the rest are hashed at the end).
    let mut hashed = std::collections::BTreeMap::<String, String>::new();
    let mut events =
        BufWriter::with_capacity(WRITE_BUFFER, HashingWriter::new(File::create(dir.join("events.jsonl"))?));
    let mut formatter = RowFormatter::new();
    // The header is written explicitly so that a criterion without evidence still has one.
    let csv_header = formatter.csv_record(&CSV_HEADER)?;
    let mut outs = Vec::with_capacity(fw.criteria.len());
    for c in &fw.criteria {
        let mut csv = BufWriter::with_capacity(
            WRITE_BUFFER,
            HashingWriter::new(File::create(dir.join("controls").join(format!("{}.csv", c.id)))?),
        );
        csv.write_all(&csv_header)?;
        let rows_path = dir.join("controls").join(format!(".{}.rows", c.id));
        outs.push(CriterionOut {
            csv,
            rows: BufWriter::with_capacity(WRITE_BUFFER, File::create(&rows_path)?),
            rows_path,
            first_row: true,
        });
    }
    let prev = if first == 0 {
        ZERO_HASH
    } else {
        store
            .entry(first - 1)?
            .ok_or_else(|| export_err(format!("event {} is missing", first - 1)))?
            .leaf_hash
    };
    let mut verifier = RangeVerifier::new(first, prev, Vec::new());
    let mut by_kind = std::collections::BTreeMap::<String, u64>::new();
    let mut first_time: Option<String> = None;
    let mut last_time: Option<String> = None;
    let mut last_leaf = None;
    let mut gaps = Vec::new();
    let mut next_day = req.from;
    let mut done = 0u64;
    let mut failure: Option<EvidenceError> = None;
    let mut cited = crate::policies::CitedVersions::new();
    let mut analysis = PeriodAnalysis::new(fw, to_datetime(req.from), to_datetime(req.to));
    let context = crate::context::select(store, first)?;
    let context_proofs = crate::context::write(store, &context, size, dir)?;
    for (_, event) in &context.entries {
        analysis.learn_context(event);
    }

    let mut step = |entry: gavel_ledger::verify::StoredEntry| -> Result<(), EvidenceError> {
        verifier.push(&entry);
        let bytes = entry.bytes.as_deref().ok_or_else(|| {
            export_err(format!(
                "event {} was purged past retention; its payload cannot be exported",
                entry.seq
            ))
        })?;
        events.write_all(bytes)?;
        events.write_all(b"\n")?;
        last_leaf = Some((entry.seq, entry.leaf_hash));
        done += 1;
        if done.is_multiple_of(8192) {
            if let Some(p) = req.progress {
                p(done, total);
            }
        }
        // The verifier above already checked the bytes are canonical (and reports them if not),
        // so a plain parse suffices here; a malformed event cannot be analysed.
        let Ok(event) = serde_json::from_slice::<Event>(bytes) else { return Ok(()) };
        *by_kind.entry(event.kind.clone()).or_default() += 1;
        crate::policies::collect(&event, &mut cited);
        if first_time.is_none() {
            first_time = Some(event.time.clone());
        }
        if let Ok(day) = parse_date(event.time.get(..10).unwrap_or_default()) {
            while next_day < day && next_day < req.to {
                gaps.push(date_str(next_day));
                next_day += Duration::days(1);
            }
            if day >= next_day {
                next_day = day + Duration::days(1);
            }
        }
        let leaf_hex = to_hex(&entry.leaf_hash);
        let mut matched = Vec::new();
        analysis.observe(&event, |i| matched.push(i));
        if !matched.is_empty() {
            formatter.format(&analysis.row(&event, &leaf_hex))?;
            let csv_row = formatter.csv_bytes.0.borrow();
            for i in matched {
                let Some(o) = outs.get_mut(i) else { continue };
                o.csv.write_all(&csv_row)?;
                if !o.first_row {
                    o.rows.write_all(b",\n")?;
                }
                o.first_row = false;
                o.rows.write_all(&formatter.json)?;
            }
        }
        last_time = Some(event.time);
        Ok(())
    };
    store.scan(first, end, &mut |entry| match step(entry) {
        Ok(()) => true,
        Err(e) => {
            failure = Some(e);
            false
        }
    })?;
    if let Some(e) = failure {
        return Err(e);
    }
    if let Some(p) = req.progress {
        p(done, total);
    }
    while next_day < req.to {
        gaps.push(date_str(next_day));
        next_day += Duration::days(1);
    }
    let (events, events_sha256) = events.into_inner().map_err(|e| e.into_error())?.finish();
    events.sync_all()?;
    hashed.insert("events.jsonl".into(), events_sha256);
    if done != total {
        return Err(export_err(format!("the log returned {done} events for seqs {first}..{end}")));
    }
    let report = verifier.finish(total, size);
    let facts = PeriodFacts {
        chain_verified: report.valid,
        events_verified: report.verified,
        chain_reason: report.reason.clone(),
    };
    let mut warnings = context.warnings();
    if !report.valid {
        warnings.push(format!(
            "the hash chain does not verify over the period (first break at seq {:?}): {}",
            report.first_break,
            report.reason.clone().unwrap_or_default()
        ));
    }

    warnings.extend(write_policies(store, dir, &cited)?);

    // Per-criterion files.
    let period = Period {
        from: date_str(req.from),
        to: date_str(req.to),
        from_time: from_time.clone(),
        to_time: to_time.clone(),
    };
    let (period_facts, statements) = analysis.finish(&facts);
    let samples = analysis.samples();
    write_json(&dir.join(SAMPLES_FILE), &samples)?;
    let mut results = Vec::new();
    for ((c, o), st) in fw.criteria.iter().zip(outs).zip(statements) {
        let CriterionOut { csv, rows, rows_path, .. } = o;
        let (_, csv_sha256) = csv.into_inner().map_err(|e| e.into_error())?.finish();
        hashed.insert(format!("controls/{}.csv", c.id), csv_sha256);
        rows.into_inner().map_err(|e| e.into_error())?;
        let header = ControlHeader {
            framework: fw.framework.id.clone(),
            criterion: c.id.clone(),
            title: c.title.clone(),
            description: c.description.clone(),
            controls: st.controls,
            queries: c.evidence.clone(),
            period: period.clone(),
            evidence_count: st.evidence_count,
            summary: st.summary.clone(),
            status: st.status.to_string(),
            operating: st.operating,
            findings: st.findings.clone(),
            analysis: st.analysis,
        };
        // Unbuffered: the header is one write and the rows are copied in large reads.
        let mut w = HashingWriter::new(File::create(dir.join(bundle::control_json(&c.id)))?);
        header.write(&mut w, &mut File::open(&rows_path)?)?;
        hashed.insert(bundle::control_json(&c.id), w.finish().1);
        fs::remove_file(&rows_path)?;
        results.push(CriterionResult {
            id: c.id.clone(),
            title: c.title.clone(),
            evidence_count: st.evidence_count,
            summary: st.summary,
            status: st.status.to_string(),
            findings: st.findings,
        });
    }

    let tii = type_ii(req.from, req.to, gaps);
    warnings.extend(tii.warnings.iter().cloned());
    let gaps_disclosed: Vec<DisclosedGap> = fw.gaps.iter().map(DisclosedGap::from).collect();
    let fw_info = FrameworkRef {
        id: fw.framework.id.clone(),
        name: fw.framework.name.clone(),
        version: fw.framework.version.clone(),
        source: fw.framework.source.clone(),
        sha256: fw.sha256.clone(),
    };
    let last_seq = last_leaf.map(|(s, _)| s);
    let first_seq = (total > 0).then_some(first);
    let generated_at = format_time(req.generated_at);

    write_json(
        &dir.join(bundle::SUMMARY),
        &Summary {
            framework: fw.framework.id.clone(),
            period: period.clone(),
            facts: Some(period_facts),
            criteria: results
                .iter()
                .map(|r| SummaryCriterion {
                    id: r.id.clone(),
                    title: r.title.clone(),
                    evidence_count: r.evidence_count,
                    summary: r.summary.clone(),
                    status: r.status.to_string(),
                })
                .collect(),
            disclosed_gaps: gaps_disclosed.clone(),
        },
    )?;

    let gaps_detected = if report.valid {
        Vec::new()
    } else {
        vec![ChainBreak { first_break: report.first_break, reason: report.reason.clone() }]
    };
    let inclusion_proof = match last_leaf {
        Some((seq, leaf)) => {
            let proof = store.inclusion_proof(seq, size)?;
            Some(InclusionProof {
                seq,
                leaf_hash: to_hex(&leaf),
                tree_size: size,
                hashes: proof.iter().map(to_hex).collect(),
            })
        }
        None => None,
    };
    write_json(
        &dir.join(bundle::INTEGRITY),
        &Integrity {
            hash_chain_verified: report.valid,
            total_events: total,
            first_seq,
            last_seq,
            first_event_time: first_time.clone(),
            last_event_time: last_time.clone(),
            gaps_detected,
            chain_verification: (&report).into(),
            prev_of_first: to_hex(&prev),
            checkpoint: checkpoint.note.clone(),
            checkpoint_size: size,
            checkpoint_root: to_hex(&checkpoint.root),
            log_key: req.log_key.to_string(),
            inclusion_proof,
            consistency_proofs: consistency,
            context_proofs,
        },
    )?;

    let retention_policy =
        format!("event payloads are kept at least {} days; purges keep leaf hashes", req.retention_days);
    write_json(
        &dir.join(bundle::MANIFEST),
        &Manifest {
            bundle_format: BUNDLE_FORMAT.to_string(),
            framework: fw_info,
            period,
            generated_at: generated_at.clone(),
            generator: GENERATOR.to_string(),
            org: req.org.clone(),
            log_origin: req.log_origin.to_string(),
            counts: Counts {
                events: total,
                events_by_kind: by_kind,
                criteria: CriterionCounts(results.iter().map(|r| (r.id.clone(), r.evidence_count)).collect()),
            },
            type_ii: tii.clone(),
            retention: Retention { days: req.retention_days, policy: retention_policy },
            simulated: req.simulated,
            disclosed_gaps: gaps_disclosed,
            warnings: warnings.clone(),
            // What the log's events cannot show: `gavel evidence verify` names these as the
            // exporter's word; everything else in the bundle it recomputes.
            exporter_attestation: ["org", "simulated", "retention", "generated_at", "context_selection"]
                .map(String::from)
                .to_vec(),
        },
    )?;

    let doc = oscal::assessment_results(&oscal::Input {
        framework: fw,
        results: &results,
        from_time: &from_time,
        to_time: &to_time,
        generated_at: &generated_at,
        org: &req.org,
        seed: &format!("{}|{}|{}|{}", fw.sha256, from_time, to_time, to_hex(&checkpoint.root)),
        simulated: req.simulated,
    });
    write_json(&dir.join("oscal").join("assessment-results.json"), &doc)?;

    let pubkey = req.export_key.verifying_key();
    fs::write(dir.join("signing-key.pem"), public_key_pem(&pubkey))?;
    fs::write(dir.join("README.txt"), readme(fw, req, total, &tii))?;
    let log_key = req.log_key.to_string();
    let checkpoint_root = to_hex(&checkpoint.root);
    let pdf = report::render(&ReportInput {
        framework: fw,
        org: &req.org,
        from: req.from,
        to: req.to,
        generated_at: req.generated_at,
        generator: GENERATOR,
        simulated: req.simulated,
        log_origin: req.log_origin,
        retention_days: req.retention_days,
        type_ii: &tii,
        criteria: &results,
        warnings: &warnings,
        samples: &samples,
        integrity: report::Integrity {
            hash_chain_verified: report.valid,
            chain_reason: report.reason.as_deref(),
            total_events: total,
            first_seq,
            last_seq,
            first_event_time: first_time.as_deref(),
            last_event_time: last_time.as_deref(),
            checkpoint_size: size,
            checkpoint_root: &checkpoint_root,
            log_key: &log_key,
        },
    })?;
    fs::write(dir.join(REPORT_FILE), pdf)?;

    // SHA256SUMS over every file, sorted by path, then its signature.
    let mut entries = Vec::new();
    list_files(dir, dir, &mut entries)?;
    entries.sort();
    let mut listed = Vec::with_capacity(entries.len());
    for rel in entries {
        let hash = match hashed.remove(&rel) {
            Some(hash) => {
                debug_assert_eq!(hash, sums::hash_file(&dir.join(&rel))?, "{rel} hashed as written");
                hash
            }
            None => sums::hash_file(&dir.join(&rel))?,
        };
        listed.push((rel, hash));
    }
    if !hashed.is_empty() {
        return Err(export_err(format!("files written but not found when listing: {:?}", hashed.keys())));
    }
    let text = sums::format(&listed);
    fs::write(dir.join(SUMS_FILE), &text)?;
    let sig = req.export_key.sign(text.as_bytes());
    fs::write(dir.join(SIG_FILE), sig.to_bytes())?;
    let sums_hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(text.as_bytes()));

    Ok(ExportSummary {
        export_id: format!("exp_{}", &sums_hash[..16]),
        out: dir.to_path_buf(),
        total_events: total,
        first_seq,
        last_seq,
        checkpoint_size: size,
        checkpoint_root: to_hex(&checkpoint.root),
        hash_chain_verified: report.valid,
        type_ii: tii,
        criteria: results,
        sha256sums_sha256: sums_hash,
        warnings,
    })
}

/// Every regular file under `dir`, as `/`-separated paths relative to `root`.
pub fn list_files(root: &Path, dir: &Path, out: &mut Vec<String>) -> std::io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let ft = entry.file_type()?;
        if ft.is_dir() {
            list_files(root, &path, out)?;
        } else {
            let rel = path.strip_prefix(root).map_err(|e| std::io::Error::other(e.to_string()))?;
            let parts: Vec<String> =
                rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
            let rel = parts.join("/");
            if rel != SUMS_FILE && rel != SIG_FILE {
                out.push(rel);
            }
        }
    }
    Ok(())
}

/// Writes the text of every cited policy version and `policies/index.json` (see
/// [`crate::policies`]); returns warnings for versions that cannot be included.
fn write_policies(
    store: &dyn Store,
    dir: &Path,
    cited: &crate::policies::CitedVersions,
) -> Result<Vec<String>, EvidenceError> {
    let mut index = Vec::new();
    let mut warnings = Vec::new();
    for ((set_id, version), how) in cited {
        let claims: Vec<u64> = how.sha256_claims.iter().map(|(seq, _)| *seq).collect();
        if !crate::policies::safe_set_id(set_id) {
            warnings.push(format!(
                "policy set {set_id:?} (cited) has a name that cannot be a file; its text is not included"
            ));
            continue;
        }
        let Some(doc) = store.get_doc("policy_versions", &format!("{set_id}@{version}"))? else {
            warnings.push(format!(
                "policy {set_id} version {version} is cited but not stored; its text is not included"
            ));
            continue;
        };
        // The stored policy version document (gavel-core's `PolicyVersion`).
        let text = doc.body["text"].as_str().unwrap_or_default();
        let stored = |key: &str| doc.body.get(key).and_then(Value::as_str).map(str::to_string);
        let file = crate::policies::file_of(set_id, *version);
        let path = dir.join(&file);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::write(&path, text)?;
        index.push(PolicyVersionEntry {
            set_id: set_id.clone(),
            version: *version,
            file,
            sha256: hex::encode(<sha2::Sha256 as sha2::Digest>::digest(text.as_bytes())),
            author: stored("author_name"),
            created_at: stored("created_at"),
            source: stored("source"),
            cited_by_decisions: how.decisions,
            sha256_in_events: claims,
        });
    }
    fs::create_dir_all(dir.join("policies"))?;
    write_json(&dir.join(bundle::POLICY_INDEX), &PolicyIndex { versions: index })?;
    Ok(warnings)
}

fn write_json(path: &Path, value: &impl Serialize) -> Result<(), EvidenceError> {
    Ok(bundle::write_pretty(path, value)?)
}

fn readme(fw: &Framework, req: &ExportRequest<'_>, total: u64, tii: &TypeII) -> String {
    format!(
        "gavel evidence bundle\n\
         =====================\n\n\
         Framework: {name} ({version})\n\
         Period:    {from} to {to} (the day {to} is excluded), {total} log event(s)\n\
         Org:       {org}    Log origin: {origin}\n\
         Type II:   {tii}{sim}\n\n\
         Criteria titles paraphrase {source}.\n\n\
         Verify with standard tools (coreutils + OpenSSL 3)\n\
         --------------------------------------------------\n\
         From inside this directory:\n\n\
         \x20   sha256sum -c SHA256SUMS\n\
         \x20   openssl pkeyutl -verify -pubin -inkey signing-key.pem -rawin -in SHA256SUMS -sigfile SHA256SUMS.sig\n\n\
         The first checks every file against SHA256SUMS; the second checks the Ed25519 signature over\n\
         SHA256SUMS with the export public key in signing-key.pem. Compare that key with the one the\n\
         organisation publishes (GET /v1/public/signing-key) before trusting the bundle.\n\n\
         Verify everything with gavel\n\
         ----------------------------\n\
         \x20   gavel evidence verify <this directory> [--previous <earlier bundle>] [--log-key <verifier key>]\n\n\
         This also checks that events.jsonl is in RFC 8785 canonical form, that the events chain\n\
         through `prev` with contiguous seqs, that the last event is included (RFC 9162 inclusion proof)\n\
         in the checkpoint signed by the log key (integrity.json; C2SP signed note), that manifest,\n\
         summary and controls agree with events.jsonl, and, with --previous, that the earlier\n\
         bundle's checkpoint is a prefix of this one (RFC 9162 consistency proof).\n\n\
         Files\n\
         -----\n\
         manifest.json        framework, period, counts, Type II validation, retention, simulated flag\n\
         summary.json         per criterion: evidence count and one-sentence summary\n\
         controls/<ID>.json   per criterion: description, controls, findings, analysis, evidence rows\n\
         controls/<ID>.csv    the same evidence rows as CSV\n\
         events.jsonl         every log event of the period, canonical JSON, one per line, seq order\n\
         context.jsonl        the earlier user and agent events that name the period's principals\n\
         integrity.json       chain verification, signed checkpoint, log key, inclusion proofs\n\
         oscal/assessment-results.json   OSCAL 1.1 assessment results\n\
         report.pdf           human-readable report of the above (listed in SHA256SUMS too)\n",
        name = fw.framework.name,
        version = fw.framework.version,
        from = date_str(req.from),
        to = date_str(req.to),
        org = req.org,
        origin = req.log_origin,
        tii = if tii.type_ii {
            format!("yes ({} days, no coverage gaps)", tii.observation_days)
        } else {
            format!("no - {}", tii.warnings.join("; "))
        },
        sim = if req.simulated { "\nSIMULATED DATA: produced with a simulated clock, not real activity." } else { "" },
        source = fw.framework.source,
    )
}
