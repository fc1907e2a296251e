//! Offline verification of an evidence bundle: everything an auditor needs is in the directory
//! (plus, optionally, the log key and export key they trust, and an earlier bundle).
//!
//! Checks, in order (each reports pass/fail and, on failure, the file and line or seq that broke):
//! 1. `files` — SHA256SUMS is well-formed, every listed file exists with that hash, no file is
//!    missing from or unlisted in it, and the bundle's required files are all listed: report.pdf
//!    too, except in bundles of format `gavel-evidence/1` (made before it existed); when present
//!    it must be a PDF (starts with `%PDF-`).
//! 2. `signature` — SHA256SUMS.sig is the Ed25519 signature of SHA256SUMS by signing-key.pem
//!    (and signing-key.pem is the trusted export key, when one is given).
//! 3. `checkpoint` — integrity.json's checkpoint is a C2SP signed note verifying under its
//!    `log_key` (which must equal the trusted log key when one is given), for the manifest's origin.
//! 4. `events` — events.jsonl: each line is the RFC 8785 canonical form of a well-formed event,
//!    seqs are contiguous from integrity.json's `first_seq`, each `prev` is the leaf hash of the
//!    line before, times are non-decreasing and inside the period.
//! 5. `inclusion` — the last event's leaf is in the checkpoint's tree (RFC 9162 inclusion proof);
//!    with the chain, this authenticates every event of the period.
//! 6. `context` (bundle format `gavel-evidence/5` on) — each context.jsonl event is canonical,
//!    an identity event before the period, in ascending seq order, and a leaf of the checkpoint's
//!    tree at its seq (its inclusion proof in integrity.json `context_proofs`); rows' names and the
//!    agent inventory are recomputed starting from them. That no earlier identity event was left
//!    out is the exporter's attestation ([`crate::context`]).
//! 7. `consistency` — manifest, integrity, summary, the OSCAL findings' states and every
//!    controls/<ID>.json and .csv agree
//!    with what events.jsonl recomputes (counts, seqs, times, evidence rows per criterion,
//!    recomputed from each criterion's queries).
//! 8. `statements` — each criterion's status, summary, findings and analysis, recomputed from
//!    events.jsonl under the framework the manifest names when the verifier trusts it (built-in
//!    soc2, or `VerifyOptions::framework`, matched by SHA-256); otherwise reported as unverified.
//! 9. `claims` — the period's bounds, the Type II window and its coverage gaps recomputed; under
//!    a trusted framework also the disclosed gaps, the OSCAL results (regenerated, compared whole)
//!    and report.pdf (re-rendered from the verified files, compared byte for byte, when the same
//!    gavel version made it). What no event shows (org,
//!    `simulated`, retention, generation time) is reported as the exporter's attestation
//!    (`manifest.exporter_attestation`), never as verified.
//! 10. `policies` (bundle format `gavel-evidence/3` on) — policies/index.json lists exactly the
//!     policy versions events.jsonl cites (recomputed with `policies::collect`), each text's
//!     SHA-256 is its file's, and equals every SHA-256 the period's events state for it; texts no
//!     event states a SHA-256 for are reported as the exporter's attestation.
//! 11. `previous` (with an earlier bundle) — the earlier bundle verifies on its own, is signed by
//!     the same log key, and its checkpoint is a prefix of this one: a consistency proof from its
//!     tree size is in this bundle's integrity.json and verifies.
//!
//! Trust roots: without pinned keys, a forger who rewrites events, signs a checkpoint with a key
//! of their own and reseals the bundle passes the self-contained checks (a test shows it);
//! pinning the log key (`gavel keys show`) and the export key catches that.
//!
//! Memory: events.jsonl, the controls JSON rows and CSV rows are streamed; per criterion only a
//! running hash of its evidence rows is kept.
//!
//! Reading: every JSON file of the bundle is read through its [`crate::bundle`] type, the one the
//! exporter writes it with (OSCAL, NIST's format, is read as JSON). A file that does not read as
//! its type fails the first check that needs it, naming the file and the field.

use crate::analysis::{CSV_HEADER, LEGACY_COLUMNS};
use crate::bundle::{
    self, ControlEvidence, ControlHeader, DisclosedGap, Format, Integrity, Manifest, PolicyIndex, Samples,
    Summary,
};
use crate::export::list_files;
use crate::framework::Query;
use crate::report::REPORT_FILE;
use crate::sums::{self, SIG_FILE, SUMS_FILE};
use ed25519_dalek::pkcs8::DecodePublicKey;
use ed25519_dalek::{Signature, VerifyingKey};
use gavel_ledger::checkpoint::{Checkpoint, NoteVerifier};
use gavel_ledger::event::Event;
use gavel_ledger::hash::{from_hex, leaf_hash, to_hex, Hash};
use gavel_ledger::merkle::{verify_consistency, verify_inclusion};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

/// Files every bundle has (besides SHA256SUMS and its signature).
pub const REQUIRED_FILES: [&str; 7] = [
    "README.txt",
    "events.jsonl",
    bundle::INTEGRITY,
    bundle::MANIFEST,
    OSCAL_FILE,
    "signing-key.pem",
    bundle::SUMMARY,
];

/// What the auditor brings besides the bundle.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// An earlier bundle whose checkpoint this one must extend.
    pub previous: Option<PathBuf>,
    /// The log's verifier key (`<name>+<key id>+<base64>`), if the auditor has it from elsewhere.
    pub log_key: Option<String>,
    /// The export public key (SPKI PEM) the organisation publishes, if the auditor has it.
    pub signing_key_pem: Option<String>,
    /// A framework definition the auditor trusts besides the built-in soc2 (`--framework FILE`):
    /// with it (or soc2) the criteria's statements are recomputed (`statements` check).
    pub framework: Option<crate::Framework>,
}

/// One check and its outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub ok: bool,
    /// What was checked (on success) or exactly what broke (on failure).
    pub detail: String,
}

/// The outcome of [`verify_bundle`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    pub valid: bool,
    pub checks: Vec<Check>,
}

impl VerifyReport {
    /// The first failed check.
    pub fn first_failure(&self) -> Option<&Check> {
        self.checks.iter().find(|c| !c.ok)
    }

    /// The check with this name.
    pub fn check(&self, name: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.name == name)
    }
}

type Fail = String;

