//! What the MCP gateway adds to a `tools/call`: the same client calls the same upstream MCP
//! server directly and through `gavel gateway` (stdio), against a real `gavel serve` whose
//! decisions are durably committed, alternating blocks of calls in one run so machine noise
//! falls on both sides alike. Prints p50/p90/p99 of each side, the added latency at p50 and p99,
//! and the calls/s one client gets through one gateway. A third side, `POST /v1/decide` alone
//! (one keep-alive HTTP client, the same tool and arguments), shows how much of the added time is
//! the durable decision itself rather than the relay.
//!
//! `cargo bench -p gavel-cli --bench gateway_overhead` (release build; the upstream is the
//! official Python SDK's server from the test oracles' virtualenv). `GAVEL_BENCH_CALLS` sets the
//! calls per side (default 2000).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a bench: a failed setup is the bench failing

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

const POLICY: &str = r#"@id("allow_echo")
permit(principal, action == Action::"call_tool", resource == Tool::"echo");
"#;

/// The upstream: one tool that echoes its argument.
const UPSTREAM: &str = r#"
from mcp.server.mcpserver import MCPServer
server = MCPServer("echo")

@server.tool()
def echo(text: str) -> str:
    """Echoes its text."""
    return text

server.run("stdio")
"#;

const GAVEL: &str = env!("CARGO_BIN_EXE_gavel");

/// A line-speaking MCP client over a child's stdin/stdout.
struct Client {
    child: Child,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
    next_id: u64,
}

impl Client {
    fn start(mut cmd: Command) -> Client {
        let mut child =
            cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().unwrap();
        let input = child.stdin.take().unwrap();
        let output = BufReader::new(child.stdout.take().unwrap());
        let mut client = Client { child, input, output, next_id: 0 };
        let init = client.request(
            "initialize",
            json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}}),
        );
        assert!(init.get("result").is_some(), "initialize: {init}");
        client.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        client
    }

    fn send(&mut self, message: &Value) {
        writeln!(self.input, "{message}").unwrap();
        self.input.flush().unwrap();
    }

    /// Sends a request and reads lines until its answer (notifications in between are skipped).
    fn request(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        let mut line = String::new();
        loop {
            line.clear();
            assert!(self.output.read_line(&mut line).unwrap() > 0, "the server closed its output");
            let message: Value = serde_json::from_str(&line).unwrap();
            if message["id"] == id {
                return message;
            }
        }
    }

    /// One timed `tools/call`.
    fn call(&mut self, n: u64) -> Duration {
        let started = Instant::now();
        let answer =
            self.request("tools/call", json!({"name": "echo", "arguments": {"text": format!("call {n}")}}));
        let took = started.elapsed();
        let result = &answer["result"];
        assert!(result["isError"] != true && result["content"][0]["text"] == format!("call {n}"), "{answer}");
        took
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let calls: u64 = std::env::var("GAVEL_BENCH_CALLS").ok().and_then(|v| v.parse().ok()).unwrap_or(2000);
    let tmp = tempfile::tempdir().unwrap();
    let python = gavel_testkit::python();
    let upstream = tmp.path().join("upstream.py");
    std::fs::write(&upstream, UPSTREAM).unwrap();

    // gavel serve on a fresh data directory, with an agent and an enforcing policy that allows echo.
    let mut serve = Command::new(GAVEL)
        .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(tmp.path().join("data"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(serve.stdout.take().unwrap()).lines();
    let (mut url, mut admin) = (None, None);
    while url.is_none() || admin.is_none() {
        let line = lines.next().expect("gavel serve's output").unwrap();
        if let Some(u) = line.strip_prefix("gavel listening on ") {
            url = Some(u.trim().to_string());
        }
        if let Some(t) = line.strip_prefix("bootstrap admin token (shown once, store it now): ") {
            admin = Some(t.trim().to_string());
        }
    }
    std::thread::spawn(move || for _ in lines {});
    let (url, admin) = (url.unwrap(), admin.unwrap());
    let post = |path: &str, token: &str, body: Value| -> Value {
        ureq::post(&format!("{url}{path}"))
            .set("Authorization", &format!("Bearer {token}"))
            .send_json(body)
            .unwrap()
            .into_json()
            .unwrap()
    };
    let bob = post("/v1/users", &admin, json!({"name": "bob", "role": "admin"}))["token"]
        .as_str()
        .unwrap()
        .to_string();
    let agent = post("/v1/agents", &admin, json!({"name": "bench-agent", "owner": "bob"}))["token"]
        .as_str()
        .unwrap()
        .to_string();
    let change = post("/v1/policies", &admin, json!({"set_id": "bench", "text": POLICY}));
    post(&format!("/v1/policies/changes/{}/approve", change["id"].as_str().unwrap()), &bob, json!({}));

    let mut direct_cmd = Command::new(python);
    direct_cmd.arg(&upstream);
    let mut gateway_cmd = Command::new(GAVEL);
    gateway_cmd
        .args(["gateway", "--server", &url, "--"])
        .arg(python)
        .arg(&upstream)
        .env("GAVEL_TOKEN", &agent);
    let http = ureq::AgentBuilder::new().build();
    let decide_url = format!("{url}/v1/decide");
    let decide = |n: u64| -> Duration {
        let started = Instant::now();
        let answer: Value = http
            .post(&decide_url)
            .set("Authorization", &format!("Bearer {agent}"))
            .send_json(json!({"tool": "echo", "arguments": {"text": format!("call {n}")}}))
            .unwrap()
            .into_json()
            .unwrap();
        let took = started.elapsed();
        assert_eq!(answer["decision"], "allow", "{answer}");
        took
    };
    let mut direct = Client::start(direct_cmd);
    let mut gateway = Client::start(gateway_cmd);
    for n in 0..50 {
        direct.call(n);
        gateway.call(n);
        decide(n);
    }

    // Alternating blocks of 100 calls.
    let (mut through_direct, mut through_gateway, mut decide_alone) = (Vec::new(), Vec::new(), Vec::new());
    let mut gateway_time = Duration::ZERO;
    let mut n = 0;
    while (through_direct.len() as u64) < calls {
        for _ in 0..100 {
            through_direct.push(direct.call(n));
            n += 1;
        }
        let block = Instant::now();
        for _ in 0..100 {
            through_gateway.push(gateway.call(n));
            n += 1;
        }
        gateway_time += block.elapsed();
        for _ in 0..100 {
            decide_alone.push(decide(n));
            n += 1;
        }
    }
    through_direct.sort();
    through_gateway.sort();
    decide_alone.sort();
    let row = |name: &str, v: &[Duration]| {
        println!(
            "{name:<9} p50 {:>7.3} ms   p90 {:>7.3} ms   p99 {:>7.3} ms   ({} calls)",
            ms(percentile(v, 0.5)),
            ms(percentile(v, 0.9)),
            ms(percentile(v, 0.99)),
            v.len()
        );
    };
    println!("round trips, one client, sequential, same run (alternating blocks of 100; decide = POST /v1/decide alone):");
    row("direct", &through_direct);
    row("gateway", &through_gateway);
    row("decide", &decide_alone);
    println!(
        "added by the gateway: p50 {:.3} ms, p99 {:.3} ms; {:.0} calls/s through one gateway (one client)",
        ms(percentile(&through_gateway, 0.5)) - ms(percentile(&through_direct, 0.5)),
        ms(percentile(&through_gateway, 0.99)) - ms(percentile(&through_direct, 0.99)),
        through_gateway.len() as f64 / gateway_time.as_secs_f64()
    );
    drop(direct);
    drop(gateway);
    let _ = serve.kill();
    let _ = serve.wait();
}
