//! `gavel gateway`: govern an MCP server's tools with no change to the agent (the library is
//! gavel-gateway). Two fronts, two kinds of upstream, any combination:
//! * the client on stdio (it starts `gavel gateway` instead of the server; gavel decides every
//!   `tools/call` as the agent of `--token`), or on Streamable HTTP (`--listen ADDR`; each request
//!   decided as the agent of its bearer token);
//! * the upstream a command (after `--`; over HTTP, one process per MCP session), a Streamable HTTP
//!   endpoint (`--upstream URL`), or one of the named upstreams of `gavel.toml`
//!   (`--upstream-name NAME` alone picks `[gateway.upstreams.NAME]`).
//!
//! Both report each `tools/list` answer to gavel under the upstream's name (a changed tool
//! definition is a detection) and leave out the tools the agent's policies deny outright, unless
//! `--show-all-tools`.
//!
//! Exit status: stdio, the upstream server's once the client closes the session (so a client sees
//! a server that failed as failed; 0 for an HTTP upstream); HTTP, 0 after SIGTERM or Ctrl-C; 2 for
//! options that do not name an upstream; 3 when the gateway cannot start (an unknown upstream
//! name, a bad gavel.toml).

use crate::remote::{NoToken, RemoteArgs};
use anyhow::{bail, Context};
use clap::Args;
use gavel_gateway::{
    GavelClient, HttpGateway, HttpOptions, NamedUpstreams, StdioGateway, StdioOptions, ToolListing, Upstream,
};
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// `gavel gateway --help`, beyond the options.
pub const LONG_ABOUT: &str = "Govern an MCP server's tools with no change to the agent. Every tools/call is decided \
by the gavel server as the agent: allow is forwarded; deny is answered as a tool error naming the policy and \
reason; require_approval is held until a human approves (then forwarded, the receipt redeemed) or denies it. No \
decision (gavel unreachable, 503) refuses the call. The outcome the gateway saw (status, duration, SHA-256 of the \
answer, never the answer) is recorded with observed_by: gateway. Everything else passes through unchanged but \
tools/list, which is recorded and filtered (see below). MCP revisions 2026-07-28 and 2025-11-25.\n\n\
The client's side: stdio by default (the MCP client starts `gavel gateway` instead of the server; calls are \
decided as the agent of --token / GAVEL_TOKEN; a held call sends progress notifications if the client asked for \
them), or Streamable HTTP with --listen ADDR (each request carries its agent's token as `Authorization: Bearer`, \
checked with gavel on every request and never relayed; answers are relayed once complete; GET is answered 405; a \
held call sends no progress).\n\n\
The upstream: a command after `--` (started by gavel, without GAVEL_TOKEN in its environment; behind --listen, \
one process per MCP session, bound to the agent that opened it), a Streamable HTTP endpoint (--upstream URL), or \
a named upstream of gavel.toml (--upstream-name NAME with neither: [gateway.upstreams.NAME] holds `command = \
[...]` and optional `env = {...}`, or `url = \"...\"`). One gateway process serves one upstream.";

/// `gavel gateway --help`: client configurations.
pub const EXAMPLES: &str = "Examples (the agent's token is from `gavel agents create`):\n\n\
Claude Desktop (claude_desktop_config.json), Cursor (.cursor/mcp.json) and most clients, stdio:\n\n  \
{\"mcpServers\": {\"files\": {\n    \"command\": \"gavel\",\n    \
\"args\": [\"gateway\", \"--server\", \"http://127.0.0.1:7311\", \"--\",\n             \
\"npx\", \"-y\", \"@modelcontextprotocol/server-filesystem\", \"/srv/docs\"],\n    \
\"env\": {\"GAVEL_TOKEN\": \"gvl_...\"}}}}\n\n\
VS Code (.vscode/mcp.json), a named upstream of gavel.toml:\n\n  \
{\"servers\": {\"files\": {\"type\": \"stdio\", \"command\": \"gavel\",\n    \
\"args\": [\"gateway\", \"--upstream-name\", \"files\", \"--config\", \"/etc/gavel/gavel.toml\"],\n    \
\"env\": {\"GAVEL_TOKEN\": \"gvl_...\", \"GAVEL_SERVER\": \"http://127.0.0.1:7311\"}}}}\n\n  \
with, in /etc/gavel/gavel.toml:\n\n  \
[gateway.upstreams.files]\n  \
command = [\"npx\", \"-y\", \"@modelcontextprotocol/server-filesystem\", \"/srv/docs\"]\n  \
env = { NODE_ENV = \"production\" }\n\n  \
[gateway.upstreams.search]\n  \
url = \"http://127.0.0.1:8000/mcp\"\n\n\
Claude Code: claude mcp add files -e GAVEL_TOKEN=gvl_... -- gavel gateway -- python3 my_server.py\n\n\
A stdio client in front of a Streamable HTTP server:\n  \
GAVEL_TOKEN=gvl_... gavel gateway --upstream http://127.0.0.1:8000/mcp\n\n\
Streamable HTTP clients, one listener for many agents:\n  \
gavel gateway --listen 127.0.0.1:8800 --upstream http://127.0.0.1:8000/mcp\n  \
gavel gateway --listen 127.0.0.1:8800 -- python3 my_server.py      (a process per session)\n  \
then the client: {\"url\": \"http://127.0.0.1:8800/mcp\", \"headers\": {\"Authorization\": \"Bearer gvl_...\"}}\n  \
(VS Code: \"type\": \"http\"; Claude Code: claude mcp add --transport http files http://127.0.0.1:8800/mcp \
--header \"Authorization: Bearer gvl_...\")\n\n\
tools/list: the tools the agent's policies deny outright are left out (--show-all-tools lists them all), and \
each list is recorded under the upstream's name (a changed tool description or schema raises the detection \
tool_definition_changed).";