fn read(dir: &Path, name: &str) -> Result<Vec<u8>, Fail> {
    std::fs::read(dir.join(name)).map_err(|e| format!("{name}: cannot read: {e}"))
}

/// A hex hash field of a bundle file.
fn hex_hash(hex: &str, file: &str, key: &str) -> Result<Hash, Fail> {
    from_hex(hex).ok_or_else(|| format!("{file}: `{key}` is not a 64-hex-digit hash"))
}

/// A string as JSON writes it (quoted and escaped), to show what a file says.
fn quoted(s: &str) -> String {
    Value::from(s).to_string()
}

const OSCAL_FILE: &str = "oscal/assessment-results.json";

/// The OSCAL document, as JSON: it is NIST's format ([`crate::oscal`] builds it), not a bundle type.
fn read_oscal(dir: &Path) -> Result<Value, Fail> {
    bundle::read(dir, OSCAL_FILE)
}

/// Verifies the bundle in `dir`. Never panics on bad input; every failure is a failed check.
pub fn verify_bundle(dir: &Path, opts: &VerifyOptions) -> VerifyReport {
    let mut checks = Vec::new();
    let mut push = |name: &'static str, r: Result<String, Fail>| {
        let (ok, detail) = match r {
            Ok(d) => (true, d),
            Err(d) => (false, d),
        };
        checks.push(Check { name, ok, detail });
    };
    push("files", check_files(dir));
    push("signature", check_signature(dir, opts));
    let integrity = bundle::read::<Integrity>(dir, bundle::INTEGRITY);
    let manifest = bundle::read::<Manifest>(dir, bundle::MANIFEST);
    let checkpoint = match (&integrity, &manifest) {
        (Ok(i), Ok(m)) => check_checkpoint(i, m, opts),
        (Err(e), _) | (_, Err(e)) => Err(e.clone()),
    };
    push("checkpoint", checkpoint.as_ref().map(|(_, d)| d.clone()).map_err(Clone::clone));
    let context = match (&integrity, &manifest, &checkpoint) {
        (Ok(i), Ok(m), Ok((cp, _))) => check_context(dir, i, m, cp),
        (Err(e), _, _) | (_, Err(e), _) => Err(e.clone()),
        _ => Err("not checked: needs a valid checkpoint".into()),
    };
    // A context that does not verify fails its own check below; the others go on without it.
    let context_events = context.as_ref().map(|(events, _)| events.as_slice()).unwrap_or_default();
    let scanned = match (&integrity, &manifest) {
        (Ok(i), Ok(m)) => scan_events(dir, i, m, context_events),
        (Err(e), _) | (_, Err(e)) => Err(e.clone()),
    };
    push(
        "events",
        scanned.as_ref().map(|s| {
            format!(
                "{} event(s), seq {}..={}: canonical bytes, contiguous seqs, prev chain, times inside the period",
                s.count,
                s.first_seq.map_or("-".into(), |v| v.to_string()),
                s.last.map_or("-".into(), |(v, _)| v.to_string())
            )
        })
        .map_err(Clone::clone),
    );
    let inclusion = match (&scanned, &checkpoint, &integrity) {
        (Ok(s), Ok((cp, _)), Ok(i)) => check_inclusion(s, cp, i),
        _ => Err("not checked: needs valid events and a valid checkpoint".into()),
    };
    push("inclusion", inclusion);
    push("context", context.as_ref().map(|(_, d)| d.clone()).map_err(Clone::clone));
    // Read once, here: the checks below that need it each report why it cannot be read.
    let summary = bundle::read::<Summary>(dir, bundle::SUMMARY);
    let consistency = match (&scanned, &integrity, &manifest) {
        (Ok(s), Ok(i), Ok(m)) => check_consistency(dir, s, i, m, &summary),
        _ => Err("not checked: needs readable events, integrity.json and manifest.json".into()),
    };
    push("consistency", consistency);
    let statements = match (&scanned, &manifest) {
        (Ok(_), Ok(m)) => check_statements(dir, m, &summary, opts, context_events),
        _ => Err("not checked: needs readable events and manifest.json".into()),
    };
    push("statements", statements.as_ref().map(|(d, _)| d.clone()).map_err(Clone::clone));
    push(
        "claims",
        match (&scanned, &integrity, &manifest, &statements) {
            (Ok(s), Ok(i), Ok(m), Ok((_, recomputed))) => {
                check_claims(dir, s, i, m, &summary, recomputed.as_ref())
            }
            _ => {
                Err("not checked: needs readable events, integrity.json, manifest.json and the statements"
                    .into())
            }
        },
    );
    push(
        "policies",
        match (&scanned, &manifest) {
            (Ok(scanned), Ok(m)) => check_policies(dir, m, &scanned.cited),
            _ => Err("not checked: needs readable events and manifest.json".into()),
        },
    );
    if let Some(prev) = &opts.previous {
        let r = match (&checkpoint, &integrity) {
            (Ok((cp, _)), Ok(i)) => check_previous(prev, cp, i, opts),
            _ => Err("not checked: this bundle's checkpoint is not valid".into()),
        };
        push("previous", r);
    }
    let valid = checks.iter().all(|c| c.ok);
    VerifyReport { valid, checks }
}

