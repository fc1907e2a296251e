//! SOC 2 readiness in the console: the latest soc2 scan per criterion (enforcing, observe or gap,
//! its findings, failed operating rules among them), the trend over the recent scans, and a button that runs a
//! scan now (admins and auditors, as core decides).

use super::pages::{label, layout, notices, Page};
use super::{blocking, csrf_refused, error_page, signed_in, DoneQuery};
use crate::error::status_of;
use crate::AppState;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use gavel_core::compliance::Scan;
use gavel_core::sessions::{csrf_matches, csrf_token};
use gavel_core::{CoreError, Principal, User};
use maud::html;
use serde::Deserialize;

/// Scans shown in the trend.
const TREND: u32 = 12;

pub(super) async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<DoneQuery>, QueryRejection>,
) -> Response {
    let (user, sid) = match signed_in(&state, &headers).await {
        Ok(s) => s,
        Err(to) => return to,
    };
    let done = query.ok().and_then(|Query(q)| q.done).map(|_| "Scan completed and recorded.");
    view(&state, user, &sid, done, None).await
}

async fn view(
    state: &AppState,
    user: User,
    sid: &str,
    done: Option<&str>,
    refused: Option<(StatusCode, String)>,
) -> Response {
    let principal = Principal::User(user.clone());
    let scans = match blocking(state, move |g| g.compliance_scans(&principal, Some("soc2"), TREND)).await {
        Ok(s) => s,
        Err(e) => return error_page(e),
    };
    let page = render(&user, &csrf_token(sid), &scans, done, refused.as_ref().map(|(_, m)| m.as_str()));
    (refused.map_or(StatusCode::OK, |(s, _)| s), page).into_response()
}

fn count(scan: &Scan, state: &str) -> usize {
    scan.summary.get(state).copied().unwrap_or(0)
}

fn render(user: &User, csrf: &str, scans: &[Scan], done: Option<&str>, refused: Option<&str>) -> Page {
    let body = html! {
        h1 { "Readiness" }
        (notices(done, refused))
        form method="post" action="/console/readiness/scan" {
            input type="hidden" name="csrf" value=(csrf);
            button type="submit" { "Run a scan now" }
        }
        @match scans.first() {
            None => p { "No soc2 scan yet: run one." },
            Some(latest) => {
                p {
                    "Latest scan " (latest.id) ", " (latest.completed_at) " by " (latest.run_by) ": "
                    strong { (count(latest, "enforcing")) " enforcing, " (count(latest, "observe")) " observe, "
                             (count(latest, "gap")) " gap" }
                    @if let Some(p) = &latest.period { " (operating rules over " (p.from) " to " (p.to) ")" }
                }
                table {
                    thead { tr { th scope="col" { "Criterion" } th scope="col" { "State" } th scope="col" { "Findings" } } }
                    tbody {
                        @for c in &latest.criteria {
                            tr {
                                td { strong { (c.id) } " " (c.title) }
                                td class=(format!("state {}", label(&c.state))) { (label(&c.state)) }
                                td {
                                    @if c.findings.is_empty() { "none" }
                                    // Failed operating rules are findings too ("not operating: …").
                                    ul { @for f in &c.findings { li { "[" (label(&f.severity)) "] " (f.message) } } }
                                }
                            }
                        }
                    }
                }
                h2 { "Trend (latest first)" }
                table {
                    thead { tr { th scope="col" { "Scan" } th scope="col" { "When" } th scope="col" { "Enforcing" }
                                 th scope="col" { "Observe" } th scope="col" { "Gap" } th scope="col" { "New findings" }
                                 th scope="col" { "Remediated" } } }
                    tbody {
                        @for s in scans {
                            tr {
                                td { (s.id) } td { (s.completed_at) }
                                td { (count(s, "enforcing")) } td { (count(s, "observe")) } td { (count(s, "gap")) }
                                td { (s.new_findings.len()) } td { (s.remediated_findings.len()) }
                            }
                        }
                    }
                }
            }
        }
    };
    layout("Readiness", Some((user, csrf)), body)
}

#[derive(Deserialize)]
pub(super) struct ScanForm {
    #[serde(default)]
    csrf: String,
}

pub(super) async fn scan(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<ScanForm>, FormRejection>,
) -> Response {
    let (user, sid) = match signed_in(&state, &headers).await {
        Ok(s) => s,
        Err(to) => return to,
    };
    if !form.is_ok_and(|Form(f)| csrf_matches(&sid, &f.csrf)) {
        return csrf_refused();
    }
    let principal = Principal::User(user.clone());
    let settings = state.compliance.checks.clone();
    match blocking(&state, move |g| g.run_scan(&principal, "soc2", &settings)).await {
        Ok(_) => Redirect::to("/console/readiness?done=scan").into_response(),
        Err(e @ (CoreError::Internal(_) | CoreError::Unavailable(_))) => error_page(e),
        Err(e) => view(&state, user, &sid, None, Some((status_of(&e), e.to_string()))).await,
    }
}
