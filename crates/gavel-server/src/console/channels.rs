//! Notification channels in the console (admins): every channel with its format, its target
//! (scheme, host and port only: a chat webhook URL is its own credential), the events and agents
//! it is for and its attempt counts; a form that adds one (Slack-compatible or generic JSON);
//! disabling one with a reason (channels are never deleted); and one channel's recent deliveries,
//! each with the exact body sent and every attempt.
//!
//! Each step is the API's call as the signed-in user: `Gavel::notification_channels`,
//! `create_notification_channel` (the SSRF guard and every check of the fields are core's),
//! `disable_notification_channel` and `notification_deliveries`; core lets only admins do any
//! of it, so other roles get its 403 here as from `/v1/notifications/channels`.

use super::pages::{label, layout, notices, Page};
use super::{blocking, csrf_refused, error_page, signed_in, urlencode, DoneQuery};
use crate::error::status_of;
use crate::AppState;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use gavel_core::notifications::{ChannelView, Format, NewChannel, NotificationDelivery, NOTIFICATION_EVENTS};
use gavel_core::sessions::{csrf_matches, csrf_token};
use gavel_core::{CoreError, Principal, User};
use maud::html;
use serde::Deserialize;

/// Deliveries shown on a channel's page.
const DELIVERIES: u32 = 50;

/// What each notification event means, for the form's checkboxes.
fn event_text(event: &str) -> &'static str {
    match event {
        "approval.requested" => "a call is held for approval",
        "approval.expiring" => "a pending approval is about to expire",
        "incident.opened" => "an incident is opened",
        "killswitch.engaged" => "a kill switch is pulled",
        "scan.finding" => "a readiness scan has new findings",
        _ => "",
    }
}

