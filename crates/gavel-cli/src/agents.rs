//! `gavel agents`: the AI agents whose tool calls gavel decides, over `/v1/agents`.
//!
//! An agent's groups, environment, owner and tier are what policies see as the principal; they are
//! set at registration. Tokens are printed once, when issued.

use crate::remote::{items, print_table, s, seg, Remote};
use crate::users::print_token;
use clap::Subcommand;
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
        /// Print the server's object: id, name, groups, ..., token.
        #[arg(long)]
        json: bool,
    },
    /// List every agent.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show one agent.
    Show {
        /// Agent id or name.
        id: String,
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
        #[arg(long)]
        json: bool,
    },
    /// Issue a new token for an agent and revoke the old one. Needs an admin token.
    Rotate {
        /// Agent id or name.
        id: String,
        #[arg(long)]
        json: bool,
    },
}

pub fn run(remote: &Remote, cmd: AgentsCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        AgentsCommand::Create { name, groups, environment, owner, tier, json } => {
            let body = json!({"name": name, "groups": groups, "environment": environment,
                              "owner": owner, "tier": tier});
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
    }
    Ok(ExitCode::SUCCESS)
}

fn print_details(agent: &Value) {
    println!("  status:      {}", s(&agent["status"]));
    println!("  owner:       {}", s(&agent["owner"]));
    println!("  environment: {}", s(&agent["environment"]));
    println!("  tier:        {}", s(&agent["tier"]));
    println!("  groups:      {}", s(&agent["groups"]));
    println!("  created:     {} by {}", s(&agent["created_at"]), s(&agent["created_by"]));
}
