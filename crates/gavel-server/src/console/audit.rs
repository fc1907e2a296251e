//! The audit trail in the console: recorded decisions searched by agent, tool, decision and time
//! (a GET form, so a search is a link), paged newest first, and the trace of one decision — the
//! auditor's first question, "who authorized this, under which policy, approved by whom, and what
//! happened?" — each through the same core call as `GET /v1/audit` and `/v1/audit/trace/{id}`.

use super::pages::{label, layout, Page};
use super::{blocking, error_page, signed_in, urlencode};
use crate::AppState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use gavel_core::audit::{AuditFilter, Page as DecisionPage, Trace, TracedPrincipal};
use gavel_core::sessions::csrf_token;
use gavel_core::{CoreError, Principal, User};
use maud::html;
use serde::Deserialize;

/// Decisions per page.
const PAGE: u32 = 50;

/// The search form's fields as a browser sends them (empty fields are absent).
#[derive(Debug, Default, Deserialize)]
pub(super) struct Search {
    #[serde(default)]
    agent: String,
    #[serde(default)]
    tool: String,
    #[serde(default)]
    decision: String,
    #[serde(default)]
    since: String,
    #[serde(default)]
    until: String,
    #[serde(default)]
    cursor: String,
}

fn given(s: &str) -> Option<String> {
    Some(s.trim().to_string()).filter(|s| !s.is_empty())
}

impl Search {
    fn filter(&self) -> Result<AuditFilter, CoreError> {
        let outcome = match given(&self.decision) {
            None => None,
            Some(d) => Some(serde_json::from_value(serde_json::Value::String(d.clone())).map_err(|_| {
                CoreError::Invalid(format!("decision {d:?} is not one of allow, deny, require_approval"))
            })?),
        };
        Ok(AuditFilter {
            agent: given(&self.agent),
            tool: given(&self.tool),
            outcome,
            since: given(&self.since),
            until: given(&self.until),
            limit: Some(PAGE),
            cursor: given(&self.cursor),
        })
    }

    /// This search's link with another cursor.
    fn link(&self, cursor: &str) -> String {
        let fields = [
            ("agent", &self.agent),
            ("tool", &self.tool),
            ("decision", &self.decision),
            ("since", &self.since),
            ("until", &self.until),
        ];
        let mut q: Vec<String> = fields
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| format!("{k}={}", urlencode(v)))
            .collect();
        q.push(format!("cursor={}", urlencode(cursor)));
        format!("/console/audit?{}", q.join("&"))
    }
}

pub(super) async fn search(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<Search>, QueryRejection>,
) -> Response {
    let (user, sid) = match signed_in(&state, &headers).await {
        Ok(s) => s,
        Err(to) => return to,
    };
    let search = query.map(|Query(q)| q).unwrap_or_default();
    let principal = Principal::User(user.clone());
    let filter = search.filter();
    let result = match filter {
        Ok(f) => blocking(&state, move |g| g.audit_decisions(&principal, &f)).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(page) => render_search(&user, &csrf_token(&sid), &search, &page, None).into_response(),
        Err(e @ (CoreError::Invalid(_) | CoreError::NotFound(_))) => {
            let empty = DecisionPage { items: Vec::new(), next_cursor: None };
            let status = crate::error::status_of(&e);
            (status, render_search(&user, &csrf_token(&sid), &search, &empty, Some(&e.to_string())))
                .into_response()
        }
        Err(e) => error_page(e),
    }
}

fn render_search(user: &User, csrf: &str, s: &Search, page: &DecisionPage, refused: Option<&str>) -> Page {
    let field = |id: &str, name: &str, value: &str, hint: &str| {
        html! {
            div.field {
                label for=(id) { (name) }
                input id=(id) type="text" name=(id) value=(value) placeholder=(hint);
            }
        }
    };
    let body = html! {
        h1 { "Audit" }
        form.search method="get" action="/console/audit" {
            (field("agent", "Agent", &s.agent, "id or name"))
            (field("tool", "Tool", &s.tool, "e.g. send_email"))
            div.field {
                label for="decision" { "Decision" }
                select #decision name="decision" {
                    @for (value, text) in [("", "any"), ("allow", "allow"), ("deny", "deny"), ("require_approval", "require_approval")] {
                        option value=(value) selected[s.decision == value] { (text) }
                    }
                }
            }
            (field("since", "Since", &s.since, "YYYY-MM-DD or RFC 3339"))
            (field("until", "Until", &s.until, "exclusive"))
            button type="submit" { "Search" }
        }
        @if let Some(r) = refused { p.error role="alert" { (r) } }
        @if page.items.is_empty() { p { "No recorded decision matches." } } @else {
            table {
                thead { tr { th scope="col" { "Time" } th scope="col" { "Agent" } th scope="col" { "Tool" }
                             th scope="col" { "Decision" } th scope="col" { "Enforced" } th scope="col" { "Trace" } } }
                tbody {
                    @for d in &page.items {
                        tr {
                            td { (d.time) }
                            td { (d.record.agent_name) }
                            td { (d.record.tool) }
                            td { (label(&d.record.decision)) }
                            td { @if d.record.enforced { "yes" } @else { "no (observe)" } }
                            td { a href=(format!("/console/audit/{}", urlencode(&d.record.decision_id))) { (d.record.decision_id) } }
                        }
                    }
                }
            }
            @if let Some(next) = &page.next_cursor { p { a href=(s.link(next)) { "Older decisions →" } } }
        }
    };
    layout("Audit", Some((user, csrf)), body)
}

