//! Policies in the console: every set with its mode and version in force, the pending two-person
//! changes (an admin other than the proposer approves or rejects each, with a comment), and one
//! set's history: each version with its author and text digest, the diff from the version before,
//! and every change with who proposed and who decided it. Core decides who may approve (an admin,
//! never the proposer), exactly as for `gavel policy approve`.

use super::pages::{label, layout, notices, Page};
use super::{blocking, csrf_refused, error_page, signed_in, urlencode, DoneQuery};
use crate::error::status_of;
use crate::AppState;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use gavel_core::policies::{ChangeStatus, PolicyChange, PolicyHistory, PolicySet};
use gavel_core::sessions::{csrf_matches, csrf_token};
use gavel_core::{CoreError, Principal, User};
use maud::{html, Markup};
use serde::Deserialize;

pub(super) async fn overview(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<DoneQuery>, QueryRejection>,
) -> Response {
    let (user, sid) = match signed_in(&state, &headers).await {
        Ok(s) => s,
        Err(to) => return to,
    };
    let done = query.ok().and_then(|Query(q)| q.done).map(|d| match d.as_str() {
        "approve" => "Approved and applied.",
        _ => "Rejected.",
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
    let listed = blocking(state, move |g| {
        Ok((
            g.list_policy_sets(&principal)?,
            g.list_policy_changes(&principal, None, Some(ChangeStatus::Pending))?,
        ))
    })
    .await;
    let (sets, pending) = match listed {
        Ok(l) => l,
        Err(e) => return error_page(e),
    };
    let page =
        render(&user, &csrf_token(sid), &sets, &pending, done, refused.as_ref().map(|(_, m)| m.as_str()));
    (refused.map_or(StatusCode::OK, |(s, _)| s), page).into_response()
}

fn change_text(c: &PolicyChange) -> String {
    let what = match (label(&c.action).as_str(), c.version, c.mode) {
        ("activate", Some(v), mode) => {
            format!("activate v{v}{}", mode.map(|m| format!(" in {} mode", label(&m))).unwrap_or_default())
        }
        ("set_mode", _, Some(mode)) => format!("switch to {} mode", label(&mode)),
        ("deactivate", _, _) => "deactivate".to_string(),
        (other, _, _) => other.to_string(),
    };
    format!("{}: {what}", c.set_id)
}

fn render(
    user: &User,
    csrf: &str,
    sets: &[PolicySet],
    pending: &[PolicyChange],
    done: Option<&str>,
    refused: Option<&str>,
) -> Page {
    let body = html! {
        h1 { "Policies" }
        (notices(done, refused))
        h2 { "Waiting for a second admin (" (pending.len()) ")" }
        @if pending.is_empty() { p { "No change is waiting." } }
        @for c in pending {
            section.approval {
                h3 { (change_text(c)) }
                p { "Proposed by " (c.proposed_by_name) " at " (c.proposed_at) " (" (c.id) ")"
                    @if let Some(sha) = &c.sha256 { br; small { "text SHA-256 " (sha) } } }
                p { a href=(format!("/console/policies/{}", urlencode(&c.set_id))) { "History and diff of " (c.set_id) } }
                form method="post" action=(format!("/console/policies/changes/{}", urlencode(&c.id))) {
                    input type="hidden" name="csrf" value=(csrf);
                    label for=(format!("pc-{}", c.id)) { "Comment (kept in the record)" }
                    textarea id=(format!("pc-{}", c.id)) name="comment" rows="2" {}
                    div.actions {
                        button.approve type="submit" name="decision" value="approve" { "Approve" }
                        button.deny type="submit" name="decision" value="reject" { "Reject" }
                    }
                }
            }
        }
        h2 { "Policy sets (" (sets.len()) ")" }
        table {
            thead { tr { th scope="col" { "Set" } th scope="col" { "Mode" } th scope="col" { "In force" }
                         th scope="col" { "Latest" } th scope="col" { "Pack" } } }
            tbody {
                @for s in sets {
                    tr {
                        td { a href=(format!("/console/policies/{}", urlencode(&s.set_id))) { (s.set_id) } }
                        td { (label(&s.mode)) }
                        td { @match s.active_version { Some(v) => { "v" (v) }, None => "none" } }
                        td { "v" (s.latest_version) }
                        td { (s.pack.as_deref().unwrap_or("—")) }
                    }
                }
            }
        }
    };
    layout("Policies", Some((user, csrf)), body)
}

pub(super) async fn history(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(set): Path<String>,
) -> Response {
    let (user, sid) = match signed_in(&state, &headers).await {
        Ok(s) => s,
        Err(to) => return to,
    };
    let principal = Principal::User(user.clone());
    match blocking(&state, move |g| g.policy_history(&principal, &set)).await {
        Ok(h) => render_history(&user, &csrf_token(&sid), &h).into_response(),
        Err(e) => error_page(e),
    }
}

/// A unified diff, its added and removed lines marked for the eye (and by +/- for everyone).
fn diff_block(old: &str, new: &str) -> Markup {
    let diff = gavel_policy::text::diff(old, new);
    html! {
        pre.diff {
            @for line in diff.lines() {
                @if line.starts_with('+') && !line.starts_with("+++") { ins { (line) } "\n" }
                @else if line.starts_with('-') && !line.starts_with("---") { del { (line) } "\n" }
                @else { (line) "\n" }
            }
        }
    }
}

fn render_history(user: &User, csrf: &str, h: &PolicyHistory) -> Page {
    let set = &h.set;
    let body = html! {
        p { a href="/console/policies" { "← Policies" } }
        h1 { (set.set_id) }
        p { "Mode " strong { (label(&set.mode)) } ", in force: "
            @match set.active_version { Some(v) => { "v" (v) }, None => "none" } }
        h2 { "Versions (latest first)" }
        @for (i, v) in h.versions.iter().enumerate().rev() {
            section.approval {
                h3 { "v" (v.version) @if set.active_version == Some(v.version) { " (in force)" } }
                p { "By " (v.author_name) " at " (v.created_at)
                    @if let Some(src) = &v.source { ", from " (src) }
                    br; small { "SHA-256 " (v.sha256) } }
                @match i.checked_sub(1).and_then(|p| h.versions.get(p)) {
                    Some(prev) => { p { "Changes from v" (prev.version) ":" } (diff_block(&prev.text, &v.text)) },
                    None => pre { (v.text) },
                }
            }
        }
        h2 { "Changes" }
        table {
            thead { tr { th scope="col" { "Change" } th scope="col" { "Proposed" } th scope="col" { "Status" }
                         th scope="col" { "Decided by" } th scope="col" { "Comment" } } }
            tbody {
                @for c in &h.changes {
                    tr {
                        td { (change_text(c)) br; small { (c.id) } }
                        td { (c.proposed_by_name) ", " (c.proposed_at) }
                        td { (label(&c.status)) }
                        td { (c.decided_by_name.as_deref().unwrap_or("—")) @if let Some(t) = &c.decided_at { ", " (t) } }
                        td { (c.comment.as_deref().unwrap_or("")) }
                    }
                }
            }
        }
    };
    layout("Policies", Some((user, csrf)), body)
}

#[derive(Deserialize)]
pub(super) struct DecideForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    decision: String,
    #[serde(default)]
    comment: String,
}

pub(super) async fn decide(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Result<Form<DecideForm>, FormRejection>,
) -> Response {
    let (user, sid) = match signed_in(&state, &headers).await {
        Ok(s) => s,
        Err(to) => return to,
    };
    let Ok(Form(f)) = form else { return csrf_refused() };
    if !csrf_matches(&sid, &f.csrf) {
        return csrf_refused();
    }
    let approve = match f.decision.as_str() {
        "approve" => true,
        "reject" => false,
        _ => {
            let refused = (StatusCode::BAD_REQUEST, "Choose Approve or Reject.".to_string());
            return view(&state, user, &sid, None, Some(refused)).await;
        }
    };
    let principal = Principal::User(user.clone());
    let result = blocking(&state, move |g| {
        let comment = Some(f.comment.trim()).filter(|c| !c.is_empty());
        if approve {
            g.approve_change(&principal, &id, comment)
        } else {
            g.reject_change(&principal, &id, comment)
        }
    })
    .await;
    match result {
        Ok(_) => {
            Redirect::to(&format!("/console/policies?done={}", if approve { "approve" } else { "reject" }))
                .into_response()
        }
        Err(e @ (CoreError::Internal(_) | CoreError::Unavailable(_))) => error_page(e),
        Err(e) => view(&state, user, &sid, None, Some((status_of(&e), e.to_string()))).await,
    }
}
