//! SIEM webhook endpoints: `GET /v1/webhooks` (`Gavel::webhooks`), `POST /v1/webhooks`
//! (`Gavel::create_webhook`), `GET /v1/webhooks/{id}` (`Gavel::webhook`),
//! `DELETE /v1/webhooks/{id}` (`Gavel::disable_webhook`), `POST /v1/webhooks/{id}/update`
//! (`Gavel::update_webhook`), `POST /v1/webhooks/{id}/rotate-secret`
//! (`Gavel::rotate_webhook_secret`) and `GET /v1/webhooks/{id}/deliveries`
//! (`Gavel::webhook_deliveries`). The dispatcher that delivers is `crate::webhooks`.

use super::{as_caller, created, ApiJson, ApiPath, ApiQuery, Bearer, MaybeJson, NoBody, ReasonBody};
use crate::error::ApiError;
use crate::openapi::List;
use crate::AppState;
use axum::extract::State;
use axum::response::Response;
use axum::Json;
use gavel_core::webhooks::{CreatedEndpoint, DeliveryAttempt, EndpointDetail, EndpointView, RotatedSecret};
use serde::Deserialize;
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhookBody {
    /// http(s) URL receiving signed POSTs (private addresses need `webhooks_allow_private`).
    pub url: String,
    /// Event kinds to deliver: exact (`decision`) or prefix (`policy.*`); absent or empty = all.
    #[serde(default)]
    pub kinds: Option<Vec<String>>,
}

#[utoipa::path(post, path = "/v1/webhooks", request_body = NewWebhookBody,
    responses((status = 201, description = "The endpoint with its `whsec_…` secret (shown once)", body = CreatedEndpoint),
              (status = 400, description = "Bad URL, private target or bad kind pattern"), (status = 403, description = "Admins only")),
    security(("bearer" = [])))]
pub(super) async fn create_webhook(
    State(s): State<AppState>,
    b: Bearer,
    ApiJson(body): ApiJson<NewWebhookBody>,
) -> Result<Response, ApiError> {
    as_caller(&s, b, move |g, p| g.create_webhook(p, &body.url, body.kinds.unwrap_or_default()))
        .await
        .map(created)
}

#[utoipa::path(get, path = "/v1/webhooks", responses((status = 200, description = "Every endpoint (no secrets)", body = List<EndpointView>)), security(("bearer" = [])))]
pub(super) async fn list_webhooks(
    State(s): State<AppState>,
    b: Bearer,
) -> Result<Json<List<EndpointView>>, ApiError> {
    as_caller(&s, b, |g, p| Ok(List::of(g.webhooks(p)?))).await.map(Json)
}

#[utoipa::path(get, path = "/v1/webhooks/{id}", params(("id" = String, Path)),
    responses((status = 200, description = "The endpoint with delivery counts (delivered/failed/pending), success_rate, and held_until (no attempt before then: its last round got no 2xx)", body = EndpointDetail)), security(("bearer" = [])))]
pub(super) async fn get_webhook(
    State(s): State<AppState>,
    b: Bearer,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<EndpointDetail>, ApiError> {
    as_caller(&s, b, move |g, p| g.webhook(p, &id)).await.map(Json)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhookBody {
    #[serde(default)]
    pub kinds: Option<Vec<String>>,
    #[serde(default)]
    pub enabled: Option<bool>,
}

#[utoipa::path(post, path = "/v1/webhooks/{id}/update", request_body = UpdateWebhookBody, params(("id" = String, Path)),
    responses((status = 200, description = "The endpoint, changed", body = EndpointView)), security(("bearer" = [])))]
pub(super) async fn update_webhook(
    State(s): State<AppState>,
    b: Bearer,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<UpdateWebhookBody>,
) -> Result<Json<EndpointView>, ApiError> {
    as_caller(&s, b, move |g, p| g.update_webhook(p, &id, body.kinds, body.enabled)).await.map(Json)
}

#[utoipa::path(post, path = "/v1/webhooks/{id}/rotate-secret", params(("id" = String, Path)),
    responses((status = 200, description = "The new secret, shown once; the replaced one also signs until previous_secret_expires_at", body = RotatedSecret)), security(("bearer" = [])))]
pub(super) async fn rotate_webhook_secret(
    State(s): State<AppState>,
    b: Bearer,
    ApiPath(id): ApiPath<String>,
    _: NoBody,
) -> Result<Json<RotatedSecret>, ApiError> {
    let overlap = s.webhooks.rotation_overlap;
    as_caller(&s, b, move |g, p| g.rotate_webhook_secret(p, &id, overlap)).await.map(Json)
}

#[utoipa::path(delete, path = "/v1/webhooks/{id}", request_body(content = Option<ReasonBody>, description = "Optional: an empty body is accepted"), params(("id" = String, Path)),
    responses((status = 200, description = "Disabled (endpoints are never deleted: they are evidence)", body = EndpointView),
              (status = 409, description = "Already disabled")), security(("bearer" = [])))]
pub(super) async fn disable_webhook(
    State(s): State<AppState>,
    b: Bearer,
    ApiPath(id): ApiPath<String>,
    MaybeJson(body): MaybeJson<ReasonBody>,
) -> Result<Json<EndpointView>, ApiError> {
    let reason = body.and_then(|b| b.reason).unwrap_or_default();
    as_caller(&s, b, move |g, p| g.disable_webhook(p, &id, &reason)).await.map(Json)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeliveriesQuery {
    /// retrying | delivered | failed (the delivery's current state)
    #[param(value_type = Option<crate::openapi::DeliveryStatusName>)]
    pub status: Option<String>,
    /// Default 100, at most 1000.
    pub limit: Option<u32>,
}

#[utoipa::path(get, path = "/v1/webhooks/{id}/deliveries", params(("id" = String, Path), DeliveriesQuery),
    responses((status = 200, description = "Every attempt (status_code, latency_ms, error, outcome), newest first", body = List<DeliveryAttempt>)),
    security(("bearer" = [])))]
pub(super) async fn webhook_deliveries(
    State(s): State<AppState>,
    b: Bearer,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<DeliveriesQuery>,
) -> Result<Json<List<DeliveryAttempt>>, ApiError> {
    as_caller(&s, b, move |g, p| {
        Ok(List::of(g.webhook_deliveries(p, &id, q.status.as_deref(), q.limit.unwrap_or(100))?))
    })
    .await
    .map(Json)
}
