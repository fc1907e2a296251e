//! The retention period, purges and legal holds, over `gavel_core::retention` (every rule —
//! 365-day minimum, admin only, two-person shortening and release — lives there):
//! `GET /v1/retention` (`Gavel::retention_overview`), `PUT /v1/retention` (`Gavel::set_retention`),
//! `POST /v1/retention/approve` (`Gavel::approve_retention`), `POST /v1/retention/purge`
//! (`Gavel::purge_expired`), `GET /v1/holds` (`Gavel::holds`), `POST /v1/holds`
//! (`Gavel::place_hold`, `Gavel::place_incident_hold`), `GET /v1/holds/{id}` (`Gavel::hold`),
//! `POST /v1/holds/{id}/release` (`Gavel::request_hold_release`) and
//! `POST /v1/holds/{id}/release/approve` (`Gavel::approve_hold_release`).

use super::{as_caller, created, ApiJson, ApiPath, Bearer, NoBody};
use crate::error::ApiError;
use crate::openapi::List;
use crate::AppState;
use axum::extract::State;
use axum::response::Response;
use axum::Json;
use gavel_core::retention::{Hold, PurgeReport, RetentionChange, RetentionOverview, RetentionPolicy};
use serde::Deserialize;
use utoipa::ToSchema;

#[utoipa::path(get, path = "/v1/retention", responses((status = 200, description = "The retention period in force, the minimum, purge progress and holds in force", body = RetentionOverview)), security(("bearer" = [])))]
pub(super) async fn show_retention(
    State(s): State<AppState>,
    b: Bearer,
) -> Result<Json<RetentionOverview>, ApiError> {
    as_caller(&s, b, |g, p| g.retention_overview(p)).await.map(Json)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetentionBody {
    /// Days event payloads are kept; at least 365.
    pub days: u32,
}

#[utoipa::path(put, path = "/v1/retention", request_body = RetentionBody, responses((status = 200, description = "`status: applied` (kept or lengthened, logged) or `status: pending` (a shortening: a different admin approves it with POST /v1/retention/approve)", body = RetentionChange), (status = 400, description = "Below the 365-day minimum")), security(("bearer" = [])))]
pub(super) async fn set_retention(
    State(s): State<AppState>,
    b: Bearer,
    ApiJson(body): ApiJson<RetentionBody>,
) -> Result<Json<RetentionChange>, ApiError> {
    as_caller(&s, b, move |g, p| g.set_retention(p, body.days)).await.map(Json)
}

#[utoipa::path(post, path = "/v1/retention/approve", responses((status = 200, description = "The pending shortening applies from now on (logged with requester and approver)", body = RetentionPolicy), (status = 403, description = "The requester cannot approve their own change"), (status = 409, description = "No change is pending")), security(("bearer" = [])))]
pub(super) async fn approve_retention(
    State(s): State<AppState>,
    b: Bearer,
    _: NoBody,
) -> Result<Json<RetentionPolicy>, ApiError> {
    as_caller(&s, b, |g, p| g.approve_retention(p)).await.map(Json)
}

#[utoipa::path(post, path = "/v1/retention/purge", responses((status = 200, description = "Payloads past retention and not held were cleared; each batch is a retention.purged event", body = PurgeReport)), security(("bearer" = [])))]
pub(super) async fn purge(
    State(s): State<AppState>,
    b: Bearer,
    _: NoBody,
) -> Result<Json<PurgeReport>, ApiError> {
    as_caller(&s, b, |g, p| g.purge_expired(Some(p))).await.map(Json)
}

#[utoipa::path(get, path = "/v1/holds", responses((status = 200, description = "Legal holds, newest first", body = List<Hold>)), security(("bearer" = [])))]
pub(super) async fn list_holds(State(s): State<AppState>, b: Bearer) -> Result<Json<List<Hold>>, ApiError> {
    as_caller(&s, b, |g, p| Ok(List::of(g.holds(p)?))).await.map(Json)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HoldBody {
    /// Start of the held range: a date (2026-01-01) or an RFC 3339 time, inclusive.
    #[serde(default)]
    pub from: Option<String>,
    /// End of the held range, exclusive.
    #[serde(default)]
    pub to: Option<String>,
    /// Hold an incident's events instead of a time range.
    #[serde(default)]
    pub incident_id: Option<String>,
    pub reason: String,
}

#[utoipa::path(post, path = "/v1/holds", request_body = HoldBody, responses((status = 201, description = "Placed: nothing in the range is purged until a two-person release", body = Hold)), security(("bearer" = [])))]
pub(super) async fn place_hold(
    State(s): State<AppState>,
    b: Bearer,
    ApiJson(body): ApiJson<HoldBody>,
) -> Result<Response, ApiError> {
    as_caller(&s, b, move |g, p| match (body.from, body.to, body.incident_id) {
        (Some(from), Some(to), None) => g.place_hold(p, &from, &to, &body.reason),
        (None, None, Some(incident)) => g.place_incident_hold(p, &incident, &body.reason),
        _ => Err(gavel_core::CoreError::Invalid(
            "a hold covers either a time range (from and to) or an incident (incident_id)".into(),
        )),
    })
    .await
    .map(created)
}

#[utoipa::path(get, path = "/v1/holds/{id}", responses((status = 200, description = "One hold", body = Hold)), security(("bearer" = [])))]
pub(super) async fn get_hold(
    State(s): State<AppState>,
    b: Bearer,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Hold>, ApiError> {
    as_caller(&s, b, move |g, p| g.hold(p, &id)).await.map(Json)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReleaseBody {
    pub reason: String,
}

#[utoipa::path(post, path = "/v1/holds/{id}/release", request_body = ReleaseBody, responses((status = 200, description = "Release requested; the hold stays until a second admin approves", body = Hold)), security(("bearer" = [])))]
pub(super) async fn request_release(
    State(s): State<AppState>,
    b: Bearer,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<ReleaseBody>,
) -> Result<Json<Hold>, ApiError> {
    as_caller(&s, b, move |g, p| g.request_hold_release(p, &id, &body.reason)).await.map(Json)
}

#[utoipa::path(post, path = "/v1/holds/{id}/release/approve", responses((status = 200, description = "Released", body = Hold), (status = 403, description = "The requester cannot approve")), security(("bearer" = [])))]
pub(super) async fn approve_release(
    State(s): State<AppState>,
    b: Bearer,
    ApiPath(id): ApiPath<String>,
    _: NoBody,
) -> Result<Json<Hold>, ApiError> {
    as_caller(&s, b, move |g, p| g.approve_hold_release(p, &id)).await.map(Json)
}
