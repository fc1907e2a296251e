//! End-to-end tests of evidence bundles: export from a real SQLite log, verify, tamper with
//! every file class and expect a precise failure, verify with sha256sum + openssl alone,
//! validate the OSCAL document with compliance-trestle, and read report.pdf's text with pypdf.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is the test failing

use ed25519_dalek::{Signer as _, SigningKey};
use gavel_evidence::analysis::Row;
use gavel_evidence::bundle::{self, ControlEvidence, ControlHeader, Integrity, Manifest, PolicyIndex};
use gavel_evidence::export::parse_date;
use gavel_evidence::{
    export, verify_bundle, ExportRequest, ExportSummary, Framework, VerifyOptions, VerifyReport,
};
use gavel_ledger::clock::ManualClock;
use gavel_ledger::event::{Actor, EventDraft};
use gavel_ledger::keys::{generate_signing_key, public_key_pem};
use gavel_store::layout::DataDir;
use gavel_store::Log;
use serde_json::{json, Value};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use time::macros::datetime;
use time::Duration;

struct Fixture {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    log: Log,
    clock: Arc<ManualClock>,
    key: SigningKey,
}

fn ev(log: &Log, kind: &str, actor: Actor, data: Value) {
    log.append(EventDraft::new(kind, actor, data).expect("draft")).expect("append");
}

/// A log with `days` days of activity from 2026-01-01: agents, decisions, a policy change, a
/// deactivation followed by a denial, webhooks, a detection, an incident and a kill switch.
fn fixture(days: i64) -> Fixture {
    fixture_with(days, None)
}

/// [`fixture`], with the log key and the export key derived from `seed` when one is given, so
/// that its bundles are the same bytes on every run (the clock is already fixed).
fn fixture_with(days: i64, seed: Option<u8>) -> Fixture {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().to_path_buf();
    let clock = Arc::new(ManualClock::new(datetime!(2025-12-31 12:00 UTC)));
    let data = DataDir::new(root.join("data"));
    if let Some(seed) = seed {
        use ed25519_dalek::pkcs8::{spki::der::pem::LineEnding, EncodePrivateKey as _};
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let pem = SigningKey::from_bytes(&[seed; 32]).to_pkcs8_pem(LineEnding::LF).expect("pem");
        let path = data.log_key();
        fs::create_dir_all(path.parent().expect("keys dir")).expect("mkdir");
        let mut file =
            fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path).expect("key");
        file.write_all(pem.as_bytes()).expect("write key");
    }
    let (log, _) = Log::open(&data, clock.clone(), Some("acme")).expect("open");
    let admin = || Actor::user("usr_admin");
    ev(
        &log,
        "user.created",
        Actor::system("bootstrap"),
        json!({"user_id": "usr_admin", "name": "admin", "role": "admin"}),
    );
    clock.set(datetime!(2026-01-01 08:00 UTC));
    ev(
        &log,
        "agent.registered",
        admin(),
        json!({"agent_id": "agt_1", "name": "billing-bot", "owner": "alice"}),
    );
    ev(&log, "agent.registered", admin(), json!({"agent_id": "agt_2", "name": "mailer", "owner": "bob"}));
    ev(
        &log,
        "policy.proposed",
        admin(),
        json!({"change_id": "chg_1", "set_id": "base", "version": 1, "author": "usr_admin", "author_name": "admin"}),
    );
    ev(
        &log,
        "policy.activated",
        Actor::user("usr_sec"),
        json!({"change_id": "chg_1", "set_id": "base", "version": 1, "proposed_by": "usr_admin", "approved_by": "usr_sec", "approved_by_name": "sec", "mode": "enforce"}),
    );
    ev(&log, "webhook.created", admin(), json!({"id": "whk_1", "url": "https://siem.example.com/x"}));
    for day in 0..days {
        clock.set(datetime!(2026-01-01 10:00 UTC) + Duration::days(day));
        for (agent, name, outcome, tool, cat) in [
            ("agt_1", "billing-bot", "allow", "refund", "payments"),
            ("agt_1", "billing-bot", "deny", "wire", "payments"),
            ("agt_2", "mailer", "require_approval", "send_email", "external_comm"),
        ] {
            ev(
                &log,
                "decision",
                Actor::agent(agent),
                json!({"decision_id": format!("dec_{day}_{tool}"), "agent_id": agent, "agent_name": name,
                "agent_status": "active", "tool": tool, "tool_category": cat, "decision": outcome}),
            );
        }
        ev(
            &log,
            "webhook.attempts",
            Actor::system("webhooks"),
            json!({"endpoint_id": "whk_1", "attempts": [{"seq": 1, "outcome": "delivered", "status_code": 200}]}),
        );
    }
    clock.set(datetime!(2026-01-01 12:00 UTC) + Duration::days(days - 1));
    ev(
        &log,
        "detection.raised",
        Actor::system("detectors"),
        json!({"detection_id": "det_1", "detector": "deny_burst", "agent_id": "agt_1"}),
    );
    ev(
        &log,
        "incident.opened",
        admin(),
        json!({"incident_id": "inc_1", "title": "deny burst", "severity": "high"}),
    );
    ev(
        &log,
        "killswitch.engaged",
        admin(),
        json!({"scope": "agent:agt_1", "reason": "deny burst", "incident_id": "inc_1"}),
    );
    ev(
        &log,
        "agent.deactivated",
        admin(),
        json!({"agent_id": "agt_1", "name": "billing-bot", "reason": "compromised"}),
    );
    ev(
        &log,
        "decision",
        Actor::agent("agt_1"),
        json!({"decision_id": "dec_late", "agent_id": "agt_1", "agent_name": "billing-bot",
        "agent_status": "deactivated", "tool": "refund", "tool_category": "payments", "decision": "deny"}),
    );
    ev(&log, "incident.resolved", admin(), json!({"incident_id": "inc_1", "resolution": "agent retired"}));
    // After the period: must not be exported.
    clock.set(datetime!(2026-01-01 09:00 UTC) + Duration::days(days + 3));
    ev(
        &log,
        "decision",
        Actor::agent("agt_2"),
        json!({"agent_id": "agt_2", "decision": "allow", "tool": "x"}),
    );
    let key = seed.map_or_else(generate_signing_key, |s| SigningKey::from_bytes(&[s.wrapping_add(1); 32]));
    Fixture { _tmp: tmp, root, log, clock, key }
}

fn do_export(f: &Fixture, fw: &Framework, from: &str, to: &str, out: &str) -> ExportSummary {
    let req = ExportRequest {
        store: f.log.store().as_ref(),
        checkpoint: &f.log.checkpoint().expect("checkpoint"),
        log_origin: f.log.origin(),
        log_key: &f.log.signer().verifier_key(),
        export_key: &f.key,
        framework: fw,
        from: parse_date(from).expect("date"),
        to: parse_date(to).expect("date"),
        org: "acme".into(),
        out: f.root.join(out),
        retention_days: 365,
        simulated: true,
        generated_at: datetime!(2026-06-01 00:00 UTC),
        progress: None,
    };
    let s = export(&req).expect("export");
    // The caller records the export (in gavel, core does), so the next one proves consistency.
    let body = serde_json::to_value(gavel_evidence::export::exported_record(&req, &s)).expect("record");
    let draft = EventDraft::new(gavel_evidence::export::EXPORTED_KIND, Actor::system("test"), body.clone())
        .expect("draft");
    let op = gavel_store::docs::StateOp::put(
        gavel_evidence::export::EXPORTS_COLLECTION,
        &s.export_id,
        body,
        gavel_store::docs::DocKeys::default(),
        gavel_store::docs::Expect::Absent,
    );
    f.log.store().append_with(draft, vec![op]).expect("record");
    s
}

fn verify(dir: &Path) -> VerifyReport {
    verify_bundle(dir, &VerifyOptions::default())
}

/// Asserts the report fails at `check` with a detail containing every `needles`.
fn assert_fails(report: &VerifyReport, check: &str, needles: &[&str]) {
    assert!(!report.valid, "tampered bundle verified: {report:#?}");
    let failed = report.first_failure().expect("a failed check");
    assert_eq!(failed.name, check, "{report:#?}");
    for n in needles {
        assert!(failed.detail.contains(n), "detail {:?} lacks {n:?}", failed.detail);
    }
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("mkdir");
    for e in fs::read_dir(from).expect("read_dir") {
        let e = e.expect("entry");
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            fs::copy(&p, to.join(e.file_name())).expect("copy");
        }
    }
}

/// Rewrites SHA256SUMS over the current files and signs it with `key` (a forger's key), also
/// replacing signing-key.pem.
fn reseal(dir: &Path, key: &SigningKey) {
    fs::write(dir.join("signing-key.pem"), public_key_pem(&key.verifying_key())).expect("pem");
    let mut files = Vec::new();
    gavel_evidence::export::list_files(dir, dir, &mut files).expect("list");
    files.sort();
    let listed: Vec<(String, String)> = files
        .into_iter()
        .map(|p| {
            let h = gavel_evidence::sums::hash_file(&dir.join(&p)).expect("hash");
            (p, h)
        })
        .collect();
    let text = gavel_evidence::sums::format(&listed);
    fs::write(dir.join("SHA256SUMS"), &text).expect("sums");
    fs::write(dir.join("SHA256SUMS.sig"), key.sign(text.as_bytes()).to_bytes()).expect("sig");
}

