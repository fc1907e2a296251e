//! `/v1/ext-authz/{*path}`: gavel as the HTTP authorization service of a proxy's external
//! authorization filter (Envoy's `envoy.filters.http.ext_authz` with an `http_service` whose
//! `path_prefix` is `/v1/ext-authz`; Istio and agentgateway configure the same filter) in front of
//! an MCP server reached over Streamable HTTP. docs/ext-authz.md has the configuration.
//!
//! The held request `/` arrives as `/v1/ext-authz/`, served by the same check.
//!
//! Envoy holds the client's request and sends here its method, its path behind the prefix, its
//! `Host`, `Authorization` and `Content-Length` (and whatever `allowed_headers` adds), and with
//! `with_request_body` its body. It forwards the request only on a 200; any other status goes back
//! to the client with this answer's body and headers; a 5xx, a timeout or no answer at all is
//! refused with `status_on_error` unless `failure_mode_allow` is set.
//!
//! Invariants:
//! * a `tools/call` is decided by core's one decide entry point, as the agent whose bearer token
//!   the request carries, exactly as `POST /v1/decide` decides it ([`decide_for_agent`]), and its
//!   record says `via: ext_authz`; only an `allow` is answered 200 (`x-gavel-decision` names it);
//!   a denial is a 403 `denied`, a hold a 403 `approval_required` (Envoy cannot hold a request);
//! * a request that calls no tool (`initialize`, `tools/list`, notifications, responses, the SSE
//!   `GET`, the session `DELETE`) passes once its token is an agent's that may still sign in;
//!   nothing is recorded for it;
//! * what cannot be judged is refused before anything is decided (fail closed): a body that is
//!   not whole (`x-envoy-auth-partial-body: true`), encoded, not JSON, or names a member twice (a
//!   server whose parser keeps the first of two `name`s would run another tool than was decided);
//!   a `POST` without a body (`with_request_body` not configured); a batch holding a `tools/call`
//!   (MCP has had no batches since 2025-06-18; each call is decided alone); a `tools/call` whose
//!   name or arguments are malformed;
//! * gavel never sees the outcome of a call it allowed here: those decisions have no outcome.

use super::decisions::decide_for_agent;
use super::{as_caller, Bearer};
use crate::error::ApiError;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use gavel_core::decide::{DecideContext, DecideRequest, DecideResponse, DecidedVia};
use gavel_core::{CoreError, Principal};
use gavel_policy::Outcome;
use serde::Serialize;
use serde_json::{json, Map, Value};
use utoipa::ToSchema;

/// The header naming the decision, on a 200 (Envoy can pass it upstream with
/// `allowed_upstream_headers`) and on a refusal (it reaches the client).
pub const DECISION_HEADER: &str = "x-gavel-decision";

/// The header Envoy sets to `true` when `allow_partial_message` sent only the first
/// `max_request_bytes` of the body.
pub const PARTIAL_BODY_HEADER: &str = "x-envoy-auth-partial-body";

/// The answer that lets the request through (Envoy forwards it on this 200 only).
#[derive(Debug, Serialize, ToSchema)]
pub struct ExtAuthzAllowed {
    /// True when the request was a `tools/call` (then `decision` is its recorded `allow`); false
    /// when it calls no tool (nothing was recorded).
    pub tool_call: bool,
    /// The recorded decision on the `tools/call`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<DecideResponse>,
}

/// What a held request asks for, as far as tools go.
#[derive(Debug, PartialEq)]
enum Asked {
    /// It calls no tool.
    NoTool,
    /// One `tools/call`: the tool's name and its arguments (`None`: absent or null).
    Call { tool: String, arguments: Option<Value> },
}

