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

use crate::api::{as_caller, created, route, ApiJson, ApiPath, ApiQuery, Bearer, NoBody, Route};
use crate::error::ApiError;
use crate::openapi::List;
use crate::public::Counted;
use crate::s3_export::S3Target;
use crate::AppState;
use axum::extract::{ConnectInfo, State};
use axum::http::Method;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use gavel_core::compliance::ScanSettings;
use gavel_core::shares::{ExportRecord, Share};
use gavel_core::{CoreError, Gavel, Principal, Role};
use gavel_evidence::export::{parse_date, ExportRequest, ExportSummary};
use gavel_evidence::{EvidenceError, Framework};
use gavel_store::layout::DataDir;
use gavel_store::{Log, Store};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
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

fn evidence_error(e: EvidenceError) -> CoreError {
    match e {
        EvidenceError::Framework(m) | EvidenceError::Invalid(m) => CoreError::Invalid(m),
        EvidenceError::Store(e) => e.into(),
        other => CoreError::Internal(other.to_string()),
    }
}

/// A framework by name: `soc2` (built in) or `<data-dir>/frameworks/<name>.toml`.
pub fn resolve_framework(dir: &DataDir, name: &str) -> Result<Framework, CoreError> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    if !valid {
        return Err(CoreError::Invalid(format!("framework {name:?} must be a name like soc2 ([a-z0-9._-])")));
    }
    if name == "soc2" {
        return Framework::soc2().map_err(evidence_error);
    }
    let path = dir.root().join("frameworks").join(format!("{name}.toml"));
    if !path.is_file() {
        return Err(CoreError::NotFound(format!(
            "no framework {name:?} (built in: soc2; others go in {})",
            dir.root().join("frameworks").display()
        )));
    }
    Framework::load(&path.to_string_lossy()).map_err(evidence_error)
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScanBody {
    /// Framework name (default soc2).
    #[serde(default)]
    pub framework: Option<String>,
}

/// Runs and records a scan (`by` None: the scheduled scan).
pub fn scan(
    gavel: &Gavel,
    log: &Log,
    by: Option<&Principal>,
    framework: &str,
    settings: &ScanSettings,
) -> Result<Value, CoreError> {
    if let Some(p) = by {
        Gavel::may_scan(p)?;
    }
    let fw = resolve_framework(log.data_dir(), framework)?;
    let scan = gavel.compliance_scan(by, &fw, settings)?;
    Ok(json!(scan))
}

#[utoipa::path(post, path = "/v1/compliance/scans", request_body(content = Option<ScanBody>, description = "Optional: an empty body is accepted"),
    responses((status = 201, description = "A readiness scan: per criterion enforcing / observe / gap, findings, new and remediated since the previous scan; recorded")),
    security(("bearer" = [])))]
