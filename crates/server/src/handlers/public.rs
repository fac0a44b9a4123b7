//! Public endpoints: health, metrics, CA certificates, CRLs, OCSP (RFC 5280 and RFC 6960
//! expect these over plain HTTP too), and the OpenAPI document itself.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use api::CaInfo;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;

use crate::error::{ApiError, ErrorBody};
use crate::extract::Admin;
use crate::state::AppState;

#[utoipa::path(get, path = "/healthz", tag = "public", responses((status = 200, description = "The server and its database answer", content_type = "text/plain", body = String), (status = 503, description = "The database does not answer", content_type = "text/plain", body = String)))]
pub(crate) async fn healthz(State(s): State<AppState>) -> Response {
    match s.read.ping().await {
        Ok(()) => (StatusCode::OK, "ok").into_response(),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response(),
    }
}

#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "public", responses((status = 200, description = "This document (OpenAPI 3.1, JSON)", content_type = "application/json", body = Object)))]
pub(crate) async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], crate::openapi::openapi_json())
}

#[utoipa::path(get, path = "/ca", tag = "public", responses((status = 200, body = [CaInfo])))]
pub(crate) async fn ca_list(State(s): State<AppState>) -> Result<Json<Vec<CaInfo>>, ApiError> {
    let mut out = Vec::new();
    for (name, parent, der) in s.authority.ca_certificates() {
        let info = pki::CertificateInfo::parse(&der)?;
        out.push(CaInfo {
            name,
            parent,
            subject: info.subject,
            not_after: info.not_after,
            sha256: info.sha256,
            pem: pki::cert::to_pem("CERTIFICATE", &der),
        });
    }
    Ok(Json(out))
}

fn split_ext<'a>(file: &'a str, exts: &[&'a str]) -> Option<(&'a str, &'a str)> {
    exts.iter().find_map(|e| file.strip_suffix(e).map(|n| (n, *e)))
}

#[utoipa::path(get, path = "/ca/{file}", tag = "public",
    params(("file" = String, Path, description = "`NAME.pem` (PEM) or `NAME.cer` / `NAME.crt` (DER)")),
    responses((status = 200, description = "The CA certificate", content((String = "application/x-pem-file"), (Vec<u8> = "application/pkix-cert"))), (status = 404, body = ErrorBody)))]
pub(crate) async fn ca_file(State(s): State<AppState>, Path(file): Path<String>) -> Result<Response, ApiError> {
    let (name, ext) = split_ext(&file, &[".pem", ".cer", ".crt", ".der"])
        .ok_or_else(|| ApiError::not_found(format!("'{file}': ask for NAME.pem or NAME.cer")))?;
    let der = s
        .authority
        .ca_certificates()
        .into_iter()
        .find(|(n, _, _)| n == name)
        .map(|(_, _, d)| d)
        .ok_or_else(|| ApiError::not_found(format!("there is no CA named '{name}'; GET /ca lists them")))?;
    Ok(if ext == ".pem" {
        ([(header::CONTENT_TYPE, "application/x-pem-file")], pki::cert::to_pem("CERTIFICATE", &der)).into_response()
    } else {
        ([(header::CONTENT_TYPE, "application/pkix-cert")], der).into_response()
    })
}

#[utoipa::path(get, path = "/crl/{file}", tag = "public",
    params(("file" = String, Path, description = "`NAME.crl`: every revocation of CA NAME")),
    responses((status = 200, description = "DER CRL", content_type = "application/pkix-crl", body = Vec<u8>), (status = 404, body = ErrorBody)))]
pub(crate) async fn crl_file(State(s): State<AppState>, Path(file): Path<String>) -> Result<Response, ApiError> {
    let (name, _) =
        split_ext(&file, &[".crl"]).ok_or_else(|| ApiError::not_found(format!("'{file}': ask for NAME.crl")))?;
    crl_response(&s, name, ca::CrlScope::Whole)
}

#[utoipa::path(get, path = "/crl/{ca}/{file}", tag = "public",
    params(("ca" = String, Path, description = "CA name"), ("file" = String, Path, description = "`N.crl`: shard N of the CA's CRL, as named in a certificate's CRL distribution point")),
    responses((status = 200, description = "DER CRL with an issuingDistributionPoint", content_type = "application/pkix-crl", body = Vec<u8>), (status = 404, body = ErrorBody)))]
pub(crate) async fn crl_shard_file(
    State(s): State<AppState>,
    Path((ca, file)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let shard = split_ext(&file, &[".crl"])
        .and_then(|(n, _)| if n.bytes().all(|b| b.is_ascii_digit()) { n.parse::<u16>().ok() } else { None })
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "'{file}': ask for N.crl, N the shard number in the certificate's CRL distribution point"
            ))
        })?;
    crl_response(&s, &ca, ca::CrlScope::Shard(shard))
}

