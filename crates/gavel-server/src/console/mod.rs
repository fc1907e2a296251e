//! The web console that `gavel serve` serves at `/`: server-rendered HTML (maud) that works
//! without JavaScript (the console's two small scripts only reload a live page and verify a shared
//! bundle in the browser), over the same `Gavel` calls as the API.
//!
//! | route | page | core |
//! |---|---|---|
//! | `GET /` | → the approvals queue (or sign-in) | — |
//! | `GET`, `POST /console/sign-in` | the sign-in form; opens a session | `Gavel::sign_in` |
//! | `POST /console/sign-out` | ends the session | `Gavel::sign_out` |
//! | `GET /console/approvals` | held calls, pending first, with Approve and Deny | `Gavel::approvals` |
//! | `POST /console/approvals/{id}` | decides one | `Gavel::decide_approval` |
//! | `GET /console/incidents`, `…/{id}` | incidents, one with its timeline | `Gavel::incidents`, `incident` |
//! | `POST /console/incidents/{id}/{assign,triage,note,contain,resolve}` | moves one on | `Gavel::assign_incident`, … |
//! | `GET /console/agents` | the inventory and the kill switches | `Gavel::list_agents`, `list_kill_switches` |
//! | `POST /console/agents/{id}/{suspend,reactivate,kill,release}` | contains one | `Gavel::set_agent_status_for`, `engage_kill_switch`, … |
//! | `GET /console/policies`, `…/{set}` | sets, pending changes; one set's versions, diffs, changes | `Gavel::list_policy_sets`, `list_policy_changes`, `policy_history` |
//! | `POST /console/policies/changes/{id}` | approves or rejects a change | `Gavel::approve_change`, `reject_change` |
//! | `GET /console/audit`, `…/{decision id}` | decisions searched; the trace of one | `Gavel::audit_decisions`, `trace` |
//! | `GET /console/readiness`, `POST …/scan` | the latest scan per criterion, the trend; runs one | `Gavel::compliance_scans`, `run_scan` |
//! | `GET /console/evidence`, `POST …/export` | bundles on record; exports a period | `Gavel::exports`, `compliance_api::export_to_server` |
//! | `GET /console/evidence/bundles/{id}`, `…/files/{path}` | one bundle, its files and share links; a file | `compliance_api::export_detail`, `export_file_of`, `Gavel::shares` |
//! | `POST /console/evidence/bundles/{id}/share`, `POST /console/evidence/shares/{id}/revoke` | a new link (shown once); revokes one | `compliance_api::share_export`, `Gavel::revoke_share` |
//! | `GET /console/notifications`, `POST …/channels` | notification channels; adds one | `Gavel::notification_channels`, `create_notification_channel` |
//! | `GET /console/notifications/channels/{id}`, `POST …/{id}/disable` | a channel's deliveries; disables it | `Gavel::notification_deliveries`, `disable_notification_channel` |
//! | `GET /console/share/{token}` | the auditor's page of a share link (no sign-in) | as `GET /v1/public/share/{token}` |
//! | `GET /console/static/console.css`, `verify.js`, `live.js` | the style sheet; the share page's check; live pages' reload | — |
//! | `GET /console/live/{approvals,incidents,incident:<id>}` | what a live page shows, as a version | as the page |
//!
//! Invariants:
//! * **one door**: every page asks core as the signed-in user (`Gavel::session_user`, then the
//!   same call the API makes), so a page shows and does exactly what the API would let that user
//!   see and do; no rule is repeated here (a viewer sees the queue, and core refuses their
//!   decision as it refuses the API's);
//! * **the session cookie** (`gavel_session`) holds a random session id, never the token:
//!   HttpOnly, SameSite=Strict, Path=/, `Secure` when `console_secure_cookie` says the console is
//!   served over TLS; core keeps only its hash and ends it on sign-out, expiry, token rotation or
//!   deactivation;
//! * **every form** (sign-out, decisions and every other step) carries the session's CSRF token and is refused
//!   without it; every POST is also refused when the browser says it comes from another origin
//!   (`Origin`, `Sec-Fetch-Site`); signing in is under the same per-source budget as the other
//!   routes that need no token;
//! * **headers**: a CSP that allows only the console's own script and style files, no inline
//!   ones (`default-src 'none'; script-src 'self'`), no framing, no
//!   referrer to other sites, no sniffing, and `Cache-Control: no-store` on every page.

