//! `gavel audit list` and `gavel audit trace`: the recorded decisions, read from a running server
//! (GET /v1/audit, GET /v1/audit/trace/{id}). The other `audit` commands read the data directory.
//!
//! `trace` answers the auditor's first question about one action: which agent (and for whom), what
//! was decided, under which policy text, written by whom and approved by whom.

use crate::remote::{items, print_table, s, seg, Remote};
use clap::Args;
use gavel_policy::Outcome;
use serde_json::Value;
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
    let page = remote.get("/v1/audit", &query)?;
    if args.json {
        crate::print_json(&page);
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = items(&page)
        .iter()
        .map(|d| {
            vec![
                s(&d["time"]),
                s(&d["seq"]),
                s(&d["decision_id"]),
                s(&d["agent_name"]),
                s(&d["tool"]),
                s(&d["decision"]),
                s(&d["enforced"]),
                s(&d["would_have"]),
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
    if let Some(cursor) = page["next_cursor"].as_str() {
        println!("more: repeat with --cursor {cursor}");
    }
    Ok(ExitCode::SUCCESS)
}

pub fn trace(remote: &Remote, args: TraceArgs) -> anyhow::Result<ExitCode> {
    let t = remote.get(&format!("/v1/audit/trace/{}", seg(&args.decision_id)?), &[])?;
    if args.json {
        crate::print_json(&t);
        return Ok(ExitCode::SUCCESS);
    }
    let p = &t["principal"];
    println!("decision {} at {} (log seq {})", s(&t["decision_id"]), s(&t["time"]), s(&t["seq"]));
    println!();
    println!("principal:    agent {} ({})", s(&p["name"]), s(&p["id"]));
    println!("  owner:       {}", s(&p["owner"]));
    println!("  environment: {}", s(&p["environment"]));
    println!("  groups:      {}", s(&p["groups"]));
    println!("  tier:        {}", s(&p["tier"]));
    println!("  status now:  {}", s(&p["status"]));
    println!("on behalf of: {}", s(&t["on_behalf_of"]));
    println!("tool:         {}", s(&t["tool"]));
    println!("resource:     {}", s(&t["resource"]));
    let enforced =
        if t["enforced"].as_bool() == Some(true) { "enforced" } else { "not enforced: permissive mode" };
    println!("decision:     {} ({enforced})", s(&t["decision"]));
    if !t["would_have"].is_null() {
        println!("would have:   {} (observe-mode policies)", s(&t["would_have"]));
    }
    let reasons = t["reasons"].as_array().map_or(&[][..], Vec::as_slice);
    for (i, r) in reasons.iter().enumerate() {
        println!("{}{}", if i == 0 { "reasons:      " } else { "              " }, s(r));
    }
    println!();
    let policies = t["policies"].as_array().map_or(&[][..], Vec::as_slice);
    if policies.is_empty() {
        println!("policies: none fired");
    } else {
        println!("policies:");
    }
    for pol in policies {
        let role = if pol["enforced"].as_bool() == Some(true) { "enforced" } else { "observed" };
        println!("  {}/{} version {} ({role})", s(&pol["set_id"]), s(&pol["policy_id"]), s(&pol["version"]));
        println!("    sha256:       {}", s(&pol["sha256"]));
        println!("    author:       {}", s(&pol["author"]));
        println!("    approved by:  {} (change {})", s(&pol["approved_by"]), s(&pol["change_id"]));
        if !pol["mode_approved_by"].is_null() && pol["mode_change_id"] != pol["change_id"] {
            println!(
                "    went live:    approved by {} (change {})",
                s(&pol["mode_approved_by"]),
                s(&pol["mode_change_id"])
            );
        }
        println!("    activated at: {}", s(&pol["activated_at"]));
        if !pol["source"].is_null() {
            println!("    source:       {}", s(&pol["source"]));
        }
        match pol["text"].as_str() {
            Some(text) => {
                let (excerpt, whole) = policy_excerpt(&s(&pol["set_id"]), text, &s(&pol["policy_id"]));
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
    match &t["approval"] {
        Value::Null => println!("approval: none recorded"),
        a => {
            println!("approval: {}", s(&a["id"]));
            crate::approvals::print_approval(&approval_summary(a), "  ");
        }
    }
    match &t["outcome"] {
        Value::Null => println!("outcome: none recorded"),
        o => {
            println!("outcome:");
            crate::outcome::print_outcome(o, "  ");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The approval without what the trace already printed above it (the call itself), so the
/// section reads as status, approver, time and comment.
fn approval_summary(a: &Value) -> Value {
    let mut a = a.clone();
    if let Some(o) = a.as_object_mut() {
        for k in
            ["tool", "agent_id", "agent_name", "owner", "on_behalf_of", "resource", "arguments", "reasons"]
        {
            o.remove(k);
        }
    }
    a
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
