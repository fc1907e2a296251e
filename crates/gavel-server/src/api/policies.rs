//! Policy sets, their two-person change control and packs: `GET /v1/policies`
//! (`Gavel::list_policy_sets`), `POST /v1/policies` (`Gavel::propose_policy`), the public
//! `GET /v1/policies/schema` (`gavel_policy::schema_text`), `GET /v1/policies/changes`
//! (`Gavel::list_policy_changes`), `GET /v1/policies/changes/{id}` (`Gavel::get_policy_change`),
//! `POST /v1/policies/changes/{id}/approve` and `/reject` (`Gavel::approve_change`,
//! `Gavel::reject_change`), `GET /v1/policies/{set}` (`Gavel::get_policy_set`),
//! `GET /v1/policies/{set}/versions` (`Gavel::policy_history`),
//! `GET /v1/policies/{set}/versions/{version}` (`Gavel::get_policy_version`),
//! `POST /v1/policies/{set}/activate` and `/deactivate` (`Gavel::propose_activation`,
//! `Gavel::propose_deactivation`), `GET /v1/packs` (`Gavel::packs`), `POST /v1/packs/{name}/install`
//! (`Gavel::install_pack`) and `POST /v1/packs/{name}/golive` (`Gavel::propose_mode`).

use super::{as_caller, created, ApiJson, ApiPath, ApiQuery, Bearer, MaybeJson, NoBody};
use crate::error::ApiError;
use crate::openapi::List;
use crate::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use gavel_core::policies::{ChangeStatus, PackInfo, PolicyChange, PolicyHistory, PolicySet, PolicyVersion};
use gavel_policy::Mode;
use serde::Deserialize;
use utoipa::ToSchema;