pub(super) async fn trace(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let (user, sid) = match signed_in(&state, &headers).await {
        Ok(s) => s,
        Err(to) => return to,
    };
    let principal = Principal::User(user.clone());
    match blocking(&state, move |g| g.trace(&principal, &id)).await {
        Ok(t) => render_trace(&user, &csrf_token(&sid), &t).into_response(),
        Err(e) => error_page(e),
    }
}

fn render_trace(user: &User, csrf: &str, t: &Trace) -> Page {
    let agent = match &t.principal {
        TracedPrincipal::Agent(a) => {
            format!("{} ({}), owner {}, {}", a.name, a.id, a.owner, a.status.as_str())
        }
        TracedPrincipal::Gone(g) => format!("{} (no longer registered)", g.id),
    };
    let body = html! {
        p { a href="/console/audit" { "← Audit" } }
        h1 { (t.tool) " — " (label(&t.decision)) }
        dl {
            dt { "Decision" } dd { (t.decision_id) " at " (t.time) ", log seq " (t.seq) }
            dt { "Agent" } dd { (agent) }
            dt { "On behalf of" } dd { (t.on_behalf_of.as_deref().unwrap_or("—")) }
            @if let Some(r) = &t.resource { dt { "Resource" } dd { (r) } }
            dt { "Enforced" } dd { @if t.enforced { "yes" } @else { "no: no enforcing policy (recorded only)" } }
            @if let Some(w) = &t.would_have { dt { "Observe mode would have" } dd { (label(w)) } }
            dt { "Reasons" } dd { ul { @for r in &t.reasons { li { (r) } } } }
            dt { "Arguments" } dd { pre { (serde_json::to_string_pretty(&t.record.record.arguments).unwrap_or_default()) }
                                     small { "SHA-256 of the unredacted arguments: " (t.record.record.arguments_sha256) } }
        }
        h2 { "Policies" }
        @if t.policies.is_empty() { p { "No policy matched: the default decided." } }
        @for p in &t.policies {
            section.approval {
                h3 { (p.set_id) " v" (p.version) " · " (p.policy_id) @if !p.enforced { " (observe)" } }
                dl {
                    dt { "Author" } dd { (p.author.as_deref().or(p.proposed_by.as_deref()).unwrap_or("—")) }
                    dt { "Approved by" } dd { (p.approved_by.as_deref().unwrap_or("—"))
                                              @if let Some(c) = &p.change_id { " (change " (c) ")" } }
                    @if let Some(m) = &p.mode_approved_by { dt { "Go-live approved by" } dd { (m) } }
                    dt { "In force since" } dd { (p.activated_at.as_deref().unwrap_or("—")) }
                    @if let Some(sha) = &p.sha256 { dt { "Text SHA-256" } dd { (sha) } }
                }
                @if let Some(text) = &p.text { pre { (text) } }
            }
        }
        h2 { "Approval" }
        @match &t.approval {
            None => p { "Not held for approval." },
            Some(a) => dl {
                dt { "Status" } dd { (a.approval.status.as_str()) }
                dt { "Decided by" } dd { (a.approval.decided_by_name.as_deref().unwrap_or("—")) }
                dt { "When" } dd { (a.approval.decided_at.as_deref().unwrap_or("—")) }
                dt { "Comment" } dd { (a.approval.comment.as_deref().unwrap_or("—")) }
            },
        }
        h2 { "Outcome" }
        @match &t.outcome {
            None => p { "No outcome reported yet." },
            Some(o) => pre { (serde_json::to_string_pretty(o).unwrap_or_default()) },
        }
    };
    layout("Audit", Some((user, csrf)), body)
}