/// Recomputes each criterion's status, summary, findings and analysis from events.jsonl under
/// the framework the bundle names — when the verifier trusts it (the built-in soc2, or the one
/// given in `opts`, matched by SHA-256) — and compares them with controls/<ID>.json and
/// summary.json. With a framework it does not know, it says the statements are the exporter's.
fn check_statements(
    dir: &Path,
    m: &Manifest,
    summary: &Result<Summary, Fail>,
    opts: &VerifyOptions,
    context: &[Event],
) -> Result<(String, Option<Recomputed>), Fail> {
    if !m.format().has_statements() {
        return Ok((
            format!(
                "not recomputed: bundle format {} predates operating rules (gavel-evidence/4); its \
                 criteria's statuses, summaries and findings are the exporter's word",
                m.bundle_format
            ),
            None,
        ));
    }
    let claimed = m.framework.sha256.as_str();
    let builtin = crate::Framework::soc2().map_err(|e| e.to_string())?;
    let trusted = [Some(&builtin), opts.framework.as_ref()];
    let Some(fw) = trusted.into_iter().flatten().find(|f| f.sha256 == claimed) else {
        return Ok((
            format!(
                "not recomputed: the bundle's framework (sha256 {claimed}) is neither the built-in soc2 nor one \
                 given with --framework; its criteria's statuses, summaries and findings are the exporter's word"
            ),
            None,
        ));
    };
    let period_bound = |key: &str, value: &str| {
        crate::facts::parse_time(value).ok_or_else(|| format!("manifest.json: period.{key} is not a time"))
    };
    let mut analysis = crate::analysis::PeriodAnalysis::new(
        fw,
        period_bound("from_time", &m.period.from_time)?,
        period_bound("to_time", &m.period.to_time)?,
    );
    for event in context {
        analysis.learn_context(event);
    }
    let file = std::fs::File::open(dir.join("events.jsonl")).map_err(|e| format!("events.jsonl: {e}"))?;
    let mut count = 0u64;
    for (n, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| format!("events.jsonl: {e}"))?;
        let event: Event =
            serde_json::from_str(&line).map_err(|e| format!("events.jsonl line {}: {e}", n + 1))?;
        analysis.observe(&event, |_| {});
        count += 1;
    }
    // The events check (which must pass for the bundle to be valid) verified the whole chain.
    let chain =
        crate::analysis::PeriodFacts { chain_verified: true, events_verified: count, chain_reason: None };
    let (facts, statements) = analysis.finish(&chain);
    let samples = analysis.samples();
    if bundle::read::<Samples>(dir, bundle::SAMPLES)? != samples {
        return Err(format!("{}: not what events.jsonl gives", bundle::SAMPLES));
    }
    let summary = summary.as_ref().map_err(Clone::clone)?;
    if summary.facts.as_ref() != Some(&facts) {
        return Err(format!(
            "summary.json: facts are not what events.jsonl gives: {}",
            serde_json::json!(facts)
        ));
    }
    for st in &statements {
        let fj = bundle::control_json(&st.id);
        // The header only: its rows are skipped as they stream by (the consistency check
        // compared them).
        let control: ControlHeader = bundle::read_stream(dir, &fj)?;
        let differs = |field: &str, same: bool, want: Value| {
            (!same).then(|| format!("{fj}: {field} is not what events.jsonl gives: {want}"))
        };
        let mismatch = differs("status", control.status == st.status, serde_json::json!(st.status))
            .or_else(|| differs("summary", control.summary == st.summary, serde_json::json!(st.summary)))
            .or_else(|| differs("findings", control.findings == st.findings, serde_json::json!(st.findings)))
            .or_else(|| {
                differs("operating", control.operating == st.operating, serde_json::json!(st.operating))
            })
            .or_else(|| differs("controls", control.controls == st.controls, serde_json::json!(st.controls)))
            .or_else(|| {
                differs(
                    "evidence_count",
                    control.evidence_count == st.evidence_count,
                    serde_json::json!(st.evidence_count),
                )
            })
            .or_else(|| differs("analysis", control.analysis == st.analysis, st.analysis.clone()));
        if let Some(e) = mismatch {
            return Err(e);
        }
        let row = summary
            .criteria
            .iter()
            .find(|r| r.id == st.id)
            .ok_or_else(|| format!("summary.json: no entry for {}", st.id))?;
        if row.status != st.status || row.summary != st.summary || row.evidence_count != st.evidence_count {
            return Err(format!(
                "summary.json: the status, summary or evidence count of {} is not what events.jsonl gives",
                st.id
            ));
        }
    }
    let detail = format!(
        "the facts, the samples, and the status, operating rules, controls, summary, findings and analysis of {} \
         criteria of {}, recomputed from events.jsonl",
        fw.criteria.len(),
        fw.framework.id
    );
    Ok((detail, Some(Recomputed { framework: fw.clone(), statements, samples })))
}

/// What the `statements` check recomputed, for the `claims` check.
struct Recomputed {
    framework: crate::Framework,
    statements: Vec<crate::analysis::Statement>,
    samples: crate::samples::Samples,
}

impl Recomputed {
    /// The per-criterion results the exporter passes to the OSCAL writer and the report.
    fn results(&self) -> Vec<crate::export::CriterionResult> {
        self.statements
            .iter()
            .map(|st| crate::export::CriterionResult {
                id: st.id.clone(),
                title: st.title.clone(),
                evidence_count: st.evidence_count,
                summary: st.summary.clone(),
                status: st.status.to_string(),
                findings: st.findings.clone(),
            })
            .collect()
    }
}

