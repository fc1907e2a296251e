//! `POST /v1/gateway/tools` (`Gavel::gateway_tools_seen`, the body is core's `ToolsSeenRequest`):
//! the MCP gateway, as the agent it serves, reports an upstream's tool list (names and digests of
//! the definitions); core records it when it changed and answers which tools the active policies
//! deny the agent outright.

use super::{as_caller, ApiJson, Bearer};
use crate::error::ApiError;
use crate::AppState;
use axum::extract::State;
use axum::Json;
use gavel_core::gateway::{ToolsSeen, ToolsSeenRequest};

#[utoipa::path(post, path = "/v1/gateway/tools", request_body = ToolsSeenRequest,
    responses((status = 200, description = "The list's digest, whether it was recorded (it changed since the last one of this agent and upstream), what changed, and the tools the active policies deny this agent outright", body = ToolsSeen)),
    security(("bearer" = [])))]
pub(super) async fn tools_seen(
    State(s): State<AppState>,
    b: Bearer,
    ApiJson(req): ApiJson<ToolsSeenRequest>,
) -> Result<Json<ToolsSeen>, ApiError> {
    as_caller(&s, b, move |g, p| g.gateway_tools_seen(p, req)).await.map(Json)
}
