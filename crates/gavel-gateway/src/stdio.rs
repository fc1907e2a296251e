//! The stdio gateway: the MCP client on our stdin/stdout, the upstream MCP server a child process
//! on its stdin/stdout (its stderr is ours), or a Streamable HTTP endpoint reached through an
//! [`HttpLink`] that turns it into the same two line streams; messages line by line between them.
//!
//! Threads: one reads the client, one reads the upstream, and each `tools/call` gets its own (a
//! held call can wait an hour; other traffic keeps flowing meanwhile). Writes to either side go
//! through one lock per side, a whole line at a time.
//!
//! Invariants:
//! * a `tools/call` is written to the upstream only by its governing thread, after
//!   [`govern::decide_call`] said `Forward`; the client's other lines are relayed unchanged
//!   (`initialize` excepted, see [`protocol`]), and so are the upstream's;
//! * the outcome of a forwarded call is reported right after its answer is relayed (the decision
//!   was durably recorded before the call went out; the outcome's commit does not delay the
//!   agent), and the gateway's shutdown waits a grace period for those reports;
//! * a call the upstream does not answer within the call timeout is answered with a tool error,
//!   cancelled upstream, and its late answer dropped (a request is answered once);
//! * batches (JSON arrays, gone from MCP since 2025-06-18) are refused: a `tools/call` inside one
//!   would otherwise pass ungoverned;
//! * the upstream does not inherit `GAVEL_TOKEN`, nor is it sent to an HTTP upstream: the
//!   agent's gavel credential stays with gavel;
//! * an answer to `tools/list` is judged ([`tools::judge_list`]) on the upstream's reading thread
//!   before it is relayed, so what the upstream says next reaches the client after it.

use crate::api::GavelClient;
use crate::govern::{self, Observation, ToolCall, Verdict};
use crate::http_link::HttpLink;
use crate::jsonrpc::{self, Kind};
use crate::tools::{self, ToolListing};
use crate::{protocol, GatewayError, Upstream};
use gavel_core::approvals::ExecutionStatus;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often a call waiting for the upstream's answer looks whether the client cancelled it.
const CANCEL_CHECK: Duration = Duration::from_millis(200);

/// How long, once the client has gone, the gateway waits for the upstream to exit and for
/// forwarded calls to be reported before it stops.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// What the stdio gateway runs.
#[derive(Debug, Clone)]
pub struct StdioOptions {
    /// The upstream server: a command to start, or a Streamable HTTP endpoint.
    pub upstream: Upstream,
    /// How long a forwarded `tools/call` may take before it is answered as timed out.
    pub call_timeout: Duration,
    /// How tool lists are recorded and filtered.
    pub listing: ToolListing,
}

/// A request of the client the upstream is expected to answer, by id.
enum Pending {
    /// A forwarded `tools/call`: its governing thread waits for the answer (raw line, parsed).
    ToolCall(mpsc::Sender<(String, Value)>),
    /// An `initialize`: its result's revision is checked.
    Initialize,
    /// A `tools/list` (the request): its answer is reported to gavel and filtered.
    ToolsList(Value),
    /// A call answered as timed out: a late answer is dropped.
    TimedOut,
}

enum Event {
    ClientLine(String),
    ClientClosed,
    UpstreamClosed,
}

/// Where the gateway writes the upstream's messages.
enum ToUpstream {
    Child(ChildStdin),
    Http(Arc<HttpLink>),
}

struct Shared {
    client: GavelClient,
    to_client: Mutex<Box<dyn Write + Send>>,
    /// `None` once closed (the session is over).
    to_upstream: Mutex<Option<ToUpstream>>,
    pending: Mutex<HashMap<String, Pending>>,
    cancelled: Mutex<HashSet<String>>,
    call_timeout: Duration,
    listing: ToolListing,
    /// The pages of a paginated tool list gathered so far (one session here).
    pages: tools::Pages,
}

