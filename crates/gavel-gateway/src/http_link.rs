//! A Streamable HTTP upstream behind the stdio front: each line the stdio gateway would write to a
//! child's stdin is POSTed to the endpoint instead, and every message of the answers (a JSON body,
//! or each event of an SSE body, as it arrives) comes back as a line on one channel, which the
//! stdio gateway reads as it reads a child's stdout. So the stdio front's routing, governing and
//! outcome reporting are the same for both kinds of upstream.
//!
//! Invariants:
//! * a message is POSTed only once the `initialize` and the notifications and responses written
//!   before it have been taken by the upstream (their POST has its response headers): so
//!   `notifications/initialized` is in before the first request, as over a pipe; requests do not
//!   wait for each other (an upstream that answers in JSON sends no headers before its answer, and
//!   a slow tool must not hold the session up), and bodies are read on their own threads;
//! * the session (`Mcp-Session-Id`) and the protocol revision (`MCP-Protocol-Version`) the
//!   upstream agreed to are sent with every later message, as the transport requires; a message
//!   of the per-request revision carries its own revision and its method and name headers;
//! * a request the upstream refuses (an HTTP error, or a broken answer) is answered with a
//!   JSON-RPC error under its own id, so no request waits forever; a message that could not be
//!   sent at all (no connection) is an `Err`: it never reached the upstream;
//! * once the session is initialised (`notifications/initialized` taken), the link listens on the
//!   upstream's own stream (a `GET` of the endpoint) for what the server sends outside any
//!   request — `notifications/tools/list_changed`, its own requests — and passes it on like an
//!   answer's messages. An upstream that offers none answers 405 and is not asked again; a stream
//!   that ends or fails is reopened after a pause (1 s, doubling to 30 s), resuming after the
//!   last event id it gave (`Last-Event-ID`), until the session ends (404) or the link closes;
//! * the agent's gavel token is never sent: the link has no credential of its own.

use crate::jsonrpc::{self, Kind};
use crate::protocol;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// JSON-RPC's internal error: what a request the upstream could not answer gets.
const INTERNAL_ERROR: i64 = -32603;

/// The most of an upstream's error body kept in the error a request gets.
const MAX_ERROR_CHARS: usize = 300;

/// The largest single message taken from an upstream answer (a larger one is refused).
const MAX_MESSAGE: u64 = 16 * 1024 * 1024;

/// The first pause before reopening the upstream's stream, and the longest.
const REOPEN_FIRST: Duration = Duration::from_secs(1);
const REOPEN_MAX: Duration = Duration::from_secs(30);

/// The session the upstream gave, and the revision it agreed to.
#[derive(Default)]
struct Session {
    id: Option<String>,
    version: Option<String>,
}

