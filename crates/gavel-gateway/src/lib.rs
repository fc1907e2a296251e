//! gavel's MCP gateway: an MCP client talks to gavel as if it were its MCP server; gavel passes
//! every message through to the real (upstream) server, a child process over stdio ([`stdio`]) or
//! an endpoint over Streamable HTTP ([`http`]), except that each `tools/call` is first decided by
//! `gavel serve` as the agent, and its outcome, as the gateway saw it, is recorded there.
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
//! proxy), [`http`] (the Streamable HTTP one).
//!
//! Why not the official Rust SDK `rmcp` (3.11 when this was written): it needs Rust 1.88, above the
//! workspace MSRV (1.87), and it would make the gateway a typed MCP server and client at once,
//! which re-serializes every message through its model: fields it does not know (a newer
//! revision's, an extension's) would be dropped or refused, and each method would need its own
//! forwarding code. A governing proxy needs the opposite: relay every line untouched and interpret
//! only `tools/call`, its result and `initialize`. The SDKs stay the outside check: the tests
//! drive the gateway with the Python SDK on both sides.

pub mod api;
pub mod govern;
pub mod http;
pub mod jsonrpc;
pub mod protocol;
pub mod stdio;
pub mod tools;

pub use api::GavelClient;
pub use http::{HttpGateway, HttpOptions};
pub use stdio::{StdioGateway, StdioOptions};
pub use tools::ToolListing;

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
