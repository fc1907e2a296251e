//! `gavel evidence`: export a signed evidence bundle from the local data directory, and verify a
//! bundle offline.
//!
//! `export` reads the log directly (like `gavel audit verify`), signs with the data directory's
//! export key (`keys/export.key`, created on first use) and records the export in the log.
//! `verify` needs no data directory at all: it is what an auditor runs on a bundle they were
//! given. It prints every check and exits 1 when the bundle does not verify, 3 on bad input.

use anyhow::Context;
use clap::{Args, Subcommand};
use gavel_core::evidence_runs::{ExportOut, ExportParams};
use gavel_core::{DataDir, Gavel, Principal};
use gavel_evidence::export::{date_str, parse_date};
use gavel_evidence::{verify_bundle, Framework, VerifyOptions};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum EvidenceCommand {
    /// Write a signed evidence bundle for the period [--from, --to).
    Export(ExportArgs),
    /// Verify a bundle offline: file hashes, signature, checkpoint, chain, inclusion proof,
    /// consistency (and with --previous, that an earlier bundle's log is a prefix). Exit 1 if invalid.
    Verify(VerifyArgs),
    /// Print the export signing public key (SPKI PEM), creating the key if it does not exist yet:
    /// publish it so auditors can pin it (`gavel evidence verify --signing-key`).
    Key {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        data: crate::DataDirArgs,
    },
}

#[derive(Args)]
pub struct ExportArgs {
    /// `soc2` (built in) or the path of a framework TOML file.
    #[arg(long, default_value = "soc2")]
    framework: String,
    /// First day of the period, YYYY-MM-DD (UTC, inclusive).
    #[arg(long)]
    from: String,
    /// Day after the period, YYYY-MM-DD (UTC, exclusive).
    #[arg(long)]
    to: String,
    /// The bundle directory to create (must not exist, or be empty). Default:
    /// <data-dir>/exports/<export id>, where the server can serve it to share links.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Also write <OUT>.tar.gz (reproducible: sorted entries, normalized metadata).
    #[arg(long)]
    archive: bool,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    pub data: crate::DataDirArgs,
}