/// The manifest's claims and report.pdf: the period bounds, the Type II window and its coverage
/// gaps, the disclosed gaps and every figure of report.pdf (re-rendered from the verified files
/// and compared byte for byte) are recomputed; what the log cannot show (org, simulated,
/// retention, generation time) is named as the exporter's attestation.
fn check_claims(
    dir: &Path,
    s: &Scanned,
    i: &Integrity,
    m: &Manifest,
    summary: &Result<Summary, Fail>,
    recomputed: Option<&Recomputed>,
) -> Result<String, Fail> {
    use crate::export::{date_str, parse_date, to_datetime, type_ii};
    let fm = "manifest.json";
    let date = |key: &str, value: &str| {
        parse_date(value).map_err(|_| format!("{fm}: period.{key} is not a date: {}", quoted(value)))
    };
    let (from, to) = (date("from", &m.period.from)?, date("to", &m.period.to)?);
    if from >= to {
        return Err(format!(
            "{fm}: the period's from {} is not before its to {}",
            date_str(from),
            date_str(to)
        ));
    }
    for (key, stated, day) in [("from_time", &m.period.from_time, from), ("to_time", &m.period.to_time, to)] {
        let want = gavel_ledger::clock::format_time(to_datetime(day));
        if *stated != want {
            return Err(format!("{fm}: period.{key} is not the start of the period's day ({want})"));
        }
    }
    let mut gaps = Vec::new();
    let mut day = from;
    while day < to {
        if !s.days.contains(&date_str(day)) {
            gaps.push(date_str(day));
        }
        day = day.next_day().ok_or("the period runs past the calendar")?;
    }
    let tii = type_ii(from, to, gaps);
    if m.type_ii != tii {
        return Err(format!(
            "{fm}: type_ii is not what the period and events.jsonl give: {}",
            serde_json::json!(tii)
        ));
    }
    let warnings = &m.warnings;
    if let Some(missing) = tii.warnings.iter().find(|w| !warnings.contains(w)) {
        return Err(format!("{fm}: warnings lack the Type II warning {missing:?}"));
    }
    let mut derived = vec![format!(
        "the period and its Type II window ({} day(s), {} coverage gap(s): {})",
        tii.observation_days,
        tii.coverage_gaps.len(),
        if tii.type_ii { "qualifies" } else { "does not qualify" }
    )];
    let mut attested = vec![
        format!("org {}", quoted(&m.org)),
        format!("simulated {}", m.simulated),
        format!("retention {} day(s)", m.retention.days),
        format!("generated at {}", quoted(&m.generated_at)),
    ];
    if m.format().has_context() {
        attested.push("that context.jsonl leaves out no earlier identity event the period needs".into());
    }
    match recomputed {
        Some(r) => {
            let want: Vec<DisclosedGap> = r.framework.gaps.iter().map(DisclosedGap::from).collect();
            if m.disclosed_gaps != want {
                return Err(format!("{fm}: disclosed_gaps are not the framework's gaps"));
            }
            if summary.as_ref().map_err(Clone::clone)?.disclosed_gaps != want {
                return Err("summary.json: disclosed_gaps are not the framework's gaps".into());
            }
            derived.push("the disclosed gaps".into());
            let (from_time, to_time) = (
                gavel_ledger::clock::format_time(to_datetime(from)),
                gavel_ledger::clock::format_time(to_datetime(to)),
            );
            let oscal = crate::oscal::assessment_results(&crate::oscal::Input {
                framework: &r.framework,
                results: &r.results(),
                from_time: &from_time,
                to_time: &to_time,
                generated_at: &m.generated_at,
                org: &m.org,
                seed: &format!("{}|{}|{}|{}", r.framework.sha256, from_time, to_time, i.checkpoint_root),
                simulated: m.simulated,
            });
            if read_oscal(dir)? != oscal {
                return Err(format!(
                    "{OSCAL_FILE}: not what the verified files give (regenerated and compared)"
                ));
            }
            derived.push("the OSCAL assessment results (regenerated)".into());
            let generator = m.generator.as_str();
            if !dir.join(REPORT_FILE).exists() {
                // Required by the files check for formats that have it.
            } else if generator == crate::GENERATOR {
                let rendered = render_report(i, m, r, &tii, from, to)?;
                let stored = read(dir, REPORT_FILE)?;
                if rendered != stored {
                    return Err(format!(
                        "{}: its text or figures are not what the verified files give (re-rendered and compared)",
                        REPORT_FILE
                    ));
                }
                derived.push(format!("every figure of {} (re-rendered byte for byte)", REPORT_FILE));
            } else {
                attested.push(format!(
                    "{} (made by {generator}; only the same version can re-render it)",
                    REPORT_FILE
                ));
            }
        }
        None => attested.push("the disclosed gaps and report.pdf (the framework is not trusted)".into()),
    }
    Ok(format!(
        "recomputed: {}; the exporter's attestation, which the log cannot show: {}",
        derived.join(", "),
        attested.join(", ")
    ))
}

/// report.pdf as the exporter renders it, from the verified files and the recomputed statements.
fn render_report(
    i: &Integrity,
    m: &Manifest,
    r: &Recomputed,
    tii: &crate::export::TypeII,
    from: time::Date,
    to: time::Date,
) -> Result<Vec<u8>, Fail> {
    let generated_at = crate::facts::parse_time(&m.generated_at)
        .ok_or_else(|| format!("manifest.json: generated_at is not a time: {}", quoted(&m.generated_at)))?;
    let criteria = r.results();
    crate::report::render(&crate::report::ReportInput {
        framework: &r.framework,
        org: &m.org,
        from,
        to,
        generated_at,
        generator: &m.generator,
        simulated: m.simulated,
        log_origin: &m.log_origin,
        retention_days: m.retention.days,
        type_ii: tii,
        criteria: &criteria,
        warnings: &m.warnings,
        samples: &r.samples,
        integrity: crate::report::Integrity {
            hash_chain_verified: i.hash_chain_verified,
            chain_reason: i.chain_verification.reason.as_deref(),
            total_events: i.total_events,
            first_seq: i.first_seq,
            last_seq: i.last_seq,
            first_event_time: i.first_event_time.as_deref(),
            last_event_time: i.last_event_time.as_deref(),
            checkpoint_size: i.checkpoint_size,
            checkpoint_root: &i.checkpoint_root,
            log_key: &i.log_key,
        },
    })
    .map_err(|e| e.to_string())
}

fn check_policies(dir: &Path, m: &Manifest, cited: &crate::policies::CitedVersions) -> Result<String, Fail> {
    if !m.format().has_policies() {
        return Ok(format!(
            "not in bundle format {} (policy texts were added in gavel-evidence/3)",
            m.bundle_format
        ));
    }
    let fi = bundle::POLICY_INDEX;
    // `cited` is what the period's events cite, recomputed while they were scanned.
    let index: PolicyIndex = bundle::read(dir, fi)?;
    let listed = &index.versions;
    let mut seen = BTreeSet::new();
    let mut exporter_only = Vec::new();
    for entry in listed {
        let (set_id, version) = (entry.set_id.as_str(), entry.version);
        let key = (set_id.to_string(), version);
        let name = format!("{set_id} v{version}");
        let Some(how) = cited.get(&key) else {
            return Err(format!("{fi}: lists {name}, which no event of the period cites"));
        };
        if !crate::policies::safe_set_id(set_id) || entry.file != crate::policies::file_of(set_id, version) {
            return Err(format!("{fi}: {name} names an unexpected file {}", quoted(&entry.file)));
        }
        let text = read(dir, &crate::policies::file_of(set_id, version))?;
        let sha = hex::encode(Sha256::digest(&text));
        if entry.sha256 != sha {
            return Err(format!(
                "{fi}: {name}: the text's SHA-256 is {sha}, the index says {}",
                quoted(&entry.sha256)
            ));
        }
        if let Some((seq, claimed)) = how.sha256_claims.iter().find(|(_, c)| *c != sha) {
            return Err(format!(
                "{name}: the text's SHA-256 is {sha} but the event at seq {seq} states {claimed}"
            ));
        }
        let claims: Vec<u64> = how.sha256_claims.iter().map(|(s, _)| *s).collect();
        if entry.sha256_in_events != claims || entry.cited_by_decisions != how.decisions {
            return Err(format!("{fi}: {name}: citation counts differ from events.jsonl"));
        }
        if claims.is_empty() {
            exporter_only.push(name);
        }
        seen.insert(key);
    }
    let missing: Vec<String> =
        cited.keys().filter(|k| !seen.contains(*k)).map(|(set, v)| format!("{set} v{v}")).collect();
    // A version the manifest warns about (not stored, or an unusable name) is disclosed, not hidden.
    let undisclosed: Vec<&String> = missing
        .iter()
        .filter(|missing| {
            let (set, v) = missing.rsplit_once(" v").unwrap_or((missing, ""));
            !m.warnings
                .iter()
                .any(|w| w.contains(&format!("{set} version {v}")) || w.contains(&format!("{set:?}")))
        })
        .collect();
    if !undisclosed.is_empty() {
        return Err(format!("cited by the period's events but not in the bundle: {undisclosed:?}"));
    }
    let mut detail = format!(
        "{} policy version(s) cited by the period's events, each text matching its SHA-256",
        listed.len()
    );
    if !exporter_only.is_empty() {
        detail.push_str(&format!(
            "; {} text(s) are the exporter's attestation (no event of the period states their SHA-256: {})",
            exporter_only.len(),
            exporter_only.join(", ")
        ));
    }
    if !missing.is_empty() {
        detail.push_str(&format!("; not included, as the manifest warns: {}", missing.join(", ")));
    }
    Ok(detail)
}

