//! Decisions: `POST /v1/decide` (`Gavel::submit_decision_via`, the hot path, awaited without
//! holding a thread, in [`decide_for_agent`], which the ext_authz check shares),
//! `GET /v1/decisions/{id}` (`Gavel::decision`) and `POST /v1/decisions/{id}/outcome`
//! (`Gavel::record_outcome`). The bodies are core's `DecideRequest` and `OutcomeRequest`.

use super::{as_caller, ApiJson, ApiPath, Bearer};
use crate::error::ApiError;
use crate::metrics::DecisionLabels;
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use gavel_core::approvals::{OutcomeRequest, RecordedOutcome};
use gavel_core::audit::DecisionView;
use gavel_core::decide::{DecideRequest, DecideResponse, DecidedVia};
use std::time::Instant;

#[utoipa::path(post, path = "/v1/decide", request_body = DecideRequest,
    responses((status = 200, description = "The decision, recorded", body = DecideResponse),
              (status = 400, description = "Bad request"), (status = 401, description = "Unknown or revoked agent credential"),
              (status = 503, description = "The log could not commit: treat as deny")),
    security(("bearer" = [])))]
pub(super) async fn decide(
    State(state): State<AppState>,
    bearer: Bearer,
    ApiJson(req): ApiJson<DecideRequest>,
) -> Result<Response, ApiError> {
    decide_for_agent(&state, bearer, req, None).await.map(|decision| Json(decision).into_response())
}

/// Decides `req` for the agent whose token `bearer` carries, through core's one decide entry
/// point, and counts it in the metrics: `POST /v1/decide` and the ext_authz check
/// (`super::ext_authz`, `via` set) both answer from this, so they cannot differ in a rule.
pub(super) async fn decide_for_agent(
    state: &AppState,
    bearer: Bearer,
    req: DecideRequest,
    via: Option<DecidedVia>,
) -> Result<DecideResponse, ApiError> {
    let started = Instant::now();
    let metrics = state.metrics.clone();
    // Not `as_caller`: decide authenticates through its epoch-checked cache. Unlike the other
    // handlers, its synchronous part (cached authentication, one read transaction, evaluation,
    // the event) runs inline on the async worker: it is short (~75 µs of CPU under load), never
    // waits for the log writer, and the hand-off to the blocking pool and back cost more than
    // it (BENCHMARKS.md, decide path, stop 10). The wait for the writer's commit is awaited
    // without holding any thread, and the answer is built only from the committed decision.
    // A panic there still answers, with a 500 the agent treats as deny, instead of dropping the
    // connection (on the blocking pool it was a JoinError, answered the same way).
    let submitted = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        state
            .gavel
            .submit_decision_via(&bearer.token, req, via)
            .inspect_err(|e| bearer.note_if_refused(&state.gavel, e))
    }))
    .map_err(|_| ApiError::internal("the decision failed unexpectedly; treat the call as denied"))
    .and_then(|r| r.map_err(ApiError::from));
    let result = match submitted {
        Ok(pending) => {
            crate::access_log::note_principal(format!("agent:{}", pending.agent_id()));
            pending.committed().await.map_err(ApiError::from)
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(decision) => {
            metrics.decide_latency.observe(started.elapsed().as_secs_f64());
            metrics
                .decisions
                .get_or_create(&DecisionLabels {
                    outcome: decision.decision.as_str().into(),
                    enforced: decision.enforced.to_string(),
                })
                .inc();
            Ok(decision)
        }
        Err(e) => {
            if e.status == StatusCode::SERVICE_UNAVAILABLE {
                metrics.decide_unavailable.inc();
            }
            Err(e)
        }
    }
}

#[utoipa::path(get, path = "/v1/decisions/{id}", params(("id" = String, Path)), responses((status = 200, description = "One recorded decision", body = DecisionView)), security(("bearer" = [])))]
pub(super) async fn get_decision(
    State(s): State<AppState>,
    b: Bearer,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<DecisionView>, ApiError> {
    as_caller(&s, b, move |g, p| g.decision(p, &id)).await.map(Json)
}

#[utoipa::path(post, path = "/v1/decisions/{id}/outcome", request_body = OutcomeRequest, params(("id" = String, Path)),
    responses((status = 200, description = "Recorded; `bypass: true` flags an executed denial or unapproved call", body = RecordedOutcome),
              (status = 403, description = "Receipt refused (reused or not matching); recorded as a bypass finding"),
              (status = 409, description = "Outcome already recorded")),
    security(("bearer" = [])))]
pub(super) async fn record_outcome(
    State(s): State<AppState>,
    b: Bearer,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<OutcomeRequest>,
) -> Result<Json<RecordedOutcome>, ApiError> {
    as_caller(&s, b, move |g, p| g.record_outcome(p, &id, req)).await.map(Json)
}
