//! Incidents in the console: the list (open ones first), one incident with its timeline, and the
//! steps people take — assign, triage, note, contain (a note, or the agent's kill switch), resolve with a
//! writeup — each through the same core call as the API, so core's rules (roles, the forward-only
//! state machine, a writeup to resolve) are refused here exactly as there.

use super::pages::{label, layout_live, notices, version_of, Live, Page};
use super::{blocking, csrf_refused, error_page, signed_in, urlencode, DoneQuery};
use crate::error::status_of;
use crate::AppState;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use gavel_core::containment::ScopeKind;
use gavel_core::incidents::{
    ContainKillSwitch, ContainRequest, IncidentFilter, IncidentStatus, IncidentView, Severity,
};
use gavel_core::sessions::{csrf_matches, csrf_token};
use gavel_core::{CoreError, Principal, User};
use maud::html;
use serde::Deserialize;

pub(super) async fn list(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let (user, sid) = match signed_in(&state, &headers).await {
        Ok(s) => s,
        Err(to) => return to,
    };
    let principal = Principal::User(user.clone());
    let filter = IncidentFilter { limit: Some(500), ..Default::default() };
    let listed = match blocking(&state, move |g| g.incidents(&principal, &filter)).await {
        Ok(l) => l,
        Err(e) => return error_page(e),
    };
    let (open, closed): (Vec<&IncidentView>, Vec<&IncidentView>) =
        listed.iter().partition(|i| i.incident.status != IncidentStatus::Resolved);
    let row = |i: &IncidentView| {
        html! {
            tr {
                td { a href=(format!("/console/incidents/{}", urlencode(&i.incident.id))) { (i.incident.title) } }
                td { (label(&i.incident.severity)) }
                td { (i.incident.status.as_str()) }
                td { (i.incident.owner.as_deref().unwrap_or("unassigned")) }
                td { (i.opened_at.as_deref().unwrap_or("")) }
            }
        }
    };
    let table = |items: &[&IncidentView]| {
        html! {
            table {
                thead { tr { th scope="col" { "Incident" } th scope="col" { "Severity" } th scope="col" { "Status" }
                             th scope="col" { "Owner" } th scope="col" { "Opened" } } }
                tbody { @for i in items { (row(i)) } }
            }
        }
    };
    let body = html! {
        h1 { "Incidents" }
        h2 { "Open (" (open.len()) ")" }
        @if open.is_empty() { p { "No open incident." } } @else { (table(&open)) }
        h2 { "Resolved (" (closed.len()) ")" }
        @if closed.is_empty() { p { "None yet." } } @else { (table(&closed)) }
    };
    let live = Live { what: "incidents", version: incidents_version(&listed) };
    layout_live("Incidents", Some((&user, &csrf_token(&sid))), body, Some(live)).into_response()
}

pub(super) async fn detail(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    query: Result<Query<DoneQuery>, QueryRejection>,
) -> Response {
    let (user, sid) = match signed_in(&state, &headers).await {
        Ok(s) => s,
        Err(to) => return to,
    };
    let done = query.ok().and_then(|Query(q)| q.done).map(|action| match action.as_str() {
        "assign" => "Assigned.",
        "triage" => "Triaged.",
        "note" => "Note added.",
        "contain" => "Containment recorded.",
        "resolve" => "Resolved.",
        _ => "Done.",
    });
    view(&state, user, &sid, &id, done, None).await
}

async fn view(
    state: &AppState,
    user: User,
    sid: &str,
    id: &str,
    done: Option<&str>,
    refused: Option<(StatusCode, String)>,
) -> Response {
    let principal = Principal::User(user.clone());
    let wanted = id.to_string();
    let incident = match blocking(state, move |g| g.incident(&principal, &wanted)).await {
        Ok(i) => i,
        Err(e) => return error_page(e),
    };
    let page = render(&user, &csrf_token(sid), &incident, done, refused.as_ref().map(|(_, m)| m.as_str()));
    (refused.map_or(StatusCode::OK, |(s, _)| s), page).into_response()
}

fn duration(secs: Option<f64>) -> String {
    match secs {
        None => "—".into(),
        Some(s) if s < 3600.0 => format!("{:.0} min", s / 60.0),
        Some(s) => format!("{:.1} h", s / 3600.0),
    }
}

