//! Containment (SOC 2 CC7.4): kill switches, per-agent rate limits and daily cost caps,
//! checked on every decision before any policy runs.
//!
//! Invariants:
//! * the state lives in the store (`killswitches/<scope>`, the agent's limits, the recorded
//!   decisions), so it holds across restarts and replicas;
//! * pulling or releasing a switch and changing a limit are log events naming who and why;
//! * a breach denies the call, and the `decision` event carries a `containment` object saying
//!   which control fired — that event is the breach record detectors and incidents use.
//!
//! Kill switches are `global`, `agent:<id>` or `tool:<name>`, with who, why and optionally the
//! incident they were pulled under (see `incidents`). The rate limit counts the agent's recorded
//! decisions of the last minute that containment did not refuse; the cost cap sums, per UTC day,
//! the `cost_usd` of its calls allowed or held (a hold reserves budget). Counting is done against
//! recorded decisions, so concurrent calls racing at the limit may overshoot it by the number of
//! calls in flight; the overshoot is bounded and recorded.

use crate::error::{CoreError, Result};
use crate::identity::{Agent, Principal};
use crate::Gavel;
use gavel_events::kind;
use gavel_ledger::clock::format_time;
use gavel_store::docs::{DocKeys, DocQuery, Expect, StateOp};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use time::{Duration, OffsetDateTime, Time};

/// Decision field: 1 when the call counts toward its agent's rate limit (0 when containment
/// refused it).
pub const RATE_UNITS: &str = "rate_units";
/// Decision field: the cost the call committed against the daily cap — its `cost_usd` when it was
/// allowed or held for approval (a hold reserves budget: failing closed), else 0.
pub const SPENT_USD: &str = "spent_usd";

/// What a kill switch covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "scope", content = "target", rename_all = "snake_case")]
pub enum Scope {
    Global,
    Agent(String),
    Tool(String),
}

/// What a kill switch covers: every call, one agent's or one tool's (the `scope` of a request;
/// agent and tool switches also name a `target`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum ScopeKind {
    /// Every call.
    #[cfg_attr(feature = "clap", value(help = "Every tool call of every agent (no --target)"))]
    Global,
    /// Every call of one agent.
    #[cfg_attr(feature = "clap", value(help = "Every call of one agent: --target is its id or name"))]
    Agent,
    /// Every call of one tool, whichever agent.
    #[cfg_attr(
        feature = "clap",
        value(help = "Every call of one tool, whichever agent: --target is the tool name")
    )]
    Tool,
}

impl Scope {
    pub fn key(&self) -> String {
        match self {
            Scope::Global => "global".into(),
            Scope::Agent(id) => format!("agent:{id}"),
            Scope::Tool(t) => format!("tool:{t}"),
        }
    }

    /// The scope of a request: a global switch takes no target, an agent or tool switch needs one.
    pub fn of(kind: ScopeKind, target: Option<&str>) -> Result<Scope> {
        match (kind, target) {
            (ScopeKind::Global, None) => Ok(Scope::Global),
            (ScopeKind::Agent, Some(t)) if !t.is_empty() => Ok(Scope::Agent(t.into())),
            (ScopeKind::Tool, Some(t)) if !t.is_empty() => Ok(Scope::Tool(t.into())),
            (ScopeKind::Global, Some(_)) => {
                Err(CoreError::Invalid("a global kill switch takes no target".into()))
            }
            (ScopeKind::Agent, _) => {
                Err(CoreError::Invalid("an agent kill switch needs a target (agent id or name)".into()))
            }
            (ScopeKind::Tool, _) => {
                Err(CoreError::Invalid("a tool kill switch needs a target (tool name)".into()))
            }
        }
    }
}

/// A kill switch: its scope, whether it is engaged, who pulled and released it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct KillSwitch {
    #[serde(flatten)]
    pub scope: Scope,
    pub engaged: bool,
    pub engaged_by: Option<String>,
    pub engaged_at: Option<String>,
    pub reason: Option<String>,
    pub released_by: Option<String>,
    pub released_at: Option<String>,
    /// The incident this action was taken under, if any.
    pub incident_id: Option<String>,
}

/// Per-agent limits (absent = unlimited): stored with the agent, and the body of
/// `POST /v1/agents/{id}/limits`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    #[serde(default)]
    pub calls_per_minute: Option<u32>,
    #[serde(default)]
    pub cost_usd_per_day: Option<f64>,
}

impl Limits {
    /// The limits as `agent.limits_changed` records them.
    pub(crate) fn event(&self) -> gavel_events::AgentLimits {
        gavel_events::AgentLimits {
            calls_per_minute: self.calls_per_minute,
            cost_usd_per_day: self.cost_usd_per_day,
            other: Default::default(),
        }
    }

