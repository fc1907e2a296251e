//! A command upstream behind the Streamable HTTP front: one child process per MCP session. An
//! `initialize` starts the command and opens a session (a random `Mcp-Session-Id`); the later
//! POSTs of that session are written to its child's stdin, and each request is answered with the
//! child's response to it; `DELETE` ends the session and the child.
//!
//! Invariants:
//! * a session belongs to the agent that opened it: another agent's request naming it is answered
//!   404, as an unknown session is (its ids are 256 random bits, never derived from anything);
//! * the child's other messages (notifications, its own requests) are sent to the client with the
//!   next answer of that session, before it, as events of an SSE body; an answer with none is a
//!   JSON body;
//! * a request the child does not answer within the call timeout is cancelled in the child and is
//!   an `Err` (the front answers it; a late answer is dropped); so is a child that exited;
//! * at most [`MAX_SESSIONS`] children run at once; sessions idle past [`IDLE_SESSION`] are ended
//!   when a new one is opened, so clients that never send `DELETE` do not pile up processes;
//! * children never inherit `GAVEL_TOKEN`, and they are killed when the gateway drops them.

use crate::jsonrpc::{self, Kind};
use crate::{GatewayError, Upstream};
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::Response;
use rand_core::{OsRng, RngCore};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::ffi::OsString;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The most sessions (child processes) at once.
pub const MAX_SESSIONS: usize = 64;

/// A session with no request for this long is ended when another is opened.
pub const IDLE_SESSION: Duration = Duration::from_secs(30 * 60);

/// The most messages of a child kept for its session's next answer (older ones are dropped).
const MAX_QUEUED: usize = 256;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

type Waiting = HashMap<String, mpsc::Sender<Value>>;

/// One session: its agent, its child, and the requests waiting for the child's answers.
struct Session {
    agent_id: String,
    child: Mutex<Child>,
    stdin: Mutex<Option<ChildStdin>>,
    /// Request id (JSON text) → the waiting exchange; `None` once the child has exited.
    waiting: Arc<Mutex<Option<Waiting>>>,
    /// The child's messages that answer no request, for the next answer.
    queued: Arc<Mutex<Vec<Value>>>,
    last_used: Mutex<Instant>,
}

impl Session {
    fn write(&self, line: &[u8]) -> std::io::Result<()> {
        let mut stdin = lock(&self.stdin);
        let Some(stdin) = stdin.as_mut() else {
            return Err(std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the upstream has exited"));
        };
        stdin.write_all(line)?;
        stdin.write_all(b"\n")?;
        stdin.flush()
    }

    fn end(&self) {
        drop(lock(&self.stdin).take());
        let mut child = lock(&self.child);
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.end();
    }
}

/// The sessions of one command upstream.
pub struct ChildSessions {
    command: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    call_timeout: Duration,
    sessions: Mutex<HashMap<String, Arc<Session>>>,
}

impl ChildSessions {
    pub fn new(
        command: Vec<OsString>,
        env: Vec<(OsString, OsString)>,
        call_timeout: Duration,
    ) -> ChildSessions {
        ChildSessions { command, env, call_timeout, sessions: Mutex::new(HashMap::new()) }
    }