#[test]
fn export_writes_the_whole_bundle_and_it_verifies() {
    let f = fixture(5);
    let fw = Framework::soc2().expect("soc2");
    let s = do_export(&f, &fw, "2026-01-01", "2026-01-06", "bundle");
    let dir = f.root.join("bundle");
    let report = verify(&dir);
    assert!(report.valid, "{report:#?}");
    let names: Vec<&str> = report.checks.iter().map(|c| c.name).collect();
    assert_eq!(
        names,
        [
            "files",
            "signature",
            "checkpoint",
            "events",
            "inclusion",
            "context",
            "consistency",
            "statements",
            "claims",
            "policies"
        ]
    );

    // 6 setup events on day 1 after the bootstrap user (which is on 2025-12-31, outside), 4 per
    // day, 6 at the end; the event after the period is left out.
    assert_eq!(s.total_events, 5 + 5 * 4 + 6);
    assert_eq!(s.first_seq, Some(1));
    assert!(s.hash_chain_verified);
    for name in [
        "README.txt",
        "SHA256SUMS",
        "SHA256SUMS.sig",
        "signing-key.pem",
        "manifest.json",
        "summary.json",
        "events.jsonl",
        "integrity.json",
        "oscal/assessment-results.json",
        "report.pdf",
    ] {
        assert!(dir.join(name).is_file(), "{name}");
    }
    for c in ["CC6.1", "CC6.2", "CC6.3", "CC6.6", "CC6.7", "CC7.2", "CC7.3", "CC7.4", "CC8.1"] {
        assert!(dir.join(format!("controls/{c}.json")).is_file(), "{c}");
        assert!(dir.join(format!("controls/{c}.csv")).is_file(), "{c}");
    }
    let entries: Vec<String> = fs::read_dir(dir.join("controls"))
        .expect("ls")
        .map(|e| e.expect("e").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(entries.len(), 18, "no temporary row files left: {entries:?}");

    let sums = fs::read_to_string(dir.join("SHA256SUMS")).expect("sums");
    let paths: Vec<&str> = sums.lines().map(|l| l.split_once("  ").expect("two spaces").1).collect();
    let mut sorted = paths.clone();
    sorted.sort();
    assert_eq!(paths, sorted);
    assert!(!paths.contains(&"SHA256SUMS") && !paths.contains(&"SHA256SUMS.sig"));
    assert_eq!(fs::read(dir.join("SHA256SUMS.sig")).expect("sig").len(), 64);

    let manifest: Manifest = bundle::read(&dir, bundle::MANIFEST).expect("manifest");
    assert_eq!(manifest.framework.id, "soc2");
    assert_eq!(manifest.org, "acme");
    assert_eq!(manifest.log_origin, "gavel.local/acme");
    assert!(manifest.simulated);
    assert_eq!(manifest.retention.days, 365);
    assert!(!manifest.type_ii.type_ii);
    assert_eq!(manifest.type_ii.observation_days, 5);
    assert!(manifest.type_ii.coverage_gaps.is_empty());
    assert!(manifest.disclosed_gaps.iter().any(|g| g.id == "CC6.4"));

    // The analysis details are JSON whose shape is each criterion's analysis kind's.
    let control =
        |id: &str| -> ControlHeader { bundle::read_stream(&dir, &bundle::control_json(id)).expect(id) };
    let cc61 = control("CC6.1");
    assert_eq!(cc61.analysis["decisions_by_outcome"], json!({"allow": 5, "deny": 6, "require_approval": 5}));
    assert_eq!(cc61.analysis["denied_attempts"], 6);
    let rows: ControlEvidence<Vec<Row>> =
        bundle::read_stream(&dir, &bundle::control_json("CC6.1")).expect("CC6.1 rows");
    assert_eq!(rows.evidence_count, rows.events.len() as u64);
    let cc63 = control("CC6.3");
    assert_eq!(cc63.status, "satisfied", "{cc63:#?}");
    assert_eq!(cc63.analysis["agents"][0]["calls_afterwards"], json!({"deny": 1}));
    let cc73 = control("CC7.3");
    assert_eq!(cc73.analysis["incidents"][0]["timeline"].as_array().map(Vec::len), Some(2));
    let cc81 = control("CC8.1");
    assert_eq!(cc81.analysis["history"][1]["approver"], "sec");
    assert_eq!(cc81.analysis["history"][1]["author"], "usr_admin");
    let cc72 = control("CC7.2");
    assert_eq!(cc72.analysis["chain_verification"]["verified"], true);
    assert_eq!(cc72.analysis["delivery_attempts"]["delivered"], 5);
    let csv = fs::read_to_string(dir.join("controls/CC6.1.csv")).expect("csv");
    assert!(
        csv.starts_with(
            "seq,time,kind,actor,subject,outcome,detail,leaf_hash,actor_name,agent_id,agent_name,tool,decision_id,policies\n"
        ),
        "{csv}"
    );
    // Names beside ids, the tool and the decision id; the actor named by an event of the period.
    assert!(csv.contains(",decision,agent:agt_1,billing-bot,allow,tool=refund category=payments,"), "{csv}");
    assert!(csv.contains(",billing-bot,agt_1,billing-bot,refund,dec_0_refund,"), "{csv}");
    let cc81_csv = fs::read_to_string(dir.join("controls/CC8.1.csv")).expect("csv");
    assert!(
        cc81_csv.contains(",policy.activated,user:usr_sec,base,") && cc81_csv.ends_with(",base@v1\n"),
        "{cc81_csv}"
    );

    // events.jsonl: exactly the log's bytes for the period.
    let lines = fs::read_to_string(dir.join("events.jsonl")).expect("events");
    assert_eq!(lines.lines().count() as u64, s.total_events);

    // The export was recorded in the log.
    let head = f.log.store().head().expect("head");
    let last = f.log.store().entry(head.size - 1).expect("entry").expect("some");
    assert!(String::from_utf8_lossy(last.bytes.as_deref().unwrap_or_default()).contains("evidence.exported"));

    // An existing non-empty output directory is refused.
    let req_again = ExportRequest {
        store: f.log.store().as_ref(),
        checkpoint: &f.log.checkpoint().expect("checkpoint"),
        log_origin: f.log.origin(),
        log_key: &f.log.signer().verifier_key(),
        export_key: &f.key,
        framework: &fw,
        from: parse_date("2026-01-01").expect("d"),
        to: parse_date("2026-01-06").expect("d"),
        org: "acme".into(),
        out: dir.clone(),
        retention_days: 365,
        simulated: false,
        generated_at: datetime!(2026-06-01 00:00 UTC),
        progress: None,
    };
    assert!(export(&req_again).is_err());
}

/// Rewrites a text file line by line (the file keeps its trailing newline).
fn edit_lines(path: &Path, edit: impl FnOnce(&mut Vec<String>)) {
    let mut lines: Vec<String> =
        fs::read_to_string(path).expect("read").lines().map(str::to_string).collect();
    edit(&mut lines);
    fs::write(path, format!("{}\n", lines.join("\n"))).expect("write");
}

/// Rewrites a JSON file through a `Value`.
fn edit_json(path: &Path, edit: impl FnOnce(&mut Value)) {
    let mut v: Value = serde_json::from_str(&fs::read_to_string(path).expect("read")).expect("json");
    edit(&mut v);
    fs::write(path, serde_json::to_string_pretty(&v).expect("json")).expect("write");
}

/// Replaces the first `n` occurrences of `from` in a text file (all when `n` is 0).
fn replace_in(path: &Path, from: &str, to: &str, n: usize) {
    let t = fs::read_to_string(path).expect("read");
    let t = if n == 0 { t.replace(from, to) } else { t.replacen(from, to, n) };
    fs::write(path, t).expect("write");
}

#[test]
fn tampering_fails_precisely() {
    let f = fixture(3);
    let fw = Framework::soc2().expect("soc2");
    do_export(&f, &fw, "2026-01-01", "2026-01-04", "good");
    let good = f.root.join("good");
    assert!(verify(&good).valid);
    let forger = generate_signing_key();

    let mut n = 0;
    let mut case = |what: &str, tamper: &dyn Fn(&Path), check: &str, needles: &[&str]| {
        n += 1;
        let dir = f.root.join(format!("tampered-{n}"));
        copy_dir(&good, &dir);
        tamper(&dir);
        let report = verify(&dir);
        eprintln!("{what}: {:?}", report.first_failure());
        assert_fails(&report, check, needles);
    };

    case(
        "edit a control file",
        &|d| replace_in(&d.join("controls/CC6.1.csv"), "deny", "allow", 0),
        "files",
        &["controls/CC6.1.csv", "does not match SHA256SUMS line"],
    );
    case(
        "delete a file",
        &|d| fs::remove_file(d.join("summary.json")).expect("rm"),
        "files",
        &["summary.json", "missing"],
    );
    case(
        "edit report.pdf",
        &|d| {
            let p = d.join("report.pdf");
            let mut b = fs::read(&p).expect("r");
            let at = b.len() / 2;
            b[at] ^= 0x20;
            fs::write(p, b).expect("w");
        },
        "files",
        &["report.pdf", "does not match SHA256SUMS line"],
    );
    case(
        "delete report.pdf",
        &|d| fs::remove_file(d.join("report.pdf")).expect("rm"),
        "files",
        &["report.pdf", "listed in SHA256SUMS line", "missing"],
    );
    case(
        "drop report.pdf and its line (resealed by a forger)",
        &|d| {
            fs::remove_file(d.join("report.pdf")).expect("rm");
            reseal(d, &forger);
        },
        "files",
        &["report.pdf", "required bundle file", "gavel-evidence/5"],
    );
    case(
        "replace report.pdf with text (resealed by a forger)",
        &|d| {
            fs::write(d.join("report.pdf"), "all controls passed").expect("w");
            reseal(d, &forger);
        },
        "files",
        &["report.pdf", "not a PDF"],
    );
    case(
        "add a file",
        &|d| fs::write(d.join("controls/extra.csv"), "x").expect("w"),
        "files",
        &["controls/extra.csv", "not listed"],
    );
    case(
        "reorder events (sums rehashed, resigned by a forger)",
        &|d| {
            edit_lines(&d.join("events.jsonl"), |lines| lines.swap(2, 3));
            reseal(d, &forger);
        },
        "events",
        &["events.jsonl line 3", "expected seq 3"],
    );
    case(
        "reorder events (sums untouched)",
        &|d| edit_lines(&d.join("events.jsonl"), |lines| lines.swap(2, 3)),
        "files",
        &["events.jsonl", "does not match SHA256SUMS"],
    );
    case(
        "swap the signature",
        &|d| fs::write(d.join("SHA256SUMS.sig"), forger.sign(b"something else").to_bytes()).expect("w"),
        "signature",
        &["SHA256SUMS.sig is not a valid Ed25519 signature of SHA256SUMS by signing-key.pem"],
    );
    case(
        "truncate the signature",
        &|d| fs::write(d.join("SHA256SUMS.sig"), [0u8; 10]).expect("w"),
        "signature",
        &["SHA256SUMS.sig has 10 bytes"],
    );
    case(
        "swap the key (signing-key.pem listed, so rehash the sums but keep the old signature)",
        &|d| {
            fs::write(d.join("signing-key.pem"), public_key_pem(&forger.verifying_key())).expect("w");
            let sig = fs::read(d.join("SHA256SUMS.sig")).expect("sig");
            reseal(d, &forger);
            fs::write(d.join("SHA256SUMS.sig"), sig).expect("w");
        },
        "signature",
        &["not a valid Ed25519 signature"],
    );
    case(
        "edit an event, rehash SHA256SUMS and resign with another key",
        &|d| {
            edit_lines(&d.join("events.jsonl"), |lines| {
                // Line 6 is seq 6, the first allowed decision.
                lines[5] = lines[5].replace("\"allow\"", "\"deny\"");
                assert!(lines[5].contains("deny"));
            });
            reseal(d, &forger);
        },
        "events",
        &["events.jsonl line 7 (seq 7)", "prev does not match the leaf hash of seq 6"],
    );
    case(
        "edit the last event (no successor to break the chain)",
        &|d| {
            edit_lines(&d.join("events.jsonl"), |lines| {
                let last = lines.len() - 1;
                lines[last] = lines[last].replace("agent retired", "agent retrained");
            });
            reseal(d, &forger);
        },
        "inclusion",
        &["leaf_hash is not the leaf hash of the last event"],
    );
    case(
        "non-canonical event bytes",
        &|d| {
            edit_lines(&d.join("events.jsonl"), |lines| lines[0] = lines[0].replacen("{", "{ ", 1));
            reseal(d, &forger);
        },
        "events",
        &["events.jsonl line 1", "canonical"],
    );
    case(
        "delete an event",
        &|d| {
            edit_lines(&d.join("events.jsonl"), |lines| {
                lines.remove(5);
            });
            reseal(d, &forger);
        },
        "events",
        &["events.jsonl line 6 (seq 7)", "expected seq 6"],
    );
    case(
        "forge the checkpoint",
        &|d| {
            edit_json(&d.join("integrity.json"), |i| {
                let note = i["checkpoint"].as_str().expect("note").to_string();
                let mut lines: Vec<&str> = note.lines().collect();
                let size_plus = format!("{}", lines[1].parse::<u64>().expect("size") + 1);
                lines[1] = &size_plus;
                i["checkpoint"] = json!(format!("{}\n", lines.join("\n")));
            });
            reseal(d, &forger);
        },
        "checkpoint",
        &["integrity.json: the checkpoint does not verify under log_key"],
    );
    case(
        "change a count in the manifest",
        &|d| {
            edit_json(&d.join("manifest.json"), |m| m["counts"]["criteria"]["CC6.1"] = json!(1));
            reseal(d, &forger);
        },
        "consistency",
        &["manifest.json: counts.criteria.CC6.1"],
    );
    case(
        "drop an evidence row from a control's CSV",
        &|d| {
            edit_lines(&d.join("controls/CC6.1.csv"), |lines| {
                lines.remove(2);
            });
            reseal(d, &forger);
        },
        "consistency",
        &["controls/CC6.1.csv", "differ from the"],
    );
    case(
        "change an evidence row in a control's JSON",
        &|d| {
            edit_json(&d.join("controls/CC6.1.json"), |c| {
                c["events"][0]["leaf_hash"] = json!("0".repeat(64))
            });
            reseal(d, &forger);
        },
        "consistency",
        &["controls/CC6.1.json", "evidence rows differ"],
    );
    case(
        "flip an OSCAL finding to satisfied",
        &|d| {
            replace_in(&d.join("oscal/assessment-results.json"), "\"not-satisfied\"", "\"satisfied\"", 1);
            reseal(d, &forger);
        },
        "consistency",
        &["oscal/assessment-results.json: the finding for"],
    );
    case(
        "mangle SHA256SUMS",
        &|d| replace_in(&d.join("SHA256SUMS"), "  ", " ", 1),
        "files",
        &["SHA256SUMS line 1"],
    );
}

#[test]
fn pinned_keys_catch_a_rewritten_log() {
    // A forger who rewrites events, recomputes the chain, signs a checkpoint with their own "log
    // key" and reseals passes the self-contained checks; pinning the real keys catches it.
    let f = fixture(2);
    let fw = Framework::soc2().expect("soc2");
    do_export(&f, &fw, "2026-01-01", "2026-01-03", "b");
    let dir = f.root.join("b");
    let pinned = VerifyOptions {
        log_key: Some(f.log.signer().verifier_key()),
        signing_key_pem: Some(public_key_pem(&f.key.verifying_key())),
        ..Default::default()
    };
    assert!(verify_bundle(&dir, &pinned).valid);
    let forger = generate_signing_key();
    let fake_log = gavel_ledger::checkpoint::NoteSigner::new("gavel.local/acme", generate_signing_key())
        .expect("signer");
    let mut i: Integrity = bundle::read(&dir, bundle::INTEGRITY).expect("integrity");
    i.log_key = fake_log.verifier_key();
    let root = gavel_ledger::hash::from_hex(&i.checkpoint_root).expect("hex");
    i.checkpoint = fake_log.sign(&gavel_ledger::checkpoint::Checkpoint {
        origin: "gavel.local/acme".into(),
        size: i.checkpoint_size,
        root,
        extensions: vec![],
    });
    bundle::write_pretty(&dir.join(bundle::INTEGRITY), &i).expect("write");
    reseal(&dir, &forger);
    // report.pdf prints the log key, so a forger who does not re-render it is caught by the
    // claims check; one who does (the renderer is public) passes the self-contained checks.
    assert_fails(&verify(&dir), "claims", &["report.pdf", "re-rendered"]);
    let r = verify_bundle(&dir, &pinned);
    assert_fails(&r, "signature", &["signing-key.pem is not the trusted export signing key"]);
    let r = verify_bundle(&dir, &VerifyOptions { signing_key_pem: None, ..pinned });
    assert_fails(&r, "checkpoint", &["is not the trusted log key"]);
}

#[test]
fn previous_bundle_consistency() {
    let f = fixture(4);
    let fw = Framework::soc2().expect("soc2");
    do_export(&f, &fw, "2026-01-01", "2026-01-03", "first");
    f.clock.set(datetime!(2026-02-01 00:00 UTC));
    ev(
        &f.log,
        "decision",
        Actor::agent("agt_2"),
        json!({"agent_id": "agt_2", "decision": "deny", "tool": "y"}),
    );
    do_export(&f, &fw, "2026-01-03", "2026-01-05", "second");
    let (first, second) = (f.root.join("first"), f.root.join("second"));
    let with_prev = |cur: &Path, prev: &Path| {
        verify_bundle(cur, &VerifyOptions { previous: Some(prev.to_path_buf()), ..Default::default() })
    };
    let r = with_prev(&second, &first);
    assert!(r.valid, "{r:#?}");
    assert!(r.check("previous").expect("previous check").detail.contains("is a prefix of this one"));

    let r = with_prev(&first, &second);
    assert_fails(&r, "previous", &["newer than this one"]);

    // A broken previous bundle fails the check, naming what broke in it.
    let broken = f.root.join("broken");
    copy_dir(&first, &broken);
    fs::remove_file(broken.join("manifest.json")).expect("rm");
    let r = with_prev(&second, &broken);
    assert_fails(&r, "previous", &["previous bundle", "files check failed", "manifest.json"]);

    // A third export, not recorded, has no proof from bundles exported after it... and a bundle
    // from another log cannot be a prefix.
    let other = fixture(1);
    do_export(&other, &fw, "2026-01-01", "2026-01-02", "elsewhere");
    let r = with_prev(&second, &other.root.join("elsewhere"));
    assert_fails(&r, "previous", &["previous bundle"]);
}

#[test]
fn type_ii_needs_90_days_without_gaps() {
    let f = fixture(95);
    let fw = Framework::soc2().expect("soc2");
    let s = do_export(&f, &fw, "2026-01-01", "2026-04-01", "q1");
    assert!(s.type_ii.type_ii, "{:?}", s.type_ii);
    assert_eq!(s.type_ii.observation_days, 90);
    assert_eq!(s.type_ii.start_date, "2026-01-01");
    assert_eq!(s.type_ii.end_date, "2026-03-31");
    assert!(s.type_ii.warnings.is_empty());
    assert!(verify(&f.root.join("q1")).valid);

    // A period running past the activity has coverage gaps.
    let s = do_export(&f, &fw, "2026-03-01", "2026-06-10", "late");
    assert!(!s.type_ii.type_ii);
    assert_eq!(s.type_ii.coverage_gaps.first().map(String::as_str), Some("2026-04-06"));
    assert!(s.type_ii.warnings.iter().any(|w| w.contains("coverage gaps")), "{:?}", s.type_ii.warnings);
    let manifest: Manifest = bundle::read(&f.root.join("late"), bundle::MANIFEST).expect("manifest");
    assert!(!manifest.type_ii.type_ii);
    assert!(manifest.warnings.iter().any(|w| w.contains("coverage")));

    // Too short.
    let s = do_export(&f, &fw, "2026-01-01", "2026-02-01", "jan");
    assert!(!s.type_ii.type_ii);
    assert!(s.type_ii.warnings[0].contains("31 day(s)"), "{:?}", s.type_ii.warnings);
}

#[test]
fn a_second_framework_is_just_a_data_file() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../frameworks/hipaa-164.312-sample.toml");
    let fw = Framework::load(path.to_str().expect("utf-8")).expect("hipaa sample");
    assert_eq!(fw.framework.id, "hipaa-164.312-sample");
    let f = fixture(2);
    let s = do_export(&f, &fw, "2026-01-01", "2026-01-03", "hipaa");
    let dir = f.root.join("hipaa");
    let ids: Vec<&str> = s.criteria.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, fw.criteria.iter().map(|c| c.id.as_str()).collect::<Vec<_>>());
    for id in ids {
        assert!(dir.join(format!("controls/{id}.json")).is_file());
    }
    assert!(verify(&dir).valid);
    let manifest: Manifest = bundle::read(&dir, bundle::MANIFEST).expect("manifest");
    assert_eq!(manifest.framework.id, "hipaa-164.312-sample");
    assert!(!manifest.disclosed_gaps.is_empty());
}

