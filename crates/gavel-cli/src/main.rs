//! The `gavel` binary: command-line parsing and dispatch. Each command lives in its own module;
//! every command that reports something prints words for people by default and one JSON object
//! with `--json`. Errors go to stderr with a non-zero exit.
//!
//! Two kinds of command: local ones (`init`, `serve`, `demo`, `keys`, `audit verify|record|...`,
//! `evidence export|key`) work on the data directory (`evidence verify` needs only the bundle);
//! remote ones (`users`, `agents`, `policy`, `pack`, `decide`, `approvals`, `outcome`, `findings`,
//! `killswitch`, `webhooks`, `incidents`, `retention`, `holds`, `compliance`, `share`,
//! `audit list|trace`) call a running server over HTTP with `--server` and `--token`.

mod agents;
mod approvals;
mod audit;
mod audit_query;
mod compliance;
mod decide;
mod demo;
mod evidence;
mod incidents;
mod keys;
mod killswitch;
mod outcome;
mod pack;
mod policy;
mod remote;
mod retention;
mod serve;
mod users;
mod webhooks;

/// mimalloc instead of glibc malloc: under concurrent decisions glibc's arena locks and chunk
/// consolidation took ~20% of the server's CPU (perf, BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use gavel_ledger::clock::SystemClock;
use gavel_store::layout::DataDir;
use gavel_store::Log;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Parser)]
#[command(
    name = "gavel",
    version,
    about = "Governance and tamper-evident audit for AI agent tool calls",
    after_help = "Exit status: 0 done; 1 verification found the log or a bundle invalid; 2 wrong command line \
                  (nothing ran); 3 failed (refused by the server, or a local error); 4 no token, or not \
                  authenticated or allowed (HTTP 401/403); 5 the server is unreachable or failing (HTTP 5xx). \
                  For `gavel decide`, any non-zero status means no decision: treat the call as denied."
)]
struct Cli {
    /// Where gavel keeps its database and keys.
    #[arg(long, global = true, env = "GAVEL_DATA_DIR", default_value = "./gavel-data")]
    data_dir: PathBuf,
    /// URL of the gavel server, for the commands that call it.
    #[arg(long, global = true, env = "GAVEL_SERVER", default_value = "http://127.0.0.1:7311")]
    server: String,
    /// Bearer token for the commands that call the server: a user token for admin, approval and
    /// audit commands, an agent token for `gavel decide`, `gavel outcome` and reading the agent's
    /// own approvals (and their receipts).
    // The value is a secret: never echo it in --help.
    #[arg(long, global = true, env = "GAVEL_TOKEN", hide_env_values = true)]
    token: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create the data directory, database and log signing key (idempotent).
    Init {
        /// Organisation name; fixes the log origin `gavel.local/<org>` on first init.
        #[arg(long)]
        org: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Fill an empty data directory with simulated activity ending today (marked simulated).
    Demo(demo::DemoArgs),
    /// Print a shell completion script, e.g. `gavel completions bash > /etc/bash_completion.d/gavel`.
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
    /// Write man pages (gavel.1 and one per subcommand, e.g. gavel-audit-verify.1) into a directory.
    Manpages {
        /// The directory to write into (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Run the gavel server: the HTTP API, signed checkpoints, graceful shutdown on SIGTERM/SIGINT.
    Serve(serve::ServeArgs),
    /// Query and verify the tamper-evident log.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Export signed evidence bundles (SOC 2 ...) and verify them offline.
    #[command(subcommand)]
    Evidence(evidence::EvidenceCommand),
    /// Show key material.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Manage users and their roles (server).
    #[command(subcommand)]
    Users(users::UsersCommand),
    /// Manage the agents whose tool calls gavel decides (server).
    #[command(subcommand)]
    Agents(agents::AgentsCommand),
    /// Propose, approve, roll back and inspect Cedar policy sets (server).
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
    /// Install built-in policy packs and take them live (server).
    #[command(subcommand)]
    Pack(pack::PackCommand),
    /// Ask the server to decide one tool call, with an agent token. Exits 0 whatever the decision
    /// (allow, deny, require_approval): the exit status says the command worked; read the decision
    /// from the output. Exits 3, 4 or 5 when no decision was had (treat the call as denied).
    Decide(decide::DecideArgs),
    /// List, inspect, approve and deny held tool calls (server). The requesting agent reads its
    /// own requests, and the receipt of an approved one, with its agent token.
    #[command(subcommand)]
    Approvals(approvals::ApprovalsCommand),
    /// Report what the agent did after a decision, with an agent token (server). A held call is
    /// reported with its approval receipt; executing a denied or unapproved call is recorded as a
    /// bypass finding.
    Outcome(outcome::OutcomeArgs),
    /// Bypass findings: executed denials, held calls run without a valid receipt (server).
    #[command(subcommand)]
    Findings(outcome::FindingsCommand),
    /// Pull and release kill switches that deny tool calls globally, per agent or per tool
    /// (server).
    #[command(subcommand)]
    Killswitch(killswitch::KillSwitchCommand),
    /// Signed event streams to SIEMs: endpoints, secrets, delivery history (server).
    #[command(subcommand)]
    Webhooks(webhooks::WebhooksCommand),
    /// Incidents opened by detectors or by hand: assign, triage, note, contain, resolve, and the
    /// timeline of each (server).
    #[command(subcommand)]
    Incidents(incidents::IncidentsCommand),
    /// The retention period in force (at least 365 days) and purges of payloads past it (server).
    #[command(subcommand)]
    Retention(retention::RetentionCommand),
    /// Legal holds: time ranges never purged until two admins release them (server).
    #[command(subcommand)]
    Holds(retention::HoldsCommand),
    /// Readiness scans per framework criterion, and evidence exports on the server (server).
    #[command(subcommand)]
    Compliance(compliance::ComplianceCommand),
    /// Read-only, expiring, revocable links that give an auditor one export (server).
    #[command(subcommand)]
    Share(compliance::ShareCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Serve(_)) {
        exit_quietly_on_closed_pipe();
    }
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(exit_status(&e))
        }
    }
}