async fn run_scan(
    State(s): State<AppState>,
    b: Bearer,
    body: crate::api::MaybeJson<ScanBody>,
) -> Result<Response, ApiError> {
    let framework = body.0.and_then(|b| b.framework).unwrap_or_else(|| "soc2".into());
    let (log, settings) = (s.log.clone(), s.compliance.checks.clone());
    as_caller(&s, b, move |g, p| scan(g, &log, Some(p), &framework, &settings)).await.map(created)
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

#[utoipa::path(get, path = "/v1/compliance/scans", params(ScanQuery), responses((status = 200, description = "Stored scans, newest first", body = crate::openapi::Items)), security(("bearer" = [])))]
async fn list_scans(
    State(s): State<AppState>,
    b: Bearer,
    ApiQuery(q): ApiQuery<ScanQuery>,
) -> Result<Json<Value>, ApiError> {
    as_caller(&s, b, move |g, p| {
        Ok(json!({"items": g.compliance_scans(p, q.framework.as_deref(), q.limit.unwrap_or(50))?}))
    })
    .await
    .map(Json)
}

#[utoipa::path(get, path = "/v1/compliance/scans/{id}", responses((status = 200, description = "One stored scan")), security(("bearer" = [])))]
async fn get_scan(
    State(s): State<AppState>,
    b: Bearer,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    as_caller(&s, b, move |g, p| Ok(json!(g.compliance_scan_by_id(p, &id)?))).await.map(Json)
}

#[utoipa::path(get, path = "/v1/compliance/readiness", params(ScanQuery), responses((status = 200, description = "The latest scan of the framework (default soc2)"), (status = 404, description = "No scan yet")), security(("bearer" = [])))]
async fn readiness(
    State(s): State<AppState>,
    b: Bearer,
    ApiQuery(q): ApiQuery<ScanQuery>,
) -> Result<Json<Value>, ApiError> {
    as_caller(&s, b, move |g, p| {
        let framework = q.framework.unwrap_or_else(|| "soc2".into());
        let latest = g.compliance_scans(p, Some(&framework), 1)?.into_iter().next().ok_or_else(|| {
            CoreError::NotFound(format!(
                "no {framework} scan yet: run `gavel compliance scan` (POST /v1/compliance/scans)"
            ))
        })?;
        Ok(json!(latest))
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

/// Writes a bundle of `framework` for `[from, to)` into `<data-dir>/exports/<export id>` and records
/// it. `by` None: the scheduled export.
pub fn export_bundle(
    gavel: &Gavel,
    log: &Log,
    by: Option<&Principal>,
    framework: &str,
    from: &str,
    to: &str,
) -> Result<ExportSummary, CoreError> {
    let actor = match by {
        Some(p) => {
            p.require_user(&[Role::Admin, Role::Auditor])?;
            p.actor()
        }
        None => gavel_ledger::event::Actor::system("scheduled-export"),
    };
    let fw = resolve_framework(log.data_dir(), framework)?;
    let (from, to) = (parse_date(from).map_err(evidence_error)?, parse_date(to).map_err(evidence_error)?);
    let (key, _) = gavel_evidence::load_or_create_export_key(log.data_dir()).map_err(evidence_error)?;
    let exports = log.data_dir().exports();
    std::fs::create_dir_all(&exports)
        .map_err(|e| CoreError::Internal(format!("{}: {e}", exports.display())))?;
    let staging = exports.join(format!(".new-{}", gavel_core::ids::new_id("x")));
    let org = log.origin().strip_prefix("gavel.local/").unwrap_or(log.origin()).to_string();
    let req = ExportRequest {
        store: log.store().as_ref(),
        log_signer: log.signer(),
        export_key: &key,
        framework: &fw,
        from,
        to,
        org,
        out: staging.clone(),
        retention_days: gavel.retention_policy()?.days,
        simulated: log.store().meta("simulated")?.as_deref() == Some("true"),
        generated_at: gavel.clock().now(),
        record: true,
        actor,
        progress: None,
    };
    let mut summary = gavel_evidence::export(&req).map_err(evidence_error)?;
    let target = exports.join(&summary.export_id);
    std::fs::rename(&staging, &target)
        .map_err(|e| CoreError::Internal(format!("{}: {e}", target.display())))?;
    summary.out = target;
    Ok(summary)
}

#[utoipa::path(post, path = "/v1/compliance/exports", request_body = ExportBody,
    responses((status = 201, description = "The signed bundle was written and recorded; share it with POST /v1/shares")),
    security(("bearer" = [])))]
async fn create_export(
    State(s): State<AppState>,
    b: Bearer,
    ApiJson(body): ApiJson<ExportBody>,
) -> Result<Response, ApiError> {
    let log = s.log.clone();
    as_caller(&s, b, move |g, p| {
        let framework = body.framework.unwrap_or_else(|| "soc2".into());
        export_bundle(g, &log, Some(p), &framework, &body.from, &body.to)
    })
    .await
    .map(created)
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
#[derive(Debug, Serialize, ToSchema)]
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

fn bundle_dir(log: &Log, export_id: &str) -> PathBuf {
    log.data_dir().exports().join(export_id)
}

#[utoipa::path(get, path = "/v1/compliance/exports/{id}", responses((status = 200, description = "The export on record and its files", body = ExportDetail)), security(("bearer" = [])))]
async fn get_export(
    State(s): State<AppState>,
    b: Bearer,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ExportDetail>, ApiError> {
    let log = s.log.clone();
    as_caller(&s, b, move |g, p| {
        let export = g.export(p, &id)?;
        let files = bundle_files(&bundle_dir(&log, &export.export_id)).unwrap_or_default();
        Ok(ExportDetail { stored: !files.is_empty(), export, files })
    })
    .await
    .map(Json)
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
    let log = s.log.clone();
    as_caller(&s, b, move |g, p| {
        let export = g.export(p, &id)?;
        read_bundle_file(&bundle_dir(&log, &export.export_id), &path)
    })
    .await
    .map(file_response)
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
    let log = s.log.clone();
    as_caller(&s, b, move |g, p| {
        // Only a bundle the server holds can be shared.
        let held = |export: &gavel_core::shares::ExportRecord| {
            bundle_files(&bundle_dir(&log, &export.export_id)).map(drop).map_err(|_| {
                CoreError::Conflict(format!(
                    "export {} is on record but its bundle is not in the server's exports directory; \
                     export it with POST /v1/compliance/exports (or `gavel evidence export` without --out)",
                    export.export_id
                ))
            })
        };
        let issued = g.create_share_of_held(p, &body.export_id, body.expires_days, held)?;
        let url_path = format!("/v1/public/share/{}", issued.token);
        Ok(CreatedShare { issued, url_path })
    })
    .await
    .map(created)
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

#[utoipa::path(get, path = "/v1/shares/{id}/accesses", responses((status = 200, description = "Every access through the link, newest first", body = crate::openapi::Items)), security(("bearer" = [])))]
async fn share_accesses(
    State(s): State<AppState>,
    b: Bearer,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    as_caller(&s, b, move |g, p| Ok(json!({"items": g.share_accesses(p, &id, 1000)?}))).await.map(Json)
}

#[utoipa::path(get, path = "/v1/public/signing-key", responses((status = 200, description = "The export signing public key, SPKI PEM (no token)")))]
async fn signing_key(State(s): State<AppState>) -> Result<Response, ApiError> {
    let log = s.log.clone();
    let pem = tokio::task::spawn_blocking(move || {
        gavel_evidence::load_or_create_export_key(log.data_dir())
            .map(|(key, _)| gavel_ledger::keys::public_key_pem(&key.verifying_key()))
            .map_err(evidence_error)
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))??;
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, "application/x-pem-file")], pem).into_response())
}

/// Who asked, for the access record: the peer address and the user agent.
fn client(addr: &SocketAddr, headers: &HeaderMap) -> String {
    let agent = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("-");
    format!("{} ({})", addr.ip(), agent.chars().take(200).collect::<String>())
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
    addr: SocketAddr,
    headers: &HeaderMap,
) -> Result<(Arc<Log>, String), Response> {
    let guard = s.public.clone();
    let source = addr.ip();
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
    let (gavel, log, who) = (s.gavel.clone(), s.log.clone(), client(&addr, headers));
    let now = now();
    tokio::task::spawn_blocking(move || {
        let (share, export) = gavel.open_share(&token).inspect_err(|_| {
            guard.count(None, source, Counted::NotFound, &now);
        })?;
        if let Some(path) = &what {
            let listed = bundle_files(&bundle_dir(&log, &export.export_id))?;
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
        Ok((log, export.export_id))
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()).into_response())?
    .map_err(|e| ApiError::from(e).into_response())
}

#[utoipa::path(get, path = "/v1/public/share/{token}", responses((status = 200, description = "The shared export and its files (no token; the access is recorded)", body = ShareListing), (status = 404, description = "Unknown, revoked or expired link"), (status = 414, description = "Token too long"), (status = 429, description = "Over the source's or the link's budget (Retry-After)")))]
async fn share_listing(
    State(s): State<AppState>,
    ApiPath(token): ApiPath<String>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Result<Json<ShareListing>, Response> {
    let (log, export_id) = admit(&s, token, None, addr, &headers).await?;
    let gavel = s.gavel.clone();
    tokio::task::spawn_blocking(move || {
        let export = gavel
            .store()
            .get_doc(gavel_evidence::export::EXPORTS_COLLECTION, &export_id)?
            .map(|d| d.body)
            .unwrap_or(Value::Null);
        let files = bundle_files(&bundle_dir(&log, &export_id))?;
        Ok::<_, CoreError>(ShareListing {
            export,
            files,
            verify: "sha256sum -c SHA256SUMS && openssl pkeyutl -verify -pubin -inkey signing-key.pem -rawin -in SHA256SUMS -sigfile SHA256SUMS.sig".into(),
        })
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()).into_response())?
    .map(Json)
    .map_err(|e| ApiError::from(e).into_response())
}

#[utoipa::path(get, path = "/v1/public/share/{token}/files/{path}", responses((status = 200, description = "One file of the shared bundle (no token; the access is recorded)"), (status = 404, description = "Unknown link or no such file"), (status = 414, description = "Path too long"), (status = 429, description = "Over the source's or the link's budget (Retry-After)")))]
async fn share_file(
    State(s): State<AppState>,
    ApiPath((token, path)): ApiPath<(String, String)>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Result<Response, Response> {
    let (log, export_id) = admit(&s, token, Some(path.clone()), addr, &headers).await?;
    tokio::task::spawn_blocking(move || read_bundle_file(&bundle_dir(&log, &export_id), &path))
        .await
        .map_err(|e| ApiError::internal(e.to_string()).into_response())?
        .map(file_response)
        .map_err(|e| ApiError::from(e).into_response())
}

/// What the compliance schedule runs (from `gavel.toml`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// Run a soc2 scan when the latest one is older than this (None: never on schedule).
    pub scan_every: Option<time::Duration>,
    /// Export the previous calendar month on the 1st (into `<data-dir>/exports/`).
    pub monthly_export: bool,
    /// Also copy each scheduled bundle into this directory (e.g. a mounted archive volume).
    pub copy_to: Option<PathBuf>,
    /// Also upload monthly bundles to this S3-compatible bucket (see `s3_export`).
    pub upload_to: Option<S3Target>,
    /// Tunables of the readiness checks (every scan, scheduled or not).
    pub checks: ScanSettings,
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule {
            scan_every: Some(time::Duration::days(7)),
            monthly_export: false,
            copy_to: None,
            upload_to: None,
            checks: ScanSettings::default(),
        }
    }
}

/// Copies a bundle directory to `<target>/<name>`, via a staging name so a reader never sees a
/// half-copied bundle.
fn copy_bundle(bundle: &std::path::Path, target: &std::path::Path, name: &str) -> std::io::Result<PathBuf> {
    fn copy_dir(from: &std::path::Path, to: &std::path::Path) -> std::io::Result<()> {
        std::fs::create_dir_all(to)?;
        for entry in std::fs::read_dir(from)? {
            let entry = entry?;
            let dest = to.join(entry.file_name());
            if entry.file_type()?.is_dir() {
                copy_dir(&entry.path(), &dest)?;
            } else {
                std::fs::copy(entry.path(), dest)?;
            }
        }
        Ok(())
    }
    std::fs::create_dir_all(target)?;
    let staging = target.join(format!(".{name}.partial"));
    let _ = std::fs::remove_dir_all(&staging);
    copy_dir(bundle, &staging)?;
    let dest = target.join(name);
    std::fs::rename(&staging, &dest)?;
    Ok(dest)
}

/// Whether an export is a whole calendar month (what the schedule exports and uploads).
fn is_monthly(e: &gavel_core::shares::ExportRecord) -> bool {
    let (Ok(from), Ok(to)) = (parse_date(&e.from), parse_date(&e.to)) else {
        return false;
    };
    from.day() == 1
        && from
            .replace_day(28)
            .ok()
            .and_then(|d| d.checked_add(time::Duration::days(4)))
            .and_then(|d| d.replace_day(1).ok())
            == Some(to)
}

/// Uploads every soc2 monthly bundle held in `<data-dir>/exports/` that has no upload record for
/// `target` yet, oldest first, recording each success; stops at the first failure (retried at the
/// next check). A bundle already recorded as uploaded to this target is never uploaded again.
fn upload_pending(
    gavel: &Gavel,
    log: &Log,
    target: &S3Target,
    done: &mut Vec<String>,
) -> Result<(), CoreError> {
    let store = gavel.store().as_ref();
    let mut pending = Vec::new();
    for e in gavel.export_records()?.into_iter().rev() {
        let dir = bundle_dir(log, &e.export_id);
        if e.framework == "soc2"
            && is_monthly(&e)
            && dir.join("SHA256SUMS").is_file()
            && !crate::s3_export::is_uploaded(store, target, &e.export_id)?
        {
            pending.push((e, dir));
        }
    }
    for (e, dir) in pending {
        let uploaded = crate::s3_export::upload_bundle(target, &dir, &e.export_id, &e.sha256sums_sha256)
            .map_err(|err| {
                CoreError::Internal(format!(
                    "export {} ({}..{}) stays in {} but is not uploaded yet (retried at the next check): {err}",
                    e.export_id,
                    e.from,
                    e.to,
                    dir.display()
                ))
            })?;
        let at = gavel_ledger::clock::format_time(gavel.clock().now());
        let actor = gavel_ledger::event::Actor::system("scheduled-export");
        crate::s3_export::record_upload(store, target, &e.export_id, &uploaded, actor, &at)?;
        done.push(format!("uploaded {} to {} ({} objects)", e.export_id, uploaded.url, uploaded.objects));
    }
    Ok(())
}

/// Runs whatever the schedule says is due now: returns what it did, in words. Idempotent: the
/// stored scans and exports say what was already done, so restarts neither repeat nor skip work;
/// uploads have their own records (`evidence_uploads`), so a failed one is retried at the next run.
pub fn run_due(gavel: &Gavel, log: &Log, schedule: &Schedule) -> Result<Vec<String>, CoreError> {
    let now = gavel.clock().now();
    let mut done = Vec::new();
    if let Some(every) = schedule.scan_every {
        let latest = gavel.latest_scan("soc2")?;
        let due = latest
            .as_ref()
            .and_then(|s| gavel_ledger::clock::parse_time(&s.completed_at))
            .is_none_or(|t| now - t >= every);
        if due {
            let scan = scan(gavel, log, None, "soc2", &schedule.checks)?;
            done.push(format!("scan {}", scan["id"].as_str().unwrap_or("?")));
        }
    }
    if schedule.monthly_export {
        let this_month = now.date().replace_day(1).map_err(|e| CoreError::Internal(e.to_string()))?;
        let previous = this_month.previous_day().and_then(|d| d.replace_day(1).ok());
        if let Some(previous) = previous {
            let (from, to) =
                (gavel_evidence::export::date_str(previous), gavel_evidence::export::date_str(this_month));
            let exists =
                gavel.export_records()?.iter().any(|e| e.framework == "soc2" && e.from == from && e.to == to);
            if !exists {
                let summary = export_bundle(gavel, log, None, "soc2", &from, &to)?;
                done.push(format!("export {} of {from}..{to}", summary.export_id));
                if let Some(target) = &schedule.copy_to {
                    let copied = copy_bundle(&summary.out, target, &summary.export_id).map_err(|e| {
                        CoreError::Internal(format!("copying the bundle to {}: {e}", target.display()))
                    })?;
                    done.push(format!("copied to {}", copied.display()));
                }
            }
        }
        if let Some(target) = &schedule.upload_to {
            if let Err(e) = upload_pending(gavel, log, target, &mut done) {
                // What was done before the failure is in the log; say it here too.
                for what in &done {
                    tracing::info!(%what, "scheduled compliance work done");
                }
                return Err(e);
            }
        }
    }
    Ok(done)
}