#[test]
fn an_empty_period_exports_and_verifies() {
    let f = fixture(1);
    let fw = Framework::soc2().expect("soc2");
    let s = do_export(&f, &fw, "2027-01-01", "2027-01-02", "empty");
    assert_eq!(s.total_events, 0);
    let r = verify(&f.root.join("empty"));
    assert!(r.valid, "{r:#?}");
}

#[test]
fn verifies_with_sha256sum_and_openssl_alone() {
    let f = fixture(2);
    let fw = Framework::soc2().expect("soc2");
    do_export(&f, &fw, "2026-01-01", "2026-01-03", "ext");
    let dir = f.root.join("ext");
    let sums = gavel_testkit::sha256sum_check(&dir);
    assert!(sums.ok, "{}", sums.output);
    let signature = gavel_testkit::openssl_verify(&dir);
    assert!(signature.ok, "{}", signature.output);

    // And both catch tampering.
    let p = dir.join("summary.json");
    let t = fs::read_to_string(&p).expect("r");
    fs::write(&p, t.replacen("CC6.1", "CC6.9", 1)).expect("w");
    let sums = gavel_testkit::sha256sum_check(&dir);
    assert!(!sums.ok && sums.output.contains("summary.json: FAILED"), "{}", sums.output);
    fs::write(dir.join("SHA256SUMS.sig"), generate_signing_key().sign(b"x").to_bytes()).expect("w");
    assert!(!gavel_testkit::openssl_verify(&dir).ok);
}

