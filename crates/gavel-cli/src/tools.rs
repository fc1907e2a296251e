//! `gavel tools`: the tool registry's categories (what policies see as `resource.category`) under
//! two-person change control, over `/v1/tools`.
//!
//! `categorize` reads an upstream's `categories = { "glob" = "category" }` from gavel.toml,
//! expands the globs over the tool names the gateways recorded for that upstream, prints the plan
//! (tool: old -> new) and proposes one change; a different admin approves it with
//! `gavel tools approve`. A bad glob or category, an unknown upstream, or a tool two globs give
//! different categories is an error before anything is sent; the gateway itself never sets a
//! category.

use crate::remote::{print_table, read, s, seg, show, Remote};
use anyhow::bail;
use clap::Subcommand;
use gavel_core::gateway::UpstreamTools;
use gavel_core::policies::ChangeStatus;
use gavel_core::tool_categories::{glob_matches, ToolCategoryChange, ToolEntry, UNCATEGORISED};
use gavel_server::openapi::List;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum ToolsCommand {
    /// The tool registry: each tool's category and where it came from (a pack, an upstream's
    /// configuration, an admin).
    List {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Category changes, most recently changed first.
    Changes {
        /// Only changes with this status.
        #[arg(long, value_enum)]
        status: Option<ChangeStatus>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Approve and apply a pending category change. The approver must be an admin other than its
    /// proposer; a change some tool's category moved under since it was proposed is refused.
    Approve {
        /// The change id (tcc_…, from `gavel tools changes`).
        change_id: String,
        /// Why (recorded with the decision on the change).
        #[arg(long)]
        comment: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Reject a pending category change (any admin, including its proposer withdrawing it).
    Reject {
        /// The change id (tcc_…, from `gavel tools changes`).
        change_id: String,
        /// Why (recorded with the decision on the change).
        #[arg(long)]
        comment: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Propose the categories of an upstream's `categories` table in gavel.toml for the tools
    /// its gateways recorded: prints the plan (tool: old -> new) and opens one pending change that
    /// a different admin must approve. Needs an admin token.
    Categorize {
        /// The upstream, `[gateway.upstreams.NAME]` of --config (its recorded tool lists are the
        /// ones `gavel gateway --upstream-name NAME` reported).
        #[arg(long, value_name = "NAME")]
        upstream_name: String,
        /// The gavel.toml to read (default: $GAVEL_DATA_DIR/gavel.toml, else
        /// ./gavel-data/gavel.toml, as `gavel serve` reads).
        #[arg(long, env = "GAVEL_CONFIG", value_name = "FILE")]
        config: Option<PathBuf>,
        /// Print the plan and propose nothing.
        #[arg(long)]
        dry_run: bool,
        /// Also re-categorise tools whose category was set by another source (a pack, an admin,
        /// another upstream's categories). Without it they are kept and listed: the recorded tool
        /// names come from agents' gateways, so a name reported under this upstream must not
        /// re-categorise a tool that belongs elsewhere unnoticed.
        #[arg(long)]
        override_other_sources: bool,
        /// Print JSON (the plan, and the change when one is proposed) instead of text.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(remote: &Remote, cmd: ToolsCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ToolsCommand::List { json } => {
            show(remote.get("/v1/tools", &[])?, json, |list: &List<ToolEntry>| {
                if list.items.is_empty() {
                    println!("no tool is categorised: policies see category \"none\" for every tool");
                    return;
                }
                let rows: Vec<Vec<String>> = list
                    .items
                    .iter()
                    .map(|t| {
                        vec![
                            s(&t.tool),
                            t.category.clone().unwrap_or_else(|| UNCATEGORISED.into()),
                            s(&t.source),
                            s(&t.change_id),
                            s(&t.approved_by_name),
                        ]
                    })
                    .collect();
                print_table(&["TOOL", "CATEGORY", "SOURCE", "CHANGE", "APPROVED BY"], &rows);
            })?;
        }
        ToolsCommand::Changes { status, json } => {
            let query: Vec<(&str, String)> =
                status.map(|st| ("status", crate::remote::wire_name(&st))).into_iter().collect();
            show(remote.get("/v1/tools/changes", &query)?, json, |list: &List<ToolCategoryChange>| {
                print_changes(&list.items)
            })?;
        }
        ToolsCommand::Approve { change_id, comment, json } => {
            let path = format!("/v1/tools/changes/{}/approve", seg(&change_id)?);
            show(remote.post(&path, Some(json!({"comment": comment})))?, json, |c: &ToolCategoryChange| {
                println!(
                    "approved change {} proposed by {}: applied; decide sees these categories from the next call",
                    s(&c.id),
                    s(&c.proposed_by_name)
                );
                print_assignments(c);
            })?;
        }
        ToolsCommand::Reject { change_id, comment, json } => {
            let path = format!("/v1/tools/changes/{}/reject", seg(&change_id)?);
            show(remote.post(&path, Some(json!({"comment": comment})))?, json, |c: &ToolCategoryChange| {
                println!("rejected change {}; nothing changed", s(&c.id));
            })?;
        }
        ToolsCommand::Categorize { upstream_name, config, dry_run, override_other_sources, json } => {
            categorize(remote, &upstream_name, config, dry_run, override_other_sources, json)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One tool of a plan: the category in force and the one the configuration gives it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Planned {
    pub tool: String,
    /// `None`: uncategorised.
    pub old: Option<String>,
    pub new: String,
}

/// A matched tool whose category another source set, kept as it is.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Kept {
    pub tool: String,
    pub category: String,
    /// The source that set it (`soc2@1`, `admin`, `upstream:<other>`), if recorded.
    pub source: Option<String>,
}

/// A tool's category in the registry and the source that set it.
pub type Registered = (Option<String>, Option<String>);

/// What `categorize` would change.
#[derive(Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Plan {
    /// Tools whose category changes.
    pub changes: Vec<Planned>,
    /// Tools matched that already have their category.
    pub unchanged: Vec<String>,
    /// Recorded tools no glob matches (left as they are).
    pub unmatched: Vec<String>,
    /// Matched tools left as they are because another source categorised them (see
    /// `--override-other-sources`).
    pub kept: Vec<Kept>,
    /// Globs that match no recorded tool.
    pub unused_globs: Vec<String>,
}

/// Expands `globs` (glob → category) over the recorded `tools` against the `registry` (tool →
/// category in force and its source). A tool two globs give different categories is an error
/// naming both. A categorised tool whose source is not `own` (this upstream's changes) is kept
/// unless `override_others`.
pub fn plan(
    globs: &BTreeMap<String, String>,
    tools: &BTreeSet<String>,
    registry: &BTreeMap<String, Registered>,
    own: &str,
    override_others: bool,
) -> anyhow::Result<Plan> {
    let mut plan = Plan::default();
    let mut used = BTreeSet::new();
    let mut disagreements = Vec::new();
    for tool in tools {
        let matched: Vec<(&String, &String)> =
            globs.iter().filter(|(glob, _)| glob_matches(glob, tool)).collect();
        used.extend(matched.iter().map(|(glob, _)| glob.as_str()));
        let categories: BTreeSet<&String> = matched.iter().map(|(_, category)| *category).collect();
        match categories.len() {
            0 => plan.unmatched.push(tool.clone()),
            1 => {
                let new = matched[0].1.clone();
                let (old, source) = registry.get(tool).cloned().unwrap_or_default();
                if old.as_deref() == Some(new.as_str()) {
                    plan.unchanged.push(tool.clone());
                } else if let Some(category) =
                    old.clone().filter(|_| !override_others && source.as_deref() != Some(own))
                {
                    plan.kept.push(Kept { tool: tool.clone(), category, source });
                } else {
                    plan.changes.push(Planned { tool: tool.clone(), old, new });
                }
            }
            _ => disagreements.push(format!(
                "{tool} (matched by {})",
                matched.iter().map(|(g, c)| format!("{g:?} = {c:?}")).collect::<Vec<_>>().join(", ")
            )),
        }
    }
    if !disagreements.is_empty() {
        bail!(
            "globs that disagree match the same tool, so its category is ambiguous: {}; make the globs \
             disjoint or give them the same category",
            disagreements.join("; ")
        );
    }
    plan.unused_globs = globs.keys().filter(|g| !used.contains(g.as_str())).cloned().collect();
    Ok(plan)
}

fn categorize(
    remote: &Remote,
    upstream: &str,
    config: Option<PathBuf>,
    dry_run: bool,
    override_others: bool,
    json: bool,
) -> anyhow::Result<()> {
    // The file first: a bad glob or category is an error before anything is sent.
    let path = crate::gateway::config_path(config, upstream)?;
    let named = gavel_gateway::NamedUpstreams::load(&path)?;
    named.get(upstream)?;
    let Some(globs) = named.categories.get(upstream) else {
        bail!(
            "[gateway.upstreams.{upstream}] of {} has no categories table, e.g. categories = {{ \"read_*\" = \"read_only\" }}",
            path.display()
        );
    };
    let recorded: List<UpstreamTools> =
        read(remote.get("/v1/gateway/tools", &[("upstream", upstream.to_string())])?)?;
    let tools: BTreeSet<String> = recorded.items.into_iter().flat_map(|u| u.tools).collect();
    if tools.is_empty() {
        bail!(
            "no tool list of upstream {upstream} is recorded yet: a gateway records one when an agent lists \
             its tools (gavel gateway --upstream-name {upstream}); categorize after that"
        );
    }
    let registry: List<ToolEntry> = read(remote.get("/v1/tools", &[])?)?;
    let registry: BTreeMap<String, Registered> =
        registry.items.into_iter().map(|t| (t.tool, (t.category, t.source))).collect();
    let plan = plan(globs, &tools, &registry, &format!("upstream:{upstream}"), override_others)?;
    if !json {
        print_plan(upstream, &plan);
    }
    if plan.changes.is_empty() || dry_run {
        if json {
            crate::print_json(&json!({"plan": plan, "change": null}));
        } else if plan.changes.is_empty() {
            let kept = if plan.kept.is_empty() { "" } else { " or is kept (above)" };
            println!("nothing to change: every matched tool already has its category{kept}");
        } else {
            println!("dry run: nothing proposed");
        }
        return Ok(());
    }
    let assignments: Vec<_> =
        plan.changes.iter().map(|p| json!({"tool": p.tool, "category": p.new})).collect();
    let change =
        remote.post("/v1/tools/changes", Some(json!({"assignments": assignments, "upstream": upstream})))?;
    if json {
        crate::print_json(&json!({"plan": plan, "change": change}));
        return Ok(());
    }
    let change: ToolCategoryChange = read(change)?;
    println!(
        "change {} is pending: {} tool(s) of upstream {upstream}",
        s(&change.id),
        change.assignments.len()
    );
    println!("a different admin must approve it (two-person rule):");
    println!("  gavel tools approve {}", s(&change.id));
    Ok(())
}

fn category_name(category: Option<&str>) -> &str {
    category.unwrap_or(UNCATEGORISED)
}

fn print_plan(upstream: &str, plan: &Plan) {
    println!("categories of upstream {upstream}:");
    for p in &plan.changes {
        println!("  {}: {} -> {}", p.tool, category_name(p.old.as_deref()), p.new);
    }
    if !plan.unchanged.is_empty() {
        println!("  unchanged: {}", plan.unchanged.join(", "));
    }
    if !plan.unmatched.is_empty() {
        println!("  matched by no glob (left as they are): {}", plan.unmatched.join(", "));
    }
    for k in &plan.kept {
        println!(
            "  kept: {} is {}, set by {} (--override-other-sources to change it)",
            k.tool,
            k.category,
            k.source.as_deref().unwrap_or("another source")
        );
    }
    for glob in &plan.unused_globs {
        eprintln!("note: glob {glob:?} matches no recorded tool of {upstream}");
    }
}

fn print_assignments(change: &ToolCategoryChange) {
    for a in &change.assignments {
        println!(
            "  {}: {} -> {}",
            a.tool,
            category_name(a.previous.as_deref()),
            category_name(a.category.as_deref())
        );
    }
}

fn print_changes(changes: &[ToolCategoryChange]) {
    if changes.is_empty() {
        println!("no changes");
        return;
    }
    let rows: Vec<Vec<String>> = changes
        .iter()
        .map(|c| {
            let what: Vec<String> = c
                .assignments
                .iter()
                .map(|a| format!("{}={}", a.tool, category_name(a.category.as_deref())))
                .collect();
            vec![
                s(&c.id),
                s(&c.status),
                s(&c.source),
                what.join(","),
                s(&c.proposed_by_name),
                s(&c.decided_by_name),
                s(&c.decided_at),
            ]
        })
        .collect();
    print_table(&["ID", "STATUS", "SOURCE", "CATEGORIES", "PROPOSED BY", "DECIDED BY", "DECIDED AT"], &rows);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

    use super::*;

    fn globs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(g, c)| (g.to_string(), c.to_string())).collect()
    }

    fn names(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|t| t.to_string()).collect()
    }

    const OWN: &str = "upstream:files";

    fn registered(category: &str, source: &str) -> Registered {
        (Some(category.to_string()), Some(source.to_string()))
    }

    #[test]
    fn a_plan_names_each_tools_old_and_new_category() {
        let registry: BTreeMap<String, Registered> = [
            ("read_dir".to_string(), registered("read_only", OWN)),
            ("wipe".to_string(), registered("destructive", OWN)),
        ]
        .into_iter()
        .collect();
        let plan = plan(
            &globs(&[("read_*", "read_only"), ("wipe", "admin_only"), ("never_*", "x")]),
            &names(&["read_dir", "read_file", "wipe", "echo"]),
            &registry,
            OWN,
            false,
        )
        .unwrap();
        assert_eq!(
            plan.changes,
            vec![
                Planned { tool: "read_file".into(), old: None, new: "read_only".into() },
                Planned { tool: "wipe".into(), old: Some("destructive".into()), new: "admin_only".into() },
            ]
        );
        assert_eq!(
            (plan.unchanged, plan.unmatched),
            (vec!["read_dir".to_string()], vec!["echo".to_string()])
        );
        assert_eq!(plan.unused_globs, vec!["never_*".to_string()]);
    }

    #[test]
    fn globs_that_disagree_on_a_tool_are_refused_and_ones_that_agree_are_not() {
        let refused = plan(
            &globs(&[("read_*", "read_only"), ("*_file", "files")]),
            &names(&["read_file", "read_dir"]),
            &BTreeMap::new(),
            OWN,
            false,
        )
        .unwrap_err()
        .to_string();
        assert!(
            refused.contains("read_file")
                && refused.contains("\"*_file\"")
                && !refused.contains("read_dir ("),
            "{refused}"
        );
        let agreed = plan(
            &globs(&[("read_*", "read_only"), ("*_file", "read_only")]),
            &names(&["read_file"]),
            &BTreeMap::new(),
            OWN,
            false,
        )
        .unwrap();
        assert_eq!(agreed.changes.len(), 1);
    }

    /// Tool names are what agents' gateways reported under this upstream: one that another
    /// source categorised (a pack's payments tool, say) is kept unless asked for.
    #[test]
    fn a_tool_another_source_categorised_is_kept_unless_overridden() {
        let registry: BTreeMap<String, Registered> = [
            ("stripe.refund".to_string(), registered("payments", "soc2@1")),
            ("read_dir".to_string(), registered("files", OWN)),
        ]
        .into_iter()
        .collect();
        let tools = names(&["read_dir", "stripe.refund", "read_file"]);
        let kept = plan(&globs(&[("*", "read_only")]), &tools, &registry, OWN, false).unwrap();
        assert_eq!(
            kept.kept,
            vec![Kept {
                tool: "stripe.refund".into(),
                category: "payments".into(),
                source: Some("soc2@1".into())
            }]
        );
        let changed: Vec<&str> = kept.changes.iter().map(|p| p.tool.as_str()).collect();
        assert_eq!(changed, ["read_dir", "read_file"], "its own and uncategorised tools change");
        let overridden = plan(&globs(&[("*", "read_only")]), &tools, &registry, OWN, true).unwrap();
        assert!(overridden.kept.is_empty());
        assert_eq!(overridden.changes.len(), 3);
    }
}
