//! The download page (`GET /download`, HTML) and the release files the server serves
//! (`GET /download/{product}/{version}/file`). The same list as JSON is `GET /download.json`
//! (`handlers/releases.rs`). All three are registered with `routes!()` in `openapi.rs`, with
//! the RA wing's security headers on the page.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::html;

use crate::handlers::releases::index;
use crate::state::AppState;
use crate::web::layout::{Shell, date, error_page, failure_page, page};

#[utoipa::path(get, path = "/download", tag = "public",
    responses((status = 200, description = "The download page: releases with SHA-256, signing key and download link (JSON: /download.json)", content_type = "text/html", body = String)))]
pub(crate) async fn download_page(State(s): State<AppState>) -> Response {
    let idx = match index(&s).await {
        Ok(i) => i,
        Err(e) => return failure_page(e),
    };
    let body = html! {
        h1 { "Download ecmt and carecert-agent" }
        p {
            "Installed clients update themselves: run " code { "sudo ecmt update" }
            " — it downloads the newest release, checks its SHA-256 and its signature against the release-signing key \
             pinned on your machine, and replaces the program (the previous one is kept as "
            code { "ecmt.old" } "; " code { "sudo ecmt update --rollback" } " goes back to it)."
        }
        p { "To install by hand, download the file below and compare its SHA-256 (" code { "sha256sum FILE" } ") with the one listed. The same list for programs: " a href="/download.json" { "/download.json" } "." }
        @if idx.releases.is_empty() {
            p { "No release is registered yet." }
        } @else {
            table.nhsuk-table {
                thead.nhsuk-table__head { tr.nhsuk-table__row { th.nhsuk-table__header { "Product" } th.nhsuk-table__header { "Version" } th.nhsuk-table__header { "Minimum" } th.nhsuk-table__header { "Released" } th.nhsuk-table__header { "SHA-256" } th.nhsuk-table__header { "Signed by key" } th.nhsuk-table__header { "Download" } } }
                tbody.nhsuk-table__body {
                    @for r in &idx.releases {
                        tr.nhsuk-table__row id=(format!("release-{}-{}", r.product, r.version)) {
                            td.nhsuk-table__cell { (r.product) }
                            td.nhsuk-table__cell { (r.version) }
                            td.nhsuk-table__cell { @if r.minimum { "yes: older versions are refused" } }
                            td.nhsuk-table__cell { (date(&s, r.created_at)) }
                            td.nhsuk-table__cell { code { (r.sha256) } }
                            td.nhsuk-table__cell { @if r.key_id.is_empty() { "not signed" } @else { code { (r.key_id) } } }
                            td.nhsuk-table__cell { a href=(r.url) { "download" } }
                        }
                    }
                }
            }
        }
        @if !idx.signing_keys.is_empty() {
            h2 { "Release-signing keys" }
            p { "Check that the key pinned on your machines (" code { "/var/lib/ecmt/trust/release-key.pub" } ") is one of these." }
            ul { @for k in &idx.signing_keys { li { (k.product) ": " code { (k.key_id) } " " code { (k.public_key) } } } }
        }
    };
    page(StatusCode::OK, Shell::Ra(None), "Downloads", body)
}

#[utoipa::path(get, path = "/download/{product}/{version}/file", tag = "public",
    params(("product" = String, Path, description = "ecmt or carecert-agent"), ("version" = String, Path, description = "The release's version")),
    responses((status = 200, description = "The release's file, as registered with `release add --file`", content_type = "application/octet-stream", body = String),
              (status = 404, description = "No such release served by this server", content_type = "text/html", body = String)))]
pub(crate) async fn release_file(
    State(s): State<AppState>,
    Path((product, version)): Path<(String, String)>,
) -> Response {
    let r = match s.enrol.release(&product, &version).await {
        Ok(Some(r)) if !r.file_path.is_empty() => r,
        Ok(_) => return error_page(StatusCode::NOT_FOUND, "no such release file: see /download for the list"),
        Err(e) => return failure_page(e),
    };
    match tokio::fs::read(&r.file_path).await {
        Ok(data) => (
            [
                (header::CONTENT_TYPE, "application/octet-stream".to_string()),
                (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{}-{}\"", r.product, r.version)),
            ],
            Body::from(data),
        )
            .into_response(),
        Err(e) => {
            tracing::error!(path = %r.file_path, error = %e, "release file unreadable");
            error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "the release file cannot be read on this server: tell the operator",
            )
        }
    }
}
