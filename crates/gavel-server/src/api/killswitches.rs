//! Kill switches: `GET /v1/killswitch` (`Gavel::list_kill_switches`), `POST /v1/killswitch`
//! (`Gavel::engage_kill_switch`) and `POST /v1/killswitch/release` (`Gavel::release_kill_switch`);
//! the scope is built with `Scope::of`.

use super::{as_caller, created, ApiJson, Bearer};
use crate::error::ApiError;
use crate::openapi::List;
use crate::AppState;
use axum::extract::State;
use axum::response::Response;
use axum::Json;
use gavel_core::containment::{KillSwitch, Scope, ScopeKind};
use serde::Deserialize;
use utoipa::ToSchema;

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
pub(super) async fn list_killswitches(
    State(s): State<AppState>,
    b: Bearer,
) -> Result<Json<List<KillSwitch>>, ApiError> {
    as_caller(&s, b, |g, p| g.list_kill_switches(p)).await.map(|l| Json(List::of(l)))
}

#[utoipa::path(post, path = "/v1/killswitch", request_body = KillSwitchBody, responses((status = 201, description = "Engaged: matching calls are denied from the next decision on", body = KillSwitch)), security(("bearer" = [])))]
pub(super) async fn engage_killswitch(
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
pub(super) async fn release_killswitch(
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
