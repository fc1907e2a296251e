//! The agent inventory in the console: every agent with its owner, environment, groups, status,
//! limits and whether a kill switch holds it; an admin suspends or reactivates it, an admin or
//! approver pulls or releases its kill switch (each with a reason, as core requires). Engaged
//! kill switches of every scope are listed too.

use super::pages::{layout, notices, Page};
use super::{blocking, csrf_refused, error_page, signed_in, urlencode, DoneQuery};
use crate::error::status_of;
use crate::AppState;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use gavel_core::containment::{KillSwitch, Scope};
use gavel_core::sessions::{csrf_matches, csrf_token};
use gavel_core::{Agent, CoreError, Principal, Status, User};
use maud::html;
use serde::Deserialize;

pub(super) async fn inventory(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<DoneQuery>, QueryRejection>,
) -> Response {
    let (user, sid) = match signed_in(&state, &headers).await {
        Ok(s) => s,
        Err(to) => return to,
    };
    let done = query.ok().and_then(|Query(q)| q.done).map(|a| match a.as_str() {
        "suspend" => "Suspended: its calls are denied until it is reactivated.",
        "reactivate" => "Reactivated.",
        "kill" => "Kill switch engaged: its calls are denied until it is released.",
        "release" => "Kill switch released.",
        _ => "Done.",
    });
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
    let listed =
        blocking(state, move |g| Ok((g.list_agents(&principal)?, g.list_kill_switches(&principal)?))).await;
    let (agents, switches) = match listed {
        Ok(l) => l,
        Err(e) => return error_page(e),
    };
    let page =
        render(&user, &csrf_token(sid), &agents, &switches, done, refused.as_ref().map(|(_, m)| m.as_str()));
    (refused.map_or(StatusCode::OK, |(s, _)| s), page).into_response()
}

fn render(
    user: &User,
    csrf: &str,
    agents: &[Agent],
    switches: &[KillSwitch],
    done: Option<&str>,
    refused: Option<&str>,
) -> Page {
    let engaged: Vec<&KillSwitch> = switches.iter().filter(|k| k.engaged).collect();
    let killed = |a: &Agent| engaged.iter().any(|k| k.scope == Scope::Agent(a.id.clone()));
    let limits = |a: &Agent| {
        let per_minute = a.limits.calls_per_minute.map(|n| format!("{n}/min"));
        let per_day = a.limits.cost_usd_per_day.map(|c| format!("${c}/day"));
        let both: Vec<String> = per_minute.into_iter().chain(per_day).collect();
        if both.is_empty() {
            "none".to_string()
        } else {
            both.join(", ")
        }
    };
    let form = |a: &Agent, action: &str, text: &str, reason: bool| {
        let id = format!("r-{action}-{}", a.id);
        html! {
            form.inline method="post" action=(format!("/console/agents/{}/{action}", urlencode(&a.id))) {
                input type="hidden" name="csrf" value=(csrf);
                @if reason {
                    label.sr for=(id) { "Reason to " (text.to_lowercase()) " " (a.name) }
                    input id=(id) type="text" name="reason" placeholder="reason" required;
                }
                button type="submit" { (text) }
            }
        }
    };
    let body = html! {
        h1 { "Agents" }
        (notices(done, refused))
        h2 { "Engaged kill switches (" (engaged.len()) ")" }
        @if engaged.is_empty() { p { "None: no call is stopped by a kill switch." } } @else {
            ul { @for k in &engaged {
                li { (k.scope.key()) " — " (k.reason.as_deref().unwrap_or("")) ", by "
                     (k.engaged_by.as_deref().unwrap_or("?")) " at " (k.engaged_at.as_deref().unwrap_or("?")) }
            } }
        }
        h2 { "Inventory (" (agents.len()) ")" }
        table {
            thead { tr { th scope="col" { "Agent" } th scope="col" { "Owner" } th scope="col" { "Environment" }
                         th scope="col" { "Groups" } th scope="col" { "Status" } th scope="col" { "Limits" }
                         th scope="col" { "Contain" } } }
            tbody {
                @for a in agents {
                    tr {
                        td { (a.name) br; small { (a.id) } }
                        td { (a.owner) }
                        td { (a.environment) " / " (a.tier) }
                        td { (a.groups.join(", ")) }
                        td { (a.status.as_str()) @if killed(a) { br; strong { "kill switch engaged" } } }
                        td { (limits(a)) }
                        td {
                            @if a.status == Status::Active { (form(a, "suspend", "Suspend", true)) }
                            @if a.status == Status::Suspended { (form(a, "reactivate", "Reactivate", false)) }
                            @if killed(a) { (form(a, "release", "Release", true)) }
                            @else if a.status != Status::Deactivated { (form(a, "kill", "Kill switch", true)) }
                        }
                    }
                }
            }
        }
    };
    layout("Agents", Some((user, csrf)), body)
}

#[derive(Deserialize)]
pub(super) struct ActForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
}

pub(super) async fn act(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((id, action)): Path<(String, String)>,
    form: Result<Form<ActForm>, FormRejection>,
) -> Response {
    let (user, sid) = match signed_in(&state, &headers).await {
        Ok(s) => s,
        Err(to) => return to,
    };
    let Ok(Form(f)) = form else { return csrf_refused() };
    if !csrf_matches(&sid, &f.csrf) {
        return csrf_refused();
    }
    if !["suspend", "reactivate", "kill", "release"].contains(&action.as_str()) {
        return error_page(CoreError::NotFound(format!("no agent action {action:?}")));
    }
    let principal = Principal::User(user.clone());
    let step = action.clone();
    let result = blocking(&state, move |g| {
        let p = &principal;
        let reason = f.reason.trim();
        match step.as_str() {
            "suspend" => g.set_agent_status_for(p, &id, Status::Suspended, reason, None).map(drop),
            "reactivate" => g.set_agent_status(p, &id, Status::Active, reason).map(drop),
            "kill" => g.engage_kill_switch(p, Scope::Agent(id.clone()), reason, None).map(drop),
            _ => g.release_kill_switch(p, Scope::Agent(id.clone()), reason).map(drop),
        }
    })
    .await;
    match result {
        Ok(()) => Redirect::to(&format!("/console/agents?done={action}")).into_response(),
        Err(e @ (CoreError::Internal(_) | CoreError::Unavailable(_))) => error_page(e),
        Err(e) => view(&state, user, &sid, None, Some((status_of(&e), e.to_string()))).await,
    }
}
