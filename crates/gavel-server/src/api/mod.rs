//! The `/v1` API: the route table, the router built from it, and the OpenAPI document generated
//! from the handlers' annotations.
//!
//! One module per resource; each handler translates HTTP to one `gavel_core::Gavel` call and its
//! answer back (every rule, the caller's permission included, is checked in core):
//!
//! | module | routes | core |
//! |---|---|---|
//! | `health` | `/healthz`, `/readyz`, `/metrics`, `/v1/openapi.json` (public) | — |
//! | `decisions` | `/v1/decide`, `/v1/decisions/{id}`, `…/outcome` | `decide`, `approvals` |
//! | `audit` | `/v1/audit…`, `/checkpoint` (public) | `audit`, the log |
//! | `users` | `/v1/me`, `/v1/users…` | `identity` |
//! | `agents` | `/v1/agents…` (inventory, suspend, limits included) | `identity`, `containment` |
//! | `policies` | `/v1/policies…`, `/v1/packs…`, `/v1/policies/schema` (public) | `policies` |
//! | `explain` | `/v1/policies/explain` | `explain` |
//! | `gateway` | `POST /v1/gateway/tools` (the MCP gateway, as its agent) | `gateway` |
//! | `tools` | `/v1/tools…` (the registry's categories, two-person changes), `GET /v1/gateway/tools` | `tool_categories`, `gateway` |
//! | `ext_authz` | `/v1/ext-authz/{*path}`, `/v1/ext-authz/` (a proxy's external authorization check) | `decide` (shared with `decisions`) |
//! | `approvals` | `/v1/approvals…` | `approvals` |
//! | `findings` | `/v1/findings…` | `approvals` |
//! | `killswitches` | `/v1/killswitch…` | `containment` |
//! | `webhooks` | `/v1/webhooks…` | `webhooks` |
//! | `notifications` | `/v1/notifications/channels…` | `notifications` |
//! | `incidents` | `/v1/incidents…`, `/v1/detections` | `incidents`, `detectors` |
//! | `retention` | `/v1/retention…`, `/v1/holds…` | `retention` |
//! | `crate::compliance_api` | `/v1/compliance…`, `/v1/shares…`, `/v1/public…` | `compliance`, `evidence_runs`, `shares` |
//!
//! `extract` holds the extractors (gavel's error shape on every rejection) and `as_caller`,
//! which authenticates the bearer token and runs the core call on the blocking pool. Request
//! bodies and queries are core's types where core has one (`DecideRequest`, `NewAgent`,
//! `AuditFilter`, …); the bodies declared here only carry a core call's arguments.

mod agents;
mod approvals;
mod audit;
mod decisions;
mod explain;
mod ext_authz;
mod extract;
mod findings;
mod gateway;
mod health;
mod incidents;
mod killswitches;
mod notifications;
mod policies;
mod retention;
mod tools;
mod users;
mod webhooks;

pub(crate) use extract::as_caller;
pub use extract::{ApiJson, ApiPath, ApiQuery, Bearer, MaybeJson, NoBody};

use crate::error::{ApiError, ErrorBody};
use crate::AppState;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter};
use axum::{Json, Router};
use gavel_core::Gavel;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;
use utoipa::{OpenApi, ToSchema};

/// A 201 with `v` as its JSON body.
pub(crate) fn created(v: impl serde::Serialize) -> Response {
    (StatusCode::CREATED, Json(json!(v))).into_response()
}

/// One route of the API. The router is built from these tables, and `tests/openapi.rs` compares
/// them with the OpenAPI document (both ways), so no route is served undocumented.
pub struct Route {
    pub method: Method,
    /// The axum template (`{id}`, `{*path}` for a rest-of-path parameter).
    pub path: &'static str,
    handler: MethodRouter<AppState>,
}

