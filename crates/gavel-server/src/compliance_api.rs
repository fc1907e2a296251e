//! `/v1/compliance/*`, `/v1/shares` and `/v1/public/*`: readiness scans, evidence exports, and
//! read-only share links for auditors.
//!
//! * Frameworks are named, never given as paths over HTTP: `soc2` is built in, any other name is
//!   `<data-dir>/frameworks/<name>.toml` (a name is `[a-z0-9._-]`, so it cannot leave that directory).
//! * Exports are written under `<data-dir>/exports/<export id>/` (atomically, by gavel-evidence)
//!   and recorded in the log; share links serve exactly the files `SHA256SUMS` lists, plus
//!   `SHA256SUMS` and its signature — nothing else can be named.
//! * Public routes need no token and spend the budget of `crate::public` (per source, per link).
//!   The first access to each file per link and source in a window is recorded before any byte
//!   is served; repeats and refusals are counted and recorded once a window.
//!
//! The core calls behind the routes: scans `Gavel::run_scan`, `compliance_scans`,
//! `compliance_scan_by_id` (readiness is the latest scan); exports `Gavel::export_evidence`,
//! `exports`, `export`; shares `Gavel::create_share_of_held` (the caller's role is checked
//! before the bundle), `shares`, `revoke_share`, `share_accesses`; public `Gavel::open_share`,
//! `record_share_access`, `shared_export_document`, `export_public_key`. The console's evidence
//! page calls the same functions as the routes (`export_to_server`, `export_detail`,
//! `export_file_of`, `share_export`), so both refuse and allow exactly the same.

use crate::api::{as_caller, created, route, ApiJson, ApiPath, ApiQuery, Bearer, NoBody, Route};
use crate::client_addr::ClientAddr;
use crate::error::ApiError;
use crate::openapi::List;
use crate::public::Counted;
use crate::AppState;
use axum::extract::State;
use axum::http::Method;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use gavel_core::compliance::Scan;
use gavel_core::evidence_runs::{self, ExportOut, ExportParams};
use gavel_core::shares::{ExportRecord, Share, ShareAccess};
use gavel_core::{CoreError, Gavel, Principal};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::net::IpAddr;
use std::path::PathBuf;
use utoipa::{OpenApi, ToSchema};

pub fn routes() -> Vec<Route> {
    vec![
        route(Method::GET, "/v1/compliance/scans", list_scans),
        route(Method::POST, "/v1/compliance/scans", run_scan),
        route(Method::GET, "/v1/compliance/scans/{id}", get_scan),
        route(Method::GET, "/v1/compliance/readiness", readiness),
        route(Method::GET, "/v1/compliance/exports", list_exports),
        route(Method::POST, "/v1/compliance/exports", create_export),
        route(Method::GET, "/v1/compliance/exports/{id}", get_export),
        route(Method::GET, "/v1/compliance/exports/{id}/files/{*path}", export_file),
        route(Method::GET, "/v1/shares", list_shares),
        route(Method::POST, "/v1/shares", create_share),
        route(Method::POST, "/v1/shares/{id}/revoke", revoke_share),
        route(Method::GET, "/v1/shares/{id}/accesses", share_accesses),
    ]
}

/// The routes that need no token (the caller puts them behind the public budget).
pub fn public_routes() -> Vec<Route> {
    vec![
        route(Method::GET, "/v1/public/signing-key", signing_key),
        route(Method::GET, "/v1/public/share/{token}", share_listing),
        route(Method::GET, "/v1/public/share/{token}/files/{*path}", share_file),
    ]
}

#[derive(OpenApi)]
#[openapi(paths(
    list_scans,
    run_scan,
    get_scan,
    readiness,
    list_exports,
    create_export,
    get_export,
    export_file,
    list_shares,
    create_share,
    revoke_share,
    share_accesses,
    signing_key,
    share_listing,
    share_file
))]
pub struct ComplianceDoc;

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScanBody {
    /// Framework name (default soc2).
    #[serde(default)]
    pub framework: Option<String>,
}

#[utoipa::path(post, path = "/v1/compliance/scans", request_body(content = Option<ScanBody>, description = "Optional: an empty body is accepted"),
    responses((status = 201, description = "A readiness scan: per criterion enforcing / observe / gap, findings, new and remediated since the previous scan; recorded", body = Scan)),
    security(("bearer" = [])))]
