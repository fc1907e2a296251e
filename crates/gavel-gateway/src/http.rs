//! The Streamable HTTP gateway: MCP clients POST to gavel's listener; gavel relays each exchange
//! to one upstream, deciding every `tools/call` as the agent whose bearer token came with the
//! request (so one listener serves many agents, each under its own identity). The upstream is an
//! MCP endpoint, or a command started once per MCP session ([`ChildSessions`]); the relaying is
//! the same for both, only [`HttpGateway::relay`] differs.
//!
//! Invariants:
//! * every request is authenticated as an agent with gavel (`GET /v1/me`) before anything is
//!   relayed; no token, a bad one or a user's is a 401 and nothing reaches the upstream;
//! * a `tools/call` reaches the upstream only after [`govern::decide_call`] said `Forward`; its
//!   answer (a JSON body, or the JSON-RPC response inside an SSE body) is observed, and reported
//!   as it is returned (the decision was durably recorded before the call went out);
//! * the agent's `Authorization` header is never relayed; other headers are, except hop-by-hop
//!   ones, both ways;
//! * the upstream's answer is read whole before it is returned (bounded by [`MAX_BODY`]): an SSE
//!   answer to a POST arrives at once, and a held call sends no progress over HTTP;
//! * `GET` (the server-initiated SSE stream) is answered 405, which the spec lets a server do: no
//!   message reaches the client outside an answer to its own POST;
//! * revisions are negotiated and checked as over stdio ([`protocol`]); batches are refused;
//! * an answer to `tools/list` is reported and filtered as over stdio ([`tools`]), as the agent of
//!   the request.

use crate::api::GavelClient;
use crate::child_sessions::ChildSessions;
use crate::govern::{self, Observation, ToolCall, Verdict};
use crate::jsonrpc::{self, Kind};
use crate::tools::{self, ToolListing};
use crate::{protocol, GatewayError, Upstream};
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::Response;
use gavel_core::approvals::ExecutionStatus;
use serde_json::{json, Value};
use std::io::Read;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The largest upstream answer the gateway relays; a larger one is a 502, never cut short.
/// (Requests are bounded by axum's default body limit, 2 MiB.)
pub const MAX_BODY: u64 = 16 * 1024 * 1024;

/// Headers that describe one connection, never relayed (RFC 9110 §7.6.1), and the ones the
/// gateway sets itself.
const NOT_RELAYED: [&str; 11] = [
    "authorization",
    "connection",
    "content-length",
    "host",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Recording a forwarded call's outcome, run after its answer is sent.
type Report = Box<dyn FnOnce() + Send>;

/// What the HTTP gateway runs.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// The upstream: an MCP endpoint (`http://127.0.0.1:8000/mcp`) or a command to start per session.
    pub upstream: Upstream,
    /// How long a forwarded `tools/call` may take.
    pub call_timeout: Duration,
    /// How tool lists are recorded and filtered.
    pub listing: ToolListing,
}

/// The shared state of the listener.
pub struct HttpGateway {
    gavel: GavelClient,
    target: Target,
    call_timeout: Duration,
    listing: ToolListing,
    /// The pages of paginated tool lists gathered so far, by agent and session.
    pages: tools::Pages,
}

/// Where exchanges are relayed.
enum Target {
    Url { url: String, http: ureq::Agent },
    Command(ChildSessions),
}

impl Drop for HttpGateway {
    fn drop(&mut self) {
        if let Target::Command(sessions) = &self.target {
            sessions.end_all();
        }
    }
}

impl HttpGateway {
    /// `gavel` carries no token of its own here: each request's bearer token is used.
    pub fn new(gavel: GavelClient, options: HttpOptions) -> Result<Arc<HttpGateway>, GatewayError> {
        options.upstream.check()?;
        let target = match options.upstream {
            Upstream::Url(url) => {
                let http = ureq::AgentBuilder::new()
                    .timeout_connect(Duration::from_secs(10))
                    .timeout(options.call_timeout)
                    .redirects(0)
                    .user_agent(concat!("gavel-gateway/", env!("CARGO_PKG_VERSION")))
                    .build();
                Target::Url { url: url.trim().to_string(), http }
            }
            Upstream::Command { command, env } => {
                Target::Command(ChildSessions::new(command, env, options.call_timeout))
            }
        };
        Ok(Arc::new(HttpGateway {
            gavel,
            target,
            call_timeout: options.call_timeout,
            listing: options.listing,
            pages: tools::Pages::default(),
        }))
    }