/// A route answering `method` on `path` with `handler`.
#[allow(
    clippy::expect_used,
    reason = "the route tables are static; every route is served in tests/openapi.rs"
)]
pub(crate) fn route<H, T>(method: Method, path: &'static str, handler: H) -> Route
where
    H: axum::handler::Handler<T, AppState>,
    T: 'static,
{
    // The tables name only the methods axum routes (GET, POST, PUT, DELETE).
    let filter = MethodFilter::try_from(method.clone()).expect("a method axum can route");
    Route { method, path, handler: axum::routing::on(filter, handler) }
}

/// The routes that need no token: each request spends its source's budget first.
pub fn public_routes() -> Vec<Route> {
    let mut routes = vec![
        route(Method::GET, "/healthz", health::healthz),
        route(Method::GET, "/readyz", health::readyz),
        route(Method::GET, "/metrics", health::metrics),
        route(Method::GET, "/v1/openapi.json", health::openapi),
        route(Method::GET, "/v1/policies/schema", policies::policy_schema),
        route(Method::GET, "/checkpoint", audit::public_checkpoint),
        route(Method::GET, "/v1/audit/consistency", audit::consistency_proof),
    ];
    routes.extend(crate::compliance_api::public_routes());
    routes
}

/// The routes that authenticate a bearer token.
pub fn secured_routes() -> Vec<Route> {
    let mut routes = vec![
        route(Method::POST, "/v1/decide", decisions::decide),
        route(Method::GET, "/v1/decisions/{id}", decisions::get_decision),
        route(Method::POST, "/v1/decisions/{id}/outcome", decisions::record_outcome),
        route(Method::GET, "/v1/audit", audit::audit),
        route(Method::GET, "/v1/audit/trace/{id}", audit::trace),
        route(Method::GET, "/v1/audit/verify", audit::verify),
        route(Method::GET, "/v1/audit/checkpoint", audit::checkpoint),
        route(Method::GET, "/v1/audit/proof/inclusion", audit::inclusion_proof),
        route(Method::GET, "/v1/me", users::me),
        route(Method::GET, "/v1/users", users::list_users),
        route(Method::POST, "/v1/users", users::create_user),
        route(Method::GET, "/v1/users/{id}", users::get_user),
        route(Method::POST, "/v1/users/{id}/role", users::set_role),
        route(Method::POST, "/v1/users/{id}/deactivate", users::deactivate_user),
        route(Method::POST, "/v1/users/{id}/rotate", users::rotate_user),
        route(Method::GET, "/v1/agents", agents::list_agents),
        route(Method::POST, "/v1/agents", agents::create_agent),
        route(Method::GET, "/v1/agents/inventory", agents::agent_inventory),
        route(Method::GET, "/v1/agents/{id}", agents::get_agent),
        route(Method::POST, "/v1/agents/{id}/deactivate", agents::deactivate_agent),
        route(Method::POST, "/v1/agents/{id}/rotate", agents::rotate_agent),
        route(Method::POST, "/v1/agents/{id}/suspend", agents::suspend_agent),
        route(Method::POST, "/v1/agents/{id}/reactivate", agents::reactivate_agent),
        route(Method::POST, "/v1/agents/{id}/limits", agents::set_limits),
        route(Method::GET, "/v1/policies", policies::list_policies),
        route(Method::POST, "/v1/policies", policies::propose_policy),
        route(Method::POST, "/v1/policies/explain", explain::explain),
        route(Method::POST, "/v1/gateway/tools", gateway::tools_seen),
        route(Method::GET, "/v1/gateway/tools", tools::list_upstream_tools),
        route(Method::GET, "/v1/tools", tools::list_tools),
        route(Method::GET, "/v1/tools/changes", tools::list_tool_changes),
        route(Method::POST, "/v1/tools/changes", tools::propose_tool_change),
        route(Method::GET, "/v1/tools/changes/{id}", tools::get_tool_change),
        route(Method::POST, "/v1/tools/changes/{id}/approve", tools::approve_tool_change),
        route(Method::POST, "/v1/tools/changes/{id}/reject", tools::reject_tool_change),
        route(Method::POST, "/v1/ext-authz/{*path}", ext_authz::check_post),
        route(Method::GET, "/v1/ext-authz/{*path}", ext_authz::check_get),
        route(Method::DELETE, "/v1/ext-authz/{*path}", ext_authz::check_delete),
        route(Method::POST, "/v1/ext-authz/", ext_authz::check_root_post),
        route(Method::GET, "/v1/ext-authz/", ext_authz::check_root_get),
        route(Method::DELETE, "/v1/ext-authz/", ext_authz::check_root_delete),
        route(Method::GET, "/v1/policies/changes", policies::list_changes),
        route(Method::GET, "/v1/policies/changes/{id}", policies::get_change),
        route(Method::POST, "/v1/policies/changes/{id}/approve", policies::approve_change),
        route(Method::POST, "/v1/policies/changes/{id}/reject", policies::reject_change),
        route(Method::GET, "/v1/policies/{set}", policies::get_policy),
        route(Method::GET, "/v1/policies/{set}/versions", policies::policy_versions),
        route(Method::GET, "/v1/policies/{set}/versions/{version}", policies::policy_version),
        route(Method::POST, "/v1/policies/{set}/activate", policies::activate_policy),
        route(Method::POST, "/v1/policies/{set}/deactivate", policies::deactivate_policy),
        route(Method::GET, "/v1/packs", policies::list_packs),
        route(Method::POST, "/v1/packs/{name}/install", policies::install_pack),
        route(Method::POST, "/v1/packs/{name}/golive", policies::golive_pack),
        route(Method::GET, "/v1/approvals", approvals::list_approvals),
        route(Method::GET, "/v1/approvals/{id}", approvals::get_approval),
        route(Method::POST, "/v1/approvals/{id}/decide", approvals::decide_approval),
        route(Method::GET, "/v1/findings", findings::list_findings),
        route(Method::POST, "/v1/findings/{id}/acknowledge", findings::acknowledge_finding),
        route(Method::POST, "/v1/findings/{id}/resolve", findings::resolve_finding),
        route(Method::GET, "/v1/killswitch", killswitches::list_killswitches),
        route(Method::POST, "/v1/killswitch", killswitches::engage_killswitch),
        route(Method::POST, "/v1/killswitch/release", killswitches::release_killswitch),
        route(Method::GET, "/v1/webhooks", webhooks::list_webhooks),
        route(Method::POST, "/v1/webhooks", webhooks::create_webhook),
        route(Method::GET, "/v1/webhooks/{id}", webhooks::get_webhook),
        route(Method::DELETE, "/v1/webhooks/{id}", webhooks::disable_webhook),
        route(Method::POST, "/v1/webhooks/{id}/update", webhooks::update_webhook),
        route(Method::POST, "/v1/webhooks/{id}/rotate-secret", webhooks::rotate_webhook_secret),
        route(Method::GET, "/v1/webhooks/{id}/deliveries", webhooks::webhook_deliveries),
        route(Method::GET, "/v1/notifications/channels", notifications::list_channels),
        route(Method::POST, "/v1/notifications/channels", notifications::create_channel),
        route(Method::POST, "/v1/notifications/channels/{id}/disable", notifications::disable_channel),
        route(Method::GET, "/v1/notifications/channels/{id}/deliveries", notifications::channel_deliveries),
        route(Method::GET, "/v1/incidents", incidents::list_incidents),
        route(Method::POST, "/v1/incidents", incidents::create_incident),
        route(Method::GET, "/v1/incidents/{id}", incidents::get_incident),
        route(Method::POST, "/v1/incidents/{id}/assign", incidents::assign_incident),
        route(Method::POST, "/v1/incidents/{id}/triage", incidents::triage_incident),
        route(Method::POST, "/v1/incidents/{id}/notes", incidents::note_incident),
        route(Method::POST, "/v1/incidents/{id}/contain", incidents::contain_incident),
        route(Method::POST, "/v1/incidents/{id}/resolve", incidents::resolve_incident),
        route(Method::GET, "/v1/detections", incidents::list_detections),
        route(Method::GET, "/v1/retention", retention::show_retention),
        route(Method::PUT, "/v1/retention", retention::set_retention),
        route(Method::POST, "/v1/retention/approve", retention::approve_retention),
        route(Method::POST, "/v1/retention/purge", retention::purge),
        route(Method::GET, "/v1/holds", retention::list_holds),
        route(Method::POST, "/v1/holds", retention::place_hold),
        route(Method::GET, "/v1/holds/{id}", retention::get_hold),
        route(Method::POST, "/v1/holds/{id}/release", retention::request_release),
        route(Method::POST, "/v1/holds/{id}/release/approve", retention::approve_release),
    ];
    routes.extend(crate::compliance_api::routes());
    routes
}

/// Every route as (method, axum path template, needs a token).
pub fn route_list() -> Vec<(Method, &'static str, bool)> {
    let public = public_routes().into_iter().map(|r| (r.method, r.path, false));
    public.chain(secured_routes().into_iter().map(|r| (r.method, r.path, true))).collect()
}

fn build(routes: Vec<Route>) -> Router<AppState> {
    routes.into_iter().fold(Router::new(), |router, r| router.route(r.path, r.handler))
}

pub fn router(state: AppState) -> Router {
    let public = build(public_routes())
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), crate::public::source_budget));
    build(secured_routes())
        .merge(public)
        .merge(crate::console::router(state.clone()))
        .route_layer(axum::middleware::from_fn(crate::access_log::note_route))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        // An oversized body is refused before routing, authentication or any handler.
        .layer(axum::extract::DefaultBodyLimit::max(state.http_limits.max_body_bytes))
        .layer(axum::middleware::from_fn_with_state(state.clone(), crate::body_limit::limit_body))
        // Every request, refused ones included, gets its access log line.
        .layer(axum::middleware::from_fn(crate::access_log::log_request))
        // Outermost: who the client is, for the access log, the budgets and the records.
        .layer(axum::middleware::from_fn_with_state(state.clone(), crate::client_addr::resolve))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "method not allowed on this route")
}

