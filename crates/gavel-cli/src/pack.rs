//! `gavel pack`: built-in policy packs (e.g. `soc2`), over `/v1/packs`.
//!
//! Installing a pack puts it in force in *observe* mode at once (it enforces nothing, so no second
//! person is needed to watch); going live is a change like any other and needs another admin.

use crate::remote::{items, print_table, s, seg, Remote};
use clap::Subcommand;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum PackCommand {
    /// List the built-in packs and whether they are installed.
    List {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Install a pack in observe mode: decisions record what it would have decided. Needs an admin token.
    Install {
        /// Pack name, e.g. soc2.
        name: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Propose switching an installed pack to enforce mode; a different admin approves it with
    /// `gavel policy approve`. Needs an admin token.
    Golive {
        /// The pack name (see `gavel pack list`), e.g. soc2.
        name: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(remote: &Remote, cmd: PackCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        PackCommand::List { json } => {
            let list = remote.get("/v1/packs", &[])?;
            if json {
                crate::print_json(&list);
            } else {
                let rows: Vec<Vec<String>> = items(&list)
                    .iter()
                    .map(|p| {
                        let installed = &p["installed"];
                        let state = if installed.is_null() {
                            "not installed".to_string()
                        } else {
                            format!(
                                "{} mode, active version {}",
                                s(&installed["mode"]),
                                s(&installed["active_version"])
                            )
                        };
                        vec![s(&p["name"]), s(&p["version"]), s(&p["tools"]), state, s(&p["description"])]
                    })
                    .collect();
                print_table(&["NAME", "VERSION", "TOOLS", "INSTALLED", "DESCRIPTION"], &rows);
            }
        }
        PackCommand::Install { name, json } => {
            let set = remote.post(&format!("/v1/packs/{}/install", seg(&name)?), None)?;
            if json {
                crate::print_json(&set);
            } else {
                println!(
                    "installed pack {} as policy set {} version {} in {} mode",
                    s(&set["pack"]),
                    s(&set["set_id"]),
                    s(&set["active_version"]),
                    s(&set["mode"])
                );
                println!("it enforces nothing yet: decisions record what it would have decided (would_have)");
                println!(
                    "to enforce it: gavel pack golive {}, then another admin approves",
                    s(&set["set_id"])
                );
            }
        }
        PackCommand::Golive { name, json } => {
            let change = remote.post(&format!("/v1/packs/{}/golive", seg(&name)?), None)?;
            if json {
                crate::print_json(&change);
            } else {
                crate::policy::print_pending(&change);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
