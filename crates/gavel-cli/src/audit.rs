//! `gavel audit`: verify the log, record out-of-band evidence, print checkpoints and proofs.
//! These read the data directory directly; `list` and `trace` ask a running server instead
//! (see `audit_query`).

use anyhow::{bail, Context};
use clap::Subcommand;
use gavel_core::{Gavel, Principal};
use gavel_ledger::event::Actor;
use gavel_ledger::hash::to_hex;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Verify the hash chain, canonical bytes, leaf hashes and signed checkpoints. Exit 1 when invalid.
    Verify {
        /// First seq to verify (default 0: the whole log, including every signed checkpoint).
        #[arg(long)]
        from_seq: Option<u64>,
        /// Last seq to verify, inclusive (default: the end of the log). Seqs past the end of the
        /// log are refused.
        #[arg(long)]
        to_seq: Option<u64>,
        /// A checkpoint held outside the database (a C2SP signed note, e.g. from `GET /checkpoint`,
        /// a webhook delivery or an earlier `gavel audit checkpoint`): it must be signed by the log
        /// key and the log must extend it (same root at its size). Repeatable; whole log only.
        #[arg(long, value_name = "FILE")]
        checkpoint: Vec<std::path::PathBuf>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        local: crate::DataDirArgs,
    },
    /// Record out-of-band evidence (an access review, a completed training) as an `external.*` event.
    Record {
        /// Event kind; must start with `external.` (e.g. external.access_review).
        #[arg(long)]
        kind: String,
        /// The evidence, as a JSON object.
        #[arg(long)]
        data: String,
        /// Who records it (default: $USER).
        #[arg(long, env = "USER", default_value = "operator")]
        actor: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        local: crate::DataDirArgs,
    },
    /// Print the latest signed checkpoint (signing a new one if the log grew).
    Checkpoint {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        local: crate::DataDirArgs,
    },
    /// Print the inclusion proof of one event against a signed checkpoint.
    Proof {
        /// The seq of the event to prove.
        #[arg(long)]
        seq: u64,
        /// Tree size to prove against (default: the latest checkpoint).
        #[arg(long)]
        tree_size: Option<u64>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        local: crate::DataDirArgs,
    },
    /// Print the consistency proof between two tree sizes.
    Consistency {
        /// Older tree size (e.g. the size of a checkpoint you hold).
        #[arg(long)]
        old: u64,
        /// Newer tree size (default: the latest checkpoint).
        #[arg(long)]
        new: Option<u64>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        local: crate::DataDirArgs,
    },
    /// List recorded decisions, newest first, from the server (with a user token).
    List(crate::audit_query::ListArgs),
    /// One action end to end, from the server: the agent, the decision, each policy that fired
    /// with its text, author and approver, then the approval and the outcome.
    Trace(crate::audit_query::TraceArgs),
}

impl AuditCommand {
    /// The data directory of a local command (None for `list` and `trace`, which ask the server).
    pub fn data_dir(&self) -> Option<&crate::DataDirArgs> {
        match self {
            AuditCommand::Verify { local, .. }
            | AuditCommand::Record { local, .. }
            | AuditCommand::Checkpoint { local, .. }
            | AuditCommand::Proof { local, .. }
            | AuditCommand::Consistency { local, .. } => Some(local),
            AuditCommand::List(_) | AuditCommand::Trace(_) => None,
        }
    }
}

/// The local operator: whoever holds the data directory (see `gavel_core::Principal::Operator`).
fn operator(name: &str) -> Principal {
    Principal::Operator(Actor::user(name))
}

