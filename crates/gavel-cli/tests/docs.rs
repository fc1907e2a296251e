//! The documentation is executed: every ```` ```console ```` block of README.md and docs/*.md runs,
//! in order, against the built `gavel`, so a command the docs show cannot drift from the CLI.
//!
//! Each file runs on its own, in a fresh empty directory, through one `bash` (so `TOKEN=$(...)`
//! set in one block is there in the next), with `gavel` on PATH and no GAVEL_* variables set.
//!
//! Block syntax (after trycmd):
//! * ```` ```console ````: lines starting with `$ ` are commands, run in the document's directory;
//!   a command ending in `\` continues on the next line, and a heredoc (`<<'EOF'`) takes the lines
//!   up to its terminator. The other lines are the expected output (stdout and stderr together):
//!   none shown means not checked; `...` on its own line stands for any number of lines and `[..]`
//!   for any text within a line. `[exit N]` says the command exits N (default 0).
//! * ```` ```console background ````: one command the reader starts in a second terminal (`gavel
//!   serve`); it runs in the background until the file is done, and the test goes on once its
//!   output so far matches the lines shown.
//! * `<!-- docs-test: stop the server -->`: the reader presses Ctrl-C in that terminal: the last
//!   background command gets SIGTERM, and the test waits until it has exited with status 0.
//! * Any other block (```` ```sh ````, ```` ```console ignore ````, ```` ```toml ````) is for reading
//!   only. Keep those few: `cargo run`, things that need the network.
//!
//! `GAVEL_DOCS_SHOW=1 cargo test -p gavel-cli --test docs -- --nocapture` prints every command
//! with its output, for writing the expected lines (a mismatched output is then only reported).
//!
//! The server listens on a free port instead of 7311: GAVEL_ADDR and GAVEL_SERVER say so, the
//! address `127.0.0.1:7311` in a command is replaced with the real one, and the real one in the
//! output is shown as `127.0.0.1:7311` again.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is the test failing

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Every guide with commands in it; `every_doc_is_executed` keeps this list complete.
const DOCS: [&str; 8] = [
    "README.md",
    "docs/audit-log.md",
    "docs/policies.md",
    "docs/approvals.md",
    "docs/containment.md",
    "docs/webhooks-and-incidents.md",
    "docs/evidence.md",
    "docs/operations.md",
];

/// The pages that show no gavel session: the index of the guides, how to build and test, the
/// web console (a browser's pages, tested by gavel-server's `tests/console.rs`), replicas (its
/// steps need a PostgreSQL server; `tests/replicas.rs` runs them against a real one), and Envoy's
/// ext_authz (proxy configuration; gavel-server's `tests/ext_authz.rs` sends its requests).
const READ_ONLY: [&str; 5] =
    ["docs/README.md", "docs/development.md", "docs/console.md", "docs/replicas.md", "docs/ext-authz.md"];

/// How long one command may take before the test gives up on it.
const STEP_TIMEOUT: Duration = Duration::from_secs(120);
const DOCUMENTED_ADDR: &str = "127.0.0.1:7311";

#[test]
fn readme() {
    run_doc("README.md");
}

#[test]
fn audit_log() {
    run_doc("docs/audit-log.md");
}

#[test]
fn policies() {
    run_doc("docs/policies.md");
}

#[test]
fn approvals() {
    run_doc("docs/approvals.md");
}

#[test]
fn containment() {
    run_doc("docs/containment.md");
}

#[test]
fn webhooks_and_incidents() {
    run_doc("docs/webhooks-and-incidents.md");
}

#[test]
fn evidence() {
    run_doc("docs/evidence.md");
}

#[test]
fn operations() {
    run_doc("docs/operations.md");
}

