//! Tool categories per upstream, end to end: a real `gavel serve`, an upstream on the official
//! MCP Python SDK (pinned in gavel-testkit's oracles) behind `gavel gateway --upstream-name`, and
//! the Python SDK's client as the agent. The gateway records the upstream's tool list; `gavel
//! tools categorize` expands the upstream's `categories` globs of gavel.toml over it and proposes
//! one change; a second admin approves it; a policy on `resource.category` then lets the call
//! through the gateway where before it was denied, and `gavel audit verify` passes. Bad
//! configurations are refused before anything is sent.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is the test failing

mod common;

use common::{json, refused, stdout, str_of, Server};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Only read-only tools are allowed: every other call is denied (an enforcing set, no permit).
const POLICY: &str = r#"@id("read_only_tools")
permit (principal, action == Action::"call_tool", resource) when { resource.category == "read_only" };
"#;

/// An MCP server on the Python SDK's MCPServer, over stdio; every tool run is appended to argv[1].
const UPSTREAM: &str = r#"
import sys
from mcp.server.mcpserver import MCPServer

COUNTER = sys.argv[1]
server = MCPServer("notes")


def ran(name):
    with open(COUNTER, "a") as f:
        f.write(name + "\n")


@server.tool()
def read_note(name: str) -> str:
    """Reads a note."""
    ran("read_note")
    return f"note {name}: hello"


@server.tool()
def wipe_notes() -> str:
    """Deletes every note."""
    ran("wipe_notes")
    return "wiped"


@server.tool()
def add(a: int, b: int) -> str:
    """Adds two numbers."""
    ran("add")
    return f"sum={a + b}"


server.run("stdio")
"#;

/// An MCP client on the Python SDK's ClientSession over stdio: starts the gateway, lists the tools
/// (one JSON line: the names), then calls each tool of the plan (one JSON line each).
const CLIENT: &str = r#"
import asyncio, json, sys
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client


async def main():
    config = json.loads(sys.argv[1])
    params = StdioServerParameters(command=config["command"], args=config["args"], env=config["env"])
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            tools = await session.list_tools()
            print(json.dumps({"tools": sorted(t.name for t in tools.tools)}), flush=True)
            for step in config["plan"]:
                result = await session.call_tool(step["tool"], step.get("args", {}))
                text = " ".join(c.text for c in result.content if getattr(c, "type", "") == "text")
                print(json.dumps({"tool": step["tool"], "isError": bool(result.is_error), "text": text}),
                      flush=True)


asyncio.run(main())
"#;

struct World {
    server: Server,
    bob: String,
    agent: String,
    dir: PathBuf,
    config: PathBuf,
}