    pub fn validate(&self) -> Result<()> {
        if self.calls_per_minute == Some(0) {
            return Err(CoreError::Invalid(
                "calls_per_minute must be at least 1 (suspend the agent to stop it)".into(),
            ));
        }
        if let Some(c) = self.cost_usd_per_day {
            if !c.is_finite() || c < 0.0 {
                return Err(CoreError::Invalid("cost_usd_per_day must be a non-negative number".into()));
            }
        }
        Ok(())
    }
}

/// Why containment denied a call, recorded in the decision event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Breach {
    pub reason: String,
    pub containment: Value,
}

/// The kill switches that can stop a call of `agent` to `tool`, most general first.
pub(crate) fn switch_scopes(agent: &Agent, tool: &str) -> [Scope; 3] {
    [Scope::Global, Scope::Agent(agent.id.clone()), Scope::Tool(tool.into())]
}

fn day_start(t: OffsetDateTime) -> OffsetDateTime {
    t.replace_time(Time::MIDNIGHT)
}

impl Gavel {
    /// Every kill switch ever pulled, with who and why (readers).
    pub fn list_kill_switches(&self, by: &Principal) -> Result<Vec<KillSwitch>> {
        by.require_reader()?;
        self.kill_switches()
    }

    /// Every kill switch, unchecked: for the compliance scans.
    pub(crate) fn kill_switches(&self) -> Result<Vec<KillSwitch>> {
        self.all_docs("killswitches", 10_000)
    }

    /// Pulls a kill switch: every matching call is denied from the next decision on.
    pub fn engage_kill_switch(
        &self,
        by: &Principal,
        scope: Scope,
        reason: &str,
        incident_id: Option<&str>,
    ) -> Result<KillSwitch> {
        let user = by.require_user(&[crate::Role::Admin, crate::Role::Approver])?;
        if reason.trim().is_empty() {
            return Err(CoreError::Invalid("say why the kill switch is pulled (reason)".into()));
        }
        let scope = self.resolve_scope(scope)?;
        let existing = self.store.get_doc("killswitches", &scope.key())?;
        if existing.as_ref().is_some_and(|d| d.body["engaged"] == json!(true)) {
            return Err(CoreError::Conflict(format!("kill switch {} is already engaged", scope.key())));
        }
        let switch = KillSwitch {
            scope: scope.clone(),
            engaged: true,
            engaged_by: Some(user.name.clone()),
            engaged_at: Some(self.now()),
            reason: Some(reason.into()),
            released_by: None,
            released_at: None,
            incident_id: incident_id.map(str::to_string),
        };
        let expect = existing.map_or(Expect::Absent, |d| Expect::Version(d.version));
        let (agent_id, tool) = match &scope {
            Scope::Global => (None, None),
            Scope::Agent(id) => (Some(id.as_str()), None),
            Scope::Tool(t) => (None, Some(t.as_str())),
        };
        let (voids, voided) =
            self.void_approvals_ops(agent_id, tool, &format!("kill switch {} engaged", scope.key()))?;
        let data = crate::typed(&gavel_events::KillSwitchEngaged {
            scope: scope.key(),
            engaged_by: user.name.clone(),
            reason: reason.to_string(),
            incident_id: incident_id.map(str::to_string),
            voided_approvals: voided,
            other: Default::default(),
        })?;
        let mut ops = voids;
        ops.push(StateOp::put(
            "killswitches",
            &scope.key(),
            json!(switch),
            DocKeys { k1: Some("engaged".into()), ..Default::default() },
            expect,
        ));
        // Taken under an incident: the same event is an entry of its timeline.
        if let Some(id) = incident_id {
            let action = json!({"type": "kill_switch", "scope": scope.key(), "by": user.name});
            ops.extend(self.incident_link_ops(id, kind::KILLSWITCH_ENGAGED, by, action, &data)?);
        }
        self.record(kind::KILLSWITCH_ENGAGED, &by.actor(), data, ops)?;
        Ok(switch)
    }

