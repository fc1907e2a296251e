//! Evidence in the console: the bundles on record (newest first), a form that exports a period
//! into a new signed bundle, and one bundle's page: its record, its files to download, and its
//! read-only share links, created (the link, which holds its secret, is shown on that answer
//! only) and revoked there.
//!
//! Every step is the API's own call as the signed-in user: exporting is
//! `compliance_api::export_to_server` (`POST /v1/compliance/exports`: admins and auditors), a
//! bundle and its files `export_detail` and `export_file_of` (every reader), a new link
//! `share_export` (`POST /v1/shares`: admins, and only a bundle the server holds), the links
//! `Gavel::shares` and revoking `Gavel::revoke_share` (admins). Nothing is decided here.

use super::pages::{layout, notices, Page};
use super::{blocking, csrf_refused, error_page, signed_in, urlencode, DoneQuery};
use crate::compliance_api::{
    export_detail, export_file_of, export_to_server, share_export, CreatedShare, ExportDetail,
};
use crate::error::status_of;
use crate::AppState;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use gavel_core::sessions::{csrf_matches, csrf_token};
use gavel_core::shares::{ExportRecord, Share};
use gavel_core::{CoreError, Principal, User};
use maud::{html, Markup};
use serde::Deserialize;
use time::OffsetDateTime;

/// The days a new link lasts unless the form says otherwise.
const DEFAULT_SHARE_DAYS: u32 = 30;

pub(super) async fn overview(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<DoneQuery>, QueryRejection>,
) -> Response {
    let (user, sid) = match signed_in(&state, &headers).await {
        Ok(s) => s,
        Err(to) => return to,
    };
    let done = query.ok().and_then(|Query(q)| q.done).map(|d| done_text(&d));
    overview_view(&state, user, &sid, done, None).await
}

async fn overview_view(
    state: &AppState,
    user: User,
    sid: &str,
    done: Option<&str>,
    refused: Option<(StatusCode, String)>,
) -> Response {
    let principal = Principal::User(user.clone());
    let listed = blocking(state, move |g| Ok((g.exports(&principal)?, g.shares(&principal)?))).await;
    let (exports, shares) = match listed {
        Ok(l) => l,
        Err(e) => return error_page(e),
    };
    let now = state.gavel.clock().now();
    let page = render_overview(
        &user,
        &csrf_token(sid),
        &exports,
        &shares,
        now,
        done,
        refused.as_ref().map(|(_, m)| m.as_str()),
    );
    (refused.map_or(StatusCode::OK, |(s, _)| s), page).into_response()
}

/// Whether a link still opens: not revoked and not past its expiry (for the eye only; core
/// decides when the link is used).
fn share_state(s: &Share, now: OffsetDateTime) -> &'static str {
    if s.revoked {
        "revoked"
    } else if gavel_ledger::clock::parse_time(&s.expires_at).is_some_and(|at| at <= now) {
        "expired"
    } else {
        "active"
    }
}

fn bundle_link(export_id: &str) -> String {
    format!("/console/evidence/bundles/{}", urlencode(export_id))
}