#[test]
fn oscal_passes_trestle_validate() {
    let f = fixture(2);
    let fw = Framework::soc2().expect("soc2");
    do_export(&f, &fw, "2026-01-01", "2026-01-03", "oscal");
    let r = gavel_testkit::trestle_validate(&f.root.join("oscal/oscal/assessment-results.json"));
    assert!(r.ok, "trestle validate failed: {}", r.output);
}

#[test]
fn archives_are_reproducible_and_extract_to_a_valid_bundle() {
    let f = fixture(1);
    let fw = Framework::soc2().expect("soc2");
    do_export(&f, &fw, "2026-01-01", "2026-01-02", "arch");
    let dir = f.root.join("arch");
    let a = gavel_evidence::archive::write_tar_gz(&dir, 1_780_000_000).expect("archive");
    assert_eq!(a, f.root.join("arch.tar.gz"));
    let first = fs::read(&a).expect("read");
    gavel_evidence::archive::write_tar_gz(&dir, 1_780_000_000).expect("again");
    assert_eq!(fs::read(&a).expect("read"), first, "same bundle, same bytes");
    let x = f.root.join("extracted");
    fs::create_dir(&x).expect("mkdir");
    let out = Command::new("tar").arg("-xzf").arg(&a).arg("-C").arg(&x).output().expect("tar");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(verify(&x.join("arch")).valid);
    assert!(!f.root.read_dir().expect("ls").any(|e| e
        .expect("e")
        .file_name()
        .to_string_lossy()
        .contains("partial")));
}

/// Any single-byte change anywhere in the bundle fails verification; a change to events.jsonl
/// fails even when the forger rehashes and re-signs SHA256SUMS with their own key.
#[test]
fn any_byte_change_is_caught() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};
    let f = fixture(2);
    let fw = Framework::soc2().expect("soc2");
    do_export(&f, &fw, "2026-01-01", "2026-01-03", "p");
    let good = f.root.join("p");
    let mut files = Vec::new();
    gavel_evidence::export::list_files(&good, &good, &mut files).expect("list");
    files.sort();
    let forger = generate_signing_key();
    let counter = std::cell::Cell::new(0u32);
    let mut runner = TestRunner::new(Config { cases: 48, ..Config::default() });
    let strategy = (0..files.len(), any::<prop::sample::Index>(), 1u8..=255, any::<bool>());
    runner
        .run(&strategy, |(file, at, xor, reseal_it)| {
            counter.set(counter.get() + 1);
            let dir = f.root.join(format!("p{}", counter.get()));
            copy_dir(&good, &dir);
            let name = if reseal_it { "events.jsonl" } else { files[file].as_str() };
            let path = dir.join(name);
            let mut bytes = fs::read(&path).expect("read");
            let i = at.index(bytes.len());
            bytes[i] ^= xor;
            fs::write(&path, &bytes).expect("write");
            if reseal_it {
                reseal(&dir, &forger);
            }
            let r = verify(&dir);
            prop_assert!(!r.valid, "{name} byte {i} ^ {xor:#x} (resealed: {reseal_it}) verified");
            if !reseal_it {
                prop_assert_eq!(r.first_failure().map(|c| c.name), Some("files"));
                prop_assert!(r.first_failure().is_some_and(|c| c.detail.contains(name)));
            }
            fs::remove_dir_all(&dir).expect("rm");
            Ok(())
        })
        .expect("property");
}