/// The link to one Streamable HTTP endpoint.
pub struct HttpLink {
    url: String,
    http: ureq::Agent,
    session: Arc<Mutex<Session>>,
    /// Where the messages of the answers go, one line each (the stdio gateway's upstream reader);
    /// taken out by [`HttpLink::close`], so the reader ends once the answers in flight are read
    /// even while the upstream keeps its stream open.
    lines: Arc<Mutex<Option<Sender<String>>>>,
    /// Held by an `initialize`, notification or response up to its response headers, and taken
    /// briefly by every other message before its POST (see the module doc).
    order: Mutex<()>,
    /// The agent of the upstream's long-lived stream: no overall timeout (the stream is open for
    /// as long as the session).
    listener: ureq::Agent,
    /// Set once the stream's thread is started (it is started once per link).
    listening: AtomicBool,
    /// Set by [`HttpLink::close`]: the stream is not reopened after that.
    closed: Arc<AtomicBool>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl HttpLink {
    /// A link to `url` whose answers go to `lines`; `timeout` bounds one exchange, answer included.
    pub fn new(url: &str, timeout: Duration, lines: Sender<String>) -> HttpLink {
        let http = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(10))
            .timeout(timeout)
            .redirects(0)
            .user_agent(concat!("gavel-gateway/", env!("CARGO_PKG_VERSION")))
            .build();
        let listener = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(10))
            .redirects(0)
            .user_agent(concat!("gavel-gateway/", env!("CARGO_PKG_VERSION")))
            .build();
        HttpLink {
            url: url.trim().to_string(),
            http,
            session: Arc::default(),
            lines: Arc::new(Mutex::new(Some(lines))),
            order: Mutex::new(()),
            listener,
            listening: AtomicBool::new(false),
            closed: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Sends one message (a line of JSON). `Err` only when it never reached the upstream.
    pub fn send_line(&self, line: &str) -> std::io::Result<()> {
        let message: Value = serde_json::from_str(line).unwrap_or(Value::Null);
        let is_request = jsonrpc::kind(&message) == Kind::Request;
        let is_initialize = is_request && jsonrpc::method(&message) == Some("initialize");
        let id = message.get("id").cloned().unwrap_or(Value::Null);

        let in_order = lock(&self.order);
        let in_order = if is_request && !is_initialize {
            // In after what was written before it, not holding up what comes after.
            drop(in_order);
            None
        } else {
            Some(in_order)
        };
        let mut request = self
            .http
            .post(&self.url)
            .set("Content-Type", "application/json")
            .set("Accept", "application/json, text/event-stream");
        let per_request = message.pointer("/params/_meta").and_then(|m| m.get(protocol::PER_REQUEST_KEY));
        {
            let session = lock(&self.session);
            if let Some(session_id) = &session.id {
                request = request.set("Mcp-Session-Id", session_id);
            }
            match per_request.and_then(Value::as_str) {
                Some(version) => {
                    // The per-request revision routes on headers that repeat the body.
                    request = request.set("MCP-Protocol-Version", version);
                    if let Some(method) = jsonrpc::method(&message) {
                        request = request.set("Mcp-Method", method);
                    }
                    if let Some(name) = message.pointer("/params/name").and_then(Value::as_str) {
                        request = request.set("Mcp-Name", name);
                    }
                }
                None => {
                    if let Some(version) = &session.version {
                        request = request.set("MCP-Protocol-Version", version);
                    }
                }
            }
        }
        let answer = match request.send_string(line) {
            Ok(answer) => answer,
            Err(ureq::Error::Status(status, answer)) => {
                let body = answer.into_string().unwrap_or_default();
                if is_request {
                    self.emit(&refused_answer(&id, status, &body));
                } else {
                    eprintln!(
                        "gavel gateway: the upstream refused a message (HTTP {status}): {}",
                        excerpt(&body)
                    );
                }
                return Ok(());
            }
            Err(ureq::Error::Transport(t)) => {
                let never_sent = matches!(t.kind(), ureq::ErrorKind::ConnectionFailed | ureq::ErrorKind::Dns);
                if never_sent {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::ConnectionRefused,
                        format!("the upstream MCP server at {}: {t}", self.url),
                    ));
                }
                if is_request {
                    let why = format!("the upstream MCP server at {}: {t}", self.url);
                    self.emit(&jsonrpc::error(&id, INTERNAL_ERROR, &why));
                }
                return Ok(());
            }
        };
        if let Some(session_id) = answer.header("mcp-session-id") {
            lock(&self.session).id = Some(session_id.to_string());
        }
        if !is_request {
            if jsonrpc::method(&message) == Some("notifications/initialized") {
                self.listen();
            }
            return Ok(());
        }
        if answer.status() == 202 {
            // A request must be answered; waiting for an answer that will not come helps no one.
            let why = "the upstream MCP server accepted this request (HTTP 202) without answering it";
            self.emit(&jsonrpc::error(&id, INTERNAL_ERROR, why));
            return Ok(());
        }
        let is_sse = answer.content_type().eq_ignore_ascii_case("text/event-stream");
        // After close nothing reads the answers any more.
        let Some(lines) = lock(&self.lines).clone() else { return Ok(()) };
        let session = is_initialize.then(|| Arc::clone(&self.session));
        let reader = answer.into_reader();
        drop(in_order);
        std::thread::spawn(move || read_answer(reader, is_sse, &id, &lines, session.as_deref()));
        Ok(())
    }

    /// Starts listening on the upstream's stream for what it sends outside any request (once per
    /// link; see the module doc).
    fn listen(&self) {
        if self.listening.swap(true, Ordering::AcqRel) {
            return;
        }
        let stream = Stream {
            url: self.url.clone(),
            agent: self.listener.clone(),
            session: Arc::clone(&self.session),
            lines: Arc::clone(&self.lines),
            closed: Arc::clone(&self.closed),
        };
        std::thread::spawn(move || stream.run());
    }

    /// Ends the session upstream (`DELETE`), if it gave one; a failure is only reported.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        lock(&self.lines).take();
        let Some(session_id) = lock(&self.session).id.clone() else { return };
        if let Err(e) = self.http.delete(&self.url).set("Mcp-Session-Id", &session_id).call() {
            if !matches!(e, ureq::Error::Status(404 | 405, _)) {
                eprintln!("gavel gateway: ending the upstream session: {e}");
            }
        }
    }

    fn emit(&self, message: &Value) {
        if let Some(lines) = lock(&self.lines).as_ref() {
            let _ = lines.send(message.to_string());
        }
    }
}

/// The upstream's long-lived stream of one session (`GET` of the endpoint).
struct Stream {
    url: String,
    agent: ureq::Agent,
    session: Arc<Mutex<Session>>,
    lines: Arc<Mutex<Option<Sender<String>>>>,
    closed: Arc<AtomicBool>,
}

