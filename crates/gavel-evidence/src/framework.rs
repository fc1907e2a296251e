//! Compliance frameworks as data (`frameworks/*.toml`).
//!
//! A framework file names its criteria; each criterion has a paraphrased title and description,
//! the evidence queries over the log (event kind patterns plus optional filters on `data`
//! fields), the gavel controls that satisfy it and the built-in *analysis* that summarises its
//! evidence. Criteria gavel cannot evidence are listed as `[[gaps]]` and are carried into every
//! bundle as disclosed gaps, never dropped. Adding a framework is adding a file: nothing here
//! knows SOC 2.
//!
//! Each criterion may also bound the period's facts (`operating`, `at_least` / `at_most`, see
//! [`crate::facts`]) and name controls present only when a fact shows them configured
//! (`{ text, when = "<fact>" }`). Incident kinds are matched by pattern (`incident.*`). The
//! built-in `frameworks/soc2.toml` paraphrases the AICPA criteria (their text is copyrighted);
//! `frameworks/hipaa-164.312-sample.toml` is a second framework the tests export.
//!
//! Invariants checked by [`Framework::parse`]: at least one criterion; criterion and gap ids are
//! unique, non-empty, and safe as file names (`[A-Za-z0-9._-]`, not starting with `.`); every
//! criterion has at least one query; every kind pattern is `*`, `<dotted kind>.*` or a dotted
//! kind; every filter has exactly one of `equals`, `any_of`, `exists`.

use gavel_ledger::event::validate_kind;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::path::Path;

use crate::EvidenceError;

/// The SOC 2 framework shipped with gavel.
pub const SOC2_TOML: &str = include_str!("../../../frameworks/soc2.toml");

/// A parsed framework file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Framework {
    pub framework: FrameworkInfo,
    #[serde(default)]
    pub criteria: Vec<Criterion>,
    #[serde(default)]
    pub gaps: Vec<Gap>,
    /// SHA-256 of the file's bytes (hex), recorded in bundles.
    #[serde(skip)]
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FrameworkInfo {
    /// Short id used on the command line (`soc2`).
    pub id: String,
    pub name: String,
    pub version: String,
    /// The authoritative source the criteria paraphrase.
    pub source: String,
    #[serde(default)]
    pub note: Option<String>,
}

/// One criterion gavel evidences.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Criterion {
    pub id: String,
    pub title: String,
    pub description: String,
    #[serde(default)]
    pub analysis: Analysis,
    /// The gavel controls that satisfy the criterion, in words; a control that depends on
    /// configuration names the fact that shows it was configured in the period (`when`).
    #[serde(default)]
    pub controls: Vec<Control>,
    /// What "operating" means for the criterion: bounds on the period's facts
    /// ([`crate::facts::FACTS`]), all of which must hold for it to be satisfied.
    #[serde(default)]
    pub operating: Vec<crate::facts::Rule>,
    /// An event is evidence when any query matches it.
    pub evidence: Vec<Query>,
    /// gavel's built-in readiness checks (`gavel compliance scan`) that show the criterion's
    /// controls in force; a criterion with none is a gap in a scan.
    #[serde(default)]
    pub checks: Vec<String>,
}

/// A control, in words: always present in the build, or present only when the period's fact
/// `when` is non-zero (e.g. webhook streaming exists only once an endpoint is configured).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Control {
    Always(String),
    When { text: String, when: String },
}

impl Control {
    /// The control's text when the period's facts show it was in place.
    pub fn in_place(&self, facts: &crate::facts::Facts) -> Option<&str> {
        match self {
            Control::Always(text) => Some(text),
            Control::When { text, when } => (facts.count(when) > 0).then_some(text.as_str()),
        }
    }
}

/// A criterion gavel cannot evidence from the log (organizational controls).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gap {
    pub id: String,
    pub title: String,
    pub reason: String,
}

/// How a criterion's evidence is summarised (the built-in aggregates).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Analysis {
    /// Counts by event kind.
    #[default]
    Generic,
    /// Agents with their decisions by outcome and denied attempts.
    AgentInventory,
    /// Principals created, credentials rotated, principals deactivated.
    CredentialLifecycle,
    /// Deactivations and suspensions, and what happened to the agent's calls afterwards.
    DeactivationEnforcement,
    /// Webhook endpoints, delivery attempts, detector activity, chain verification.
    Monitoring,
    /// Incidents with their timelines.
    Incidents,
    /// Containment actions: kill switches, suspensions, limit breaches.
    Containment,
    /// Policy versions with author and approver.
    PolicyHistory,
}

/// Matches events whose kind matches one of `kinds` and whose data passes every filter.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Query {
    pub kinds: Vec<String>,
    #[serde(default, rename = "where")]
    pub filters: Vec<Filter>,
}