/// report.pdf is in every bundle, listed in SHA256SUMS, a PDF, and its text (extracted with
/// pypdf, installed by `.ci/run`) has the criteria, the period and the SIMULATED banner.
#[test]
fn report_pdf_is_listed_and_readable() {
    let f = fixture(3);
    let fw = Framework::soc2().expect("soc2");
    let s = do_export(&f, &fw, "2026-01-01", "2026-01-04", "pdf");
    let dir = f.root.join("pdf");
    let pdf = fs::read(dir.join("report.pdf")).expect("report.pdf");
    assert!(pdf.starts_with(b"%PDF-"), "not a PDF");
    let sums = fs::read_to_string(dir.join("SHA256SUMS")).expect("sums");
    assert!(sums.lines().any(|l| l.ends_with("  report.pdf")), "{sums}");
    if let Ok(keep) = std::env::var("GAVEL_KEEP_REPORT") {
        fs::copy(dir.join("report.pdf"), keep).expect("copy");
    }

    let out = gavel_testkit::python_command()
        .args([
            "-c",
            "import sys, pypdf\n\
             r = pypdf.PdfReader(sys.argv[1])\n\
             print(len(r.pages))\n\
             print(r.metadata.title)\n\
             print('\\n'.join(p.extract_text() for p in r.pages))",
        ])
        .arg(dir.join("report.pdf"))
        .output()
        .expect("the oracles' python");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "pypdf: {text}{}", String::from_utf8_lossy(&out.stderr));
    let pages: usize = text.lines().next().and_then(|l| l.parse().ok()).expect("page count");
    assert!(pages >= 2, "{text}");
    for needle in [
        "SOC 2",
        "acme",
        "SIMULATED DATA",
        "2026-01-01 to 2026-01-03",
        "Type II validation",
        "does not qualify",
        "Disclosed gaps",
        "CC6.4",
        "hash chain verifies",
        "sha256sum -c SHA256SUMS",
        "openssl pkeyutl -verify",
        "gavel evidence verify",
        &format!("Total events {}", s.total_events),
        "4. Samples",
        "Agent inventory (2 agent(s))",
        "billing-bot (agt_1)",
        "Incidents (1)",
        "deny burst",
        "agent retired",
        "Policy changes (1)",
        "Readiness scans (0)",
    ] {
        assert!(text.contains(needle), "report lacks {needle:?}:\n{text}");
    }
    for c in &s.criteria {
        assert!(text.contains(&c.id), "report lacks criterion {}:\n{text}", c.id);
        assert!(text.contains(c.status.as_str()), "report lacks status {}:\n{text}", c.status);
    }
}

/// Rewrites the evidence rows as bundles before gavel-evidence/4 had them: the first eight
/// columns only.
fn downgrade_rows(dir: &Path) {
    for entry in fs::read_dir(dir.join("controls")).expect("controls") {
        let path = entry.expect("entry").path();
        match path.extension().and_then(|e| e.to_str()) {
            Some("csv") => {
                let mut rdr = csv::ReaderBuilder::new().has_headers(false).from_path(&path).expect("csv");
                let mut w = csv::Writer::from_writer(Vec::new());
                for rec in rdr.records() {
                    let rec = rec.expect("record");
                    w.write_record(rec.iter().take(8)).expect("write");
                }
                fs::write(&path, w.into_inner().expect("csv")).expect("write");
            }
            Some("json") => edit_json(&path, |c| {
                for row in c["events"].as_array_mut().expect("rows") {
                    for k in ["actor_name", "agent_id", "agent_name", "tool", "decision_id", "policies"] {
                        row.as_object_mut().expect("row").remove(k);
                    }
                }
            }),
            _ => {}
        }
    }
}

/// Bundles of format gavel-evidence/1 predate report.pdf and names in rows: they verify
/// without them.
#[test]
fn a_format_1_bundle_needs_no_report() {
    let f = fixture(1);
    let fw = Framework::soc2().expect("soc2");
    do_export(&f, &fw, "2026-01-01", "2026-01-02", "v1");
    let dir = f.root.join("v1");
    let p = dir.join("manifest.json");
    let m = fs::read_to_string(&p).expect("r");
    assert!(m.contains("\"gavel-evidence/5\""), "{m}");
    fs::write(&p, m.replace("\"gavel-evidence/5\"", "\"gavel-evidence/1\"")).expect("w");
    fs::remove_file(dir.join("report.pdf")).expect("rm");
    fs::remove_file(dir.join("context.jsonl")).expect("rm");
    edit_json(&dir.join("integrity.json"), |i| {
        i.as_object_mut().expect("integrity").remove("context_proofs");
    });
    downgrade_rows(&dir);
    reseal(&dir, &generate_signing_key());
    let report = verify(&dir);
    assert!(report.valid, "{report:#?}");
    let statements = report.check("statements").expect("statements");
    assert!(statements.detail.contains("predates operating rules"), "{statements:?}");
}

/// Bundles of every older format verify as they always did: what each format lacks (report.pdf
/// before /2, the policy texts before /3, operating rules before late /3, names in rows and
/// samples.json before /4) is not asked of it, and what it has is still checked.
#[test]
fn older_formats_verify() {
    let f = fixture(2);
    let fw = Framework::soc2().expect("soc2");
    do_export(&f, &fw, "2026-01-01", "2026-01-03", "current");
    let current = f.root.join("current");
    // (format, has report.pdf, has policies/, has operating rules)
    for (n, (format, report, policies, operating)) in [
        ("gavel-evidence/1", false, false, false),
        ("gavel-evidence/2", true, false, false),
        ("gavel-evidence/3", true, true, false),
        ("gavel-evidence/3", true, true, true),
    ]
    .into_iter()
    .enumerate()
    {
        let dir = f.root.join(format!("old{n}"));
        copy_dir(&current, &dir);
        edit_json(&dir.join("manifest.json"), |m| {
            m["bundle_format"] = json!(format);
            if !operating {
                m.as_object_mut().expect("manifest").remove("exporter_attestation");
            }
        });
        if !report {
            fs::remove_file(dir.join("report.pdf")).expect("rm");
        }
        if !policies {
            fs::remove_dir_all(dir.join("policies")).expect("rm");
        }
        fs::remove_file(dir.join("samples.json")).expect("rm");
        fs::remove_file(dir.join("context.jsonl")).expect("rm");
        edit_json(&dir.join("integrity.json"), |i| {
            i.as_object_mut().expect("integrity").remove("context_proofs");
        });
        downgrade_rows(&dir);
        if !operating {
            edit_json(&dir.join("summary.json"), |s| {
                s.as_object_mut().expect("summary").remove("facts");
            });
            for c in ["CC6.1", "CC6.2", "CC6.3", "CC6.6", "CC6.7", "CC7.2", "CC7.3", "CC7.4", "CC8.1"] {
                edit_json(&dir.join(format!("controls/{c}.json")), |c| {
                    c.as_object_mut().expect("control").remove("operating");
                });
            }
        }
        reseal(&dir, &generate_signing_key());
        let r = verify(&dir);
        assert!(r.valid, "{format} (operating rules: {operating}): {r:#?}");
        let statements = r.check("statements").expect("statements");
        assert!(statements.detail.contains("predates operating rules"), "{statements:?}");
        let policies_check = r.check("policies").expect("policies");
        assert_eq!(
            policies_check.detail.contains("not in bundle format"),
            !policies,
            "{format}: {policies_check:?}"
        );
        // Still checked: the rows' first eight columns, the counts.
        let case = f.root.join(format!("old{n}-edited"));
        copy_dir(&dir, &case);
        edit_json(&case.join("manifest.json"), |m| m["counts"]["events"] = json!(1));
        reseal(&case, &generate_signing_key());
        assert_fails(&verify(&case), "consistency", &["manifest.json", "counts.events"]);
    }
}

/// Fields a bundle file does not define are ignored where they always were (the files' own
/// objects) and refused where the verifier compares whole values (here `type_ii` and a finding).
/// A manifest that does not read as one fails from the first check that needs it.
#[test]
fn unknown_fields_are_judged_as_before() {
    let f = fixture(1);
    let fw = Framework::soc2().expect("soc2");
    do_export(&f, &fw, "2026-01-01", "2026-01-03", "x");
    let dir = f.root.join("x");
    let tampered = |name: &str, file: &str, edit: &dyn Fn(&mut Value)| {
        let case = f.root.join(name);
        copy_dir(&dir, &case);
        edit_json(&case.join(file), edit);
        reseal(&case, &generate_signing_key());
        verify(&case)
    };
    for (name, file) in [
        ("manifest", "manifest.json"),
        ("integrity", "integrity.json"),
        ("summary", "summary.json"),
        ("control", "controls/CC6.1.json"),
        ("index", "policies/index.json"),
    ] {
        let r = tampered(name, file, &|v| v["note"] = json!("added"));
        assert!(r.valid, "{file}: {r:#?}");
    }
    let r = tampered("proof", "integrity.json", &|i| i["inclusion_proof"]["note"] = json!("added"));
    assert!(r.valid, "{r:#?}");
    let r = tampered("type_ii", "manifest.json", &|m| m["type_ii"]["note"] = json!("added"));
    assert_fails(&r, "checkpoint", &["manifest.json: type_ii.note: unknown field `note`"]);
    let r = tampered("finding", "controls/CC6.1.json", &|c| {
        c["findings"] = json!([{"level": "warn", "message": "m", "note": "added"}])
    });
    assert_fails(&r, "statements", &["controls/CC6.1.json", "findings"]);
}