/// How one opening of the stream ended.
#[derive(Debug, PartialEq)]
enum StreamEnd {
    /// It ended or failed: open it again after a pause.
    Reopen,
    /// The upstream offers no stream (405), the session is gone (404), or it answered something
    /// that is not a stream: do not ask again.
    Stop,
}

impl Stream {
    fn run(self) {
        let mut last_event_id: Option<String> = None;
        let mut pause = REOPEN_FIRST;
        while !self.closed.load(Ordering::Acquire) {
            let (end, delivered) = self.open(&mut last_event_id);
            if end == StreamEnd::Stop || self.closed.load(Ordering::Acquire) {
                return;
            }
            pause = if delivered { REOPEN_FIRST } else { (pause * 2).min(REOPEN_MAX) };
            std::thread::sleep(pause);
        }
    }

    /// Opens the stream once and passes its messages on until it ends; also says whether any
    /// message came (a stream that works is reopened without backing off).
    fn open(&self, last_event_id: &mut Option<String>) -> (StreamEnd, bool) {
        let mut request = self.agent.get(&self.url).set("Accept", "text/event-stream");
        {
            let session = lock(&self.session);
            if let Some(id) = &session.id {
                request = request.set("Mcp-Session-Id", id);
            }
            if let Some(version) = &session.version {
                request = request.set("MCP-Protocol-Version", version);
            }
        }
        if let Some(id) = last_event_id.as_deref() {
            request = request.set("Last-Event-ID", id);
        }
        let answer = match request.call() {
            Ok(answer) => answer,
            Err(ureq::Error::Status(405, _)) => return (StreamEnd::Stop, false),
            Err(ureq::Error::Status(404, _)) => {
                if !self.closed.load(Ordering::Acquire) {
                    eprintln!("gavel gateway: the upstream ended the session (HTTP 404 on its stream)");
                }
                return (StreamEnd::Stop, false);
            }
            Err(e) => {
                eprintln!("gavel gateway: the upstream's stream: {e}; retrying");
                return (StreamEnd::Reopen, false);
            }
        };
        if !answer.content_type().eq_ignore_ascii_case("text/event-stream") {
            eprintln!(
                "gavel gateway: the upstream answered its stream's GET with {} ({}), not an event stream; \
                 messages it sends outside a request will not arrive",
                answer.status(),
                answer.content_type()
            );
            return (StreamEnd::Stop, false);
        }
        let mut delivered = false;
        let mut reader = BufReader::new(answer.into_reader());
        let read = read_sse_from(&mut reader, last_event_id, &mut |message| {
            delivered = true;
            if let Some(lines) = lock(&self.lines).as_ref() {
                let _ = lines.send(message.to_string());
            }
        });
        if let Err(e) = read {
            if !self.closed.load(Ordering::Acquire) {
                eprintln!("gavel gateway: the upstream's stream: {e}; reopening");
            }
        }
        (StreamEnd::Reopen, delivered)
    }
}

/// Reads one answer's messages onto `lines`; with `session` (an `initialize`), the revision its
/// result agreed to is kept before the result is passed on, so the client's next message, sent
/// after it reads the result, already carries it.
fn read_answer(
    reader: impl Read,
    is_sse: bool,
    id: &Value,
    lines: &Sender<String>,
    session: Option<&Mutex<Session>>,
) {
    let mut answered = false;
    let mut pass_on = |message: Value| {
        if jsonrpc::kind(&message) == Kind::Response && message.get("id") == Some(id) {
            answered = true;
            if let (Some(session), Some(version)) =
                (session, message.pointer("/result/protocolVersion").and_then(Value::as_str))
            {
                lock(session).version = Some(version.to_string());
            }
        }
        let _ = lines.send(message.to_string());
    };
    let mut reader = BufReader::new(reader.take(MAX_MESSAGE * 4));
    let failure = if is_sse {
        read_sse(&mut reader, &mut pass_on).err()
    } else {
        let mut body = Vec::new();
        match reader.read_to_end(&mut body) {
            Ok(_) => match serde_json::from_slice::<Value>(&body) {
                Ok(message) => {
                    pass_on(message);
                    None
                }
                Err(e) => Some(format!("an answer that is not JSON ({e})")),
            },
            Err(e) => Some(format!("reading the answer: {e}")),
        }
    };
    if !answered {
        let why = failure.unwrap_or_else(|| "the answer ended without a response to this request".into());
        let _ = lines
            .send(jsonrpc::error(id, INTERNAL_ERROR, &format!("the upstream MCP server: {why}")).to_string());
    }
}

/// Passes on each event's data (one JSON-RPC message) as it arrives.
fn read_sse(reader: &mut impl BufRead, pass_on: &mut impl FnMut(Value)) -> Result<(), String> {
    read_sse_from(reader, &mut None, pass_on)
}