/// The optional body of the routes that record why (deactivate, reactivate, disable).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonBody {
    #[serde(default)]
    pub reason: Option<String>,
}

/// The whole OpenAPI document: the operations of [`ApiDoc`] and of `crate::compliance_api`,
/// completed by [`crate::openapi::complete`]. Built once: it depends on nothing but the code.
pub fn api_doc() -> &'static Value {
    static DOC: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    DOC.get_or_init(|| {
        let mut doc = ApiDoc::openapi();
        doc.merge(crate::compliance_api::ComplianceDoc::openapi());
        doc.merge(crate::openapi::SchemasDoc::openapi());
        // Serializing utoipa's own model cannot fail (string keys, no non-finite numbers).
        let mut doc = serde_json::to_value(&doc).unwrap_or(Value::Null);
        crate::openapi::complete(&mut doc);
        doc
    })
}

struct BearerScheme;

impl utoipa::Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The annotated operations of every module here (the route table's, in its order).
#[derive(OpenApi)]
#[openapi(
    info(title = "gavel", description = "Governance and tamper-evident audit for AI agent tool calls"),
    paths(
        health::healthz, health::readyz, health::metrics, health::openapi,
        decisions::decide, decisions::get_decision, decisions::record_outcome,
        audit::audit, audit::trace, audit::verify, audit::checkpoint, audit::public_checkpoint,
        audit::consistency_proof, audit::inclusion_proof,
        users::me, users::create_user, users::list_users, users::get_user, users::set_role,
        users::deactivate_user, users::rotate_user,
        agents::create_agent, agents::list_agents, agents::get_agent, agents::deactivate_agent,
        agents::rotate_agent, agents::agent_inventory, agents::suspend_agent, agents::reactivate_agent,
        agents::set_limits,
        policies::list_policies, policies::propose_policy, policies::policy_schema, policies::list_changes,
        policies::get_change, policies::approve_change, policies::reject_change, policies::get_policy,
        policies::policy_versions, policies::policy_version, policies::activate_policy,
        policies::deactivate_policy, policies::list_packs, policies::install_pack, policies::golive_pack,
        explain::explain,
        gateway::tools_seen,
        tools::list_upstream_tools, tools::list_tools, tools::list_tool_changes, tools::propose_tool_change, tools::get_tool_change,
        tools::approve_tool_change, tools::reject_tool_change,
        ext_authz::check_post, ext_authz::check_get, ext_authz::check_delete,
        ext_authz::check_root_post, ext_authz::check_root_get, ext_authz::check_root_delete,
        approvals::list_approvals, approvals::get_approval, approvals::decide_approval,
        findings::list_findings, findings::acknowledge_finding, findings::resolve_finding,
        killswitches::list_killswitches, killswitches::engage_killswitch, killswitches::release_killswitch,
        webhooks::create_webhook, webhooks::list_webhooks, webhooks::get_webhook, webhooks::update_webhook,
        webhooks::rotate_webhook_secret, webhooks::disable_webhook, webhooks::webhook_deliveries,
        notifications::list_channels, notifications::create_channel, notifications::disable_channel,
        notifications::channel_deliveries,
        incidents::list_incidents, incidents::create_incident, incidents::get_incident,
        incidents::assign_incident, incidents::triage_incident, incidents::note_incident,
        incidents::contain_incident, incidents::resolve_incident, incidents::list_detections,
        retention::show_retention, retention::set_retention, retention::approve_retention, retention::purge,
        retention::list_holds, retention::place_hold, retention::get_hold, retention::request_release,
        retention::approve_release,
    ),
    components(schemas(ErrorBody)),
    modifiers(&BearerScheme)
)]
pub struct ApiDoc;

/// The state handlers share; exposed for tests that build a router directly.
pub fn state_gavel(state: &AppState) -> Arc<Gavel> {
    state.gavel.clone()
}