fn check_files(dir: &Path) -> Result<String, Fail> {
    let text = String::from_utf8(read(dir, SUMS_FILE)?).map_err(|_| "SHA256SUMS is not UTF-8".to_string())?;
    let listed = sums::parse(&text)?;
    let mut on_disk = Vec::new();
    list_files(dir, dir, &mut on_disk).map_err(|e| format!("cannot list the bundle directory: {e}"))?;
    let on_disk: BTreeSet<String> = on_disk.into_iter().collect();
    let listed_names: BTreeSet<&str> = listed.iter().map(|(p, _)| p.as_str()).collect();
    if let Some(extra) = on_disk.iter().find(|p| !listed_names.contains(p.as_str())) {
        return Err(format!("{extra}: file is not listed in SHA256SUMS (added to the bundle?)"));
    }
    for (line, (path, want)) in listed.iter().enumerate() {
        if !on_disk.contains(path) {
            return Err(format!(
                "{path}: listed in SHA256SUMS line {} but missing from the bundle",
                line + 1
            ));
        }
        let got = sums::hash_file(&dir.join(path)).map_err(|e| format!("{path}: cannot read: {e}"))?;
        if &got != want {
            return Err(format!(
                "{path}: SHA-256 {got} does not match SHA256SUMS line {} ({want}): the file was changed",
                line + 1
            ));
        }
    }
    if let Some(req) = REQUIRED_FILES.iter().find(|r| !listed_names.contains(**r)) {
        return Err(format!("{req}: required bundle file is not listed in SHA256SUMS"));
    }
    if listed_names.contains(REPORT_FILE) {
        let mut head = Vec::with_capacity(5);
        std::fs::File::open(dir.join(REPORT_FILE))
            .and_then(|f| std::io::Read::read_to_end(&mut std::io::Read::take(f, 5), &mut head))
            .map_err(|e| format!("{REPORT_FILE}: cannot read: {e}"))?;
        if head != b"%PDF-" {
            return Err(format!("{REPORT_FILE}: not a PDF (does not start with %PDF-)"));
        }
    } else {
        // manifest.json matched SHA256SUMS above; an unreadable one fails the checks that need it.
        let format =
            bundle::read::<bundle::ManifestFormat>(dir, bundle::MANIFEST).ok().and_then(|m| m.bundle_format);
        if format.as_deref().map_or(Format::CURRENT, Format::of).has_report() {
            return Err(format!(
                "{REPORT_FILE}: required bundle file is not listed in SHA256SUMS (bundle format {})",
                format.as_deref().unwrap_or("unknown")
            ));
        }
    }
    Ok(format!("{} file(s) match SHA256SUMS; no file missing or unlisted", listed.len()))
}

fn check_signature(dir: &Path, opts: &VerifyOptions) -> Result<String, Fail> {
    let pem = String::from_utf8(read(dir, "signing-key.pem")?)
        .map_err(|_| "signing-key.pem is not UTF-8".to_string())?;
    let key = VerifyingKey::from_public_key_pem(&pem)
        .map_err(|_| "signing-key.pem is not an Ed25519 SPKI public key".to_string())?;
    if let Some(trusted) = &opts.signing_key_pem {
        let trusted = VerifyingKey::from_public_key_pem(trusted)
            .map_err(|_| "the trusted export key is not an Ed25519 SPKI PEM public key".to_string())?;
        if trusted != key {
            return Err("signing-key.pem is not the trusted export signing key".into());
        }
    }
    let sig = read(dir, SIG_FILE)?;
    let sig: [u8; 64] = sig
        .as_slice()
        .try_into()
        .map_err(|_| format!("SHA256SUMS.sig has {} bytes; a raw Ed25519 signature has 64", sig.len()))?;
    let sums = read(dir, SUMS_FILE)?;
    key.verify_strict(&sums, &Signature::from_bytes(&sig)).map_err(|_| {
        "SHA256SUMS.sig is not a valid Ed25519 signature of SHA256SUMS by signing-key.pem".to_string()
    })?;
    Ok(format!(
        "SHA256SUMS signed by the export key in signing-key.pem{}",
        if opts.signing_key_pem.is_some() {
            " (the trusted key)"
        } else {
            " (key not pinned: compare it with the published one)"
        }
    ))
}

