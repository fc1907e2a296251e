//! The routes for operators and tools, none of which needs a token: `GET /healthz` (liveness: the
//! log's size, `Gavel::log_size`), `GET /readyz` (readiness: `crate::readiness::evaluate`),
//! `GET /metrics` (`crate::metrics`, refreshed by the same evaluation) and `GET /v1/openapi.json`
//! (the document, [`super::api_doc`]). No core rule is behind them.

use super::api_doc;
use crate::error::ApiError;
use crate::AppState;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

#[utoipa::path(get, path = "/healthz", responses((status = 200, description = "The server runs and the log is readable", body = crate::openapi::Health)))]
pub(super) async fn healthz(State(state): State<AppState>) -> Result<Json<crate::openapi::Health>, ApiError> {
    let gavel = state.gavel.clone();
    let size = tokio::task::spawn_blocking(move || gavel.log_size())
        .await
        .map_err(|e| ApiError::internal(e.to_string()))??;
    Ok(Json(crate::openapi::Health { status: "ok".into(), tree_size: size }))
}

/// Readiness for load balancers: 200 when the log commits, the detectors keep up and the disk
/// has room; otherwise 503 naming each failing check (see `readiness`).
#[utoipa::path(get, path = "/readyz", responses(
    (status = 200, description = "Ready: every check passes", body = crate::readiness::Ready),
    (status = 503, description = "Not ready: the error body plus {status: \"unready\", failing: [names], checks}")))]
pub(super) async fn readyz(State(state): State<AppState>) -> Result<Response, ApiError> {
    let (readiness, gavel, metrics) = (state.readiness.clone(), state.gavel.clone(), state.metrics.clone());
    let report =
        tokio::task::spawn_blocking(move || crate::readiness::evaluate(&readiness, &gavel, &metrics))
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?;
    let checks: serde_json::Map<String, Value> =
        report.checks().into_iter().map(|(name, c)| (name.to_string(), json!(c))).collect();
    if report.ready {
        let ready = crate::readiness::Ready { status: "ready".into(), checks: report.by_name() };
        return Ok(Json(ready).into_response());
    }
    let failing = report.failing();
    let message = report
        .checks()
        .into_iter()
        .filter(|(_, c)| !c.ok)
        .map(|(name, c)| format!("{name}: {}", c.detail))
        .collect::<Vec<_>>()
        .join("; ");
    let body = json!({
        "error": {"code": "unavailable", "message": format!("not ready: {message}")},
        "status": "unready",
        "failing": failing,
        "checks": checks,
    });
    Ok((StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response())
}

/// The metrics, in the format the `Accept` header asks for (`crate::metrics::Format::negotiate`):
/// OpenMetrics 1.0.0 when the scraper accepts it, else the Prometheus text format 0.0.4.
#[utoipa::path(get, path = "/metrics", responses((status = 200, description = "Prometheus text exposition 0.0.4, or OpenMetrics 1.0.0 when the Accept header asks for application/openmetrics-text")))]
pub(super) async fn metrics(State(state): State<AppState>, headers: axum::http::HeaderMap) -> Response {
    // Also sets the log entries and the readiness gauges.
    let (readiness, gavel, metrics) = (state.readiness.clone(), state.gavel.clone(), state.metrics.clone());
    let _ =
        tokio::task::spawn_blocking(move || crate::readiness::evaluate(&readiness, &gavel, &metrics)).await;
    // Several Accept headers are one list (RFC 9110 5.3); a value that is not text accepts nothing.
    let accept: Vec<&str> = headers.get_all(header::ACCEPT).iter().filter_map(|v| v.to_str().ok()).collect();
    let accept = accept.join(",");
    let format = crate::metrics::Format::negotiate((!accept.is_empty()).then_some(accept.as_str()));
    ([(header::CONTENT_TYPE, format.content_type()), (header::VARY, "accept")], state.metrics.encode(format))
        .into_response()
}

#[utoipa::path(get, path = "/v1/openapi.json", responses((status = 200, description = "This document (OpenAPI 3.1)")))]
pub(super) async fn openapi() -> Json<Value> {
    Json(api_doc().clone())
}
