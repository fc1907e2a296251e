//! `gavel killswitch`: containment (SOC 2 CC7.4) over `/v1/killswitch`.
//!
//! An engaged switch denies every matching tool call from the next decision on, before any policy
//! runs, with a reason naming the switch, who pulled it and why. Scopes: `global` (every call),
//! `agent` (one agent, by id or name) and `tool` (one tool, for every agent). Pulling and releasing
//! are log events; the list keeps every switch ever pulled with who and why.

use crate::remote::{print_table, s, show, Remote};
use anyhow::bail;
use clap::Subcommand;
use gavel_core::containment::{KillSwitch, Scope, ScopeKind};
use gavel_server::openapi::List;
use serde_json::json;
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
            show(remote.get("/v1/killswitch", &[])?, json, |list: &List<KillSwitch>| {
                let rows: Vec<Vec<String>> = list
                    .items
                    .iter()
                    .map(|k| {
                        let (kind, target) = parts(&k.scope);
                        vec![
                            s(&kind),
                            s(&target),
                            state(k).into(),
                            s(&k.engaged_by),
                            s(&k.engaged_at),
                            s(&k.released_by),
                            s(&k.released_at),
                            s(&k.incident_id),
                            s(&k.reason),
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
            })?;
        }
        KillSwitchCommand::Engage { scope, target, reason, incident, json } => {
            check_target(scope, target.as_deref())?;
            if reason.trim().is_empty() {
                bail!("--reason must say why the kill switch is pulled");
            }
            let body = json!({"scope": scope, "target": target, "reason": reason,
                              "incident_id": incident});
            show(remote.post("/v1/killswitch", Some(body))?, json, |switch: &KillSwitch| {
                println!(
                    "engaged kill switch {} (by {}): matching tool calls are denied from the next decision on",
                    switch.scope.key(),
                    s(&switch.engaged_by)
                );
                println!("  reason:   {}", s(&switch.reason));
                if let Some(incident) = &switch.incident_id {
                    println!("  incident: {}", s(incident));
                }
            })?;
        }
        KillSwitchCommand::Release { scope, target, reason, json } => {
            check_target(scope, target.as_deref())?;
            let body = json!({"scope": scope, "target": target, "reason": reason});
            show(remote.post("/v1/killswitch/release", Some(body))?, json, |switch: &KillSwitch| {
                println!(
                    "released kill switch {} (by {}): matching tool calls are decided by policy again",
                    switch.scope.key(),
                    s(&switch.released_by)
                );
            })?;
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

/// A switch's scope as the API writes it: its kind and, for agent and tool switches, the target.
fn parts(scope: &Scope) -> (ScopeKind, Option<&str>) {
    match scope {
        Scope::Global => (ScopeKind::Global, None),
        Scope::Agent(agent) => (ScopeKind::Agent, Some(agent)),
        Scope::Tool(tool) => (ScopeKind::Tool, Some(tool)),
    }
}

fn state(switch: &KillSwitch) -> &'static str {
    if switch.engaged {
        "engaged"
    } else {
        "released"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_print_as_the_json_wrote_them() {
        for (json, kind, target, key) in [
            (json!({"scope": "global"}), "global", "-", "global"),
            (json!({"scope": "agent", "target": "agt_1"}), "agent", "agt_1", "agent:agt_1"),
            (json!({"scope": "tool", "target": "send_email"}), "tool", "send_email", "tool:send_email"),
        ] {
            let scope: Scope = serde_json::from_value(json).unwrap();
            let (k, t) = parts(&scope);
            assert_eq!((s(&k), s(&t), scope.key()), (kind.to_string(), target.to_string(), key.to_string()));
        }
    }
}