#[utoipa::path(post, path = "/v1/ext-authz/{path}",
    params(("path" = String, Path, description = "The held request's path (Envoy's `path_prefix` is `/v1/ext-authz`)")),
    request_body(content = Object, content_type = "application/json",
        description = "The held request's body as Envoy forwards it (`with_request_body`): one MCP JSON-RPC message, or a batch"),
    responses((status = 200, description = "Forward it: an allowed `tools/call` (its recorded decision; `x-gavel-decision` names it) or a message that calls no tool", body = ExtAuthzAllowed),
              (status = 400, description = "Cannot be judged, so refused: not JSON, a member named twice, no body, an encoded body, a batch with a `tools/call`, a malformed `tools/call`"),
              (status = 401, description = "Missing, unknown or revoked agent credential"),
              (status = 403, description = "Refused: `denied` (the deciding policies and reasons), `approval_required` (held for a human: Envoy cannot hold a request; the approval's id is in `decision`), or a token that is not an agent's. `decision` is the recorded decision"),
              (status = 413, description = "The body is larger than the limit, or Envoy sent only part of it"),
              (status = 503, description = "The decision could not be recorded: Envoy refuses the request (fail closed)")),
    security(("bearer" = [])))]
pub(super) async fn check_post(held: HeldRequest) -> Result<Response, ApiError> {
    check(held).await
}

#[utoipa::path(get, path = "/v1/ext-authz/{path}",
    params(("path" = String, Path, description = "The held request's path (Envoy's `path_prefix` is `/v1/ext-authz`)")),
    responses((status = 200, description = "Forward it: the MCP client's SSE stream (or another request without a `tools/call`)", body = ExtAuthzAllowed),
              (status = 400, description = "A body that cannot be judged, or a batch with a `tools/call`"),
              (status = 403, description = "Refused: a token that is not an agent's, or a `tools/call` in the body denied or held")),
    security(("bearer" = [])))]
pub(super) async fn check_get(held: HeldRequest) -> Result<Response, ApiError> {
    check(held).await
}

#[utoipa::path(delete, path = "/v1/ext-authz/{path}",
    params(("path" = String, Path, description = "The held request's path (Envoy's `path_prefix` is `/v1/ext-authz`)")),
    responses((status = 200, description = "Forward it: the MCP client ends its session (or another request without a `tools/call`)", body = ExtAuthzAllowed),
              (status = 400, description = "A body that cannot be judged, or a batch with a `tools/call`"),
              (status = 403, description = "Refused: a token that is not an agent's, or a `tools/call` in the body denied or held")),
    security(("bearer" = [])))]
pub(super) async fn check_delete(held: HeldRequest) -> Result<Response, ApiError> {
    check(held).await
}

// The held request's path `/` arrives as `/v1/ext-authz/`, which the rest-of-path parameter
// (never empty) does not match: the same check, documented once more for that path.

#[utoipa::path(post, path = "/v1/ext-authz/",
    request_body(content = Object, content_type = "application/json",
        description = "The body of a held `POST /` (an MCP server served at the root), as for `/v1/ext-authz/{path}`"),
    responses((status = 200, description = "Forward it, as for `/v1/ext-authz/{path}`", body = ExtAuthzAllowed),
              (status = 403, description = "Refused: denied, held, or not an agent's token, as for `/v1/ext-authz/{path}`"),
              (status = 503, description = "The decision could not be recorded: Envoy refuses the request (fail closed)")),
    security(("bearer" = [])))]
pub(super) async fn check_root_post(held: HeldRequest) -> Result<Response, ApiError> {
    check(held).await
}

#[utoipa::path(get, path = "/v1/ext-authz/",
    responses((status = 200, description = "Forward it, as for `/v1/ext-authz/{path}`", body = ExtAuthzAllowed)),
    security(("bearer" = [])))]
pub(super) async fn check_root_get(held: HeldRequest) -> Result<Response, ApiError> {
    check(held).await
}

#[utoipa::path(delete, path = "/v1/ext-authz/",
    responses((status = 200, description = "Forward it, as for `/v1/ext-authz/{path}`", body = ExtAuthzAllowed)),
    security(("bearer" = [])))]
pub(super) async fn check_root_delete(held: HeldRequest) -> Result<Response, ApiError> {
    check(held).await
}

