//! `gavel audit list` and `gavel audit trace`: the recorded decisions, read from a running server
//! (GET /v1/audit, GET /v1/audit/trace/{id}). The other `audit` commands read the data directory.
//!
//! `trace` answers the auditor's first question about one action: which agent (and for whom), what
//! was decided, under which policy text, written by whom and approved by whom.

use crate::remote::{print_table, read, s, seg, show, Remote};
use clap::Args;
use gavel_core::approvals::OutcomeRecord;
use gavel_core::audit::{Page, Trace, TracedPrincipal};
use gavel_core::Agent;
use gavel_policy::Outcome;
use std::process::ExitCode;

#[derive(Args)]
pub struct ListArgs {
    /// Only this agent (id or name).
    #[arg(long)]
    agent: Option<String>,
    /// Only this tool.
    #[arg(long)]
    tool: Option<String>,
    /// Only decisions with this outcome.
    #[arg(long, value_enum)]
    outcome: Option<Outcome>,
    /// From this date or time, inclusive (2026-11-01 or RFC 3339, e.g. 2026-11-01T09:00:00Z).
    #[arg(long)]
    since: Option<String>,
    /// Up to this date or time, exclusive.
    #[arg(long)]
    until: Option<String>,
    /// Page size, 1..=1000 (server default 50).
    #[arg(long)]
    limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    #[arg(long)]
    cursor: Option<String>,
    /// Print the page: {"items": [...], "next_cursor"?}.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    pub remote: crate::remote::RemoteArgs,
}

#[derive(Args)]
pub struct TraceArgs {
    /// The decision id (`decision_id` of `gavel decide`, or of `gavel audit list`).
    decision_id: String,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    pub remote: crate::remote::RemoteArgs,
}

pub fn list(remote: &Remote, args: ListArgs) -> anyhow::Result<ExitCode> {
    let mut query: Vec<(&str, String)> = Vec::new();
    let optional = [
        ("agent", args.agent),
        ("tool", args.tool),
        ("outcome", args.outcome.map(|o| o.as_str().to_string())),
        ("since", args.since),
        ("until", args.until),
        ("limit", args.limit.map(|l| l.to_string())),
        ("cursor", args.cursor),
    ];
    for (key, value) in optional {
        if let Some(value) = value {
            query.push((key, value));
        }
    }
    show(remote.get("/v1/audit", &query)?, args.json, |page: &Page| {
        let rows: Vec<Vec<String>> = page
            .items
            .iter()
            .map(|d| {
                let r = &d.record;
                vec![
                    s(&d.time),
                    s(&d.seq),
                    s(&r.decision_id),
                    s(&r.agent_name),
                    s(&r.tool),
                    s(&r.decision),
                    s(&r.enforced),
                    s(&r.would_have),
                ]
            })
            .collect();
        if rows.is_empty() {
            println!("no decisions match");
        } else {
            print_table(
                &["TIME", "SEQ", "DECISION ID", "AGENT", "TOOL", "DECISION", "ENFORCED", "WOULD HAVE"],
                &rows,
            );
        }
        if let Some(cursor) = &page.next_cursor {
            println!("more: repeat with --cursor {cursor}");
        }
    })?;
    Ok(ExitCode::SUCCESS)
}