pub(super) async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<DoneQuery>, QueryRejection>,
) -> Response {
    let (user, sid) = match signed_in(&state, &headers).await {
        Ok(s) => s,
        Err(to) => return to,
    };
    let done = query.ok().and_then(|Query(q)| q.done).map(|d| match d.as_str() {
        "create" => "Channel added: it is notified of events from now on.",
        "disable" => "Channel disabled: nothing more is sent to it.",
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
    let channels = match blocking(state, move |g| g.notification_channels(&principal)).await {
        Ok(c) => c,
        Err(e) => return error_page(e),
    };
    let page = render(&user, &csrf_token(sid), &channels, done, refused.as_ref().map(|(_, m)| m.as_str()));
    (refused.map_or(StatusCode::OK, |(s, _)| s), page).into_response()
}

fn channel_link(id: &str) -> String {
    format!("/console/notifications/channels/{}", urlencode(id))
}

/// "all" for an empty list (a channel without a filter takes everything).
fn listed(items: &[String], none: &str) -> String {
    if items.is_empty() {
        none.to_string()
    } else {
        items.join(", ")
    }
}

fn render(
    user: &User,
    csrf: &str,
    channels: &[ChannelView],
    done: Option<&str>,
    refused: Option<&str>,
) -> Page {
    let body = html! {
        h1 { "Notifications" }
        (notices(done, refused))
        p { "Channels for people (chat, or any HTTP receiver), separate from the SIEM webhooks; "
            "each message links to the console page of its item." }
        h2 { "Channels (" (channels.len()) ")" }
        @if channels.is_empty() { p { "No channel yet." } } @else {
            table {
                thead { tr { th scope="col" { "Channel" } th scope="col" { "Target" } th scope="col" { "Events" }
                             th scope="col" { "Agents" } th scope="col" { "Attempts" } th scope="col" { "State" } } }
                tbody {
                    @for c in channels {
                        tr {
                            td { a href=(channel_link(&c.id)) { (c.name) } br; small { (c.id) } }
                            td { (label(&c.format)) br; small { (c.url) } }
                            td { (listed(&c.events, "all")) }
                            td { "groups: " (listed(&c.agent_groups, "any")) br; "owners: " (listed(&c.agent_owners, "any")) }
                            td { (c.attempts.delivered) " delivered, " (c.attempts.retrying) " retrying, "
                                 (c.attempts.failed) " failed"
                                 @if let Some(h) = &c.held_until { br; small { "waiting until " (h) } } }
                            td {
                                @if c.enabled {
                                    "enabled"
                                    form.inline method="post" action=(format!("{}/disable", channel_link(&c.id))) {
                                        input type="hidden" name="csrf" value=(csrf);
                                        label.sr for=(format!("why-{}", c.id)) { "Reason to disable " (c.name) }
                                        input id=(format!("why-{}", c.id)) type="text" name="reason" placeholder="reason";
                                        button type="submit" { "Disable" }
                                    }
                                } @else {
                                    "disabled" @if let Some(r) = &c.disabled_reason { br; small { (r) } }
                                }
                            }
                        }
                    }
                }
            }
        }
        h2 { "Add a channel" }
        form method="post" action="/console/notifications/channels" {
            input type="hidden" name="csrf" value=(csrf);
            label for="name" { "Name" }
            input #name type="text" name="name" maxlength="100" required;
            label for="format" { "Format" }
            select #format name="format" {
                option value="slack" { "Slack-compatible (also Mattermost, Rocket.Chat)" }
                option value="json" { "Generic JSON" }
            }
            label for="url" { "URL the messages are posted to" }
            input #url type="url" name="url" required placeholder="https://hooks.slack.com/services/…";
            p.hint { "Private, loopback and reserved addresses are refused. Only its scheme, host and port "
                     "are shown again: the full URL is a credential." }
            fieldset {
                legend { "Events (none ticked: all of them)" }
                @for e in NOTIFICATION_EVENTS {
                    label.check { input type="checkbox" name="events" value=(e); " " code { (e) } ": " (event_text(e)) }
                }
            }
            label for="agent_groups" { "Only agents in these groups (comma-separated, optional)" }
            input #agent_groups type="text" name="agent_groups";
            label for="agent_owners" { "… or owned by these people (comma-separated, optional)" }
            input #agent_owners type="text" name="agent_owners";
            p.hint { "Both empty: every agent. The filter applies to messages about one agent." }
            button type="submit" { "Add the channel" }
        }
    };
    layout("Notifications", Some((user, csrf)), body)
}

/// The comma-separated entries of a text field.
fn entries(text: &str) -> Vec<String> {
    text.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
}

/// The new channel a form describes (its checkboxes repeat `events`). Only the form's shape is
/// checked here; core checks the values.
fn new_channel(fields: &[(String, String)]) -> Result<NewChannel, String> {
    let one = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim()).unwrap_or("");
    let format = match one("format") {
        "slack" => Format::Slack,
        "json" => Format::Json,
        _ => return Err("Choose a format: Slack-compatible or generic JSON.".into()),
    };
    Ok(NewChannel {
        name: one("name").to_string(),
        format,
        url: one("url").to_string(),
        events: fields.iter().filter(|(k, _)| k == "events").map(|(_, v)| v.clone()).collect(),
        agent_groups: entries(one("agent_groups")),
        agent_owners: entries(one("agent_owners")),
    })
}

pub(super) async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Response {
    let (user, sid) = match signed_in(&state, &headers).await {
        Ok(s) => s,
        Err(to) => return to,
    };
    let Ok(Form(fields)) = form else { return csrf_refused() };
    let csrf = fields.iter().find(|(k, _)| k == "csrf").map_or("", |(_, v)| v.as_str());
    if !csrf_matches(&sid, csrf) {
        return csrf_refused();
    }
    let channel = match new_channel(&fields) {
        Ok(c) => c,
        Err(why) => return view(&state, user, &sid, None, Some((StatusCode::BAD_REQUEST, why))).await,
    };
    let principal = Principal::User(user.clone());
    match blocking(&state, move |g| g.create_notification_channel(&principal, channel)).await {
        Ok(_) => Redirect::to("/console/notifications?done=create").into_response(),
        Err(e @ (CoreError::Internal(_) | CoreError::Unavailable(_))) => error_page(e),
        Err(e) => view(&state, user, &sid, None, Some((status_of(&e), e.to_string()))).await,
    }
}