/// A missing or mistyped field of any bundle file fails verification with the file and the
/// field's path, at the first check that reads the file.
#[test]
fn a_missing_or_mistyped_field_is_named() {
    let f = fixture(1);
    let fw = Framework::soc2().expect("soc2");
    do_export(&f, &fw, "2026-01-01", "2026-01-03", "x");
    let dir = f.root.join("x");
    /// (file, field, the edit, the check that fails first, the start of its detail)
    type Case<'a> = (&'a str, &'a str, &'a dyn Fn(&mut Value), &'a str, &'a str);
    let cases: [Case; 10] = [
        (
            "integrity.json",
            "log_key",
            &|i| drop(i.as_object_mut().expect("o").remove("log_key")),
            "checkpoint",
            "integrity.json: missing field `log_key`",
        ),
        (
            "integrity.json",
            "seq",
            &|i| i["inclusion_proof"]["seq"] = json!("5"),
            "checkpoint",
            "integrity.json: inclusion_proof.seq: invalid type: string \"5\", expected u64",
        ),
        (
            "integrity.json",
            "hashes",
            &|i| i["consistency_proofs"] = json!([{"export_id": "e", "old_size": 1, "old_root": "00"}]),
            "checkpoint",
            "integrity.json: consistency_proofs[0]: missing field `hashes`",
        ),
        (
            "manifest.json",
            "period",
            &|m| m["period"]["to"] = json!(20260103),
            "checkpoint",
            "manifest.json: period.to: invalid type: integer `20260103`, expected a string",
        ),
        (
            "manifest.json",
            "criteria",
            &|m| m["counts"]["criteria"]["CC6.1"] = json!("3"),
            "checkpoint",
            "manifest.json: counts.criteria.CC6.1: invalid type: string \"3\", expected u64",
        ),
        (
            "summary.json",
            "evidence_count",
            &|s| s["criteria"][0]["evidence_count"] = json!(-1),
            "consistency",
            "summary.json: criteria[0].evidence_count: invalid value: integer `-1`, expected u64",
        ),
        (
            "controls/CC6.1.json",
            "queries",
            &|c| drop(c.as_object_mut().expect("o").remove("queries")),
            "events",
            "controls/CC6.1.json: missing field `queries`",
        ),
        (
            "controls/CC6.1.json",
            "level",
            &|c| c["findings"] = json!([{"level": "info", "message": "m"}]),
            "statements",
            "controls/CC6.1.json: findings[0]: invalid value: string \"info\", expected \"fail\" or \"warn\"",
        ),
        (
            "samples.json",
            "decisions",
            &|s| s["agents"][0]["decisions"] = json!(true),
            "statements",
            "samples.json: agents[0].decisions: invalid type: boolean `true`, expected u64",
        ),
        (
            "policies/index.json",
            "versions",
            &|p| p["versions"] = json!([{"set_id": "base", "version": "1"}]),
            "policies",
            "policies/index.json: versions[0].version: invalid type: string \"1\", expected u32",
        ),
    ];
    for (n, (file, field, edit, check, needle)) in cases.into_iter().enumerate() {
        let case = f.root.join(format!("case{n}"));
        copy_dir(&dir, &case);
        edit_json(&case.join(file), edit);
        reseal(&case, &generate_signing_key());
        let r = verify(&case);
        assert!(!r.valid, "{file} {field}: {r:#?}");
        let failed = r.first_failure().expect("a failed check");
        assert_eq!(
            (failed.name, failed.detail.starts_with(needle)),
            (check, true),
            "{file} {field}: {failed:?}"
        );
    }
}

/// The text of every policy version the period cites is in the bundle, checkable with sha256sum,
/// matched against the SHA-256 the period's events state; a re-signed bundle whose text or index
/// was edited fails `policies`, naming what broke.
#[test]
fn policy_texts_are_in_the_bundle_and_checked_against_the_events() {
    use gavel_store::docs::{DocKeys, Expect, StateOp};
    let f = fixture(1);
    let text = "@id(\"no_wipe\")\nforbid(principal, action, resource == Tool::\"wipe\");\n";
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(text.as_bytes()));
    // After the fixture's last event (log times never go back), inside the exported period.
    f.clock.set(datetime!(2026-01-05 10:00 UTC));
    let doc = StateOp::put(
        "policy_versions",
        "team@1",
        json!({"set_id": "team", "version": 1, "text": text, "sha256": sha, "author_name": "admin",
               "created_at": "2026-01-01T11:00:00.000000Z"}),
        DocKeys { k1: Some("team".into()), ..Default::default() },
        Expect::Absent,
    );
    let proposed = EventDraft::new(
        "policy.proposed",
        Actor::user("usr_admin"),
        json!({"change_id": "chg_t", "set_id": "team", "version": 1, "sha256": sha}),
    )
    .expect("draft");
    f.log.store().append_with(proposed, vec![doc]).expect("append");
    ev(
        &f.log,
        "decision",
        Actor::agent("agt_2"),
        json!({"decision_id": "dec_t", "agent_id": "agt_2", "tool": "wipe", "decision": "deny",
               "policies": [{"set_id": "team", "version": 1, "policy_id": "no_wipe"}]}),
    );
    let fw = Framework::soc2().expect("soc2");
    do_export(&f, &fw, "2026-01-01", "2026-01-06", "pol");
    let dir = f.root.join("pol");
    let report = verify(&dir);
    assert!(report.valid, "{report:#?}");
    let check = report.checks.iter().find(|c| c.name == "policies").expect("policies check");
    // team v1 is stated by its event; base v1 (the fixture's) is cited but was never stored.
    assert!(check.detail.contains("1 policy version(s)") && check.detail.contains("base v1"), "{check:?}");
    assert_eq!(fs::read_to_string(dir.join("policies/team/v1.cedar")).expect("text"), text);
    let sums = fs::read_to_string(dir.join("SHA256SUMS")).expect("sums");
    assert!(sums.contains(&format!("{sha}  policies/team/v1.cedar")), "{sums}");
    let index: PolicyIndex = bundle::read(&dir, bundle::POLICY_INDEX).expect("index");
    assert_eq!(index.versions[0].cited_by_decisions, 1);

    // Another text, re-signed: the event's SHA-256 catches it.
    let edited = f.root.join("edited");
    copy_dir(&dir, &edited);
    fs::write(edited.join("policies/team/v1.cedar"), "permit(principal, action, resource);\n").expect("w");
    let index_path = edited.join("policies/index.json");
    let new_sha =
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(b"permit(principal, action, resource);\n"));
    let idx = fs::read_to_string(&index_path).expect("r").replace(&sha, &new_sha);
    fs::write(&index_path, idx).expect("w");
    reseal(&edited, &generate_signing_key());
    assert_fails(&verify(&edited), "policies", &["team v1", "states", &sha]);

    // A cited version dropped from the index, re-signed: caught.
    let dropped = f.root.join("dropped");
    copy_dir(&dir, &dropped);
    fs::write(dropped.join("policies/index.json"), "{\"versions\": []}").expect("w");
    fs::remove_file(dropped.join("policies/team/v1.cedar")).expect("rm");
    reseal(&dropped, &generate_signing_key());
    assert_fails(&verify(&dropped), "policies", &["not in the bundle", "team v1"]);
}

/// Every column of every evidence row is recomputed from events.jsonl: a re-signed bundle whose
/// CSV says `allow` for a denied call, or whose JSON row changes the actor, fails `consistency`.
#[test]
fn every_field_of_the_evidence_rows_is_checked() {
    let f = fixture(1);
    let fw = Framework::soc2().expect("soc2");
    do_export(&f, &fw, "2026-01-01", "2026-01-06", "rows");
    let dir = f.root.join("rows");
    assert!(verify(&dir).valid);

    let csv_case = f.root.join("csv");
    copy_dir(&dir, &csv_case);
    let path = csv_case.join("controls/CC6.1.csv");
    let csv = fs::read_to_string(&path).expect("csv");
    let line = csv.lines().find(|l| l.contains(",deny,")).expect("a denied call in CC6.1").to_string();
    fs::write(&path, csv.replacen(&line, &line.replacen(",deny,", ",allow,", 1), 1)).expect("w");
    reseal(&csv_case, &generate_signing_key());
    assert_fails(&verify(&csv_case), "consistency", &["controls/CC6.1.csv", "outcome"]);

    let json_case = f.root.join("json");
    copy_dir(&dir, &json_case);
    let path = json_case.join("controls/CC6.1.json");
    let text = fs::read_to_string(&path).expect("json");
    assert!(text.contains("\"actor\":\"agent:agt_1\""), "fixture rows name their actor");
    fs::write(&path, text.replacen("\"actor\":\"agent:agt_1\"", "\"actor\":\"agent:agt_9\"", 1)).expect("w");
    reseal(&json_case, &generate_signing_key());
    assert_fails(&verify(&json_case), "consistency", &["controls/CC6.1.json", "actor"]);

    // The name columns too: another agent's name beside the id, another decision id.
    for (name, from, to) in [
        ("agent_name", "\"agent_name\":\"billing-bot\"", "\"agent_name\":\"mailer\""),
        ("decision_id", "\"decision_id\":\"dec_0_wire\"", "\"decision_id\":\"dec_0_refund\""),
    ] {
        let case = f.root.join(name);
        copy_dir(&dir, &case);
        let path = case.join("controls/CC6.1.json");
        let text = fs::read_to_string(&path).expect("json");
        assert!(text.contains(from), "{name}: {from}");
        fs::write(&path, text.replacen(from, to, 1)).expect("w");
        reseal(&case, &generate_signing_key());
        assert_fails(&verify(&case), "consistency", &["controls/CC6.1.json", name]);
    }
}

