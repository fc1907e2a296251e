//! The `gavel` binary: command-line parsing and dispatch. Each command lives in its own module;
//! every command that reports something prints words for people by default and one JSON object
//! with `--json`. Errors go to stderr with a non-zero exit.
//!
//! Two kinds of command: local ones (`init`, `serve`, `demo`, `keys`, `audit verify|record|...`,
//! `evidence export|key`) work on the data directory (`evidence verify` needs only the bundle);
//! remote ones (`users`, `agents`, `policy`, `pack`, `decide`, `approvals`, `outcome`, `findings`,
//! `killswitch`, `webhooks`, `notify`, `incidents`, `retention`, `holds`, `compliance`, `share`,
//! `audit list|trace`) call a running server over HTTP with `--server` and `--token`. Each kind
//! shows only its own options: `--data-dir` ([`DataDirArgs`]) on the local commands that use it,
//! `--server` and `--token` ([`RemoteArgs`]) on the remote ones, given after the command's name.

mod agents;
mod approvals;
mod audit;
mod audit_query;
mod compliance;
mod decide;
mod demo;
mod evidence;
mod gateway;
mod incidents;
mod keys;
mod killswitch;
mod migrate;
mod notify;
mod outcome;
mod pack;
mod policy;
mod remote;
mod retention;
mod serve;
mod tools;
mod users;
mod webhooks;

/// mimalloc instead of glibc malloc: under concurrent decisions glibc's arena locks and chunk
/// consolidation took ~20% of the server's CPU (perf, BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use gavel_core::{DataDir, Database, Gavel};
use gavel_ledger::clock::SystemClock;
use remote::RemoteArgs;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Parser)]
#[command(
    name = "gavel",
    version,
    about = "Governance and tamper-evident audit for AI agent tool calls",
    after_help = "Options follow the command's name: local commands take --data-dir (env GAVEL_DATA_DIR), the \
                  commands that call the server --server and --token (env GAVEL_SERVER, GAVEL_TOKEN).\n\n\
                  Exit status: 0 done; 1 verification found the log or a bundle invalid; 2 wrong command line \
                  (nothing ran); 3 failed (refused by the server, or a local error); 4 no token, or not \
                  authenticated or allowed (HTTP 401/403); 5 the server is unreachable or failing (HTTP 5xx). \
                  For `gavel decide`, any non-zero status means no decision: treat the call as denied."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The option of the commands that work on the data directory, and only of those (remote
/// commands do not show it). `global` on the command that flattens it, so `gavel keys show
/// --data-dir D` and `gavel keys --data-dir D show` alike.
#[derive(Args)]
pub(crate) struct DataDirArgs {
    /// Where gavel keeps its database and keys.
    #[arg(long, global = true, env = "GAVEL_DATA_DIR", default_value = "./gavel-data")]
    pub data_dir: PathBuf,
    /// Keep the log in this database instead of <data-dir>/gavel.db: postgres://user@host:port/db
    /// (several replicas on one PostgreSQL), or sqlite://PATH. Overrides `database_url` in gavel.toml.
    #[arg(long = "database", global = true, env = "GAVEL_DATABASE_URL", value_name = "URL",
          value_parser = parse_database)]
    pub database: Option<Database>,
}

fn parse_database(url: &str) -> Result<Database, String> {
    Database::parse(url).map_err(|e| e.to_string())
}