mod agents;
mod audit;
mod channels;
mod evidence;
mod incidents;
mod pages;
mod policies;
mod readiness;
mod share;

use crate::error::status_of;
use crate::public::source_of;
use crate::AppState;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{FromRequest as _, Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use gavel_core::approvals::{Approval, ApprovalStatus};
use gavel_core::sessions::{csrf_matches, csrf_token, SESSION_TTL};
use gavel_core::{CoreError, Gavel, Principal, User};
use serde::Deserialize;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "gavel_session";
const STYLE: &str = include_str!("console.css");
/// The share page's in-browser verification (the console's only script).
const VERIFY_SCRIPT: &str = include_str!("verify.js");
/// Live pages' reload check.
const LIVE_SCRIPT: &str = include_str!("live.js");

/// How the console is served.
#[derive(Debug, Clone, Copy, Default)]
pub struct ConsoleSettings {
    /// Mark the session cookie `Secure`: set when browsers reach the console over HTTPS (a TLS
    /// proxy in front of gavel).
    pub secure_cookie: bool,
}

pub(crate) fn router(state: AppState) -> Router<AppState> {
    let budget = || axum::middleware::from_fn_with_state(state.clone(), crate::public::source_budget);
    let sign_in = post(submit_sign_in).route_layer(budget());
    let shared = get(share::page).route_layer(budget());
    Router::new()
        .route("/", get(home))
        .route("/console", get(home))
        .route("/console/", get(home))
        .route("/console/sign-in", get(sign_in_page).merge(sign_in))
        .route("/console/sign-out", post(sign_out))
        .route("/console/approvals", get(approvals_page))
        .route("/console/approvals/{id}", post(decide))
        .route("/console/incidents", get(incidents::list))
        .route("/console/incidents/{id}", get(incidents::detail))
        .route("/console/incidents/{id}/{action}", post(incidents::act))
        .route("/console/agents", get(agents::inventory))
        .route("/console/agents/{id}/{action}", post(agents::act))
        .route("/console/policies", get(policies::overview))
        .route("/console/policies/{set}", get(policies::history))
        .route("/console/policies/changes/{id}", post(policies::decide))
        .route("/console/audit", get(audit::search))
        .route("/console/audit/{id}", get(audit::trace))
        .route("/console/readiness", get(readiness::page))
        .route("/console/readiness/scan", post(readiness::scan))
        .route("/console/evidence", get(evidence::overview))
        .route("/console/evidence/export", post(evidence::export))
        .route("/console/evidence/bundles/{id}", get(evidence::bundle))
        .route("/console/evidence/bundles/{id}/files/{*path}", get(evidence::file))
        .route("/console/evidence/bundles/{id}/share", post(evidence::share))
        .route("/console/evidence/shares/{id}/revoke", post(evidence::revoke))
        .route("/console/notifications", get(channels::page))
        .route("/console/notifications/channels", post(channels::create))
        .route("/console/notifications/channels/{id}", get(channels::deliveries))
        .route("/console/notifications/channels/{id}/disable", post(channels::disable))
        .route("/console/share/{token}", shared)
        .route("/console/static/console.css", get(style))
        .route("/console/static/verify.js", get(script))
        .route("/console/static/live.js", get(live_script))
        .route("/console/live/{what}", get(live))
        .route_layer(axum::middleware::from_fn(guard))
}

/// Security headers on every console response, and cross-origin POSTs refused before any
/// handler runs.
async fn guard(req: Request, next: Next) -> Response {
    if req.method() == Method::POST && cross_origin(req.headers()) {
        let page = pages::message("Refused", "This form was sent from another site.");
        return with_headers((StatusCode::FORBIDDEN, page).into_response());
    }
    with_headers(next.run(req).await)
}

fn with_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    let set = |h: &mut HeaderMap, name: header::HeaderName, value: &'static str| {
        h.insert(name, HeaderValue::from_static(value));
    };
    set(
        h,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    set(h, header::X_FRAME_OPTIONS, "DENY");
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    // Not `no-referrer`: under it browsers send `Origin: null` with the console's own forms,
    // which the cross-origin check must refuse. `same-origin` still sends nothing elsewhere.
    set(h, header::REFERRER_POLICY, "same-origin");
    if !h.contains_key(header::CACHE_CONTROL) {
        set(h, header::CACHE_CONTROL, "no-store");
    }
    response
}