/// Writes `gavel.1` and a page per subcommand, recursively (`gavel-audit-verify.1`).
fn manpages(out: &std::path::Path) -> anyhow::Result<ExitCode> {
    use clap::CommandFactory;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let mut cli = Cli::command();
    cli.build();
    let mut written = 0;
    let mut stack = vec![(String::from("gavel"), cli)];
    while let Some((name, cmd)) = stack.pop() {
        let path = out.join(format!("{name}.1"));
        let mut page = Vec::new();
        clap_mangen::Man::new(cmd.clone()).title(name.clone()).render(&mut page)?;
        std::fs::write(&path, page).with_context(|| format!("writing {}", path.display()))?;
        written += 1;
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            stack.push((format!("{name}-{}", sub.get_name()), sub.clone()));
        }
    }
    println!("wrote {written} man pages to {}", out.display());
    Ok(ExitCode::SUCCESS)
}

/// The documented exit statuses (docs/operations.md "Exit statuses"; `gavel --help`).
pub mod exit {
    /// Verification ran and found the log or a bundle invalid.
    pub const INVALID: u8 = 1;
    /// The command line is wrong (clap's own status; nothing ran).
    pub const USAGE: u8 = 2;
    /// The command ran and failed: the server refused the request (a 4xx other than 401/403),
    /// or a local operation failed (a file, the data directory, bad input).
    pub const FAILED: u8 = 3;
    /// No token, or the server did not accept it or the caller's role (HTTP 401/403).
    pub const AUTH: u8 = 4;
    /// The server could not be reached or could not serve (HTTP 5xx): for `gavel decide`, no
    /// decision was recorded, so the call is denied.
    pub const UNAVAILABLE: u8 = 5;
}

/// The exit status of a failed command, from the typed cause of its error.
fn exit_status(e: &anyhow::Error) -> u8 {
    for cause in e.chain() {
        if let Some(f) = cause.downcast_ref::<remote::ApiFailure>() {
            return match f.status {
                401 | 403 => exit::AUTH,
                500..=599 => exit::UNAVAILABLE,
                _ => exit::FAILED,
            };
        }
        if cause.is::<remote::Unreachable>() {
            return exit::UNAVAILABLE;
        }
        if cause.is::<remote::NoToken>() {
            return exit::AUTH;
        }
    }
    exit::FAILED
}