#[derive(Args)]
pub struct VerifyArgs {
    /// The bundle directory.
    dir: PathBuf,
    /// An earlier bundle of the same log: its checkpoint must be a prefix of this one's.
    #[arg(long)]
    previous: Option<PathBuf>,
    /// The log's verifier key (`gavel keys show`), to pin instead of trusting integrity.json's.
    #[arg(long)]
    log_key: Option<String>,
    /// The organisation's export public key (SPKI PEM file), to pin instead of trusting signing-key.pem.
    #[arg(long)]
    signing_key: Option<PathBuf>,
    /// A framework definition (TOML) you trust, for bundles exported with one other than the
    /// built-in soc2: with it the criteria's statuses and summaries are recomputed.
    #[arg(long, value_name = "FILE")]
    framework: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run_export(dir: &DataDir, gavel: &Gavel, args: ExportArgs) -> anyhow::Result<ExitCode> {
    let framework = Framework::load(&args.framework)?;
    let from = parse_date(&args.from).context("--from")?;
    let to = parse_date(&args.to).context("--to")?;
    let (_, created) = gavel_evidence::load_or_create_export_key(dir)?;
    let show_progress = !args.json && std::io::stderr().is_terminal();
    // A bar on a terminal only (drawn on stderr, so --json and pipes stay clean).
    let bar = indicatif::ProgressBar::hidden();
    if show_progress {
        bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "exporting {bar:40} {pos}/{len} events ({per_sec}, {eta} left)",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
    }
    let progress = |done: u64, total: u64| {
        bar.set_length(total);
        bar.set_position(done);
        if done == total {
            bar.finish();
        }
    };
    // The manifest states what is true of this data directory, never what a flag says (the
    // retention period in force, whether the data is simulated): core fills those in.
    let params = ExportParams {
        framework: &framework,
        from,
        to,
        out: match &args.out {
            Some(out) => ExportOut::Path(out.clone()),
            None => ExportOut::DataDir,
        },
        progress: if show_progress { Some(&progress) } else { None },
    };
    let operator = Principal::Operator(gavel_ledger::event::Actor::system("gavel-cli"));
    let s = gavel.export_evidence(&operator, params)?;
    let archive = if args.archive {
        // The bundle's own time, so the same bundle always makes the same archive.
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(s.out.join("manifest.json"))?)?;
        let generated = manifest["generated_at"].as_str().and_then(gavel_ledger::clock::parse_time);
        let mtime = generated.map_or(0, |t| u64::try_from(t.unix_timestamp()).unwrap_or(0));
        Some(gavel_evidence::archive::write_tar_gz(&s.out, mtime)?)
    } else {
        None
    };
    if args.json {
        let mut v = serde_json::to_value(&s)?;
        v["export_key_created"] = serde_json::json!(created);
        v["archive"] = serde_json::json!(archive);
        crate::print_json(&v);
    } else {
        if created {
            println!("created the export signing key {}", dir.export_key().display());
        }
        println!(
            "exported {} event(s) of {} to {} into {}",
            s.total_events,
            date_str(from),
            date_str(to),
            s.out.display()
        );
        println!("export id: {}  (checkpoint at tree size {})", s.export_id, s.checkpoint_size);
        for c in &s.criteria {
            println!("  {:<8} {:>8} event(s)  {:<13} {}", c.id, c.evidence_count, c.status, c.summary);
        }
        let t = &s.type_ii;
        if t.type_ii {
            println!(
                "Type II: yes ({} days, {} to {}, no coverage gaps)",
                t.observation_days, t.start_date, t.end_date
            );
        } else {
            println!("Type II: no");
        }
        for w in &s.warnings {
            eprintln!("warning: {w}");
        }
        if let Some(a) = &archive {
            println!("archive: {}", a.display());
        }
        println!("verify with: gavel evidence verify {}", s.out.display());
    }
    Ok(ExitCode::SUCCESS)
}

pub fn run_key(dir: &DataDir, json: bool) -> anyhow::Result<ExitCode> {
    if !dir.exists() {
        anyhow::bail!("no gavel data in {} (run `gavel init` or pass --data-dir)", dir.root().display());
    }
    let (key, created) = gavel_evidence::load_or_create_export_key(dir)?;
    let pem = gavel_ledger::keys::public_key_pem(&key.verifying_key());
    if json {
        crate::print_json(&serde_json::json!({
            "export": {"public_key_pem": pem, "algorithm": "Ed25519", "path": dir.export_key(), "created": created}
        }));
    } else {
        print!("{pem}");
    }
    Ok(ExitCode::SUCCESS)
}

pub fn run_verify(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    if !args.dir.is_dir() {
        anyhow::bail!("{} is not a bundle directory", args.dir.display());
    }
    let signing_key_pem = match &args.signing_key {
        Some(p) => Some(std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?),
        None => None,
    };
    let framework = match &args.framework {
        Some(p) => Some(Framework::load(&p.to_string_lossy())?),
        None => None,
    };
    let opts = VerifyOptions {
        previous: args.previous.clone(),
        log_key: args.log_key.clone(),
        signing_key_pem,
        framework,
    };
    let report = verify_bundle(&args.dir, &opts);
    if args.json {
        crate::print_json(&serde_json::to_value(&report)?);
    } else {
        for c in &report.checks {
            println!("{} {:<12} {}", if c.ok { "ok  " } else { "FAIL" }, c.name, c.detail);
        }
        if report.valid {
            println!("valid: {} verifies", args.dir.display());
        } else {
            println!("INVALID: {} does not verify", args.dir.display());
        }
    }
    Ok(if report.valid { ExitCode::SUCCESS } else { ExitCode::from(crate::exit::INVALID) })
}
