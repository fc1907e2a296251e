//! One access log line per HTTP request (target `gavel::access`, level info; turned off with
//! `RUST_LOG=info,gavel::access=off`): a request id (also sent back as `x-request-id`), the client
//! address (`client_addr`: behind a trusted proxy, the address it forwarded for), the method, the
//! route *template*, the status, the latency and the authenticated principal (`user:<id>` /
//! `agent:<id>`), when there is one.
//!
//! Invariants: no token, body or raw path is ever logged — the raw path of a share link carries
//! its token, so only the matched template (`/v1/public/share/{token}/…`) is; requests that match
//! no route log `(no route)`. The outer layer ([`log_request`]) opens a per-request task-local
//! that the router's route layer ([`note_route`]) and the handlers ([`note_principal`]) fill in;
//! axum runs all three in the request's task.

use axum::extract::{MatchedPath, Request};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

/// `req_<process prefix>_<counter>`: unique within the process and cheap (no random per request);
/// the random prefix tells processes apart.
fn request_id() -> String {
    static PREFIX: OnceLock<String> = OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let prefix = PREFIX.get_or_init(|| gavel_core::ids::new_id("req"));
    format!("{prefix}_{:x}", NEXT.fetch_add(1, Ordering::Relaxed))
}

#[derive(Default)]
struct Seen {
    route: Option<String>,
    principal: Option<String>,
}

tokio::task_local! {
    static SEEN: RefCell<Seen>;
}

/// Records who the request was authenticated as (a no-op outside a logged request).
pub(crate) fn note_principal(principal: String) {
    let _ = SEEN.try_with(|s| s.borrow_mut().principal = Some(principal));
}

/// Route layer: records the matched route template.
pub(crate) async fn note_route(req: Request, next: Next) -> Response {
    if let Some(path) = req.extensions().get::<MatchedPath>() {
        let route = path.as_str().to_string();
        let _ = SEEN.try_with(|s| s.borrow_mut().route = Some(route));
    }
    next.run(req).await
}

/// Outermost layer: times the request and writes its access log line.
pub(crate) async fn log_request(req: Request, next: Next) -> Response {
    // Off (e.g. `RUST_LOG=info,gavel::access=off`, or no subscriber as in the benches): no cost.
    if !tracing::enabled!(target: "gavel::access", tracing::Level::INFO) {
        return next.run(req).await;
    }
    let started = Instant::now();
    let method = req.method().clone();
    let client = req.extensions().get::<crate::client_addr::ClientAddr>().map(|c| c.0);
    let request_id = request_id();
    let (mut response, seen) = SEEN
        .scope(RefCell::new(Seen::default()), async {
            let response = next.run(req).await;
            let seen = SEEN.with(|s| std::mem::take(&mut *s.borrow_mut()));
            (response, seen)
        })
        .await;
    tracing::info!(
        target: "gavel::access",
        request_id = %request_id,
        client = %client.map_or_else(|| "-".to_string(), |c| c.to_string()),
        method = %method,
        route = seen.route.as_deref().unwrap_or("(no route)"),
        status = response.status().as_u16(),
        latency_ms = format!("{:.3}", started.elapsed().as_secs_f64() * 1000.0),
        principal = seen.principal.as_deref().unwrap_or("-"),
        "request"
    );
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}