async fn run_scan(
    State(s): State<AppState>,
    b: Bearer,
    body: crate::api::MaybeJson<ScanBody>,
) -> Result<Response, ApiError> {
    let framework = body.0.and_then(|b| b.framework).unwrap_or_else(|| "soc2".into());
    let settings = s.compliance.checks.clone();
    as_caller(&s, b, move |g, p| g.run_scan(p, &framework, &settings)).await.map(created)
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ScanQuery {
    /// Framework name (default soc2).
    #[serde(default)]
    pub framework: Option<String>,
    /// Default 50.
    #[serde(default)]
    pub limit: Option<u32>,
}

#[utoipa::path(get, path = "/v1/compliance/scans", params(ScanQuery), responses((status = 200, description = "Stored scans, newest first", body = List<Scan>)), security(("bearer" = [])))]
async fn list_scans(
    State(s): State<AppState>,
    b: Bearer,
    ApiQuery(q): ApiQuery<ScanQuery>,
) -> Result<Json<List<Scan>>, ApiError> {
    as_caller(&s, b, move |g, p| {
        Ok(List::of(g.compliance_scans(p, q.framework.as_deref(), q.limit.unwrap_or(50))?))
    })
    .await
    .map(Json)
}

#[utoipa::path(get, path = "/v1/compliance/scans/{id}", responses((status = 200, description = "One stored scan", body = Scan)), security(("bearer" = [])))]
async fn get_scan(
    State(s): State<AppState>,
    b: Bearer,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Scan>, ApiError> {
    as_caller(&s, b, move |g, p| g.compliance_scan_by_id(p, &id)).await.map(Json)
}

#[utoipa::path(get, path = "/v1/compliance/readiness", params(ScanQuery), responses((status = 200, description = "The latest scan of the framework (default soc2)", body = Scan), (status = 404, description = "No scan yet")), security(("bearer" = [])))]
async fn readiness(
    State(s): State<AppState>,
    b: Bearer,
    ApiQuery(q): ApiQuery<ScanQuery>,
) -> Result<Json<Scan>, ApiError> {
    as_caller(&s, b, move |g, p| {
        let framework = q.framework.unwrap_or_else(|| "soc2".into());
        let latest = g.compliance_scans(p, Some(&framework), 1)?.into_iter().next().ok_or_else(|| {
            CoreError::NotFound(format!(
                "no {framework} scan yet: run `gavel compliance scan` (POST /v1/compliance/scans)"
            ))
        })?;
        Ok(latest)
    })
    .await
    .map(Json)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportBody {
    /// Framework name (default soc2).
    #[serde(default)]
    pub framework: Option<String>,
    /// First day, YYYY-MM-DD (inclusive).
    pub from: String,
    /// Day after the period, YYYY-MM-DD (exclusive).
    pub to: String,
}

#[utoipa::path(post, path = "/v1/compliance/exports", request_body = ExportBody,
    responses((status = 201, description = "The signed bundle was written and recorded; share it with POST /v1/shares", body = gavel_evidence::ExportSummary)),
    security(("bearer" = [])))]
async fn create_export(
    State(s): State<AppState>,
    b: Bearer,
    ApiJson(body): ApiJson<ExportBody>,
) -> Result<Response, ApiError> {
    as_caller(&s, b, move |g, p| export_to_server(g, p, body.framework.as_deref(), &body.from, &body.to))
        .await
        .map(created)
}

/// Writes a signed bundle of `[from, to)` (days, `YYYY-MM-DD`) into the server's exports
/// directory, where share links serve it from, and records it: `POST /v1/compliance/exports` and
/// the console's evidence page. `framework` defaults to soc2.
pub(crate) fn export_to_server(
    g: &Gavel,
    p: &Principal,
    framework: Option<&str>,
    from: &str,
    to: &str,
) -> Result<gavel_evidence::ExportSummary, CoreError> {
    let framework = g.framework(framework.unwrap_or("soc2"))?;
    let (from, to) = (evidence_runs::day(from)?, evidence_runs::day(to)?);
    g.export_evidence(
        p,
        ExportParams { framework: &framework, from, to, out: ExportOut::DataDir, progress: None },
    )
}

#[utoipa::path(get, path = "/v1/compliance/exports", responses((status = 200, description = "Exports on record, newest first", body = List<ExportRecord>)), security(("bearer" = [])))]
async fn list_exports(State(s): State<AppState>, b: Bearer) -> Result<Json<List<ExportRecord>>, ApiError> {
    as_caller(&s, b, |g, p| Ok(List::of(g.exports(p)?))).await.map(Json)
}

/// One file of a bundle.
#[derive(Debug, Serialize, ToSchema)]
pub struct BundleFile {
    /// The path inside the bundle.
    pub path: String,
    /// Its SHA-256 as `SHA256SUMS` lists it (null for `SHA256SUMS` and its signature).
    pub sha256: Option<String>,
    /// Its size in bytes (null when it is missing).
    pub size: Option<u64>,
}

/// An export on record and the files of its bundle (`GET /v1/compliance/exports/{id}`).
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportDetail {
    pub export: ExportRecord,
    /// Empty when the server does not hold the bundle.
    pub files: Vec<BundleFile>,
    /// Whether the server holds the bundle (it can be shared).
    pub stored: bool,
}

/// A new share link (`POST /v1/shares`): the token is shown this once.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreatedShare {
    #[serde(flatten)]
    pub issued: gavel_core::shares::IssuedShare,
    /// Where the auditor opens it: `/v1/public/share/<token>`.
    pub url_path: String,
}