/// [`read_sse`], keeping the last event id the stream gave (to resume after it).
fn read_sse_from(
    reader: &mut impl BufRead,
    last_event_id: &mut Option<String>,
    pass_on: &mut impl FnMut(Value),
) -> Result<(), String> {
    let mut data: Vec<String> = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        let read = reader.read_line(&mut line).map_err(|e| format!("reading the event stream: {e}"))?;
        let text = line.trim_end_matches(['\r', '\n']);
        if read == 0 || text.is_empty() {
            if !data.is_empty() {
                match serde_json::from_str::<Value>(&data.join("\n")) {
                    Ok(message) => pass_on(message),
                    Err(e) => {
                        eprintln!("gavel gateway: the upstream sent an event that is not JSON ({e}); dropped")
                    }
                }
                data.clear();
            }
            if read == 0 {
                return Ok(());
            }
            continue;
        }
        if let Some(value) = text.strip_prefix("data:") {
            data.push(value.strip_prefix(' ').unwrap_or(value).to_string());
        } else if let Some(value) = text.strip_prefix("id:") {
            // An id with a NUL is ignored, as the event-stream format says.
            let value = value.strip_prefix(' ').unwrap_or(value);
            if !value.contains('\0') {
                *last_event_id = Some(value.to_string());
            }
        }
    }
}

/// The error a request gets when the upstream answered it with an HTTP error: the upstream's own
/// JSON-RPC error when its body is one, else one naming the status and the start of the body.
fn refused_answer(id: &Value, status: u16, body: &str) -> Value {
    if let Ok(mut answer) = serde_json::from_str::<Value>(body) {
        if answer.get("error").is_some_and(Value::is_object) {
            answer["id"] = id.clone();
            answer["jsonrpc"] = Value::from("2.0");
            return answer;
        }
    }
    jsonrpc::error(
        id,
        INTERNAL_ERROR,
        &format!("the upstream MCP server answered HTTP {status}: {}", excerpt(body)),
    )
}

fn excerpt(body: &str) -> String {
    body.trim().chars().take(MAX_ERROR_CHARS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sse_events_are_passed_on_as_they_come() {
        let note = json!({"jsonrpc": "2.0", "method": "notifications/progress", "params": {}});
        let answer = json!({"jsonrpc": "2.0", "id": 3, "result": {}});
        let body = format!(": primer\r\n\r\nevent: message\r\ndata: {note}\r\n\r\nid: 9\ndata: {answer}\n\n");
        let mut seen = Vec::new();
        read_sse(&mut BufReader::new(body.as_bytes()), &mut |m| seen.push(m)).unwrap();
        assert_eq!(seen, [note, answer]);
    }

    #[test]
    fn the_last_event_id_is_kept_to_resume_after_it() {
        let note = json!({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"});
        let body = format!("id: 4\ndata: {note}\n\nid: 5\ndata: {note}\n\nid: bad\0id\n\n");
        let (mut last, mut seen) = (None, 0);
        read_sse_from(&mut BufReader::new(body.as_bytes()), &mut last, &mut |_| seen += 1).unwrap();
        assert_eq!((last.as_deref(), seen), (Some("5"), 2));
    }

    #[test]
    fn an_answer_without_a_response_still_answers_the_request() {
        let (tx, rx) = std::sync::mpsc::channel();
        read_answer("event: message\n\n".as_bytes(), true, &json!(7), &tx, None);
        let got: Value = serde_json::from_str(&rx.recv().unwrap()).unwrap();
        assert_eq!((got["id"].clone(), got["error"]["code"].clone()), (json!(7), json!(INTERNAL_ERROR)));

        let session = Mutex::new(Session::default());
        let init = json!({"jsonrpc": "2.0", "id": 0, "result": {"protocolVersion": "2025-11-25"}});
        read_answer(init.to_string().as_bytes(), false, &json!(0), &tx, Some(&session));
        assert_eq!(serde_json::from_str::<Value>(&rx.recv().unwrap()).unwrap(), init);
        assert_eq!(lock(&session).version.as_deref(), Some("2025-11-25"));
        assert!(rx.try_recv().is_err(), "answered once");
    }

    #[test]
    fn http_errors_keep_the_upstreams_json_rpc_error_under_the_requests_id() {
        let refused = refused_answer(
            &json!(4),
            404,
            r#"{"jsonrpc":"2.0","id":"server-error","error":{"code":-32600,"message":"Session not found"}}"#,
        );
        assert_eq!(
            (refused["id"].clone(), refused["error"]["message"].clone()),
            (json!(4), json!("Session not found"))
        );
        let refused = refused_answer(&json!(4), 502, "<html>bad gateway</html>");
        assert!(refused["error"]["message"].as_str().unwrap().contains("HTTP 502: <html>"), "{refused}");
    }
}