    /// Ends the sessions of a command upstream (their children); the gateway is stopping.
    pub fn shutdown(&self) {
        if let Target::Command(sessions) = &self.target {
            sessions.end_all();
        }
    }

    /// The router: every path and method goes to [`HttpGateway::exchange`].
    pub fn router(self: Arc<Self>) -> axum::Router {
        axum::Router::new().fallback(move |method: Method, headers: HeaderMap, body: Bytes| {
            let gateway = Arc::clone(&self);
            async move {
                match tokio::task::spawn_blocking(move || gateway.exchange(&method, &headers, &body)).await {
                    Ok((response, report)) => {
                        // The answer goes out now; its outcome is recorded beside it.
                        if let Some(report) = report {
                            tokio::task::spawn_blocking(report);
                        }
                        response
                    }
                    Err(e) => problem(StatusCode::INTERNAL_SERVER_ERROR, "internal", &e.to_string()),
                }
            }
        })
    }

    /// One HTTP exchange, blocking (decide, approvals and the upstream are called with ureq): the
    /// response, and for a forwarded call the report of its outcome, to run once it is sent.
    fn exchange(&self, method: &Method, headers: &HeaderMap, body: &[u8]) -> (Response, Option<Report>) {
        let token = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty());
        let Some(token) = token else {
            return (
                problem(
                    StatusCode::UNAUTHORIZED,
                    "unauthenticated",
                    "send the agent's gavel token as a bearer token",
                ),
                None,
            );
        };
        let agent = self.gavel.with_token(token);
        let me = match agent.me() {
            Ok(me) if me["type"] == "agent" => me,
            Ok(_) => {
                return (
                    problem(
                        StatusCode::UNAUTHORIZED,
                        "unauthenticated",
                        "the MCP gateway takes agent tokens only",
                    ),
                    None,
                )
            }
            Err(crate::api::ApiError::Refused { status: 401 | 403, message, .. }) => {
                return (problem(StatusCode::UNAUTHORIZED, "unauthenticated", &message), None)
            }
            Err(e) => {
                let why = format!("gavel: {e}");
                return (problem(StatusCode::SERVICE_UNAVAILABLE, "unavailable", &why), None);
            }
        };
        let Some(agent_id) = me.pointer("/agent/id").and_then(Value::as_str).map(str::to_string) else {
            let why = "gavel's answer to GET /v1/me names no agent id";
            return (problem(StatusCode::SERVICE_UNAVAILABLE, "unavailable", why), None);
        };
        let who = Who { agent, agent_id };
        if method == Method::GET {
            let mut response = problem(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "the gavel gateway offers no server-initiated SSE stream; POST requests",
            );
            response.headers_mut().insert("allow", HeaderValue::from_static("POST, DELETE"));
            return (response, None);
        }
        // Only JSON every parser reads alike is relayed: a body the gateway cannot judge (not
        // JSON to it, a member named twice) could still be a tools/call to a laxer upstream
        // (one that takes `NaN`, or keeps the first of two `name`s), so it is refused, not passed.
        if method != Method::POST {
            // DELETE ends a session; it carries no message to judge.
            return (self.relay_or_502(&who, method, headers, body), None);
        }
        let message = match gavel_core::strict_json::parse(body) {
            Ok(message) => message,
            Err(e) => {
                let refusal = jsonrpc::error(
                    &Value::Null,
                    jsonrpc::PARSE_ERROR,
                    &format!("refused by the gavel gateway, not relayed: {e}"),
                );
                let mut response = json_response(&refusal);
                *response.status_mut() = StatusCode::BAD_REQUEST;
                return (response, None);
            }
        };
        let Some(request) = Some(message).filter(|m| jsonrpc::kind(m) == Kind::Request) else {
            // Notifications and responses go as they are; a batch is refused, since a
            // tools/call inside one would run ungoverned.
            if body.trim_ascii_start().starts_with(b"[") {
                let refusal = jsonrpc::error(
                    &Value::Null,
                    jsonrpc::INVALID_REQUEST,
                    "JSON-RPC batches are not accepted by the gavel gateway (MCP has none since 2025-06-18)",
                );
                return (json_response(&refusal), None);
            }
            return (self.relay_or_502(&who, method, headers, body), None);
        };
        if let Some(refusal) = protocol::check_per_request(&request) {
            return (json_response(&refusal), None);
        }
        match jsonrpc::method(&request) {
            Some("tools/call") => self.governed(&who, method, headers, body, &request),
            Some("initialize") => (self.initialize(&who, method, headers, body, &request), None),
            Some("tools/list") => (self.list_tools(&who, method, headers, body, &request), None),
            _ => (self.relay_or_502(&who, method, headers, body), None),
        }
    }

    fn relay_or_502(&self, who: &Who, method: &Method, headers: &HeaderMap, body: &[u8]) -> Response {
        match self.relay(who, method, headers, body) {
            Ok((response, _)) => response,
            Err(why) => problem(StatusCode::BAD_GATEWAY, "bad_gateway", &why),
        }
    }

    /// `initialize`, negotiated as over stdio ([`protocol`]).
    fn initialize(
        &self,
        who: &Who,
        method: &Method,
        headers: &HeaderMap,
        body: &[u8],
        request: &Value,
    ) -> Response {
        let negotiated = protocol::negotiate_initialize(request).map(|m| m.to_string().into_bytes());
        let sent = negotiated.as_deref().unwrap_or(body);
        match self.relay(who, method, headers, sent) {
            Ok((response, answer_body)) => {
                let id = request.get("id").cloned().unwrap_or(Value::Null);
                let refusal =
                    find_answer(&answer_body, &id).and_then(|a| protocol::check_initialize_result(&a));
                match refusal {
                    Some(refusal) => json_response(&refusal),
                    None => response,
                }
            }
            Err(why) => problem(StatusCode::BAD_GATEWAY, "bad_gateway", &why),
        }
    }

    /// `tools/list`: the upstream's answer is reported to gavel as the agent, and filtered
    /// ([`tools::judge_list`]). A changed answer goes back as one JSON body under the upstream's
    /// headers (its session id included): the client takes either a JSON or an SSE answer.
    fn list_tools(
        &self,
        who: &Who,
        method: &Method,
        headers: &HeaderMap,
        body: &[u8],
        request: &Value,
    ) -> Response {
        let (response, answer_body) = match self.relay(who, method, headers, body) {
            Ok(relayed) => relayed,
            Err(why) => return problem(StatusCode::BAD_GATEWAY, "bad_gateway", &why),
        };
        let id = request.get("id").cloned().unwrap_or(Value::Null);
        let Some(answer) = find_answer(&answer_body, &id) else { return response };
        let session = headers.get("mcp-session-id").and_then(|v| v.to_str().ok()).unwrap_or_default();
        let session = format!("{} {session}", who.agent_id);
        let Some(judged) =
            tools::judge_list(&who.agent, &self.listing, &self.pages, &session, request, &answer)
        else {
            return response;
        };
        let (mut parts, _) = response.into_parts();
        parts.headers.insert("content-type", HeaderValue::from_static("application/json"));
        Response::from_parts(parts, Body::from(judged.to_string()))
    }

    fn governed(
        &self,
        who: &Who,
        method: &Method,
        headers: &HeaderMap,
        body: &[u8],
        request: &Value,
    ) -> (Response, Option<Report>) {
        let call = match ToolCall::read(request) {
            Ok(call) => call,
            Err(answer) => return (json_response(&answer), None),
        };
        let agent = &who.agent;
        let (decision_id, receipt) = match govern::decide_call(agent, &call, &|_| {}, &|| false) {
            Verdict::Refuse(answer) => return (json_response(&answer), None),
            Verdict::Abandon => return (json_response(&call.refusal("cancelled")), None),
            Verdict::Forward { decision_id, receipt } => (decision_id, receipt),
        };
        let started = Instant::now();
        match self.relay(who, method, headers, body) {
            Ok((response, answer_body)) => {
                let answer = find_answer(&answer_body, &call.id);
                let observation = match &answer {
                    Some(answer) => govern::observe(Some(answer), started.elapsed(), self.call_timeout),
                    None => Observation {
                        status: ExecutionStatus::Failed,
                        detail: format!(
                            "observed by the gateway: failed: the upstream answered HTTP {} without a response to the call in {} ms",
                            response.status().as_u16(),
                            started.elapsed().as_millis()
                        ),
                    },
                };
                let agent = agent.clone();
                let report: Report =
                    Box::new(move || govern::report(&agent, &decision_id, observation, receipt));
                (response, Some(report))
            }
            Err(why) => {
                let timed_out = started.elapsed() >= self.call_timeout;
                let observation = if timed_out {
                    govern::observe(None, started.elapsed(), self.call_timeout)
                } else {
                    Observation {
                        status: ExecutionStatus::Failed,
                        detail: format!(
                            "observed by the gateway: failed: {why} ({} ms)",
                            started.elapsed().as_millis()
                        ),
                    }
                };
                govern::report(agent, &decision_id, observation, receipt);
                let refusal = json_response(&call.refusal(&format!(
                    "gavel allowed this call to {} but the upstream MCP server {}",
                    call.name,
                    if timed_out { "did not answer in time" } else { "could not be reached" }
                )));
                (refusal, None)
            }
        }
    }

    /// Relays one exchange to the upstream; returns the response for the client and the body it
    /// carries (to observe), or why the upstream could not be had.
    fn relay(
        &self,
        who: &Who,
        method: &Method,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<(Response, Vec<u8>), String> {
        let (url, http) = match &self.target {
            Target::Url { url, http } => (url, http),
            Target::Command(sessions) => return sessions.relay(&who.agent_id, method, headers, body),
        };
        let mut request = http.request(method.as_str(), url);
        for (name, value) in headers {
            if NOT_RELAYED.contains(&name.as_str()) {
                continue;
            }
            if let Ok(value) = value.to_str() {
                request = request.set(name.as_str(), value);
            }
        }
        let answer = match request.send_bytes(body) {
            Ok(answer) | Err(ureq::Error::Status(_, answer)) => answer,
            Err(ureq::Error::Transport(t)) => return Err(format!("the upstream MCP server: {t}")),
        };
        let status = StatusCode::from_u16(answer.status()).unwrap_or(StatusCode::BAD_GATEWAY);
        let mut relayed = HeaderMap::new();
        for name in answer.headers_names() {
            if NOT_RELAYED.contains(&name.to_ascii_lowercase().as_str()) {
                continue;
            }
            if let (Ok(header), Some(value)) = (HeaderName::try_from(name.as_str()), answer.header(&name)) {
                if let Ok(value) = HeaderValue::from_str(value) {
                    relayed.append(header, value);
                }
            }
        }
        let mut bytes = Vec::new();
        if let Err(e) = answer.into_reader().take(MAX_BODY + 1).read_to_end(&mut bytes) {
            return Err(format!("reading the upstream's answer: {e}"));
        }
        if bytes.len() as u64 > MAX_BODY {
            return Err(format!("the upstream's answer is larger than {MAX_BODY} bytes"));
        }
        let mut response = Response::new(Body::from(bytes.clone()));
        *response.status_mut() = status;
        *response.headers_mut() = relayed;
        Ok((response, bytes))
    }
}

