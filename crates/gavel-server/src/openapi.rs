//! The OpenAPI 3.1 document served at `/v1/openapi.json`: the `#[utoipa::path]` annotations of
//! every API module, completed by [`complete`] with what holds for every route alike.
//!
//! Invariants (held by `tests/openapi.rs`, which validates the served document with
//! `openapi-spec-validator` and compares its routes with [`crate::api::route_list`]):
//! * every path parameter of a template is declared, query parameters are `in: query`;
//! * every error response is the `ErrorBody` component (`{"error": {"code", "message"}}`), every
//!   2xx response has a schema (a free-form body is an object with a description); a declared 2xx
//!   schema is the `ToSchema` of the type the handler returns in `Json<T>`, and
//!   `tests/openapi_answers.rs` validates a real answer of each such operation against it;
//! * a secured operation documents 401 and 403, a secured change 404 and 409, one with a path
//!   parameter 404, one that takes
//!   input 400, one with a JSON body 413 and 415, a public one 429, any that reads the store 503;
//! * every operation has one tag, named in the document's tag list;
//! * bodies and answers are the domain's own types where there is one (core's request types,
//!   views and proofs, gavel-policy's `Outcome`/`Mode`/`PolicyRef` derive `utoipa::ToSchema`: the
//!   document is the only reason those crates know utoipa), else small serde structs here
//!   (`List<T>` for every `{"items"}` answer, `Health`, `VerifyAnswer` destructured exhaustively
//!   from the ledger's report, so a new field fails to compile). Still free-form (a described
//!   object, or the loose `Items`): the document itself.
//!
//! The request-level answers (400/401/403/404/413/415/429/503) are added here rather than on each
//! annotation because the layers and extractors that produce them are shared by every route: an
//! annotation could forget one, this cannot. Route-specific answers (409, 410, 414) stay on the
//! annotations, where the handler that produces them is.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use utoipa::ToSchema;

/// A webhook delivery's current state.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatusName {
    Retrying,
    Delivered,
    Failed,
}

/// A list answer: `{"items": [...]}`, each item an object.
#[derive(Serialize, ToSchema)]
pub struct Items {
    pub items: Vec<Map<String, Value>>,
}

/// A list answer: `{"items": [...]}`.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct List<T> {
    pub items: Vec<T>,
}

impl<T> List<T> {
    pub fn of(items: Vec<T>) -> List<T> {
        List { items }
    }
}

/// What verifying a range of the log found (`GET /v1/audit/verify`); the fields of
/// `gavel_ledger::verify::VerifyReport`, as `gavel audit verify --json` prints them.
#[derive(Serialize, ToSchema)]
pub struct VerifyAnswer {
    pub verified: u64,
    pub total: u64,
    pub valid: bool,
    /// The first seq that is missing or does not verify.
    pub first_break: Option<u64>,
    /// Why verification broke.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Signed checkpoints the recomputed roots were compared with.
    pub checkpoints_checked: u64,
    /// Entries whose payload was purged (only their leaf hash could be checked).
    pub purged: u64,
    /// What verification could not vouch for although nothing broke.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl From<gavel_ledger::verify::VerifyReport> for VerifyAnswer {
    fn from(report: gavel_ledger::verify::VerifyReport) -> VerifyAnswer {
        // Every field, by name: a field added to the report fails to compile here.
        let gavel_ledger::verify::VerifyReport {
            verified,
            total,
            valid,
            first_break,
            reason,
            checkpoints_checked,
            purged,
            warnings,
        } = report;
        VerifyAnswer { verified, total, valid, first_break, reason, checkpoints_checked, purged, warnings }
    }
}

/// `GET /healthz`.
#[derive(Serialize, ToSchema)]
pub struct Health {
    /// Always `ok`.
    pub status: String,
    /// Events in the log (the size of its Merkle tree, signed or not yet).
    pub tree_size: u64,
}

/// The log's answers are core's types.
pub use gavel_core::log::{CheckpointAnswer, ConsistencyProof, InclusionProof};

/// The schemas referenced only through `value_type` (utoipa does not collect those itself).
#[derive(utoipa::OpenApi)]
#[openapi(components(schemas(
    DeliveryStatusName,
    Items,
    Health,
    crate::error::ErrorBody,
    crate::error::ErrorDetail
)))]
pub struct SchemasDoc;

/// The tags, in the order a reader meets them.
const TAGS: &[(&str, &str)] = &[
    ("audit", "Decisions and the tamper-evident log: decide, query, trace, verify, proofs"),
    ("identity", "Users, agents and their credentials"),
    (
        "policies",
        "Cedar policy sets, two-person change control, packs, explain, the tool registry's categories",
    ),
    ("approvals", "Held calls, approvals, outcomes and bypass findings"),
    ("containment", "Kill switches, suspension and per-agent limits"),
    ("webhooks", "SIEM webhook endpoints and their deliveries"),
    ("notifications", "Notification channels for people (chat, JSON) and their deliveries"),
    ("incidents", "Detections and the incident workflow"),
    ("retention", "The retention period, purges and legal holds"),
    ("compliance", "Readiness scans, evidence exports and share links"),
    ("public", "Routes that need no token (each spends the caller's request budget)"),
];