/// A new guide is executed too: it must be in `DOCS` (and have a test above), or in `READ_ONLY`
/// and show no session at all.
#[test]
fn every_doc_is_executed() {
    let mut found: Vec<String> = std::fs::read_dir(root().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".md"))
        .map(|name| format!("docs/{name}"))
        .collect();
    found.push("README.md".into());
    found.sort();
    let mut listed: Vec<String> = DOCS.iter().chain(&READ_ONLY).map(|d| d.to_string()).collect();
    listed.sort();
    assert_eq!(found, listed, "docs/*.md and the DOCS and READ_ONLY lists of tests/docs.rs differ");
    for doc in DOCS {
        let steps = parse(&std::fs::read_to_string(root().join(doc)).unwrap(), doc);
        assert!(steps.iter().any(|s| matches!(s.kind, Kind::Run)), "{doc} runs no command");
    }
    for doc in READ_ONLY {
        let text = std::fs::read_to_string(root().join(doc)).unwrap();
        let session = text.lines().any(|l| l.starts_with("```console"));
        assert!(!session, "{doc} shows a session: add it to DOCS, with a test");
    }
}

/// Every relative link of the docs (and ARCHITECTURE.md) names a file of the repository, and a
/// heading of it when it has an anchor; no page cites a design document that is not there.
#[test]
fn links_point_at_files_and_headings_that_exist() {
    let mut pages: Vec<String> = DOCS.iter().chain(&READ_ONLY).map(|d| d.to_string()).collect();
    pages.push("ARCHITECTURE.md".into());
    for page in &pages {
        let path = root().join(page);
        let text = std::fs::read_to_string(&path).unwrap();
        // The name is spelt in two halves so that this check is not itself a citation.
        let design = concat!("DESIGN", ".md");
        assert!(!text.contains(design), "{page} cites {design}, which is not in the repository");
        for (target, line) in links(&text) {
            if target.starts_with("http://")
                || target.starts_with("https://")
                || target.starts_with("mailto:")
            {
                continue;
            }
            let (file, anchor) = target.split_once('#').unwrap_or((&target, ""));
            let linked = if file.is_empty() { path.clone() } else { path.parent().unwrap().join(file) };
            assert!(linked.exists(), "{page}:{line}: the link {target} names no file");
            if !anchor.is_empty() {
                let linked_text = std::fs::read_to_string(&linked).unwrap();
                let found = linked_text
                    .lines()
                    .filter_map(|l| l.strip_prefix('#'))
                    .any(|h| slug(h.trim_start_matches('#')) == anchor);
                assert!(found, "{page}:{line}: the link {target} names no heading of {file}");
            }
        }
    }
}

/// `[text](target)` links of a markdown text, with their 1-based lines (code blocks skipped).
fn links(text: &str) -> Vec<(String, usize)> {
    let mut found = Vec::new();
    let mut in_code = false;
    for (i, line) in text.lines().enumerate() {
        if line.starts_with("```") && !line[3..].contains('`') {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let Some(end) = after.find(')') else { break };
            found.push((after[..end].to_string(), i + 1));
            rest = &after[end..];
        }
    }
    found
}

/// GitHub's anchor of a heading: lower case, spaces to `-`, punctuation other than `-` and `_` dropped.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The parser and matcher themselves, on small inputs.
#[test]
fn the_doc_format_is_parsed_as_documented() {
    let doc = "text\n\n```console\n$ a \\\n  --b\nout [..] x\n...\n[exit 3]\n$ cat > f <<'EOF'\nx\n$ y\nEOF\n```\n\n\
               ```sh\n$ not run\n```\n<!-- docs-test: stop the server -->\n```console background\n$ serve\n...\nready\n```\n";
    let steps = parse(doc, "t.md");
    assert_eq!(steps.len(), 4, "{steps:?}");
    assert_eq!(steps[0].command, "a \\\n  --b");
    assert_eq!(steps[0].expected, vec!["out [..] x", "..."]);
    assert_eq!(steps[0].status, 3);
    assert_eq!(steps[0].line, 4);
    assert_eq!(steps[1].command, "cat > f <<'EOF'\nx\n$ y\nEOF");
    assert!(steps[1].expected.is_empty());
    assert!(matches!(steps[2].kind, Kind::Stop));
    assert!(matches!(steps[3].kind, Kind::Background));

    let lines = |s: &str| s.lines().map(str::to_string).collect::<Vec<_>>();
    assert!(matches(&lines("a\n...\nz"), &lines("a\nb\nc\nz")));
    assert!(matches(&lines("a\n...\nz"), &lines("a\nz")));
    assert!(!matches(&lines("a\nz"), &lines("a\nb\nz")));
    assert!(matches(&lines("token: gvl_[..]"), &lines("token: gvl_abc")));
    assert!(matches(&lines("[..] of [..] events"), &lines("3 of 3 events")));
    assert!(!matches(&lines("[..] of [..] events"), &lines("3 of 3 event")));
    assert!(!matches(&lines("a"), &lines("a\nb")));
}