/// Whether the browser says the request comes from another origin: an `Origin` whose host is
/// not the `Host` asked for, or `Sec-Fetch-Site: cross-site`. Clients that send neither (curl)
/// still need the CSRF token, which only the page holds.
fn cross_origin(headers: &HeaderMap) -> bool {
    let value = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if value("sec-fetch-site") == Some("cross-site") {
        return true;
    }
    match (value("origin"), value("host")) {
        (Some("null"), _) => true,
        (Some(origin), Some(host)) => {
            origin.split_once("://").map(|(_, rest)| rest.trim_end_matches('/')) != Some(host)
        }
        (Some(_), None) => true,
        (None, _) => false,
    }
}

fn session_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_string())
        .filter(|v| !v.is_empty() && v.len() <= 128)
}

/// Runs a core call on the blocking pool (the store is synchronous).
pub(super) async fn blocking<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&Gavel) -> Result<T, CoreError> + Send + 'static,
) -> Result<T, CoreError> {
    let gavel = state.gavel.clone();
    tokio::task::spawn_blocking(move || f(&gavel))
        .await
        .unwrap_or_else(|e| Err(CoreError::Internal(e.to_string())))
}

/// The signed-in user and their session id, or where to send the browser instead.
pub(super) async fn signed_in(state: &AppState, headers: &HeaderMap) -> Result<(User, String), Response> {
    let to_sign_in = || Redirect::to("/console/sign-in").into_response();
    let Some(id) = session_id(headers) else { return Err(to_sign_in()) };
    let sid = id.clone();
    match blocking(state, move |g| g.session_user(&sid)).await {
        Ok(Principal::User(user)) => {
            crate::access_log::note_principal(format!("user:{}", user.id));
            Ok((user, id))
        }
        Ok(_) | Err(CoreError::Unauthenticated(_)) => Err(to_sign_in()),
        Err(e) => Err(error_page(e)),
    }
}

pub(super) fn error_page(e: CoreError) -> Response {
    if status_of(&e).is_server_error() {
        tracing::error!(error = %e, "console request failed");
    }
    (status_of(&e), pages::message("Could not do that", &e.to_string())).into_response()
}

async fn home(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match signed_in(&state, &headers).await {
        Ok(_) => Redirect::to("/console/approvals").into_response(),
        Err(to) => to,
    }
}

async fn style() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=300")],
        STYLE,
    )
        .into_response()
}

async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        VERIFY_SCRIPT,
    )
        .into_response()
}

async fn live_script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        LIVE_SCRIPT,
    )
        .into_response()
}

/// The current version of what a live page shows (`live.js` asks every few seconds): the same
/// core reads as the page, as the signed-in user.
async fn live(State(state): State<AppState>, headers: HeaderMap, Path(what): Path<String>) -> Response {
    let Ok((user, _)) = signed_in(&state, &headers).await else {
        return (StatusCode::UNAUTHORIZED, axum::Json(serde_json::json!({}))).into_response();
    };
    let principal = Principal::User(user);
    let version = blocking(&state, move |g| {
        let p = &principal;
        if what == "approvals" {
            Ok(pages::approvals_version(&g.approvals(p, Some(ApprovalStatus::Pending), 200)?))
        } else if what == "incidents" {
            let filter = gavel_core::incidents::IncidentFilter { limit: Some(500), ..Default::default() };
            Ok(incidents::incidents_version(&g.incidents(p, &filter)?))
        } else if let Some(id) = what.strip_prefix("incident:") {
            Ok(incidents::incident_version(&g.incident(p, id)?))
        } else {
            Err(CoreError::NotFound(format!("no live page {what:?}")))
        }
    })
    .await;
    match version {
        Ok(v) => axum::Json(serde_json::json!({ "version": v })).into_response(),
        Err(e) => (status_of(&e), axum::Json(serde_json::json!({}))).into_response(),
    }
}