/// The tag of an operation, from its path (public routes by their missing security).
fn tag_of(path: &str, secured: bool) -> &'static str {
    let starts = |prefixes: &[&str]| prefixes.iter().any(|p| path.starts_with(p));
    if !secured {
        "public"
    } else if path.ends_with("/suspend") || path.ends_with("/reactivate") || path.ends_with("/limits") {
        "containment"
    } else if starts(&["/v1/decisions/{id}/outcome", "/v1/approvals", "/v1/findings"]) {
        "approvals"
    } else if starts(&["/v1/audit", "/v1/decide", "/v1/decisions", "/v1/ext-authz"]) {
        "audit"
    } else if starts(&["/v1/users", "/v1/agents", "/v1/me"]) {
        "identity"
    } else if starts(&["/v1/policies", "/v1/packs", "/v1/tools", "/v1/gateway"]) {
        "policies"
    } else if starts(&["/v1/killswitch"]) {
        "containment"
    } else if starts(&["/v1/webhooks"]) {
        "webhooks"
    } else if starts(&["/v1/notifications"]) {
        "notifications"
    } else if starts(&["/v1/incidents", "/v1/detections"]) {
        "incidents"
    } else if starts(&["/v1/retention", "/v1/holds"]) {
        "retention"
    } else {
        "compliance"
    }
}

/// Operations whose 2xx body is not JSON: (path, [(media type, what it is)]).
const NOT_JSON: &[(&str, &[(&str, &str)])] = &[
    (
        "/metrics",
        &[
            ("text/plain", "Prometheus text exposition 0.0.4 (the default)"),
            (
                "application/openmetrics-text",
                "OpenMetrics 1.0.0 text exposition (when the Accept header asks for it)",
            ),
        ],
    ),
    ("/v1/policies/schema", &[("text/plain", "The Cedar schema text")]),
    ("/checkpoint", &[("text/plain", "A C2SP signed note")]),
    ("/v1/public/signing-key", &[("application/x-pem-file", "SPKI PEM")]),
    ("/v1/compliance/exports/{id}/files/{path}", &[("*/*", "The file's bytes, typed by its extension")]),
    ("/v1/public/share/{token}/files/{path}", &[("*/*", "The file's bytes, typed by its extension")]),
];

/// Routes that never touch the store, so never answer 503.
const NO_STORE: &[&str] = &["/v1/openapi.json", "/v1/policies/schema"];

const METHODS: &[&str] = &["get", "put", "post", "delete", "patch"];

fn error_response(description: &str) -> Value {
    json!({"description": description,
           "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}})
}

/// The path parameters of a template, in order.
fn template_params(path: &str) -> Vec<&str> {
    path.split('/').filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}'))).collect()
}

/// Completes the annotated document (see the module docs).
pub fn complete(doc: &mut Value) {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else { continue };
        for method in METHODS {
            let Some(op) = item.get_mut(*method).and_then(Value::as_object_mut) else { continue };
            complete_operation(path, method, op);
        }
    }
    doc["tags"] = Value::Array(TAGS.iter().map(|(n, d)| json!({"name": n, "description": d})).collect());
}

fn complete_operation(path: &str, method: &str, op: &mut Map<String, Value>) {
    let secured = op.get("security").and_then(Value::as_array).is_some_and(|s| !s.is_empty());
    op.insert("tags".into(), json!([tag_of(path, secured)]));

    // Every path parameter of the template is declared (a string unless annotated otherwise).
    let params = op.entry("parameters").or_insert_with(|| json!([]));
    if let Some(list) = params.as_array_mut() {
        for name in template_params(path) {
            let declared = list.iter().any(|p| p["name"] == name && p["in"] == "path");
            if !declared {
                list.push(
                    json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}),
                );
            }
        }
    }
    let takes_params = params.as_array().is_some_and(|l| !l.is_empty());
    if !takes_params {
        op.remove("parameters");
    }
    let json_body = op
        .get("requestBody")
        .and_then(|b| b.get("content"))
        .and_then(|c| c.get("application/json"))
        .is_some();
    let body_required = json_body && op["requestBody"]["required"] == json!(true);

    let responses = op.entry("responses").or_insert_with(|| json!({}));
    let Some(responses) = responses.as_object_mut() else { return };
    for (status, response) in responses.iter_mut() {
        let Some(response) = response.as_object_mut() else { continue };
        let description = response.get("description").and_then(Value::as_str).unwrap_or_default().to_string();
        if status.starts_with('2') {
            if let Some((_, media)) = NOT_JSON.iter().find(|(p, _)| *p == path) {
                let content: serde_json::Map<String, Value> = media
                    .iter()
                    .map(|(m, what)| {
                        (m.to_string(), json!({"schema": {"type": "string", "description": what}}))
                    })
                    .collect();
                response.insert("content".into(), Value::Object(content));
            } else if !response.contains_key("content") {
                response.insert(
                    "content".into(),
                    json!({"application/json": {"schema": {"type": "object", "description": description}}}),
                );
            }
        } else if status.starts_with('4') || status.starts_with('5') {
            *response = error_response(&description).as_object().cloned().unwrap_or_default();
        }
    }
    let mut add = |status: &str, description: &str| {
        responses.entry(status.to_string()).or_insert_with(|| error_response(description));
    };
    let path_params = !template_params(path).is_empty();
    if takes_params || json_body || method != "get" {
        add("400", "Invalid request: a malformed or out-of-range parameter or body");
    }
    if secured {
        add("401", "Missing, unknown or revoked credential");
        add("403", "The caller's role may not do this");
    }
    if path_params {
        add("404", "No such resource");
    }
    if secured && method != "get" {
        // A change names things in its body too (an agent, an incident, an export, a framework),
        // and the state may not allow it now (already done, not pending, a name taken, changed
        // concurrently): every secured change can answer both.
        add("404", "Something the request names does not exist");
        add("409", "The current state does not allow it (already done, not pending, name taken, changed concurrently)");
    }
    if method != "get" {
        add("413", "The body is larger than 2 MiB");
    }
    if body_required {
        add("415", "The body is not declared as application/json");
    }
    if !secured {
        add("429", "The source's request budget is spent (Retry-After)");
    }
    if !NO_STORE.contains(&path) {
        add("503", "The store cannot be read or the log cannot commit");
    }
}