fn check_checkpoint(i: &Integrity, m: &Manifest, opts: &VerifyOptions) -> Result<(Checkpoint, String), Fail> {
    let log_key = i.log_key.as_str();
    let verifier = NoteVerifier::from_verifier_key(log_key)
        .map_err(|e| format!("integrity.json: log_key is not a verifier key: {e}"))?;
    if let Some(trusted) = &opts.log_key {
        let t = NoteVerifier::from_verifier_key(trusted)
            .map_err(|e| format!("the trusted log key is invalid: {e}"))?;
        if t.verifier_key() != verifier.verifier_key() {
            return Err(format!("integrity.json: log_key {log_key} is not the trusted log key {trusted}"));
        }
    }
    let cp = verifier
        .verify(&i.checkpoint)
        .map_err(|e| format!("integrity.json: the checkpoint does not verify under log_key: {e}"))?;
    let origin = m.log_origin.as_str();
    if cp.origin != origin {
        return Err(format!(
            "integrity.json: checkpoint origin {:?} is not the manifest's log_origin {origin:?}",
            cp.origin
        ));
    }
    if i.checkpoint_size != cp.size
        || hex_hash(&i.checkpoint_root, "integrity.json", "checkpoint_root")? != cp.root
    {
        return Err(
            "integrity.json: checkpoint_size/checkpoint_root differ from the signed checkpoint".into()
        );
    }
    let detail = format!(
        "checkpoint of tree size {} signed by log key {}{}",
        cp.size,
        verifier.verifier_key(),
        if opts.log_key.is_some() {
            " (the trusted key)"
        } else {
            " (key not pinned: pass the log key to pin it)"
        }
    );
    Ok((cp, detail))
}

/// One criterion's recomputation state: its queries and a running hash of its rows.
struct CriterionScan {
    id: String,
    queries: Vec<Query>,
    count: u64,
    rows: Sha256,
}

/// Folds one evidence row, every field of it, into `h` (length-prefixed, so no field can bleed
/// into the next).
fn row_digest<S: AsRef<str>>(h: &mut Sha256, fields: &[S]) {
    for f in fields {
        let f = f.as_ref();
        h.update((f.len() as u64).to_le_bytes());
        h.update(f.as_bytes());
    }
}

/// A controls/<ID>.json file as verification needs it: its evidence rows are folded into a
/// running hash while they are parsed (never held), so a criterion with millions of rows costs
/// no memory.
type ControlFile = ControlEvidence<RowsDigest>;

/// The number of rows and the hash of all their fields: of every field, and of the first
/// [`LEGACY_COLUMNS`] (bundles made before names were added to rows).
struct RowsDigest {
    count: u64,
    digest: [u8; 32],
    legacy: [u8; 32],
}

impl<'de> Deserialize<'de> for RowsDigest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = RowsDigest;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an array of evidence rows")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<RowsDigest, A::Error> {
                let (mut h, mut legacy) = (Sha256::new(), Sha256::new());
                let mut count = 0u64;
                while let Some(r) = seq.next_element::<crate::analysis::Row>()? {
                    let fields = r.fields();
                    row_digest(&mut h, &fields);
                    row_digest(&mut legacy, &fields[..LEGACY_COLUMNS]);
                    count += 1;
                }
                Ok(RowsDigest { count, digest: h.finalize().into(), legacy: legacy.finalize().into() })
            }
        }
        d.deserialize_seq(V)
    }
}

struct Scanned {
    count: u64,
    first_seq: Option<u64>,
    first_time: Option<String>,
    last_time: Option<String>,
    last: Option<(u64, Hash)>,
    by_kind: BTreeMap<String, u64>,
    criteria: Vec<(CriterionScan, ControlFile)>,
    /// The policy versions the events cite (for the `policies` check).
    cited: crate::policies::CitedVersions,
    /// The UTC days (`YYYY-MM-DD`) that have at least one event (for Type II coverage).
    days: BTreeSet<String>,
    /// How many columns the bundle's evidence rows have (its format's).
    columns: usize,
}

fn scan_events(dir: &Path, i: &Integrity, m: &Manifest, context: &[Event]) -> Result<Scanned, Fail> {
    let (from_time, to_time) = (m.period.from_time.as_str(), m.period.to_time.as_str());
    let mut expected_seq = i.first_seq;
    let mut prev = hex_hash(&i.prev_of_first, "integrity.json", "prev_of_first")?;
    let mut criteria = Vec::new();
    for id in m.counts.criteria.ids() {
        let file: ControlFile = bundle::read_stream(dir, &bundle::control_json(id))?;
        criteria.push((
            CriterionScan {
                id: id.to_string(),
                queries: file.queries.clone(),
                count: 0,
                rows: Sha256::new(),
            },
            file,
        ));
    }
    let f = std::fs::File::open(dir.join("events.jsonl"))
        .map_err(|e| format!("events.jsonl: cannot read: {e}"))?;
    let mut reader = BufReader::new(f);
    let mut s = Scanned {
        count: 0,
        first_seq: None,
        first_time: None,
        last_time: None,
        last: None,
        by_kind: BTreeMap::new(),
        criteria: Vec::new(),
        cited: crate::policies::CitedVersions::new(),
        days: BTreeSet::new(),
        columns: if m.format().has_statements() { CSV_HEADER.len() } else { LEGACY_COLUMNS },
    };
    let mut names = crate::analysis::Names::default();
    for event in context {
        names.learn(event);
    }
    let mut line = Vec::new();
    let mut n = 0u64;
    loop {
        line.clear();
        let read =
            reader.read_until(b'\n', &mut line).map_err(|e| format!("events.jsonl: cannot read: {e}"))?;
        if read == 0 {
            break;
        }
        n += 1;
        let Some(bytes) = line.strip_suffix(b"\n") else {
            return Err(format!("events.jsonl line {n}: does not end with a newline"));
        };
        // check_bytes accepts exactly the canonical bytes of a well-formed event (what
        // Event::from_bytes accepts) without re-serializing; then a plain parse for the fields.
        Event::check_bytes(bytes).map_err(|e| format!("events.jsonl line {n}: {e}"))?;
        let event: Event = serde_json::from_slice(bytes)
            .map_err(|e| format!("events.jsonl line {n}: invalid event: {e}"))?;
        let at = format!("events.jsonl line {n} (seq {})", event.seq);
        let want =
            expected_seq.ok_or_else(|| format!("{at}: integrity.json says the period has no events"))?;
        if event.seq != want {
            return Err(format!("{at}: expected seq {want} (events missing, reordered or duplicated)"));
        }
        if event.prev_hash().map_err(|e| format!("{at}: {e}"))? != prev {
            return Err(format!(
                "{at}: prev does not match the leaf hash of {} (the chain is broken)",
                if s.count == 0 {
                    "the event before the period (integrity.json prev_of_first)".to_string()
                } else {
                    format!("seq {}", want - 1)
                }
            ));
        }
        if event.time.as_str() < from_time || event.time.as_str() >= to_time {
            return Err(format!("{at}: time {} is outside the period [{from_time}, {to_time})", event.time));
        }
        if s.last_time.as_ref().is_some_and(|t| t.as_str() > event.time.as_str()) {
            return Err(format!("{at}: time {} is earlier than the event before it", event.time));
        }
        let leaf = leaf_hash(bytes);
        let leaf_hex = to_hex(&leaf);
        names.learn(&event);
        let mut row = None;
        for (c, _) in criteria.iter_mut() {
            if c.queries.iter().any(|q| q.matches(&event.kind, &event.data)) {
                c.count += 1;
                // The exporter's own row function: every column (actor, subject, outcome,
                // detail, the names too) must be what the events say.
                let fields = row.get_or_insert_with(|| names.row(&event, &leaf_hex).fields());
                row_digest(&mut c.rows, &fields[..s.columns]);
            }
        }
        *s.by_kind.entry(event.kind.clone()).or_default() += 1;
        crate::policies::collect(&event, &mut s.cited);
        if let Some(day) = event.time.get(..10) {
            if !s.days.contains(day) {
                s.days.insert(day.to_string());
            }
        }
        if s.first_time.is_none() {
            s.first_time = Some(event.time.clone());
            s.first_seq = Some(event.seq);
        }
        s.count += 1;
        s.last = Some((event.seq, leaf));
        s.last_time = Some(event.time);
        prev = leaf;
        expected_seq = Some(want + 1);
    }
    s.criteria = criteria;
    Ok(s)
}

