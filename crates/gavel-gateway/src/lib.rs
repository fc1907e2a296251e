//! gavel's MCP gateway: an MCP client talks to gavel as if it were its MCP server; gavel passes
//! every message through to the real (upstream) server, except that each `tools/call` is first
//! decided by `gavel serve` as the agent, and its outcome, as the gateway saw it, is recorded there.
//!
//! Two fronts, two kinds of upstream ([`Upstream`]), all four combinations: the client on stdio
//! ([`stdio`]) or Streamable HTTP ([`http`]); the upstream a command gavel starts (over HTTP, one
//! process per MCP session: [`child_sessions`]) or a Streamable HTTP endpoint (from stdio, through
//! [`http_link`]). Every front hands each `tools/call` to [`govern`], the one place it is decided.
//!
//! The gateway is a front end of the HTTP API like the CLI: it holds the agent's token, asks
//! `POST /v1/decide`, reads the agent's approvals and reports outcomes through
//! `POST /v1/decisions/{id}/outcome`, all with gavel-core's own wire types. It keeps no rule of its
//! own: what is allowed, denied or held, kill switches, rate limits and cost caps are all decide's.
//!
//! Invariants:
//! * no `tools/call` reaches the upstream without an `allow` decision, or a `require_approval`
//!   decision whose approval was granted (the receipt is then redeemed with the outcome);
//! * when no decision can be had (gavel unreachable, 503, any refusal), the call is refused with an
//!   MCP tool error: fail closed;
//! * every other message passes through byte for byte, in both directions (a `tools/list`
//!   answer loses the entries of denied tools, nothing else);
//! * the outcome report carries the status, duration and a SHA-256 digest of what the upstream
//!   answered, never the answer itself.
//!
//! * each upstream answer to `tools/list` is reported to gavel (names and digests of the tool
//!   definitions, never the definitions), which records the list when it changed and raises
//!   `tool_definition_changed` when a tool it had seen changed its description or schema (the
//!   "rug pull"); the client's list leaves out the tools the active policies deny the agent
//!   outright, unless the gateway runs with `--show-all-tools` (see [`tools`]).
//!
//! Modules: [`jsonrpc`] (messages), [`protocol`] (revisions), [`api`] (the gavel client),
//! [`govern`] (one tools/call), [`tools`] (tool lists: digests, filtering), [`stdio`] (the stdio
//! front), [`http`] (the Streamable HTTP front), [`http_link`] (an HTTP upstream behind the stdio
//! front), [`child_sessions`] (command upstreams behind the HTTP front), [`config`] (named
//! upstreams in `gavel.toml`).
//!
//! Why not the official Rust SDK `rmcp` (3.11 when this was written): it needs Rust 1.88, above the
//! workspace MSRV (1.87), and it would make the gateway a typed MCP server and client at once,
//! which re-serializes every message through its model: fields it does not know (a newer
//! revision's, an extension's) would be dropped or refused, and each method would need its own
//! forwarding code. A governing proxy needs the opposite: relay every line untouched and interpret
//! only `tools/call`, its result and `initialize`. The SDKs stay the outside check: the tests
//! drive the gateway with the Python SDK on both sides.

pub mod api;
pub mod child_sessions;
pub mod config;
pub mod govern;
pub mod http;
pub mod http_link;
pub mod jsonrpc;
pub mod protocol;
pub mod stdio;
pub mod tools;

pub use api::GavelClient;
pub use config::NamedUpstreams;
pub use http::{HttpGateway, HttpOptions};
pub use stdio::{StdioGateway, StdioOptions};
pub use tools::ToolListing;

use std::ffi::OsString;

/// The MCP server behind the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upstream {
    /// A server the gateway starts and speaks to over its stdin/stdout: the program and its
    /// arguments, and variables added to the environment it inherits (never `GAVEL_TOKEN`, which
    /// is removed).
    Command { command: Vec<OsString>, env: Vec<(OsString, OsString)> },
    /// A Streamable HTTP endpoint, e.g. `http://127.0.0.1:8000/mcp`.
    Url(String),
}

impl Upstream {
    /// A stable default name for gavel's records of its tool lists (`--upstream-name`).
    pub fn default_name(&self) -> String {
        match self {
            Upstream::Command { command, .. } => tools::name_of_command(command),
            Upstream::Url(url) => tools::name_of_url(url),
        }
    }

    /// Checks that it can be used: a command names a program, a URL is http(s).
    pub fn check(&self) -> Result<(), GatewayError> {
        match self {
            Upstream::Command { command, .. } if command.is_empty() => Err(GatewayError::Config(
                "name the upstream MCP server's command after `--`, e.g. `gavel gateway -- npx -y @modelcontextprotocol/server-filesystem /tmp`"
                    .into(),
            )),
            Upstream::Command { .. } => Ok(()),
            Upstream::Url(url) => config::check_url(url).map_err(|e| GatewayError::Config(format!("--upstream {e}"))),
        }
    }

    /// The command, ready to spawn with piped stdin and stdout (its stderr is the gateway's).
    pub(crate) fn spawn(
        command: &[OsString],
        env: &[(OsString, OsString)],
    ) -> Result<std::process::Child, GatewayError> {
        use std::process::{Command, Stdio};
        let (program, args) =
            command.split_first().ok_or_else(|| GatewayError::Config("no upstream command".into()))?;
        Command::new(program)
            .args(args)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env_remove("GAVEL_TOKEN")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| GatewayError::Upstream(format!("cannot start {}: {e}", program.to_string_lossy())))
    }
}

/// What can stop the gateway itself (a single refused call is an MCP answer, never this).
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The options cannot work (a bad server URL, an empty upstream command).
    #[error("{0}")]
    Config(String),
    /// The upstream server could not be started or talked to.
    #[error("upstream MCP server: {0}")]
    Upstream(String),
    /// Reading from or writing to the client failed.
    #[error("MCP client: {0}")]
    Client(#[from] std::io::Error),
}
