//! Agents: `GET /v1/agents` (`Gavel::list_agents`), `POST /v1/agents` (`Gavel::create_agent`, the
//! body is core's `NewAgent`), `GET /v1/agents/{id}` (`Gavel::get_agent`),
//! `GET /v1/agents/inventory` (`Gavel::agent_inventory`), `POST /v1/agents/{id}/deactivate`
//! (`Gavel::deactivate_agent`), `POST /v1/agents/{id}/rotate` (`Gavel::rotate_agent_credential`),
//! `POST /v1/agents/{id}/suspend` (`Gavel::set_agent_status_for`), `POST /v1/agents/{id}/reactivate`
//! (`Gavel::set_agent_status`) and `POST /v1/agents/{id}/limits` (`Gavel::set_limits`, the body is
//! core's `Limits`).

use super::{as_caller, created, ApiJson, ApiPath, Bearer, MaybeJson, NoBody, ReasonBody};
use crate::error::ApiError;
use crate::openapi::List;
use crate::AppState;
use axum::extract::State;
use axum::response::Response;
use axum::Json;
use gavel_core::containment::Limits;
use gavel_core::identity::{InventoryEntry, Issued};
use gavel_core::{Agent, NewAgent};
use serde::Deserialize;
use utoipa::ToSchema;

#[utoipa::path(post, path = "/v1/agents", request_body = NewAgent, responses((status = 201, description = "The agent and its token (shown once)", body = Issued<Agent>)), security(("bearer" = [])))]
pub(super) async fn create_agent(
    State(s): State<AppState>,
    b: Bearer,
    ApiJson(new): ApiJson<NewAgent>,
) -> Result<Response, ApiError> {
    as_caller(&s, b, move |g, p| g.create_agent(p, new)).await.map(created)
}

#[utoipa::path(get, path = "/v1/agents", responses((status = 200, description = "All agents", body = List<Agent>)), security(("bearer" = [])))]
pub(super) async fn list_agents(State(s): State<AppState>, b: Bearer) -> Result<Json<List<Agent>>, ApiError> {
    as_caller(&s, b, |g, p| g.list_agents(p)).await.map(|l| Json(List::of(l)))
}

#[utoipa::path(get, path = "/v1/agents/{id}", params(("id" = String, Path, description = "id or name")), responses((status = 200, description = "One agent", body = Agent)), security(("bearer" = [])))]
pub(super) async fn get_agent(
    State(s): State<AppState>,
    b: Bearer,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Agent>, ApiError> {
    as_caller(&s, b, move |g, p| g.get_agent(p, &id)).await.map(Json)
}

#[utoipa::path(post, path = "/v1/agents/{id}/deactivate", request_body(content = Option<ReasonBody>, description = "Optional: an empty body is accepted"), params(("id" = String, Path)), responses((status = 200, description = "The deactivated agent; its calls are denied from now on", body = Agent)), security(("bearer" = [])))]
pub(super) async fn deactivate_agent(
    State(s): State<AppState>,
    b: Bearer,
    ApiPath(id): ApiPath<String>,
    MaybeJson(body): MaybeJson<ReasonBody>,
) -> Result<Json<Agent>, ApiError> {
    let reason = body.and_then(|b| b.reason).unwrap_or_default();
    as_caller(&s, b, move |g, p| g.deactivate_agent(p, &id, &reason)).await.map(Json)
}

#[utoipa::path(post, path = "/v1/agents/{id}/rotate", params(("id" = String, Path)), responses((status = 200, description = "The agent and its new token; the old one is revoked", body = Issued<Agent>)), security(("bearer" = [])))]
pub(super) async fn rotate_agent(
    State(s): State<AppState>,
    b: Bearer,
    ApiPath(id): ApiPath<String>,
    _: NoBody,
) -> Result<Json<Issued<Agent>>, ApiError> {
    as_caller(&s, b, move |g, p| g.rotate_agent_credential(p, &id)).await.map(Json)
}

#[utoipa::path(get, path = "/v1/agents/inventory", responses((status = 200, description = "Every agent with first/last seen and decision counts by outcome (CC6.1)", body = List<InventoryEntry>)), security(("bearer" = [])))]
pub(super) async fn agent_inventory(
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
pub(super) async fn suspend_agent(
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
pub(super) async fn reactivate_agent(
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
pub(super) async fn set_limits(
    State(s): State<AppState>,
    b: Bearer,
    ApiPath(id): ApiPath<String>,
    ApiJson(limits): ApiJson<Limits>,
) -> Result<Json<Agent>, ApiError> {
    as_caller(&s, b, move |g, p| g.set_limits(p, &id, limits)).await.map(Json)
}