/// Each criterion's status, summary, findings and analysis are recomputed from events.jsonl under
/// the built-in soc2: re-signed edits of any of them fail `statements`, naming the file and field;
/// a framework the verifier does not know is reported as the exporter's word.
#[test]
fn criterion_statements_are_recomputed() {
    let f = fixture(1);
    let fw = Framework::soc2().expect("soc2");
    do_export(&f, &fw, "2026-01-01", "2026-01-06", "st");
    let dir = f.root.join("st");
    let report = verify(&dir);
    assert!(report.valid, "{report:#?}");
    assert!(report.check("statements").unwrap().detail.contains("recomputed from events.jsonl"));

    let edit = |name: &str, file: &str, from: &str, to: &str| {
        let case = f.root.join(name);
        copy_dir(&dir, &case);
        let path = case.join(file);
        let text = fs::read_to_string(&path).expect("read");
        assert!(text.contains(from), "{file} lacks {from:?}");
        fs::write(&path, text.replacen(from, to, 1)).expect("write");
        reseal(&case, &generate_signing_key());
        verify(&case)
    };
    // Whatever CC6.1's status is, flipping it must be caught.
    let cc61: ControlHeader = bundle::read_stream(&dir, "controls/CC6.1.json").expect("CC6.1");
    let status = cc61.status.clone();
    let flipped = if status == "satisfied" { "not-satisfied" } else { "satisfied" };
    let r = edit(
        "status",
        "controls/CC6.1.json",
        &format!("\"status\":\"{status}\""),
        &format!("\"status\":\"{flipped}\""),
    );
    let statements_fail = |r: &VerifyReport, needles: &[&str]| {
        let c = r.check("statements").expect("statements check");
        assert!(!r.valid && !c.ok, "{r:#?}");
        for n in needles {
            assert!(c.detail.contains(n), "{:?} lacks {n:?}", c.detail);
        }
    };
    statements_fail(&r, &["controls/CC6.1.json", "status"]);
    let summary = cc61.summary.as_str();
    let r = edit("summary", "controls/CC6.1.json", summary, "All good.");
    statements_fail(&r, &["controls/CC6.1.json", "summary"]);
    let r = edit("analysis", "controls/CC6.1.json", "\"denied_attempts\":", "\"denied_attempts\":10");
    assert!(!r.valid, "{r:#?}");

    // An unknown framework: verified as far as the log goes, statements reported as unverified.
    let other = f.root.join("other");
    copy_dir(&dir, &other);
    let m = fs::read_to_string(other.join("manifest.json")).unwrap().replace(&fw.sha256, &"0".repeat(64));
    fs::write(other.join("manifest.json"), m).unwrap();
    reseal(&other, &generate_signing_key());
    let r = verify(&other);
    assert!(r.check("statements").unwrap().detail.contains("exporter's word"), "{r:#?}");
}

/// The manifest's claims and report.pdf are recomputed; what the log cannot show is named as
/// the exporter's attestation. Each tampered bundle is re-signed, so only recomputation catches it.
#[test]
fn manifest_claims_and_the_report_are_recomputed() {
    let f = fixture(3);
    let fw = Framework::soc2().expect("soc2");
    do_export(&f, &fw, "2026-01-01", "2026-01-06", "claims");
    let dir = f.root.join("claims");
    let report = verify(&dir);
    assert!(report.valid, "{report:#?}");
    let claims = report.check("claims").expect("claims check");
    for needle in [
        "Type II window (5 day(s), 2 coverage gap(s): does not qualify)",
        "disclosed gaps",
        "every figure of report.pdf (re-rendered byte for byte)",
        "the OSCAL assessment results (regenerated)",
        "the exporter's attestation",
        "org \"acme\"",
        "simulated true",
        "retention 365 day(s)",
    ] {
        assert!(claims.detail.contains(needle), "{:?} lacks {needle:?}", claims.detail);
    }

    let tampered = |name: &str, edit: &dyn Fn(&Path)| {
        let case = f.root.join(name);
        copy_dir(&dir, &case);
        edit(&case);
        reseal(&case, &generate_signing_key());
        verify(&case)
    };
    let r = tampered("window", &|d| {
        edit_json(&d.join("manifest.json"), |m| {
            m["type_ii"]["observation_days"] = json!(120);
            m["type_ii"]["type_ii"] = json!(true);
        })
    });
    assert_fails(&r, "claims", &["manifest.json", "type_ii"]);
    let r = tampered("gaps", &|d| edit_json(&d.join("manifest.json"), |m| m["disclosed_gaps"] = json!([])));
    assert_fails(&r, "claims", &["disclosed_gaps"]);
    let r = tampered("period", &|d| {
        edit_json(&d.join("manifest.json"), |m| m["period"]["to"] = json!("2026-04-01"))
    });
    assert!(!r.valid, "{r:#?}");
    // A real report of another period, in place of this one's.
    do_export(&f, &fw, "2026-01-01", "2026-01-03", "short");
    let r = tampered("pdf", &|d| {
        fs::copy(f.root.join("short").join("report.pdf"), d.join("report.pdf")).expect("copy");
    });
    assert_fails(&r, "claims", &["report.pdf", "re-rendered"]);
    // The samples are recomputed too.
    let r = tampered("samples", &|d| {
        edit_json(&d.join("samples.json"), |s| s["incidents"][0]["writeup"] = json!("all fine"))
    });
    assert_fails(&r, "statements", &["samples.json"]);
    // Facts and operating rules are statements too.
    let r =
        tampered("facts", &|d| edit_json(&d.join("summary.json"), |s| s["facts"]["decisions"] = json!(0)));
    assert_fails(&r, "statements", &["summary.json", "facts"]);
    let r =
        tampered("operating", &|d| edit_json(&d.join("controls/CC7.2.json"), |c| c["operating"] = json!([])));
    assert!(!r.valid, "{r:#?}");
    // What the log cannot show (here `simulated`) is the exporter's attestation; flipping it
    // without regenerating OSCAL and the report still shows, since both state it.
    let r =
        tampered("simulated", &|d| edit_json(&d.join("manifest.json"), |m| m["simulated"] = json!(false)));
    assert_fails(&r, "claims", &["the verified files give"]);
    // OSCAL is regenerated and compared as a whole.
    let r = tampered("oscal", &|d| {
        edit_json(&d.join("oscal/assessment-results.json"), |o| {
            o["assessment-results"]["metadata"]["title"] = json!("All controls effective")
        })
    });
    assert_fails(&r, "claims", &["oscal/assessment-results.json", "regenerated"]);
}

/// Where [`bundle_files_are_the_golden_bytes`] keeps its bundles.
fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/bundles")
}

