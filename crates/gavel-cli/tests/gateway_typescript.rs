//! The MCP gateway with a client and a server from a second ecosystem: the official MCP
//! TypeScript SDK (pinned in gavel-testkit's Node.js oracles) on both sides of `gavel gateway`,
//! over stdio and over Streamable HTTP, against a real `gavel serve`. The upstream appends each
//! tool it runs to a counter file, so the test sees which calls reached it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is the test failing

mod common;

use common::{json, str_of, HttpGateway, Running, Server};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const POLICY: &str = r#"@id("allow_add")
permit(principal, action == Action::"call_tool", resource == Tool::"add");
@id("no_wipe")
forbid(principal, action == Action::"call_tool", resource == Tool::"wipe_disk");
"#;

/// An MCP server on the TypeScript SDK's McpServer; every tool run is appended to argv[1]. Over
/// stdio, or over Streamable HTTP on 127.0.0.1:argv[2] (endpoint `/mcp`) when a port is given.
const UPSTREAM: &str = r#"
import { appendFileSync } from "node:fs";
import { createServer } from "node:http";
import { randomUUID } from "node:crypto";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { z } from "zod";

const [counter, port] = process.argv.slice(1);
const server = new McpServer({ name: "ts-upstream", version: "1.0.0" });
const ran = (name) => appendFileSync(counter, name + "\n");
server.registerTool("add", { description: "Adds two numbers.", inputSchema: { a: z.number(), b: z.number() } },
  async ({ a, b }) => { ran("add"); return { content: [{ type: "text", text: `sum=${a + b}` }] }; });
server.registerTool("wipe_disk", { description: "Wipes a disk.", inputSchema: { path: z.string() } },
  async ({ path }) => { ran("wipe_disk"); return { content: [{ type: "text", text: `wiped ${path}` }] }; });
if (port) {
  const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: () => randomUUID() });
  await server.connect(transport);
  createServer((req, res) => transport.handleRequest(req, res)).listen(Number(port), "127.0.0.1");
} else {
  await server.connect(new StdioServerTransport());
}
"#;

/// An MCP client on the TypeScript SDK's Client. argv[1] is JSON: either `command`, `args` and
/// `env` (it starts that command and talks stdio) or `url` and `token` (Streamable HTTP, the token
/// as a bearer). It lists the tools, then calls each tool of `plan`, one JSON line each.
const CLIENT: &str = r#"
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const config = JSON.parse(process.argv[1]);
const transport = config.url
  ? new StreamableHTTPClientTransport(new URL(config.url),
      { requestInit: { headers: { Authorization: `Bearer ${config.token}` } } })
  : new StdioClientTransport({ command: config.command, args: config.args, env: config.env });
const client = new Client({ name: "gavel-ts-test", version: "1.0.0" });
await client.connect(transport);
const tools = await client.listTools();
console.log(JSON.stringify({ tools: tools.tools.map((t) => t.name).sort() }));
for (const step of config.plan) {
  const result = await client.callTool({ name: step.tool, arguments: step.args ?? {} });
  const text = result.content.filter((c) => c.type === "text").map((c) => c.text).join(" ");
  console.log(JSON.stringify({ tool: step.tool, isError: Boolean(result.isError), text }));
}
await client.close();
"#;

/// A server with the policy live (proposed by the admin, approved by bob) and the agent
/// `ts-agent` owned by bob.
struct World {
    server: Server,
    agent: String,
    dir: PathBuf,
}

impl World {
    fn new() -> World {
        let server = Server::start();
        let admin = server.admin.clone();
        let a = Some(admin.as_str());
        let token = |v: &Value| str_of(v, "token").to_string();
        let bob = token(&json(&server.gavel(a, &["users", "create", "bob", "--role", "admin", "--json"])));
        let agent =
            token(&json(&server.gavel(a, &["agents", "create", "ts-agent", "--owner", "bob", "--json"])));
        let file = server.file("team.cedar", POLICY);
        let change = json(
            &server.gavel(a, &["policy", "propose", "team", "--file", file.to_str().unwrap(), "--json"]),
        );
        json(&server.gavel(Some(&bob), &["policy", "approve", str_of(&change, "id"), "--json"]));
        let dir = server.tmp.path().join("mcp-ts");
        std::fs::create_dir(&dir).unwrap();
        World { server, agent, dir }
    }