fn render_overview(
    user: &User,
    csrf: &str,
    exports: &[ExportRecord],
    shares: &[Share],
    now: OffsetDateTime,
    done: Option<&str>,
    refused: Option<&str>,
) -> Page {
    // The period a new export proposes: this month so far (`to` is the day after today).
    let today = now.date();
    let from = today.replace_day(1).unwrap_or(today);
    let to = today.next_day().unwrap_or(today);
    let active = |e: &ExportRecord| {
        shares.iter().filter(|s| s.export_id == e.export_id && share_state(s, now) == "active").count()
    };
    let body = html! {
        h1 { "Evidence" }
        (notices(done, refused))
        h2 { "Export a period" }
        form.search method="post" action="/console/evidence/export" {
            input type="hidden" name="csrf" value=(csrf);
            div.field { label for="framework" { "Framework" }
                input #framework type="text" name="framework" value="soc2" required; }
            div.field { label for="from" { "First day" }
                input #from type="date" name="from" value=(from.to_string()) required; }
            div.field { label for="to" { "Day after the period" }
                input #to type="date" name="to" value=(to.to_string()) required; }
            button type="submit" { "Export" }
        }
        p.hint { "Writes a signed bundle of the period (the last day excluded) on this server and records it. "
                 "Admins and auditors export; soc2 is built in, other frameworks are files on the server." }
        h2 { "Bundles on record (" (exports.len()) ")" }
        @if exports.is_empty() { p { "No bundle on record yet: export a period." } } @else {
            table {
                thead { tr { th scope="col" { "Bundle" } th scope="col" { "Framework" } th scope="col" { "Period" }
                             th scope="col" { "Events" } th scope="col" { "Recorded" } th scope="col" { "Active links" } } }
                tbody {
                    @for e in exports {
                        tr {
                            td { a href=(bundle_link(&e.export_id)) { (e.export_id) }
                                 @if e.simulated { br; small { "simulated data" } } }
                            td { (e.framework) }
                            td { (e.from) " to " (e.to) }
                            td { (e.total_events) }
                            td { (e.recorded_at) }
                            td { (active(e)) }
                        }
                    }
                }
            }
        }
    };
    layout("Evidence", Some((user, csrf)), body)
}

/// What `?done=<step>` confirms (a bundle's page after an export or a revocation).
fn done_text(step: &str) -> &'static str {
    match step {
        "export" => "Exported: the signed bundle is written and recorded.",
        "revoke" => "Share link revoked: the next request through it is refused.",
        _ => "Done.",
    }
}

pub(super) async fn bundle(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    query: Result<Query<DoneQuery>, QueryRejection>,
) -> Response {
    let (user, sid) = match signed_in(&state, &headers).await {
        Ok(s) => s,
        Err(to) => return to,
    };
    let done = query.ok().and_then(|Query(q)| q.done).map(|d| done_text(&d));
    bundle_view(&state, &headers, user, &sid, &id, Shown { done, ..Shown::default() }).await
}

/// What a bundle's page says besides the bundle: a step done, a refusal, or the link just made.
#[derive(Default)]
struct Shown<'a> {
    done: Option<&'a str>,
    refused: Option<(StatusCode, String)>,
    created: Option<CreatedShare>,
}

async fn bundle_view(
    state: &AppState,
    headers: &HeaderMap,
    user: User,
    sid: &str,
    id: &str,
    shown: Shown<'_>,
) -> Response {
    let principal = Principal::User(user.clone());
    let id = id.to_string();
    let listed =
        blocking(state, move |g| Ok((export_detail(g, &principal, &id)?, g.shares(&principal)?))).await;
    let (detail, shares) = match listed {
        Ok(l) => l,
        Err(e) => return error_page(e),
    };
    let shares: Vec<Share> = shares.into_iter().filter(|s| s.export_id == detail.export.export_id).collect();
    let view = BundleView {
        user: &user,
        csrf: &csrf_token(sid),
        detail: &detail,
        shares: &shares,
        now: state.gavel.clock().now(),
        created: shown.created.as_ref().map(|c| (c, share_url(state, headers, &c.issued.token))),
        done: shown.done,
        refused: shown.refused.as_ref().map(|(_, m)| m.as_str()),
    };
    let status = shown.refused.as_ref().map_or(StatusCode::OK, |(s, _)| *s);
    (status, render_bundle(&view)).into_response()
}

/// The auditor's page of a link, absolute when the console knows its address: `console_url`
/// from gavel.toml, else the `Host` this browser asked for (it is shown only to this browser).
fn share_url(state: &AppState, headers: &HeaderMap, token: &str) -> String {
    let path = format!("/console/share/{}", urlencode(token));
    if let Some(base) = &state.notifications.console_url {
        return format!("{}{path}", base.trim_end_matches('/'));
    }
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b)));
    match host {
        Some(host) => {
            let scheme = if state.console.secure_cookie { "https" } else { "http" };
            format!("{scheme}://{host}{path}")
        }
        None => path,
    }
}

struct BundleView<'a> {
    user: &'a User,
    csrf: &'a str,
    detail: &'a ExportDetail,
    shares: &'a [Share],
    now: OffsetDateTime,
    /// A link created by this very request, with its auditor's page.
    created: Option<(&'a CreatedShare, String)>,
    done: Option<&'a str>,
    refused: Option<&'a str>,
}

fn file_link(export_id: &str, path: &str) -> String {
    let encoded: Vec<String> = path.split('/').map(urlencode).collect();
    format!("{}/files/{}", bundle_link(export_id), encoded.join("/"))
}

fn created_notice(share: &CreatedShare, url: &str) -> Markup {
    html! {
        section.created role="status" aria-labelledby="created-h" {
            h2 #created-h { "Share link created" }
            p { strong { "Copy it now: it is shown only this once." }
                " It holds the link's secret (gavel keeps only a hash of it), so anyone who has it can read "
                "this bundle until " (share.issued.share.expires_at) " or until it is revoked." }
            label for="share-url" { "The auditor's page (no sign-in; verifies the bundle in their browser)" }
            input #share-url type="text" readonly value=(url);
            p.hint { "The same bundle over the API: " code { (share.url_path) } }
        }
    }
}