#[derive(Args)]
pub struct GatewayArgs {
    /// How long a forwarded tools/call may run before the gateway answers it as timed out (and
    /// records it so).
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    call_timeout: u64,
    /// The upstream's stable name in gavel's records of its tool lists (a changed tool
    /// definition of the same upstream raises a detection). Alone (no command, no --upstream), it
    /// picks the upstream `[gateway.upstreams.NAME]` of --config. Default: from the command
    /// (`python3 server.py` → `python3-server.py`) or the URL (`127.0.0.1:8000/mcp`).
    #[arg(long, value_name = "NAME", value_parser = upstream_name)]
    upstream_name: Option<String>,
    /// The gavel.toml whose `[gateway.upstreams.*]` tables --upstream-name picks from (default:
    /// $GAVEL_DATA_DIR/gavel.toml, else ./gavel-data/gavel.toml, as `gavel serve` reads).
    #[arg(long, env = "GAVEL_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// List every tool of the upstream to the client. By default the tools the active policies
    /// deny the agent outright (judged without arguments, as `gavel policy explain` does) are left
    /// out of `tools/list`; held ones stay. Calls are decided either way.
    #[arg(long)]
    show_all_tools: bool,
    /// Serve MCP clients over Streamable HTTP on this address (each request carries its agent's
    /// token as `Authorization: Bearer`) instead of stdio.
    #[arg(long, value_name = "ADDR")]
    listen: Option<std::net::SocketAddr>,
    /// The upstream is this Streamable HTTP endpoint, e.g. http://127.0.0.1:8000/mcp.
    #[arg(long = "upstream", id = "upstream_url", value_name = "URL", conflicts_with = "upstream")]
    upstream_url: Option<String>,
    /// The upstream is this command (and its arguments), after `--`.
    #[arg(
        last = true,
        value_name = "UPSTREAM COMMAND",
        required_unless_present_any = ["upstream_url", "upstream_name"]
    )]
    upstream: Vec<OsString>,
}

/// The upstream the options name: the command, the URL, or the named one of the config file.
fn resolve_upstream(args: &GatewayArgs) -> anyhow::Result<Upstream> {
    if let Some(url) = &args.upstream_url {
        return Ok(Upstream::Url(url.clone()));
    }
    if !args.upstream.is_empty() {
        return Ok(Upstream::Command { command: args.upstream.clone(), env: Vec::new() });
    }
    let Some(name) = &args.upstream_name else {
        bail!(
            "name the upstream: a command after `--`, --upstream URL, or --upstream-name NAME of gavel.toml"
        );
    };
    let path = config_path(args.config.clone(), name)?;
    let named = NamedUpstreams::load(&path)?;
    Ok(named.get(name)?.clone())
}

/// The gavel.toml that holds `[gateway.upstreams.NAME]`: `config` when given, else
/// `$GAVEL_DATA_DIR/gavel.toml` (else `./gavel-data/gavel.toml`), as `gavel serve` reads.
pub(crate) fn config_path(config: Option<PathBuf>, name: &str) -> anyhow::Result<PathBuf> {
    if let Some(path) = config {
        return Ok(path);
    }
    let dir = std::env::var_os("GAVEL_DATA_DIR").map_or_else(|| PathBuf::from("./gavel-data"), PathBuf::from);
    let path = dir.join("gavel.toml");
    if !path.exists() {
        bail!(
            "--upstream-name {name} with no command or --upstream picks [gateway.upstreams.{name}] of \
             gavel.toml, and there is no {} (name the file with --config)",
            path.display()
        );
    }
    Ok(path)
}

pub fn run(remote: &RemoteArgs, args: GatewayArgs) -> anyhow::Result<ExitCode> {
    if args.call_timeout == 0 {
        bail!("--call-timeout must be at least 1 second");
    }
    let call_timeout = Duration::from_secs(args.call_timeout);
    let upstream = resolve_upstream(&args)?;
    let upstream_name = args.upstream_name.clone().unwrap_or_else(|| upstream.default_name());
    let listing = ToolListing { upstream_name, filter: !args.show_all_tools };
    if let Some(listen) = args.listen {
        return serve_http(remote, listen, HttpOptions { upstream, call_timeout, listing });
    }
    let token = remote.token.as_deref().map(str::trim).filter(|t| !t.is_empty()).ok_or(NoToken)?;
    let client = GavelClient::new(&remote.server, token)?;
    let options = StdioOptions { upstream, call_timeout, listing };
    let gateway = StdioGateway::new(client, options)?;
    let code = gateway.run(std::io::BufReader::new(std::io::stdin()), std::io::stdout())?;
    Ok(match code {
        Some(0) => ExitCode::SUCCESS,
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        None => ExitCode::FAILURE,
    })
}

fn serve_http(
    remote: &RemoteArgs,
    listen: std::net::SocketAddr,
    options: HttpOptions,
) -> anyhow::Result<ExitCode> {
    let gateway = HttpGateway::new(GavelClient::for_server(&remote.server)?, options)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        // Handlers before the listener opens, so no signal is missed.
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        println!("gavel gateway listening on http://{}", listener.local_addr()?);
        let shutdown = async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = interrupt.recv() => {}
            }
        };
        axum::serve(listener, std::sync::Arc::clone(&gateway).router())
            .with_graceful_shutdown(shutdown)
            .await?;
        // A command upstream's sessions end with the gateway (their children are stopped).
        gateway.shutdown();
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// `--upstream-name` as core accepts it, checked by clap so a bad one is a usage error (exit 2).
fn upstream_name(name: &str) -> Result<String, String> {
    gavel_core::gateway::check_upstream(name).map(|()| name.to_string()).map_err(|e| e.to_string())
}
