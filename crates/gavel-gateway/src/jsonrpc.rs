//! JSON-RPC 2.0 messages as MCP frames them over stdio: one JSON value per line, no embedded
//! newline. Only what the gateway needs to route: the kind of a message, its id and method, and the
//! answers the gateway writes itself.
//!
//! Invariant: ids are never invented or rewritten; a request is answered under the id it came with.

use serde_json::{json, Value};

/// JSON-RPC's own error codes that the gateway answers with.
pub const PARSE_ERROR: i64 = -32700;
pub const INVALID_REQUEST: i64 = -32600;
pub const INVALID_PARAMS: i64 = -32602;

/// What a message is, by its members.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `method` and `id`: expects an answer.
    Request,
    /// `method` without `id`.
    Notification,
    /// `result` or `error` with `id`.
    Response,
    /// Anything else (not an object, or neither shape).
    Invalid,
}

pub fn kind(message: &Value) -> Kind {
    let Some(object) = message.as_object() else { return Kind::Invalid };
    match (object.get("method").and_then(Value::as_str), object.get("id")) {
        (Some(_), Some(id)) if !id.is_null() => Kind::Request,
        (Some(_), None) => Kind::Notification,
        (None, Some(_)) if object.contains_key("result") || object.contains_key("error") => Kind::Response,
        _ => Kind::Invalid,
    }
}

pub fn method(message: &Value) -> Option<&str> {
    message.get("method").and_then(Value::as_str)
}

/// The id as a map key: its JSON text, so `1` and `"1"` stay two ids as JSON-RPC says.
pub fn id_key(id: &Value) -> String {
    id.to_string()
}

/// A JSON-RPC error answer.
pub fn error(id: &Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

/// An MCP tool result that reports a failure to the model (`isError`), the way the MCP spec says a
/// tool's own failure is told: the client shows it, the agent can read it and go on. `per_request`
/// is true for a request made at a per-request revision (2026-07-28), whose results carry
/// `resultType` (the Python SDK refuses one without it).
pub fn tool_error(id: &Value, text: &str, per_request: bool) -> Value {
    let mut result = json!({"content": [{"type": "text", "text": text}], "isError": true});
    if per_request {
        result["resultType"] = json!("complete");
    }
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

/// `notifications/progress` for a request that asked for progress with `token`.
pub fn progress(token: &Value, progress: u64, message: &str) -> Value {
    json!({
        "jsonrpc": "2.0",
        "method": "notifications/progress",
        "params": {"progressToken": token, "progress": progress, "message": message},
    })
}

/// `notifications/cancelled` of request `id`, sent to the peer still working on it.
pub fn cancelled(id: &Value, reason: &str) -> Value {
    json!({
        "jsonrpc": "2.0",
        "method": "notifications/cancelled",
        "params": {"requestId": id, "reason": reason},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_follow_the_members() {
        assert_eq!(kind(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call"})), Kind::Request);
        assert_eq!(
            kind(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"})),
            Kind::Notification
        );
        assert_eq!(kind(&json!({"jsonrpc": "2.0", "id": 1, "result": {}})), Kind::Response);
        assert_eq!(kind(&json!({"jsonrpc": "2.0", "id": null, "error": {}})), Kind::Response);
        assert_eq!(kind(&json!({"jsonrpc": "2.0", "id": null, "method": "x"})), Kind::Invalid);
        assert_eq!(kind(&json!([{"jsonrpc": "2.0", "id": 1, "method": "x"}])), Kind::Invalid);
        assert_eq!(kind(&json!({"jsonrpc": "2.0", "id": 1})), Kind::Invalid);
    }

    #[test]
    fn ids_of_different_types_stay_different() {
        assert_ne!(id_key(&json!(1)), id_key(&json!("1")));
    }

    #[test]
    fn a_tool_error_is_a_result_with_is_error() {
        let answer = tool_error(&json!(7), "denied", false);
        assert_eq!(answer["id"], 7);
        assert_eq!(answer["result"]["isError"], true);
        assert_eq!(answer["result"]["content"][0], json!({"type": "text", "text": "denied"}));
        assert!(answer.get("error").is_none() && answer["result"].get("resultType").is_none());
        assert_eq!(tool_error(&json!(7), "denied", true)["result"]["resultType"], "complete");
    }
}