async fn sign_in_page() -> Response {
    pages::sign_in(None).into_response()
}

#[derive(Deserialize)]
struct SignInForm {
    token: String,
}

async fn submit_sign_in(State(state): State<AppState>, req: Request) -> Response {
    let source = Some(source_of(&req).to_string());
    let Ok(Form(form)) = Form::<SignInForm>::from_request(req, &state).await else {
        return (StatusCode::BAD_REQUEST, pages::sign_in(Some("Enter your user token."))).into_response();
    };
    let token = form.token.trim().to_string();
    if token.is_empty() {
        return (StatusCode::BAD_REQUEST, pages::sign_in(Some("Enter your user token."))).into_response();
    }
    match blocking(&state, move |g| g.sign_in(&token, source.as_deref())).await {
        Ok(session) => {
            let mut cookie = format!(
                "{SESSION_COOKIE}={}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}",
                session.id,
                SESSION_TTL.whole_seconds()
            );
            if state.console.secure_cookie {
                cookie.push_str("; Secure");
            }
            let mut response = Redirect::to("/console/approvals").into_response();
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                response.headers_mut().insert(header::SET_COOKIE, v);
            }
            response
        }
        Err(e @ (CoreError::Unauthenticated(_) | CoreError::Forbidden(_))) => {
            let status = status_of(&e);
            let message = match e {
                CoreError::Unauthenticated(_) => "That token is not valid, or it was revoked.".to_string(),
                other => other.to_string(),
            };
            (status, pages::sign_in(Some(&message))).into_response()
        }
        Err(e) => error_page(e),
    }
}

/// `?done=<step>`: what a page's redirect after a form confirms (agents, incidents, policies,
/// readiness, evidence, notifications).
#[derive(Deserialize)]
struct DoneQuery {
    done: Option<String>,
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

fn clear_cookie(secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}"))
        .unwrap_or_else(|_| HeaderValue::from_static("gavel_session=; Path=/; Max-Age=0"))
}

async fn sign_out(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<CsrfForm>, FormRejection>,
) -> Response {
    let (_, sid) = match signed_in(&state, &headers).await {
        Ok(s) => s,
        Err(to) => return to,
    };
    if !form.is_ok_and(|Form(f)| csrf_matches(&sid, &f.csrf)) {
        return csrf_refused();
    }
    if let Err(e) = blocking(&state, move |g| g.sign_out(&sid)).await {
        return error_page(e);
    }
    let mut response = Redirect::to("/console/sign-in").into_response();
    response.headers_mut().insert(header::SET_COOKIE, clear_cookie(state.console.secure_cookie));
    response
}

pub(super) fn csrf_refused() -> Response {
    let page = pages::message(
        "Refused",
        "This form has expired or did not come from this console: reload the page.",
    );
    (StatusCode::FORBIDDEN, page).into_response()
}

#[derive(Deserialize)]
struct ApprovalsQuery {
    /// The approval just decided, to confirm on the page.
    decided: Option<String>,
}

async fn approvals_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<ApprovalsQuery>, QueryRejection>,
) -> Response {
    let (user, sid) = match signed_in(&state, &headers).await {
        Ok(s) => s,
        Err(to) => return to,
    };
    let decided = query.ok().and_then(|Query(q)| q.decided);
    approvals_view(&state, user, &sid, decided, None).await
}