/// A condition on a (dotted) field of the event's `data`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    pub field: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub any_of: Option<Vec<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exists: Option<bool>,
}

fn invalid(msg: impl Into<String>) -> EvidenceError {
    EvidenceError::Framework(msg.into())
}

impl Framework {
    /// The built-in SOC 2 framework.
    pub fn soc2() -> Result<Self, EvidenceError> {
        Self::parse(SOC2_TOML)
    }

    /// A framework by name: `soc2` is built in; anything else is read as a file path.
    pub fn load(name_or_path: &str) -> Result<Self, EvidenceError> {
        if name_or_path == "soc2" {
            return Self::soc2();
        }
        let path = Path::new(name_or_path);
        let text = std::fs::read_to_string(path).map_err(|e| {
            invalid(format!("cannot read framework {name_or_path:?} (built in: soc2; else a file): {e}"))
        })?;
        Self::parse(&text).map_err(|e| invalid(format!("{}: {e}", path.display())))
    }

    /// Parses and checks a framework file.
    pub fn parse(text: &str) -> Result<Self, EvidenceError> {
        let mut fw: Framework = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        fw.sha256 = hex::encode(Sha256::digest(text.as_bytes()));
        fw.check()?;
        Ok(fw)
    }

    fn check(&self) -> Result<(), EvidenceError> {
        if self.framework.id.is_empty() || self.framework.name.is_empty() {
            return Err(invalid("framework id and name must not be empty"));
        }
        if self.criteria.is_empty() {
            return Err(invalid("a framework needs at least one [[criteria]]"));
        }
        let mut seen = HashSet::new();
        for id in self.criteria.iter().map(|c| &c.id).chain(self.gaps.iter().map(|g| &g.id)) {
            check_id(id)?;
            if !seen.insert(id.as_str()) {
                return Err(invalid(format!("criterion id {id:?} appears twice")));
            }
        }
        let known = |fact: &str| crate::facts::FACTS.iter().any(|(name, _)| *name == fact);
        for c in &self.criteria {
            for rule in &c.operating {
                if !known(&rule.fact) {
                    return Err(invalid(format!(
                        "criterion {}: unknown fact {:?} in operating",
                        c.id, rule.fact
                    )));
                }
                if rule.at_least.is_none() && rule.at_most.is_none() {
                    return Err(invalid(format!(
                        "criterion {}: the rule on {} needs at_least or at_most",
                        c.id, rule.fact
                    )));
                }
            }
            for control in &c.controls {
                if let Control::When { when, .. } = control {
                    if !known(when) {
                        return Err(invalid(format!(
                            "criterion {}: unknown fact {when:?} in a control",
                            c.id
                        )));
                    }
                }
            }
            if c.evidence.is_empty() {
                return Err(invalid(format!("criterion {} has no evidence query", c.id)));
            }
            for q in &c.evidence {
                if q.kinds.is_empty() {
                    return Err(invalid(format!("criterion {}: a query needs at least one kind", c.id)));
                }
                for k in &q.kinds {
                    check_pattern(k).map_err(|e| invalid(format!("criterion {}: {e}", c.id)))?;
                }
                for f in &q.filters {
                    let n = usize::from(f.equals.is_some())
                        + usize::from(f.any_of.is_some())
                        + usize::from(f.exists.is_some());
                    if n != 1 || f.field.is_empty() {
                        return Err(invalid(format!(
                            "criterion {}: filter on {:?} needs a field and exactly one of equals, any_of, exists",
                            c.id, f.field
                        )));
                    }
                }
            }
        }
        Ok(())
    }

    /// The criterion with this id.
    pub fn criterion(&self, id: &str) -> Option<&Criterion> {
        self.criteria.iter().find(|c| c.id == id)
    }
}

fn check_id(id: &str) -> Result<(), EvidenceError> {
    let ok = !id.is_empty()
        && !id.starts_with('.')
        && id.len() <= 64
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(invalid(format!("criterion id {id:?} must be 1-64 of [A-Za-z0-9._-], not starting with '.'")))
    }
}

fn check_pattern(p: &str) -> Result<(), String> {
    if p == "*" {
        return Ok(());
    }
    let kind = p.strip_suffix(".*").unwrap_or(p);
    validate_kind(kind).map_err(|_| format!("kind pattern {p:?} must be *, a dotted kind, or <kind>.*"))
}

/// Whether `kind` matches the pattern: `*` matches all, `policy.*` matches `policy.x` (and
/// deeper) but not `policyx.y` nor `policy` itself; anything else matches exactly.
pub fn kind_matches(pattern: &str, kind: &str) -> bool {
    match pattern.strip_suffix(".*") {
        Some(prefix) => kind.strip_prefix(prefix).is_some_and(|rest| rest.starts_with('.')),
        None => pattern == "*" || pattern == kind,
    }
}

