//! The console's HTML, rendered with maud (every interpolation is escaped). Forms post and the
//! server redirects, so every page works without script; a live page adds `live.js`, which only
//! reloads it when what it shows changed. Every form control has a label; buttons say what they do.

use axum::response::Html;
use gavel_core::approvals::Approval;
use gavel_core::User;
use maud::{html, Markup, DOCTYPE};

use time::OffsetDateTime;

/// A rendered page (`text/html; charset=utf-8`).
pub(super) type Page = Html<String>;

pub(super) fn layout(title: &str, user: Option<(&User, &str)>, body: Markup) -> Page {
    layout_live(title, user, body, None)
}

/// What a live page shows, as a version `live.js` compares with the server's every few seconds.
pub(super) struct Live<'a> {
    /// The `/console/live/{what}` it asks.
    pub what: &'a str,
    pub version: String,
}

/// A version of some state: a short digest of its description.
pub(super) fn version_of(description: &str) -> String {
    use sha2::Digest as _;
    hex::encode(&sha2::Sha256::digest(description.as_bytes())[..8])
}

/// [`layout`] of a page that reloads itself when what it shows changes (`live.js`).
pub(super) fn layout_live(
    title: &str,
    user: Option<(&User, &str)>,
    body: Markup,
    live: Option<Live<'_>>,
) -> Page {
    Html(
        html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (title) " · gavel" }
                    link rel="stylesheet" href="/console/static/console.css";
                    @if live.is_some() { script src="/console/static/live.js" defer {} }
                }
                body {
                    header {
                        a.brand href="/" { "gavel" }
                        @if let Some((user, csrf)) = user {
                            nav aria-label="Main" {
                                @for (href, name) in NAV.iter().copied() {
                                    a href=(href) aria-current=[(title == name).then_some("page")] { (name) }
                                }
                            }
                            form.signout method="post" action="/console/sign-out" {
                                span { (user.name) " (" (user.role.as_str()) ")" }
                                input type="hidden" name="csrf" value=(csrf);
                                button type="submit" { "Sign out" }
                            }
                        }
                    }
                    main data-live=[live.as_ref().map(|l| l.what)] data-version=[live.as_ref().map(|l| l.version.as_str())] {
                        @if live.is_some() {
                            p #live-notice .notice role="status" hidden {
                                "This page has changed since it was loaded. "
                                button #live-reload type="button" { "Reload" }
                            }
                        }
                        (body)
                    }
                }
            }
        }
        .into_string(),
    )
}

/// The console's pages, in the navigation's order.
const NAV: [(&str, &str); 8] = [
    ("/console/approvals", "Approvals"),
    ("/console/incidents", "Incidents"),
    ("/console/agents", "Agents"),
    ("/console/policies", "Policies"),
    ("/console/audit", "Audit"),
    ("/console/readiness", "Readiness"),
    ("/console/evidence", "Evidence"),
    ("/console/notifications", "Notifications"),
];

/// A value's serde name (`"high"`, `"enforcing"`): how the API spells it, so the page does too.
pub(super) fn label<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

/// A notice of what was just done, or why it was refused (`role` status or alert).
pub(super) fn notices(done: Option<&str>, refused: Option<&str>) -> Markup {
    html! {
        @if let Some(d) = done { p.notice role="status" { (d) } }
        @if let Some(r) = refused { p.error role="alert" { (r) } }
    }
}

/// A page that only says something (a refusal, an error).
pub(super) fn message(title: &str, text: &str) -> Page {
    layout(
        title,
        None,
        html! { h1 { (title) } p role="alert" { (text) } p { a href="/" { "Back to the console" } } },
    )
}

pub(super) fn sign_in(error: Option<&str>) -> Page {
    layout(
        "Sign in",
        None,
        html! {
            h1 { "Sign in" }
            @if let Some(e) = error { p.error role="alert" { (e) } }
            form method="post" action="/console/sign-in" {
                label for="token" { "User token" }
                input #token type="password" name="token" autocomplete="current-password" required autofocus;
                p.hint { "The token your admin gave you (gavel users create). Agent tokens cannot sign in." }
                button type="submit" { "Sign in" }
            }
        },
    )
}

pub(super) struct ApprovalsView<'a> {
    pub user: &'a User,
    pub csrf: &'a str,
    pub pending: &'a [Approval],
    pub recent: &'a [Approval],
    pub just_decided: Option<&'a Approval>,
    pub refused: Option<&'a str>,
    pub now: OffsetDateTime,
}

