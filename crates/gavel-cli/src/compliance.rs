//! `gavel compliance` (readiness scans, exports on record) and `gavel share` (read-only links
//! for auditors) over the server's `/v1/compliance/*` and `/v1/shares`.
//!
//! A scan says, per criterion of a framework, whether gavel's controls are enforcing, only
//! observing, or missing (a gap), with findings and what changed since the previous scan. A share
//! link lets an auditor list and download one export with no account; every access is recorded.

use crate::remote::{print_table, read, s, show, Remote};
use anyhow::bail;
use clap::Subcommand;
use gavel_core::compliance::Scan;
use gavel_core::shares::{AccessEntry, ExportRecord, Share, ShareAccess};
use gavel_server::compliance_api::CreatedShare;
use gavel_server::openapi::List;
use serde_json::json;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum ComplianceCommand {
    /// Run a readiness scan now (admin or auditor); it is recorded and compared with the last one.
    Scan {
        /// `soc2`, or the name of a framework file in <data-dir>/frameworks/ on the server.
        #[arg(long, default_value = "soc2")]
        framework: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Stored scans, newest first.
    Scans {
        /// Only scans of this framework (e.g. soc2).
        #[arg(long)]
        framework: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// One stored scan, with every finding.
    Show {
        /// The id (from the list command).
        id: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Evidence exports on record (gavel evidence export, POST /v1/compliance/exports).
    Exports {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Write a signed evidence bundle on the server (admin or auditor), ready to share.
    Export {
        /// The framework to map the record to.
        #[arg(long, default_value = "soc2")]
        framework: String,
        /// First day, YYYY-MM-DD (inclusive).
        #[arg(long)]
        from: String,
        /// Day after the period, YYYY-MM-DD (exclusive).
        #[arg(long)]
        to: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub enum ShareCommand {
    /// Create a read-only link to one export (admin). The URL is shown once.
    Create {
        /// The export id (gavel compliance exports).
        #[arg(long = "export", value_name = "EXPORT_ID")]
        export: String,
        /// How long the link works: 30d, 2w or a number of days (1–365).
        #[arg(long, default_value = "30d")]
        expires: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Links (never their tokens), with expiry and revocation.
    List {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a link (admin): the next request through it is refused.
    Revoke {
        /// The id (from the list command).
        id: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Every access through a link: when, which file, from where.
    Accesses {
        /// The id (from the list command).
        id: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// `30d`, `2w` or `30` → days.
pub fn parse_days(text: &str) -> anyhow::Result<u32> {
    let text = text.trim();
    let (number, unit) = match text.char_indices().last() {
        Some((i, 'd')) => (&text[..i], 1),
        Some((i, 'w')) => (&text[..i], 7),
        _ => (text, 1),
    };
    match number.parse::<u32>() {
        Ok(n) if n > 0 => Ok(n.saturating_mul(unit)),
        _ => bail!("--expires {text:?} must be a number of days like 30d or 2w"),
    }
}

fn print_scan(scan: &Scan) {
    let count = |state: &str| s(&scan.summary.get(state));
    println!(
        "scan {} of {} at {} by {}: {} enforcing, {} observe, {} gap",
        s(&scan.id),
        s(&scan.framework),
        s(&scan.completed_at),
        s(&scan.run_by),
        count("enforcing"),
        count("observe"),
        count("gap")
    );
    let rows: Vec<Vec<String>> = scan
        .criteria
        .iter()
        .map(|c| vec![s(&c.id), s(&c.state), c.findings.len().to_string(), s(&c.title)])
        .collect();
    print_table(&["CRITERION", "STATE", "FINDINGS", "TITLE"], &rows);
    let mut listed = std::collections::BTreeSet::new();
    for c in &scan.criteria {
        for f in &c.findings {
            if listed.insert(s(&f.key)) {
                println!("  [{}] {} ({})", s(&f.severity), s(&f.message), s(&f.key));
            }
        }
    }
    let new = scan.new_findings.len();
    let remediated = &scan.remediated_findings;
    match &scan.previous_scan {
        Some(prev) => println!("since scan {prev}: {new} new finding(s), {} remediated", remediated.len()),
        None => println!("first scan of this framework: {new} finding(s)"),
    }
    for f in remediated {
        println!("  remediated: {} ({})", s(&f.message), s(&f.key));
    }
}

pub fn run(remote: &Remote, cmd: ComplianceCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ComplianceCommand::Scan { framework, json } => {
            let scan = remote.post("/v1/compliance/scans", Some(json!({"framework": framework})))?;
            show(scan, json, print_scan)?;
        }
        ComplianceCommand::Scans { framework, json } => {
            let query: Vec<(&str, String)> = framework.map(|f| ("framework", f)).into_iter().collect();
            show(remote.get("/v1/compliance/scans", &query)?, json, |list: &List<Scan>| {
                if list.items.is_empty() {
                    println!("no scan yet: run gavel compliance scan");
                } else {
                    let rows: Vec<Vec<String>> = list
                        .items
                        .iter()
                        .map(|scan| {
                            let count = |state: &str| s(&scan.summary.get(state));
                            vec![
                                s(&scan.id),
                                s(&scan.framework),
                                s(&scan.completed_at),
                                s(&scan.run_by),
                                count("enforcing"),
                                count("observe"),
                                count("gap"),
                            ]
                        })
                        .collect();
                    print_table(
                        &["ID", "FRAMEWORK", "COMPLETED", "BY", "ENFORCING", "OBSERVE", "GAP"],
                        &rows,
                    );
                }
            })?;
        }
        ComplianceCommand::Show { id, json } => {
            show(remote.get(&format!("/v1/compliance/scans/{id}"), &[])?, json, print_scan)?;
        }
        ComplianceCommand::Exports { json } => {
            show(remote.get("/v1/compliance/exports", &[])?, json, |list: &List<ExportRecord>| {
                if list.items.is_empty() {
                    println!("no export on record");
                } else {
                    let rows: Vec<Vec<String>> = list
                        .items
                        .iter()
                        .map(|e| {
                            vec![
                                s(&e.export_id),
                                s(&e.framework),
                                format!("{}..{}", s(&e.from), s(&e.to)),
                                s(&e.total_events),
                                s(&e.type_ii),
                                s(&e.recorded_at),
                            ]
                        })
                        .collect();
                    print_table(&["EXPORT", "FRAMEWORK", "PERIOD", "EVENTS", "TYPE II", "RECORDED"], &rows);
                }
            })?;
        }
        ComplianceCommand::Export { framework, from, to, json } => {
            let v = remote.post(
                "/v1/compliance/exports",
                Some(json!({"framework": framework, "from": from, "to": to})),
            )?;
            if json {
                crate::print_json(&v);
            } else {
                let e: gavel_evidence::ExportSummary = read(v)?;
                println!(
                    "exported {} ({} events, Type II: {}) on the server; share it with: gavel share create --export {}",
                    s(&e.export_id),
                    s(&e.total_events),
                    s(&e.type_ii.type_ii),
                    s(&e.export_id)
                );
                for w in &e.warnings {
                    println!("  warning: {}", s(w));
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn share(remote: &Remote, cmd: ShareCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ShareCommand::Create { export, expires, json } => {
            let days = parse_days(&expires)?;
            let answer =
                remote.post("/v1/shares", Some(json!({"export_id": export, "expires_days": days})))?;
            let created: CreatedShare = read(answer.clone())?;
            let url = format!("{}{}", remote.base(), s(&created.url_path));
            if json {
                // The server's answer, with the whole URL the CLI puts together.
                let mut v = answer;
                v["url"] = json!(url);
                crate::print_json(&v);
            } else {
                let share = &created.issued.share;
                println!("share link (shown once; read-only, expires {}):", s(&share.expires_at));
                println!("  {url}");
                println!("  id: {} (revoke with: gavel share revoke {})", s(&share.id), s(&share.id));
            }
        }
        ShareCommand::List { json } => {
            show(remote.get("/v1/shares", &[])?, json, |list: &List<Share>| {
                if list.items.is_empty() {
                    println!("no share link has been created");
                } else {
                    let rows: Vec<Vec<String>> = list
                        .items
                        .iter()
                        .map(|l| {
                            let state = if l.revoked { "revoked" } else { "active" };
                            vec![
                                s(&l.id),
                                s(&l.export_id),
                                state.to_string(),
                                s(&l.expires_at),
                                s(&l.created_by),
                                s(&l.revoked_by),
                            ]
                        })
                        .collect();
                    print_table(&["ID", "EXPORT", "STATE", "EXPIRES", "CREATED BY", "REVOKED BY"], &rows);
                }
            })?;
        }
        ShareCommand::Revoke { id, json } => {
            show(remote.post(&format!("/v1/shares/{id}/revoke"), None)?, json, |share: &Share| {
                println!("revoked share link {} (by {})", s(&share.id), s(&share.revoked_by));
            })?;
        }
        ShareCommand::Accesses { id, json } => {
            show(
                remote.get(&format!("/v1/shares/{id}/accesses"), &[])?,
                json,
                |list: &List<ShareAccess>| {
                    if list.items.is_empty() {
                        println!("no access through share link {id}");
                    } else {
                        let rows: Vec<Vec<String>> = list.items.iter().map(access_row).collect();
                        print_table(&["TIME", "FILE", "CLIENT"], &rows);
                    }
                },
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One line of `gavel share accesses`: a recorded access names its file (`-` for the listing)
/// and client; a summary row says what it counted and from where.
fn access_row(access: &ShareAccess) -> Vec<String> {
    let (file, client) = match &access.entry {
        AccessEntry::Recorded(r) => (r.path.clone().unwrap_or_else(|| "-".into()), r.client.clone()),
        AccessEntry::Counted(c) => {
            let t = &c.tally;
            let refused = t.not_found + t.rate_limited + t.too_long;
            (
                format!("(counted until {}: {} repeated, {refused} refused)", c.summary.to, t.repeated),
                t.source.clone().unwrap_or_else(|| "(other sources)".into()),
            )
        }
    };
    vec![access.time.clone(), file, client]
}

#[cfg(test)]
mod tests {
    #[test]
    fn expiry_takes_days_and_weeks() {
        assert_eq!(super::parse_days("30d").unwrap(), 30);
        assert_eq!(super::parse_days("2w").unwrap(), 14);
        assert_eq!(super::parse_days("7").unwrap(), 7);
        for bad in ["", "0d", "d", "-3d", "1y"] {
            assert!(super::parse_days(bad).is_err(), "{bad}");
        }
    }
}
