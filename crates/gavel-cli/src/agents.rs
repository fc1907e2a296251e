//! `gavel agents`: the AI agents whose tool calls gavel decides, over `/v1/agents`.
//!
//! An agent's groups, environment, owner and tier are what policies see as the principal; they are
//! set at registration. Tokens are printed once, when issued.
//!
//! Lifecycle and containment: `suspend` stops an agent for now (its calls are denied and
//! recorded) and `reactivate` lets it call again; `deactivate` is final. `limits` sets a
//! per-minute rate limit and a daily cost cap, checked on every decision before any policy runs.
//! `inventory` is the CC6.1 list: every agent with when it was first and last seen and what was
//! decided for it.

use crate::remote::{print_table, s, seg, show, Remote};
use crate::users::print_token;
use anyhow::bail;
use clap::{ArgGroup, Subcommand};
use gavel_core::containment::Limits;
use gavel_core::identity::InventoryEntry;
use gavel_core::{Agent, Issued};
use gavel_server::openapi::List;
use serde_json::{json, Value};
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum AgentsCommand {
    /// Register an agent and print its token (shown once). Needs an admin token.
    Create {
        /// Unique name: letters, digits, '-', '_', '.', '@'.
        name: String,
        /// A group the agent belongs to (Cedar `AgentGroup`); repeat for several.
        #[arg(long = "group", value_name = "GROUP")]
        groups: Vec<String>,
        /// Where the agent runs (default on the server: development).
        #[arg(long)]
        environment: Option<String>,
        /// The accountable human or team (default on the server: the calling admin).
        #[arg(long)]
        owner: Option<String>,
        /// Risk tier (default on the server: standard).
        #[arg(long)]
        tier: Option<String>,
        /// Rate limit: calls beyond this many in the last minute are denied (default: unlimited).
        #[arg(long, value_name = "N")]
        calls_per_minute: Option<u32>,
        /// Daily cost cap in US dollars: calls whose `--cost-usd` would take today's allowed total
        /// above it are denied (default: unlimited).
        #[arg(long, value_name = "USD")]
        cost_usd_per_day: Option<f64>,
        /// Print the server's object: id, name, groups, ..., token.
        #[arg(long)]
        json: bool,
    },
    /// List every agent.
    List {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Show one agent.
    Show {
        /// Agent id or name.
        id: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Deactivate an agent: its calls are denied (and recorded) from now on. Needs an admin token.
    Deactivate {
        /// Agent id or name.
        id: String,
        /// Why, for the record.
        #[arg(long)]
        reason: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Issue a new token for an agent and revoke the old one. Needs an admin token.
    Rotate {
        /// Agent id or name.
        id: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Suspend an agent: its calls are denied (and recorded) until it is reactivated. Needs an
    /// admin token.
    Suspend {
        /// Agent id or name.
        id: String,
        /// Why, for the record.
        #[arg(long)]
        reason: Option<String>,
        /// The incident this containment action belongs to (linked to its timeline).
        #[arg(long = "incident", value_name = "INCIDENT_ID")]
        incident: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Reactivate a suspended agent: its calls are decided by policy again. Needs an admin token.
    Reactivate {
        /// Agent id or name.
        id: String,
        /// Why, for the record.
        #[arg(long)]
        reason: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Set an agent's rate limit and daily cost cap. Both are replaced: a limit not given is
    /// removed (unlimited); `--unlimited` removes both. Needs an admin token.
    #[command(group(ArgGroup::new("limit").required(true).multiple(true)
        .args(["calls_per_minute", "cost_usd_per_day", "unlimited"])))]
    Limits {
        /// Agent id or name.
        id: String,
        /// Calls beyond this many in the last minute are denied (at least 1; suspend the agent to
        /// stop it).
        #[arg(long, value_name = "N")]
        calls_per_minute: Option<u32>,
        /// Calls whose cost would take today's allowed total above this many US dollars are denied.
        #[arg(long, value_name = "USD")]
        cost_usd_per_day: Option<f64>,
        /// Remove both limits.
        #[arg(long, conflicts_with_all = ["calls_per_minute", "cost_usd_per_day"])]
        unlimited: bool,
        /// Print the agent with its new limits.
        #[arg(long)]
        json: bool,
    },
    /// Every agent with its status, owner, environment, first and last decision, and decision
    /// counts by outcome (SOC 2 CC6.1).
    Inventory {
        /// Print {"items": [{"agent", "first_seen", "last_seen", "decisions", "by_outcome"}]}.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(remote: &Remote, cmd: AgentsCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        AgentsCommand::Create {
            name,
            groups,
            environment,
            owner,
            tier,
            calls_per_minute,
            cost_usd_per_day,
            json,
        } => {
            let mut body = json!({"name": name, "groups": groups, "environment": environment,
                                  "owner": owner, "tier": tier});
            if calls_per_minute.is_some() || cost_usd_per_day.is_some() {
                body["limits"] = limits_body(calls_per_minute, cost_usd_per_day)?;
            }
            show(remote.post("/v1/agents", Some(body))?, json, |agent: &Issued<Agent>| {
                let a = &agent.principal;
                println!("registered agent {} ({})", s(&a.name), s(&a.id));
                print_details(a);
                print_token(&agent.token);
            })?;
        }
        AgentsCommand::List { json } => {
            show(remote.get("/v1/agents", &[])?, json, |list: &List<Agent>| {
                let rows: Vec<Vec<String>> = list
                    .items
                    .iter()
                    .map(|a| {
                        vec![
                            s(&a.id),
                            s(&a.name),
                            s(&a.status),
                            s(&a.environment),
                            s(&a.tier),
                            s(&a.groups),
                            s(&a.owner),
                        ]
                    })
                    .collect();
                print_table(&["ID", "NAME", "STATUS", "ENVIRONMENT", "TIER", "GROUPS", "OWNER"], &rows);
            })?;
        }
        AgentsCommand::Show { id, json } => {
            show(remote.get(&format!("/v1/agents/{}", seg(&id)?), &[])?, json, |a: &Agent| {
                println!("agent {} ({})", s(&a.name), s(&a.id));
                print_details(a);
            })?;
        }
        AgentsCommand::Deactivate { id, reason, json } => {
            let path = format!("/v1/agents/{}/deactivate", seg(&id)?);
            show(remote.post(&path, Some(json!({"reason": reason})))?, json, |a: &Agent| {
                println!(
                    "deactivated agent {} ({}): its tool calls are denied and recorded from now on",
                    s(&a.name),
                    s(&a.id)
                );
            })?;
        }
        AgentsCommand::Rotate { id, json } => {
            let answer = remote.post(&format!("/v1/agents/{}/rotate", seg(&id)?), None)?;
            show(answer, json, |agent: &Issued<Agent>| {
                let a = &agent.principal;
                println!(
                    "issued a new token for agent {} ({}); the old one is revoked",
                    s(&a.name),
                    s(&a.id)
                );
                print_token(&agent.token);
            })?;
        }
        AgentsCommand::Suspend { id, reason, incident, json } => {
            let path = format!("/v1/agents/{}/suspend", seg(&id)?);
            let mut body = json!({"reason": reason});
            if let Some(incident) = incident {
                body["incident_id"] = json!(incident);
            }
            show(remote.post(&path, Some(body))?, json, |a: &Agent| {
                println!(
                    "suspended agent {} ({}): its tool calls are denied and recorded until it is reactivated",
                    s(&a.name),
                    s(&a.id)
                );
            })?;
        }
        AgentsCommand::Reactivate { id, reason, json } => {
            let path = format!("/v1/agents/{}/reactivate", seg(&id)?);
            show(remote.post(&path, Some(json!({"reason": reason})))?, json, |a: &Agent| {
                println!(
                    "reactivated agent {} ({}): its tool calls are decided by policy again",
                    s(&a.name),
                    s(&a.id)
                );
            })?;
        }
        AgentsCommand::Limits { id, calls_per_minute, cost_usd_per_day, unlimited: _, json } => {
            let path = format!("/v1/agents/{}/limits", seg(&id)?);
            let answer = remote.post(&path, Some(limits_body(calls_per_minute, cost_usd_per_day)?))?;
            show(answer, json, |a: &Agent| {
                println!("agent {} ({}) limits: {}", s(&a.name), s(&a.id), describe_limits(&a.limits));
            })?;
        }
        AgentsCommand::Inventory { json } => {
            show(remote.get("/v1/agents/inventory", &[])?, json, |list: &List<InventoryEntry>| {
                let rows: Vec<Vec<String>> = list
                    .items
                    .iter()
                    .map(|row| {
                        let a = &row.agent;
                        vec![
                            s(&a.name),
                            s(&a.status),
                            s(&a.owner),
                            s(&a.environment),
                            s(&row.first_seen),
                            s(&row.last_seen),
                            s(&row.decisions),
                            s(&row.by_outcome.allow),
                            s(&row.by_outcome.deny),
                            s(&row.by_outcome.require_approval),
                        ]
                    })
                    .collect();
                if rows.is_empty() {
                    println!("no agents registered");
                } else {
                    print_table(
                        &[
                            "NAME",
                            "STATUS",
                            "OWNER",
                            "ENVIRONMENT",
                            "FIRST SEEN",
                            "LAST SEEN",
                            "TOTAL",
                            "ALLOW",
                            "DENY",
                            "REQUIRE_APPROVAL",
                        ],
                        &rows,
                    );
                }
            })?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `{"calls_per_minute", "cost_usd_per_day"}`, refusing a cost JSON cannot carry (NaN would be
/// sent as null, i.e. silently unlimited).
fn limits_body(calls_per_minute: Option<u32>, cost_usd_per_day: Option<f64>) -> anyhow::Result<Value> {
    if let Some(cost) = cost_usd_per_day {
        if !cost.is_finite() || cost < 0.0 {
            bail!("--cost-usd-per-day must be a non-negative number");
        }
    }
    Ok(json!(Limits { calls_per_minute, cost_usd_per_day }))
}

/// "2 calls/min, $1.5/day", or "none (unlimited)".
fn describe_limits(limits: &Limits) -> String {
    let mut parts = Vec::new();
    if let Some(n) = limits.calls_per_minute {
        parts.push(format!("{n} calls/min"));
    }
    if let Some(c) = limits.cost_usd_per_day {
        parts.push(format!("${c}/day"));
    }
    if parts.is_empty() {
        "none (unlimited)".into()
    } else {
        parts.join(", ")
    }
}

fn print_details(agent: &Agent) {
    println!("  status:      {}", s(&agent.status));
    println!("  owner:       {}", s(&agent.owner));
    println!("  environment: {}", s(&agent.environment));
    println!("  tier:        {}", s(&agent.tier));
    println!("  groups:      {}", s(&agent.groups));
    println!("  limits:      {}", describe_limits(&agent.limits));
    println!("  created:     {} by {}", s(&agent.created_at), s(&agent.created_by));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_read_as_the_json_said() {
        let limits = |v: Value| describe_limits(&serde_json::from_value(v).unwrap());
        assert_eq!(limits(json!({})), "none (unlimited)");
        assert_eq!(limits(json!({"calls_per_minute": 2, "cost_usd_per_day": 1.5})), "2 calls/min, $1.5/day");
        assert_eq!(limits(json!({"calls_per_minute": null, "cost_usd_per_day": 2.0})), "$2/day");
    }
}