/// "in 42 min", "in 1 h 5 min", or "expired".
fn time_left(expires_at: &str, now: OffsetDateTime) -> String {
    let Some(at) = gavel_ledger::clock::parse_time(expires_at) else { return expires_at.to_string() };
    let left = at - now;
    if left <= time::Duration::ZERO {
        return "expired".into();
    }
    let minutes = left.whole_minutes();
    match (minutes / 60, minutes % 60) {
        (0, 0) => "in under a minute".into(),
        (0, m) => format!("in {m} min"),
        (h, m) => format!("in {h} h {m} min"),
    }
}

/// The version of the approvals queue: which calls are waiting.
pub(super) fn approvals_version(pending: &[Approval]) -> String {
    version_of(&pending.iter().map(|a| a.id.as_str()).collect::<Vec<_>>().join(","))
}

fn arguments(a: &Approval) -> String {
    serde_json::to_string_pretty(&a.arguments).unwrap_or_default()
}

pub(super) fn approvals(v: &ApprovalsView<'_>) -> Page {
    let body = html! {
        h1 { "Approvals" }
        @if let Some(a) = v.just_decided {
            p.notice role="status" {
                (a.status.as_str()) ": " (a.tool) " for " (a.agent_name) " (" (a.id) ")"
            }
        }
        @if let Some(r) = v.refused { p.error role="alert" { (r) } }
        h2 { "Waiting for a decision (" (v.pending.len()) ")" }
        @if v.pending.is_empty() { p { "No call is waiting for approval." } }
        @for a in v.pending {
            section.approval aria-labelledby=(format!("h-{}", a.id)) {
                h3 id=(format!("h-{}", a.id)) { (a.tool) " — " (a.agent_name) }
                dl {
                    dt { "Agent" } dd { (a.agent_name) " (" (a.agent_id) "), owner " (a.owner) }
                    dt { "On behalf of" } dd { (a.on_behalf_of.as_deref().unwrap_or("—")) }
                    @if let Some(r) = &a.resource { dt { "Resource" } dd { (r) } }
                    dt { "Why held" } dd { ul { @for r in &a.reasons { li { (r) } } } }
                    dt { "Requested" } dd { (a.requested_at) }
                    dt { "Expires" } dd { (time_left(&a.expires_at, v.now)) " (" (a.expires_at) ")" }
                    dt { "Arguments" } dd { pre { (arguments(a)) } }
                }
                form method="post" action=(format!("/console/approvals/{}", a.id)) {
                    input type="hidden" name="csrf" value=(v.csrf);
                    label for=(format!("c-{}", a.id)) { "Comment (kept in the record)" }
                    textarea id=(format!("c-{}", a.id)) name="comment" rows="2" maxlength="2000" {}
                    div.actions {
                        button.approve type="submit" name="decision" value="approve" { "Approve" }
                        button.deny type="submit" name="decision" value="deny" { "Deny" }
                    }
                }
            }
        }
        h2 { "Recently decided" }
        @if v.recent.is_empty() { p { "Nothing decided yet." } } @else {
            table {
                thead { tr { th scope="col" { "Tool" } th scope="col" { "Agent" } th scope="col" { "Status" }
                             th scope="col" { "By" } th scope="col" { "When" } th scope="col" { "Comment" } } }
                tbody {
                    @for a in v.recent {
                        tr {
                            td { (a.tool) } td { (a.agent_name) }
                            td { (a.status.as_str()) }
                            td { (a.decided_by_name.as_deref().or(a.decided_by.as_deref()).unwrap_or("—")) }
                            td { (a.decided_at.as_deref().unwrap_or(&a.expires_at)) }
                            td { (a.comment.as_deref().unwrap_or("")) }
                        }
                    }
                }
            }
        }
    };
    let live = Live { what: "approvals", version: approvals_version(v.pending) };
    layout_live("Approvals", Some((v.user, v.csrf)), body, Some(live))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn time_left_reads_like_a_person_would_say_it() {
        let now = datetime!(2026-12-07 10:00 UTC);
        assert_eq!(time_left("2026-12-07T10:42:00.000000Z", now), "in 42 min");
        assert_eq!(time_left("2026-12-07T11:05:30.000000Z", now), "in 1 h 5 min");
        assert_eq!(time_left("2026-12-07T10:00:20.000000Z", now), "in under a minute");
        assert_eq!(time_left("2026-12-07T09:00:00.000000Z", now), "expired");
    }

    #[test]
    fn interpolations_are_escaped() {
        let page = message("<b>", "<script>alert(1)</script>").0;
        assert!(!page.contains("<script>"), "{page}");
        assert!(page.contains("&lt;script&gt;"));
    }
}