/// The approvals page, with an optional notice of what was just done or why it was refused.
async fn approvals_view(
    state: &AppState,
    user: User,
    sid: &str,
    decided: Option<String>,
    refused: Option<(StatusCode, String)>,
) -> Response {
    let principal = Principal::User(user.clone());
    let listed = blocking(state, move |g| {
        let pending = g.approvals(&principal, Some(ApprovalStatus::Pending), 200)?;
        let recent: Vec<Approval> = g
            .approvals(&principal, None, 50)?
            .into_iter()
            .filter(|a| a.status != ApprovalStatus::Pending)
            .take(20)
            .collect();
        let just = match decided {
            Some(id) => g.approval(&principal, &id).ok(),
            None => None,
        };
        Ok((pending, recent, just))
    })
    .await;
    let (pending, recent, just) = match listed {
        Ok(l) => l,
        Err(e) => return error_page(e),
    };
    let now = state.gavel.clock().now();
    let view = pages::ApprovalsView {
        user: &user,
        csrf: &csrf_token(sid),
        pending: &pending,
        recent: &recent,
        just_decided: just.as_ref(),
        refused: refused.as_ref().map(|(_, m)| m.as_str()),
        now,
    };
    let status = refused.as_ref().map_or(StatusCode::OK, |(s, _)| *s);
    (status, pages::approvals(&view)).into_response()
}

#[derive(Deserialize)]
struct DecideForm {
    #[serde(default)]
    csrf: String,
    decision: String,
    #[serde(default)]
    comment: String,
}

async fn decide(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Result<Form<DecideForm>, FormRejection>,
) -> Response {
    let (user, sid) = match signed_in(&state, &headers).await {
        Ok(s) => s,
        Err(to) => return to,
    };
    let Ok(Form(form)) = form else {
        return (StatusCode::BAD_REQUEST, pages::message("Refused", "The form was incomplete."))
            .into_response();
    };
    if !csrf_matches(&sid, &form.csrf) {
        return csrf_refused();
    }
    let approve = match form.decision.as_str() {
        "approve" => true,
        "deny" => false,
        _ => {
            let refused = (StatusCode::BAD_REQUEST, "Choose Approve or Deny.".to_string());
            return approvals_view(&state, user, &sid, None, Some(refused)).await;
        }
    };
    let comment = form.comment.trim().to_string();
    let principal = Principal::User(user.clone());
    let decided_id = id.clone();
    let result = blocking(&state, move |g| {
        g.decide_approval(&principal, &decided_id, approve, (!comment.is_empty()).then_some(comment.as_str()))
    })
    .await;
    match result {
        Ok(a) => Redirect::to(&format!("/console/approvals?decided={}", urlencode(&a.id))).into_response(),
        Err(e) if !matches!(e, CoreError::Internal(_) | CoreError::Unavailable(_)) => {
            let status = status_of(&e);
            approvals_view(&state, user, &sid, None, Some((status, e.to_string()))).await
        }
        Err(e) => error_page(e),
    }
}

/// Percent-encodes everything but unreserved characters (ids are `apr_<hex>`, but a redirect
/// must never carry a raw byte from elsewhere).
pub(super) fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn cross_origin_posts_are_recognized() {
        assert!(!cross_origin(&headers(&[("host", "127.0.0.1:7311")])), "no Origin: a CLI client");
        assert!(!cross_origin(&headers(&[("host", "127.0.0.1:7311"), ("origin", "http://127.0.0.1:7311")])));
        assert!(cross_origin(&headers(&[("host", "127.0.0.1:7311"), ("origin", "https://evil.test")])));
        assert!(cross_origin(&headers(&[("host", "127.0.0.1:7311"), ("origin", "null")])));
        assert!(cross_origin(&headers(&[("host", "a"), ("sec-fetch-site", "cross-site")])));
        assert!(!cross_origin(&headers(&[("host", "a"), ("sec-fetch-site", "same-origin")])));
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        assert_eq!(session_id(&headers(&[("cookie", "a=1; gavel_session=abc; b=2")])), Some("abc".into()));
        assert_eq!(
            session_id(&headers(&[("cookie", "a=1"), ("cookie", "gavel_session=x")])),
            Some("x".into())
        );
        assert_eq!(session_id(&headers(&[("cookie", "gavel_session=")])), None);
        assert_eq!(session_id(&headers(&[])), None);
    }

    #[test]
    fn redirect_targets_are_percent_encoded() {
        assert_eq!(urlencode("apr_0a9f"), "apr_0a9f");
        assert_eq!(urlencode("a/b?c=d e"), "a%2Fb%3Fc%3Dd%20e");
    }
}