    pub fn release_kill_switch(&self, by: &Principal, scope: Scope, reason: &str) -> Result<KillSwitch> {
        let user = by.require_user(&[crate::Role::Admin, crate::Role::Approver])?;
        let scope = self.resolve_scope(scope)?;
        let doc = self
            .store
            .get_doc("killswitches", &scope.key())?
            .filter(|d| d.body["engaged"] == json!(true))
            .ok_or_else(|| CoreError::Conflict(format!("kill switch {} is not engaged", scope.key())))?;
        let version = doc.version;
        let mut switch: KillSwitch = crate::from_doc(doc)?;
        switch.engaged = false;
        switch.released_by = Some(user.name.clone());
        switch.released_at = Some(self.now());
        let released = gavel_events::KillSwitchReleased {
            scope: scope.key(),
            released_by: user.name.clone(),
            reason: reason.to_string(),
            other: Default::default(),
        };
        self.record(
            kind::KILLSWITCH_RELEASED,
            &by.actor(),
            crate::typed(&released)?,
            vec![StateOp::put(
                "killswitches",
                &scope.key(),
                json!(switch),
                DocKeys { k1: Some("released".into()), ..Default::default() },
                Expect::Version(version),
            )],
        )?;
        Ok(switch)
    }

    /// Agent scopes are stored by agent id, whatever name the caller used.
    fn resolve_scope(&self, scope: Scope) -> Result<Scope> {
        Ok(match scope {
            Scope::Agent(a) => Scope::Agent(self.agent(&a)?.id),
            other => other,
        })
    }

    pub fn set_limits(&self, by: &Principal, agent: &str, limits: Limits) -> Result<Agent> {
        by.require_admin()?;
        limits.validate()?;
        let (mut a, version) = self.agent_versioned(agent)?;
        let changed = gavel_events::AgentLimitsChanged {
            agent_id: a.id.clone(),
            name: a.name.clone(),
            limits: limits.event(),
            other: Default::default(),
        };
        a.limits = limits;
        self.record(
            kind::AGENT_LIMITS_CHANGED,
            &by.actor(),
            crate::typed(&changed)?,
            vec![self.agent_op(&a, Expect::Version(version))],
        )?;
        Ok(a)
    }

    /// The first containment control that stops this call, if any.
    /// `switches` are the kill-switch documents of [`switch_scopes`], read by the caller.
    pub(crate) fn containment_breach(
        &self,
        agent: &Agent,
        tool: &str,
        cost_usd: Option<f64>,
        now: OffsetDateTime,
        switches: &[Option<gavel_store::docs::Doc>],
    ) -> Result<Option<Breach>> {
        for (scope, doc) in switch_scopes(agent, tool).into_iter().zip(switches) {
            if let Some(doc) = doc {
                if doc.body["engaged"] == json!(true) {
                    let by = doc.body["engaged_by"].as_str().unwrap_or("?");
                    let why = doc.body["reason"].as_str().unwrap_or("");
                    return Ok(Some(Breach {
                        reason: format!("kill switch {} engaged by {by}: {why}", scope.key()),
                        containment: json!({"type": "kill_switch", "scope": scope.key(), "engaged_by": by, "reason": why}),
                    }));
                }
            }
        }
        if let Some(limit) = agent.limits.calls_per_minute {
            let mut q = DocQuery::new("decisions", 0);
            q.k1 = Some(agent.id.clone());
            q.since = Some(format_time(now - Duration::minutes(1)));
            // Calls refused by containment do not use up the allowance: an agent that keeps
            // calling too fast is held to its rate, not locked out.
            let count = self.store.sum_docs(&q, RATE_UNITS)? as u64;
            if count >= u64::from(limit) {
                return Ok(Some(Breach {
                    reason: format!(
                        "rate limit exceeded: {count} calls in the last minute (limit {limit}/min)"
                    ),
                    containment: json!({"type": "rate_limit", "limit_per_minute": limit, "calls_last_minute": count}),
                }));
            }
        }
        if let Some(cap) = agent.limits.cost_usd_per_day {
            let mut q = DocQuery::new("decisions", 0);
            q.k1 = Some(agent.id.clone());
            q.since = Some(format_time(day_start(now)));
            let spent = self.store.sum_docs(&q, SPENT_USD)?;
            let this = cost_usd.unwrap_or(0.0);
            if spent + this > cap {
                return Ok(Some(Breach {
                    reason: format!("daily cost cap exceeded: spent ${spent:.2} today, this call ${this:.2}, cap ${cap:.2}"),
                    containment: json!({"type": "cost_cap", "cap_usd_per_day": cap, "spent_usd_today": spent, "call_cost_usd": this}),
                }));
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `agent.limits_changed` embedded the limits whole (`json!(limits)`): the event form must be
    /// the same JSON, `null` for a limit not set.
    #[test]
    fn limits_are_recorded_in_their_serde_form() {
        for limits in [
            Limits::default(),
            Limits { calls_per_minute: Some(1000), cost_usd_per_day: None },
            Limits { calls_per_minute: None, cost_usd_per_day: Some(2.5) },
            Limits { calls_per_minute: Some(1), cost_usd_per_day: Some(10.0) },
        ] {
            assert_eq!(crate::typed(&limits.event()).unwrap(), json!(limits));
        }
    }
}