/// A held request as the proxy sends it: what [`check`] judges. The bearer token is read first
/// (a request without one is a 401 before its body is read), then the whole body.
pub(super) struct HeldRequest {
    state: AppState,
    bearer: Bearer,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
}

impl FromRequest<AppState> for HeldRequest {
    type Rejection = ApiError;
    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        let bearer = Bearer::from_request_parts(&mut parts, state).await?;
        let (method, headers) = (parts.method.clone(), parts.headers.clone());
        let body = Bytes::from_request(Request::from_parts(parts, body), state).await.map_err(|e| {
            ApiError::bad_request(format!("the request body could not be read: {}", e.body_text()))
        })?;
        Ok(HeldRequest { state: state.clone(), bearer, method, headers, body })
    }
}

/// Judges one held request (every method alike: a body is judged whatever the method). Each
/// method and path above is a handler of its own only so that each has its OpenAPI operation.
async fn check(held: HeldRequest) -> Result<Response, ApiError> {
    let HeldRequest { state, bearer, method, headers, body } = held;
    match read_request(&method, &headers, &body)? {
        Asked::NoTool => {
            as_caller(&state, bearer, |_, principal| match principal {
                Principal::Agent(_) => Ok(()),
                _ => Err(CoreError::Forbidden(
                    "gavel's ext_authz check takes agent tokens only (the agent's bearer token)".into(),
                )),
            })
            .await?;
            Ok(Json(ExtAuthzAllowed { tool_call: false, decision: None }).into_response())
        }
        Asked::Call { tool, arguments } => {
            let request = DecideRequest {
                tool: tool.clone(),
                resource: None,
                arguments,
                on_behalf_of: None,
                context: DecideContext::default(),
            };
            let decision = decide_for_agent(&state, bearer, request, Some(DecidedVia::ExtAuthz)).await?;
            Ok(answer(&tool, decision))
        }
    }
}

/// The answer to a decided `tools/call`: 200 for `allow` only, 403 otherwise; both name the
/// decision in [`DECISION_HEADER`].
fn answer(tool: &str, decision: DecideResponse) -> Response {
    let id = HeaderValue::from_str(&decision.decision_id).ok();
    let mut response = match decision.decision {
        Outcome::Allow => Json(ExtAuthzAllowed { tool_call: true, decision: Some(decision) }).into_response(),
        Outcome::Deny => refusal("denied", denied_text(tool, &decision), &decision),
        // 403 rather than 429 (clients retry a 429 by themselves, and each retry would be a new
        // decision and a new approval request) or 409 (a conflict the client could resolve by
        // changing its request): a held call is refused now, and the approval request stays open.
        Outcome::RequireApproval => {
            let approval = decision.approval_id.as_deref().unwrap_or("none opened");
            let message = format!(
                "gavel holds this call to {tool} for a human's approval (approval {approval}); a proxy \
                 cannot hold a request, so it is refused now (decision {})",
                decision.decision_id
            );
            refusal("approval_required", message, &decision)
        }
    };
    if let Some(id) = id {
        response.headers_mut().insert(DECISION_HEADER, id);
    }
    response
}

/// A 403 in gavel's error shape, with the recorded decision beside the error.
fn refusal(code: &str, message: String, decision: &DecideResponse) -> Response {
    let body = json!({"error": {"code": code, "message": message}, "decision": decision});
    (StatusCode::FORBIDDEN, Json(body)).into_response()
}

/// The text of a denial: which policies decided and why, and the decision to look up.
fn denied_text(tool: &str, decision: &DecideResponse) -> String {
    let policies = if decision.policies.is_empty() {
        "no permitting policy".to_string()
    } else {
        decision.policies.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
    };
    let reasons = if decision.reasons.is_empty() { "-".to_string() } else { decision.reasons.join("; ") };
    format!(
        "gavel denied this call to {tool}. Policy: {policies}. Reason: {reasons}. (decision {})",
        decision.decision_id
    )
}