fn render(user: &User, csrf: &str, v: &IncidentView, done: Option<&str>, refused: Option<&str>) -> Page {
    let i = &v.incident;
    let action = |name: &str| format!("/console/incidents/{}/{name}", urlencode(&i.id));
    let open = i.status != IncidentStatus::Resolved;
    let body = html! {
        p { a href="/console/incidents" { "← Incidents" } }
        h1 { (i.title) }
        (notices(done, refused))
        dl {
            dt { "Id" } dd { (i.id) }
            dt { "Severity" } dd { (label(&i.severity)) }
            dt { "Status" } dd { (i.status.as_str()) }
            dt { "Owner" } dd { (i.owner.as_deref().unwrap_or("unassigned")) }
            dt { "Agent" } dd { (i.agent.as_deref().unwrap_or("—")) }
            dt { "Opened" } dd { (v.opened_at.as_deref().unwrap_or("")) " by " (i.opened_by) }
            dt { "Time to contain" } dd { (duration(v.time_to_contain_secs)) }
            dt { "Time to resolve" } dd { (duration(v.time_to_resolve_secs)) }
            @if let Some(w) = &i.writeup { dt { "Writeup" } dd { (w) } }
        }
        h2 { "Timeline" }
        ol.timeline {
            @for e in &v.timeline {
                li {
                    strong { (e.entry.kind) } " · " (e.time) " · "
                    (e.entry.author.name.as_deref().unwrap_or(&e.entry.author.id))
                    " (seq " (e.seq) ")"
                    pre { (serde_json::to_string(&e.entry.data).unwrap_or_default()) }
                }
            }
        }
        @if open {
            h2 { "Next steps" }
            form method="post" action=(action("assign")) {
                input type="hidden" name="csrf" value=(csrf);
                label for="owner" { "Owner (a user name)" }
                input #owner type="text" name="owner" required;
                button type="submit" { "Assign" }
            }
            @if i.status == IncidentStatus::Open {
                form method="post" action=(action("triage")) {
                    input type="hidden" name="csrf" value=(csrf);
                    label for="severity" { "Severity after triage" }
                    select #severity name="severity" {
                        option value="" { "keep " (label(&i.severity)) }
                        @for s in ["low", "medium", "high", "critical"] { option value=(s) { (s) } }
                    }
                    label for="triage-note" { "Triage note" }
                    textarea #triage-note name="note" rows="2" {}
                    button type="submit" { "Triage" }
                }
            }
            form method="post" action=(action("note")) {
                input type="hidden" name="csrf" value=(csrf);
                label for="text" { "Note" }
                textarea #text name="text" rows="2" required {}
                button type="submit" { "Add note" }
            }
            form method="post" action=(action("contain")) {
                input type="hidden" name="csrf" value=(csrf);
                label for="note" { "What was done to contain it" }
                textarea #note name="note" rows="2" {}
                @if let Some(agent) = &i.agent {
                    label.check {
                        input type="checkbox" name="kill" value="agent";
                        " Also pull the kill switch of agent " (agent) " (its calls are denied until released)"
                    }
                }
                button type="submit" { "Record containment" }
            }
            form method="post" action=(action("resolve")) {
                input type="hidden" name="csrf" value=(csrf);
                label for="writeup" { "Writeup (cause, impact, what changed)" }
                textarea #writeup name="writeup" rows="4" required {}
                button type="submit" { "Resolve" }
            }
        }
    };
    let what = format!("incident:{}", i.id);
    layout_live(
        "Incidents",
        Some((user, csrf)),
        body,
        Some(Live { what: &what, version: incident_version(v) }),
    )
}

/// The version of the incident list: each incident's status and number of timeline entries.
pub(super) fn incidents_version(listed: &[IncidentView]) -> String {
    let parts: Vec<String> = listed
        .iter()
        .map(|i| format!("{}:{}:{}", i.incident.id, i.incident.status.as_str(), i.incident.entries))
        .collect();
    version_of(&parts.join(","))
}

/// The version of one incident: its status and number of timeline entries.
pub(super) fn incident_version(v: &IncidentView) -> String {
    version_of(&format!("{}:{}", v.incident.status.as_str(), v.incident.entries))
}

#[derive(Deserialize)]
pub(super) struct StepForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    owner: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    note: String,
    #[serde(default)]
    kill: Option<String>,
    #[serde(default)]
    writeup: String,
    #[serde(default)]
    severity: String,
}

pub(super) async fn act(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((id, action)): Path<(String, String)>,
    form: Result<Form<StepForm>, FormRejection>,
) -> Response {
    let (user, sid) = match signed_in(&state, &headers).await {
        Ok(s) => s,
        Err(to) => return to,
    };
    let Ok(Form(f)) = form else { return csrf_refused() };
    if !csrf_matches(&sid, &f.csrf) {
        return csrf_refused();
    }
    if !["assign", "triage", "note", "contain", "resolve"].contains(&action.as_str()) {
        return error_page(CoreError::NotFound(format!("no incident step {action:?}")));
    }
    let principal = Principal::User(user.clone());
    let (incident, step) = (id.clone(), action.clone());
    let result = blocking(&state, move |g| {
        let p = &principal;
        match step.as_str() {
            "assign" => g.assign_incident(p, &incident, f.owner.trim()),
            "triage" => {
                let severity = match f.severity.trim() {
                    "" => None,
                    s => Some(Severity::parse(s)?),
                };
                let note = Some(f.note.trim()).filter(|n| !n.is_empty());
                g.triage_incident(p, &incident, severity, note)
            }
            "note" => g.note_incident(p, &incident, &f.text),
            "contain" => {
                let agent = g.incident(p, &incident)?.incident.agent;
                let killswitch = match (f.kill.as_deref(), agent) {
                    (Some("agent"), Some(agent)) => Some(ContainKillSwitch {
                        scope: ScopeKind::Agent,
                        target: Some(agent),
                        reason: Some(f.note.trim().to_string()).filter(|n| !n.is_empty()),
                    }),
                    _ => None,
                };
                let note = Some(f.note.trim().to_string()).filter(|n| !n.is_empty());
                g.contain_incident(p, &incident, ContainRequest { killswitch, suspend_agent: None, note })
            }
            _ => g.resolve_incident(p, &incident, &f.writeup),
        }
    })
    .await;
    match result {
        Ok(_) => {
            Redirect::to(&format!("/console/incidents/{}?done={action}", urlencode(&id))).into_response()
        }
        Err(e @ (CoreError::Internal(_) | CoreError::Unavailable(_))) => error_page(e),
        Err(e) => view(&state, user, &sid, &id, None, Some((status_of(&e), e.to_string()))).await,
    }
}
