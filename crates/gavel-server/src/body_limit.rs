//! The request-body size limit, as one layer in front of every route.
//!
//! Invariant: a handler only ever runs with the whole body already in memory, at most
//! [`HttpLimits::max_body_bytes`] ([`MAX_BODY_BYTES`] unless gavel.toml `[limits]` says
//! otherwise). A larger body is answered 413 `payload_too_large` before any handler
//! (and so any authentication, check or append) runs, so a refused request never changes
//! anything. The limit cannot live in the extractors: a handler that takes no body would never
//! look at it and would commit its mutation while the client still uploads (and then sees a
//! reset instead of the answer, losing e.g. a rotated token).
//!
//! Why drain: a server that answers and closes while the client is still sending makes the
//! client's kernel see a reset, and most clients then report the reset, not the 413. The rest of
//! an oversized body is therefore read and thrown away, up to [`DRAIN_BYTES`] and
//! [`DRAIN_TIME`]; beyond that the connection is closed after the answer (what the client sees is
//! then up to its HTTP stack).

use crate::error::ApiError;
use crate::AppState;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use std::time::Duration;

/// The largest request body accepted by default (policy texts are the largest legitimate bodies).
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// Longest an approval long-poll (`GET /v1/approvals/{id}?wait=`) may hold a connection by default.
pub const MAX_WAIT_SECS: u64 = 60;

/// The limits of every request (gavel.toml `[limits]`, checked there).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpLimits {
    /// The largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Longest an approval long-poll may wait, in seconds.
    pub max_wait_secs: u64,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits { max_body_bytes: MAX_BODY_BYTES, max_wait_secs: MAX_WAIT_SECS }
    }
}
/// How much of an oversized body is read and discarded so the client gets the 413.
pub const DRAIN_BYTES: u64 = 16 * 1024 * 1024;
/// How long draining an oversized body may take.
pub const DRAIN_TIME: Duration = Duration::from_secs(5);

fn too_large(max: usize) -> Response {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("the request body is larger than {max} bytes; nothing was done"),
    )
    .into_response()
}

/// Reads and discards what is left of `body`, within the drain budget.
async fn drain(mut body: Body, already: u64) {
    let mut read = already;
    let _ = tokio::time::timeout(DRAIN_TIME, async {
        while read <= DRAIN_BYTES {
            match body.frame().await {
                Some(Ok(frame)) => read += frame.data_ref().map_or(0, |d| d.len() as u64),
                _ => break,
            }
        }
    })
    .await;
}

/// The layer: buffers the body (at most [`HttpLimits::max_body_bytes`]) before the route runs.
pub async fn limit_body(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let max = state.http_limits.max_body_bytes;
    let (parts, mut body) = req.into_parts();
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if let Some(declared) = declared {
        if declared > max as u64 {
            // A body too large to drain is not read at all: the answer goes out at once.
            if declared <= DRAIN_BYTES {
                drain(body, 0).await;
            }
            return too_large(max);
        }
    }
    let capacity = declared.map_or(0, |n| n as usize);
    let mut buf = Vec::with_capacity(capacity);
    loop {
        match body.frame().await {
            None => break,
            Some(Err(e)) => {
                return ApiError::bad_request(format!("the request body could not be read: {e}"))
                    .into_response()
            }
            Some(Ok(frame)) => {
                let Ok(data) = frame.into_data() else { continue };
                if buf.len() + data.len() > max {
                    drain(body, (buf.len() + data.len()) as u64).await;
                    return too_large(max);
                }
                buf.extend_from_slice(&data);
            }
        }
    }
    next.run(Request::from_parts(parts, Body::from(Bytes::from(buf)))).await
}
