//! The record and its proofs: `GET /v1/audit` (`Gavel::audit_decisions`, the query is core's
//! `AuditFilter`), `GET /v1/audit/trace/{id}` (`Gavel::trace`), `GET /v1/audit/verify`
//! (`Gavel::verify_log`), `GET /v1/audit/checkpoint` (`Gavel::checkpoint`),
//! `GET /v1/audit/proof/inclusion` (`Gavel::inclusion_proof`), and the public `GET /checkpoint`
//! (`Gavel::latest_checkpoint`) and `GET /v1/audit/consistency` (`Gavel::consistency_proof`).

use super::{as_caller, ApiPath, ApiQuery, Bearer};
use crate::error::{ApiError, ErrorBody};
use crate::openapi::{CheckpointAnswer, ConsistencyProof, InclusionProof, VerifyAnswer};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use gavel_core::audit::{AuditFilter, Page, Trace};
use serde::Deserialize;

#[utoipa::path(get, path = "/v1/audit", params(AuditFilter), responses((status = 200, description = "Recorded decisions, newest first, and the cursor of the next page", body = Page)), security(("bearer" = [])))]
pub(super) async fn audit(
    State(s): State<AppState>,
    b: Bearer,
    ApiQuery(filter): ApiQuery<AuditFilter>,
) -> Result<Json<Page>, ApiError> {
    as_caller(&s, b, move |g, p| g.audit_decisions(p, &filter)).await.map(Json)
}

#[utoipa::path(get, path = "/v1/audit/trace/{id}", params(("id" = String, Path, description = "decision id")), responses((status = 200, description = "One action end to end", body = Trace)), security(("bearer" = [])))]
pub(super) async fn trace(
    State(s): State<AppState>,
    b: Bearer,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Trace>, ApiError> {
    as_caller(&s, b, move |g, p| g.trace(p, &id)).await.map(Json)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct VerifyQuery {
    /// First seq (default 0).
    pub offset: Option<u64>,
    /// How many events (default: to the end).
    pub limit: Option<u64>,
}

#[utoipa::path(get, path = "/v1/audit/verify", params(VerifyQuery), responses((status = 200, description = "What verification of the range found", body = VerifyAnswer)), security(("bearer" = [])))]
pub(super) async fn verify(
    State(s): State<AppState>,
    b: Bearer,
    ApiQuery(q): ApiQuery<VerifyQuery>,
) -> Result<Json<VerifyAnswer>, ApiError> {
    let from = q.offset.unwrap_or(0);
    let to = q.limit.map(|l| from.saturating_add(l));
    as_caller(&s, b, move |g, p| g.verify_log(p, from, to, &[])).await.map(|r| Json(VerifyAnswer::from(r)))
}

#[utoipa::path(get, path = "/v1/audit/checkpoint", responses((status = 200, description = "The latest signed checkpoint (signing one if the log grew)", body = CheckpointAnswer)), security(("bearer" = [])))]
pub(super) async fn checkpoint(
    State(s): State<AppState>,
    b: Bearer,
) -> Result<Json<CheckpointAnswer>, ApiError> {
    as_caller(&s, b, move |g, p| g.checkpoint(p)).await.map(Json)
}

/// The latest signed checkpoint as a plain C2SP signed note, for monitors and witnesses that
/// follow the log. Public, like a transparency log's checkpoint (it reveals the log's size and
/// root, nothing of its content); it never signs on demand (the server signs every 10 s).
#[utoipa::path(get, path = "/checkpoint", responses(
    (status = 200, description = "The latest signed checkpoint (C2SP signed note)", content_type = "text/plain; charset=utf-8", body = String),
    (status = 404, description = "No checkpoint has been signed yet", body = ErrorBody),
    (status = 429, description = "The source's request budget is spent", body = ErrorBody)))]
pub(super) async fn public_checkpoint(State(s): State<AppState>) -> Result<Response, ApiError> {
    let gavel = s.gavel.clone();
    let latest = tokio::task::spawn_blocking(move || gavel.latest_checkpoint())
        .await
        .map_err(|e| ApiError::internal(e.to_string()))??;
    let c = latest.ok_or_else(|| {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", "no checkpoint has been signed yet")
    })?;
    Ok(([(axum::http::header::CONTENT_TYPE, "text/plain; charset=utf-8")], c.note).into_response())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ConsistencyQuery {
    /// The older tree size (the size of a checkpoint the caller holds).
    pub old: u64,
    /// The newer tree size (default: the latest signed checkpoint).
    pub new: Option<u64>,
}

/// An RFC 9162 consistency proof from an older tree size to a newer one (default: the latest
/// signed checkpoint, returned with it), so a holder of an old checkpoint can check that the log
/// only grew. Public for the same reason as `/checkpoint`.
#[utoipa::path(get, path = "/v1/audit/consistency", params(ConsistencyQuery), responses(
    (status = 200, description = "RFC 9162 consistency proof", body = ConsistencyProof),
    (status = 400, description = "Sizes out of range", body = ErrorBody),
    (status = 404, description = "No checkpoint has been signed yet", body = ErrorBody),
    (status = 429, description = "The source's request budget is spent", body = ErrorBody)))]
pub(super) async fn consistency_proof(
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<ConsistencyQuery>,
) -> Result<Json<ConsistencyProof>, ApiError> {
    let gavel = s.gavel.clone();
    tokio::task::spawn_blocking(move || gavel.consistency_proof(q.old, q.new))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(ApiError::from)
        .map(Json)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ProofQuery {
    pub seq: u64,
    /// Tree size (default: the latest checkpoint).
    pub tree_size: Option<u64>,
}

#[utoipa::path(get, path = "/v1/audit/proof/inclusion", params(ProofQuery), responses((status = 200, description = "RFC 9162 inclusion proof", body = InclusionProof), (status = 404, description = "The seq is not in the log, or no checkpoint yet")), security(("bearer" = [])))]
pub(super) async fn inclusion_proof(
    State(s): State<AppState>,
    b: Bearer,
    ApiQuery(q): ApiQuery<ProofQuery>,
) -> Result<Json<InclusionProof>, ApiError> {
    as_caller(&s, b, move |g, p| g.inclusion_proof(p, q.seq, q.tree_size)).await.map(Json)
}