/// Reads what a held request asks for, or why it cannot be judged (a 400 or 413 that refuses it).
fn read_request(method: &Method, headers: &HeaderMap, body: &[u8]) -> Result<Asked, ApiError> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    if header(PARTIAL_BODY_HEADER).is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "the proxy sent only part of the body (allow_partial_message): a call not seen whole \
             cannot be judged; refused",
        ));
    }
    if header(header::CONTENT_ENCODING.as_str()).is_some_and(|v| !v.eq_ignore_ascii_case("identity")) {
        return Err(ApiError::bad_request(
            "the body is encoded (content-encoding): it cannot be judged; refused",
        ));
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        if method == Method::POST {
            return Err(ApiError::bad_request(
                "a POST without a body cannot be judged: set with_request_body in the ext_authz \
                 filter so the proxy sends it; refused",
            ));
        }
        return Ok(Asked::NoTool);
    }
    let message = gavel_core::strict_json::parse(body)
        .map_err(|e| ApiError::bad_request(format!("the body is not one JSON value ({e}); refused")))?;
    match message {
        Value::Object(message) => read_message(&message),
        Value::Array(batch) => {
            let mut calls = 0;
            for item in &batch {
                let Value::Object(item) = item else {
                    return Err(ApiError::bad_request("a batch member is not a JSON-RPC message; refused"));
                };
                if matches!(read_message(item)?, Asked::Call { .. }) {
                    calls += 1;
                }
            }
            if calls > 0 {
                return Err(ApiError::bad_request(
                    "a JSON-RPC batch with a tools/call is refused: each call is decided alone \
                     (MCP has no batches since 2025-06-18)",
                ));
            }
            Ok(Asked::NoTool)
        }
        _ => Err(ApiError::bad_request("the body is not a JSON-RPC message or batch; refused")),
    }
}

