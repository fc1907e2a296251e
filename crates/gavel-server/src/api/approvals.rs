//! Held calls: `GET /v1/approvals` (`Gavel::approvals`), `GET /v1/approvals/{id}`
//! (`Gavel::approval`, long-polled here while pending) and `POST /v1/approvals/{id}/decide`
//! (`Gavel::decide_approval`).

use super::{as_caller, ApiJson, ApiPath, ApiQuery, Bearer};
use crate::error::ApiError;
use crate::openapi::List;
use crate::AppState;
use axum::extract::State;
use axum::Json;
use gavel_core::approvals::{Approval, ApprovalStatus, ApprovalVerdict};
use serde::Deserialize;
use std::time::Instant;
use utoipa::ToSchema;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ApprovalsQuery {
    pub status: Option<ApprovalStatus>,
    pub limit: Option<u32>,
}

#[utoipa::path(get, path = "/v1/approvals", params(ApprovalsQuery), responses((status = 200, description = "Approval requests, newest first", body = List<Approval>)), security(("bearer" = [])))]
pub(super) async fn list_approvals(
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
    /// Long-poll: wait up to this many seconds (at most 60, or gavel.toml `limits.approval_wait_max_secs`) while the request is pending.
    pub wait: Option<u64>,
}

#[utoipa::path(get, path = "/v1/approvals/{id}", params(("id" = String, Path), WaitQuery),
    responses((status = 200, description = "The request; for the requesting agent, an approved one carries its single-use receipt", body = Approval)),
    security(("bearer" = [])))]
pub(super) async fn get_approval(
    State(s): State<AppState>,
    b: Bearer,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<WaitQuery>,
) -> Result<Json<Approval>, ApiError> {
    let wait = q.wait.unwrap_or(0);
    let max_wait = s.http_limits.max_wait_secs;
    if wait > max_wait {
        return Err(ApiError::bad_request(format!("wait must be at most {max_wait} seconds")));
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
pub(super) async fn decide_approval(
    State(s): State<AppState>,
    b: Bearer,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<ApprovalDecisionBody>,
) -> Result<Json<Approval>, ApiError> {
    let approve = body.decision == ApprovalVerdict::Approve;
    as_caller(&s, b, move |g, p| g.decide_approval(p, &id, approve, body.comment.as_deref())).await.map(Json)
}