#[derive(Debug)]
enum Kind {
    /// A command run to completion.
    Run,
    /// A command left running in the background (a server).
    Background,
    /// Stop the last background command, as Ctrl-C would.
    Stop,
}

#[derive(Debug)]
struct Step {
    kind: Kind,
    /// 1-based line of the command in its file.
    line: usize,
    command: String,
    expected: Vec<String>,
    status: i32,
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The executable steps of a markdown file, in order.
fn parse(text: &str, name: &str) -> Vec<Step> {
    let lines: Vec<&str> = text.lines().collect();
    let mut steps: Vec<Step> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if line.trim() == "<!-- docs-test: stop the server -->" {
            steps.push(Step {
                kind: Kind::Stop,
                line: i + 1,
                command: String::new(),
                expected: vec![],
                status: 0,
            });
            i += 1;
            continue;
        }
        // A fence opens with three backticks and an info string without any (CommonMark).
        let Some(info) = line.strip_prefix("```").filter(|info| !info.contains('`')) else {
            i += 1;
            continue;
        };
        let words: Vec<&str> = info.split([' ', ',']).filter(|w| !w.is_empty()).collect();
        let end = (i + 1..lines.len())
            .find(|&j| lines[j].starts_with("```"))
            .unwrap_or_else(|| panic!("{name}:{}: a code block is not closed", i + 1));
        let body = &lines[i + 1..end];
        let kind = match words.as_slice() {
            ["console"] => Some(Kind::Run),
            ["console", "background"] => Some(Kind::Background),
            ["console", "ignore"] => None,
            ["console", ..] => panic!("{name}:{}: unknown code block {info:?}", i + 1),
            _ => None,
        };
        if let Some(kind) = kind {
            let before = steps.len();
            parse_block(body, i + 2, name, &mut steps);
            if matches!(kind, Kind::Background) {
                assert_eq!(steps.len(), before + 1, "{name}:{}: a background block holds one command", i + 1);
                steps[before].kind = Kind::Background;
            }
        }
        i = end + 1;
    }
    steps
}

fn parse_block(body: &[&str], first_line: usize, name: &str, steps: &mut Vec<Step>) {
    let mut j = 0;
    while j < body.len() {
        let line = body[j];
        if let Some(command) = line.strip_prefix("$ ") {
            let mut command = command.to_string();
            let line_no = first_line + j;
            j += 1;
            // `\` continues the command on the next line.
            while command.ends_with('\\') && j < body.len() {
                command.push('\n');
                command.push_str(body[j]);
                j += 1;
            }
            // A heredoc takes the lines up to its terminator.
            if let Some(pos) = command.find("<<") {
                let word = command[pos + 2..].trim_start_matches('-').trim_start();
                let word: String = word
                    .trim_start_matches(['\'', '"'])
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                assert!(!word.is_empty(), "{name}:{line_no}: cannot read the heredoc terminator");
                loop {
                    assert!(j < body.len(), "{name}:{line_no}: heredoc {word} is not terminated");
                    command.push('\n');
                    command.push_str(body[j]);
                    j += 1;
                    if body[j - 1].trim() == word {
                        break;
                    }
                }
            }
            steps.push(Step { kind: Kind::Run, line: line_no, command, expected: vec![], status: 0 });
        } else {
            let step = steps
                .last_mut()
                .filter(|s| s.line >= first_line)
                .unwrap_or_else(|| panic!("{name}:{}: output before any `$ ` command", first_line + j));
            match line.strip_prefix("[exit ").and_then(|r| r.strip_suffix(']')) {
                Some(status) => step.status = status.parse().expect("[exit N]"),
                None => step.expected.push(line.trim_end().to_string()),
            }
            j += 1;
        }
    }
    for step in steps.iter_mut().filter(|s| s.line >= first_line) {
        while step.expected.last().is_some_and(|l| l.is_empty()) {
            step.expected.pop();
        }
    }
}