    /// One exchange of `agent_id`'s client, as [`crate::http::HttpGateway`] relays it to a URL:
    /// the response, and the body it carries; `Err` when the child could not answer.
    pub fn relay(
        &self,
        agent_id: &str,
        method: &Method,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<(Response, Vec<u8>), String> {
        let session_id = headers.get("mcp-session-id").and_then(|v| v.to_str().ok()).map(str::to_string);
        let message: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        if method == Method::DELETE {
            let Some(session) = session_id.and_then(|id| self.take_session(&id, agent_id)) else {
                return Ok(not_found());
            };
            session.end();
            return Ok((empty(StatusCode::OK), Vec::new()));
        }
        if method != Method::POST {
            let mut response = empty(StatusCode::METHOD_NOT_ALLOWED);
            response.headers_mut().insert("allow", HeaderValue::from_static("POST, DELETE"));
            return Ok((response, Vec::new()));
        }
        let kind = jsonrpc::kind(&message);
        if kind == Kind::Request && jsonrpc::method(&message) == Some("initialize") {
            let (id, session) = self.open(agent_id).map_err(|e| e.to_string())?;
            let (mut response, bytes) = self.exchange(&session, &message, body)?;
            if let Ok(value) = HeaderValue::from_str(&id) {
                response.headers_mut().insert("mcp-session-id", value);
            }
            return Ok((response, bytes));
        }
        let Some(session_id) = session_id else {
            let refusal = jsonrpc::error(
                &Value::Null,
                jsonrpc::INVALID_REQUEST,
                "Bad Request: no Mcp-Session-Id; start a session with initialize",
            );
            return Ok(json_body(StatusCode::BAD_REQUEST, &refusal));
        };
        let Some(session) = self.session(&session_id, agent_id) else { return Ok(not_found()) };
        if kind == Kind::Request {
            return self.exchange(&session, &message, body);
        }
        session.write(body).map_err(|e| format!("the upstream MCP server: {e}"))?;
        Ok((empty(StatusCode::ACCEPTED), Vec::new()))
    }

    /// Writes a request to the session's child and waits for its answer.
    fn exchange(
        &self,
        session: &Session,
        request: &Value,
        body: &[u8],
    ) -> Result<(Response, Vec<u8>), String> {
        let id = request.get("id").cloned().unwrap_or(Value::Null);
        let key = jsonrpc::id_key(&id);
        let (answers, answer) = mpsc::channel();
        match lock(&session.waiting).as_mut() {
            Some(waiting) => waiting.insert(key.clone(), answers),
            None => return Err("the upstream MCP server has exited".into()),
        };
        *lock(&session.last_used) = Instant::now();
        // One line on the pipe, whatever the client's body looked like.
        let line = serde_json::to_vec(request).unwrap_or_else(|_| body.to_vec());
        if let Err(e) = session.write(&line) {
            forget(&session.waiting, &key);
            return Err(format!("the upstream MCP server: {e}"));
        }
        let answer = match answer.recv_timeout(self.call_timeout) {
            Ok(answer) => answer,
            Err(RecvTimeoutError::Timeout) => {
                forget(&session.waiting, &key);
                let cancel = jsonrpc::cancelled(&id, "gavel gateway: timed out").to_string();
                let _ = session.write(cancel.as_bytes());
                return Err(format!("no answer within {} s", self.call_timeout.as_secs()));
            }
            Err(RecvTimeoutError::Disconnected) => {
                return Err("the upstream MCP server exited without answering".into());
            }
        };
        let queued: Vec<Value> = std::mem::take(&mut *lock(&session.queued));
        if queued.is_empty() {
            return Ok(json_body(StatusCode::OK, &answer));
        }
        let mut sse = String::new();
        for message in queued.iter().chain(std::iter::once(&answer)) {
            sse.push_str(&format!("event: message\ndata: {message}\n\n"));
        }
        let bytes = sse.into_bytes();
        let mut response = Response::new(Body::from(bytes.clone()));
        response.headers_mut().insert("content-type", HeaderValue::from_static("text/event-stream"));
        response.headers_mut().insert("cache-control", HeaderValue::from_static("no-cache"));
        Ok((response, bytes))
    }

    /// Starts a child for a new session of `agent_id`.
    fn open(&self, agent_id: &str) -> Result<(String, Arc<Session>), GatewayError> {
        let mut sessions = lock(&self.sessions);
        sessions.retain(|_, s| lock(&s.last_used).elapsed() < IDLE_SESSION);
        if sessions.len() >= MAX_SESSIONS {
            return Err(GatewayError::Upstream(format!(
                "{MAX_SESSIONS} sessions are open, the most this gateway runs; end one (DELETE) first"
            )));
        }
        let mut child = Upstream::spawn(&self.command, &self.env)?;
        let stdout = child.stdout.take().ok_or_else(|| GatewayError::Upstream("no stdout pipe".into()))?;
        let session = Arc::new(Session {
            agent_id: agent_id.to_string(),
            stdin: Mutex::new(child.stdin.take()),
            child: Mutex::new(child),
            waiting: Arc::new(Mutex::new(Some(HashMap::new()))),
            queued: Arc::default(),
            last_used: Mutex::new(Instant::now()),
        });
        let (waiting, queued) = (Arc::clone(&session.waiting), Arc::clone(&session.queued));
        std::thread::spawn(move || read_child(BufReader::new(stdout), &waiting, &queued));
        let mut bytes = [0u8; 32];
        OsRng.fill_bytes(&mut bytes);
        let id = hex::encode(bytes);
        sessions.insert(id.clone(), Arc::clone(&session));
        Ok((id, session))
    }

    /// The session `id` if it is `agent_id`'s.
    fn session(&self, id: &str, agent_id: &str) -> Option<Arc<Session>> {
        lock(&self.sessions).get(id).filter(|s| s.agent_id == agent_id).cloned()
    }

    fn take_session(&self, id: &str, agent_id: &str) -> Option<Arc<Session>> {
        let mut sessions = lock(&self.sessions);
        if sessions.get(id).is_some_and(|s| s.agent_id == agent_id) {
            sessions.remove(id)
        } else {
            None
        }
    }

    /// Ends every session (the gateway is stopping).
    pub fn end_all(&self) {
        let sessions: Vec<Arc<Session>> = lock(&self.sessions).drain().map(|(_, s)| s).collect();
        for session in sessions {
            session.end();
        }
    }
}

/// Hands the child's answers to their waiting exchanges and queues the rest; at the end (the child
/// exited), the exchanges still waiting learn that no answer will come.
fn read_child(stdout: impl BufRead, waiting: &Mutex<Option<Waiting>>, queued: &Mutex<Vec<Value>>) {
    for line in stdout.lines().map_while(Result::ok) {
        if line.trim().is_empty() {
            continue;
        }
        let Ok(message) = serde_json::from_str::<Value>(&line) else {
            eprintln!("gavel gateway: the upstream wrote a line that is not JSON; dropped");
            continue;
        };
        if jsonrpc::kind(&message) == Kind::Response {
            let key = jsonrpc::id_key(&message["id"]);
            let waiter = lock(waiting).as_mut().and_then(|w| w.remove(&key));
            if let Some(waiter) = waiter {
                let _ = waiter.send(message);
            } else {
                eprintln!(
                    "gavel gateway: an answer to request {key}, which no one waits for (timed out); dropped"
                );
            }
            continue;
        }
        let mut queue = lock(queued);
        if queue.len() >= MAX_QUEUED {
            queue.remove(0);
        }
        queue.push(message);
    }
    // Dropping the senders wakes every exchange still waiting; none can start after this.
    *lock(waiting) = None;
}

fn forget(waiting: &Mutex<Option<Waiting>>, key: &str) {
    if let Some(waiting) = lock(waiting).as_mut() {
        waiting.remove(key);
    }
}

fn empty(status: StatusCode) -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = status;
    response
}

fn json_body(status: StatusCode, message: &Value) -> (Response, Vec<u8>) {
    let bytes = message.to_string().into_bytes();
    let mut response = Response::new(Body::from(bytes.clone()));
    *response.status_mut() = status;
    response.headers_mut().insert("content-type", HeaderValue::from_static("application/json"));
    (response, bytes)
}

/// The spec's answer to an unknown (or ended) session: 404, and the client starts a new one.
fn not_found() -> (Response, Vec<u8>) {
    let refusal = json!({"jsonrpc": "2.0", "id": null,
        "error": {"code": jsonrpc::INVALID_REQUEST, "message": "Not Found: no such session; start a new one with initialize"}});
    json_body(StatusCode::NOT_FOUND, &refusal)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A shell "server" that answers every line with a result under id 1, after a notification.
    fn sessions() -> ChildSessions {
        let script = r#"while read -r line; do echo '{"jsonrpc":"2.0","method":"notifications/message","params":{}}'; echo '{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2025-11-25"}}'; done"#;
        ChildSessions::new(vec!["sh".into(), "-c".into(), script.into()], Vec::new(), Duration::from_secs(20))
    }

    fn post(
        s: &ChildSessions,
        agent: &str,
        session: Option<&str>,
        body: &Value,
    ) -> (StatusCode, HeaderMap, Value) {
        let mut headers = HeaderMap::new();
        if let Some(session) = session {
            headers.insert("mcp-session-id", HeaderValue::from_str(session).unwrap());
        }
        let (response, bytes) = s.relay(agent, &Method::POST, &headers, body.to_string().as_bytes()).unwrap();
        let text = String::from_utf8(bytes).unwrap();
        let last =
            text.lines().filter_map(|l| l.strip_prefix("data: ")).next_back().unwrap_or(&text).to_string();
        (response.status(), response.headers().clone(), serde_json::from_str(&last).unwrap_or(Value::Null))
    }

    #[test]
    fn sessions_belong_to_their_agent_and_end_on_delete() {
        let s = sessions();
        let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}});
        let (status, headers, answer) = post(&s, "agt_a", None, &init);
        assert_eq!((status, answer["id"].clone()), (StatusCode::OK, json!(1)));
        let session = headers["mcp-session-id"].to_str().unwrap().to_string();
        assert_eq!(session.len(), 64);

        let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
        let (status, headers, answer) = post(&s, "agt_a", Some(&session), &list);
        assert_eq!((status, answer["id"].clone()), (StatusCode::OK, json!(1)));
        assert_eq!(headers["content-type"], "text/event-stream", "the queued notification goes first");

        assert_eq!(post(&s, "agt_b", Some(&session), &list).0, StatusCode::NOT_FOUND, "another agent's");
        assert_eq!(post(&s, "agt_a", None, &list).0, StatusCode::BAD_REQUEST);
        let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        assert_eq!(post(&s, "agt_a", Some(&session), &note).0, StatusCode::ACCEPTED);

        let mut headers = HeaderMap::new();
        headers.insert("mcp-session-id", HeaderValue::from_str(&session).unwrap());
        assert_eq!(
            s.relay("agt_b", &Method::DELETE, &headers, b"").unwrap().0.status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(s.relay("agt_a", &Method::DELETE, &headers, b"").unwrap().0.status(), StatusCode::OK);
        assert_eq!(post(&s, "agt_a", Some(&session), &list).0, StatusCode::NOT_FOUND, "ended");
    }

    #[test]
    fn an_exited_child_is_an_error_not_a_wait() {
        let s = ChildSessions::new(vec!["true".into()], Vec::new(), Duration::from_secs(20));
        let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}});
        let started = Instant::now();
        assert!(s.relay("agt_a", &Method::POST, &HeaderMap::new(), init.to_string().as_bytes()).is_err());
        assert!(started.elapsed() < Duration::from_secs(15));
    }
}