/// The bundle files pinned byte for byte: the JSON files of each bundle (manifest, integrity,
/// summary, samples, policies index, controls) are kept as they were written, and its SHA256SUMS
/// pins every other file (events.jsonl, the CSVs, OSCAL, README.txt, report.pdf, the key).
/// The worlds: the fixture with a stored, cited policy text, exported twice (the second bundle
/// carries a consistency proof from the first), an empty period, and the sample HIPAA framework.
///
/// A deliberate change of the bundle's bytes is a new bundle format: re-record the golden files
/// with `GAVEL_BLESS=1 cargo test -p gavel-evidence --test bundle golden` and review the diff.
#[test]
fn bundle_files_are_the_golden_bytes() {
    use gavel_store::docs::{DocKeys, Expect, StateOp};
    let f = fixture_with(5, Some(7));
    // After the fixture's last event (log times never go back).
    f.clock.set(datetime!(2026-01-09 10:00 UTC));
    let text = "@id(\"no_wipe\")\nforbid(principal, action, resource == Tool::\"wipe\");\n";
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(text.as_bytes()));
    let doc = StateOp::put(
        "policy_versions",
        "team@1",
        json!({"set_id": "team", "version": 1, "text": text, "sha256": sha, "author_name": "admin",
               "created_at": "2026-01-09T10:00:00.000000Z", "source": "ui"}),
        DocKeys { k1: Some("team".into()), ..Default::default() },
        Expect::Absent,
    );
    let proposed = EventDraft::new(
        "policy.proposed",
        Actor::user("usr_admin"),
        json!({"change_id": "chg_t", "set_id": "team", "version": 1, "sha256": sha}),
    )
    .expect("draft");
    f.log.store().append_with(proposed, vec![doc]).expect("append");
    ev(
        &f.log,
        "decision",
        Actor::agent("agt_2"),
        json!({"decision_id": "dec_t", "agent_id": "agt_2", "tool": "wipe", "decision": "deny",
               "policies": [{"set_id": "team", "version": 1, "policy_id": "no_wipe"}]}),
    );
    let soc2 = Framework::soc2().expect("soc2");
    do_export(&f, &soc2, "2026-01-01", "2026-01-04", "first");
    do_export(&f, &soc2, "2026-01-01", "2026-01-10", "second");
    do_export(&f, &soc2, "2027-01-01", "2027-01-02", "empty");
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../frameworks/hipaa-164.312-sample.toml");
    let hipaa = Framework::load(path.to_str().expect("utf-8")).expect("hipaa sample");
    let h = fixture_with(2, Some(11));
    do_export(&h, &hipaa, "2026-01-01", "2026-01-03", "hipaa");

    let bless = std::env::var_os("GAVEL_BLESS").is_some();
    let mut differ = Vec::new();
    for (root, case) in [(&f.root, "first"), (&f.root, "second"), (&f.root, "empty"), (&h.root, "hipaa")] {
        let dir = root.join(case);
        assert!(verify(&dir).valid, "{case} does not verify");
        let mut files = Vec::new();
        gavel_evidence::export::list_files(&dir, &dir, &mut files).expect("list");
        // OSCAL is not a gavel format: SHA256SUMS pins it like the rest.
        files.retain(|p| p.ends_with(".json") && !p.starts_with("oscal/"));
        files.push("SHA256SUMS".into());
        files.sort();
        let golden = golden_dir().join(case);
        if bless {
            let _ = fs::remove_dir_all(&golden);
        } else {
            let mut kept = Vec::new();
            gavel_evidence::export::list_files(&golden, &golden, &mut kept).expect("golden files");
            kept.push("SHA256SUMS".into());
            kept.sort();
            assert_eq!(kept, files, "{case}: the bundle's JSON files are not the golden ones");
        }
        for rel in files {
            let written = fs::read(dir.join(&rel)).expect("read");
            let want = golden.join(&rel);
            if bless {
                fs::create_dir_all(want.parent().expect("parent")).expect("mkdir");
                fs::write(&want, &written).expect("bless");
            } else if fs::read(&want).ok().as_deref() != Some(written.as_slice()) {
                differ.push(format!("{case}/{rel}"));
            }
        }
    }
    assert!(
        differ.is_empty(),
        "these bundle files are not the golden bytes (diff them with tests/golden/bundles): {differ:?}"
    );
}

/// A principal created before the period is named in its rows and in the agent inventory, from
/// context.jsonl: the identity events before the period, each proven in the signed tree. An
/// edited, unproven, misplaced or non-identity context event fails `context`; dropping one that
/// the rows need fails the rows' recomputation.
#[test]
fn principals_created_before_the_period_are_named_from_proven_context() {
    let f = fixture(5);
    let fw = Framework::soc2().expect("soc2");
    do_export(&f, &fw, "2026-01-03", "2026-01-06", "ctx");
    let dir = f.root.join("ctx");
    let report = verify(&dir);
    assert!(report.valid, "{report:#?}");
    let context = report.check("context").expect("context check");
    assert!(context.detail.contains("3 identity event(s) before the period"), "{context:?}");
    assert!(report.check("claims").expect("claims").detail.contains("context.jsonl leaves out no"));

    // usr_admin, agt_1 and agt_2 were created on 2025-12-31 and 2026-01-01.
    let lines: Vec<String> =
        fs::read_to_string(dir.join("context.jsonl")).expect("context").lines().map(String::from).collect();
    let kinds: Vec<Value> =
        lines.iter().map(|l| serde_json::from_str::<Value>(l).expect("event")["kind"].clone()).collect();
    assert_eq!(kinds, [json!("user.created"), json!("agent.registered"), json!("agent.registered")]);
    let integrity: Integrity =
        serde_json::from_slice(&fs::read(dir.join("integrity.json")).expect("i")).expect("i");
    assert_eq!(integrity.context_proofs.len(), 3);

    // The incident opened by usr_admin in the period names its actor; no event of the period
    // states that name. The inventory has each agent's owner, stated only at registration.
    let admin_rows: Vec<Value> =
        ["CC6.1", "CC6.2", "CC6.3", "CC6.6", "CC6.7", "CC7.2", "CC7.3", "CC7.4", "CC8.1"]
            .iter()
            .flat_map(|c| {
                let v: Value =
                    serde_json::from_slice(&fs::read(dir.join(format!("controls/{c}.json"))).expect("c"))
                        .expect("control");
                v["events"].as_array().expect("rows").clone()
            })
            .filter(|r| r["actor"] == "user:usr_admin")
            .collect();
    assert!(!admin_rows.is_empty(), "the fixture's admin acts in the period");
    assert!(admin_rows.iter().all(|r| r["actor_name"] == "admin"), "{admin_rows:?}");
    let samples: Value = serde_json::from_slice(&fs::read(dir.join("samples.json")).expect("s")).expect("s");
    let agents = &samples["agents"];
    let owner = |id: &str| {
        agents.as_array().expect("agents").iter().find(|a| a["agent_id"] == id).map(|a| a["owner"].clone())
    };
    assert_eq!((owner("agt_1"), owner("agt_2")), (Some(json!("alice")), Some(json!("bob"))), "{agents}");

    let case = |name: &str, edit: &dyn Fn(&Path)| {
        let d = f.root.join(name);
        copy_dir(&dir, &d);
        edit(&d);
        reseal(&d, &generate_signing_key());
        verify(&d)
    };
    // Another name for the admin: its leaf is no longer the proven one.
    let r = case("renamed", &|d| {
        replace_in(&d.join("context.jsonl"), "\"name\":\"admin\"", "\"name\":\"mallory\"", 1)
    });
    assert_fails(&r, "context", &["context_proofs[0]", "context.jsonl line 1"]);
    // ... and with the proof's leaf hash made to match, the leaf is not in the signed tree.
    let r = case("renamed-leaf", &|d| {
        replace_in(&d.join("context.jsonl"), "\"name\":\"admin\"", "\"name\":\"mallory\"", 1);
        let line =
            fs::read_to_string(d.join("context.jsonl")).expect("c").lines().next().expect("l").to_string();
        let leaf = gavel_ledger::hash::to_hex(&gavel_ledger::hash::leaf_hash(line.as_bytes()));
        edit_json(&d.join("integrity.json"), |i| i["context_proofs"][0]["leaf_hash"] = json!(leaf));
    });
    assert_fails(&r, "context", &["context.jsonl line 1", "not in the signed checkpoint's tree"]);
    // Dropping the admin's creation (event and proof) leaves the rows naming someone unknown.
    let r = case("dropped", &|d| {
        edit_lines(&d.join("context.jsonl"), |l| {
            l.remove(0);
        });
        edit_json(&d.join("integrity.json"), |i| {
            i["context_proofs"].as_array_mut().expect("proofs").remove(0);
        });
    });
    assert!(r.check("context").expect("context").ok, "{r:#?}");
    assert_fails(&r, "consistency", &["actor_name"]);
    // A proof without its event, and an event of another kind.
    let r = case("unmatched", &|d| {
        edit_lines(&d.join("context.jsonl"), |l| {
            l.pop();
        });
    });
    assert_fails(&r, "context", &["3 context proof(s) for 2 event(s)"]);
    // An identity event of the period itself (agt_1's deactivation), with its genuine proof.
    let in_period = fs::read_to_string(dir.join("events.jsonl"))
        .expect("events")
        .lines()
        .find(|l| l.contains("\"kind\":\"agent.deactivated\""))
        .expect("the deactivation is in the period")
        .to_string();
    let seq = serde_json::from_str::<Value>(&in_period).expect("event")["seq"].as_u64().expect("seq");
    let store = f.log.store();
    let proof = store.inclusion_proof(seq, integrity.checkpoint_size).expect("proof");
    let r = case("in-period", &|d| {
        edit_lines(&d.join("context.jsonl"), |l| l.push(in_period.clone()));
        edit_json(&d.join("integrity.json"), |i| {
            i["context_proofs"].as_array_mut().expect("proofs").push(json!({
                "seq": seq,
                "leaf_hash": gavel_ledger::hash::to_hex(&gavel_ledger::hash::leaf_hash(in_period.as_bytes())),
                "tree_size": integrity.checkpoint_size,
                "hashes": proof.iter().map(gavel_ledger::hash::to_hex).collect::<Vec<_>>(),
            }))
        });
    });
    assert_fails(&r, "context", &["context.jsonl line 4", "is not before the period"]);
}