fn field<'a>(data: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(data, |v, seg| v.get(seg))
}

impl Filter {
    pub fn matches(&self, data: &Value) -> bool {
        let v = field(data, &self.field).filter(|v| !v.is_null());
        if let Some(want) = self.exists {
            return v.is_some() == want;
        }
        let Some(v) = v else { return false };
        if let Some(eq) = &self.equals {
            return v == eq;
        }
        self.any_of.as_ref().is_some_and(|set| set.contains(v))
    }
}

impl Query {
    pub fn matches(&self, kind: &str, data: &Value) -> bool {
        self.kinds.iter().any(|p| kind_matches(p, kind)) && self.filters.iter().all(|f| f.matches(data))
    }
}

impl Criterion {
    /// Whether the event (its kind and data) is evidence for this criterion.
    pub fn matches(&self, kind: &str, data: &Value) -> bool {
        self.evidence.iter().any(|q| q.matches(kind, data))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn soc2_parses_with_every_criterion() {
        let fw = Framework::soc2().expect("built-in framework");
        let ids: Vec<&str> = fw.criteria.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["CC6.1", "CC6.2", "CC6.3", "CC6.6", "CC6.7", "CC7.2", "CC7.3", "CC7.4", "CC8.1"]);
        assert!(!fw.gaps.is_empty(), "organizational criteria are disclosed");
        assert!(fw.framework.source.contains("2017") && fw.framework.source.contains("2022"));
        assert_eq!(fw.sha256.len(), 64);
        for c in &fw.criteria {
            assert!(!c.controls.is_empty(), "{} lists its controls", c.id);
        }
    }

    #[test]
    fn patterns() {
        assert!(kind_matches("policy.*", "policy.activated"));
        assert!(kind_matches("incident.*", "incident.opened"));
        assert!(!kind_matches("policy.*", "policyx.activated"));
        assert!(!kind_matches("policy.*", "policy"));
        assert!(kind_matches("*", "decision"));
        assert!(kind_matches("decision", "decision"));
        assert!(!kind_matches("decision", "decision.x"));
        for bad in ["", "Policy.*", "a..b", "*.x", "policy.**"] {
            assert!(check_pattern(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn filters() {
        let data =
            json!({"decision": "deny", "agent_status": "deactivated", "containment": {"kind": "rate"}});
        let f = |field: &str, equals: Option<Value>, any_of: Option<Vec<Value>>, exists: Option<bool>| {
            Filter { field: field.into(), equals, any_of, exists }
        };
        assert!(f("decision", Some(json!("deny")), None, None).matches(&data));
        assert!(!f("decision", Some(json!("allow")), None, None).matches(&data));
        assert!(f("agent_status", None, Some(vec![json!("suspended"), json!("deactivated")]), None)
            .matches(&data));
        assert!(f("containment", None, None, Some(true)).matches(&data));
        assert!(f("containment.kind", Some(json!("rate")), None, None).matches(&data));
        assert!(f("missing", None, None, Some(false)).matches(&data));
        assert!(!f("missing", Some(json!("x")), None, None).matches(&data));
    }

    #[test]
    fn bad_files_are_refused_with_a_reason() {
        let head = "[framework]\nid='x'\nname='X'\nversion='1'\nsource='s'\n";
        // One criterion with `id`, `extra` lines and `evidence`.
        let crit = |id: &str, extra: &str, evidence: &str| {
            format!("[[criteria]]\nid='{id}'\ntitle='t'\ndescription='d'\n{extra}evidence=[{evidence}]\n")
        };
        let ok = "{kinds=['decision']}";
        let gap = "[[gaps]]\nid='A'\ntitle='t'\nreason='r'\n";
        let cases = [
            ("no criteria", head.to_string()),
            ("duplicate id", format!("{head}{}{gap}", crit("A", "", ok))),
            ("bad id", format!("{head}{}", crit("../x", "", ok))),
            ("no query", format!("{head}{}", crit("A", "", ""))),
            ("bad kind", format!("{head}{}", crit("A", "", "{kinds=['Bad']}"))),
            ("bad filter", format!("{head}{}", crit("A", "", "{kinds=['decision'], where=[{field='x'}]}"))),
            ("unknown analysis", format!("{head}{}", crit("A", "analysis='magic'\n", ok))),
            ("unknown key", format!("{head}colour='red'\n{}", crit("A", "", ok))),
        ];
        assert!(Framework::parse(&format!("{head}{}", crit("A", "", ok))).is_ok());
        for (what, text) in cases {
            assert!(Framework::parse(&text).is_err(), "{what} accepted");
        }
    }
}
