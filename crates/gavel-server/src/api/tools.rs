//! The tool registry and its two-person category changes (`gavel_core::tool_categories`):
//! `GET /v1/tools` (`Gavel::list_tools`), `GET /v1/tools/changes`
//! (`Gavel::list_tool_category_changes`), `POST /v1/tools/changes`
//! (`Gavel::propose_tool_categories`), `GET /v1/tools/changes/{id}`
//! (`Gavel::get_tool_category_change`), `POST /v1/tools/changes/{id}/approve` and `/reject`
//! (`Gavel::approve_tool_categories`, `Gavel::reject_tool_categories`), and
//! `GET /v1/gateway/tools` (`Gavel::gateway_upstream_tools`: the tool names the gateways recorded
//! per upstream, which `gavel tools categorize` expands an upstream's globs over).

use super::policies::CommentBody;
use super::{as_caller, created, ApiJson, ApiPath, ApiQuery, Bearer, MaybeJson};
use crate::error::ApiError;
use crate::openapi::List;
use crate::AppState;
use axum::extract::State;
use axum::response::Response;
use axum::Json;
use gavel_core::gateway::UpstreamTools;
use gavel_core::policies::ChangeStatus;
use gavel_core::tool_categories::{ProposeCategories, ToolCategoryChange, ToolEntry};
use serde::Deserialize;

#[utoipa::path(get, path = "/v1/tools", responses((status = 200, description = "The tool registry: each tool's category (what policies see as resource.category) and where it came from", body = List<ToolEntry>)), security(("bearer" = [])))]
pub(super) async fn list_tools(
    State(s): State<AppState>,
    b: Bearer,
) -> Result<Json<List<ToolEntry>>, ApiError> {
    as_caller(&s, b, |g, p| g.list_tools(p)).await.map(|l| Json(List::of(l)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ToolChangesQuery {
    pub status: Option<ChangeStatus>,
}

#[utoipa::path(get, path = "/v1/tools/changes", params(ToolChangesQuery), responses((status = 200, description = "Category changes, most recently changed first", body = List<ToolCategoryChange>)), security(("bearer" = [])))]
pub(super) async fn list_tool_changes(
    State(s): State<AppState>,
    b: Bearer,
    ApiQuery(q): ApiQuery<ToolChangesQuery>,
) -> Result<Json<List<ToolCategoryChange>>, ApiError> {
    as_caller(&s, b, move |g, p| g.list_tool_category_changes(p, q.status)).await.map(|l| Json(List::of(l)))
}

#[utoipa::path(post, path = "/v1/tools/changes", request_body = ProposeCategories,
    responses((status = 201, description = "The pending change, each tool with the category in force now; a different admin must approve it", body = ToolCategoryChange),
              (status = 400, description = "A bad tool name, category or upstream, a tool twice, or too many assignments"),
              (status = 409, description = "An assignment that changes nothing")),
    security(("bearer" = [])))]
pub(super) async fn propose_tool_change(
    State(s): State<AppState>,
    b: Bearer,
    ApiJson(body): ApiJson<ProposeCategories>,
) -> Result<Response, ApiError> {
    as_caller(&s, b, move |g, p| g.propose_tool_categories(p, &body)).await.map(created)
}

#[utoipa::path(get, path = "/v1/tools/changes/{id}", params(("id" = String, Path)), responses((status = 200, description = "One category change", body = ToolCategoryChange)), security(("bearer" = [])))]
pub(super) async fn get_tool_change(
    State(s): State<AppState>,
    b: Bearer,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ToolCategoryChange>, ApiError> {
    as_caller(&s, b, move |g, p| g.get_tool_category_change(p, &id)).await.map(Json)
}

#[utoipa::path(post, path = "/v1/tools/changes/{id}/approve", request_body(content = Option<CommentBody>, description = "Optional: an empty body is accepted"), params(("id" = String, Path)),
    responses((status = 200, description = "Applied: decide sees the new categories from the next call", body = ToolCategoryChange),
              (status = 403, description = "The approver proposed it (two-person rule)"),
              (status = 409, description = "Already decided, or stale: a tool's category changed since the proposal")),
    security(("bearer" = [])))]
pub(super) async fn approve_tool_change(
    State(s): State<AppState>,
    b: Bearer,
    ApiPath(id): ApiPath<String>,
    MaybeJson(body): MaybeJson<CommentBody>,
) -> Result<Json<ToolCategoryChange>, ApiError> {
    let comment = body.and_then(|b| b.comment);
    as_caller(&s, b, move |g, p| g.approve_tool_categories(p, &id, comment.as_deref())).await.map(Json)
}

#[utoipa::path(post, path = "/v1/tools/changes/{id}/reject", request_body(content = Option<CommentBody>, description = "Optional: an empty body is accepted"), params(("id" = String, Path)),
    responses((status = 200, description = "Rejected; nothing changed", body = ToolCategoryChange), (status = 409, description = "Already decided")),
    security(("bearer" = [])))]
pub(super) async fn reject_tool_change(
    State(s): State<AppState>,
    b: Bearer,
    ApiPath(id): ApiPath<String>,
    MaybeJson(body): MaybeJson<CommentBody>,
) -> Result<Json<ToolCategoryChange>, ApiError> {
    let comment = body.and_then(|b| b.comment);
    as_caller(&s, b, move |g, p| g.reject_tool_categories(p, &id, comment.as_deref())).await.map(Json)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UpstreamQuery {
    /// Only this upstream (the gateway's `--upstream-name`).
    pub upstream: Option<String>,
}

#[utoipa::path(get, path = "/v1/gateway/tools", params(UpstreamQuery), responses((status = 200, description = "Per upstream, the tool names its gateways recorded (the union over agents)", body = List<UpstreamTools>)), security(("bearer" = [])))]
pub(super) async fn list_upstream_tools(
    State(s): State<AppState>,
    b: Bearer,
    ApiQuery(q): ApiQuery<UpstreamQuery>,
) -> Result<Json<List<UpstreamTools>>, ApiError> {
    as_caller(&s, b, move |g, p| g.gateway_upstream_tools(p, q.upstream.as_deref()))
        .await
        .map(|l| Json(List::of(l)))
}
