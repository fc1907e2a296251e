//! `gavel retention` and `gavel holds`: the retention period in force, purges, legal holds
//! (server: `/v1/retention`, `/v1/holds`).
//!
//! Retention is at least 365 days (the server refuses less). A purge clears event payloads past
//! retention, never held ones, and records exactly which seq ranges it cleared; leaf hashes stay,
//! so `gavel audit verify` still proves the whole log. A hold is released only when a second
//! admin approves the release.

use crate::remote::{print_table, s, show, Human, Remote};
use anyhow::bail;
use clap::Subcommand;
use gavel_core::retention::{
    Hold, HoldScope, PurgeReport, RetentionChange, RetentionChangeStatus, RetentionOverview, RetentionPolicy,
    SeqRange,
};
use gavel_server::openapi::List;
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
            show(remote.get("/v1/retention", &[])?, json, |v: &RetentionOverview| {
                let policy = &v.policy;
                let by = match &policy.set_by {
                    Some(by) => format!("set by {by} at {}", s(&policy.set_at)),
                    None => "the built-in default".into(),
                };
                println!("retention: {} days ({by}; minimum {} days)", policy.days, v.minimum_days);
                println!(
                    "  applies to: every event payload (decisions, approvals, incidents, policy changes, …)"
                );
                println!("  never purged: {} (the records of purges and holds)", list(&v.kept_kinds));
                if let Some(p) = &v.pending {
                    println!(
                        "  pending: {} days, asked by {} at {} (a second admin approves)",
                        p.days,
                        s(&p.requested_by),
                        s(&p.requested_at)
                    );
                }
                println!("  purged up to seq: {}", v.state.purged_upto);
                println!("  legal holds in force: {}", v.holds_in_force);
            })?;
        }
        RetentionCommand::Set { days, json } => {
            show(remote.put("/v1/retention", json!({"days": days}))?, json, |v: &RetentionChange| {
                if v.status == RetentionChangeStatus::Pending {
                    let pending = v.pending.as_ref();
                    println!(
                        "pending: shortening retention from {} to {} days needs a second admin \
                         (`gavel retention approve`); {} days stay in force until then",
                        s(&pending.map(|p| p.previous_days)),
                        s(&pending.map(|p| p.days)),
                        v.policy.days
                    );
                } else {
                    println!("retention set to {} days by {}", v.policy.days, s(&v.policy.set_by));
                }
            })?;
        }
        RetentionCommand::Approve { json } => {
            show(remote.post("/v1/retention/approve", None)?, json, |v: &RetentionPolicy| {
                println!("retention set to {} days, approved by {}", v.days, s(&v.set_by));
            })?;
        }
        RetentionCommand::Purge { json } => {
            show(remote.post("/v1/retention/purge", None)?, json, |v: &PurgeReport| {
                println!(
                    "purged {} payload(s) older than {} ({} days retention)",
                    v.payloads_cleared,
                    s(&v.cutoff),
                    v.retention_days
                );
                println!("  cleared seq ranges: {}", ranges(&v.cleared));
                println!("  kept under legal hold: {}", ranges(&v.held));
                println!("  purge records: {}", seqs(&v.records));
            })?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn holds(remote: &Remote, cmd: HoldsCommand) -> anyhow::Result<ExitCode> {
    let print = |answer: Value, json: bool, what: &str| {
        show(answer, json, |h: &Hold| println!("{what} {}", describe(h)))
    };
    match cmd {
        HoldsCommand::List { json } => {
            show(remote.get("/v1/holds", &[])?, json, |list: &List<Hold>| {
                if list.items.is_empty() {
                    println!("no legal hold has been placed");
                } else {
                    let rows: Vec<Vec<String>> = list
                        .items
                        .iter()
                        .map(|h| {
                            vec![
                                s(&h.id),
                                s(&h.status),
                                covers(h),
                                s(&h.placed_by),
                                s(&h.released_by),
                                s(&h.reason),
                            ]
                        })
                        .collect();
                    print_table(&["ID", "STATUS", "COVERS", "PLACED BY", "RELEASED BY", "REASON"], &rows);
                }
            })?;
        }
        HoldsCommand::Show { id, json } => print(remote.get(&format!("/v1/holds/{id}"), &[])?, json, "hold")?,
        HoldsCommand::Place { from, to, incident, reason, json } => {
            if reason.trim().is_empty() {
                bail!("--reason must say why the records are held");
            }
            let body = json!({"from": from, "to": to, "incident_id": incident, "reason": reason});
            print(remote.post("/v1/holds", Some(body))?, json, "placed hold")?;
        }
        HoldsCommand::Release { id, reason, json } => {
            let answer = remote.post(&format!("/v1/holds/{id}/release"), Some(json!({"reason": reason})))?;
            print(answer, json, "release requested (a second admin must approve) for hold")?;
        }
        HoldsCommand::ApproveRelease { id, json } => {
            print(remote.post(&format!("/v1/holds/{id}/release/approve"), None)?, json, "released hold")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn describe(h: &Hold) -> String {
    format!(
        "{} [{}]: {} — {} (placed by {})",
        s(&h.id),
        s(&h.status),
        covers(h),
        s(&h.reason),
        s(&h.placed_by)
    )
}

/// What a hold covers, in words.
fn covers(h: &Hold) -> String {
    match &h.scope {
        HoldScope::Incident { incident_id } => format!("the events of incident {incident_id}"),
        HoldScope::TimeRange { from, to } => format!("{} .. {}", s(from), s(to)),
    }
}

/// Items joined with `, ` (nothing for none).
fn list<T: Human>(items: &[T]) -> String {
    items.iter().map(Human::human).collect::<Vec<_>>().join(", ")
}

/// `[[1, 5], [9, 10]]` → `1..5, 9..10` (half-open), or `none`.
fn ranges(ranges: &[SeqRange]) -> String {
    if ranges.is_empty() {
        return "none".into();
    }
    ranges.iter().map(|(from, to)| format!("{from}..{to}")).collect::<Vec<_>>().join(", ")
}

/// `seq 4, 9`, or `none`.
fn seqs(seqs: &[u64]) -> String {
    if seqs.is_empty() {
        "none".into()
    } else {
        format!("seq {}", list(seqs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seq_ranges_and_lists_in_words() {
        assert_eq!(ranges(&[]), "none");
        assert_eq!(ranges(&[(1, 5), (9, 10)]), "1..5, 9..10");
        assert_eq!(seqs(&[]), "none");
        assert_eq!(seqs(&[4, 9]), "seq 4, 9");
        assert_eq!(list(&["retention.*".to_string(), "hold.*".to_string()]), "retention.*, hold.*");
    }

    #[test]
    fn holds_say_what_they_cover() {
        let hold = |scope: Value| -> Hold {
            serde_json::from_value(json!({"id": "hold_1", "scope": scope, "reason": "matter 7",
                "status": "active", "placed_by": "alice", "placed_at": "t", "release_requested_by": null,
                "release_requested_at": null, "release_reason": null, "released_by": null, "released_at": null}))
            .unwrap()
        };
        assert_eq!(
            covers(&hold(json!({"type": "incident", "incident_id": "inc_1"}))),
            "the events of incident inc_1"
        );
        assert_eq!(covers(&hold(json!({"type": "time_range", "from": "a", "to": ""}))), "a .. -");
    }
}