/// Reads one JSON-RPC message: a `tools/call` (whatever else it carries, an `id` or not), or a
/// message that calls no tool.
fn read_message(message: &Map<String, Value>) -> Result<Asked, ApiError> {
    match message.get("method") {
        None => return Ok(Asked::NoTool), // a response to the server
        Some(Value::String(m)) if m == "tools/call" => {}
        Some(Value::String(_)) => return Ok(Asked::NoTool),
        Some(_) => return Err(ApiError::bad_request("the JSON-RPC method is not a string; refused")),
    }
    let params = match message.get("params") {
        Some(Value::Object(params)) => params,
        _ => return Err(ApiError::bad_request("tools/call needs params (an object); refused")),
    };
    let Some(Value::String(tool)) = params.get("name") else {
        return Err(ApiError::bad_request("tools/call needs params.name (a string); refused"));
    };
    let arguments = match params.get("arguments") {
        None | Some(Value::Null) => None,
        Some(arguments @ Value::Object(_)) => Some(arguments.clone()),
        Some(_) => {
            return Err(ApiError::bad_request("tools/call params.arguments must be an object; refused"))
        }
    };
    Ok(Asked::Call { tool: tool.clone(), arguments })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(method: Method, body: &str) -> Result<Asked, ApiError> {
        read_request(&method, &HeaderMap::new(), body.as_bytes())
    }

    fn refused(result: Result<Asked, ApiError>, status: u16, needle: &str) {
        match result {
            Err(e) => {
                assert_eq!(e.status.as_u16(), status, "{}", e.message);
                assert!(e.message.contains(needle), "{:?} lacks {needle:?}", e.message);
            }
            Ok(asked) => panic!("judged {asked:?}, expected a refusal"),
        }
    }

    #[test]
    fn a_tools_call_is_read_with_its_name_and_arguments() {
        let body = r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"send_email","arguments":{"to":"a@b.c"}}}"#;
        let expected = Asked::Call { tool: "send_email".into(), arguments: Some(json!({"to": "a@b.c"})) };
        assert_eq!(read(Method::POST, body).ok(), Some(expected));
        // Without an id (a notification no server should run) it is judged all the same.
        let body = r#"{"jsonrpc":"2.0","method":"tools\/call","params":{"name":"x","arguments":null}}"#;
        assert_eq!(read(Method::POST, body).ok(), Some(Asked::Call { tool: "x".into(), arguments: None }));
    }

    #[test]
    fn messages_that_call_no_tool_pass() {
        for body in [
            r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}"#,
            r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#,
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
            r#"{"jsonrpc":"2.0","id":3,"result":{}}"#,
            r#"[{"jsonrpc":"2.0","method":"notifications/initialized"},{"jsonrpc":"2.0","id":4,"method":"ping"}]"#,
        ] {
            assert_eq!(read(Method::POST, body).ok(), Some(Asked::NoTool), "{body}");
        }
        assert_eq!(read(Method::GET, "").ok(), Some(Asked::NoTool));
        assert_eq!(read(Method::DELETE, " \n").ok(), Some(Asked::NoTool));
    }

    #[test]
    fn what_cannot_be_judged_is_refused() {
        refused(read(Method::POST, ""), 400, "with_request_body");
        refused(read(Method::POST, "{\"method\":"), 400, "not one JSON value");
        refused(read(Method::POST, r#"{"method":"tools/list"} {}"#), 400, "not one JSON value");
        refused(read(Method::POST, "\"tools/call\""), 400, "not a JSON-RPC message");
        refused(read(Method::POST, r#"{"method":7}"#), 400, "not a string");
        refused(read(Method::POST, r#"{"method":"tools/call"}"#), 400, "needs params");
        refused(read(Method::POST, r#"{"method":"tools/call","params":{"name":3}}"#), 400, "params.name");
        refused(
            read(Method::POST, r#"{"method":"tools/call","params":{"name":"t","arguments":[1]}}"#),
            400,
            "must be an object",
        );
        refused(
            read(
                Method::POST,
                r#"[{"method":"ping","id":1},{"method":"tools/call","id":2,"params":{"name":"t"}}]"#,
            ),
            400,
            "batch with a tools/call",
        );
        refused(read(Method::POST, r#"[{"method":"ping","id":1}, 5]"#), 400, "batch member");
        // A body on a GET is judged like any other.
        refused(read(Method::GET, r#"{"method":"tools/call","params":{}}"#), 400, "params.name");
    }

    /// The parser differential: a server that keeps the first `name` (or `method`) would run
    /// another tool than the one decided, so a member named twice is refused at any depth.
    #[test]
    fn a_member_named_twice_is_refused() {
        for body in [
            r#"{"method":"tools/call","params":{"name":"wipe_disk","name":"search_docs"}}"#,
            r#"{"method":"tools/call","method":"tools/list","params":{"name":"t"}}"#,
            r#"{"method":"tools/call","params":{"name":"t","arguments":{"a":1,"a":2}}}"#,
            r#"[{"method":"ping","id":1,"id":2}]"#,
        ] {
            refused(read(Method::POST, body), 400, "named twice");
        }
    }

    #[test]
    fn a_partial_or_encoded_body_is_refused() {
        let body = r#"{"method":"tools/list"}"#.as_bytes();
        let mut partial = HeaderMap::new();
        partial.insert(PARTIAL_BODY_HEADER, HeaderValue::from_static("true"));
        refused(read_request(&Method::POST, &partial, body), 413, "only part of the body");
        let mut whole = HeaderMap::new();
        whole.insert(PARTIAL_BODY_HEADER, HeaderValue::from_static("false"));
        assert_eq!(read_request(&Method::POST, &whole, body).ok(), Some(Asked::NoTool));
        let mut gzip = HeaderMap::new();
        gzip.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        refused(read_request(&Method::POST, &gzip, body), 400, "encoded");
    }

    #[test]
    fn the_strict_parser_reads_what_serde_json_reads() {
        let text = r#"{"a":[1,-2,3.5,1e300,18446744073709551615,true,null,"\u00e9"],"b":{"c":{}}}"#;
        let strict = gavel_core::strict_json::parse(text.as_bytes()).expect("parses");
        let plain: Value = serde_json::from_str(text).expect("parses");
        assert_eq!(strict, plain);
    }
}
