//! Routes and handlers of the `/v1` API, with the OpenAPI document generated from them.

use crate::error::{ApiError, ErrorBody};
use crate::metrics::DecisionLabels;
use crate::openapi::{CheckpointAnswer, ConsistencyProof, InclusionProof, List, VerifyAnswer};
use crate::AppState;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::Method;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter};
use axum::{Json, Router};
use gavel_core::approvals::{
    Approval, ApprovalStatus, ApprovalVerdict, FindingView, OutcomeRequest, RecordedOutcome,
};
use gavel_core::audit::{AuditFilter, DecisionView, Page, Trace};
use gavel_core::containment::{KillSwitch, Limits, Scope, ScopeKind};
use gavel_core::decide::{DecideRequest, DecideResponse};
use gavel_core::identity::{InventoryEntry, Issued};
use gavel_core::policies::{ChangeStatus, PackInfo, PolicyChange, PolicyHistory, PolicySet, PolicyVersion};
use gavel_core::webhooks::{CreatedEndpoint, DeliveryAttempt, EndpointDetail, EndpointView, RotatedSecret};
use gavel_core::{Agent, CoreError, Gavel, NewAgent, Principal, Role, User};
use gavel_ledger::hash::to_hex;
use gavel_policy::Mode;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Instant;
use utoipa::{OpenApi, ToSchema};

/// JSON body extractor whose rejections use gavel's error shape.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let Json(v) = Json::<T>::from_request(req, state).await?;
        Ok(ApiJson(v))
    }
}

/// An optional JSON body: an empty body is `None` (so `POST …/approve` needs no body at all).
pub struct MaybeJson<T>(pub Option<T>);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for MaybeJson<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::bad_request(e.body_text()))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(MaybeJson(None));
        }
        serde_json::from_slice(&bytes)
            .map(|v| MaybeJson(Some(v)))
            .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
    }
}

/// The body of a route that takes none: empty or `{}`. Anything else (malformed JSON, a field)
/// is a 400 before the handler runs, so a request the client got wrong never acts.
pub struct NoBody;

impl<S: Send + Sync> FromRequest<S> for NoBody {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match MaybeJson::<serde_json::Map<String, Value>>::from_request(req, state).await? {
            MaybeJson(None) => Ok(NoBody),
            MaybeJson(Some(m)) if m.is_empty() => Ok(NoBody),
            MaybeJson(Some(m)) => Err(ApiError::bad_request(format!(
                "this route takes no body (empty or {{}}), not the fields {:?}",
                m.keys().take(5).collect::<Vec<_>>()
            ))),
        }
    }
}

/// Query extractor whose rejections use gavel's error shape.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Query(v) = Query::<T>::from_request_parts(parts, state).await?;
        Ok(ApiQuery(v))
    }
}

/// Path extractor whose rejections (a segment that is not a number, not UTF-8) use gavel's error
/// shape; axum's own answers them in plain text.
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(v) = Path::<T>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::bad_request(e.body_text()))?;
        Ok(ApiPath(v))
    }
}

/// The bearer token of the request (authenticated later, on the blocking pool) and the peer
/// address it came from (for the record of failed authentications).
pub struct Bearer {
    pub(crate) token: String,
    pub(crate) source: Option<std::net::IpAddr>,
}

impl Bearer {
    /// Notes a refused credential (aggregated into `auth.failures` events, see
    /// `gavel_core::auth_failures`) when `error` is an authentication failure.
    pub(crate) fn note_if_refused(&self, gavel: &Gavel, error: &CoreError) {
        if matches!(error, CoreError::Unauthenticated(_)) {
            gavel.note_failed_authentication(&self.token, self.source.map(|ip| ip.to_string()).as_deref());
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Bearer {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let unauthenticated =
            |m: &str| ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", m.to_string());
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| unauthenticated("missing Authorization: Bearer <token>"))?;
        let value = value.to_str().map_err(|_| unauthenticated("malformed Authorization header"))?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or_else(|| unauthenticated("Authorization must be a Bearer token"))?;
        let source =
            parts.extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip());
        Ok(Bearer { token: token.trim().to_string(), source })
    }
}

/// Runs a domain call for the authenticated caller on the blocking pool.
pub(crate) async fn as_caller<T: Send + 'static>(
    state: &AppState,
    bearer: Bearer,
    f: impl FnOnce(&Gavel, &Principal) -> Result<T, CoreError> + Send + 'static,
) -> Result<T, ApiError> {
    let gavel = state.gavel.clone();
    let (who, result) = tokio::task::spawn_blocking(move || {
        match gavel.authenticate_caller(&bearer.token).inspect_err(|e| bearer.note_if_refused(&gavel, e)) {
            Ok(principal) => {
                let actor = principal.actor();
                (Some(format!("{}:{}", actor.kind.as_str(), actor.id)), f(&gavel, &principal))
            }
            Err(e) => (None, Err(e)),
        }
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?;
    if let Some(who) = who {
        crate::access_log::note_principal(who);
    }
    result.map_err(ApiError::from)
}

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
        route(Method::GET, "/healthz", healthz),
        route(Method::GET, "/readyz", readyz),
        route(Method::GET, "/metrics", metrics),
        route(Method::GET, "/v1/openapi.json", openapi),
        route(Method::GET, "/v1/policies/schema", policy_schema),
        route(Method::GET, "/checkpoint", public_checkpoint),
        route(Method::GET, "/v1/audit/consistency", consistency_proof),
    ];
    routes.extend(crate::compliance_api::public_routes());
    routes
}