impl DataDirArgs {
    pub fn dir(&self) -> DataDir {
        DataDir::new(&self.data_dir).with_database(self.database.clone())
    }
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
        #[command(flatten)]
        data: DataDirArgs,
    },
    /// Fill an empty data directory with simulated activity ending today (marked simulated).
    Demo {
        #[command(flatten)]
        args: demo::DemoArgs,
        #[command(flatten)]
        data: DataDirArgs,
    },
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
    Serve {
        #[command(flatten)]
        args: serve::ServeArgs,
        #[command(flatten)]
        data: DataDirArgs,
    },
    /// Copy this data directory's SQLite log into an empty PostgreSQL database and verify the
    /// copy (same Merkle root, full verification), for replicas (docs/replicas.md).
    Migrate(migrate::MigrateArgs),
    /// Query and verify the tamper-evident log.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Export signed evidence bundles (SOC 2 ...) and verify them offline.
    #[command(subcommand)]
    Evidence(evidence::EvidenceCommand),
    /// Show key material.
    Keys {
        #[command(subcommand)]
        command: keys::KeysCommand,
        #[command(flatten)]
        data: DataDirArgs,
    },
    /// Manage users and their roles (server).
    Users {
        #[command(subcommand)]
        command: users::UsersCommand,
        #[command(flatten)]
        remote: RemoteArgs,
    },
    /// Manage the agents whose tool calls gavel decides (server).
    Agents {
        #[command(subcommand)]
        command: agents::AgentsCommand,
        #[command(flatten)]
        remote: RemoteArgs,
    },
    /// Propose, approve, roll back and inspect Cedar policy sets (server).
    Policy {
        #[command(subcommand)]
        command: policy::PolicyCommand,
        #[command(flatten)]
        remote: RemoteArgs,
    },
    /// The tool registry's categories (what policies see as resource.category), changed by two
    /// admins; `categorize` proposes an upstream's categories from gavel.toml (server).
    Tools {
        #[command(subcommand)]
        command: tools::ToolsCommand,
        #[command(flatten)]
        remote: RemoteArgs,
    },
    /// Install built-in policy packs and take them live (server).
    Pack {
        #[command(subcommand)]
        command: pack::PackCommand,
        #[command(flatten)]
        remote: RemoteArgs,
    },
    /// Ask the server to decide one tool call, with an agent token. Exits 0 whatever the decision
    /// (allow, deny, require_approval): the exit status says the command worked; read the decision
    /// from the output. Exits 3, 4 or 5 when no decision was had (treat the call as denied).
    Decide {
        #[command(flatten)]
        args: decide::DecideArgs,
        #[command(flatten)]
        remote: RemoteArgs,
    },
    /// List, inspect, approve and deny held tool calls (server). The requesting agent reads its
    /// own requests, and the receipt of an approved one, with its agent token.
    Approvals {
        #[command(subcommand)]
        command: approvals::ApprovalsCommand,
        #[command(flatten)]
        remote: RemoteArgs,
    },
    /// Report what the agent did after a decision, with an agent token (server). A held call is
    /// reported with its approval receipt; executing a denied or unapproved call is recorded as a
    /// bypass finding.
    Outcome {
        #[command(flatten)]
        args: outcome::OutcomeArgs,
        #[command(flatten)]
        remote: RemoteArgs,
    },
    /// Govern an MCP server's tools: the MCP client starts this instead of the server (stdio), or
    /// talks to it instead of the server (Streamable HTTP); every tools/call is decided (server).
    #[command(long_about = gateway::LONG_ABOUT, after_help = gateway::EXAMPLES)]
    Gateway {
        #[command(flatten)]
        args: gateway::GatewayArgs,
        #[command(flatten)]
        remote: RemoteArgs,
    },
    /// Bypass findings: executed denials, held calls run without a valid receipt (server).
    Findings {
        #[command(subcommand)]
        command: outcome::FindingsCommand,
        #[command(flatten)]
        remote: RemoteArgs,
    },
    /// Pull and release kill switches that deny tool calls globally, per agent or per tool
    /// (server).
    Killswitch {
        #[command(subcommand)]
        command: killswitch::KillSwitchCommand,
        #[command(flatten)]
        remote: RemoteArgs,
    },
    /// Signed event streams to SIEMs: endpoints, secrets, delivery history (server).
    Webhooks {
        #[command(subcommand)]
        command: webhooks::WebhooksCommand,
        #[command(flatten)]
        remote: RemoteArgs,
    },
    /// Notification channels for people (chat, JSON): held calls, expiring approvals, incidents,
    /// kill switches and readiness findings, linked to the console (server; admins).
    Notify {
        #[command(subcommand)]
        command: notify::NotifyCommand,
        #[command(flatten)]
        remote: RemoteArgs,
    },
    /// Incidents opened by detectors or by hand: assign, triage, note, contain, resolve, and the
    /// timeline of each (server).
    Incidents {
        #[command(subcommand)]
        command: incidents::IncidentsCommand,
        #[command(flatten)]
        remote: RemoteArgs,
    },
    /// The retention period in force (at least 365 days) and purges of payloads past it (server).
    Retention {
        #[command(subcommand)]
        command: retention::RetentionCommand,
        #[command(flatten)]
        remote: RemoteArgs,
    },
    /// Legal holds: time ranges never purged until two admins release them (server).
    Holds {
        #[command(subcommand)]
        command: retention::HoldsCommand,
        #[command(flatten)]
        remote: RemoteArgs,
    },
    /// Readiness scans per framework criterion, and evidence exports on the server (server).
    Compliance {
        #[command(subcommand)]
        command: compliance::ComplianceCommand,
        #[command(flatten)]
        remote: RemoteArgs,
    },
    /// Read-only, expiring, revocable links that give an auditor one export (server).
    Share {
        #[command(subcommand)]
        command: compliance::ShareCommand,
        #[command(flatten)]
        remote: RemoteArgs,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The gateway outlives a closed stdout long enough to record the outcomes it saw.
    if !matches!(cli.command, Command::Serve { .. } | Command::Gateway { .. }) {
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
#[allow(unsafe_code, reason = "libc::signal is the only way to restore SIGPIPE's default; see SAFETY")]
fn exit_quietly_on_closed_pipe() {
    // SAFETY: called once at start, before any thread is spawned; SIG_DFL is a valid disposition.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Init { org, json, data } => init(&data.dir(), org.as_deref(), json),
        Command::Serve { args, data } => serve::run(&data.dir(), args),
        Command::Demo { args, data } => demo::run(&data.dir(), args),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(shell, &mut Cli::command(), "gavel", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
        Command::Manpages { out } => manpages(&out),
        Command::Migrate(args) => migrate::run(args),
        Command::Audit(audit::AuditCommand::List(args)) => audit_query::list(&args.remote.connect()?, args),
        Command::Audit(audit::AuditCommand::Trace(args)) => audit_query::trace(&args.remote.connect()?, args),
        Command::Audit(cmd) => {
            let dir = cmd.data_dir().map(DataDirArgs::dir).context("a local audit command has --data-dir")?;
            audit::run(&open(&dir)?, cmd)
        }
        Command::Evidence(evidence::EvidenceCommand::Export(args)) => {
            let dir = args.data.dir();
            evidence::run_export(&dir, &open(&dir)?, args)
        }
        Command::Evidence(evidence::EvidenceCommand::Verify(args)) => evidence::run_verify(args),
        Command::Evidence(evidence::EvidenceCommand::Key { json, data }) => {
            evidence::run_key(&data.dir(), json)
        }
        Command::Keys { command, data } => keys::run(&open(&data.dir())?, command),
        Command::Users { command, remote } => users::run(&remote.connect()?, command),
        Command::Agents { command, remote } => agents::run(&remote.connect()?, command),
        Command::Policy { command, remote } => policy::run(&remote.connect()?, command),
        Command::Pack { command, remote } => pack::run(&remote.connect()?, command),
        Command::Tools { command, remote } => tools::run(&remote.connect()?, command),
        Command::Decide { args, remote } => decide::run(&remote.connect()?, args),
        Command::Approvals { command, remote } => approvals::run(&remote.connect()?, command),
        Command::Outcome { args, remote } => outcome::run(&remote.connect()?, args),
        Command::Gateway { args, remote } => gateway::run(&remote, args),
        Command::Findings { command, remote } => outcome::findings(&remote.connect()?, command),
        Command::Killswitch { command, remote } => killswitch::run(&remote.connect()?, command),
        Command::Webhooks { command, remote } => webhooks::run(&remote.connect()?, command),
        Command::Notify { command, remote } => notify::run(&remote.connect()?, command),
        Command::Incidents { command, remote } => incidents::run(&remote.connect()?, command),
        Command::Retention { command, remote } => retention::run(&remote.connect()?, command),
        Command::Holds { command, remote } => retention::holds(&remote.connect()?, command),
        Command::Compliance { command, remote } => compliance::run(&remote.connect()?, command),
        Command::Share { command, remote } => compliance::share(&remote.connect()?, command),
    }
}

/// Opens an existing data directory (commands other than init/serve never create one).
fn open(dir: &DataDir) -> anyhow::Result<Gavel> {
    Ok(Gavel::open_existing(dir, Arc::new(SystemClock))?)
}

fn init(dir: &DataDir, org: Option<&str>, json: bool) -> anyhow::Result<ExitCode> {
    let clock = Arc::new(SystemClock);
    let (gavel, opened) = Gavel::open(dir, clock, org)?;
    if let Some(org) = org {
        let wanted = format!("gavel.local/{org}");
        if gavel.origin() != wanted {
            anyhow::bail!(
                "this data directory already has origin {}; the origin never changes",
                gavel.origin()
            );
        }
    }
    let admin = gavel.bootstrap_admin()?;
    let checkpoint = gavel.sign_checkpoint()?;
    if json {
        print_json(&serde_json::json!({
            "data_dir": dir.root(),
            "origin": gavel.origin(),
            "log_key": gavel.log_key(),
            "key_created": opened.key_created,
            "tree_size": checkpoint.size,
            "admin_token": admin.as_ref().map(|a| a.token.clone()),
            "admin_id": admin.as_ref().map(|a| a.principal.id.clone()),
        }));
    } else {
        let what = if opened.key_created { "initialised" } else { "already initialised" };
        println!("gavel data directory {} {what}", dir.root().display());
        println!("origin:  {}", gavel.origin());
        println!("log key: {}", gavel.log_key());
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

    /// Each command shows only the options it uses (issue 12): `--server` and `--token` on the
    /// commands that call the server and nowhere else, `--data-dir` on the ones that open the
    /// data directory and nowhere else, each with its environment variable. A new command must be
    /// placed in one of the lists below (a leaf in neither is local and must take `--data-dir`).
    #[test]
    fn each_command_shows_only_the_options_it_uses() {
        const REMOTE: &[&str] = &[
            "users",
            "agents",
            "policy",
            "pack",
            "tools",
            "decide",
            "approvals",
            "outcome",
            "gateway",
            "findings",
            "killswitch",
            "webhooks",
            "notify",
            "incidents",
            "retention",
            "holds",
            "compliance",
            "share",
            "audit list",
            "audit trace",
        ];
        const NEITHER: &[&str] = &["completions", "manpages", "evidence verify"];
        let under =
            |path: &str, list: &[&str]| list.iter().any(|p| path == *p || path.starts_with(&format!("{p} ")));
        let mut cli = Cli::command();
        cli.build();
        let mut leaves = Vec::new();
        let mut stack = vec![(String::new(), cli)];
        let mut wrong = Vec::new();
        while let Some((path, cmd)) = stack.pop() {
            let arg = |id: &str| cmd.get_arguments().find(|a| a.get_id() == id);
            let subs: Vec<_> = cmd.get_subcommands().filter(|s| s.get_name() != "help").collect();
            if subs.is_empty() {
                leaves.push(path.clone());
                let remote = under(&path, REMOTE);
                let local = !remote && !under(&path, NEITHER);
                for (id, env, wanted) in [
                    ("server", "GAVEL_SERVER", remote),
                    ("token", "GAVEL_TOKEN", remote),
                    ("data_dir", "GAVEL_DATA_DIR", local),
                ] {
                    match (arg(id), wanted) {
                        (Some(a), true) if a.get_env().and_then(|e| e.to_str()) != Some(env) => {
                            wrong.push(format!("gavel {path}: --{id} without env {env}"))
                        }
                        (Some(_), false) => {
                            wrong.push(format!("gavel {path}: shows --{id}, which it does not use"))
                        }
                        (None, true) => wrong.push(format!("gavel {path}: has no --{id}")),
                        _ => {}
                    }
                }
            } else {
                // A group shows an option only when every command under it uses it.
                for id in ["server", "token", "data_dir"] {
                    let leaves_use = |s: &clap::Command| s.get_arguments().any(|a| a.get_id() == id);
                    if arg(id).is_some() && !subs.iter().all(|s| leaves_use(s)) {
                        wrong.push(format!("gavel {path}: shows --{id}, which not all its commands use"));
                    }
                }
            }
            for sub in subs {
                let name = if path.is_empty() {
                    sub.get_name().to_string()
                } else {
                    format!("{path} {}", sub.get_name())
                };
                stack.push((name, sub.clone()));
            }
        }
        for listed in REMOTE.iter().chain(NEITHER) {
            assert!(under_any(&leaves, listed), "{listed} is not a command");
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));

        fn under_any(leaves: &[String], p: &str) -> bool {
            leaves.iter().any(|l| l == p || l.starts_with(&format!("{p} ")))
        }
    }

    /// Remote options go anywhere after the command's name, environment variables fill them in,
    /// and the top level takes none of them.
    #[test]
    fn remote_and_local_options_parse_where_documented() {
        use clap::Parser;
        let remote = |args: &[&str]| match Cli::try_parse_from(args).map(|c| c.command) {
            Ok(super::Command::Users { remote, .. }) => (remote.server, remote.token),
            Ok(_) => panic!("{args:?}: not users"),
            Err(e) => panic!("{args:?}: {e}"),
        };
        let url = "http://h:1".to_string();
        let expected = (url.clone(), Some("t".to_string()));
        assert_eq!(remote(&["gavel", "users", "list", "--server", &url, "--token", "t"]), expected);
        assert_eq!(remote(&["gavel", "users", "--server", &url, "list", "--token", "t"]), expected);
        for args in [
            &["gavel", "--server", "http://h:1", "users", "list"][..],
            &["gavel", "--data-dir", "d", "keys", "show"],
            &["gavel", "init", "--token", "t"],
            &["gavel", "keys", "show", "--server", "http://h:1"],
            &["gavel", "users", "list", "--data-dir", "d"],
            &["gavel", "evidence", "verify", "b", "--data-dir", "d"],
        ] {
            let e = Cli::try_parse_from(args).err().unwrap_or_else(|| panic!("{args:?} parsed"));
            assert_eq!(e.kind(), clap::error::ErrorKind::UnknownArgument, "{args:?}: {e}");
        }
        let data = |args: &[&str]| match Cli::try_parse_from(args).map(|c| c.command) {
            Ok(super::Command::Keys { data, .. }) => data.data_dir,
            _ => panic!("{args:?}"),
        };
        assert_eq!(data(&["gavel", "keys", "--data-dir", "d", "show"]), std::path::Path::new("d"));
        assert_eq!(data(&["gavel", "keys", "show", "--data-dir", "d"]), std::path::Path::new("d"));
    }

    #[test]
    fn the_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
