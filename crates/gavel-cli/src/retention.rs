//! `gavel retention` and `gavel holds`: the retention period in force, purges, legal holds
//! (server: `/v1/retention`, `/v1/holds`).
//!
//! Retention is at least 365 days (the server refuses less). A purge clears event payloads past
//! retention, never held ones, and records exactly which seq ranges it cleared; leaf hashes stay,
//! so `gavel audit verify` still proves the whole log. A hold is released only when a second
//! admin approves the release.

use crate::remote::{items, print_table, s, Remote};
use anyhow::bail;
use clap::Subcommand;
use serde_json::{json, Value};
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum RetentionCommand {
    /// The retention period in force, who set it, purge progress and holds in force.
    Show {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Set the retention period in days (admin; at least 365). Lengthening applies at once;
    /// shortening is pending until a different admin runs `gavel retention approve`. Logged.
    Set {
        /// Days event payloads are kept (at least 365).
        #[arg(long)]
        days: u32,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Approve a pending shortening of the retention period (an admin other than the requester).
    Approve {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Purge payloads past retention now (admin); the server also runs this on a schedule.
    Purge {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub enum HoldsCommand {
    /// Every legal hold, in force or released.
    List {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// One hold.
    Show {
        /// The hold id (from `gavel holds list`).
        id: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Hold a time range or an incident's events (admin): never purged until released.
    Place {
        /// Start, inclusive: a date (2026-01-01) or an RFC 3339 time.
        #[arg(long, requires = "to", conflicts_with = "incident")]
        from: Option<String>,
        /// End, exclusive.
        #[arg(long, requires = "from")]
        to: Option<String>,
        /// Hold this incident's events (linked evidence and timeline) instead of a time range.
        #[arg(long, value_name = "INCIDENT_ID", required_unless_present = "from")]
        incident: Option<String>,
        /// Why (e.g. the matter or request number).
        #[arg(long)]
        reason: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Ask for a hold's release (admin); a different admin must approve it.
    Release {
        /// The hold id (from `gavel holds list`).
        id: String,
        /// Why the hold can be released (recorded).
        #[arg(long)]
        reason: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Approve a requested release (an admin other than the requester).
    ApproveRelease {
        /// The hold id (from `gavel holds list`).
        id: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(remote: &Remote, cmd: RetentionCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        RetentionCommand::Show { json } => {
            let v = remote.get("/v1/retention", &[])?;
            if json {
                crate::print_json(&v);
                return Ok(ExitCode::SUCCESS);
            }
            let policy = &v["policy"];
            let by = match policy["set_by"].as_str() {
                Some(by) => format!("set by {by} at {}", s(&policy["set_at"])),
                None => "the built-in default".into(),
            };
            println!("retention: {} days ({by}; minimum {} days)", s(&policy["days"]), s(&v["minimum_days"]));
            println!(
                "  applies to: every event payload (decisions, approvals, incidents, policy changes, …)"
            );
            println!("  never purged: {} (the records of purges and holds)", kinds(&v["kept_kinds"]));
            if let Some(p) = v["pending"].as_object() {
                println!(
                    "  pending: {} days, asked by {} at {} (a second admin approves)",
                    s(&p["days"]),
                    s(&p["requested_by"]),
                    s(&p["requested_at"])
                );
            }
            println!("  purged up to seq: {}", s(&v["state"]["purged_upto"]));
            println!("  legal holds in force: {}", s(&v["holds_in_force"]));
        }
        RetentionCommand::Set { days, json } => {
            let v = remote.put("/v1/retention", json!({"days": days}))?;
            if json {
                crate::print_json(&v);
            } else if v["status"] == "pending" {
                println!(
                    "pending: shortening retention from {} to {} days needs a second admin \
                     (`gavel retention approve`); {} days stay in force until then",
                    s(&v["pending"]["previous_days"]),
                    s(&v["pending"]["days"]),
                    s(&v["policy"]["days"])
                );
            } else {
                println!(
                    "retention set to {} days by {}",
                    s(&v["policy"]["days"]),
                    s(&v["policy"]["set_by"])
                );
            }
        }
        RetentionCommand::Approve { json } => {
            let v = remote.post("/v1/retention/approve", None)?;
            if json {
                crate::print_json(&v);
            } else {
                println!("retention set to {} days, approved by {}", s(&v["days"]), s(&v["set_by"]));
            }
        }
        RetentionCommand::Purge { json } => {
            let v = remote.post("/v1/retention/purge", None)?;
            if json {
                crate::print_json(&v);
            } else {
                println!(
                    "purged {} payload(s) older than {} ({} days retention)",
                    s(&v["payloads_cleared"]),
                    s(&v["cutoff"]),
                    s(&v["retention_days"])
                );
                println!("  cleared seq ranges: {}", ranges(&v["cleared"]));
                println!("  kept under legal hold: {}", ranges(&v["held"]));
                println!("  purge records: {}", ranges_or_list(&v["records"]));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn holds(remote: &Remote, cmd: HoldsCommand) -> anyhow::Result<ExitCode> {
    let print = |v: &Value, json: bool, what: &str| {
        if json {
            crate::print_json(v);
        } else {
            println!("{what} {}", describe(v));
        }
    };
    match cmd {
        HoldsCommand::List { json } => {
            let v = remote.get("/v1/holds", &[])?;
            if json {
                crate::print_json(&v);
            } else if items(&v).is_empty() {
                println!("no legal hold has been placed");
            } else {
                let rows: Vec<Vec<String>> = items(&v)
                    .iter()
                    .map(|h| {
                        vec![
                            s(&h["id"]),
                            s(&h["status"]),
                            covers(h),
                            s(&h["placed_by"]),
                            s(&h["released_by"]),
                            s(&h["reason"]),
                        ]
                    })
                    .collect();
                print_table(&["ID", "STATUS", "COVERS", "PLACED BY", "RELEASED BY", "REASON"], &rows);
            }
        }
        HoldsCommand::Show { id, json } => print(&remote.get(&format!("/v1/holds/{id}"), &[])?, json, "hold"),
        HoldsCommand::Place { from, to, incident, reason, json } => {
            if reason.trim().is_empty() {
                bail!("--reason must say why the records are held");
            }
            let body = json!({"from": from, "to": to, "incident_id": incident, "reason": reason});
            let v = remote.post("/v1/holds", Some(body))?;
            print(&v, json, "placed hold");
        }
        HoldsCommand::Release { id, reason, json } => {
            let v = remote.post(&format!("/v1/holds/{id}/release"), Some(json!({"reason": reason})))?;
            print(&v, json, "release requested (a second admin must approve) for hold");
        }
        HoldsCommand::ApproveRelease { id, json } => {
            let v = remote.post(&format!("/v1/holds/{id}/release/approve"), None)?;
            print(&v, json, "released hold");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn describe(h: &Value) -> String {
    format!(
        "{} [{}]: {} — {} (placed by {})",
        s(&h["id"]),
        s(&h["status"]),
        covers(h),
        s(&h["reason"]),
        s(&h["placed_by"])
    )
}

/// What a hold covers, in words.
fn covers(h: &Value) -> String {
    match h["scope"]["incident_id"].as_str() {
        Some(incident) => format!("the events of incident {incident}"),
        None => format!("{} .. {}", s(&h["scope"]["from"]), s(&h["scope"]["to"])),
    }
}

fn kinds(v: &Value) -> String {
    v.as_array().map(|k| k.iter().map(s).collect::<Vec<_>>().join(", ")).unwrap_or_default()
}

/// `[[1, 5], [9, 10]]` → `1..5, 9..10` (half-open), or `none`.
fn ranges(v: &Value) -> String {
    let list: Vec<String> = v
        .as_array()
        .map(|rs| rs.iter().map(|r| format!("{}..{}", s(&r[0]), s(&r[1]))).collect())
        .unwrap_or_default();
    if list.is_empty() {
        "none".into()
    } else {
        list.join(", ")
    }
}

fn ranges_or_list(v: &Value) -> String {
    let list = kinds(v);
    if list.is_empty() {
        "none".into()
    } else {
        format!("seq {list}")
    }
}