/// `gavel keys show --json | head -c 10`: Rust ignores SIGPIPE, so writing to a closed pipe makes
/// `println!` panic (exit 101 and a backtrace). A command-line tool should end quietly, as `cat`
/// does: restore the default action. Not for `serve`, whose log output must never end the server.
fn exit_quietly_on_closed_pipe() {
    // SAFETY: called once at start, before any thread is spawned; SIG_DFL is a valid disposition.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let dir = DataDir::new(&cli.data_dir);
    // Built only for remote commands, so a bad --server never gets in the way of local ones.
    let remote = || remote::Remote::new(&cli.server, cli.token.clone());
    match cli.command {
        Command::Init { org, json } => init(&dir, org.as_deref(), json),
        Command::Serve(args) => serve::run(&dir, args),
        Command::Demo(args) => demo::run(&dir, args),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(shell, &mut Cli::command(), "gavel", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
        Command::Manpages { out } => manpages(&out),
        Command::Audit(audit::AuditCommand::List(args)) => audit_query::list(&remote()?, args),
        Command::Audit(audit::AuditCommand::Trace(args)) => audit_query::trace(&remote()?, args),
        Command::Audit(cmd) => audit::run(&open(&dir)?, cmd),
        Command::Evidence(evidence::EvidenceCommand::Export(args)) => {
            evidence::run_export(&dir, &open(&dir)?, args)
        }
        Command::Evidence(evidence::EvidenceCommand::Verify(args)) => evidence::run_verify(args),
        Command::Evidence(evidence::EvidenceCommand::Key { json }) => evidence::run_key(&dir, json),
        Command::Keys(cmd) => keys::run(&open(&dir)?, cmd),
        Command::Users(cmd) => users::run(&remote()?, cmd),
        Command::Agents(cmd) => agents::run(&remote()?, cmd),
        Command::Policy(cmd) => policy::run(&remote()?, cmd),
        Command::Pack(cmd) => pack::run(&remote()?, cmd),
        Command::Decide(args) => decide::run(&remote()?, args),
        Command::Approvals(cmd) => approvals::run(&remote()?, cmd),
        Command::Outcome(args) => outcome::run(&remote()?, args),
        Command::Findings(cmd) => outcome::findings(&remote()?, cmd),
        Command::Killswitch(cmd) => killswitch::run(&remote()?, cmd),
        Command::Webhooks(cmd) => webhooks::run(&remote()?, cmd),
        Command::Incidents(cmd) => incidents::run(&remote()?, cmd),
        Command::Retention(cmd) => retention::run(&remote()?, cmd),
        Command::Holds(cmd) => retention::holds(&remote()?, cmd),
        Command::Compliance(cmd) => compliance::run(&remote()?, cmd),
        Command::Share(cmd) => compliance::share(&remote()?, cmd),
    }
}

/// Opens an existing data directory (commands other than init/serve never create one).
fn open(dir: &DataDir) -> anyhow::Result<Log> {
    Ok(Log::open_existing(dir, Arc::new(SystemClock))?)
}

fn init(dir: &DataDir, org: Option<&str>, json: bool) -> anyhow::Result<ExitCode> {
    let clock = Arc::new(SystemClock);
    let (log, opened) = Log::open(dir, clock.clone(), org)?;
    if let Some(org) = org {
        let wanted = format!("gavel.local/{org}");
        if log.origin() != wanted {
            anyhow::bail!(
                "this data directory already has origin {}; the origin never changes",
                log.origin()
            );
        }
    }
    let log = Arc::new(log);
    let gavel = gavel_core::Gavel::new(log.store().clone(), clock);
    let admin = gavel.bootstrap_admin()?;
    let checkpoint = log.checkpoint()?;
    if json {
        print_json(&serde_json::json!({
            "data_dir": dir.root(),
            "origin": log.origin(),
            "log_key": log.signer().verifier_key(),
            "key_created": opened.key_created,
            "tree_size": checkpoint.size,
            "admin_token": admin.as_ref().map(|a| a.token.clone()),
            "admin_id": admin.as_ref().map(|a| a.principal.id.clone()),
        }));
    } else {
        let what = if opened.key_created { "initialised" } else { "already initialised" };
        println!("gavel data directory {} {what}", dir.root().display());
        println!("origin:  {}", log.origin());
        println!("log key: {}", log.signer().verifier_key());
        println!("events:  {}", checkpoint.size);
        if let Some(admin) = admin {
            println!("bootstrap admin token (shown once, store it now): {}", admin.token);
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn print_json(value: &serde_json::Value) {
    match serde_json::to_string_pretty(value) {
        Ok(s) => println!("{s}"),
        Err(e) => eprintln!("error: cannot print JSON: {e}"),
    }
}

#[cfg(test)]
mod cli_definition_tests {
    use super::Cli;
    use clap::CommandFactory;

    /// Every option and argument of every command says what it is for in `--help`, so a new flag
    /// cannot ship undocumented.
    #[test]
    fn every_argument_has_help() {
        let mut cli = Cli::command();
        cli.build();
        let mut missing = Vec::new();
        let mut stack = vec![(String::from("gavel"), cli)];
        while let Some((path, cmd)) = stack.pop() {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if id != "help"
                    && id != "version"
                    && arg.get_help().is_none()
                    && arg.get_long_help().is_none()
                {
                    missing.push(format!("{path} --{id}"));
                }
            }
            for sub in cmd.get_subcommands() {
                if sub.get_about().is_none() && sub.get_name() != "help" {
                    missing.push(format!("{path} {} (no about)", sub.get_name()));
                }
                stack.push((format!("{path} {}", sub.get_name()), sub.clone()));
            }
        }
        assert!(missing.is_empty(), "without help text:\n{}", missing.join("\n"));
    }

    #[test]
    fn the_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