/// Locks a mutex even if a thread panicked holding it (the data are lines and maps, still whole).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Shared {
    fn to_client_line(&self, line: &str) {
        let mut out = lock(&self.to_client);
        let written =
            out.write_all(line.as_bytes()).and_then(|()| out.write_all(b"\n")).and_then(|()| out.flush());
        if let Err(e) = written {
            eprintln!("gavel gateway: cannot write to the MCP client: {e}");
        }
    }

    fn to_client(&self, message: &Value) {
        self.to_client_line(&message.to_string());
    }

    fn to_upstream_line(&self, line: &str) -> std::io::Result<()> {
        let mut guard = lock(&self.to_upstream);
        match guard.as_mut() {
            Some(ToUpstream::Child(stdin)) => {
                stdin.write_all(line.as_bytes())?;
                stdin.write_all(b"\n")?;
                stdin.flush()
            }
            Some(ToUpstream::Http(link)) => {
                // POSTed without holding the lock: a held-up POST must not stop the others (the
                // link keeps their order itself).
                let link = Arc::clone(link);
                drop(guard);
                link.send_line(line)
            }
            None => Err(std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the upstream is closed")),
        }
    }

    fn is_cancelled(&self, key: &str) -> bool {
        lock(&self.cancelled).contains(key)
    }
}

/// The gateway between one MCP client on stdio and one upstream server it starts.
pub struct StdioGateway {
    shared: Arc<Shared>,
    options: StdioOptions,
}

impl StdioGateway {
    pub fn new(client: GavelClient, options: StdioOptions) -> Result<StdioGateway, GatewayError> {
        options.upstream.check()?;
        let shared = Arc::new(Shared {
            client,
            to_client: Mutex::new(Box::new(std::io::sink())),
            to_upstream: Mutex::new(None),
            pending: Mutex::new(HashMap::new()),
            cancelled: Mutex::new(HashSet::new()),
            call_timeout: options.call_timeout,
            listing: options.listing.clone(),
            pages: tools::Pages::default(),
        });
        Ok(StdioGateway { shared, options })
    }

    /// Runs until the client closes its side or the upstream exits; returns the upstream's exit
    /// code (`None`: killed by a signal, or still running at the end of the grace period; an HTTP
    /// upstream's is `Some(0)`).
    pub fn run(
        self,
        input: impl BufRead + Send + 'static,
        output: impl Write + Send + 'static,
    ) -> Result<Option<i32>, GatewayError> {
        *lock(&self.shared.to_client) = Box::new(output);
        let (events, next) = mpsc::channel();
        let (mut child, reader) = match &self.options.upstream {
            Upstream::Command { command, env } => {
                let mut child = Upstream::spawn(command, env)?;
                let upstream_out =
                    child.stdout.take().ok_or_else(|| GatewayError::Upstream("no stdout pipe".into()))?;
                *lock(&self.shared.to_upstream) = child.stdin.take().map(ToUpstream::Child);
                let (shared, events) = (Arc::clone(&self.shared), events.clone());
                let lines = BufReader::new(upstream_out).lines().map_while(Result::ok);
                (Some(child), std::thread::spawn(move || relay_upstream(&shared, lines, &events)))
            }
            Upstream::Url(url) => {
                let (lines, answers) = mpsc::channel();
                let link = HttpLink::new(url, self.options.call_timeout, lines);
                *lock(&self.shared.to_upstream) = Some(ToUpstream::Http(Arc::new(link)));
                let (shared, events) = (Arc::clone(&self.shared), events.clone());
                (None, std::thread::spawn(move || relay_upstream(&shared, answers.into_iter(), &events)))
            }
        };
        std::thread::spawn(move || {
            for line in input.lines() {
                let Ok(line) = line else { break };
                if events.send(Event::ClientLine(line)).is_err() {
                    return;
                }
            }
            let _ = events.send(Event::ClientClosed);
        });

        let mut calls: Vec<JoinHandle<()>> = Vec::new();
        while let Ok(event) = next.recv() {
            match event {
                Event::ClientLine(line) => {
                    if let Some(call) = self.route_client_line(line) {
                        calls.push(call);
                    }
                    calls.retain(|c| !c.is_finished());
                }
                Event::ClientClosed | Event::UpstreamClosed => break,
            }
        }
        // Closing the upstream's stdin is how MCP's stdio transport asks a server to exit; an
        // HTTP upstream's session is ended with a DELETE.
        let closed = lock(&self.shared.to_upstream).take();
        let code = match (&mut child, closed) {
            (Some(child), closed) => {
                drop(closed);
                wait_or_kill(child)
            }
            (None, Some(ToUpstream::Http(link))) => {
                link.close();
                Some(0)
            }
            (None, _) => Some(0),
        };
        let deadline = Instant::now() + SHUTDOWN_GRACE;
        // An HTTP upstream's reader ends once the answers still being read are done; it is not
        // waited for past the grace period.
        while (!reader.is_finished() || calls.iter().any(|c| !c.is_finished())) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(code)
    }

