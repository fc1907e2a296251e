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

use crate::remote::{items, print_table, s, seg, Remote};
use crate::users::print_token;
use anyhow::bail;
use clap::{ArgGroup, Subcommand};
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
            let agent = remote.post("/v1/agents", Some(body))?;
            if json {
                crate::print_json(&agent);
            } else {
                println!("registered agent {} ({})", s(&agent["name"]), s(&agent["id"]));
                print_details(&agent);
                print_token(&agent);
            }
        }
        AgentsCommand::List { json } => {
            let list = remote.get("/v1/agents", &[])?;
            if json {
                crate::print_json(&list);
            } else {
                let rows: Vec<Vec<String>> = items(&list)
                    .iter()
                    .map(|a| {
                        ["id", "name", "status", "environment", "tier", "groups", "owner"]
                            .iter()
                            .map(|k| s(&a[*k]))
                            .collect()
                    })
                    .collect();
                print_table(&["ID", "NAME", "STATUS", "ENVIRONMENT", "TIER", "GROUPS", "OWNER"], &rows);
            }
        }
        AgentsCommand::Show { id, json } => {
            let agent = remote.get(&format!("/v1/agents/{}", seg(&id)?), &[])?;
            if json {
                crate::print_json(&agent);
            } else {
                println!("agent {} ({})", s(&agent["name"]), s(&agent["id"]));
                print_details(&agent);
            }
        }
        AgentsCommand::Deactivate { id, reason, json } => {
            let path = format!("/v1/agents/{}/deactivate", seg(&id)?);
            let agent = remote.post(&path, Some(json!({"reason": reason})))?;
            if json {
                crate::print_json(&agent);
            } else {
                println!(
                    "deactivated agent {} ({}): its tool calls are denied and recorded from now on",
                    s(&agent["name"]),
                    s(&agent["id"])
                );
            }
        }
        AgentsCommand::Rotate { id, json } => {
            let agent = remote.post(&format!("/v1/agents/{}/rotate", seg(&id)?), None)?;
            if json {
                crate::print_json(&agent);
            } else {
                println!(
                    "issued a new token for agent {} ({}); the old one is revoked",
                    s(&agent["name"]),
                    s(&agent["id"])
                );
                print_token(&agent);
            }
        }
        AgentsCommand::Suspend { id, reason, incident, json } => {
            let path = format!("/v1/agents/{}/suspend", seg(&id)?);
            let mut body = json!({"reason": reason});
            if let Some(incident) = incident {
                body["incident_id"] = json!(incident);
            }
            let agent = remote.post(&path, Some(body))?;
            if json {
                crate::print_json(&agent);
            } else {
                println!(
                    "suspended agent {} ({}): its tool calls are denied and recorded until it is reactivated",
                    s(&agent["name"]),
                    s(&agent["id"])
                );
            }
        }
        AgentsCommand::Reactivate { id, reason, json } => {
            let path = format!("/v1/agents/{}/reactivate", seg(&id)?);
            let agent = remote.post(&path, Some(json!({"reason": reason})))?;
            if json {
                crate::print_json(&agent);
            } else {
                println!(
                    "reactivated agent {} ({}): its tool calls are decided by policy again",
                    s(&agent["name"]),
                    s(&agent["id"])
                );
            }
        }
        AgentsCommand::Limits { id, calls_per_minute, cost_usd_per_day, unlimited: _, json } => {
            let path = format!("/v1/agents/{}/limits", seg(&id)?);
            let agent = remote.post(&path, Some(limits_body(calls_per_minute, cost_usd_per_day)?))?;
            if json {
                crate::print_json(&agent);
            } else {
                println!(
                    "agent {} ({}) limits: {}",
                    s(&agent["name"]),
                    s(&agent["id"]),
                    describe_limits(&agent["limits"])
                );
            }
        }
        AgentsCommand::Inventory { json } => {
            let list = remote.get("/v1/agents/inventory", &[])?;
            if json {
                crate::print_json(&list);
                return Ok(ExitCode::SUCCESS);
            }
            let rows: Vec<Vec<String>> = items(&list)
                .iter()
                .map(|row| {
                    let a = &row["agent"];
                    let n = |k: &str| s(&row["by_outcome"][k]);
                    vec![
                        s(&a["name"]),
                        s(&a["status"]),
                        s(&a["owner"]),
                        s(&a["environment"]),
                        s(&row["first_seen"]),
                        s(&row["last_seen"]),
                        s(&row["decisions"]),
                        n("allow"),
                        n("deny"),
                        n("require_approval"),
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
    Ok(json!({"calls_per_minute": calls_per_minute, "cost_usd_per_day": cost_usd_per_day}))
}

/// "2 calls/min, $1.5/day", or "none (unlimited)".
fn describe_limits(limits: &Value) -> String {
    let mut parts = Vec::new();
    if let Some(n) = limits["calls_per_minute"].as_u64() {
        parts.push(format!("{n} calls/min"));
    }
    if let Some(c) = limits["cost_usd_per_day"].as_f64() {
        parts.push(format!("${c}/day"));
    }
    if parts.is_empty() {
        "none (unlimited)".into()
    } else {
        parts.join(", ")
    }
}

fn print_details(agent: &Value) {
    println!("  status:      {}", s(&agent["status"]));
    println!("  owner:       {}", s(&agent["owner"]));
    println!("  environment: {}", s(&agent["environment"]));
    println!("  tier:        {}", s(&agent["tier"]));
    println!("  groups:      {}", s(&agent["groups"]));
    println!("  limits:      {}", describe_limits(&agent["limits"]));
    println!("  created:     {} by {}", s(&agent["created_at"]), s(&agent["created_by"]));
}
