//! `POST /v1/policies/explain` (`Gavel::explain`, the body is core's `ExplainRequest`): a dry
//! run of the decision path for people — which policies (with their text) decide a call an agent
//! might make, and whether containment would refuse it first. Nothing is recorded.

use super::{as_caller, ApiJson, Bearer};
use crate::error::ApiError;
use crate::AppState;
use axum::extract::State;
use axum::Json;
use gavel_core::explain::ExplainRequest;

#[utoipa::path(post, path = "/v1/policies/explain", request_body = ExplainRequest,
    responses((status = 200, description = "What the call would get now, the determining policies with their text; nothing recorded", body = gavel_core::explain::Explanation)),
    security(("bearer" = [])))]
pub(super) async fn explain(
    State(s): State<AppState>,
    b: Bearer,
    ApiJson(req): ApiJson<ExplainRequest>,
) -> Result<Json<gavel_core::explain::Explanation>, ApiError> {
    as_caller(&s, b, move |g, p| g.explain(p, req)).await.map(Json)
}
