//! `gavel pack`: built-in policy packs (e.g. `soc2`), over `/v1/packs`.
//!
//! Installing a pack puts it in force in *observe* mode at once (it enforces nothing, so no second
//! person is needed to watch); going live is a change like any other and needs another admin.

use crate::remote::{print_table, s, seg, show, Remote};
use clap::Subcommand;
use gavel_core::policies::{PackInfo, PolicySet};
use gavel_server::openapi::List;
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
            show(remote.get("/v1/packs", &[])?, json, |list: &List<PackInfo>| {
                let rows: Vec<Vec<String>> = list
                    .items
                    .iter()
                    .map(|p| {
                        let state = match &p.installed {
                            None => "not installed".to_string(),
                            Some(set) => {
                                format!("{} mode, active version {}", s(&set.mode), s(&set.active_version))
                            }
                        };
                        vec![s(&p.name), s(&p.version), s(&p.tools), state, s(&p.description)]
                    })
                    .collect();
                print_table(&["NAME", "VERSION", "TOOLS", "INSTALLED", "DESCRIPTION"], &rows);
            })?;
        }
        PackCommand::Install { name, json } => {
            let set = remote.post(&format!("/v1/packs/{}/install", seg(&name)?), None)?;
            show(set, json, |set: &PolicySet| {
                println!(
                    "installed pack {} as policy set {} version {} in {} mode",
                    s(&set.pack),
                    s(&set.set_id),
                    s(&set.active_version),
                    s(&set.mode)
                );
                println!("it enforces nothing yet: decisions record what it would have decided (would_have)");
                println!("to enforce it: gavel pack golive {}, then another admin approves", s(&set.set_id));
            })?;
        }
        PackCommand::Golive { name, json } => {
            let change = remote.post(&format!("/v1/packs/{}/golive", seg(&name)?), None)?;
            show(change, json, crate::policy::print_pending)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
