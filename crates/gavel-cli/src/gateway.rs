//! `gavel gateway`: govern an MCP server's tools with no change to the agent (the library is
//! gavel-gateway). Two fronts:
//! * stdio: the MCP client starts `gavel gateway … -- <server command>` instead of the server;
//!   gavel starts the server and relays MCP, deciding every `tools/call` as the agent of `--token`;
//! * Streamable HTTP: `gavel gateway --listen ADDR --upstream URL` relays to an MCP endpoint,
//!   deciding each `tools/call` as the agent whose bearer token came with the request.
//!
//! Both report each `tools/list` answer to gavel under `--upstream-name` (a changed tool
//! definition is a detection) and leave out the tools the agent's policies deny outright, unless
//! `--show-all-tools`.
//!
//! Exit status: stdio, the upstream server's once the client closes the session (so a client sees
//! a server that failed as failed); HTTP, 0 after SIGTERM or Ctrl-C; 2 for options that do not
//! make one of the two; 3 when the gateway cannot start.

use crate::remote::{NoToken, RemoteArgs};
use anyhow::{bail, Context};
use clap::Args;
use gavel_gateway::{tools, GavelClient, HttpGateway, HttpOptions, StdioGateway, StdioOptions, ToolListing};
use std::ffi::OsString;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Args)]
pub struct GatewayArgs {
    /// How long a forwarded tools/call may run before the gateway answers it as timed out (and
    /// records it so).
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    call_timeout: u64,
    /// The upstream's stable name in gavel's records of its tool lists (a changed tool
    /// definition of the same upstream raises a detection). Default: from the command (`python3
    /// server.py` → `python3-server.py`) or the URL (`127.0.0.1:8000/mcp`).
    #[arg(long, value_name = "NAME", value_parser = upstream_name)]
    upstream_name: Option<String>,
    /// List every tool of the upstream to the client. By default the tools the active policies
    /// deny the agent outright (judged without arguments, as `gavel policy explain` does) are left
    /// out of `tools/list`; held ones stay. Calls are decided either way.
    #[arg(long)]
    show_all_tools: bool,
    /// Streamable HTTP: the address to listen on for MCP clients (each request carries its agent's
    /// token as `Authorization: Bearer`). With --upstream, instead of an upstream command.
    #[arg(long, value_name = "ADDR", requires = "upstream_url", conflicts_with = "upstream")]
    listen: Option<std::net::SocketAddr>,
    /// Streamable HTTP: the upstream MCP endpoint, e.g. http://127.0.0.1:8000/mcp.
    #[arg(long = "upstream", id = "upstream_url", value_name = "URL", requires = "listen")]
    upstream_url: Option<String>,
    /// stdio: the upstream MCP server's command and its arguments, after `--`.
    #[arg(last = true, value_name = "UPSTREAM COMMAND", required_unless_present = "listen")]
    upstream: Vec<OsString>,
}

pub fn run(remote: &RemoteArgs, args: GatewayArgs) -> anyhow::Result<ExitCode> {
    if args.call_timeout == 0 {
        bail!("--call-timeout must be at least 1 second");
    }
    let call_timeout = Duration::from_secs(args.call_timeout);
    let filter = !args.show_all_tools;
    if let (Some(listen), Some(upstream)) = (args.listen, args.upstream_url) {
        let upstream_name = args.upstream_name.unwrap_or_else(|| tools::name_of_url(&upstream));
        let listing = ToolListing { upstream_name, filter };
        return serve_http(remote, listen, HttpOptions { upstream, call_timeout, listing });
    }
    let upstream_name = args.upstream_name.unwrap_or_else(|| tools::name_of_command(&args.upstream));
    let token = remote.token.as_deref().map(str::trim).filter(|t| !t.is_empty()).ok_or(NoToken)?;
    let client = GavelClient::new(&remote.server, token)?;
    let listing = ToolListing { upstream_name, filter };
    let options = StdioOptions { command: args.upstream, call_timeout, listing };
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
        axum::serve(listener, gateway.router()).with_graceful_shutdown(shutdown).await?;
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// `--upstream-name` as core accepts it, checked by clap so a bad one is a usage error (exit 2).
fn upstream_name(name: &str) -> Result<String, String> {
    gavel_core::gateway::check_upstream(name).map(|()| name.to_string()).map_err(|e| e.to_string())
}
