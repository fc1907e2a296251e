//! The incident workflow over HTTP (every rule lives in `gavel_core::incidents`):
//! `GET /v1/incidents` (`Gavel::incidents`, the query is core's `IncidentFilter`),
//! `POST /v1/incidents` (`Gavel::create_incident`, the body is core's `NewIncident`),
//! `GET /v1/incidents/{id}` (`Gavel::incident`), `POST /v1/incidents/{id}/assign`
//! (`Gavel::assign_incident`), `/triage` (`Gavel::triage_incident`), `/notes`
//! (`Gavel::note_incident`), `/contain` (`Gavel::contain_incident`, the body is core's
//! `ContainRequest`), `/resolve` (`Gavel::resolve_incident`), and `GET /v1/detections`
//! (`Gavel::detections`).

use super::{as_caller, created, ApiJson, ApiPath, ApiQuery, Bearer};
use crate::error::ApiError;
use crate::openapi::List;
use crate::AppState;
use axum::extract::State;
use axum::response::Response;
use axum::Json;
use gavel_core::detectors::RecordedDetection;
use gavel_core::incidents::{ContainRequest, IncidentFilter, IncidentView, NewIncident, Severity};
use serde::Deserialize;
use utoipa::ToSchema;

#[utoipa::path(get, path = "/v1/incidents", params(IncidentFilter),
    responses((status = 200, description = "{items}: incidents newest first, each with its timeline, time_to_contain_secs and time_to_resolve_secs", body = List<IncidentView>),
              (status = 400, description = "Bad filter")),
    security(("bearer" = [])))]
pub(super) async fn list_incidents(
    State(s): State<AppState>,
    b: Bearer,
    ApiQuery(filter): ApiQuery<IncidentFilter>,
) -> Result<Json<List<IncidentView>>, ApiError> {
    as_caller(&s, b, move |g, p| g.incidents(p, &filter)).await.map(|l| Json(List::of(l)))
}

#[utoipa::path(post, path = "/v1/incidents", request_body = NewIncident,
    responses((status = 201, description = "The incident, opened", body = IncidentView), (status = 400, description = "Bad input"),
              (status = 403, description = "Admins only")),
    security(("bearer" = [])))]
pub(super) async fn create_incident(
    State(s): State<AppState>,
    b: Bearer,
    ApiJson(new): ApiJson<NewIncident>,
) -> Result<Response, ApiError> {
    as_caller(&s, b, move |g, p| g.create_incident(p, new)).await.map(created)
}

#[utoipa::path(get, path = "/v1/incidents/{id}", params(("id" = String, Path)),
    responses((status = 200, description = "The incident with its full timeline (each entry a log event: seq, time, kind, author, data)", body = IncidentView),
              (status = 404, description = "No such incident")),
    security(("bearer" = [])))]
pub(super) async fn get_incident(
    State(s): State<AppState>,
    b: Bearer,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<IncidentView>, ApiError> {
    as_caller(&s, b, move |g, p| g.incident(p, &id)).await.map(Json)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignBody {
    /// The owner: a user id or name.
    pub owner: String,
}

#[utoipa::path(post, path = "/v1/incidents/{id}/assign", request_body = AssignBody, params(("id" = String, Path)),
    responses((status = 200, description = "Assigned (incident.assigned)", body = IncidentView), (status = 403, description = "Admins and approvers only"),
              (status = 409, description = "Resolved, already assigned to that user, or changed concurrently")),
    security(("bearer" = [])))]
pub(super) async fn assign_incident(
    State(s): State<AppState>,
    b: Bearer,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<AssignBody>,
) -> Result<Json<IncidentView>, ApiError> {
    as_caller(&s, b, move |g, p| g.assign_incident(p, &id, &body.owner)).await.map(Json)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TriageBody {
    /// A new severity, if the triage re-rates it.
    #[serde(default)]
    pub severity: Option<Severity>,
    #[serde(default)]
    pub note: Option<String>,
}

#[utoipa::path(post, path = "/v1/incidents/{id}/triage", request_body = TriageBody, params(("id" = String, Path)),
    responses((status = 200, description = "Triaged (incident.triaged)", body = IncidentView), (status = 409, description = "Not open")),
    security(("bearer" = [])))]
pub(super) async fn triage_incident(
    State(s): State<AppState>,
    b: Bearer,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<TriageBody>,
) -> Result<Json<IncidentView>, ApiError> {
    as_caller(&s, b, move |g, p| g.triage_incident(p, &id, body.severity, body.note.as_deref()))
        .await
        .map(Json)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteBody {
    pub text: String,
}

#[utoipa::path(post, path = "/v1/incidents/{id}/notes", request_body = NoteBody, params(("id" = String, Path)),
    responses((status = 200, description = "Noted (incident.noted)", body = IncidentView), (status = 400, description = "Empty note")),
    security(("bearer" = [])))]
pub(super) async fn note_incident(
    State(s): State<AppState>,
    b: Bearer,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<NoteBody>,
) -> Result<Json<IncidentView>, ApiError> {
    as_caller(&s, b, move |g, p| g.note_incident(p, &id, &body.text)).await.map(Json)
}

#[utoipa::path(post, path = "/v1/incidents/{id}/contain", request_body = ContainRequest, params(("id" = String, Path)),
    responses((status = 200, description = "Contained (incident.contained), with every containment action linked", body = IncidentView),
              (status = 400, description = "No action and no note"), (status = 409, description = "Not open or triaged")),
    security(("bearer" = [])))]
pub(super) async fn contain_incident(
    State(s): State<AppState>,
    b: Bearer,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<ContainRequest>,
) -> Result<Json<IncidentView>, ApiError> {
    as_caller(&s, b, move |g, p| g.contain_incident(p, &id, req)).await.map(Json)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveBody {
    /// What happened, why, and what changed (required, non-empty).
    #[serde(default)]
    pub writeup: Option<String>,
}

#[utoipa::path(post, path = "/v1/incidents/{id}/resolve", request_body = ResolveBody, params(("id" = String, Path)),
    responses((status = 200, description = "Resolved (incident.resolved)", body = IncidentView), (status = 400, description = "No writeup"),
              (status = 409, description = "Not triaged or contained")),
    security(("bearer" = [])))]
pub(super) async fn resolve_incident(
    State(s): State<AppState>,
    b: Bearer,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<ResolveBody>,
) -> Result<Json<IncidentView>, ApiError> {
    let writeup = body.writeup.unwrap_or_default();
    as_caller(&s, b, move |g, p| g.resolve_incident(p, &id, &writeup)).await.map(Json)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DetectionsQuery {
    /// Agent id.
    pub agent: Option<String>,
    /// e.g. deny_spike, secret_in_arguments, prompt_injection, destructive_command,
    /// rate_limit_breach, cost_cap_breach, new_tool
    pub detector: Option<String>,
    pub limit: Option<u32>,
}

#[utoipa::path(get, path = "/v1/detections", params(DetectionsQuery),
    responses((status = 200, description = "{items}: detections newest first, each with the seq of its detection.raised event", body = List<RecordedDetection>)),
    security(("bearer" = [])))]
pub(super) async fn list_detections(
    State(s): State<AppState>,
    b: Bearer,
    ApiQuery(q): ApiQuery<DetectionsQuery>,
) -> Result<Json<List<RecordedDetection>>, ApiError> {
    as_caller(&s, b, move |g, p| {
        Ok(List::of(g.detections(p, q.agent.as_deref(), q.detector.as_deref(), q.limit.unwrap_or(100))?))
    })
    .await
    .map(Json)
}