pub fn trace(remote: &Remote, args: TraceArgs) -> anyhow::Result<ExitCode> {
    let answer = remote.get(&format!("/v1/audit/trace/{}", seg(&args.decision_id)?), &[])?;
    if args.json {
        crate::print_json(&answer);
        return Ok(ExitCode::SUCCESS);
    }
    let t: Trace = read(answer)?;
    // The outcome is the stored outcome record; core answers it as it is stored.
    let outcome: Option<OutcomeRecord> = t.outcome.clone().map(read).transpose()?;
    println!("decision {} at {} (log seq {})", s(&t.decision_id), s(&t.time), t.seq);
    println!();
    // An agent no longer registered is known by its id only.
    let (agent, id) = match &t.principal {
        TracedPrincipal::Agent(a) => (Some(a), &a.id),
        TracedPrincipal::Gone(g) => (None, &g.id),
    };
    let of = |member: fn(&Agent) -> String| agent.map_or_else(|| "-".to_string(), member);
    println!("principal:    agent {} ({})", of(|a| s(&a.name)), s(id));
    println!("  owner:       {}", of(|a| s(&a.owner)));
    println!("  environment: {}", of(|a| s(&a.environment)));
    println!("  groups:      {}", of(|a| s(&a.groups)));
    println!("  tier:        {}", of(|a| s(&a.tier)));
    println!("  status now:  {}", of(|a| s(&a.status)));
    println!("on behalf of: {}", s(&t.on_behalf_of));
    println!("tool:         {}", s(&t.tool));
    println!("resource:     {}", s(&t.resource));
    let enforced = if t.enforced { "enforced" } else { "not enforced: permissive mode" };
    println!("decision:     {} ({enforced})", s(&t.decision));
    if let Some(would_have) = t.would_have {
        println!("would have:   {} (observe-mode policies)", s(&would_have));
    }
    for (i, r) in t.reasons.iter().enumerate() {
        println!("{}{}", if i == 0 { "reasons:      " } else { "              " }, s(r));
    }
    println!();
    if t.policies.is_empty() {
        println!("policies: none fired");
    } else {
        println!("policies:");
    }
    for pol in &t.policies {
        let role = if pol.enforced { "enforced" } else { "observed" };
        println!("  {}/{} version {} ({role})", s(&pol.set_id), s(&pol.policy_id), pol.version);
        println!("    sha256:       {}", s(&pol.sha256));
        println!("    author:       {}", s(&pol.author));
        println!("    approved by:  {} (change {})", s(&pol.approved_by), s(&pol.change_id));
        if pol.mode_approved_by.is_some() && pol.mode_change_id != pol.change_id {
            println!(
                "    went live:    approved by {} (change {})",
                s(&pol.mode_approved_by),
                s(&pol.mode_change_id)
            );
        }
        println!("    activated at: {}", s(&pol.activated_at));
        if let Some(source) = &pol.source {
            println!("    source:       {}", s(source));
        }
        match &pol.text {
            Some(text) => {
                let (excerpt, whole) = policy_excerpt(&s(&pol.set_id), text, &s(&pol.policy_id));
                let what = if whole { "text of the whole version" } else { "policy text" };
                println!("    {what}:");
                for line in excerpt.lines() {
                    println!("      | {line}");
                }
            }
            None => println!("    policy text:  not found"),
        }
    }
    println!();
    match &t.approval {
        None => println!("approval: none recorded"),
        Some(a) => {
            println!("approval: {}", s(&a.approval.id));
            crate::approvals::print_approval(&a.approval, "  ", false);
        }
    }
    match &outcome {
        None => println!("outcome: none recorded"),
        Some(o) => {
            println!("outcome:");
            crate::outcome::print_outcome(o, "  ");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The lines of policy `policy_id` within a version's text (from its first annotation up to the
/// next policy, without the comments and blank lines that lead into the next one). Falls back to
/// the whole text, flagged, when the text cannot be parsed here (a newer server's Cedar).
fn policy_excerpt(set_id: &str, text: &str, policy_id: &str) -> (String, bool) {
    let Ok(source) = gavel_policy::parse_and_validate(set_id, text) else {
        return (text.to_string(), true);
    };
    let Some(i) = source.policies.iter().position(|p| p.id == policy_id) else {
        return (text.to_string(), true);
    };
    let start = source.policies[i].line as usize;
    let end = source.policies.get(i + 1).map_or(usize::MAX, |p| p.line as usize);
    let mut lines: Vec<&str> =
        text.lines().enumerate().filter(|(n, _)| (start..end).contains(&(n + 1))).map(|(_, l)| l).collect();
    while lines.last().is_some_and(|l| l.trim().is_empty() || l.trim_start().starts_with("//")) {
        lines.pop();
    }
    if lines.is_empty() {
        return (text.to_string(), true);
    }
    (lines.join("\n"), false)
}

#[cfg(test)]
mod tests {
    use super::policy_excerpt;
    use gavel_core::audit::TracedPrincipal;
    use serde_json::json;

    /// A traced agent that is no longer registered answers with its id only, and reads as gone.
    #[test]
    fn a_gone_agent_reads_as_gone() {
        let gone: TracedPrincipal = serde_json::from_value(json!({"id": "agt_1"})).unwrap();
        assert!(matches!(gone, TracedPrincipal::Gone(ref g) if g.id == "agt_1"), "{gone:?}");
        let agent = json!({"id": "agt_2", "name": "bot", "owner": "alice", "environment": "prod",
                           "tier": "standard", "groups": [], "status": "active", "created_at": "t",
                           "created_by": "usr_1"});
        let agent: TracedPrincipal = serde_json::from_value(agent).unwrap();
        assert!(matches!(agent, TracedPrincipal::Agent(ref a) if a.name == "bot"), "{agent:?}");
    }

    const TEXT: &str = "// header\n@id(\"a\")\npermit(principal, action == Action::\"call_tool\", resource == Tool::\"x\");\n\n// next one\n@id(\"b\")\nforbid(principal, action == Action::\"call_tool\", resource)\nwhen { context.argument_text like \"*rm*\" };\n";

    #[test]
    fn excerpts_one_policy_without_the_next_ones_comment() {
        let (a, whole) = policy_excerpt("s", TEXT, "a");
        assert!(!whole);
        assert_eq!(
            a,
            "@id(\"a\")\npermit(principal, action == Action::\"call_tool\", resource == Tool::\"x\");"
        );
        let (b, _) = policy_excerpt("s", TEXT, "b");
        assert!(b.starts_with("@id(\"b\")\nforbid") && b.ends_with("};"), "{b}");
        assert_eq!(policy_excerpt("s", TEXT, "zzz"), (TEXT.to_string(), true));
    }
}
