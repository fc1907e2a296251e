//! `POST /v1/policies/explain`: a dry run of the decision path for people — which policies
//! (with their text) decide a call an agent might make, and whether containment would refuse it
//! first. Nothing is recorded.

use crate::api::{as_caller, route, ApiJson, Bearer, Route};
use crate::error::ApiError;
use crate::AppState;
use axum::extract::State;
use axum::http::Method;
use axum::Json;
use gavel_core::explain::ExplainRequest;
use utoipa::OpenApi;

pub fn routes() -> Vec<Route> {
    vec![route(Method::POST, "/v1/policies/explain", explain)]
}

#[derive(OpenApi)]
#[openapi(paths(explain))]
pub struct ExplainDoc;

#[utoipa::path(post, path = "/v1/policies/explain", request_body = ExplainRequest,
    responses((status = 200, description = "What the call would get now, the determining policies with their text; nothing recorded", body = gavel_core::explain::Explanation)),
    security(("bearer" = [])))]
async fn explain(
    State(s): State<AppState>,
    b: Bearer,
    ApiJson(req): ApiJson<ExplainRequest>,
) -> Result<Json<gavel_core::explain::Explanation>, ApiError> {
    as_caller(&s, b, move |g, p| g.explain(p, req)).await.map(Json)
}