/// The routes that authenticate a bearer token.
pub fn secured_routes() -> Vec<Route> {
    let mut routes = vec![
        route(Method::POST, "/v1/decide", decide),
        route(Method::GET, "/v1/decisions/{id}", get_decision),
        route(Method::GET, "/v1/audit", audit),
        route(Method::GET, "/v1/audit/trace/{id}", trace),
        route(Method::GET, "/v1/audit/verify", verify),
        route(Method::GET, "/v1/audit/checkpoint", checkpoint),
        route(Method::GET, "/v1/audit/proof/inclusion", inclusion_proof),
        route(Method::GET, "/v1/me", me),
        route(Method::GET, "/v1/users", list_users),
        route(Method::POST, "/v1/users", create_user),
        route(Method::GET, "/v1/users/{id}", get_user),
        route(Method::POST, "/v1/users/{id}/role", set_role),
        route(Method::POST, "/v1/users/{id}/deactivate", deactivate_user),
        route(Method::POST, "/v1/users/{id}/rotate", rotate_user),
        route(Method::GET, "/v1/agents", list_agents),
        route(Method::POST, "/v1/agents", create_agent),
        route(Method::GET, "/v1/agents/{id}", get_agent),
        route(Method::POST, "/v1/agents/{id}/deactivate", deactivate_agent),
        route(Method::POST, "/v1/agents/{id}/rotate", rotate_agent),
        route(Method::GET, "/v1/policies", list_policies),
        route(Method::POST, "/v1/policies", propose_policy),
        route(Method::GET, "/v1/policies/changes", list_changes),
        route(Method::GET, "/v1/policies/changes/{id}", get_change),
        route(Method::POST, "/v1/policies/changes/{id}/approve", approve_change),
        route(Method::POST, "/v1/policies/changes/{id}/reject", reject_change),
        route(Method::GET, "/v1/policies/{set}", get_policy),
        route(Method::GET, "/v1/policies/{set}/versions", policy_versions),
        route(Method::GET, "/v1/policies/{set}/versions/{version}", policy_version),
        route(Method::POST, "/v1/policies/{set}/activate", activate_policy),
        route(Method::POST, "/v1/policies/{set}/deactivate", deactivate_policy),
        route(Method::POST, "/v1/decisions/{id}/outcome", record_outcome),
        route(Method::GET, "/v1/approvals", list_approvals),
        route(Method::GET, "/v1/approvals/{id}", get_approval),
        route(Method::POST, "/v1/approvals/{id}/decide", decide_approval),
        route(Method::GET, "/v1/findings", list_findings),
        route(Method::POST, "/v1/findings/{id}/acknowledge", acknowledge_finding),
        route(Method::POST, "/v1/findings/{id}/resolve", resolve_finding),
        route(Method::GET, "/v1/agents/inventory", agent_inventory),
        route(Method::POST, "/v1/agents/{id}/suspend", suspend_agent),
        route(Method::POST, "/v1/agents/{id}/reactivate", reactivate_agent),
        route(Method::POST, "/v1/agents/{id}/limits", set_limits),
        route(Method::GET, "/v1/killswitch", list_killswitches),
        route(Method::POST, "/v1/killswitch", engage_killswitch),
        route(Method::POST, "/v1/killswitch/release", release_killswitch),
        route(Method::GET, "/v1/packs", list_packs),
        route(Method::POST, "/v1/packs/{name}/install", install_pack),
        route(Method::POST, "/v1/packs/{name}/golive", golive_pack),
        route(Method::GET, "/v1/webhooks", list_webhooks),
        route(Method::POST, "/v1/webhooks", create_webhook),
        route(Method::GET, "/v1/webhooks/{id}", get_webhook),
        route(Method::DELETE, "/v1/webhooks/{id}", disable_webhook),
        route(Method::POST, "/v1/webhooks/{id}/update", update_webhook),
        route(Method::POST, "/v1/webhooks/{id}/rotate-secret", rotate_webhook_secret),
        route(Method::GET, "/v1/webhooks/{id}/deliveries", webhook_deliveries),
    ];
    routes.extend(crate::retention_api::routes());
    routes.extend(crate::incidents_api::routes());
    routes.extend(crate::explain_api::routes());
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
        .route_layer(axum::middleware::from_fn(crate::access_log::note_route))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        // An oversized body is refused before routing, authentication or any handler.
        .layer(axum::extract::DefaultBodyLimit::max(crate::body_limit::MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(crate::body_limit::limit_body))
        // Outermost: every request, refused ones included, gets its access log line.
        .layer(axum::middleware::from_fn(crate::access_log::log_request))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "method not allowed on this route")
}

#[utoipa::path(get, path = "/healthz", responses((status = 200, description = "The server runs and the log is readable", body = crate::openapi::Health)))]
async fn healthz(State(state): State<AppState>) -> Result<Json<crate::openapi::Health>, ApiError> {
    let log = state.log.clone();
    let head = tokio::task::spawn_blocking(move || gavel_store::Store::head(log.store().as_ref()))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(|e| ApiError::from(CoreError::from(e)))?;
    Ok(Json(crate::openapi::Health { status: "ok".into(), tree_size: head.size }))
}

/// Readiness for load balancers: 200 when the log commits, the detectors keep up and the disk
/// has room; otherwise 503 naming each failing check (see `readiness`).
#[utoipa::path(get, path = "/readyz", responses(
    (status = 200, description = "Ready: {status: \"ready\", checks: {commit, detectors, disk}}, each {ok, detail}"),
    (status = 503, description = "Not ready: the error body plus {status: \"unready\", failing: [names], checks}")))]
async fn readyz(State(state): State<AppState>) -> Result<Response, ApiError> {
    let (readiness, log, metrics) = (state.readiness.clone(), state.log.clone(), state.metrics.clone());
    let report = tokio::task::spawn_blocking(move || crate::readiness::evaluate(&readiness, &log, &metrics))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let checks: serde_json::Map<String, Value> =
        report.checks().into_iter().map(|(name, c)| (name.to_string(), json!(c))).collect();
    if report.ready {
        return Ok(Json(json!({"status": "ready", "checks": checks})).into_response());
    }
    let failing = report.failing();
    let message = report
        .checks()
        .into_iter()
        .filter(|(_, c)| !c.ok)
        .map(|(name, c)| format!("{name}: {}", c.detail))
        .collect::<Vec<_>>()
        .join("; ");
    let body = json!({
        "error": {"code": "unavailable", "message": format!("not ready: {message}")},
        "status": "unready",
        "failing": failing,
        "checks": checks,
    });
    Ok((StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response())
}

/// The metrics, in the format the `Accept` header asks for (`crate::metrics::Format::negotiate`):
/// OpenMetrics 1.0.0 when the scraper accepts it, else the Prometheus text format 0.0.4.
#[utoipa::path(get, path = "/metrics", responses((status = 200, description = "Prometheus text exposition 0.0.4, or OpenMetrics 1.0.0 when the Accept header asks for application/openmetrics-text")))]
async fn metrics(State(state): State<AppState>, headers: axum::http::HeaderMap) -> Response {
    // Also sets the log entries and the readiness gauges.
    let (readiness, log, metrics) = (state.readiness.clone(), state.log.clone(), state.metrics.clone());
    let _ = tokio::task::spawn_blocking(move || crate::readiness::evaluate(&readiness, &log, &metrics)).await;
    // Several Accept headers are one list (RFC 9110 5.3); a value that is not text accepts nothing.
    let accept: Vec<&str> = headers.get_all(header::ACCEPT).iter().filter_map(|v| v.to_str().ok()).collect();
    let accept = accept.join(",");
    let format = crate::metrics::Format::negotiate((!accept.is_empty()).then_some(accept.as_str()));
    ([(header::CONTENT_TYPE, format.content_type()), (header::VARY, "accept")], state.metrics.encode(format))
        .into_response()
}

#[utoipa::path(get, path = "/v1/openapi.json", responses((status = 200, description = "This document (OpenAPI 3.1)")))]
async fn openapi() -> Json<Value> {
    Json(api_doc().clone())
}

/// The whole OpenAPI document: the routes here and the ones of the other API modules, completed
/// by [`crate::openapi::complete`]. Built once: it depends on nothing but the code.
pub fn api_doc() -> &'static Value {
    static DOC: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    DOC.get_or_init(|| {
        let mut doc = ApiDoc::openapi();
        doc.merge(crate::retention_api::RetentionDoc::openapi());
        doc.merge(crate::explain_api::ExplainDoc::openapi());
        doc.merge(crate::compliance_api::ComplianceDoc::openapi());
        doc.merge(crate::incidents_api::IncidentsDoc::openapi());
        doc.merge(crate::openapi::SchemasDoc::openapi());
        // Serializing utoipa's own model cannot fail (string keys, no non-finite numbers).
        let mut doc = serde_json::to_value(&doc).unwrap_or(Value::Null);
        crate::openapi::complete(&mut doc);
        doc
    })
}