#[derive(Deserialize)]
pub(super) struct DisableForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
}

pub(super) async fn disable(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Result<Form<DisableForm>, FormRejection>,
) -> Response {
    let (user, sid) = match signed_in(&state, &headers).await {
        Ok(s) => s,
        Err(to) => return to,
    };
    let Ok(Form(f)) = form else { return csrf_refused() };
    if !csrf_matches(&sid, &f.csrf) {
        return csrf_refused();
    }
    let principal = Principal::User(user.clone());
    match blocking(&state, move |g| g.disable_notification_channel(&principal, &id, &f.reason)).await {
        Ok(_) => Redirect::to("/console/notifications?done=disable").into_response(),
        Err(e @ (CoreError::Internal(_) | CoreError::Unavailable(_))) => error_page(e),
        Err(e) => view(&state, user, &sid, None, Some((status_of(&e), e.to_string()))).await,
    }
}

/// One channel and its recent deliveries.
pub(super) async fn deliveries(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let (user, sid) = match signed_in(&state, &headers).await {
        Ok(s) => s,
        Err(to) => return to,
    };
    let principal = Principal::User(user.clone());
    let found = blocking(&state, move |g| {
        let sent = g.notification_deliveries(&principal, &id, DELIVERIES)?;
        let channel = g
            .notification_channels(&principal)?
            .into_iter()
            .find(|c| c.id == id)
            .ok_or_else(|| CoreError::NotFound(format!("no notification channel {id:?}")))?;
        Ok((channel, sent))
    })
    .await;
    match found {
        Ok((channel, sent)) => render_deliveries(&user, &csrf_token(&sid), &channel, &sent).into_response(),
        Err(e) => error_page(e),
    }
}

fn render_deliveries(user: &User, csrf: &str, c: &ChannelView, sent: &[NotificationDelivery]) -> Page {
    let body = html! {
        p { a href="/console/notifications" { "← Notifications" } }
        h1 { (c.name) }
        p { (label(&c.format)) " to " (c.url) ", " @if c.enabled { "enabled" } @else { "disabled" } " (" (c.id) ")" }
        h2 { "Recent deliveries (" (sent.len()) ")" }
        @if sent.is_empty() { p { "Nothing sent to this channel yet." } }
        @for d in sent {
            section.approval {
                h3 { (d.event) " — " (d.status) }
                dl {
                    dt { "Notice" } dd { (d.notice_id) @if let Some(seq) = d.seq { " (log seq " (seq) ")" } }
                    dt { "Links to" } dd { (d.link) }
                    @if let Some(next) = &d.next_attempt_at { dt { "Next attempt" } dd { (next) } }
                    dt { "Body sent" } dd { pre { (d.body) } }
                    dt { "Attempts" } dd { ol { @for a in &d.attempts {
                        li { (a.at) ": " (a.outcome)
                             @if let Some(code) = a.status_code { ", HTTP " (code) }
                             @if let Some(err) = &a.error { ", " (err) }
                             ", " (a.latency_ms) " ms" }
                    } } }
                }
            }
        }
    };
    layout("Notifications", Some((user, csrf)), body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn a_form_becomes_the_apis_new_channel() {
        let c = new_channel(&fields(&[
            ("csrf", "abc"),
            ("name", " team "),
            ("format", "json"),
            ("url", "https://hooks.example.com/x"),
            ("events", "approval.requested"),
            ("events", "incident.opened"),
            ("agent_groups", "payments, , ops"),
            ("agent_owners", ""),
        ]))
        .unwrap();
        assert_eq!((c.name.as_str(), c.format), ("team", Format::Json));
        assert_eq!(c.events, ["approval.requested", "incident.opened"]);
        assert_eq!(c.agent_groups, ["payments", "ops"]);
        assert!(c.agent_owners.is_empty());
        assert!(new_channel(&fields(&[("format", "xml")])).is_err());
    }
}
