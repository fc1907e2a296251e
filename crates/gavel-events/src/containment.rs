//! Containment and the agent lifecycle as the log records them: `killswitch.engaged` /
//! `killswitch.released`, `agent.registered` / `.suspended` / `.reactivated` / `.deactivated`
//! and `agent.limits_changed`, read back by the incident timeline, evidence analysis and
//! samples; and `pack.installed`.
//!
//! Invariants: those of the crate (byte for byte as written, read tolerantly, unknown fields kept
//! in `other`).

use crate::lenient;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `killswitch.engaged`: calls in a scope are denied until it is released.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct KillSwitchEngaged {
    /// `global`, `agent:<agent id>` or `tool:<name>`.
    #[serde(deserialize_with = "lenient")]
    pub scope: String,
    /// Who pulled it (user name).
    #[serde(deserialize_with = "lenient")]
    pub engaged_by: String,
    #[serde(deserialize_with = "lenient")]
    pub reason: String,
    /// The incident it contains (`null`: none named).
    #[serde(deserialize_with = "lenient")]
    pub incident_id: Option<String>,
    /// The held or approved calls it voided.
    #[serde(deserialize_with = "lenient")]
    pub voided_approvals: Vec<Value>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `killswitch.released`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct KillSwitchReleased {
    #[serde(deserialize_with = "lenient")]
    pub scope: String,
    #[serde(deserialize_with = "lenient")]
    pub released_by: String,
    #[serde(deserialize_with = "lenient")]
    pub reason: String,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `agent.registered`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AgentRegistered {
    #[serde(deserialize_with = "lenient")]
    pub agent_id: String,
    #[serde(deserialize_with = "lenient")]
    pub name: String,
    /// Who answers for it (empty: nobody named).
    #[serde(deserialize_with = "lenient")]
    pub owner: String,
    #[serde(deserialize_with = "lenient")]
    pub environment: String,
    #[serde(deserialize_with = "lenient")]
    pub tier: String,
    #[serde(deserialize_with = "lenient")]
    pub groups: Vec<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `agent.suspended`, `agent.reactivated`, `agent.deactivated`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AgentStatusChanged {
    #[serde(deserialize_with = "lenient")]
    pub agent_id: String,
    #[serde(deserialize_with = "lenient")]
    pub name: String,
    #[serde(deserialize_with = "lenient")]
    pub reason: String,
    /// The incident a suspension contains (absent: none named).
    #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "lenient")]
    pub incident_id: Option<String>,
    /// The held or approved calls a suspension or deactivation voided (absent from
    /// reactivations).
    #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "lenient")]
    pub voided_approvals: Option<Vec<Value>>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// An agent's limits as `agent.limits_changed` records them (`null`: unlimited).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AgentLimits {
    #[serde(deserialize_with = "lenient")]
    pub calls_per_minute: Option<u32>,
    #[serde(deserialize_with = "lenient")]
    pub cost_usd_per_day: Option<f64>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `agent.limits_changed`: an admin set an agent's rate limit and daily cost cap (both, whole).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AgentLimitsChanged {
    #[serde(deserialize_with = "lenient")]
    pub agent_id: String,
    #[serde(deserialize_with = "lenient")]
    pub name: String,
    /// The limits from now on.
    #[serde(deserialize_with = "lenient")]
    pub limits: AgentLimits,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{kind, retype};
    use serde_json::json;

    #[test]
    fn a_suspension_keeps_its_incident_and_voids_and_a_reactivation_has_neither() {
        let suspended = json!({"agent_id": "agt", "name": "bot", "reason": "r", "incident_id": "inc",
                               "voided_approvals": [{"approval_id": "apr"}]});
        assert_eq!(retype(kind::AGENT_SUSPENDED, &suspended).expect("typed").expect("reads"), suspended);
        let reactivated = json!({"agent_id": "agt", "name": "bot", "reason": "r"});
        assert_eq!(
            retype(kind::AGENT_REACTIVATED, &reactivated).expect("typed").expect("reads"),
            reactivated
        );
        let engaged = json!({"scope": "global", "engaged_by": "ann", "reason": "r", "incident_id": null,
                             "voided_approvals": []});
        assert_eq!(retype(kind::KILLSWITCH_ENGAGED, &engaged).expect("typed").expect("reads"), engaged);
    }

    #[test]
    fn limits_are_written_whole_with_null_for_unlimited() {
        // What the writer's `json!` wrote: both limits, `null` for the one not set.
        let changed = AgentLimitsChanged {
            agent_id: "agt_1".into(),
            name: "bot".into(),
            limits: AgentLimits { calls_per_minute: Some(60), cost_usd_per_day: None, ..Default::default() },
            other: Default::default(),
        };
        let old = json!({"agent_id": "agt_1", "name": "bot",
                         "limits": {"calls_per_minute": 60, "cost_usd_per_day": null}});
        assert_eq!(serde_json::to_value(&changed).unwrap(), old);
        let capped = json!({"agent_id": "agt_1", "name": "bot",
                            "limits": {"calls_per_minute": null, "cost_usd_per_day": 2.5}});
        assert_eq!(retype(kind::AGENT_LIMITS_CHANGED, &capped).expect("typed").expect("reads"), capped);
    }
}

/// `pack.installed`: a built-in policy pack installed as a new set, in observe mode.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PackInstalled {
    #[serde(deserialize_with = "lenient")]
    pub pack: String,
    #[serde(deserialize_with = "lenient")]
    pub pack_version: u32,
    /// The policy set it installed (its version 1).
    #[serde(deserialize_with = "lenient")]
    pub set_id: String,
    #[serde(deserialize_with = "lenient")]
    pub version: u32,
    /// SHA-256 of the set's text.
    #[serde(deserialize_with = "lenient")]
    pub sha256: String,
    #[serde(deserialize_with = "lenient")]
    pub mode: String,
    /// The installing admin's id.
    #[serde(deserialize_with = "lenient")]
    pub installed_by: String,
    /// How many tools the pack categorises.
    #[serde(deserialize_with = "lenient")]
    pub tools: u64,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}