impl World {
    fn new() -> World {
        let server = Server::start();
        let admin = Some(server.admin.as_str());
        let token = |v: &Value| str_of(v, "token").to_string();
        let bob =
            token(&json(&server.gavel(admin, &["users", "create", "bob", "--role", "admin", "--json"])));
        let agent = token(&json(&server.gavel(admin, &["agents", "create", "notes-agent", "--json"])));
        let file = server.file("read-only.cedar", POLICY);
        let change =
            json(&server.gavel(
                admin,
                &["policy", "propose", "read-only", "--file", file.to_str().unwrap(), "--json"],
            ));
        json(&server.gavel(Some(&bob), &["policy", "approve", str_of(&change, "id"), "--json"]));
        let dir = server.tmp.path().join("mcp");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("upstream.py"), UPSTREAM).unwrap();
        std::fs::write(dir.join("client.py"), CLIENT).unwrap();
        let config = dir.join("gavel.toml");
        std::fs::write(&config, gavel_toml(&dir, r#"{ "read_*" = "read_only", "wipe_*" = "destructive" }"#))
            .unwrap();
        World { server, bob, agent, dir, config }
    }

    /// Runs the Python client through `gavel gateway --upstream-name notes --config <toml>`:
    /// the tools it was listed, and each call's answer.
    fn session(&self, plan: Value) -> (Value, Vec<Value>) {
        let python = gavel_testkit::oracles::python();
        let config = json!({
            "command": env!("CARGO_BIN_EXE_gavel"),
            "args": ["gateway", "--server", self.server.url, "--upstream-name", "notes", "--config", self.config],
            "env": {"GAVEL_TOKEN": self.agent},
            "plan": plan,
        });
        let stderr = std::fs::File::create(self.dir.join("client.stderr")).unwrap();
        let mut child = Command::new(python)
            .arg(self.dir.join("client.py"))
            .arg(config.to_string())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let lines: Vec<Value> = BufReader::new(child.stdout.take().unwrap())
            .lines()
            .map_while(Result::ok)
            .map(|l| serde_json::from_str(&l).unwrap_or(Value::String(l)))
            .collect();
        let status = child.wait().unwrap();
        let stderr = std::fs::read_to_string(self.dir.join("client.stderr")).unwrap_or_default();
        assert!(status.success() && !lines.is_empty(), "the MCP client failed: {lines:?}\n{stderr}");
        (lines[0]["tools"].clone(), lines[1..].to_vec())
    }

    fn ran(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("calls.txt"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn categorize(&self, token: &str, config: &Path, extra: &[&str]) -> std::process::Output {
        let mut args =
            vec!["tools", "categorize", "--upstream-name", "notes", "--config", config.to_str().unwrap()];
        args.extend_from_slice(extra);
        self.server.gavel(Some(token), &args)
    }

    fn changes(&self) -> Value {
        json(&self.server.gavel(Some(&self.server.admin), &["tools", "changes", "--json"]))["items"].clone()
    }
}

/// gavel.toml with the upstream `notes` (the Python server) and its `categories` table.
fn gavel_toml(dir: &Path, categories: &str) -> String {
    let python = gavel_testkit::oracles::python();
    format!(
        "[gateway.upstreams.notes]\ncommand = [{:?}, {:?}, {:?}]\ncategories = {categories}\n",
        python.to_str().unwrap(),
        dir.join("upstream.py").to_str().unwrap(),
        dir.join("calls.txt").to_str().unwrap(),
    )
}

#[test]
fn an_upstreams_configured_categories_take_effect_once_a_second_admin_approves() {
    let w = World::new();
    let admin = w.server.admin.clone();

    // Before: every tool is uncategorised, so the read-only policy permits none of them; the
    // gateway leaves them all out of the list, and a call is denied without reaching the upstream.
    let (listed, answers) = w.session(json!([{"tool": "read_note", "args": {"name": "a"}}]));
    assert_eq!(listed, json!([]));
    assert_eq!(answers[0]["isError"], true, "{answers:?}");
    assert!(w.ran().is_empty(), "{:?}", w.ran());

    // The plan, without proposing anything.
    let dry = stdout(&w.categorize(&admin, &w.config, &["--dry-run"]));
    assert!(dry.contains("read_note: none -> read_only"), "{dry}");
    assert!(dry.contains("wipe_notes: none -> destructive"), "{dry}");
    assert!(dry.contains("matched by no glob (left as they are): add"), "{dry}");
    assert!(dry.contains("dry run: nothing proposed"), "{dry}");
    assert_eq!(w.changes(), json!([]));

    // Bad configurations are refused before anything is sent.
    let bad = |name: &str, categories: &str| {
        let path = w.dir.join(name);
        std::fs::write(&path, gavel_toml(&w.dir, categories)).unwrap();
        refused(&w.categorize(&admin, &path, &[]))
    };
    let err = bad("bad-category.toml", r#"{ "read_*" = "Read-Only" }"#);
    assert!(err.contains("[gateway.upstreams.notes]") && err.contains("[a-z0-9_]"), "{err}");
    let err = bad("bad-glob.toml", r#"{ "read *" = "read_only" }"#);
    assert!(err.contains("glob"), "{err}");
    let err = bad("ambiguous.toml", r#"{ "read_*" = "read_only", "*_note" = "notes" }"#);
    assert!(err.contains("read_note") && err.contains("ambiguous"), "{err}");
    let err = refused(&w.server.gavel(
        Some(&admin),
        &["tools", "categorize", "--upstream-name", "nope", "--config", w.config.to_str().unwrap()],
    ));
    assert!(err.contains("no upstream \"nope\""), "{err}");
    // An agent cannot categorise its own tools.
    let err = refused(&w.categorize(&w.agent, &w.config, &[]));
    assert!(err.contains("403"), "{err}");
    assert_eq!(w.changes(), json!([]), "nothing was proposed");

    // One change, proposed by the admin; they cannot approve it themselves.
    let proposed = json(&w.categorize(&admin, &w.config, &["--json"]));
    let change = &proposed["change"];
    assert_eq!(change["status"], "pending");
    assert_eq!(change["source"], "upstream:notes");
    assert_eq!(
        change["assignments"],
        json!([{"tool": "read_note", "category": "read_only", "previous": null},
               {"tool": "wipe_notes", "category": "destructive", "previous": null}])
    );
    let id = str_of(change, "id").to_string();
    let err = refused(&w.server.gavel(Some(&admin), &["tools", "approve", &id]));
    assert!(err.contains("two-person rule"), "{err}");
    let (listed, _) = w.session(json!([]));
    assert_eq!(listed, json!([]), "a pending change changes nothing");

    let approved = stdout(&w.server.gavel(Some(&w.bob), &["tools", "approve", &id, "--comment", "reviewed"]));
    assert!(approved.contains("applied") && approved.contains("read_note: none -> read_only"), "{approved}");

    // After: the read-only tool is listed and its call goes through; the others stay denied.
    let (listed, answers) = w.session(json!([
        {"tool": "read_note", "args": {"name": "a"}},
        {"tool": "wipe_notes"},
    ]));
    assert_eq!(listed, json!(["read_note"]));
    assert_eq!(
        (answers[0]["isError"].clone(), answers[0]["text"].clone()),
        (json!(false), json!("note a: hello"))
    );
    assert_eq!(answers[1]["isError"], true, "{answers:?}");
    assert_eq!(w.ran(), ["read_note"]);

    let registry = json(&w.server.gavel(Some(&admin), &["tools", "list", "--json"]));
    let entry =
        registry["items"].as_array().unwrap().iter().find(|t| t["tool"] == "read_note").unwrap().clone();
    assert_eq!(
        (entry["category"].clone(), entry["source"].clone()),
        (json!("read_only"), json!("upstream:notes"))
    );
    // Run again, the plan is empty: nothing to propose.
    let again = stdout(&w.categorize(&admin, &w.config, &[]));
    assert!(again.contains("nothing to change"), "{again}");

    // The log holds the change and its approval, and verifies.
    std::thread::sleep(Duration::from_millis(200));
    let dir = w.server.stop();
    let verify = Command::new(env!("CARGO_BIN_EXE_gavel"))
        .args(["audit", "verify", "--json", "--data-dir"])
        .arg(dir.path().join("data"))
        .env_remove("GAVEL_DATA_DIR")
        .output()
        .unwrap();
    assert_eq!(json(&verify)["valid"], true, "{verify:?}");

    // The evidence bundle's CC8.1 counts the change and its two persons, from the events, and
    // the verifier recomputes the same.
    let day = |offset: i64| {
        let d = time::OffsetDateTime::now_utc().date() + time::Duration::days(offset);
        format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
    };
    let local = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_gavel"))
            .args(args)
            .env("GAVEL_DATA_DIR", dir.path().join("data"))
            .output()
            .unwrap()
    };
    let bundle = dir.path().join("bundle");
    let bundle = bundle.to_str().unwrap();
    json(&local(&["evidence", "export", "--from", &day(-1), "--to", &day(2), "--out", bundle, "--json"]));
    let cc81: Value =
        serde_json::from_slice(&std::fs::read(Path::new(bundle).join("controls/CC8.1.json")).unwrap())
            .unwrap();
    let summary = str_of(&cc81, "summary");
    assert!(summary.contains("1 tool category change(s) proposed, 1 applied"), "{summary}");
    assert_eq!(cc81["operating"][0]["holds"], true, "{cc81}");
    let applied = cc81["analysis"]["history"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["kind"] == "tools.categories_applied")
        .unwrap()
        .clone();
    assert_eq!((applied["author"].clone(), applied["approver"].clone()), (json!("admin"), json!("bob")));
    let verified = json(&local(&["evidence", "verify", bundle, "--json"]));
    assert_eq!(verified["valid"], true, "{verified:#}");
}

/// The recorded names come from agents' gateways: an agent can report any name under an upstream.
/// A name that another source categorised (here the soc2 pack's `web_search`) is kept by a broad
/// glob, listed as kept, and changed only when the admin asks for it.
#[test]
fn a_tool_another_source_categorised_is_kept_unless_the_admin_overrides() {
    let w = World::new();
    let admin = w.server.admin.clone();
    let installed = w.server.gavel(Some(&admin), &["pack", "install", "soc2"]);
    assert!(installed.status.success(), "{}", String::from_utf8_lossy(&installed.stderr));
    // An agent reports a list for `notes` holding a tool of another server.
    let digest = "0".repeat(64);
    let reported = ureq::post(&format!("{}/v1/gateway/tools", w.server.url))
        .set("Authorization", &format!("Bearer {}", w.agent))
        .send_json(json!({"upstream": "notes", "tools": [
            {"name": "read_note", "sha256": digest}, {"name": "web_search", "sha256": digest}]}));
    assert!(reported.is_ok(), "{reported:?}");

    let config = w.dir.join("broad.toml");
    std::fs::write(&config, gavel_toml(&w.dir, r#"{ "*" = "notes_read" }"#)).unwrap();
    let plan = stdout(&w.categorize(&admin, &config, &["--dry-run"]));
    assert!(plan.contains("read_note: none -> notes_read"), "{plan}");
    assert!(plan.contains("kept: web_search is read_only, set by soc2@"), "{plan}");
    assert!(!plan.contains("web_search: read_only ->"), "{plan}");

    let proposed = json(&w.categorize(&admin, &config, &["--json"]));
    let tools: Vec<&str> = proposed["change"]["assignments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["tool"].as_str().unwrap())
        .collect();
    assert_eq!(tools, ["read_note"], "the pack's tool is not in the change");

    let overridden = stdout(&w.categorize(&admin, &config, &["--dry-run", "--override-other-sources"]));
    assert!(overridden.contains("web_search: read_only -> notes_read"), "{overridden}");
}