/// context.jsonl (bundle format `gavel-evidence/5` on): see [`crate::context::check`].
fn check_context(
    dir: &Path,
    i: &Integrity,
    m: &Manifest,
    cp: &Checkpoint,
) -> Result<(Vec<Event>, String), Fail> {
    if !m.format().has_context() {
        if !i.context_proofs.is_empty() {
            return Err(format!(
                "integrity.json: context_proofs in a bundle of format {}, which has no context.jsonl",
                m.bundle_format
            ));
        }
        return Ok((
            Vec::new(),
            format!(
                "none in bundle format {}: names and the inventory come from the period's events alone",
                m.bundle_format
            ),
        ));
    }
    let events = crate::context::check(dir, i, &m.period.from_time, cp.size, &cp.root)?;
    let detail = format!(
        "{} identity event(s) before the period, each canonical and a leaf of the signed tree; rows' names and \
         the inventory start from them (which earlier events were chosen is the exporter's attestation)",
        events.len()
    );
    Ok((events, detail))
}

fn check_inclusion(s: &Scanned, cp: &Checkpoint, i: &Integrity) -> Result<String, Fail> {
    let Some((seq, leaf)) = s.last else {
        return match i.inclusion_proof {
            None => Ok("the period has no events: nothing to include".into()),
            Some(_) => Err("integrity.json: an inclusion proof for a period without events".into()),
        };
    };
    let p = i.inclusion_proof.as_ref().ok_or("integrity.json: inclusion_proof is missing")?;
    let f = "integrity.json inclusion_proof";
    if p.seq != seq {
        return Err(format!("{f}: is for seq {}, but the last event is seq {seq}", p.seq));
    }
    if hex_hash(&p.leaf_hash, f, "leaf_hash")? != leaf {
        return Err(format!("{f}: leaf_hash is not the leaf hash of the last event (seq {seq})"));
    }
    if p.tree_size != cp.size {
        return Err(format!("{f}: tree_size is not the checkpoint's size {}", cp.size));
    }
    let proof = hashes(&p.hashes).ok_or_else(|| format!("{f}: hashes must be 64-hex-digit strings"))?;
    verify_inclusion(&leaf, seq, cp.size, &proof, &cp.root)
        .map_err(|e| format!("{f}: seq {seq} is not in the signed checkpoint's tree: {e}"))?;
    Ok(format!(
        "seq {seq} is leaf {seq} of the signed tree of size {}, so the whole chained period is in it",
        cp.size
    ))
}

/// A proof's hex hashes, or `None` when one is not a hash.
fn hashes(hex: &[String]) -> Option<Vec<Hash>> {
    hex.iter().map(|h| from_hex(h)).collect()
}

