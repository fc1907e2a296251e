//! Bypass findings: `GET /v1/findings` (`Gavel::findings`), `POST /v1/findings/{id}/acknowledge`
//! and `POST /v1/findings/{id}/resolve` (`Gavel::update_finding`).

use super::{as_caller, ApiJson, ApiPath, Bearer};
use crate::error::{ApiError, ErrorBody};
use crate::openapi::List;
use crate::AppState;
use axum::extract::State;
use axum::Json;
use gavel_core::approvals::FindingView;
use serde::Deserialize;

#[utoipa::path(get, path = "/v1/findings", responses((status = 200, description = "Bypass findings, newest first", body = List<FindingView>)), security(("bearer" = [])))]
pub(super) async fn list_findings(
    State(s): State<AppState>,
    b: Bearer,
) -> Result<Json<List<FindingView>>, ApiError> {
    as_caller(&s, b, |g, p| Ok(List::of(g.findings(p, 1000)?))).await.map(Json)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FindingNoteBody {
    /// What was found or done (required).
    pub note: String,
}

#[utoipa::path(post, path = "/v1/findings/{id}/acknowledge", params(("id" = String, Path, description = "Finding id")), request_body = FindingNoteBody, responses((status = 200, description = "Acknowledged (logged)", body = FindingView), (status = 403, description = "Not an approver or admin, or the agent's owner", body = ErrorBody), (status = 404, description = "No such finding", body = ErrorBody), (status = 409, description = "Already acknowledged or resolved", body = ErrorBody)), security(("bearer" = [])))]
pub(super) async fn acknowledge_finding(
    State(s): State<AppState>,
    b: Bearer,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<FindingNoteBody>,
) -> Result<Json<FindingView>, ApiError> {
    as_caller(&s, b, move |g, p| g.update_finding(p, &id, false, &body.note)).await.map(Json)
}

#[utoipa::path(post, path = "/v1/findings/{id}/resolve", params(("id" = String, Path, description = "Finding id")), request_body = FindingNoteBody, responses((status = 200, description = "Resolved (logged; the finding stays in the record with its resolution)", body = FindingView), (status = 403, description = "Not an approver or admin, or the agent's owner", body = ErrorBody), (status = 404, description = "No such finding", body = ErrorBody), (status = 409, description = "Already resolved", body = ErrorBody)), security(("bearer" = [])))]
pub(super) async fn resolve_finding(
    State(s): State<AppState>,
    b: Bearer,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<FindingNoteBody>,
) -> Result<Json<FindingView>, ApiError> {
    as_caller(&s, b, move |g, p| g.update_finding(p, &id, true, &body.note)).await.map(Json)
}