    fn counter(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("calls.txt"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// The agent's decisions (newest first) once each has the outcome the gateway observed.
    fn traces(&self, expected: usize) -> Vec<Value> {
        let admin = Some(self.server.admin.as_str());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let listed = json(&self.server.gavel(admin, &["audit", "list", "--agent", "ts-agent", "--json"]));
            let traces: Vec<Value> = listed["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|item| {
                    json(
                        &self.server.gavel(admin, &["audit", "trace", str_of(item, "decision_id"), "--json"]),
                    )
                })
                .collect();
            let done = traces.len() == expected && traces.iter().all(|t| !t["outcome"].is_null());
            if done || Instant::now() > deadline {
                return traces;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// `node --input-type=module -e SCRIPT ARGS…` in the oracles' package directory.
fn node(script: &str, args: &[&str], stderr: &Path) -> Command {
    let mut command = gavel_testkit::node_command();
    command
        .args(["--input-type=module", "-e", script])
        .args(args)
        .stdin(Stdio::null())
        .stderr(std::fs::File::create(stderr).unwrap());
    command
}

/// Runs the client with `config` to its end; its output lines as JSON.
fn run_client(dir: &Path, config: &Value) -> Vec<Value> {
    let out = node(CLIENT, &[&config.to_string()], &dir.join("client.stderr")).output().unwrap();
    let stderr = std::fs::read_to_string(dir.join("client.stderr")).unwrap_or_default();
    assert!(out.status.success(), "the TypeScript client failed ({}): {stderr}", out.status);
    String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// The plan both transports run, and what the client must have seen: the denied tool left out of
/// the list, the allowed call answered by the upstream, the denied one refused by gavel.
fn plan() -> Value {
    json!([{"tool": "add", "args": {"a": 2, "b": 40}}, {"tool": "wipe_disk", "args": {"path": "/"}}])
}

fn check_answers(lines: &[Value]) {
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(lines[0]["tools"], json!(["add"]), "wipe_disk is denied outright, so not listed: {lines:?}");
    assert_eq!((&lines[1]["isError"], &lines[1]["text"]), (&json!(false), &json!("sum=42")), "{lines:?}");
    assert_eq!(lines[2]["isError"], true, "{lines:?}");
    let refusal = lines[2]["text"].as_str().unwrap();
    assert!(refusal.contains("team/no_wipe (v1)") && refusal.contains("dec_"), "{refusal}");
}

/// Both decisions are in the log with the outcome the gateway observed, and the log verifies.
fn check_record(w: &World) {
    let traces = w.traces(2);
    assert_eq!(traces.len(), 2, "{traces:?}");
    let by_tool = |tool: &str| traces.iter().find(|t| t["tool"] == tool).cloned().unwrap();
    let (added, wiped) = (by_tool("add"), by_tool("wipe_disk"));
    for (trace, status) in [(&added, "succeeded"), (&wiped, "not_executed")] {
        assert_eq!(trace["outcome"]["status"], status, "{trace}");
        assert_eq!(trace["outcome"]["observed_by"], "gateway", "{trace}");
    }
    let (status, verified) = w.server.http_get("/v1/audit/verify", Some(&w.server.admin));
    assert_eq!((status, &verified["valid"]), (200, &json!(true)), "{verified}");
}

#[test]
fn a_typescript_client_and_server_over_stdio_are_governed() {
    let w = World::new();
    let upstream: Vec<Value> =
        vec![json!("--input-type=module"), json!("-e"), json!(UPSTREAM), json!(w.dir.join("calls.txt"))];
    let mut args = vec![json!("gateway"), json!("--server"), json!(w.server.url), json!("--"), json!("node")];
    args.extend(upstream);
    let config = json!({
        "command": env!("CARGO_BIN_EXE_gavel"),
        "args": args,
        // What a client configuration gives the gateway: the agent's token, and a PATH to find node.
        "env": {"GAVEL_TOKEN": w.agent, "PATH": std::env::var("PATH").unwrap()},
        "plan": plan(),
    });
    // The upstream is started by the gateway in the client's directory: the oracles' packages.
    let lines = run_client(&w.dir, &config);
    check_answers(&lines);
    assert_eq!(w.counter(), vec!["add"], "the denied call never reached the upstream");
    check_record(&w);
}

#[test]
fn a_typescript_client_and_server_over_streamable_http_are_governed() {
    let w = World::new();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let calls = w.dir.join("calls.txt");
    let _upstream = Running(
        node(UPSTREAM, &[calls.to_str().unwrap(), &port.to_string()], &w.dir.join("upstream.stderr"))
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    common::wait_for_listener(port, "the upstream MCP server");
    let gateway = HttpGateway::start(&w.dir.join("gateway.stderr"), |gateway| {
        gateway
            .args(["--upstream", &format!("http://127.0.0.1:{port}/mcp")])
            .args(["--server", &w.server.url]);
    });
    let config = json!({"url": gateway.endpoint(), "token": w.agent, "plan": plan()});
    let lines = run_client(&w.dir, &config);
    check_answers(&lines);
    assert_eq!(w.counter(), vec!["add"], "the denied call never reached the upstream");
    check_record(&w);
}