#[utoipa::path(post, path = "/v1/decide", request_body = DecideRequest,
    responses((status = 200, description = "The decision, recorded", body = DecideResponse),
              (status = 400, description = "Bad request"), (status = 401, description = "Unknown or revoked agent credential"),
              (status = 503, description = "The log could not commit: treat as deny")),
    security(("bearer" = [])))]
async fn decide(
    State(state): State<AppState>,
    bearer: Bearer,
    ApiJson(req): ApiJson<DecideRequest>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let metrics = state.metrics.clone();
    // Not `as_caller`: decide authenticates through its epoch-checked cache. Unlike the other
    // handlers, its synchronous part (cached authentication, one read transaction, evaluation,
    // the event) runs inline on the async worker: it is short (~75 µs of CPU under load), never
    // waits for the log writer, and the hand-off to the blocking pool and back cost more than
    // it (BENCHMARKS.md, decide path, stop 10). The wait for the writer's commit is awaited
    // without holding any thread, and the answer is built only from the committed decision.
    // A panic there still answers, with a 500 the agent treats as deny, instead of dropping the
    // connection (on the blocking pool it was a JoinError, answered the same way).
    let submitted = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        state
            .gavel
            .submit_decision_with_token(&bearer.token, req)
            .inspect_err(|e| bearer.note_if_refused(&state.gavel, e))
    }))
    .map_err(|_| ApiError::internal("the decision failed unexpectedly; treat the call as denied"))
    .and_then(|r| r.map_err(ApiError::from));
    let result = match submitted {
        Ok(pending) => {
            crate::access_log::note_principal(format!("agent:{}", pending.agent_id()));
            pending.committed().await.map_err(ApiError::from)
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(decision) => {
            metrics.decide_latency.observe(started.elapsed().as_secs_f64());
            metrics
                .decisions
                .get_or_create(&DecisionLabels {
                    outcome: decision.decision.as_str().into(),
                    enforced: decision.enforced.to_string(),
                })
                .inc();
            Ok(Json(decision).into_response())
        }
        Err(e) => {
            if e.status == StatusCode::SERVICE_UNAVAILABLE {
                metrics.decide_unavailable.inc();
            }
            Err(e)
        }
    }
}

#[utoipa::path(get, path = "/v1/decisions/{id}", params(("id" = String, Path)), responses((status = 200, description = "One recorded decision", body = DecisionView)), security(("bearer" = [])))]
async fn get_decision(
    State(s): State<AppState>,
    b: Bearer,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<DecisionView>, ApiError> {
    as_caller(&s, b, move |g, p| g.decision(p, &id)).await.map(Json)
}

#[utoipa::path(get, path = "/v1/audit", params(AuditFilter), responses((status = 200, description = "Recorded decisions, newest first, and the cursor of the next page", body = Page)), security(("bearer" = [])))]
async fn audit(
    State(s): State<AppState>,
    b: Bearer,
    ApiQuery(filter): ApiQuery<AuditFilter>,
) -> Result<Json<Page>, ApiError> {
    as_caller(&s, b, move |g, p| g.audit_decisions(p, &filter)).await.map(Json)
}

#[utoipa::path(get, path = "/v1/audit/trace/{id}", params(("id" = String, Path, description = "decision id")), responses((status = 200, description = "One action end to end", body = Trace)), security(("bearer" = [])))]
async fn trace(
    State(s): State<AppState>,
    b: Bearer,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Trace>, ApiError> {
    as_caller(&s, b, move |g, p| g.trace(p, &id)).await.map(Json)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct VerifyQuery {
    /// First seq (default 0).
    pub offset: Option<u64>,
    /// How many events (default: to the end).
    pub limit: Option<u64>,
}

#[utoipa::path(get, path = "/v1/audit/verify", params(VerifyQuery), responses((status = 200, description = "What verification of the range found", body = VerifyAnswer)), security(("bearer" = [])))]
async fn verify(
    State(s): State<AppState>,
    b: Bearer,
    ApiQuery(q): ApiQuery<VerifyQuery>,
) -> Result<Json<VerifyAnswer>, ApiError> {
    let log = s.log.clone();
    let from = q.offset.unwrap_or(0);
    let to = q.limit.map(|l| from.saturating_add(l));
    as_caller(&s, b, move |g, p| g.verify_log(p, &log, from, to)).await.map(|r| Json(VerifyAnswer::from(r)))
}

#[utoipa::path(get, path = "/v1/audit/checkpoint", responses((status = 200, description = "The latest signed checkpoint (signing one if the log grew)", body = CheckpointAnswer)), security(("bearer" = [])))]
async fn checkpoint(State(s): State<AppState>, b: Bearer) -> Result<Json<CheckpointAnswer>, ApiError> {
    let log = s.log.clone();
    as_caller(&s, b, move |_, p| {
        p.require_reader()?;
        let c = log.checkpoint()?;
        Ok(CheckpointAnswer {
            tree_size: c.size,
            root: to_hex(&c.root),
            note: c.note,
            created_at: c.created_at,
            log_key: log.signer().verifier_key(),
        })
    })
    .await
    .map(Json)
}

/// The latest signed checkpoint as a plain C2SP signed note, for monitors and witnesses that
/// follow the log. Public, like a transparency log's checkpoint (it reveals the log's size and
/// root, nothing of its content); it never signs on demand (the server signs every 10 s).
#[utoipa::path(get, path = "/checkpoint", responses(
    (status = 200, description = "The latest signed checkpoint (C2SP signed note)", content_type = "text/plain; charset=utf-8", body = String),
    (status = 404, description = "No checkpoint has been signed yet", body = ErrorBody),
    (status = 429, description = "The source's request budget is spent", body = ErrorBody)))]
async fn public_checkpoint(State(s): State<AppState>) -> Result<Response, ApiError> {
    let log = s.log.clone();
    let latest = tokio::task::spawn_blocking(move || log.latest_authentic_checkpoint())
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(|e| ApiError::from(CoreError::from(e)))?;
    let c = latest.ok_or_else(|| {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", "no checkpoint has been signed yet")
    })?;
    Ok(([(axum::http::header::CONTENT_TYPE, "text/plain; charset=utf-8")], c.note).into_response())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ConsistencyQuery {
    /// The older tree size (the size of a checkpoint the caller holds).
    pub old: u64,
    /// The newer tree size (default: the latest signed checkpoint).
    pub new: Option<u64>,
}

/// An RFC 9162 consistency proof from an older tree size to a newer one (default: the latest
/// signed checkpoint, returned with it), so a holder of an old checkpoint can check that the log
/// only grew. Public for the same reason as `/checkpoint`.
#[utoipa::path(get, path = "/v1/audit/consistency", params(ConsistencyQuery), responses(
    (status = 200, description = "RFC 9162 consistency proof", body = ConsistencyProof),
    (status = 400, description = "Sizes out of range", body = ErrorBody),
    (status = 404, description = "No checkpoint has been signed yet", body = ErrorBody),
    (status = 429, description = "The source's request budget is spent", body = ErrorBody)))]