fn render_bundle(v: &BundleView<'_>) -> Page {
    let e = &v.detail.export;
    let body = html! {
        p { a href="/console/evidence" { "← Evidence" } }
        h1 { "Bundle " (e.export_id) }
        (notices(v.done, v.refused))
        @if let Some((share, url)) = &v.created { (created_notice(share, url)) }
        dl {
            dt { "Framework" } dd { (e.framework) }
            dt { "Period" } dd { (e.from) " to " (e.to) " (the last day excluded)" }
            dt { "Events" } dd { (e.total_events) }
            dt { "Checkpoint" } dd { "size " (e.checkpoint_size) ", root " small { (e.checkpoint_root) } }
            dt { "SHA256SUMS" } dd { "SHA-256 " small { (e.sha256sums_sha256) } }
            dt { "Type II" } dd { @if e.type_ii { "the period supports a Type II report" } @else { "no" } }
            @if e.simulated { dt { "Data" } dd { "simulated" } }
            dt { "Recorded" } dd { (e.recorded_at) }
        }
        h2 { "Files (" (v.detail.files.len()) ")" }
        @if !v.detail.stored {
            p { "This server does not hold the bundle's files (it was exported elsewhere, or removed): "
                "they cannot be downloaded or shared from here." }
        } @else {
            table {
                thead { tr { th scope="col" { "File" } th scope="col" { "Bytes" } th scope="col" { "SHA-256 (SHA256SUMS)" } } }
                tbody {
                    @for f in &v.detail.files {
                        tr {
                            td { a href=(file_link(&e.export_id, &f.path)) download { (f.path) } }
                            td { (f.size.map(|s| s.to_string()).unwrap_or_else(|| "missing".into())) }
                            td { small { (f.sha256.as_deref().unwrap_or("—")) } }
                        }
                    }
                }
            }
            p.hint { "Check them with " code { "gavel evidence verify <directory>" } ", or with "
                     code { "sha256sum -c SHA256SUMS" } " and OpenSSL (the share page shows how)." }
        }
        h2 { "Share links (" (v.shares.len()) ")" }
        @if v.shares.is_empty() { p { "No link to this bundle." } } @else {
            table {
                thead { tr { th scope="col" { "Link" } th scope="col" { "Created" } th scope="col" { "Expires" }
                             th scope="col" { "State" } th scope="col" { "Revoke" } } }
                tbody {
                    @for s in v.shares {
                        tr {
                            td { (s.id) }
                            td { (s.created_by) ", " (s.created_at) }
                            td { (s.expires_at) }
                            td { (share_state(s, v.now))
                                 @if let (Some(by), Some(at)) = (&s.revoked_by, &s.revoked_at) { br; small { "by " (by) ", " (at) } } }
                            td {
                                @if !s.revoked {
                                    form.inline method="post" action=(format!("/console/evidence/shares/{}/revoke", urlencode(&s.id))) {
                                        input type="hidden" name="csrf" value=(v.csrf);
                                        button type="submit" aria-label=(format!("Revoke {}", s.id)) { "Revoke" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if v.detail.stored {
            h3 { "New read-only link" }
            form method="post" action=(format!("{}/share", bundle_link(&e.export_id))) {
                input type="hidden" name="csrf" value=(v.csrf);
                label for="expires_days" { "Days until it expires (1 to 365)" }
                input #expires_days type="number" name="expires_days" min="1" max="365"
                    value=(DEFAULT_SHARE_DAYS) required;
                p.hint { "Admins create and revoke links. Every access through a link is recorded." }
                button type="submit" { "Create a share link" }
            }
        }
    };
    layout("Evidence", Some((v.user, v.csrf)), body)
}

#[derive(Deserialize)]
pub(super) struct ExportForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    framework: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
}

pub(super) async fn export(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<ExportForm>, FormRejection>,
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
    let result = blocking(&state, move |g| {
        let framework = Some(f.framework.trim()).filter(|n| !n.is_empty());
        export_to_server(g, &principal, framework, f.from.trim(), f.to.trim())
    })
    .await;
    match result {
        Ok(summary) => {
            Redirect::to(&format!("{}?done=export", bundle_link(&summary.export_id))).into_response()
        }
        Err(e @ (CoreError::Internal(_) | CoreError::Unavailable(_))) => error_page(e),
        Err(e) => overview_view(&state, user, &sid, None, Some((status_of(&e), e.to_string()))).await,
    }
}

/// A file of a bundle, downloaded as the API serves it to the same user.
pub(super) async fn file(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((id, path)): Path<(String, String)>,
) -> Response {
    let (user, _) = match signed_in(&state, &headers).await {
        Ok(s) => s,
        Err(to) => return to,
    };
    let principal = Principal::User(user);
    let name = path.rsplit('/').next().unwrap_or_default().to_string();
    match blocking(&state, move |g| export_file_of(g, &principal, &id, &path)).await {
        Ok((bytes, kind)) => {
            // A file name of safe characters only: it goes into a header.
            let safe =
                name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)) && !name.is_empty();
            let disposition =
                if safe { format!("attachment; filename=\"{name}\"") } else { "attachment".into() };
            let mut response = (StatusCode::OK, [(header::CONTENT_TYPE, kind)], bytes).into_response();
            if let Ok(v) = HeaderValue::from_str(&disposition) {
                response.headers_mut().insert(header::CONTENT_DISPOSITION, v);
            }
            response
        }
        Err(e) => error_page(e),
    }
}

#[derive(Deserialize)]
pub(super) struct ShareForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    expires_days: String,
}

/// Creates a link and answers with the bundle's page showing it: the token is in this answer
/// only (never in a redirect's URL, which browsers keep in their history).
pub(super) async fn share(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Result<Form<ShareForm>, FormRejection>,
) -> Response {
    let (user, sid) = match signed_in(&state, &headers).await {
        Ok(s) => s,
        Err(to) => return to,
    };
    let Ok(Form(f)) = form else { return csrf_refused() };
    if !csrf_matches(&sid, &f.csrf) {
        return csrf_refused();
    }
    let Ok(days) = f.expires_days.trim().parse::<u32>() else {
        let refused =
            (StatusCode::BAD_REQUEST, "Give the days until the link expires, 1 to 365.".to_string());
        return bundle_view(
            &state,
            &headers,
            user,
            &sid,
            &id,
            Shown { refused: Some(refused), ..Shown::default() },
        )
        .await;
    };
    let principal = Principal::User(user.clone());
    let export_id = id.clone();
    match blocking(&state, move |g| share_export(g, &principal, &export_id, days)).await {
        Ok(created) => {
            let shown = Shown { created: Some(created), ..Shown::default() };
            bundle_view(&state, &headers, user, &sid, &id, shown).await
        }
        Err(e @ (CoreError::Internal(_) | CoreError::Unavailable(_))) => error_page(e),
        Err(e) => {
            let shown = Shown { refused: Some((status_of(&e), e.to_string())), ..Shown::default() };
            bundle_view(&state, &headers, user, &sid, &id, shown).await
        }
    }
}

#[derive(Deserialize)]
pub(super) struct RevokeForm {
    #[serde(default)]
    csrf: String,
}

pub(super) async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Result<Form<RevokeForm>, FormRejection>,
) -> Response {
    let (user, sid) = match signed_in(&state, &headers).await {
        Ok(s) => s,
        Err(to) => return to,
    };
    if !form.is_ok_and(|Form(f)| csrf_matches(&sid, &f.csrf)) {
        return csrf_refused();
    }
    let principal = Principal::User(user.clone());
    match blocking(&state, move |g| g.revoke_share(&principal, &id)).await {
        Ok(share) => Redirect::to(&format!("{}?done=revoke", bundle_link(&share.export_id))).into_response(),
        Err(e @ (CoreError::Internal(_) | CoreError::Unavailable(_))) => error_page(e),
        Err(e) => overview_view(&state, user, &sid, None, Some((status_of(&e), e.to_string()))).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn share(revoked: bool, expires_at: &str) -> Share {
        Share {
            id: "shr_1".into(),
            export_id: "exp_1".into(),
            created_by: "alice".into(),
            created_at: "2026-12-01T00:00:00.000000Z".into(),
            expires_at: expires_at.into(),
            revoked,
            revoked_by: None,
            revoked_at: None,
        }
    }

    #[test]
    fn a_link_reads_active_expired_or_revoked() {
        let now = datetime!(2026-12-07 10:00 UTC);
        assert_eq!(share_state(&share(false, "2026-12-08T00:00:00.000000Z"), now), "active");
        assert_eq!(share_state(&share(false, "2026-12-07T09:59:59.000000Z"), now), "expired");
        assert_eq!(share_state(&share(true, "2026-12-08T00:00:00.000000Z"), now), "revoked");
    }

    #[test]
    fn file_links_encode_each_path_segment() {
        assert_eq!(
            file_link("exp_1", "evidence/a b.json"),
            "/console/evidence/bundles/exp_1/files/evidence/a%20b.json"
        );
    }
}