/// What a share link shows (`GET /v1/public/share/{token}`).
#[derive(Debug, Serialize, ToSchema)]
pub struct ShareListing {
    /// The export's record as stored.
    #[schema(value_type = Option<Object>)]
    pub export: Value,
    pub files: Vec<BundleFile>,
    /// How to check the bundle with standard tools.
    pub verify: String,
}

/// The files of a bundle: what `SHA256SUMS` lists, plus `SHA256SUMS` and its signature.
fn bundle_files(dir: &std::path::Path) -> Result<Vec<BundleFile>, CoreError> {
    let sums = std::fs::read_to_string(dir.join("SHA256SUMS")).map_err(|_| {
        CoreError::Gone(format!(
            "the bundle's files are not in {} (exported elsewhere, or removed)",
            dir.display()
        ))
    })?;
    let listed = gavel_evidence::sums::parse(&sums)
        .map_err(|e| CoreError::Internal(format!("the bundle in {} is damaged: {e}", dir.display())))?;
    let mut files = Vec::new();
    for (path, hash) in listed {
        let size = std::fs::metadata(dir.join(&path)).map(|m| m.len()).ok();
        files.push(BundleFile { path, sha256: Some(hash), size });
    }
    for extra in ["SHA256SUMS", "SHA256SUMS.sig"] {
        let size = std::fs::metadata(dir.join(extra)).map(|m| m.len()).ok();
        files.push(BundleFile { path: extra.into(), sha256: None, size });
    }
    Ok(files)
}

fn bundle_dir(gavel: &Gavel, export_id: &str) -> PathBuf {
    gavel.data_dir().exports().join(export_id)
}

