//! The auditor's page of a share link, `GET /console/share/{token}`: no sign-in, the bundle's
//! files with their SHA-256 and links, how to verify them with coreutils and OpenSSL, and a
//! button that verifies them in the auditor's own browser (`verify.js`: WebCrypto SHA-256 of
//! every file against SHA256SUMS, and the Ed25519 signature of SHA256SUMS), so the check does not
//! rest on the server that served the files. The link is admitted and its access recorded exactly
//! as `GET /v1/public/share/{token}` does (same budgets, same record).

use super::pages::{message, Page};
use crate::client_addr::ClientAddr;
use crate::compliance_api::{listing_of_share, ShareListing};
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use maud::{html, DOCTYPE};

pub(super) async fn page(
    State(state): State<AppState>,
    Path(token): Path<String>,
    ClientAddr(addr): ClientAddr,
    headers: HeaderMap,
) -> Response {
    match listing_of_share(&state, token.clone(), addr, &headers).await {
        Ok(listing) => render(&token, &listing).into_response(),
        Err(refused) => {
            let status = refused.status();
            let text = match status {
                StatusCode::NOT_FOUND => "This link is unknown, has expired or was revoked.",
                StatusCode::TOO_MANY_REQUESTS => {
                    "Too many requests through this link or from your address: try again in a minute."
                }
                StatusCode::GONE => "The bundle's files are no longer on this server.",
                _ => "This link cannot be opened.",
            };
            let mut response = (status, message("Shared evidence", text)).into_response();
            if let Some(retry) = refused.headers().get(header::RETRY_AFTER) {
                response.headers_mut().insert(header::RETRY_AFTER, retry.clone());
            }
            response
        }
    }
}

fn render(token: &str, listing: &ShareListing) -> Page {
    let export = &listing.export;
    let text = |key: &str| export.get(key).and_then(|v| v.as_str()).unwrap_or("").to_string();
    let file_url = |path: &str| {
        let encoded: Vec<String> = path.split('/').map(super::urlencode).collect();
        format!("/v1/public/share/{}/files/{}", super::urlencode(token), encoded.join("/"))
    };
    Html(
        html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { "Shared evidence · gavel" }
                    link rel="stylesheet" href="/console/static/console.css";
                    script src="/console/static/verify.js" defer {}
                }
                body {
                    header { span.brand { "gavel" } span { "Shared evidence bundle (read-only)" } }
                    main data-share=(token) {
                        h1 { "Evidence bundle " (text("export_id")) }
                        dl {
                            dt { "Framework" } dd { (text("framework")) }
                            dt { "Period" } dd { (text("from")) " to " (text("to")) " (the last day excluded)" }
                            dt { "Events" } dd { (export.get("total_events").map(|v| v.to_string()).unwrap_or_default()) }
                            dt { "SHA-256 of SHA256SUMS" } dd { small { (text("sha256sums_sha256")) } }
                        }
                        h2 { "Verify it in this browser" }
                        p #needs-js { "This check needs JavaScript; the commands below need none." }
                        button #verify type="button" hidden { "Verify the files and the signature" }
                        p #verdict role="status" aria-live="polite" {}
                        ol #results {}
                        h2 { "Verify it with standard tools" }
                        p { "Download every file into one directory (keeping the paths), then run there:" }
                        pre { (listing.verify) }
                        p { "and, with gavel, everything else (the log's checkpoint and proofs, every statement recomputed): "
                            code { "gavel evidence verify <directory>" } }
                        h2 { "Files (" (listing.files.len()) ")" }
                        table {
                            thead { tr { th scope="col" { "File" } th scope="col" { "Bytes" } th scope="col" { "SHA-256 (SHA256SUMS)" } } }
                            tbody {
                                @for f in &listing.files {
                                    tr {
                                        td { a href=(file_url(&f.path)) { (f.path) } }
                                        td { (f.size.map(|s| s.to_string()).unwrap_or_else(|| "missing".into())) }
                                        td { small { (f.sha256.as_deref().unwrap_or("—")) } }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        .into_string(),
    )
}
