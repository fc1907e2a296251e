//! `gavel policy`: versioned Cedar policy sets under two-person change control, over
//! `/v1/policies`.
//!
//! Proposing, rolling back (`activate --version N`), deactivating and going live each open a
//! *pending change*; nothing is enforced until a different admin approves it with
//! `gavel policy approve`. The commands say so, because a proposal that silently waits is the most
//! likely surprise for an operator.

use crate::remote::{print_table, read, s, seg, show, Remote};
use anyhow::{bail, Context};
use clap::Subcommand;
use gavel_core::explain::{Explanation, FiredPolicy};
use gavel_core::policies::{
    ChangeAction, ChangeStatus, PolicyChange, PolicyHistory, PolicySet, PolicyVersion,
};
use gavel_policy::Mode;
use gavel_server::openapi::List;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum PolicyCommand {
    /// Dry run: what a call by an agent would get now, and the text of each policy that decides
    /// it (and whether a kill switch or limit would refuse it first). Nothing is recorded.
    Explain {
        /// The agent, by id or name.
        #[arg(long)]
        agent: String,
        /// Tool name of the call to explain.
        #[arg(long)]
        tool: String,
        /// The call's arguments as a JSON object.
        #[arg(long = "args", value_name = "JSON")]
        arguments: Option<String>,
        /// The call's cost in USD (context.cost_usd).
        #[arg(long)]
        cost_usd: Option<f64>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Propose new Cedar text for a policy set (created if new). Opens a pending change that a
    /// different admin must approve. Needs an admin token.
    Propose {
        /// Policy set id, e.g. `support-agents`.
        set_id: String,
        /// The Cedar policy file; it is validated against `gavel policy schema`.
        #[arg(long)]
        file: PathBuf,
        /// Mode of a new set (default enforce); ignored by the server for an existing set.
        #[arg(long, value_enum)]
        mode: Option<Mode>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Approve and apply a pending change. The approver must be an admin other than its proposer.
    Approve {
        /// The change id (chg_…, from `gavel policy changes`).
        change_id: String,
        /// Why (recorded with the decision on the change).
        #[arg(long)]
        comment: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Reject a pending change (any admin, including its proposer withdrawing it).
    Reject {
        /// The change id (chg_…, from `gavel policy changes`).
        change_id: String,
        /// Why (recorded with the decision on the change).
        #[arg(long)]
        comment: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Propose putting an existing version in force: a rollback when it is an earlier one.
    Activate {
        /// The policy set id.
        set_id: String,
        /// The stored version to make active (a pending change).
        #[arg(long)]
        version: u32,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Propose taking a policy set out of force.
    Deactivate {
        /// The policy set id.
        set_id: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List the policy sets with their mode and active version.
    List {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List change requests, newest first.
    Changes {
        /// Only changes with this status.
        #[arg(long, value_enum)]
        status: Option<ChangeStatus>,
        /// Only the changes of this policy set.
        #[arg(long = "set", value_name = "SET_ID")]
        set_id: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Every version of a set (sha256, author, time) and every change with who proposed and who
    /// approved it, and when.
    History {
        /// The policy set id.
        set_id: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Print the Cedar text of a version (default: the active one).
    Show {
        /// The policy set id.
        set_id: String,
        /// A stored version (default: the active one).
        #[arg(long)]
        version: Option<u32>,
        /// Print the version object (text, sha256, author, created_at, source).
        #[arg(long)]
        json: bool,
    },
    /// Unified diff between two versions of a set.
    Diff {
        /// The policy set id.
        set_id: String,
        /// The older version.
        #[arg(long)]
        from: u32,
        /// The newer version.
        #[arg(long)]
        to: u32,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Print the Cedar schema policies are validated against (needs no token).
    Schema {
        /// Print `{"schema": "<text>"}`.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(remote: &Remote, cmd: PolicyCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        PolicyCommand::Propose { set_id, file, mode, json } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read policy file {}", file.display()))?;
            let mut body = json!({"set_id": set_id, "text": text});
            if let Some(mode) = mode {
                body["mode"] = json!(mode);
            }
            let change = remote.post("/v1/policies", Some(body)).map_err(|e| {
                match e.downcast::<crate::remote::ApiFailure>() {
                    // Validation errors name a line and column; say of which file.
                    Ok(mut f) if f.status == 400 => {
                        f.message = format!("{}: {}", file.display(), f.message);
                        anyhow::Error::new(f)
                    }
                    Ok(f) => anyhow::Error::new(f),
                    Err(e) => e,
                }
            })?;
            show(change, json, |change: &PolicyChange| {
                println!(
                    "proposed version {} of policy set {} (sha256 {})",
                    s(&change.version),
                    s(&change.set_id),
                    s(&change.sha256)
                );
                print_pending(change);
            })?;
        }
        PolicyCommand::Approve { change_id, comment, json } => {
            let path = format!("/v1/policies/changes/{}/approve", seg(&change_id)?);
            let answer = remote.post(&path, Some(json!({"comment": comment})))?;
            if json {
                crate::print_json(&answer);
            } else {
                let change: PolicyChange = read(answer)?;
                println!(
                    "approved change {} ({}) proposed by {}: applied",
                    s(&change.id),
                    describe(&change),
                    s(&change.proposed_by_name)
                );
                // Say what is in force now: that is what the approver is accountable for.
                let set = remote.get(&format!("/v1/policies/{}", seg(&change.set_id)?), &[]).and_then(read);
                if let Ok(set) = set {
                    println!("{}", set_summary(&set));
                }
            }
        }
        PolicyCommand::Reject { change_id, comment, json } => {
            let path = format!("/v1/policies/changes/{}/reject", seg(&change_id)?);
            show(remote.post(&path, Some(json!({"comment": comment})))?, json, |change: &PolicyChange| {
                println!("rejected change {} ({}); nothing changed", s(&change.id), describe(change));
            })?;
        }
        PolicyCommand::Activate { set_id, version, json } => {
            let path = format!("/v1/policies/{}/activate", seg(&set_id)?);
            show(remote.post(&path, Some(json!({"version": version})))?, json, print_pending)?;
        }
        PolicyCommand::Deactivate { set_id, json } => {
            let change = remote.post(&format!("/v1/policies/{}/deactivate", seg(&set_id)?), None)?;
            show(change, json, print_pending)?;
        }
        PolicyCommand::List { json } => {
            show(remote.get("/v1/policies", &[])?, json, |list: &List<PolicySet>| {
                if list.items.is_empty() {
                    println!("no policy sets: every call is allowed in permissive mode and recorded");
                } else {
                    let rows: Vec<Vec<String>> = list
                        .items
                        .iter()
                        .map(|p| {
                            vec![
                                s(&p.set_id),
                                s(&p.mode),
                                s(&p.active_version),
                                s(&p.latest_version),
                                s(&p.pack),
                            ]
                        })
                        .collect();
                    print_table(&["SET", "MODE", "ACTIVE", "LATEST", "PACK"], &rows);
                }
            })?;
        }
        PolicyCommand::Changes { status, set_id, json } => {
            let mut query = Vec::new();
            if let Some(status) = status {
                query.push(("status", crate::remote::wire_name(&status)));
            }
            if let Some(set_id) = set_id {
                query.push(("set_id", set_id));
            }
            show(remote.get("/v1/policies/changes", &query)?, json, |list: &List<PolicyChange>| {
                print_changes(&list.items)
            })?;
        }
        PolicyCommand::History { set_id, json } => {
            let history = remote.get(&format!("/v1/policies/{}/versions", seg(&set_id)?), &[])?;
            show(history, json, print_history)?;
        }
        PolicyCommand::Explain { agent, tool, arguments, cost_usd, json } => {
            let arguments: Option<serde_json::Value> = match arguments {
                Some(text) => Some(
                    serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("--args is not JSON: {e}"))?,
                ),
                None => None,
            };
            let body = serde_json::json!({"agent": agent, "tool": tool, "arguments": arguments, "cost_usd": cost_usd});
            show(remote.post("/v1/policies/explain", Some(body))?, json, print_explanation)?;
        }
        PolicyCommand::Show { set_id, version, json } => {
            let version = match version {
                Some(v) => v,
                None => default_version(remote, &set_id)?,
            };
            show(fetch_version(remote, &set_id, version)?, json, |v: &PolicyVersion| {
                print!("{}", v.text);
                if !v.text.ends_with('\n') {
                    println!();
                }
            })?;
        }
        PolicyCommand::Diff { set_id, from, to, json } => {
            let old: PolicyVersion = read(fetch_version(remote, &set_id, from)?)?;
            let new: PolicyVersion = read(fetch_version(remote, &set_id, to)?)?;
            let diff = gavel_policy::diff(&old.text, &new.text);
            // Name the versions in the header instead of the library's generic old/new.
            let diff = match diff.strip_prefix("--- old\n+++ new\n") {
                Some(rest) => format!("--- {set_id}@v{from}\n+++ {set_id}@v{to}\n{rest}"),
                None => diff,
            };
            if json {
                crate::print_json(&json!({
                    "set_id": set_id, "from": from, "to": to,
                    "from_sha256": old.sha256, "to_sha256": new.sha256,
                    "identical": diff.is_empty(), "diff": diff,
                }));
            } else if diff.is_empty() {
                println!("versions {from} and {to} of {set_id} are identical (sha256 {})", s(&new.sha256));
            } else {
                print!("{diff}");
            }
        }
        PolicyCommand::Schema { json } => {
            let schema = remote.get_text_public("/v1/policies/schema")?;
            if json {
                crate::print_json(&json!({"schema": schema}));
            } else {
                print!("{schema}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn fetch_version(remote: &Remote, set_id: &str, version: u32) -> anyhow::Result<Value> {
    remote.get(&format!("/v1/policies/{}/versions/{version}", seg(set_id)?), &[])
}

/// The active version, else the latest (said on stderr so stdout stays the policy text).
fn default_version(remote: &Remote, set_id: &str) -> anyhow::Result<u32> {
    let set: PolicySet = read(remote.get(&format!("/v1/policies/{}", seg(set_id)?), &[])?)?;
    if let Some(v) = set.active_version {
        return Ok(v);
    }
    match set.latest_version {
        v if v > 0 => {
            eprintln!("note: policy set {set_id} has no active version; showing the latest, {v}");
            Ok(v)
        }
        _ => bail!("policy set {set_id} has no versions"),
    }
}

/// One line on what a change does.
pub fn describe(change: &PolicyChange) -> String {
    let set = s(&change.set_id);
    match change.action {
        ChangeAction::Activate => format!("activate version {} of {set}", s(&change.version)),
        ChangeAction::Deactivate => format!("deactivate {set}"),
        ChangeAction::SetMode => format!("switch {set} to {} mode", s(&change.mode)),
    }
}

fn set_summary(set: &PolicySet) -> String {
    let active = match set.active_version {
        Some(v) => format!("version {v} active"),
        None => "no active version".into(),
    };
    let mode = match set.mode {
        Mode::Observe => "observe mode (records would_have, enforces nothing)".to_string(),
        other => format!("{} mode", s(&other)),
    };
    format!("policy set {}: {active}, {mode}", s(&set.set_id))
}

/// Human output for a pending change: what it does and who has to act next.
pub fn print_pending(change: &PolicyChange) {
    println!("change {} is pending: {}", s(&change.id), describe(change));
    println!("a different admin must approve it (two-person rule):");
    println!("  gavel policy approve {}", s(&change.id));
}

fn change_row(c: &PolicyChange) -> Vec<String> {
    vec![
        s(&c.id),
        describe(c),
        s(&c.status),
        s(&c.proposed_by_name),
        s(&c.proposed_at),
        s(&c.decided_by_name),
        s(&c.decided_at),
        s(&c.comment),
    ]
}

const CHANGE_HEADER: [&str; 8] =
    ["ID", "CHANGE", "STATUS", "PROPOSED BY", "PROPOSED AT", "DECIDED BY", "DECIDED AT", "COMMENT"];

fn print_changes(changes: &[PolicyChange]) {
    if changes.is_empty() {
        println!("no changes");
        return;
    }
    let rows: Vec<Vec<String>> = changes.iter().map(change_row).collect();
    print_table(&CHANGE_HEADER, &rows);
}

fn print_history(history: &PolicyHistory) {
    let set = &history.set;
    println!("{}", set_summary(set));
    if let Some(pack) = &set.pack {
        println!("installed from pack {}", s(pack));
    }
    // The auditor's question, answered first: who approved what is in force, and when.
    if let Some(last) = history.changes.iter().find(|c| c.status == ChangeStatus::Applied) {
        println!(
            "last applied change: {} ({}), proposed by {} ({}) at {}, approved by {} ({}) at {}",
            s(&last.id),
            describe(last),
            s(&last.proposed_by_name),
            s(&last.proposed_by),
            s(&last.proposed_at),
            s(&last.decided_by_name),
            s(&last.decided_by),
            s(&last.decided_at),
        );
    }
    println!("\nversions:");
    let rows: Vec<Vec<String>> = history
        .versions
        .iter()
        .map(|v| {
            let marker = if set.active_version == Some(v.version) { "*" } else { "" };
            vec![
                format!("{}{marker}", v.version),
                s(&v.sha256),
                format!("{} ({})", s(&v.author_name), s(&v.author)),
                s(&v.created_at),
                s(&v.source),
            ]
        })
        .collect();
    print_table(&["VERSION", "SHA256", "AUTHOR", "CREATED", "SOURCE"], &rows);
    println!("(* = active)");
    println!("\nchanges (newest first):");
    print_changes(&history.changes);
}

/// An explanation for people: the verdict, why, and the policy text behind it.
fn print_explanation(e: &Explanation) {
    let enforced = if e.enforced { "" } else { " (not enforced: no enforcing policy)" };
    println!(
        "{} calling {} ({}): {}{enforced}",
        s(&e.agent_name),
        s(&e.tool),
        e.tool_category.as_deref().unwrap_or("uncategorised"),
        s(&e.decision)
    );
    for reason in &e.reasons {
        println!("  because: {}", s(reason));
    }
    if let Some(containment) = &e.containment {
        println!("  refused by containment before any policy: {containment}");
    }
    let print_policies = |title: &str, list: &[FiredPolicy]| {
        for p in list {
            let r = &p.reference;
            println!("\n{title} {}/{} (version {}):", s(&r.set_id), s(&r.policy_id), r.version);
            for line in p.text.lines() {
                println!("    {line}");
            }
        }
    };
    print_policies("decided by", &e.policies);
    if let Some(would_have) = e.would_have {
        println!("\nobserve mode would have: {}", s(&would_have));
        print_policies("would have been decided by", &e.would_have_policies);
    }
    println!("\n(dry run: nothing was recorded)");
}
