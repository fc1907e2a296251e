//! `gavel killswitch`: containment (SOC 2 CC7.4) over `/v1/killswitch`.
//!
//! An engaged switch denies every matching tool call from the next decision on, before any policy
//! runs, with a reason naming the switch, who pulled it and why. Scopes: `global` (every call),
//! `agent` (one agent, by id or name) and `tool` (one tool, for every agent). Pulling and releasing
//! are log events; the list keeps every switch ever pulled with who and why.

use crate::remote::{items, print_table, s, Remote};
use anyhow::bail;
use clap::Subcommand;
use gavel_core::containment::ScopeKind;
use serde_json::{json, Value};
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum KillSwitchCommand {
    /// List every kill switch ever pulled: engaged or released, by whom, when and why.
    List {
        /// Print {"items": [...]}.
        #[arg(long)]
        json: bool,
    },
    /// Pull a kill switch: matching calls are denied from the next decision on. Needs an admin or
    /// approver token.
    Engage {
        /// What the switch covers: every call, one agent, or one tool.
        #[arg(long, value_enum)]
        scope: ScopeKind,
        /// The agent (id or name) or tool the switch covers; not for --scope global.
        #[arg(long)]
        target: Option<String>,
        /// Why, for the record (required); decisions it denies quote it.
        #[arg(long)]
        reason: String,
        /// The incident this containment action belongs to.
        #[arg(long = "incident", value_name = "INCIDENT_ID")]
        incident: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Release an engaged kill switch: matching calls are decided by policy again. Needs an admin
    /// or approver token.
    Release {
        /// What the switch covers: every call, one agent, or one tool.
        #[arg(long, value_enum)]
        scope: ScopeKind,
        /// The agent (id or name) or tool of the switch; not for --scope global.
        #[arg(long)]
        target: Option<String>,
        /// Why, for the record.
        #[arg(long)]
        reason: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(remote: &Remote, cmd: KillSwitchCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        KillSwitchCommand::List { json } => {
            let list = remote.get("/v1/killswitch", &[])?;
            if json {
                crate::print_json(&list);
                return Ok(ExitCode::SUCCESS);
            }
            let rows: Vec<Vec<String>> = items(&list)
                .iter()
                .map(|k| {
                    vec![
                        s(&k["scope"]),
                        s(&k["target"]),
                        state(k).into(),
                        s(&k["engaged_by"]),
                        s(&k["engaged_at"]),
                        s(&k["released_by"]),
                        s(&k["released_at"]),
                        s(&k["incident_id"]),
                        s(&k["reason"]),
                    ]
                })
                .collect();
            if rows.is_empty() {
                println!("no kill switch has been pulled");
            } else {
                print_table(
                    &[
                        "SCOPE",
                        "TARGET",
                        "STATE",
                        "ENGAGED BY",
                        "ENGAGED AT",
                        "RELEASED BY",
                        "RELEASED AT",
                        "INCIDENT",
                        "REASON",
                    ],
                    &rows,
                );
            }
        }
        KillSwitchCommand::Engage { scope, target, reason, incident, json } => {
            check_target(scope, target.as_deref())?;
            if reason.trim().is_empty() {
                bail!("--reason must say why the kill switch is pulled");
            }
            let body = json!({"scope": scope, "target": target, "reason": reason,
                              "incident_id": incident});
            let switch = remote.post("/v1/killswitch", Some(body))?;
            if json {
                crate::print_json(&switch);
            } else {
                println!(
                    "engaged kill switch {} (by {}): matching tool calls are denied from the next decision on",
                    name(&switch),
                    s(&switch["engaged_by"])
                );
                println!("  reason:   {}", s(&switch["reason"]));
                if !switch["incident_id"].is_null() {
                    println!("  incident: {}", s(&switch["incident_id"]));
                }
            }
        }
        KillSwitchCommand::Release { scope, target, reason, json } => {
            check_target(scope, target.as_deref())?;
            let body = json!({"scope": scope, "target": target, "reason": reason});
            let switch = remote.post("/v1/killswitch/release", Some(body))?;
            if json {
                crate::print_json(&switch);
            } else {
                println!(
                    "released kill switch {} (by {}): matching tool calls are decided by policy again",
                    name(&switch),
                    s(&switch["released_by"])
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Says what is wrong before anything is sent.
pub(crate) fn check_target(scope: ScopeKind, target: Option<&str>) -> anyhow::Result<()> {
    let target = target.filter(|t| !t.trim().is_empty());
    match (scope, target) {
        (ScopeKind::Global, Some(_)) => bail!("--scope global takes no --target"),
        (ScopeKind::Agent, None) => bail!("--scope agent needs --target (an agent id or name)"),
        (ScopeKind::Tool, None) => bail!("--scope tool needs --target (a tool name)"),
        _ => Ok(()),
    }
}

/// `global`, `agent:agt_…` or `tool:send_email`.
fn name(switch: &Value) -> String {
    match switch["target"].as_str() {
        Some(t) => format!("{}:{t}", s(&switch["scope"])),
        None => s(&switch["scope"]),
    }
}

fn state(switch: &Value) -> &'static str {
    if switch["engaged"].as_bool() == Some(true) {
        "engaged"
    } else {
        "released"
    }
}