#[utoipa::path(get, path = "/v1/policies", responses((status = 200, description = "Policy sets with their active version and mode", body = List<PolicySet>)), security(("bearer" = [])))]
pub(super) async fn list_policies(
    State(s): State<AppState>,
    b: Bearer,
) -> Result<Json<List<PolicySet>>, ApiError> {
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
pub(super) async fn propose_policy(
    State(s): State<AppState>,
    b: Bearer,
    ApiJson(body): ApiJson<ProposeBody>,
) -> Result<Response, ApiError> {
    as_caller(&s, b, move |g, p| g.propose_policy(p, &body.set_id, &body.text, body.mode)).await.map(created)
}

#[utoipa::path(get, path = "/v1/policies/schema", responses((status = 200, description = "The Cedar schema policies are validated against", content_type = "text/plain")))]
pub(super) async fn policy_schema() -> Response {
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
pub(super) async fn list_changes(
    State(s): State<AppState>,
    b: Bearer,
    ApiQuery(q): ApiQuery<ChangesQuery>,
) -> Result<Json<List<PolicyChange>>, ApiError> {
    as_caller(&s, b, move |g, p| g.list_policy_changes(p, q.set_id.as_deref(), q.status))
        .await
        .map(|l| Json(List::of(l)))
}

#[utoipa::path(get, path = "/v1/policies/changes/{id}", params(("id" = String, Path)), responses((status = 200, description = "One change request", body = PolicyChange)), security(("bearer" = [])))]
pub(super) async fn get_change(
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
pub(super) async fn approve_change(
    State(s): State<AppState>,
    b: Bearer,
    ApiPath(id): ApiPath<String>,
    MaybeJson(body): MaybeJson<CommentBody>,
) -> Result<Json<PolicyChange>, ApiError> {
    let comment = body.and_then(|b| b.comment);
    as_caller(&s, b, move |g, p| g.approve_change(p, &id, comment.as_deref())).await.map(Json)
}

#[utoipa::path(post, path = "/v1/policies/changes/{id}/reject", request_body(content = Option<CommentBody>, description = "Optional: an empty body is accepted"), params(("id" = String, Path)), responses((status = 200, description = "Rejected", body = PolicyChange)), security(("bearer" = [])))]
pub(super) async fn reject_change(
    State(s): State<AppState>,
    b: Bearer,
    ApiPath(id): ApiPath<String>,
    MaybeJson(body): MaybeJson<CommentBody>,
) -> Result<Json<PolicyChange>, ApiError> {
    let comment = body.and_then(|b| b.comment);
    as_caller(&s, b, move |g, p| g.reject_change(p, &id, comment.as_deref())).await.map(Json)
}

#[utoipa::path(get, path = "/v1/policies/{set}", params(("set" = String, Path)), responses((status = 200, description = "One policy set", body = PolicySet)), security(("bearer" = [])))]
pub(super) async fn get_policy(
    State(s): State<AppState>,
    b: Bearer,
    ApiPath(set): ApiPath<String>,
) -> Result<Json<PolicySet>, ApiError> {
    as_caller(&s, b, move |g, p| g.get_policy_set(p, &set)).await.map(Json)
}

#[utoipa::path(get, path = "/v1/policies/{set}/versions", params(("set" = String, Path)), responses((status = 200, description = "Every version, oldest first, with the change history", body = PolicyHistory)), security(("bearer" = [])))]
pub(super) async fn policy_versions(
    State(s): State<AppState>,
    b: Bearer,
    ApiPath(set): ApiPath<String>,
) -> Result<Json<PolicyHistory>, ApiError> {
    as_caller(&s, b, move |g, p| g.policy_history(p, &set)).await.map(Json)
}

#[utoipa::path(get, path = "/v1/policies/{set}/versions/{version}", params(("set" = String, Path), ("version" = u32, Path)), responses((status = 200, description = "One immutable version", body = PolicyVersion)), security(("bearer" = [])))]
pub(super) async fn policy_version(
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
pub(super) async fn activate_policy(
    State(s): State<AppState>,
    b: Bearer,
    ApiPath(set): ApiPath<String>,
    ApiJson(body): ApiJson<ActivateBody>,
) -> Result<Response, ApiError> {
    as_caller(&s, b, move |g, p| g.propose_activation(p, &set, body.version)).await.map(created)
}

#[utoipa::path(post, path = "/v1/policies/{set}/deactivate", params(("set" = String, Path)), responses((status = 201, description = "Pending change", body = PolicyChange)), security(("bearer" = [])))]
pub(super) async fn deactivate_policy(
    State(s): State<AppState>,
    b: Bearer,
    ApiPath(set): ApiPath<String>,
    _: NoBody,
) -> Result<Response, ApiError> {
    as_caller(&s, b, move |g, p| g.propose_deactivation(p, &set)).await.map(created)
}

#[utoipa::path(get, path = "/v1/packs", responses((status = 200, description = "Built-in packs and their install state", body = List<PackInfo>)), security(("bearer" = [])))]
pub(super) async fn list_packs(
    State(s): State<AppState>,
    b: Bearer,
) -> Result<Json<List<PackInfo>>, ApiError> {
    as_caller(&s, b, |g, p| g.packs(p)).await.map(|l| Json(List::of(l)))
}

#[utoipa::path(post, path = "/v1/packs/{name}/install", params(("name" = String, Path)), responses((status = 201, description = "Installed in observe mode", body = PolicySet)), security(("bearer" = [])))]
pub(super) async fn install_pack(
    State(s): State<AppState>,
    b: Bearer,
    ApiPath(name): ApiPath<String>,
    _: NoBody,
) -> Result<Response, ApiError> {
    as_caller(&s, b, move |g, p| g.install_pack(p, &name)).await.map(created)
}

#[utoipa::path(post, path = "/v1/packs/{name}/golive", params(("name" = String, Path)), responses((status = 201, description = "Pending change to enforce mode; a different admin must approve", body = PolicyChange)), security(("bearer" = [])))]
pub(super) async fn golive_pack(
    State(s): State<AppState>,
    b: Bearer,
    ApiPath(name): ApiPath<String>,
    _: NoBody,
) -> Result<Response, ApiError> {
    as_caller(&s, b, move |g, p| g.propose_mode(p, &name, Mode::Enforce)).await.map(created)
}