/// `expected` (with `...` lines and `[..]` in lines) matches `actual`.
fn matches(expected: &[String], actual: &[String]) -> bool {
    match expected.split_first() {
        None => actual.is_empty(),
        Some((first, rest)) if first == "..." => (0..=actual.len()).any(|k| matches(rest, &actual[k..])),
        Some((first, rest)) => {
            actual.first().is_some_and(|a| line_matches(first, a)) && matches(rest, &actual[1..])
        }
    }
}

fn line_matches(expected: &str, actual: &str) -> bool {
    let parts: Vec<&str> = expected.split("[..]").collect();
    if parts.len() == 1 {
        return expected == actual;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !actual.starts_with(first) || actual.len() < first.len() + last.len() || !actual.ends_with(last) {
        return false;
    }
    let mut rest = &actual[first.len()..actual.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

/// A `bash` reading commands from the test, in its own process group so that everything the
/// document started (servers included) is stopped with it, even when the test fails.
struct Shell {
    child: Child,
    stdin: ChildStdin,
    replies: mpsc::Receiver<String>,
}

#[allow(unsafe_code, reason = "kill(2) on the test's own process group; see each SAFETY")]
impl Drop for Shell {
    fn drop(&mut self) {
        let group = -(self.child.id() as i32);
        // SAFETY: kill(2) on the process group this test created; no memory is involved.
        unsafe {
            libc::kill(group, libc::SIGTERM);
        }
        // Wait (a little) for the servers' graceful shutdown, so they do not outlive the test.
        let deadline = Instant::now() + Duration::from_secs(10);
        // SAFETY: as above; signal 0 only asks whether the group still has members.
        while Instant::now() < deadline && unsafe { libc::kill(group, 0) } == 0 {
            let _ = self.child.try_wait();
            std::thread::sleep(Duration::from_millis(50));
        }
        // SAFETY: as above.
        unsafe {
            libc::kill(group, libc::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

impl Shell {
    /// Sends a script and waits for the one line it answers with.
    fn ask(&mut self, script: &str, what: &str) -> String {
        self.stdin.write_all(script.as_bytes()).unwrap();
        self.stdin.flush().unwrap();
        self.replies
            .recv_timeout(STEP_TIMEOUT)
            .unwrap_or_else(|_| panic!("{what} did not finish within {} s", STEP_TIMEOUT.as_secs()))
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn run_doc(name: &str) {
    let started = Instant::now();
    let text = std::fs::read_to_string(root().join(name)).unwrap();
    let steps = parse(&text, name);
    let work = tempfile::tempdir().unwrap();
    let outputs = tempfile::tempdir().unwrap();
    let bin = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_gavel"), bin.path().join("gavel")).unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let path = format!("{}:{}", bin.path().display(), std::env::var("PATH").unwrap_or_default());

    let mut cmd = Command::new("bash");
    cmd.args(["--noprofile", "--norc"])
        .current_dir(work.path())
        .env("PATH", path)
        .env("GAVEL_ADDR", &addr)
        .env("GAVEL_SERVER", format!("http://{addr}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .process_group(0);
    for var in ["GAVEL_TOKEN", "GAVEL_DATA_DIR", "GAVEL_CONFIG", "GAVEL_LOG_FORMAT", "RUST_LOG", "NO_COLOR"] {
        cmd.env_remove(var);
    }
    let mut child = cmd.spawn().expect("bash");
    let stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, replies) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut shell = Shell { child, stdin, replies };
    let mut background: Option<String> = None;

    for (n, step) in steps.iter().enumerate() {
        let at = format!("{name}:{}", step.line);
        let out = outputs.path().join(format!("{n}.out"));
        let command = step.command.replace(DOCUMENTED_ADDR, &addr);
        let shown = |status: &str, output: &str| {
            format!("{at}: `$ {}`\n{status}\n--- output ---\n{output}--- end ---", step.command)
        };
        match step.kind {
            Kind::Run => {
                let script = format!(
                    "{{ {command}\n}} > '{}' 2>&1 < /dev/null\necho \"__docs_status $?\"\n",
                    out.display()
                );
                let reply = shell.ask(&script, &at);
                let status: i32 = reply.strip_prefix("__docs_status ").and_then(|s| s.parse().ok()).unwrap();
                let output = read_output(&out, &addr);
                assert_eq!(
                    status,
                    step.status,
                    "{}",
                    shown(&format!("exit {status}, the doc says {}", step.status), &output)
                );
                if std::env::var_os("GAVEL_DOCS_SHOW").is_some() {
                    eprintln!("{at}: $ {}\n{output}[exit {status}]", step.command);
                }
                let actual = lines_of(&output);
                if !step.expected.is_empty() && !matches(&step.expected, &actual) {
                    if std::env::var_os("GAVEL_DOCS_SHOW").is_some() {
                        eprintln!("{at}: MISMATCH (not fatal with GAVEL_DOCS_SHOW)");
                        continue;
                    }
                    panic!(
                        "{}\n--- the doc shows ---\n{}\n--- end ---",
                        shown("the output differs from the doc", &output),
                        step.expected.join("\n")
                    );
                }
            }
            Kind::Background => {
                let script = format!(
                    "{command} > '{}' 2>&1 < /dev/null &\necho \"__docs_status $!\"\n",
                    out.display()
                );
                let reply = shell.ask(&script, &at);
                let pid = reply.strip_prefix("__docs_status ").unwrap().to_string();
                // Wait until what it printed so far matches the doc (e.g. "gavel listening on ...").
                let deadline = Instant::now() + STEP_TIMEOUT;
                loop {
                    let output = read_output(&out, &addr);
                    if matches(&step.expected, &lines_of(&output)) {
                        break;
                    }
                    let alive =
                        shell.ask(&format!("kill -0 {pid} 2>/dev/null; echo \"__docs_status $?\"\n"), &at);
                    assert!(alive == "__docs_status 0", "{}", shown("it exited", &output));
                    assert!(
                        Instant::now() < deadline,
                        "{}",
                        shown("its output never matched the doc", &output)
                    );
                    std::thread::sleep(Duration::from_millis(100));
                }
                background = Some(pid);
            }
            Kind::Stop => {
                let pid = background.take().unwrap_or_else(|| panic!("{at}: no server to stop"));
                let reply =
                    shell.ask(&format!("kill -TERM {pid}; wait {pid}; echo \"__docs_status $?\"\n"), &at);
                assert_eq!(reply, "__docs_status 0", "{at}: the server did not stop cleanly");
            }
        }
    }
    drop(shell);
    eprintln!("{name}: {} command(s) in {:.1} s", steps.len(), started.elapsed().as_secs_f64());
}

/// The lines of an output as compared: trailing spaces (table padding) and blank lines at the end
/// do not count.
fn lines_of(output: &str) -> Vec<String> {
    let mut lines: Vec<String> = output.lines().map(|l| l.trim_end().to_string()).collect();
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines
}

fn read_output(path: &Path, addr: &str) -> String {
    let bytes = std::fs::read(path).unwrap_or_default();
    String::from_utf8_lossy(&bytes).replace(addr, DOCUMENTED_ADDR)
}
