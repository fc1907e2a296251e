//! `POST /v1/policies/explain`: a dry run of the decision path for people — which policies
//! (with their text) decide a call an agent might make, and whether containment would refuse it
//! first. Nothing is recorded.

use crate::api::{as_caller, route, ApiJson, Bearer, Route};
use crate::error::ApiError;
use crate::AppState;
use axum::extract::State;
use axum::http::Method;
use axum::Json;
use gavel_core::decide::{DecideContext, DecideRequest};
use serde::Deserialize;
use serde_json::Value;
use utoipa::{OpenApi, ToSchema};

pub fn routes() -> Vec<Route> {
    vec![route(Method::POST, "/v1/policies/explain", explain)]
}

#[derive(OpenApi)]
#[openapi(paths(explain))]
pub struct ExplainDoc;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExplainBody {
    /// The agent, by id or name.
    pub agent: String,
    pub tool: String,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub arguments: Option<Value>,
    #[serde(default)]
    pub on_behalf_of: Option<String>,
    #[serde(default)]
    pub cost_usd: Option<f64>,
}

#[utoipa::path(post, path = "/v1/policies/explain", request_body = ExplainBody,
    responses((status = 200, description = "What the call would get now, the determining policies with their text; nothing recorded", body = gavel_core::explain::Explanation)),
    security(("bearer" = [])))]
async fn explain(
    State(s): State<AppState>,
    b: Bearer,
    ApiJson(body): ApiJson<ExplainBody>,
) -> Result<Json<gavel_core::explain::Explanation>, ApiError> {
    let req = DecideRequest {
        tool: body.tool,
        resource: None,
        arguments: body.arguments,
        on_behalf_of: body.on_behalf_of,
        context: DecideContext { environment: None, cost_usd: body.cost_usd },
    };
    as_caller(&s, b, move |g, p| g.explain(p, &body.agent, req)).await.map(Json)
}