fn crl_response(s: &AppState, ca: &str, scope: ca::CrlScope) -> Result<Response, ApiError> {
    let crl = s.authority.crl_of(ca, scope)?;
    let max_age = (crl.next_update - s.authority.clock().now().unix_timestamp()).clamp(0, 3600);
    let mut resp = ([(header::CONTENT_TYPE, "application/pkix-crl")], crl.der.clone()).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("public, max-age={max_age}")) {
        resp.headers_mut().insert(header::CACHE_CONTROL, v);
    }
    Ok(resp)
}

fn ocsp_response(reply: ca::OcspReply) -> Response {
    let mut resp =
        ([(header::CONTENT_TYPE, "application/ocsp-response")], Bytes::from_owner(reply.der)).into_response();
    let cc = match reply.max_age {
        Some(age) => format!("public, max-age={age}, no-transform"),
        None => "no-store".to_string(),
    };
    if let Ok(v) = HeaderValue::from_str(&cc) {
        resp.headers_mut().insert(header::CACHE_CONTROL, v);
    }
    resp
}

#[utoipa::path(post, path = "/ocsp", tag = "public",
    request_body(content = Vec<u8>, content_type = "application/ocsp-request", description = "DER OCSPRequest (RFC 6960), at most 8 KiB"),
    responses((status = 200, description = "DER OCSPResponse; malformed requests get the malformedRequest status", content_type = "application/ocsp-response", body = Vec<u8>), (status = 413, description = "Request larger than 8 KiB", content_type = "text/plain", body = String)))]
pub(crate) async fn ocsp_post(State(s): State<AppState>, body: Bytes) -> Response {
    ocsp_response(s.authority.ocsp(&body).await)
}

#[utoipa::path(get, path = "/ocsp/{request}", tag = "public",
    params(("request" = String, Path, description = "URL-encoded base64 of the DER OCSPRequest (RFC 6960 appendix A.1)")),
    responses((status = 200, description = "DER OCSPResponse", content_type = "application/ocsp-response", body = Vec<u8>), (status = 414, description = "Request too large for GET", body = ErrorBody)))]
pub(crate) async fn ocsp_get(State(s): State<AppState>, Path(request): Path<String>) -> Response {
    if request.len() > pki::ocsp::MAX_OCSP_REQUEST_BYTES * 2 {
        return ApiError::new(StatusCode::URI_TOO_LONG, "too_large", "OCSP request too large for GET; use POST")
            .into_response();
    }
    // Path is already percent-decoded by axum; accept standard and URL-safe alphabets.
    let cleaned: String = request.chars().filter(|c| !c.is_whitespace()).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(&cleaned)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(&cleaned))
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(&cleaned));
    match der {
        Ok(der) => ocsp_response(s.authority.ocsp(&der).await),
        Err(_) => ocsp_response(s.authority.ocsp(b"").await),
    }
}

/// Counters of this node, for the operator's Prometheus: an operator token that may read
/// certificates is required (an `auditor` account for the scraper; the counts are
/// reconnaissance for anyone else). HTTPS only.
#[utoipa::path(get, path = "/metrics", tag = "admin", security(("bearer" = [])), responses((status = 200, description = "Prometheus text exposition format", content_type = "text/plain", body = String), (status = 401, description = "No or unknown admin token", body = ErrorBody)))]
pub(crate) async fn metrics(State(s): State<AppState>, admin: Admin) -> Response {
    if let Err(e) = crate::authz::allow(&s, admin.op(), types::Permission::ReadCertificates, None, "metrics").await {
        return e.into_response();
    }
    let m = s.authority.metrics();
    let mut out = String::new();
    let mut counter = |name: &str, help: &str, v: u64| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}");
    };
    counter(
        "carecert_certificates_issued_total",
        "Certificates issued by this node.",
        m.issued.load(Ordering::Relaxed),
    );
    counter(
        "carecert_issue_errors_total",
        "Issuance requests refused or failed on this node.",
        m.issue_errors.load(Ordering::Relaxed),
    );
    counter(
        "carecert_certificates_revoked_total",
        "Certificates revoked through this node.",
        m.revoked.load(Ordering::Relaxed),
    );
    counter("carecert_ocsp_cached_total", "OCSP responses served from memory.", m.ocsp_cached.load(Ordering::Relaxed));
    counter("carecert_ocsp_signed_total", "OCSP responses signed on demand.", m.ocsp_signed.load(Ordering::Relaxed));
    counter("carecert_crls_published_total", "CRLs published by this node.", m.crls_published.load(Ordering::Relaxed));
    let _ = writeln!(
        out,
        "# HELP carecert_ocsp_cache_entries OCSP answers held in memory.\n# TYPE carecert_ocsp_cache_entries gauge\ncarecert_ocsp_cache_entries {}",
        s.authority.ocsp_cache_len()
    );
    if let Ok(counts) = s.read.certificate_counts().await {
        let _ = writeln!(
            out,
            "# HELP carecert_certificates Certificates in the database by status.\n# TYPE carecert_certificates gauge"
        );
        for (status, n) in counts {
            let _ = writeln!(out, "carecert_certificates{{status=\"{status}\"}} {n}");
        }
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
}