#[utoipa::path(get, path = "/v1/compliance/exports/{id}", responses((status = 200, description = "The export on record and its files", body = ExportDetail)), security(("bearer" = [])))]
async fn get_export(
    State(s): State<AppState>,
    b: Bearer,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ExportDetail>, ApiError> {
    as_caller(&s, b, move |g, p| export_detail(g, p, &id)).await.map(Json)
}

/// An export on record and the files of its bundle, as `GET /v1/compliance/exports/{id}` and the
/// console show it.
pub(crate) fn export_detail(g: &Gavel, p: &Principal, id: &str) -> Result<ExportDetail, CoreError> {
    let export = g.export(p, id)?;
    let files = bundle_files(&bundle_dir(g, &export.export_id)).unwrap_or_default();
    Ok(ExportDetail { stored: !files.is_empty(), export, files })
}

/// Reads one file of a bundle, if `path` names one of its files.
fn read_bundle_file(dir: &std::path::Path, path: &str) -> Result<(Vec<u8>, &'static str), CoreError> {
    let listed = bundle_files(dir)?;
    if !listed.iter().any(|f| f.path == path) {
        return Err(CoreError::NotFound(format!("the bundle has no file {path:?}")));
    }
    let bytes = std::fs::read(dir.join(path)).map_err(|e| CoreError::Gone(format!("{path}: {e}")))?;
    let kind = match path.rsplit('.').next() {
        Some("json") => "application/json",
        Some("jsonl") => "application/x-ndjson",
        Some("csv") => "text/csv; charset=utf-8",
        Some("sig") => "application/octet-stream",
        Some("pdf") => "application/pdf",
        _ => "text/plain; charset=utf-8",
    };
    Ok((bytes, kind))
}

fn file_response((bytes, kind): (Vec<u8>, &'static str)) -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, kind)], bytes).into_response()
}

#[utoipa::path(get, path = "/v1/compliance/exports/{id}/files/{path}", responses((status = 200, description = "One file of the bundle")), security(("bearer" = [])))]
async fn export_file(
    State(s): State<AppState>,
    b: Bearer,
    ApiPath((id, path)): ApiPath<(String, String)>,
) -> Result<Response, ApiError> {
    as_caller(&s, b, move |g, p| export_file_of(g, p, &id, &path)).await.map(file_response)
}

/// One file of an export's bundle (its bytes and content type), as
/// `GET /v1/compliance/exports/{id}/files/{path}` and the console's download links read it.
pub(crate) fn export_file_of(
    g: &Gavel,
    p: &Principal,
    id: &str,
    path: &str,
) -> Result<(Vec<u8>, &'static str), CoreError> {
    let export = g.export(p, id)?;
    read_bundle_file(&bundle_dir(g, &export.export_id), path)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShareBody {
    pub export_id: String,
    /// Days until the link expires (1–365).
    pub expires_days: u32,
}

#[utoipa::path(post, path = "/v1/shares", request_body = ShareBody,
    responses((status = 201, description = "The link: {token, url_path, …}; the token is shown once", body = CreatedShare)),
    security(("bearer" = [])))]
async fn create_share(
    State(s): State<AppState>,
    b: Bearer,
    ApiJson(body): ApiJson<ShareBody>,
) -> Result<Response, ApiError> {
    as_caller(&s, b, move |g, p| share_export(g, p, &body.export_id, body.expires_days)).await.map(created)
}

/// Creates a share link to an export whose bundle the server holds, valid `days` days:
/// `POST /v1/shares` and the console's evidence page. The token is in the answer, and only there.
pub(crate) fn share_export(
    g: &Gavel,
    p: &Principal,
    export_id: &str,
    days: u32,
) -> Result<CreatedShare, CoreError> {
    // Only a bundle the server holds can be shared.
    let held = |export: &gavel_core::shares::ExportRecord| {
        bundle_files(&bundle_dir(g, &export.export_id)).map(drop).map_err(|_| {
            CoreError::Conflict(format!(
                "export {} is on record but its bundle is not in the server's exports directory; \
                 export it with POST /v1/compliance/exports (or `gavel evidence export` without --out)",
                export.export_id
            ))
        })
    };
    let issued = g.create_share_of_held(p, export_id, days, held)?;
    let url_path = format!("/v1/public/share/{}", issued.token);
    Ok(CreatedShare { issued, url_path })
}

#[utoipa::path(get, path = "/v1/shares", responses((status = 200, description = "Share links (never their tokens)", body = List<Share>)), security(("bearer" = [])))]
async fn list_shares(State(s): State<AppState>, b: Bearer) -> Result<Json<List<Share>>, ApiError> {
    as_caller(&s, b, |g, p| Ok(List::of(g.shares(p)?))).await.map(Json)
}

#[utoipa::path(post, path = "/v1/shares/{id}/revoke", responses((status = 200, description = "Revoked: the next request through the link is refused", body = Share)), security(("bearer" = [])))]
async fn revoke_share(
    State(s): State<AppState>,
    b: Bearer,
    ApiPath(id): ApiPath<String>,
    _: NoBody,
) -> Result<Json<Share>, ApiError> {
    as_caller(&s, b, move |g, p| g.revoke_share(p, &id)).await.map(Json)
}

#[utoipa::path(get, path = "/v1/shares/{id}/accesses", responses((status = 200, description = "Every access through the link, newest first: recorded first accesses and the counts of repeated or refused requests", body = List<ShareAccess>)), security(("bearer" = [])))]
async fn share_accesses(
    State(s): State<AppState>,
    b: Bearer,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<List<ShareAccess>>, ApiError> {
    as_caller(&s, b, move |g, p| g.share_accesses(p, &id, 1000).map(List::of)).await.map(Json)
}

#[utoipa::path(get, path = "/v1/public/signing-key", responses((status = 200, description = "The export signing public key, SPKI PEM (no token)")))]
async fn signing_key(State(s): State<AppState>) -> Result<Response, ApiError> {
    let gavel = s.gavel.clone();
    let pem = tokio::task::spawn_blocking(move || gavel.export_public_key())
        .await
        .map_err(|e| ApiError::internal(e.to_string()))??;
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, "application/x-pem-file")], pem).into_response())
}

/// Who asked, for the access record: the client address (`client_addr`) and the user agent.
fn client(addr: &IpAddr, headers: &HeaderMap) -> String {
    let agent = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("-");
    format!("{addr} ({})", agent.chars().take(200).collect::<String>())
}

