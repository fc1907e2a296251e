//! `gavel incidents`: the incident workflow (SOC 2 CC7.3/CC7.4) over `/v1/incidents`.
//!
//! Incidents are opened by the detectors (a deny spike, a destructive command, …) or by an admin,
//! and move open → triaged → contained → resolved (containment may precede triage; an incident
//! with nothing to contain may be resolved after triage). Every step is a log event with its
//! author; `show` prints that timeline in log order. Resolving needs a writeup. Admins and
//! approvers act on incidents; any user reads them.

use crate::remote::{print_table, s, seg, show, Remote};
use anyhow::bail;
use clap::Subcommand;
use gavel_core::containment::ScopeKind;
use gavel_core::incidents::IncidentView;
use gavel_events::{kind, AgentStatusChanged, IncidentEvent, KillSwitchEngaged};
use gavel_server::openapi::List;
use serde_json::{json, Value};
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum IncidentsCommand {
    /// Incidents, newest first.
    List {
        /// open | triaged | contained | resolved
        #[arg(long)]
        status: Option<String>,
        /// low | medium | high | critical
        #[arg(long)]
        severity: Option<String>,
        /// Opened on or after this date (YYYY-MM-DD or RFC 3339).
        #[arg(long)]
        since: Option<String>,
        /// Opened before this date (YYYY-MM-DD or RFC 3339).
        #[arg(long)]
        until: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// One incident with its full timeline (every entry a log event, in order, with its author).
    Show {
        /// The incident id (from `gavel incidents list`).
        id: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Open an incident by hand. Needs an admin token.
    Create {
        /// One line saying what happened.
        #[arg(long)]
        title: String,
        /// low | medium | high | critical
        #[arg(long)]
        severity: String,
        /// The agent concerned (id or name).
        #[arg(long)]
        agent: Option<String>,
        /// A longer description.
        #[arg(long)]
        summary: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Make a user the owner.
    Assign {
        /// The incident id (from `gavel incidents list`).
        id: String,
        /// User id or name.
        #[arg(long)]
        owner: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Mark it triaged, optionally re-rating its severity.
    Triage {
        /// The incident id (from `gavel incidents list`).
        id: String,
        /// Change the severity: low, medium, high or critical.
        #[arg(long)]
        severity: Option<String>,
        /// What triage found.
        #[arg(long)]
        note: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Add a note to the timeline.
    Note {
        /// The incident id (from `gavel incidents list`).
        id: String,
        /// The note to add to the timeline.
        text: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Record containment, optionally pulling a kill switch or suspending the agent under it
    /// first (those actions are linked to the incident).
    Contain {
        /// The incident id (from `gavel incidents list`).
        id: String,
        /// Pull a kill switch of this scope under the incident.
        #[arg(long, value_enum)]
        killswitch_scope: Option<ScopeKind>,
        /// The kill switch's agent (id or name) or tool; not for global.
        #[arg(long)]
        killswitch_target: Option<String>,
        /// Why the kill switch is pulled (default: containment of the incident).
        #[arg(long)]
        killswitch_reason: Option<String>,
        /// Suspend this agent (id or name) under the incident (admins).
        #[arg(long)]
        suspend_agent: Option<String>,
        /// What was done (required when no action is given).
        #[arg(long)]
        note: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Resolve with a writeup (required).
    Resolve {
        /// The incident id (from `gavel incidents list`).
        id: String,
        /// What happened, its cause and what was done (required to resolve).
        #[arg(long)]
        writeup: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(remote: &Remote, cmd: IncidentsCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        IncidentsCommand::List { status, severity, since, until, json } => {
            let mut query = Vec::new();
            for (k, v) in [("status", status), ("severity", severity), ("since", since), ("until", until)] {
                if let Some(v) = v {
                    query.push((k, v));
                }
            }
            show(remote.get("/v1/incidents", &query)?, json, |list: &List<IncidentView>| {
                let rows: Vec<Vec<String>> = list
                    .items
                    .iter()
                    .map(|view| {
                        let i = &view.incident;
                        vec![
                            s(&i.id),
                            s(&i.status),
                            s(&i.severity),
                            s(&i.owner),
                            s(&view.opened_at),
                            s(&i.detector),
                            s(&i.title),
                        ]
                    })
                    .collect();
                if rows.is_empty() {
                    println!("no incidents");
                } else {
                    print_table(&["ID", "STATUS", "SEVERITY", "OWNER", "OPENED", "DETECTOR", "TITLE"], &rows);
                }
            })?;
            Ok(ExitCode::SUCCESS)
        }
        IncidentsCommand::Show { id, json } => {
            let inc = remote.get(&format!("/v1/incidents/{}", seg(&id)?), &[])?;
            print(inc, json, true)
        }
        IncidentsCommand::Create { title, severity, agent, summary, json } => {
            let body = json!({"title": title, "severity": severity, "agent": agent, "summary": summary});
            let inc = remote.post("/v1/incidents", Some(body))?;
            print(inc, json, false)
        }
        IncidentsCommand::Assign { id, owner, json } => {
            let inc =
                remote.post(&format!("/v1/incidents/{}/assign", seg(&id)?), Some(json!({"owner": owner})))?;
            print(inc, json, false)
        }
        IncidentsCommand::Triage { id, severity, note, json } => {
            let body = json!({"severity": severity, "note": note});
            let inc = remote.post(&format!("/v1/incidents/{}/triage", seg(&id)?), Some(body))?;
            print(inc, json, false)
        }
        IncidentsCommand::Note { id, text, json } => {
            if text.trim().is_empty() {
                bail!("the note is empty");
            }
            let inc =
                remote.post(&format!("/v1/incidents/{}/notes", seg(&id)?), Some(json!({"text": text})))?;
            print(inc, json, false)
        }
        IncidentsCommand::Contain {
            id,
            killswitch_scope,
            killswitch_target,
            killswitch_reason,
            suspend_agent,
            note,
            json,
        } => {
            let killswitch = match killswitch_scope {
                Some(scope) => {
                    crate::killswitch::check_target(scope, killswitch_target.as_deref())?;
                    json!({"scope": scope, "target": killswitch_target, "reason": killswitch_reason})
                }
                None if killswitch_target.is_some() || killswitch_reason.is_some() => {
                    bail!("--killswitch-target and --killswitch-reason need --killswitch-scope")
                }
                None => Value::Null,
            };
            if killswitch.is_null()
                && suspend_agent.is_none()
                && note.as_deref().is_none_or(|n| n.trim().is_empty())
            {
                bail!("say how it was contained: --killswitch-scope, --suspend-agent or --note");
            }
            let body = json!({"killswitch": killswitch, "suspend_agent": suspend_agent, "note": note});
            let inc =
                remote.post(&format!("/v1/incidents/{}/contain", seg(&id)?), Some(strip_nulls(body)))?;
            print(inc, json, false)
        }
        IncidentsCommand::Resolve { id, writeup, json } => {
            if writeup.trim().is_empty() {
                bail!("--writeup must say what happened and what was done");
            }
            let body = json!({"writeup": writeup});
            let inc = remote.post(&format!("/v1/incidents/{}/resolve", seg(&id)?), Some(body))?;
            print(inc, json, false)
        }
    }
}

fn strip_nulls(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        o.retain(|_, x| !x.is_null());
    }
    v
}

fn print(answer: Value, json: bool, timeline: bool) -> anyhow::Result<ExitCode> {
    show(answer, json, |view: &IncidentView| {
        let inc = &view.incident;
        println!("incident {}: {}", s(&inc.id), s(&inc.title));
        println!("  status:    {}", s(&inc.status));
        println!("  severity:  {}", s(&inc.severity));
        println!("  owner:     {}", s(&inc.owner));
        println!("  agent:     {}", s(&inc.agent));
        println!("  detector:  {}", s(&inc.detector));
        println!("  opened:    {} by {}", s(&view.opened_at), s(&inc.opened_by));
        if let Some(t) = view.time_to_contain_secs {
            println!("  contained: {} ({} after opening)", s(&view.contained_at), duration(t));
        }
        if let Some(t) = view.time_to_resolve_secs {
            println!("  resolved:  {} ({} after opening)", s(&view.resolved_at), duration(t));
        }
        let mut linked = inc.linked_seqs.clone();
        linked.sort_unstable();
        let linked: Vec<String> = linked.iter().map(u64::to_string).collect();
        println!("  linked events: {}", if linked.is_empty() { "-".into() } else { linked.join(",") });
        if let Some(w) = &inc.writeup {
            println!("  writeup:   {w}");
        }
        if timeline {
            println!("timeline:");
            for e in &view.timeline {
                let entry = &e.entry;
                let author = match &entry.author.name {
                    Some(name) => name.clone(),
                    None => format!("{}:{}", s(&entry.author.kind), s(&entry.author.id)),
                };
                println!(
                    "  {}  seq {:<6} {:<20} {:<12} {}",
                    s(&e.time),
                    e.seq,
                    s(&entry.kind),
                    author,
                    detail(&entry.kind, &entry.data)
                );
            }
        }
    })?;
    Ok(ExitCode::SUCCESS)
}

/// The one line that says what a timeline entry did, from its event's data (typed for the
/// incident kinds).
fn detail(kind: &str, d: &Value) -> String {
    let note = |n: Option<&str>| n.map(|n| format!(": {n}")).unwrap_or_default();
    match IncidentEvent::read(kind, d) {
        Some(IncidentEvent::Opened(e)) => format!("{} ({})", e.title, e.severity),
        Some(IncidentEvent::Assigned(e)) => format!("owner {}", e.owner),
        Some(IncidentEvent::Triaged(e)) => format!("severity {}{}", e.severity, note(e.note.as_deref())),
        Some(IncidentEvent::Noted(e)) => e.text,
        Some(IncidentEvent::Contained(e)) => format!("contained{}", note(e.note.as_deref())),
        Some(IncidentEvent::Resolved(e)) => format!("writeup: {}", e.writeup),
        Some(IncidentEvent::Linked(e)) => format!("{} (detection seq {})", e.summary, e.detection_seq),
        Some(IncidentEvent::Other(_)) => String::new(),
        None => match kind {
            kind::KILLSWITCH_ENGAGED => {
                let engaged: KillSwitchEngaged = gavel_events::read(d);
                format!("kill switch {} engaged: {}", engaged.scope, engaged.reason)
            }
            kind::AGENT_SUSPENDED => {
                let suspended: AgentStatusChanged = gavel_events::read(d);
                format!("agent {} suspended: {}", suspended.name, suspended.reason)
            }
            _ => String::new(),
        },
    }
}

fn duration(secs: f64) -> String {
    if secs < 120.0 {
        return format!("{:.1} s", secs.max(0.0));
    }
    let secs = secs.round() as u64;
    match secs {
        s if s < 7200 => format!("{} min {} s", s / 60, s % 60),
        s => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}