    /// Routes one line from the client; a `tools/call` gets its governing thread (returned).
    fn route_client_line(&self, line: String) -> Option<JoinHandle<()>> {
        if line.trim().is_empty() {
            return None;
        }
        let shared = &self.shared;
        // Strict: a member named twice could make the upstream read another call than the one
        // decided (see gavel_core::strict_json); such a line goes nowhere.
        let message: Value = match gavel_core::strict_json::parse(line.as_bytes()) {
            Ok(message) => message,
            Err(e) => {
                shared.to_client(&jsonrpc::error(
                    &Value::Null,
                    jsonrpc::PARSE_ERROR,
                    &format!("refused by the gavel gateway, not relayed: {e}"),
                ));
                return None;
            }
        };
        match jsonrpc::kind(&message) {
            Kind::Request => {
                if let Some(refusal) = protocol::check_per_request(&message) {
                    shared.to_client(&refusal);
                    return None;
                }
                match jsonrpc::method(&message) {
                    Some("tools/call") => {
                        let shared = Arc::clone(shared);
                        return Some(std::thread::spawn(move || govern_call(&shared, &line, &message)));
                    }
                    Some("initialize") => {
                        let key = jsonrpc::id_key(&message["id"]);
                        lock(&shared.pending).insert(key, Pending::Initialize);
                        let forwarded = protocol::negotiate_initialize(&message).map(|m| m.to_string());
                        self.relay_to_upstream(forwarded.as_deref().unwrap_or(&line));
                    }
                    Some("tools/list") => {
                        let key = jsonrpc::id_key(&message["id"]);
                        lock(&shared.pending).insert(key, Pending::ToolsList(message));
                        self.relay_to_upstream(&line);
                    }
                    _ => self.relay_to_upstream(&line),
                }
            }
            Kind::Notification => {
                if jsonrpc::method(&message) == Some("notifications/cancelled") {
                    if let Some(id) = message.pointer("/params/requestId") {
                        lock(&shared.cancelled).insert(jsonrpc::id_key(id));
                    }
                }
                self.relay_to_upstream(&line);
            }
            Kind::Response => self.relay_to_upstream(&line),
            Kind::Invalid => {
                let id = message.get("id").cloned().unwrap_or(Value::Null);
                let why = if message.is_array() {
                    "JSON-RPC batches are not accepted by the gavel gateway (MCP has none since 2025-06-18): send one message per line"
                } else {
                    "not a JSON-RPC 2.0 request, notification or response"
                };
                shared.to_client(&jsonrpc::error(&id, jsonrpc::INVALID_REQUEST, why));
            }
        }
        None
    }

    fn relay_to_upstream(&self, line: &str) {
        if let Err(e) = self.shared.to_upstream_line(line) {
            eprintln!("gavel gateway: cannot write to the upstream MCP server: {e}");
        }
    }
}

/// Relays the upstream's lines to the client, handing answers to forwarded calls to their threads.
fn relay_upstream(shared: &Shared, upstream: impl Iterator<Item = String>, events: &mpsc::Sender<Event>) {
    for line in upstream {
        if line.trim().is_empty() {
            continue;
        }
        let Ok(message) = serde_json::from_str::<Value>(&line) else {
            eprintln!("gavel gateway: the upstream wrote a line that is not JSON; dropped");
            continue;
        };
        if jsonrpc::kind(&message) == Kind::Response {
            let key = jsonrpc::id_key(&message["id"]);
            let pending = lock(&shared.pending).remove(&key);
            match pending {
                Some(Pending::ToolCall(waiting)) => {
                    let _ = waiting.send((line, message));
                    continue;
                }
                Some(Pending::Initialize) => {
                    if let Some(refusal) = protocol::check_initialize_result(&message) {
                        shared.to_client(&refusal);
                        continue;
                    }
                }
                Some(Pending::ToolsList(request)) => {
                    // Judged here, on the upstream's reader: the client gets nothing of the
                    // upstream's after this answer before this answer.
                    if let Some(answer) = tools::judge_list(
                        &shared.client,
                        &shared.listing,
                        &shared.pages,
                        "",
                        &request,
                        &message,
                    ) {
                        shared.to_client(&answer);
                        continue;
                    }
                }
                Some(Pending::TimedOut) => {
                    eprintln!("gavel gateway: a late answer to request {key} (already answered as timed out); dropped");
                    continue;
                }
                None => {}
            }
        }
        shared.to_client_line(&line);
    }
    // The calls still waiting learn that no answer will come (their senders are dropped).
    lock(&shared.pending).clear();
    let _ = events.send(Event::UpstreamClosed);
}