/// The agent of one request: its gavel client and id.
struct Who {
    agent: GavelClient,
    agent_id: String,
}

/// The JSON-RPC response to `id` in an upstream's answer body: the body itself (JSON), or one of
/// the `data:` events of an SSE body.
pub fn find_answer(body: &[u8], id: &Value) -> Option<Value> {
    let is_answer = |m: &Value| jsonrpc::kind(m) == Kind::Response && m.get("id") == Some(id);
    if let Ok(message) = serde_json::from_slice::<Value>(body) {
        return is_answer(&message).then_some(message);
    }
    let text = std::str::from_utf8(body).ok()?;
    for event in text.replace("\r\n", "\n").split("\n\n") {
        let data: Vec<&str> = event
            .lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .map(|d| d.strip_prefix(' ').unwrap_or(d))
            .collect();
        if data.is_empty() {
            continue;
        }
        if let Ok(message) = serde_json::from_str::<Value>(&data.join("\n")) {
            if is_answer(&message) {
                return Some(message);
            }
        }
    }
    None
}

fn json_response(message: &Value) -> Response {
    let mut response = Response::new(Body::from(message.to_string()));
    response.headers_mut().insert("content-type", HeaderValue::from_static("application/json"));
    response
}

/// An HTTP refusal in gavel's error shape.
fn problem(status: StatusCode, code: &str, message: &str) -> Response {
    let mut response = json_response(&json!({"error": {"code": code, "message": message}}));
    *response.status_mut() = status;
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert("www-authenticate", HeaderValue::from_static("Bearer"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_found_in_json_and_sse_bodies() {
        let answer = json!({"jsonrpc": "2.0", "id": 3, "result": {"content": []}});
        assert_eq!(find_answer(answer.to_string().as_bytes(), &json!(3)), Some(answer.clone()));
        assert_eq!(find_answer(answer.to_string().as_bytes(), &json!("3")), None);
        let progress = json!({"jsonrpc": "2.0", "method": "notifications/progress", "params": {}});
        let sse = format!(
            "event: message\r\ndata: {progress}\r\n\r\nevent: message\r\nid: 7\r\ndata: {answer}\r\n\r\n"
        );
        assert_eq!(find_answer(sse.as_bytes(), &json!(3)), Some(answer));
        assert_eq!(find_answer(b"event: message\n\n", &json!(3)), None);
    }
}
