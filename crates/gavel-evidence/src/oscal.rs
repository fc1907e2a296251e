//! OSCAL 1.1.2 `assessment-results` for an export.
//!
//! One `results[]` entry for the export period; one observation per criterion whose
//! `relevant-evidence` points at the bundle files (`controls/<ID>.json`, `.csv`); one finding per
//! criterion saying `satisfied` / `not-satisfied`; disclosed gaps are findings too
//! (`not-satisfied`, with the reason gavel cannot evidence them), so nothing is silently dropped.
//! `import-ap` points into back-matter (a `#uuid` fragment) at a resource describing the
//! assessment plan (the framework file, by its SHA-256).
//!
//! Invariant: UUIDs are derived deterministically from the export's inputs (framework hash,
//! period, checkpoint root) and a name, as RFC 9562 version-5 (name-based) UUIDs, which OSCAL's
//! pattern accepts; the same export gives the same document.

use crate::export::CriterionResult;
use crate::framework::Framework;
use serde_json::{json, Value};

pub const OSCAL_VERSION: &str = "1.1.2";
const NS: &str = "https://gavel.dev/ns/oscal";

pub struct Input<'a> {
    pub framework: &'a Framework,
    pub results: &'a [CriterionResult],
    pub from_time: &'a str,
    pub to_time: &'a str,
    pub generated_at: &'a str,
    pub org: &'a str,
    /// What makes this export unique; UUIDs derive from it.
    pub seed: &'a str,
    pub simulated: bool,
}

/// The namespace of gavel's name-based OSCAL UUIDs: the version-5 UUID of this URL in the RFC
/// 9562 URL namespace, so anyone can recompute it.
fn namespace() -> uuid::Uuid {
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, b"https://gavel.local/oscal")
}

/// A deterministic, name-based (RFC 9562 version 5) UUID for `name` within `seed`: the same export
/// inputs give the same document.
pub fn uuid(seed: &str, name: &str) -> String {
    uuid::Uuid::new_v5(&namespace(), format!("{seed}\n{name}").as_bytes()).to_string()
}

fn control_id(id: &str) -> String {
    id.to_ascii_lowercase()
}

pub fn assessment_results(i: &Input<'_>) -> Value {
    let u = |name: &str| uuid(i.seed, name);
    let fw = &i.framework.framework;
    let plan = u("assessment-plan");
    let mut observations = Vec::new();
    let mut findings = Vec::new();
    let mut selected = Vec::new();
    for r in i.results {
        selected.push(json!({"control-id": control_id(&r.id)}));
        let obs = u(&format!("observation/{}", r.id));
        let mut description = format!("{} {} evidence event(s) in the period.", r.summary, r.evidence_count);
        for f in &r.findings {
            description.push_str(&format!(" [{}] {}", f.level, f.message));
        }
        observations.push(json!({
            "uuid": obs,
            "title": format!("{} evidence from the gavel log", r.id),
            "description": description,
            "methods": ["EXAMINE"],
            "types": ["control-objective"],
            "relevant-evidence": [
                {"href": format!("controls/{}.json", r.id),
                 "description": format!("{} evidence rows, findings and analysis (JSON)", r.id)},
                {"href": format!("controls/{}.csv", r.id), "description": format!("{} evidence rows (CSV)", r.id)},
                {"href": "events.jsonl", "description": "Every log event of the period, canonical JSON"},
            ],
            "collected": i.generated_at,
        }));
        findings.push(json!({
            "uuid": u(&format!("finding/{}", r.id)),
            "title": format!("{}: {}", r.id, r.title),
            "description": r.summary,
            "target": {
                "type": "objective-id",
                "target-id": format!("{}_obj", control_id(&r.id)),
                "status": {"state": r.status},
            },
            "related-observations": [{"observation-uuid": obs}],
        }));
    }
    for g in &i.framework.gaps {
        selected.push(json!({"control-id": control_id(&g.id)}));
        findings.push(json!({
            "uuid": u(&format!("gap/{}", g.id)),
            "title": format!("{}: {} (disclosed gap)", g.id, g.title),
            "description": format!("Not evidenced by gavel: {}", g.reason),
            "target": {
                "type": "objective-id",
                "target-id": format!("{}_obj", control_id(&g.id)),
                "status": {"state": "not-satisfied", "reason": "other"},
            },
        }));
    }
    let mut result = json!({
        "uuid": u("result"),
        "title": format!("{} evidence, {} to {}", fw.name, i.from_time, i.to_time),
        "description": format!(
            "Evidence exported by gavel from its tamper-evident log for {} over [{}, {}). Criteria titles paraphrase {}.",
            i.org, i.from_time, i.to_time, fw.source
        ),
        "start": i.from_time,
        "end": i.to_time,
        "reviewed-controls": {"control-selections": [{"include-controls": selected}]},
        "observations": observations,
        "findings": findings,
    });
    if i.simulated {
        result["props"] = json!([{"name": "simulated", "ns": NS, "value": "true"}]);
    }
    json!({
        "assessment-results": {
            "uuid": u("assessment-results"),
            "metadata": {
                "title": format!("{} evidence for {}", fw.name, i.org),
                "last-modified": i.generated_at,
                "version": i.framework.sha256.get(..12).unwrap_or("1"),
                "oscal-version": OSCAL_VERSION,
                "props": [{"name": "framework", "ns": NS, "value": fw.id}],
            },
            "import-ap": {"href": format!("#{plan}")},
            "results": [result],
            "back-matter": {
                "resources": [{
                    "uuid": plan,
                    "title": format!("Assessment plan: gavel framework {} ({})", fw.id, fw.version),
                    "description": format!(
                        "The evidence queries of the framework file with SHA-256 {}, listed per criterion \
                         in controls/<ID>.json.",
                        i.framework.sha256
                    ),
                    "rlinks": [{"href": "manifest.json", "media-type": "application/json"}],
                }],
            },
        }
    })
}

#[cfg(test)]
mod uuid_tests {
    /// Python's standard `uuid.uuid5` (an implementation we did not write) gives the same UUIDs,
    /// and they say they are version 5.
    #[test]
    fn uuids_are_version_5_as_python_computes_them() {
        let ours = super::uuid("seed|2026-01-01", "finding/CC6.1");
        let parsed = uuid::Uuid::parse_str(&ours).expect("a UUID");
        assert_eq!(parsed.get_version_num(), 5);
        let out = gavel_testkit::python_command()
            .args([
                "-c",
                "import uuid; ns = uuid.uuid5(uuid.NAMESPACE_URL, 'https://gavel.local/oscal'); \
                 print(uuid.uuid5(ns, 'seed|2026-01-01\\nfinding/CC6.1'))",
            ])
            .output()
            .expect("python");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), ours);
    }
}