/// One `tools/call`, from decision to answer.
fn govern_call(shared: &Shared, line: &str, message: &Value) {
    let call = match ToolCall::read(message) {
        Ok(call) => call,
        Err(answer) => return shared.to_client(&answer),
    };
    let key = jsonrpc::id_key(&call.id);
    let verdict = govern::decide_call(&shared.client, &call, &|note| shared.to_client(&note), &|| {
        shared.is_cancelled(&key)
    });
    let (decision_id, receipt) = match verdict {
        Verdict::Refuse(answer) => return shared.to_client(&answer),
        Verdict::Abandon => return,
        Verdict::Forward { decision_id, receipt } => (decision_id, receipt),
    };

    let (answers, answer) = mpsc::channel();
    lock(&shared.pending).insert(key.clone(), Pending::ToolCall(answers));
    let started = Instant::now();
    if let Err(e) = shared.to_upstream_line(line) {
        lock(&shared.pending).remove(&key);
        let observation = Observation {
            status: ExecutionStatus::NotExecuted,
            detail: format!("observed by the gateway: could not be sent to the upstream: {e}"),
        };
        govern::report(&shared.client, &decision_id, observation, None);
        return shared.to_client(&call.refusal(&format!(
            "gavel allowed this call to {} but the upstream MCP server cannot be reached: {e}",
            call.name
        )));
    }

    let deadline = started + shared.call_timeout;
    let received = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break None;
        }
        match answer.recv_timeout(left.min(CANCEL_CHECK)) {
            Ok(received) => break Some(received),
            Err(RecvTimeoutError::Disconnected) => {
                let observation = Observation {
                    status: ExecutionStatus::Failed,
                    detail: format!(
                        "observed by the gateway: failed: the upstream closed without answering after {} ms",
                        started.elapsed().as_millis()
                    ),
                };
                govern::report(&shared.client, &decision_id, observation, receipt);
                return shared.to_client(&call.refusal(&format!(
                    "the upstream MCP server closed without answering this call to {}",
                    call.name
                )));
            }
            Err(RecvTimeoutError::Timeout) if shared.is_cancelled(&key) => {
                // The client cancelled and the upstream was told; its answer is not awaited.
                lock(&shared.pending).insert(key.clone(), Pending::TimedOut);
                let observation = Observation {
                    status: ExecutionStatus::Failed,
                    detail: format!(
                        "observed by the gateway: cancelled by the MCP client after {} ms; the upstream may have run it",
                        started.elapsed().as_millis()
                    ),
                };
                return govern::report(&shared.client, &decision_id, observation, receipt);
            }
            Err(RecvTimeoutError::Timeout) => {}
        }
    };
    let received = received.or_else(|| {
        // Mark the call answered before a last look, so an answer racing the deadline is either
        // taken here or dropped by the relay, never sent twice.
        lock(&shared.pending).insert(key.clone(), Pending::TimedOut);
        answer.try_recv().ok()
    });
    let observation =
        govern::observe(received.as_ref().map(|(_, v)| v), started.elapsed(), shared.call_timeout);
    // Answer first, then record: the decision was durably recorded before the call went out, and
    // the outcome's commit need not delay the agent (the shutdown grace lets it finish).
    match &received {
        Some((raw, _)) => shared.to_client_line(raw),
        None => {
            if let Err(e) =
                shared.to_upstream_line(&jsonrpc::cancelled(&call.id, "gavel gateway: timed out").to_string())
            {
                eprintln!("gavel gateway: cannot cancel a timed-out call upstream: {e}");
            }
            shared.to_client(&call.refusal(&format!(
                "the upstream MCP server did not answer this call to {} within {} s; gavel cancelled it",
                call.name,
                shared.call_timeout.as_secs()
            )));
        }
    }
    govern::report(&shared.client, &decision_id, observation, receipt);
}

/// Waits for the upstream to exit after its stdin closed; kills it after the grace period.
fn wait_or_kill(child: &mut Child) -> Option<i32> {
    let deadline = Instant::now() + SHUTDOWN_GRACE;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return status.code(),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                return child.wait().ok().and_then(|s| s.code());
            }
        }
    }
}
