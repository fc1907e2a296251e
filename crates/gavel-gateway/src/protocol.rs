//! The MCP protocol revisions the gateway speaks, and their negotiation.
//!
//! The gateway relays messages it does not interpret, but it does interpret `tools/call` (name,
//! arguments, `_meta.progressToken`) and tool results (`isError`), so it only lets a session run
//! under a revision whose shapes of those it knows: the current revision (`2026-07-28`, the
//! per-request envelope: `server/discover`, the version in each request's `_meta`) and the previous
//! one the SDKs speak (`2025-11-25`, the `initialize` handshake).
//!
//! Negotiation, as the spec's lifecycle says: a client's `initialize` asking for a revision the
//! gateway does not speak is forwarded asking for the newest handshake revision it does (the one
//! change the gateway makes to a message it relays), and an upstream's `initialize` result
//! naming a revision outside the set is answered to the client as an error, so the session cannot
//! start on terms the gateway cannot govern. A request carrying an unknown per-request revision is
//! refused with the spec's unsupported-version error.

use serde_json::{json, Value};

/// Newest first.
pub const SUPPORTED: [&str; 2] = ["2026-07-28", "2025-11-25"];

/// The newest revision reachable through the `initialize` handshake.
pub const LATEST_HANDSHAKE: &str = "2025-11-25";

/// Where a per-request (2026-07-28) envelope puts the revision: `params._meta[KEY]`.
pub const PER_REQUEST_KEY: &str = "io.modelcontextprotocol/protocolVersion";

/// The error code of a request at an unsupported per-request revision (MCP 2026-07-28).
pub const UNSUPPORTED_VERSION: i64 = -32022;

pub fn is_supported(version: &str) -> bool {
    SUPPORTED.contains(&version)
}

/// For a client's `initialize`: the request to forward, with the revision asked for replaced by
/// [`LATEST_HANDSHAKE`] when the gateway does not speak it; `None` when it can go unchanged.
pub fn negotiate_initialize(request: &Value) -> Option<Value> {
    let asked = request.pointer("/params/protocolVersion").and_then(Value::as_str);
    if asked.is_some_and(is_supported) {
        return None;
    }
    let mut forwarded = request.clone();
    if let Some(params) = forwarded.get_mut("params").and_then(Value::as_object_mut) {
        params.insert("protocolVersion".into(), json!(LATEST_HANDSHAKE));
    }
    Some(forwarded)
}

/// For an upstream's answer to `initialize`: `None` to relay it as it is, or the error to answer
/// instead when it settles on a revision the gateway does not speak.
pub fn check_initialize_result(response: &Value) -> Option<Value> {
    let result = response.get("result")?;
    let agreed = result.get("protocolVersion").and_then(Value::as_str).unwrap_or_default();
    if is_supported(agreed) {
        return None;
    }
    let id = response.get("id").cloned().unwrap_or(Value::Null);
    Some(json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": {
            "code": crate::jsonrpc::INVALID_PARAMS,
            "message": format!(
                "Unsupported protocol version: the upstream MCP server settled on {agreed:?}; \
                 the gavel gateway speaks {}",
                SUPPORTED.join(", ")
            ),
            "data": {"supported": SUPPORTED, "requested": agreed},
        },
    }))
}

/// For any client request: the error to answer when it names a per-request revision the gateway
/// does not speak (requests without one are handshake-era, already negotiated).
pub fn check_per_request(request: &Value) -> Option<Value> {
    let stated = request.pointer("/params/_meta")?.get(PER_REQUEST_KEY)?;
    if stated.as_str().is_some_and(is_supported) {
        return None;
    }
    let id = request.get("id").cloned().unwrap_or(Value::Null);
    Some(json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": {
            "code": UNSUPPORTED_VERSION,
            "message": format!("Unsupported protocol version; the gavel gateway speaks {}", SUPPORTED.join(", ")),
            "data": {"supported": SUPPORTED, "requested": stated},
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn initialize(version: &str) -> Value {
        json!({"jsonrpc": "2.0", "id": 0, "method": "initialize",
               "params": {"protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "c", "version": "1"}}})
    }

    #[test]
    fn a_spoken_revision_goes_unchanged_and_another_asks_for_the_latest_handshake() {
        assert_eq!(negotiate_initialize(&initialize("2025-11-25")), None);
        let forwarded = negotiate_initialize(&initialize("2024-11-05")).unwrap();
        assert_eq!(forwarded["params"]["protocolVersion"], LATEST_HANDSHAKE);
        assert_eq!(forwarded["params"]["clientInfo"]["name"], "c");
        assert_eq!(forwarded["id"], 0);
    }

    #[test]
    fn an_upstream_settling_elsewhere_is_an_error_to_the_client() {
        let ok = json!({"jsonrpc": "2.0", "id": 0, "result": {"protocolVersion": "2025-11-25"}});
        assert_eq!(check_initialize_result(&ok), None);
        let old = json!({"jsonrpc": "2.0", "id": 0, "result": {"protocolVersion": "2024-11-05"}});
        let answer = check_initialize_result(&old).unwrap();
        assert_eq!(answer["id"], 0);
        assert_eq!(answer["error"]["data"]["requested"], "2024-11-05");
        let error = json!({"jsonrpc": "2.0", "id": 0, "error": {"code": 1, "message": "no"}});
        assert_eq!(check_initialize_result(&error), None, "an upstream's own error is relayed");
    }

    #[test]
    fn per_request_revisions_are_checked() {
        let at = |v: &str| {
            json!({"jsonrpc": "2.0", "id": 3, "method": "tools/list",
                                  "params": {"_meta": {PER_REQUEST_KEY: v}}})
        };
        assert_eq!(check_per_request(&at("2026-07-28")), None);
        assert_eq!(check_per_request(&json!({"id": 3, "method": "tools/list"})), None);
        let refused = check_per_request(&at("2027-01-01")).unwrap();
        assert_eq!(refused["error"]["code"], UNSUPPORTED_VERSION);
    }
}