pub fn run(gavel: &Gavel, cmd: AuditCommand) -> anyhow::Result<ExitCode> {
    let me = operator("gavel-cli");
    match cmd {
        AuditCommand::Verify { from_seq, to_seq, checkpoint, json, .. } => {
            verify(gavel, from_seq, to_seq, &checkpoint, json)
        }
        AuditCommand::Record { kind, data, actor, json, .. } => record(gavel, &kind, &data, &actor, json),
        AuditCommand::Checkpoint { json, .. } => {
            let c = gavel.checkpoint(&me)?;
            if json {
                crate::print_json(&serde_json::to_value(&c)?);
            } else {
                print!("{}", c.note);
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Proof { seq, tree_size, json, .. } => proof(gavel, seq, tree_size, json),
        AuditCommand::Consistency { old, new, json, .. } => consistency(gavel, old, new, json),
        // main sends these to the server before ever opening the data directory.
        AuditCommand::List(_) | AuditCommand::Trace(_) => bail!("`gavel audit list|trace` ask the server"),
    }
}

fn verify(
    gavel: &Gavel,
    from: Option<u64>,
    to: Option<u64>,
    checkpoints: &[std::path::PathBuf],
    json: bool,
) -> anyhow::Result<ExitCode> {
    let external = checkpoints
        .iter()
        .map(|p| std::fs::read_to_string(p).with_context(|| format!("reading checkpoint {}", p.display())))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if let (Some(from), Some(to)) = (from, to) {
        if to < from {
            bail!("--to-seq {to} is before --from-seq {from}");
        }
    }
    // A range that names seqs the log does not hold is refused, saying how long the log is,
    // rather than verified as an empty or shortened range that looks like a pass.
    if from.is_some() || to.is_some() {
        let size = gavel.log_size()?;
        for (flag, seq) in [("--from-seq", from), ("--to-seq", to)] {
            if let Some(seq) = seq.filter(|&s| s >= size) {
                bail!(
                    "{flag} {seq} is past the end of the log: it holds {size} event(s), the last is seq {}",
                    size.saturating_sub(1)
                );
            }
        }
    }
    let from = from.unwrap_or(0);
    let end = to.map(|t| t.saturating_add(1));
    let report = gavel.verify_log(&operator("gavel-cli"), from, end, &external)?;
    if json {
        crate::print_json(&serde_json::to_value(&report)?);
    } else if report.valid {
        println!(
            "valid: {} of {} events verified (chain, canonical bytes, leaf hashes), {} signed checkpoint(s) matched",
            report.verified, report.total, report.checkpoints_checked
        );
        if report.purged > 0 {
            println!(
                "{} event payload(s) were purged past retention; their leaf hashes verified",
                report.purged
            );
        }
        if !external.is_empty() {
            println!("the log extends the {} checkpoint(s) given with --checkpoint", external.len());
        }
    } else {
        println!("INVALID: first break at seq {}", report.first_break.map_or("-".into(), |s| s.to_string()));
        if let Some(reason) = &report.reason {
            println!("  {reason}");
        }
        println!("  {} of {} events verified before the break", report.verified, report.total);
    }
    if !json {
        for w in &report.warnings {
            println!("warning: {w}");
        }
    }
    Ok(if report.valid { ExitCode::SUCCESS } else { ExitCode::from(crate::exit::INVALID) })
}

fn record(gavel: &Gavel, kind: &str, data: &str, actor: &str, json: bool) -> anyhow::Result<ExitCode> {
    let data: serde_json::Value =
        serde_json::from_str(data).with_context(|| "--data is not valid JSON".to_string())?;
    let appended = gavel.record_external(&operator(actor), kind, data)?;
    if json {
        crate::print_json(&serde_json::to_value(&appended)?);
    } else {
        println!("recorded seq {} at {} (leaf {})", appended.seq, appended.time, to_hex(&appended.leaf_hash));
    }
    Ok(ExitCode::SUCCESS)
}

fn proof(gavel: &Gavel, seq: u64, size: Option<u64>, json: bool) -> anyhow::Result<ExitCode> {
    let p = gavel.inclusion_proof(&operator("gavel-cli"), seq, size)?;
    if json {
        crate::print_json(&serde_json::to_value(&p)?);
    } else {
        println!("inclusion of seq {seq} in the tree of size {}", p.tree_size);
        println!("leaf hash: {}", p.leaf_hash);
        println!("root:      {}", p.root);
        for (i, h) in p.hashes.iter().enumerate() {
            println!("proof[{i}]: {h}");
        }
        if let Some(note) = p.checkpoint {
            print!("\n{note}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn consistency(gavel: &Gavel, old: u64, new: Option<u64>, json: bool) -> anyhow::Result<ExitCode> {
    let p = gavel.consistency_proof_to_head(&operator("gavel-cli"), old, new)?;
    if json {
        crate::print_json(&serde_json::json!({
            "old_size": p.old_size, "new_size": p.new_size, "old_root": p.old_root,
            "new_root": p.new_root, "hashes": p.hashes, "checkpoint": p.checkpoint,
        }));
    } else {
        println!(
            "consistency of size {} (root {}) with size {} (root {})",
            p.old_size, p.old_root, p.new_size, p.new_root
        );
        for (i, h) in p.hashes.iter().enumerate() {
            println!("proof[{i}]: {h}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
