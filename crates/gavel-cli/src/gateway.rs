//! `gavel gateway`: govern an MCP server's tools with no change to the agent. The MCP client
//! starts `gavel gateway … -- <server command>` instead of the server; gavel starts the server and
//! relays MCP over stdio, deciding every `tools/call` as the agent (the library is gavel-gateway).
//!
//! Exit status: the upstream server's, once the client closes the session (so a client sees a
//! server that failed as failed); 3 when the gateway cannot start (bad options, no such command).

use crate::remote::{NoToken, RemoteArgs};
use clap::Args;
use gavel_gateway::{GavelClient, StdioGateway, StdioOptions};
use std::ffi::OsString;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Args)]
pub struct GatewayArgs {
    /// How long a forwarded tools/call may run before the gateway answers it as timed out (and
    /// records it so).
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    call_timeout: u64,
    /// The upstream MCP server's command and its arguments, after `--`.
    #[arg(last = true, required = true, value_name = "UPSTREAM COMMAND")]
    upstream: Vec<OsString>,
}

pub fn run(remote: &RemoteArgs, args: GatewayArgs) -> anyhow::Result<ExitCode> {
    let token = remote.token.as_deref().map(str::trim).filter(|t| !t.is_empty()).ok_or(NoToken)?;
    if args.call_timeout == 0 {
        anyhow::bail!("--call-timeout must be at least 1 second");
    }
    let client = GavelClient::new(&remote.server, token)?;
    let options =
        StdioOptions { command: args.upstream, call_timeout: Duration::from_secs(args.call_timeout) };
    let gateway = StdioGateway::new(client, options)?;
    let code = gateway.run(std::io::BufReader::new(std::io::stdin()), std::io::stdout())?;
    Ok(match code {
        Some(0) => ExitCode::SUCCESS,
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        None => ExitCode::FAILURE,
    })
}
