//! The incident timeline's event kinds (`incident.opened`, `.assigned`, `.triaged`, `.noted`,
//! `.contained`, `.resolved`, `.linked`), written by gavel-core's `incidents` and `detectors`,
//! and [`IncidentEvent`], which readers (evidence analysis, the OCSF mapping, the CLI's
//! timeline) match on instead of reading fields by name.
//!
//! Invariants: those of the crate (byte for byte as written, read tolerantly, unknown fields kept
//! in `other`); an `incident.*` kind gavel does not know reads as [`IncidentEvent::Other`] with
//! the fields every incident event carries, so older or newer logs still read.

use crate::{kind, lenient, present_lenient, read};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `incident.opened`: by hand (`source: manual`) or by the detectors (`source: detector`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct IncidentOpened {
    #[serde(deserialize_with = "lenient")]
    pub incident_id: String,
    #[serde(deserialize_with = "lenient")]
    pub title: String,
    /// low | medium | high | critical
    #[serde(deserialize_with = "lenient")]
    pub severity: String,
    /// The agent concerned (agent id; `null` when none).
    #[serde(deserialize_with = "lenient")]
    pub agent: Option<String>,
    /// Log seqs of the events that are evidence of it.
    #[serde(deserialize_with = "lenient")]
    pub linked_seqs: Vec<u64>,
    /// manual | detector
    #[serde(deserialize_with = "lenient")]
    pub source: String,
    /// The summary given by hand (absent when opened by the detectors).
    #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "present_lenient")]
    pub summary: Option<Option<String>>,
    /// The detection's tool, detector, id and seq (absent when opened by hand).
    #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "lenient")]
    pub tool: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "lenient")]
    pub detector: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "lenient")]
    pub detection_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "lenient")]
    pub detection_seq: Option<u64>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `incident.assigned`: a new owner.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct IncidentAssigned {
    #[serde(deserialize_with = "lenient")]
    pub incident_id: String,
    /// The owner's user name and id.
    #[serde(deserialize_with = "lenient")]
    pub owner: String,
    #[serde(deserialize_with = "lenient")]
    pub owner_id: String,
    #[serde(deserialize_with = "lenient")]
    pub severity: String,
    /// The incident's status (unchanged by an assignment).
    #[serde(deserialize_with = "lenient")]
    pub status: String,
    /// Never written by gavel: the name evidence analysis first looked for the owner under, still
    /// read so that evidence recomputed over events carrying it is unchanged.
    #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "lenient")]
    pub assignee: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `incident.triaged`: someone looked at it, possibly re-rating its severity.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct IncidentTriaged {
    #[serde(deserialize_with = "lenient")]
    pub incident_id: String,
    /// Always `triaged`.
    #[serde(deserialize_with = "lenient")]
    pub status: String,
    #[serde(deserialize_with = "lenient")]
    pub severity: String,
    #[serde(deserialize_with = "lenient")]
    pub previous_severity: String,
    #[serde(deserialize_with = "lenient")]
    pub note: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub owner: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub owner_id: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `incident.noted`: a note, at any status (a resolved incident still takes notes).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct IncidentNoted {
    #[serde(deserialize_with = "lenient")]
    pub incident_id: String,
    #[serde(deserialize_with = "lenient")]
    pub text: String,
    #[serde(deserialize_with = "lenient")]
    pub status: String,
    #[serde(deserialize_with = "lenient")]
    pub severity: String,
    #[serde(deserialize_with = "lenient")]
    pub owner: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub owner_id: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `incident.contained`: the containment actions taken under it, or a note of what was done.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct IncidentContained {
    #[serde(deserialize_with = "lenient")]
    pub incident_id: String,
    /// Always `contained`.
    #[serde(deserialize_with = "lenient")]
    pub status: String,
    #[serde(deserialize_with = "lenient")]
    pub note: Option<String>,
    /// Every containment action taken under the incident so far (kill switches, suspensions).
    #[serde(deserialize_with = "lenient")]
    pub containment: Vec<Value>,
    #[serde(deserialize_with = "lenient")]
    pub severity: String,
    #[serde(deserialize_with = "lenient")]
    pub owner: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub owner_id: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `incident.resolved`: closed with a writeup.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct IncidentResolved {
    #[serde(deserialize_with = "lenient")]
    pub incident_id: String,
    /// Always `resolved`.
    #[serde(deserialize_with = "lenient")]
    pub status: String,
    #[serde(deserialize_with = "lenient")]
    pub writeup: String,
    #[serde(deserialize_with = "lenient")]
    pub severity: String,
    #[serde(deserialize_with = "lenient")]
    pub owner: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub owner_id: Option<String>,
    /// Never written by gavel: the name evidence analysis first looked for the writeup under,
    /// still read so that evidence recomputed over events carrying it is unchanged.
    #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "lenient")]
    pub resolution: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `incident.linked`: a later detection of the same (agent, detector) attached to the open
/// incident instead of opening another.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct IncidentLinked {
    #[serde(deserialize_with = "lenient")]
    pub incident_id: String,
    #[serde(deserialize_with = "lenient")]
    pub detection_id: String,
    #[serde(deserialize_with = "lenient")]
    pub detection_seq: u64,
    #[serde(deserialize_with = "lenient")]
    pub detector: String,
    /// The detection's severity (the incident's is unchanged).
    #[serde(deserialize_with = "lenient")]
    pub severity: String,
    #[serde(deserialize_with = "lenient")]
    pub summary: String,
    #[serde(deserialize_with = "lenient")]
    pub source_seqs: Vec<u64>,
    /// The seqs this link adds to the incident's evidence (the detection and its sources).
    #[serde(deserialize_with = "lenient")]
    pub linked_seqs: Vec<u64>,
    #[serde(deserialize_with = "lenient")]
    pub status: String,
    #[serde(deserialize_with = "lenient")]
    pub owner: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub owner_id: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// An `incident.*` kind gavel does not know: the fields every incident event carries.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct IncidentOther {
    #[serde(deserialize_with = "lenient")]
    pub incident_id: String,
    #[serde(deserialize_with = "lenient")]
    pub severity: String,
    #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "lenient")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "lenient")]
    pub owner: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "lenient")]
    pub owner_id: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// One incident timeline event, by kind.
#[derive(Debug, Clone, PartialEq)]
pub enum IncidentEvent {
    Opened(IncidentOpened),
    Assigned(IncidentAssigned),
    Triaged(IncidentTriaged),
    Noted(IncidentNoted),
    Contained(IncidentContained),
    Resolved(IncidentResolved),
    Linked(IncidentLinked),
    /// An `incident.*` kind this build does not know.
    Other(IncidentOther),
}

impl IncidentEvent {
    /// The incident event of `kind` (tolerantly, see the crate doc); `None` when `kind` is not
    /// an `incident.*` kind.
    pub fn read(event_kind: &str, data: &Value) -> Option<IncidentEvent> {
        Some(match event_kind {
            kind::INCIDENT_OPENED => IncidentEvent::Opened(read(data)),
            kind::INCIDENT_ASSIGNED => IncidentEvent::Assigned(read(data)),
            kind::INCIDENT_TRIAGED => IncidentEvent::Triaged(read(data)),
            kind::INCIDENT_NOTED => IncidentEvent::Noted(read(data)),
            kind::INCIDENT_CONTAINED => IncidentEvent::Contained(read(data)),
            kind::INCIDENT_RESOLVED => IncidentEvent::Resolved(read(data)),
            kind::INCIDENT_LINKED => IncidentEvent::Linked(read(data)),
            k if k.starts_with(kind::INCIDENT_PREFIX) => IncidentEvent::Other(read(data)),
            _ => return None,
        })
    }

    pub fn incident_id(&self) -> &str {
        match self {
            IncidentEvent::Opened(e) => &e.incident_id,
            IncidentEvent::Assigned(e) => &e.incident_id,
            IncidentEvent::Triaged(e) => &e.incident_id,
            IncidentEvent::Noted(e) => &e.incident_id,
            IncidentEvent::Contained(e) => &e.incident_id,
            IncidentEvent::Resolved(e) => &e.incident_id,
            IncidentEvent::Linked(e) => &e.incident_id,
            IncidentEvent::Other(e) => &e.incident_id,
        }
    }

    /// The severity the event states (an `incident.linked` states its detection's).
    pub fn severity(&self) -> &str {
        match self {
            IncidentEvent::Opened(e) => &e.severity,
            IncidentEvent::Assigned(e) => &e.severity,
            IncidentEvent::Triaged(e) => &e.severity,
            IncidentEvent::Noted(e) => &e.severity,
            IncidentEvent::Contained(e) => &e.severity,
            IncidentEvent::Resolved(e) => &e.severity,
            IncidentEvent::Linked(e) => &e.severity,
            IncidentEvent::Other(e) => &e.severity,
        }
    }

    /// The incident's status after the event (`None` for an opening, which states none: it is
    /// `open`).
    pub fn status(&self) -> Option<&str> {
        match self {
            IncidentEvent::Opened(_) => None,
            IncidentEvent::Assigned(e) => Some(&e.status),
            IncidentEvent::Triaged(e) => Some(&e.status),
            IncidentEvent::Noted(e) => Some(&e.status),
            IncidentEvent::Contained(e) => Some(&e.status),
            IncidentEvent::Resolved(e) => Some(&e.status),
            IncidentEvent::Linked(e) => Some(&e.status),
            IncidentEvent::Other(e) => e.status.as_deref(),
        }
    }

    /// The note the event carries (triage and containment notes).
    pub fn note(&self) -> Option<&str> {
        match self {
            IncidentEvent::Triaged(e) => e.note.as_deref(),
            IncidentEvent::Contained(e) => e.note.as_deref(),
            _ => None,
        }
    }

    /// The title (openings only).
    pub fn title(&self) -> Option<&str> {
        match self {
            IncidentEvent::Opened(e) => Some(&e.title),
            _ => None,
        }
    }

    /// What was written about it in words: the writeup, a note's text, or a triage or
    /// containment note.
    pub fn text(&self) -> Option<&str> {
        match self {
            IncidentEvent::Resolved(e) => Some(&e.writeup),
            IncidentEvent::Noted(e) => Some(&e.text),
            _ => self.note(),
        }
    }

    /// The owner's user name and id after the event, when it has one.
    pub fn owner(&self) -> (Option<&str>, Option<&str>) {
        match self {
            IncidentEvent::Opened(_) => (None, None),
            IncidentEvent::Assigned(e) => (Some(&e.owner), Some(&e.owner_id)),
            IncidentEvent::Triaged(e) => (e.owner.as_deref(), e.owner_id.as_deref()),
            IncidentEvent::Noted(e) => (e.owner.as_deref(), e.owner_id.as_deref()),
            IncidentEvent::Contained(e) => (e.owner.as_deref(), e.owner_id.as_deref()),
            IncidentEvent::Resolved(e) => (e.owner.as_deref(), e.owner_id.as_deref()),
            IncidentEvent::Linked(e) => (e.owner.as_deref(), e.owner_id.as_deref()),
            IncidentEvent::Other(e) => (e.owner.as_deref(), e.owner_id.as_deref()),
        }
    }

    /// The id and the detector of the detection that opened the incident or was linked to it.
    pub fn detection(&self) -> (Option<&str>, Option<&str>) {
        match self {
            IncidentEvent::Opened(e) => (e.detection_id.as_deref(), e.detector.as_deref()),
            IncidentEvent::Linked(e) => (Some(&e.detection_id), Some(&e.detector)),
            _ => (None, None),
        }
    }

    /// The detection's summary (links only).
    pub fn summary(&self) -> Option<&str> {
        match self {
            IncidentEvent::Linked(e) => Some(&e.summary),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retype;
    use serde_json::json;

    #[test]
    fn an_opening_by_hand_and_by_the_detectors_keep_their_own_fields() {
        let manual = json!({"incident_id": "i", "title": "t", "severity": "low", "agent": null,
                            "summary": null, "linked_seqs": [], "source": "manual"});
        assert_eq!(retype(kind::INCIDENT_OPENED, &manual).expect("typed").expect("reads"), manual);
        let detected = json!({"incident_id": "i", "title": "t", "severity": "high", "agent": "agt",
                              "tool": "", "detector": "deny_spike", "detection_id": "det",
                              "detection_seq": 7, "linked_seqs": [7, 3], "source": "detector"});
        assert_eq!(retype(kind::INCIDENT_OPENED, &detected).expect("typed").expect("reads"), detected);
    }

    #[test]
    fn an_unknown_incident_kind_reads_its_common_fields_and_other_kinds_are_not_incidents() {
        let e = IncidentEvent::read(
            "incident.reopened",
            &json!({"incident_id": "i", "severity": "low",
                                                                 "status": "open", "owner": "ann"}),
        );
        let e = e.expect("an incident kind");
        assert_eq!((e.incident_id(), e.severity(), e.status()), ("i", "low", Some("open")));
        assert_eq!(e.owner(), (Some("ann"), None));
        assert!(IncidentEvent::read("killswitch.engaged", &json!({"incident_id": "i"})).is_none());
        let resolved =
            IncidentEvent::read(kind::INCIDENT_RESOLVED, &json!({"writeup": 3, "severity": "high"}));
        assert_eq!(resolved.expect("typed").text(), Some(""), "an odd writeup reads as empty");
    }
}