async fn consistency_proof(
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<ConsistencyQuery>,
) -> Result<Json<ConsistencyProof>, ApiError> {
    let log = s.log.clone();
    tokio::task::spawn_blocking(move || -> Result<ConsistencyProof, ApiError> {
        let store = log.store();
        let (new, note) = match q.new {
            Some(n) => (n, None),
            None => {
                let c = log.latest_authentic_checkpoint().map_err(|e| ApiError::from(CoreError::from(e)))?;
                let c = c.ok_or_else(|| {
                    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no checkpoint has been signed yet")
                })?;
                (c.size, Some(c.note))
            }
        };
        if q.old > new {
            return Err(ApiError::bad_request(format!("old size {} is beyond the new size {new}", q.old)));
        }
        let store_err = |e| ApiError::from(CoreError::from(e));
        let proof = gavel_store::Store::consistency_proof(store.as_ref(), q.old, new).map_err(store_err)?;
        let new_root = gavel_store::Store::root_at(store.as_ref(), new).map_err(store_err)?;
        Ok(ConsistencyProof {
            old_size: q.old,
            new_size: new,
            new_root: to_hex(&new_root),
            hashes: proof.iter().map(to_hex).collect(),
            checkpoint: note,
        })
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?
    .map(Json)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ProofQuery {
    pub seq: u64,
    /// Tree size (default: the latest checkpoint).
    pub tree_size: Option<u64>,
}

#[utoipa::path(get, path = "/v1/audit/proof/inclusion", params(ProofQuery), responses((status = 200, description = "RFC 9162 inclusion proof", body = InclusionProof), (status = 404, description = "The seq is not in the log, or no checkpoint yet")), security(("bearer" = [])))]
async fn inclusion_proof(
    State(s): State<AppState>,
    b: Bearer,
    ApiQuery(q): ApiQuery<ProofQuery>,
) -> Result<Json<InclusionProof>, ApiError> {
    let log = s.log.clone();
    as_caller(&s, b, move |_, p| {
        p.require_reader()?;
        let store = log.store();
        let (size, note) = match q.tree_size {
            Some(size) => (size, None),
            None => {
                let c = log.checkpoint()?;
                (c.size, Some(c.note))
            }
        };
        let entry = gavel_store::Store::entry(store.as_ref(), q.seq)?
            .ok_or_else(|| CoreError::NotFound(format!("seq {} is not in the log", q.seq)))?;
        let proof = gavel_store::Store::inclusion_proof(store.as_ref(), q.seq, size)?;
        let root = gavel_store::Store::root_at(store.as_ref(), size)?;
        Ok(InclusionProof {
            seq: q.seq,
            tree_size: size,
            leaf_hash: to_hex(&entry.leaf_hash),
            root: to_hex(&root),
            hashes: proof.iter().map(to_hex).collect(),
            checkpoint: note,
        })
    })
    .await
    .map(Json)
}

#[utoipa::path(get, path = "/v1/me", responses((status = 200, description = "The calling principal", body = Me)), security(("bearer" = [])))]
async fn me(State(s): State<AppState>, b: Bearer) -> Result<Json<Me>, ApiError> {
    as_caller(&s, b, |_, p| {
        Ok(match p {
            Principal::User(u) => Me::User { user: u.clone() },
            Principal::Agent(a) => Me::Agent { agent: a.clone() },
        })
    })
    .await
    .map(Json)
}

/// `GET /v1/me`: who the token belongs to.
#[derive(Serialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Me {
    User { user: User },
    Agent { agent: Agent },
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUserBody {
    pub name: String,
    pub role: Role,
}

#[utoipa::path(post, path = "/v1/users", request_body = NewUserBody, responses((status = 201, description = "The user and its token (shown once)", body = Issued<User>)), security(("bearer" = [])))]
async fn create_user(
    State(s): State<AppState>,
    b: Bearer,
    ApiJson(body): ApiJson<NewUserBody>,
) -> Result<Response, ApiError> {
    as_caller(&s, b, move |g, p| g.create_user(p, &body.name, body.role)).await.map(created)
}

#[utoipa::path(get, path = "/v1/users", responses((status = 200, description = "All users", body = List<User>)), security(("bearer" = [])))]
async fn list_users(State(s): State<AppState>, b: Bearer) -> Result<Json<List<User>>, ApiError> {
    as_caller(&s, b, |g, p| g.list_users(p)).await.map(|l| Json(List::of(l)))
}

#[utoipa::path(get, path = "/v1/users/{id}", params(("id" = String, Path, description = "id or name")), responses((status = 200, description = "One user", body = User)), security(("bearer" = [])))]
async fn get_user(
    State(s): State<AppState>,
    b: Bearer,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<User>, ApiError> {
    as_caller(&s, b, move |g, p| g.get_user(p, &id)).await.map(Json)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleBody {
    pub role: Role,
}

#[utoipa::path(post, path = "/v1/users/{id}/role", request_body = RoleBody, params(("id" = String, Path)), responses((status = 200, description = "The user with its new role", body = User)), security(("bearer" = [])))]
async fn set_role(
    State(s): State<AppState>,
    b: Bearer,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<RoleBody>,
) -> Result<Json<User>, ApiError> {
    as_caller(&s, b, move |g, p| g.set_user_role(p, &id, body.role)).await.map(Json)
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonBody {
    #[serde(default)]
    pub reason: Option<String>,
}

#[utoipa::path(post, path = "/v1/users/{id}/deactivate", request_body(content = Option<ReasonBody>, description = "Optional: an empty body is accepted"), params(("id" = String, Path)), responses((status = 200, description = "The deactivated user", body = User)), security(("bearer" = [])))]
async fn deactivate_user(
    State(s): State<AppState>,
    b: Bearer,
    ApiPath(id): ApiPath<String>,
    MaybeJson(body): MaybeJson<ReasonBody>,
) -> Result<Json<User>, ApiError> {
    let reason = body.and_then(|b| b.reason).unwrap_or_default();
    as_caller(&s, b, move |g, p| g.deactivate_user(p, &id, &reason)).await.map(Json)
}

#[utoipa::path(post, path = "/v1/users/{id}/rotate", params(("id" = String, Path)), responses((status = 200, description = "The user and its new token; the old one is revoked", body = Issued<User>)), security(("bearer" = [])))]
async fn rotate_user(
    State(s): State<AppState>,
    b: Bearer,
    ApiPath(id): ApiPath<String>,
    _: NoBody,
) -> Result<Json<Issued<User>>, ApiError> {
    as_caller(&s, b, move |g, p| g.rotate_user_credential(p, &id)).await.map(Json)
}

#[utoipa::path(post, path = "/v1/agents", request_body = NewAgent, responses((status = 201, description = "The agent and its token (shown once)", body = Issued<Agent>)), security(("bearer" = [])))]
async fn create_agent(
    State(s): State<AppState>,
    b: Bearer,
    ApiJson(new): ApiJson<NewAgent>,
) -> Result<Response, ApiError> {
    as_caller(&s, b, move |g, p| g.create_agent(p, new)).await.map(created)
}

#[utoipa::path(get, path = "/v1/agents", responses((status = 200, description = "All agents", body = List<Agent>)), security(("bearer" = [])))]
async fn list_agents(State(s): State<AppState>, b: Bearer) -> Result<Json<List<Agent>>, ApiError> {
    as_caller(&s, b, |g, p| g.list_agents(p)).await.map(|l| Json(List::of(l)))
}

#[utoipa::path(get, path = "/v1/agents/{id}", params(("id" = String, Path, description = "id or name")), responses((status = 200, description = "One agent", body = Agent)), security(("bearer" = [])))]
async fn get_agent(
    State(s): State<AppState>,
    b: Bearer,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Agent>, ApiError> {
    as_caller(&s, b, move |g, p| g.get_agent(p, &id)).await.map(Json)
}

#[utoipa::path(post, path = "/v1/agents/{id}/deactivate", request_body(content = Option<ReasonBody>, description = "Optional: an empty body is accepted"), params(("id" = String, Path)), responses((status = 200, description = "The deactivated agent; its calls are denied from now on", body = Agent)), security(("bearer" = [])))]
async fn deactivate_agent(
    State(s): State<AppState>,
    b: Bearer,
    ApiPath(id): ApiPath<String>,
    MaybeJson(body): MaybeJson<ReasonBody>,
) -> Result<Json<Agent>, ApiError> {
    let reason = body.and_then(|b| b.reason).unwrap_or_default();
    as_caller(&s, b, move |g, p| g.deactivate_agent(p, &id, &reason)).await.map(Json)
}

#[utoipa::path(post, path = "/v1/agents/{id}/rotate", params(("id" = String, Path)), responses((status = 200, description = "The agent and its new token; the old one is revoked", body = Issued<Agent>)), security(("bearer" = [])))]
async fn rotate_agent(
    State(s): State<AppState>,
    b: Bearer,
    ApiPath(id): ApiPath<String>,
    _: NoBody,
) -> Result<Json<Issued<Agent>>, ApiError> {
    as_caller(&s, b, move |g, p| g.rotate_agent_credential(p, &id)).await.map(Json)
}

#[utoipa::path(get, path = "/v1/policies", responses((status = 200, description = "Policy sets with their active version and mode", body = List<PolicySet>)), security(("bearer" = [])))]
async fn list_policies(State(s): State<AppState>, b: Bearer) -> Result<Json<List<PolicySet>>, ApiError> {
    as_caller(&s, b, |g, p| g.list_policy_sets(p)).await.map(|l| Json(List::of(l)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProposeBody {
    pub set_id: String,
    /// Cedar policy text, validated against the schema at GET /v1/policies/schema.
    pub text: String,
    /// enforce (default) | observe — only for a new set.
    #[serde(default)]
    pub mode: Option<Mode>,
}

#[utoipa::path(post, path = "/v1/policies", request_body = ProposeBody,
    responses((status = 201, description = "The pending change; a different admin must approve it", body = PolicyChange), (status = 400, description = "Validation failed (names the line)")),
    security(("bearer" = [])))]
async fn propose_policy(
    State(s): State<AppState>,
    b: Bearer,
    ApiJson(body): ApiJson<ProposeBody>,
) -> Result<Response, ApiError> {
    as_caller(&s, b, move |g, p| g.propose_policy(p, &body.set_id, &body.text, body.mode)).await.map(created)
}

#[utoipa::path(get, path = "/v1/policies/schema", responses((status = 200, description = "The Cedar schema policies are validated against", content_type = "text/plain")))]
async fn policy_schema() -> Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], gavel_policy::schema_text()).into_response()
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ChangesQuery {
    pub set_id: Option<String>,
    pub status: Option<ChangeStatus>,
}

#[utoipa::path(get, path = "/v1/policies/changes", params(ChangesQuery), responses((status = 200, description = "Change requests, newest first", body = List<PolicyChange>)), security(("bearer" = [])))]
async fn list_changes(
    State(s): State<AppState>,
    b: Bearer,
    ApiQuery(q): ApiQuery<ChangesQuery>,
) -> Result<Json<List<PolicyChange>>, ApiError> {
    as_caller(&s, b, move |g, p| g.list_policy_changes(p, q.set_id.as_deref(), q.status))
        .await
        .map(|l| Json(List::of(l)))
}

#[utoipa::path(get, path = "/v1/policies/changes/{id}", params(("id" = String, Path)), responses((status = 200, description = "One change request", body = PolicyChange)), security(("bearer" = [])))]
async fn get_change(
    State(s): State<AppState>,
    b: Bearer,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<PolicyChange>, ApiError> {
    as_caller(&s, b, move |g, p| g.get_policy_change(p, &id)).await.map(Json)
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommentBody {
    #[serde(default)]
    pub comment: Option<String>,
}

#[utoipa::path(post, path = "/v1/policies/changes/{id}/approve", request_body(content = Option<CommentBody>, description = "Optional: an empty body is accepted"), params(("id" = String, Path)),
    responses((status = 200, description = "Applied", body = PolicyChange), (status = 403, description = "The approver proposed it (two-person rule)"), (status = 409, description = "Already decided")),
    security(("bearer" = [])))]
async fn approve_change(
    State(s): State<AppState>,
    b: Bearer,
    ApiPath(id): ApiPath<String>,
    MaybeJson(body): MaybeJson<CommentBody>,
) -> Result<Json<PolicyChange>, ApiError> {
    let comment = body.and_then(|b| b.comment);
    as_caller(&s, b, move |g, p| g.approve_change(p, &id, comment.as_deref())).await.map(Json)
}

#[utoipa::path(post, path = "/v1/policies/changes/{id}/reject", request_body(content = Option<CommentBody>, description = "Optional: an empty body is accepted"), params(("id" = String, Path)), responses((status = 200, description = "Rejected", body = PolicyChange)), security(("bearer" = [])))]
async fn reject_change(
    State(s): State<AppState>,
    b: Bearer,
    ApiPath(id): ApiPath<String>,
    MaybeJson(body): MaybeJson<CommentBody>,
) -> Result<Json<PolicyChange>, ApiError> {
    let comment = body.and_then(|b| b.comment);
    as_caller(&s, b, move |g, p| g.reject_change(p, &id, comment.as_deref())).await.map(Json)
}

#[utoipa::path(get, path = "/v1/policies/{set}", params(("set" = String, Path)), responses((status = 200, description = "One policy set", body = PolicySet)), security(("bearer" = [])))]
async fn get_policy(
    State(s): State<AppState>,
    b: Bearer,
    ApiPath(set): ApiPath<String>,
) -> Result<Json<PolicySet>, ApiError> {
    as_caller(&s, b, move |g, p| g.get_policy_set(p, &set)).await.map(Json)
}

#[utoipa::path(get, path = "/v1/policies/{set}/versions", params(("set" = String, Path)), responses((status = 200, description = "Every version, oldest first, with the change history", body = PolicyHistory)), security(("bearer" = [])))]
async fn policy_versions(
    State(s): State<AppState>,
    b: Bearer,
    ApiPath(set): ApiPath<String>,
) -> Result<Json<PolicyHistory>, ApiError> {
    as_caller(&s, b, move |g, p| g.policy_history(p, &set)).await.map(Json)
}

#[utoipa::path(get, path = "/v1/policies/{set}/versions/{version}", params(("set" = String, Path), ("version" = u32, Path)), responses((status = 200, description = "One immutable version", body = PolicyVersion)), security(("bearer" = [])))]
async fn policy_version(
    State(s): State<AppState>,
    b: Bearer,
    ApiPath((set, version)): ApiPath<(String, u32)>,
) -> Result<Json<PolicyVersion>, ApiError> {
    as_caller(&s, b, move |g, p| g.get_policy_version(p, &set, version)).await.map(Json)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActivateBody {
    pub version: u32,
}

#[utoipa::path(post, path = "/v1/policies/{set}/activate", request_body = ActivateBody, params(("set" = String, Path)), responses((status = 201, description = "Pending change (rollback = an earlier version)", body = PolicyChange)), security(("bearer" = [])))]
async fn activate_policy(
    State(s): State<AppState>,
    b: Bearer,
    ApiPath(set): ApiPath<String>,
    ApiJson(body): ApiJson<ActivateBody>,
) -> Result<Response, ApiError> {
    as_caller(&s, b, move |g, p| g.propose_activation(p, &set, body.version)).await.map(created)
}

#[utoipa::path(post, path = "/v1/policies/{set}/deactivate", params(("set" = String, Path)), responses((status = 201, description = "Pending change", body = PolicyChange)), security(("bearer" = [])))]
async fn deactivate_policy(
    State(s): State<AppState>,
    b: Bearer,
    ApiPath(set): ApiPath<String>,
    _: NoBody,
) -> Result<Response, ApiError> {
    as_caller(&s, b, move |g, p| g.propose_deactivation(p, &set)).await.map(created)
}

#[utoipa::path(get, path = "/v1/packs", responses((status = 200, description = "Built-in packs and their install state", body = List<PackInfo>)), security(("bearer" = [])))]
async fn list_packs(State(s): State<AppState>, b: Bearer) -> Result<Json<List<PackInfo>>, ApiError> {
    as_caller(&s, b, |g, p| g.packs(p)).await.map(|l| Json(List::of(l)))
}

#[utoipa::path(post, path = "/v1/packs/{name}/install", params(("name" = String, Path)), responses((status = 201, description = "Installed in observe mode", body = PolicySet)), security(("bearer" = [])))]
async fn install_pack(
    State(s): State<AppState>,
    b: Bearer,
    ApiPath(name): ApiPath<String>,
    _: NoBody,
) -> Result<Response, ApiError> {
    as_caller(&s, b, move |g, p| g.install_pack(p, &name)).await.map(created)
}

#[utoipa::path(post, path = "/v1/packs/{name}/golive", params(("name" = String, Path)), responses((status = 201, description = "Pending change to enforce mode; a different admin must approve", body = PolicyChange)), security(("bearer" = [])))]
async fn golive_pack(
    State(s): State<AppState>,
    b: Bearer,
    ApiPath(name): ApiPath<String>,
    _: NoBody,
) -> Result<Response, ApiError> {
    as_caller(&s, b, move |g, p| g.propose_mode(p, &name, Mode::Enforce)).await.map(created)
}

#[utoipa::path(post, path = "/v1/decisions/{id}/outcome", request_body = OutcomeRequest, params(("id" = String, Path)),
    responses((status = 200, description = "Recorded; `bypass: true` flags an executed denial or unapproved call", body = RecordedOutcome),
              (status = 403, description = "Receipt refused (reused or not matching); recorded as a bypass finding"),
              (status = 409, description = "Outcome already recorded")),
    security(("bearer" = [])))]
async fn record_outcome(
    State(s): State<AppState>,
    b: Bearer,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<OutcomeRequest>,
) -> Result<Json<RecordedOutcome>, ApiError> {
    as_caller(&s, b, move |g, p| g.record_outcome(p, &id, req)).await.map(Json)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ApprovalsQuery {
    pub status: Option<ApprovalStatus>,
    pub limit: Option<u32>,
}

#[utoipa::path(get, path = "/v1/approvals", params(ApprovalsQuery), responses((status = 200, description = "Approval requests, newest first", body = List<Approval>)), security(("bearer" = [])))]
async fn list_approvals(
    State(s): State<AppState>,
    b: Bearer,
    ApiQuery(q): ApiQuery<ApprovalsQuery>,
) -> Result<Json<List<Approval>>, ApiError> {
    as_caller(&s, b, move |g, p| g.approvals(p, q.status, q.limit.unwrap_or(100)))
        .await
        .map(|l| Json(List::of(l)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct WaitQuery {
    /// Long-poll: wait up to this many seconds (max 60) while the request is pending.
    pub wait: Option<u64>,
}

/// Longest a long-poll may hold a connection.
const MAX_WAIT_SECS: u64 = 60;

#[utoipa::path(get, path = "/v1/approvals/{id}", params(("id" = String, Path), WaitQuery),
    responses((status = 200, description = "The request; for the requesting agent, an approved one carries its single-use receipt", body = Approval)),
    security(("bearer" = [])))]
async fn get_approval(
    State(s): State<AppState>,
    b: Bearer,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<WaitQuery>,
) -> Result<Json<Approval>, ApiError> {
    let wait = q.wait.unwrap_or(0);
    if wait > MAX_WAIT_SECS {
        return Err(ApiError::bad_request(format!("wait must be at most {MAX_WAIT_SECS} seconds")));
    }
    let deadline = Instant::now() + std::time::Duration::from_secs(wait);
    loop {
        let id = id.clone();
        let bearer = Bearer { token: b.token.clone(), source: b.source };
        let approval = as_caller(&s, bearer, move |g, p| g.approval(p, &id)).await?;
        if approval.status != ApprovalStatus::Pending || Instant::now() >= deadline {
            return Ok(Json(approval));
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalDecisionBody {
    pub decision: ApprovalVerdict,
    #[serde(default)]
    pub comment: Option<String>,
}

#[utoipa::path(post, path = "/v1/approvals/{id}/decide", request_body = ApprovalDecisionBody, params(("id" = String, Path)),
    responses((status = 200, description = "Decided", body = Approval), (status = 403, description = "The requester cannot approve their own request"),
              (status = 409, description = "Already decided"), (status = 410, description = "Expired")),
    security(("bearer" = [])))]
async fn decide_approval(
    State(s): State<AppState>,
    b: Bearer,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<ApprovalDecisionBody>,
) -> Result<Json<Approval>, ApiError> {
    let approve = body.decision == ApprovalVerdict::Approve;
    as_caller(&s, b, move |g, p| g.decide_approval(p, &id, approve, body.comment.as_deref())).await.map(Json)
}

#[utoipa::path(get, path = "/v1/findings", responses((status = 200, description = "Bypass findings, newest first", body = List<FindingView>)), security(("bearer" = [])))]
async fn list_findings(State(s): State<AppState>, b: Bearer) -> Result<Json<List<FindingView>>, ApiError> {
    as_caller(&s, b, |g, p| Ok(List::of(g.findings(p, 1000)?))).await.map(Json)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FindingNoteBody {
    /// What was found or done (required).
    pub note: String,
}

#[utoipa::path(post, path = "/v1/findings/{id}/acknowledge", params(("id" = String, Path, description = "Finding id")), request_body = FindingNoteBody, responses((status = 200, description = "Acknowledged (logged)", body = FindingView), (status = 403, description = "Not an approver or admin, or the agent's owner", body = ErrorBody), (status = 404, description = "No such finding", body = ErrorBody), (status = 409, description = "Already acknowledged or resolved", body = ErrorBody)), security(("bearer" = [])))]
async fn acknowledge_finding(
    State(s): State<AppState>,
    b: Bearer,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<FindingNoteBody>,
) -> Result<Json<FindingView>, ApiError> {
    as_caller(&s, b, move |g, p| g.update_finding(p, &id, false, &body.note)).await.map(Json)
}

#[utoipa::path(post, path = "/v1/findings/{id}/resolve", params(("id" = String, Path, description = "Finding id")), request_body = FindingNoteBody, responses((status = 200, description = "Resolved (logged; the finding stays in the record with its resolution)", body = FindingView), (status = 403, description = "Not an approver or admin, or the agent's owner", body = ErrorBody), (status = 404, description = "No such finding", body = ErrorBody), (status = 409, description = "Already resolved", body = ErrorBody)), security(("bearer" = [])))]
async fn resolve_finding(
    State(s): State<AppState>,
    b: Bearer,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<FindingNoteBody>,
) -> Result<Json<FindingView>, ApiError> {
    as_caller(&s, b, move |g, p| g.update_finding(p, &id, true, &body.note)).await.map(Json)
}

#[utoipa::path(get, path = "/v1/agents/inventory", responses((status = 200, description = "Every agent with first/last seen and decision counts by outcome (CC6.1)", body = List<InventoryEntry>)), security(("bearer" = [])))]
async fn agent_inventory(
    State(s): State<AppState>,
    b: Bearer,
) -> Result<Json<List<InventoryEntry>>, ApiError> {
    as_caller(&s, b, |g, p| Ok(List::of(g.agent_inventory(p)?))).await.map(Json)
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SuspendBody {
    #[serde(default)]
    pub reason: Option<String>,
    /// The incident this containment action belongs to (it must exist and be unresolved).
    #[serde(default)]
    pub incident_id: Option<String>,
}

#[utoipa::path(post, path = "/v1/agents/{id}/suspend", request_body(content = Option<SuspendBody>, description = "Optional: an empty body is accepted"), params(("id" = String, Path)), responses((status = 200, description = "Suspended: its calls are denied until reactivated", body = Agent)), security(("bearer" = [])))]
async fn suspend_agent(
    State(s): State<AppState>,
    b: Bearer,
    ApiPath(id): ApiPath<String>,
    MaybeJson(body): MaybeJson<SuspendBody>,
) -> Result<Json<Agent>, ApiError> {
    let (reason, incident) = body.map(|b| (b.reason.unwrap_or_default(), b.incident_id)).unwrap_or_default();
    as_caller(&s, b, move |g, p| {
        let status = gavel_core::Status::Suspended;
        g.set_agent_status_for(p, &id, status, &reason, incident.as_deref())
    })
    .await
    .map(Json)
}

#[utoipa::path(post, path = "/v1/agents/{id}/reactivate", request_body(content = Option<ReasonBody>, description = "Optional: an empty body is accepted"), params(("id" = String, Path)), responses((status = 200, description = "Active again", body = Agent)), security(("bearer" = [])))]
async fn reactivate_agent(
    State(s): State<AppState>,
    b: Bearer,
    ApiPath(id): ApiPath<String>,
    MaybeJson(body): MaybeJson<ReasonBody>,
) -> Result<Json<Agent>, ApiError> {
    let reason = body.and_then(|b| b.reason).unwrap_or_default();
    as_caller(&s, b, move |g, p| g.set_agent_status(p, &id, gavel_core::Status::Active, &reason))
        .await
        .map(Json)
}

#[utoipa::path(post, path = "/v1/agents/{id}/limits", request_body = Limits, params(("id" = String, Path)), responses((status = 200, description = "The agent with its new limits", body = Agent)), security(("bearer" = [])))]
async fn set_limits(
    State(s): State<AppState>,
    b: Bearer,
    ApiPath(id): ApiPath<String>,
    ApiJson(limits): ApiJson<Limits>,
) -> Result<Json<Agent>, ApiError> {
    as_caller(&s, b, move |g, p| g.set_limits(p, &id, limits)).await.map(Json)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KillSwitchBody {
    pub scope: ScopeKind,
    /// Agent id/name or tool name (not for global).
    #[serde(default)]
    pub target: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
    /// The incident this containment action belongs to.
    #[serde(default)]
    pub incident_id: Option<String>,
}

#[utoipa::path(get, path = "/v1/killswitch", responses((status = 200, description = "Every kill switch ever pulled, with who and why", body = List<KillSwitch>)), security(("bearer" = [])))]
async fn list_killswitches(State(s): State<AppState>, b: Bearer) -> Result<Json<List<KillSwitch>>, ApiError> {
    as_caller(&s, b, |g, p| g.list_kill_switches(p)).await.map(|l| Json(List::of(l)))
}

#[utoipa::path(post, path = "/v1/killswitch", request_body = KillSwitchBody, responses((status = 201, description = "Engaged: matching calls are denied from the next decision on", body = KillSwitch)), security(("bearer" = [])))]
async fn engage_killswitch(
    State(s): State<AppState>,
    b: Bearer,
    ApiJson(body): ApiJson<KillSwitchBody>,
) -> Result<Response, ApiError> {
    as_caller(&s, b, move |g, p| {
        let scope = Scope::of(body.scope, body.target.as_deref())?;
        g.engage_kill_switch(
            p,
            scope,
            body.reason.as_deref().unwrap_or_default(),
            body.incident_id.as_deref(),
        )
    })
    .await
    .map(created)
}

#[utoipa::path(post, path = "/v1/killswitch/release", request_body = KillSwitchBody, responses((status = 200, description = "Released", body = KillSwitch)), security(("bearer" = [])))]
async fn release_killswitch(
    State(s): State<AppState>,
    b: Bearer,
    ApiJson(body): ApiJson<KillSwitchBody>,
) -> Result<Json<KillSwitch>, ApiError> {
    as_caller(&s, b, move |g, p| {
        let scope = Scope::of(body.scope, body.target.as_deref())?;
        g.release_kill_switch(p, scope, body.reason.as_deref().unwrap_or_default())
    })
    .await
    .map(Json)
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

#[derive(OpenApi)]
#[openapi(
    info(title = "gavel", description = "Governance and tamper-evident audit for AI agent tool calls"),
    paths(healthz, readyz, metrics, openapi, decide, get_decision, audit, trace, verify, checkpoint,
          public_checkpoint, consistency_proof, inclusion_proof, me,
          create_user, list_users, get_user, set_role, deactivate_user, rotate_user,
          create_agent, list_agents, get_agent, deactivate_agent, rotate_agent,
          list_policies, propose_policy, policy_schema, list_changes, get_change, approve_change, reject_change,
          get_policy, policy_versions, policy_version, activate_policy, deactivate_policy,
          list_packs, install_pack, golive_pack, record_outcome, list_approvals, get_approval, decide_approval,
          list_findings, acknowledge_finding, resolve_finding, agent_inventory, suspend_agent, reactivate_agent, set_limits, list_killswitches,
          engage_killswitch, release_killswitch,
          create_webhook, list_webhooks, get_webhook, update_webhook, rotate_webhook_secret, disable_webhook,
          webhook_deliveries),
    components(schemas(ErrorBody)),
    modifiers(&BearerScheme)
)]
pub struct ApiDoc;

/// The state handlers share; exposed for tests that build a router directly.
pub fn state_gavel(state: &AppState) -> Arc<Gavel> {
    state.gavel.clone()
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhookBody {
    /// http(s) URL receiving signed POSTs (private addresses need `webhooks_allow_private`).
    pub url: String,
    /// Event kinds to deliver: exact (`decision`) or prefix (`policy.*`); absent or empty = all.
    #[serde(default)]
    pub kinds: Option<Vec<String>>,
}

#[utoipa::path(post, path = "/v1/webhooks", request_body = NewWebhookBody,
    responses((status = 201, description = "The endpoint with its `whsec_…` secret (shown once)", body = CreatedEndpoint),
              (status = 400, description = "Bad URL, private target or bad kind pattern"), (status = 403, description = "Admins only")),
    security(("bearer" = [])))]
async fn create_webhook(
    State(s): State<AppState>,
    b: Bearer,
    ApiJson(body): ApiJson<NewWebhookBody>,
) -> Result<Response, ApiError> {
    as_caller(&s, b, move |g, p| g.create_webhook(p, &body.url, body.kinds.unwrap_or_default()))
        .await
        .map(created)
}

#[utoipa::path(get, path = "/v1/webhooks", responses((status = 200, description = "Every endpoint (no secrets)", body = List<EndpointView>)), security(("bearer" = [])))]
async fn list_webhooks(State(s): State<AppState>, b: Bearer) -> Result<Json<List<EndpointView>>, ApiError> {
    as_caller(&s, b, |g, p| Ok(List::of(g.webhooks(p)?))).await.map(Json)
}

#[utoipa::path(get, path = "/v1/webhooks/{id}", params(("id" = String, Path)),
    responses((status = 200, description = "The endpoint with delivery counts (delivered/failed/pending), success_rate, and held_until (no attempt before then: its last round got no 2xx)", body = EndpointDetail)), security(("bearer" = [])))]
async fn get_webhook(
    State(s): State<AppState>,
    b: Bearer,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<EndpointDetail>, ApiError> {
    as_caller(&s, b, move |g, p| g.webhook(p, &id)).await.map(Json)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhookBody {
    #[serde(default)]
    pub kinds: Option<Vec<String>>,
    #[serde(default)]
    pub enabled: Option<bool>,
}

#[utoipa::path(post, path = "/v1/webhooks/{id}/update", request_body = UpdateWebhookBody, params(("id" = String, Path)),
    responses((status = 200, description = "The endpoint, changed", body = EndpointView)), security(("bearer" = [])))]
async fn update_webhook(
    State(s): State<AppState>,
    b: Bearer,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<UpdateWebhookBody>,
) -> Result<Json<EndpointView>, ApiError> {
    as_caller(&s, b, move |g, p| g.update_webhook(p, &id, body.kinds, body.enabled)).await.map(Json)
}

#[utoipa::path(post, path = "/v1/webhooks/{id}/rotate-secret", params(("id" = String, Path)),
    responses((status = 200, description = "The new secret, shown once; the replaced one also signs until previous_secret_expires_at", body = RotatedSecret)), security(("bearer" = [])))]
async fn rotate_webhook_secret(
    State(s): State<AppState>,
    b: Bearer,
    ApiPath(id): ApiPath<String>,
    _: NoBody,
) -> Result<Json<RotatedSecret>, ApiError> {
    let overlap = s.webhooks.rotation_overlap;
    as_caller(&s, b, move |g, p| g.rotate_webhook_secret(p, &id, overlap)).await.map(Json)
}

#[utoipa::path(delete, path = "/v1/webhooks/{id}", request_body(content = Option<ReasonBody>, description = "Optional: an empty body is accepted"), params(("id" = String, Path)),
    responses((status = 200, description = "Disabled (endpoints are never deleted: they are evidence)", body = EndpointView),
              (status = 409, description = "Already disabled")), security(("bearer" = [])))]
async fn disable_webhook(
    State(s): State<AppState>,
    b: Bearer,
    ApiPath(id): ApiPath<String>,
    MaybeJson(body): MaybeJson<ReasonBody>,
) -> Result<Json<EndpointView>, ApiError> {
    let reason = body.and_then(|b| b.reason).unwrap_or_default();
    as_caller(&s, b, move |g, p| g.disable_webhook(p, &id, &reason)).await.map(Json)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeliveriesQuery {
    /// retrying | delivered | failed (the delivery's current state)
    #[param(value_type = Option<crate::openapi::DeliveryStatusName>)]
    pub status: Option<String>,
    /// Default 100, at most 1000.
    pub limit: Option<u32>,
}

#[utoipa::path(get, path = "/v1/webhooks/{id}/deliveries", params(("id" = String, Path), DeliveriesQuery),
    responses((status = 200, description = "Every attempt (status_code, latency_ms, error, outcome), newest first", body = List<DeliveryAttempt>)),
    security(("bearer" = [])))]
async fn webhook_deliveries(
    State(s): State<AppState>,
    b: Bearer,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<DeliveriesQuery>,
) -> Result<Json<List<DeliveryAttempt>>, ApiError> {
    as_caller(&s, b, move |g, p| {
        Ok(List::of(g.webhook_deliveries(p, &id, q.status.as_deref(), q.limit.unwrap_or(100))?))
    })
    .await
    .map(Json)
}