/// Admits one public access through a link and returns the log and the export it may read.
///
/// In order: the length of what is named (414), the link's budget (429), the link (404), the
/// file (404) — each refusal counted, never recorded on its own — then the record of the first
/// access to this file from this source in the window, before anything is served.
async fn admit(
    s: &AppState,
    token: String,
    what: Option<String>,
    addr: IpAddr,
    headers: &HeaderMap,
) -> Result<(Share, String), Response> {
    let guard = s.public.clone();
    let source = addr;
    let now = || gavel_ledger::clock::format_time(s.gavel.clock().now());
    let named = token.len() + what.as_ref().map_or(0, String::len);
    if named > guard.limits().max_path_bytes {
        guard.count(None, source, Counted::TooLong, &now());
        return Err(ApiError::new(
            StatusCode::URI_TOO_LONG,
            "uri_too_long",
            format!("a share link names at most {} bytes of token and path", guard.limits().max_path_bytes),
        )
        .into_response());
    }
    guard
        .admit_link(&gavel_core::ids::token_hash(&token), source, &now())
        .map_err(IntoResponse::into_response)?;
    let (gavel, who) = (s.gavel.clone(), client(&addr, headers));
    let now = now();
    tokio::task::spawn_blocking(move || {
        let (share, export) = gavel.open_share(&token).inspect_err(|_| {
            guard.count(None, source, Counted::NotFound, &now);
        })?;
        if let Some(path) = &what {
            let listed = bundle_files(&bundle_dir(&gavel, &export.export_id))?;
            if !listed.iter().any(|f| f.path == path.as_str()) {
                guard.count(Some(&share.id), source, Counted::NotFound, &now);
                return Err(CoreError::NotFound(format!(
                    "the bundle has no file {:?}",
                    path.chars().take(gavel_core::shares::MAX_RECORDED_PATH).collect::<String>()
                )));
            }
        }
        let key = what.as_deref().unwrap_or("");
        if guard.needs_record(&share.id, source, key) {
            gavel.record_share_access(&share, what.as_deref(), &who)?;
            guard.mark_recorded(&share.id, source, key);
        } else {
            guard.count(Some(&share.id), source, Counted::Repeated, &now);
        }
        Ok((share, export.export_id))
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()).into_response())?
    .map_err(|e| ApiError::from(e).into_response())
}

#[utoipa::path(get, path = "/v1/public/share/{token}", responses((status = 200, description = "The shared export and its files (no token; the access is recorded)", body = ShareListing), (status = 404, description = "Unknown, revoked or expired link"), (status = 414, description = "Token too long"), (status = 429, description = "Over the source's or the link's budget (Retry-After)")))]
async fn share_listing(
    State(s): State<AppState>,
    ApiPath(token): ApiPath<String>,
    ClientAddr(addr): ClientAddr,
    headers: HeaderMap,
) -> Result<Json<ShareListing>, Response> {
    listing_of_share(&s, token, addr, &headers).await.map(Json)
}

/// What a share link shows (the export and its files), admitted and recorded as
/// `GET /v1/public/share/{token}` does: also the auditor's page in the console.
pub(crate) async fn listing_of_share(
    s: &AppState,
    token: String,
    addr: IpAddr,
    headers: &HeaderMap,
) -> Result<ShareListing, Response> {
    let (share, export_id) = admit(s, token, None, addr, headers).await?;
    let gavel = s.gavel.clone();
    tokio::task::spawn_blocking(move || {
        let export = gavel.shared_export_document(&share)?;
        let files = bundle_files(&bundle_dir(&gavel, &export_id))?;
        Ok::<_, CoreError>(ShareListing {
            export,
            files,
            verify: "sha256sum -c SHA256SUMS && openssl pkeyutl -verify -pubin -inkey signing-key.pem -rawin -in SHA256SUMS -sigfile SHA256SUMS.sig".into(),
        })
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()).into_response())?
    .map_err(|e| ApiError::from(e).into_response())
}

#[utoipa::path(get, path = "/v1/public/share/{token}/files/{path}", responses((status = 200, description = "One file of the shared bundle (no token; the access is recorded)"), (status = 404, description = "Unknown link or no such file"), (status = 414, description = "Path too long"), (status = 429, description = "Over the source's or the link's budget (Retry-After)")))]
async fn share_file(
    State(s): State<AppState>,
    ApiPath((token, path)): ApiPath<(String, String)>,
    ClientAddr(addr): ClientAddr,
    headers: HeaderMap,
) -> Result<Response, Response> {
    let (_, export_id) = admit(&s, token, Some(path.clone()), addr, &headers).await?;
    let gavel = s.gavel.clone();
    tokio::task::spawn_blocking(move || read_bundle_file(&bundle_dir(&gavel, &export_id), &path))
        .await
        .map_err(|e| ApiError::internal(e.to_string()).into_response())?
        .map(file_response)
        .map_err(|e| ApiError::from(e).into_response())
}