fn check_consistency(
    dir: &Path,
    s: &Scanned,
    i: &Integrity,
    m: &Manifest,
    summary: &Result<Summary, Fail>,
) -> Result<String, Fail> {
    let fi = "integrity.json";
    if !i.hash_chain_verified {
        return Err(format!("{fi}: hash_chain_verified is not true: the log did not verify when exported"));
    }
    if i.total_events != s.count {
        return Err(format!("{fi}: total_events is {}, events.jsonl has {}", i.total_events, s.count));
    }
    if i.first_seq != s.first_seq || i.last_seq != s.last.map(|l| l.0) {
        return Err(format!("{fi}: first_seq/last_seq do not match events.jsonl"));
    }
    if i.first_event_time != s.first_time || i.last_event_time != s.last_time {
        return Err(format!("{fi}: first_event_time/last_event_time do not match events.jsonl"));
    }
    let fm = "manifest.json";
    if m.counts.events != s.count {
        return Err(format!("{fm}: counts.events does not match the {} line(s) of events.jsonl", s.count));
    }
    if m.counts.events_by_kind != s.by_kind {
        return Err(format!("{fm}: counts.events_by_kind does not match events.jsonl"));
    }
    let summary = summary.as_ref().map_err(Clone::clone)?;
    let summary_counts: BTreeMap<&str, u64> =
        summary.criteria.iter().map(|c| (c.id.as_str(), c.evidence_count)).collect();
    for (c, file) in &s.criteria {
        let fj = bundle::control_json(&c.id);
        let expected = c.rows.clone().finalize();
        if file.criterion != c.id {
            return Err(format!("{fj}: is for criterion {:?}", file.criterion));
        }
        if m.counts.criteria.get(&c.id) != Some(c.count) {
            return Err(format!(
                "{fm}: counts.criteria.{} is not the {} evidence event(s) events.jsonl gives",
                c.id, c.count
            ));
        }
        if summary_counts.get(c.id.as_str()) != Some(&c.count) {
            return Err(format!("summary.json: evidence_count of {} is not {}", c.id, c.count));
        }
        if file.evidence_count != c.count || file.events.count != c.count {
            return Err(format!(
                "{fj}: evidence_count {} / {} row(s), but its queries select {} event(s) of events.jsonl",
                file.evidence_count, file.events.count, c.count
            ));
        }
        let stated = if s.columns == LEGACY_COLUMNS { file.events.legacy } else { file.events.digest };
        if stated[..] != expected[..] {
            return Err(format!(
                "{fj}: its evidence rows differ from the events its queries select in events.jsonl \
                 (every field is compared: seq, time, kind, actor, subject, outcome, detail, leaf_hash, \
                 actor_name, agent_id, agent_name, tool, decision_id, policies)"
            ));
        }
        let fc = format!("controls/{}.csv", c.id);
        let mut rdr = csv::Reader::from_path(dir.join(&fc)).map_err(|e| format!("{fc}: cannot read: {e}"))?;
        let header = rdr.headers().map_err(|e| format!("{fc}: {e}"))?.clone();
        let columns = &CSV_HEADER[..s.columns];
        if header.iter().ne(columns.iter().copied()) {
            return Err(format!("{fc}: header is not {}", columns.join(",")));
        }
        let mut h = Sha256::new();
        let mut rows = 0u64;
        for (k, rec) in rdr.records().enumerate() {
            let rec = rec.map_err(|e| format!("{fc}: {e}"))?;
            rec.get(0)
                .and_then(|v| v.parse::<u64>().ok())
                .ok_or_else(|| format!("{fc} row {}: bad seq", k + 1))?;
            if rec.len() != columns.len() {
                return Err(format!("{fc} row {}: {} fields, not {}", k + 1, rec.len(), columns.len()));
            }
            row_digest(&mut h, &rec.iter().collect::<Vec<_>>());
            rows += 1;
        }
        if rows != c.count || h.finalize() != expected {
            return Err(format!(
                "{fc}: its {rows} row(s) differ from the {} event(s) its criterion selects in events.jsonl \
                 (every field is compared: seq, time, kind, actor, subject, outcome, detail, leaf_hash, \
                 actor_name, agent_id, agent_name, tool, decision_id, policies)",
                c.count
            ));
        }
    }
    // OSCAL is NIST's format, not one of the bundle's types: only the findings' states are read
    // here (the `claims` check regenerates the whole document and compares it).
    let oscal = read_oscal(dir)?;
    let states: BTreeMap<String, String> = oscal
        .pointer("/assessment-results/results/0/findings")
        .and_then(Value::as_array)
        .ok_or("oscal/assessment-results.json: results[0].findings is missing")?
        .iter()
        .filter_map(|f| {
            let t = f.get("target")?;
            Some((
                t.get("target-id")?.as_str()?.to_string(),
                t.pointer("/status/state")?.as_str()?.to_string(),
            ))
        })
        .collect();
    for (c, file) in &s.criteria {
        let target = format!("{}_obj", c.id.to_ascii_lowercase());
        if states.get(&target) != Some(&file.status) {
            return Err(format!(
                "oscal/assessment-results.json: the finding for {} is {:?}, controls/{}.json says {:?}",
                c.id,
                states.get(&target),
                c.id,
                file.status
            ));
        }
    }
    for gap in &m.disclosed_gaps {
        let id = gap.id.as_str();
        let target = format!("{}_obj", id.to_ascii_lowercase());
        if states.get(&target).map(String::as_str) != Some("not-satisfied") {
            return Err(format!(
                "oscal/assessment-results.json: the finding for {id} is {:?}, but {id} is a disclosed gap (not-satisfied)",
                states.get(&target)
            ));
        }
    }
    Ok(format!(
        "manifest, integrity, summary, OSCAL findings and {} criteria (JSON and CSV rows) agree with events.jsonl",
        s.criteria.len()
    ))
}

fn check_previous(
    prev_dir: &Path,
    cp: &Checkpoint,
    i: &Integrity,
    opts: &VerifyOptions,
) -> Result<String, Fail> {
    let log_key = i.log_key.as_str();
    let prev_opts = VerifyOptions {
        log_key: Some(log_key.to_string()),
        framework: opts.framework.clone(),
        ..Default::default()
    };
    let report = verify_bundle(prev_dir, &prev_opts);
    if let Some(f) = report.first_failure() {
        return Err(format!("previous bundle {}: {} check failed: {}", prev_dir.display(), f.name, f.detail));
    }
    let pi: Integrity =
        bundle::read(prev_dir, bundle::INTEGRITY).map_err(|e| format!("previous bundle: {e}"))?;
    let verifier = NoteVerifier::from_verifier_key(log_key).map_err(|e| e.to_string())?;
    let old = verifier
        .verify(&pi.checkpoint)
        .map_err(|e| format!("previous bundle: its checkpoint does not verify under this log key: {e}"))?;
    if old.size > cp.size {
        return Err(format!(
            "previous bundle's checkpoint (tree size {}) is newer than this one ({}): swap the bundles",
            old.size, cp.size
        ));
    }
    if old.size == cp.size {
        return if old.root == cp.root {
            Ok(format!("both bundles are signed at the same tree size {} with the same root", cp.size))
        } else {
            Err(format!("two different signed roots for tree size {}: the log was rewritten", cp.size))
        };
    }
    let proof = i.consistency_proofs.iter().find(|p| p.old_size == old.size).ok_or_else(|| {
        format!(
            "integrity.json carries no consistency proof from the previous bundle's tree size {} \
             (was the previous export recorded in this log?)",
            old.size
        )
    })?;
    let hashes = hashes(&proof.hashes)
        .ok_or("integrity.json consistency proof: hashes must be 64-hex-digit strings")?;
    verify_consistency(old.size, cp.size, &old.root, &cp.root, &hashes).map_err(|e| {
        format!(
            "the previous bundle's tree (size {}) is not a prefix of this one (size {}): {e}",
            old.size, cp.size
        )
    })?;
    Ok(format!(
        "previous bundle verifies, and its signed tree (size {}) is a prefix of this one (size {})",
        old.size, cp.size
    ))
}
