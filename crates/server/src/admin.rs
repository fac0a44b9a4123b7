//! The admin API: issue, show, list and revoke certificates; read and verify the audit log.

use std::time::{Duration, Instant};

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use sha2::Digest;
use utoipa::ToSchema;

use crate::{ApiError, AppState};

/// Largest JSON body the admin API reads.
pub const MAX_JSON_BYTES: usize = 64 * 1024;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/admin/certificates", post(issue).get(list))
        .route("/api/v1/admin/certificates/{serial}", get(show))
        .route("/api/v1/admin/certificates/{serial}/revoke", post(revoke))
        .route("/api/v1/admin/audit", get(audit_list))
        .route("/api/v1/admin/audit/verify", get(audit_verify))
        .layer(DefaultBodyLimit::max(MAX_JSON_BYTES))
}

/// JSON body extractor whose rejections use carecert's error format.
pub(crate) struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(Self(v)),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as JSON with 'Content-Type: application/json'",
            )),
            Err(JsonRejection::BytesRejection(e)) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("the request body is larger than {MAX_JSON_BYTES} bytes"),
            )),
            Err(e) => {
                Err(ApiError::bad_request("malformed_json", format!("the JSON body is not valid: {}", e.body_text())))
            }
        }
    }
}

/// The bearer token of a request (`Authorization: Bearer TOKEN`), if it has a plausible one
/// (1 to 256 characters).
pub(crate) fn bearer(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty() && t.len() <= 256)
}

/// An authenticated administrator (from `Authorization: Bearer TOKEN`).
pub(crate) struct Admin(pub String);

const TOKEN_CACHE_TTL: Duration = Duration::from_secs(30);

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let unauthorized = || {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "send an admin token as 'Authorization: Bearer TOKEN' (`carecert serve --dev` prints one and writes it to DATA_DIR/admin-token)",
            )
        };
        let token = bearer(parts).ok_or_else(unauthorized)?;
        // Tokens are 256-bit random values: a plain SHA-256 is the right hash (DESIGN §4),
        // and lookups by hash compare in the database, not byte by byte here.
        let hash = hex::encode(sha2::Sha256::digest(token.as_bytes()));
        if let Some((name, at)) = state.tokens.lock().get(&hash).cloned()
            && at.elapsed() < TOKEN_CACHE_TTL
        {
            return Ok(Admin(name));
        }
        let name = state.authority.store().admin_token_name(&hash).await?.ok_or_else(unauthorized)?;
        let actor = format!("admin:{name}");
        state.tokens.lock().insert(hash, (actor.clone(), Instant::now()));
        Ok(Admin(actor))
    }
}

/// Subject of a certificate to issue.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubjectBody {
    /// Common name.
    pub common_name: String,
    /// Organisation.
    #[serde(default)]
    pub organization: Option<String>,
    /// Organisational unit.
    #[serde(default)]
    pub organizational_unit: Option<String>,
    /// Two-letter country code.
    #[serde(default)]
    pub country: Option<String>,
    /// X.520 serialNumber (an organisation code or user UID).
    #[serde(default)]
    pub serial_number: Option<String>,
}

/// A subject alternative name.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SanBody {
    /// `dns`, `ip`, `email` or `uri`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The name.
    pub value: String,
}

/// Issue a certificate from a CSR.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueBody {
    /// Issuing CA (`systems`, `smartcards`).
    pub ca: String,
    /// Profile (`system-client`, `tls-server`, `card-auth`, `card-sign`, `ocsp-responder`).
    pub profile: String,
    /// PKCS#10 request, PEM. Only its public key is used.
    pub csr: String,
    /// The subject to certify.
    pub subject: SubjectBody,
    /// Subject alternative names.
    #[serde(default)]
    pub sans: Vec<SanBody>,
    /// Lifetime in days (default: the profile's).
    #[serde(default)]
    pub validity_days: Option<u32>,
}

/// An issued certificate.
#[derive(Debug, Serialize, ToSchema)]
pub struct IssuedBody {
    /// Serial, upper-case hex.
    pub serial: String,
    /// Issuing CA.
    pub issuer: String,
    /// Profile.
    pub profile: String,
    /// notBefore, Unix seconds.
    pub not_before: i64,
    /// notAfter, Unix seconds.
    pub not_after: i64,
    /// The certificate, PEM.
    pub certificate_pem: String,
    /// The issuing CA chain (not including the root), PEM.
    pub chain_pem: String,
}

fn to_san(s: &SanBody) -> Result<pki::cert::San, ApiError> {
    use pki::cert::San;
    Ok(match s.kind.as_str() {
        "dns" => San::Dns(s.value.clone()),
        "ip" => San::Ip(
            s.value
                .parse()
                .map_err(|_| ApiError::bad_request("invalid", format!("'{}' is not an IP address", s.value)))?,
        ),
        "email" => San::Email(s.value.clone()),
        "uri" => San::Uri(s.value.clone()),
        other => {
            return Err(ApiError::bad_request(
                "invalid",
                format!("SAN type '{other}' unknown: use dns, ip, email or uri"),
            ));
        }
    })
}

#[utoipa::path(post, path = "/api/v1/admin/certificates", tag = "admin", request_body = IssueBody,
    responses((status = 201, body = IssuedBody), (status = 400, description = "Bad CSR, weak key, bad signature, bad subject", body = crate::ErrorBody),
              (status = 401, body = crate::ErrorBody), (status = 404, description = "Unknown CA", body = crate::ErrorBody),
              (status = 413, body = crate::ErrorBody), (status = 422, description = "Profile not issued by that CA", body = crate::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn issue(
    State(s): State<AppState>,
    Admin(actor): Admin,
    ApiJson(body): ApiJson<IssueBody>,
) -> Result<Response, ApiError> {
    let profile = pki::Profile::parse(&body.profile)?;
    let sans = body.sans.iter().map(to_san).collect::<Result<Vec<_>, _>>()?;
    let subject = pki::SubjectName {
        country: body.subject.country,
        organization: body.subject.organization,
        organizational_unit: body.subject.organizational_unit,
        common_name: body.subject.common_name,
        serial_number: body.subject.serial_number,
    };
    let issued = s
        .authority
        .issue(ca::IssueRequest {
            ca: body.ca,
            profile,
            csr: ca::VerifiedCsr::parse(body.csr.as_bytes()).map_err(ca::CaError::from)?,
            subject,
            sans,
            validity_days: body.validity_days,
            actor,
        })
        .await?;
    let chain_pem: String = issued.chain.iter().map(|c| pki::cert::to_pem("CERTIFICATE", c)).collect();
    Ok((
        StatusCode::CREATED,
        Json(IssuedBody {
            serial: issued.serial,
            issuer: issued.issuer,
            profile: issued.profile.name().into(),
            not_before: issued.not_before,
            not_after: issued.not_after,
            certificate_pem: pki::cert::to_pem("CERTIFICATE", &issued.der),
            chain_pem,
        }),
    )
        .into_response())
}

/// A stored certificate.
#[derive(Debug, Serialize, ToSchema)]
pub struct CertificateBody {
    /// Issuing CA.
    pub issuer: String,
    /// Serial, upper-case hex.
    pub serial: String,
    /// Profile.
    pub profile: String,
    /// Subject.
    pub subject: String,
    /// notBefore.
    pub not_before: i64,
    /// notAfter.
    pub not_after: i64,
    /// `reserved`, `issued` or `revoked`.
    pub status: String,
    /// Revocation time.
    pub revoked_at: Option<i64>,
    /// Revocation reason.
    pub revocation_reason: Option<String>,
    /// The certificate, PEM (absent while reserved).
    pub certificate_pem: Option<String>,
}

impl From<store::CertificateRecord> for CertificateBody {
    fn from(r: store::CertificateRecord) -> Self {
        let (status, revoked_at, reason) = match r.status {
            store::CertStatus::Reserved => ("reserved", None, None),
            store::CertStatus::Issued => ("issued", None, None),
            store::CertStatus::Revoked { at, reason } => (
                "revoked",
                Some(at),
                Some(pki::RevocationReason::from_code(reason).map(|r| r.name()).unwrap_or("unknown").to_string()),
            ),
        };
        Self {
            issuer: r.issuer,
            serial: r.serial,
            profile: r.profile,
            subject: r.subject,
            not_before: r.not_before,
            not_after: r.not_after,
            status: status.into(),
            revoked_at,
            revocation_reason: reason,
            certificate_pem: r.der.map(|d| pki::cert::to_pem("CERTIFICATE", &d)),
        }
    }
}

/// Filters for listing certificates.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Issuing CA.
    pub ca: Option<String>,
    /// `reserved`, `issued` or `revoked`.
    pub status: Option<String>,
    /// Text the subject contains.
    pub subject: Option<String>,
    /// At most this many (default 100, at most 10,000).
    pub limit: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/admin/certificates", tag = "admin", params(ListQuery),
    responses((status = 200, body = [CertificateBody]), (status = 400, body = crate::ErrorBody), (status = 401, body = crate::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn list(
    State(s): State<AppState>,
    _a: Admin,
    Query(q): Query<ListQuery>,
) -> Result<Json<Vec<CertificateBody>>, ApiError> {
    if let Some(st) = &q.status
        && !["reserved", "issued", "revoked"].contains(&st.as_str())
    {
        return Err(ApiError::bad_request(
            "invalid",
            format!("status '{st}' unknown: use reserved, issued or revoked"),
        ));
    }
    let rows = s
        .authority
        .store()
        .certificates(&store::CertificateFilter {
            issuer: q.ca,
            status: q.status,
            subject_contains: q.subject,
            limit: q.limit.unwrap_or(100),
        })
        .await?;
    Ok(Json(rows.into_iter().map(Into::into).collect()))
}

/// Which CA, when a serial is ambiguous.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct CaQuery {
    /// Issuing CA.
    pub ca: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/admin/certificates/{serial}", tag = "admin",
    params(("serial" = String, Path, description = "Serial in hex"), CaQuery),
    responses((status = 200, body = CertificateBody), (status = 404, body = crate::ErrorBody), (status = 409, body = crate::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn show(
    State(s): State<AppState>,
    _a: Admin,
    Path(serial): Path<String>,
    Query(q): Query<CaQuery>,
) -> Result<Json<CertificateBody>, ApiError> {
    let serial = pki::cert::normalize_serial_hex(&serial)
        .ok_or_else(|| ApiError::bad_request("invalid", format!("'{serial}' is not a serial number in hex")))?;
    let mut rows = s.authority.store().certificates_by_serial(&serial).await?;
    if let Some(ca) = &q.ca {
        rows.retain(|r| &r.issuer == ca);
    }
    match rows.len() {
        0 => Err(ApiError::not_found(format!("no certificate with serial {serial}"))),
        1 => Ok(Json(rows.remove(0).into())),
        _ => Err(ApiError::new(
            StatusCode::CONFLICT,
            "ambiguous_serial",
            format!("serial {serial} exists under more than one CA: add ?ca=NAME"),
        )),
    }
}

/// Revoke a certificate.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeBody {
    /// RFC 5280 reason name (`keyCompromise`, `superseded`, …); default `unspecified`.
    #[serde(default)]
    pub reason: Option<String>,
    /// Issuing CA (only needed when the serial exists under several).
    #[serde(default)]
    pub ca: Option<String>,
}

/// A revocation made.
#[derive(Debug, Serialize, ToSchema)]
pub struct RevokedBody {
    /// Issuing CA.
    pub issuer: String,
    /// Serial.
    pub serial: String,
    /// Reason name.
    pub reason: String,
    /// When, Unix seconds.
    pub revoked_at: i64,
    /// The first CRL number listing it (already published).
    pub crl_number: i64,
}

#[utoipa::path(post, path = "/api/v1/admin/certificates/{serial}/revoke", tag = "admin",
    params(("serial" = String, Path, description = "Serial in hex")), request_body = RevokeBody,
    responses((status = 200, body = RevokedBody), (status = 400, body = crate::ErrorBody), (status = 404, body = crate::ErrorBody),
              (status = 409, description = "Already revoked, or never issued", body = crate::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn revoke(
    State(s): State<AppState>,
    Admin(actor): Admin,
    Path(serial): Path<String>,
    ApiJson(body): ApiJson<RevokeBody>,
) -> Result<Json<RevokedBody>, ApiError> {
    let reason = match &body.reason {
        None => pki::RevocationReason::Unspecified,
        Some(r) => pki::RevocationReason::parse(r).ok_or_else(|| {
            let names: Vec<_> = pki::RevocationReason::SELECTABLE.iter().map(|r| r.name()).collect();
            ApiError::bad_request("invalid", format!("reason '{r}' unknown: use one of {}", names.join(", ")))
        })?,
    };
    let r = s.authority.revoke(ca::RevokeRequest { ca: body.ca, serial, reason, actor }).await?;
    Ok(Json(RevokedBody {
        issuer: r.issuer,
        serial: r.serial,
        reason: r.reason.name().into(),
        revoked_at: r.revoked_at,
        crl_number: r.crl_number,
    }))
}

/// Audit paging.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Entries after this sequence number (default: the newest entries).
    pub after: Option<i64>,
    /// At most this many (default 100, at most 1000).
    pub limit: Option<i64>,
}

/// An audit entry.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntryBody {
    seq: i64,
    at_ms: i64,
    actor: String,
    action: String,
    subject: String,
    details: serde_json::Value,
    hash: String,
}

#[utoipa::path(get, path = "/api/v1/admin/audit", tag = "admin", params(AuditQuery),
    responses((status = 200, body = [AuditEntryBody]), (status = 401, body = crate::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn audit_list(
    State(s): State<AppState>,
    _a: Admin,
    Query(q): Query<AuditQuery>,
) -> Result<Json<Vec<AuditEntryBody>>, ApiError> {
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let rows = match q.after {
        Some(after) => s.authority.store().audit_entries(after, limit).await?,
        None => s.authority.store().recent_audit_entries(limit).await?,
    };
    Ok(Json(
        rows.into_iter()
            .map(|e| AuditEntryBody {
                seq: e.seq,
                at_ms: e.at_ms,
                actor: e.actor,
                action: e.action,
                subject: e.subject,
                details: serde_json::from_str(&e.details).unwrap_or(serde_json::Value::String(e.details)),
                hash: e.hash,
            })
            .collect(),
    ))
}

/// The chain check.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditVerifyBody {
    /// Whether every entry verifies.
    pub ok: bool,
    /// Entries checked.
    pub entries: u64,
    /// The first entry that does not verify.
    pub first_broken_seq: Option<i64>,
    /// What is wrong with it.
    pub problem: Option<String>,
}

impl From<store::AuditVerification> for AuditVerifyBody {
    fn from(v: store::AuditVerification) -> Self {
        Self {
            ok: v.first_broken.is_none(),
            entries: v.entries,
            first_broken_seq: v.first_broken.as_ref().map(|b| b.seq),
            problem: v.first_broken.map(|b| b.problem),
        }
    }
}

#[utoipa::path(get, path = "/api/v1/admin/audit/verify", tag = "admin",
    responses((status = 200, body = AuditVerifyBody), (status = 401, body = crate::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn audit_verify(State(s): State<AppState>, _a: Admin) -> Result<Json<AuditVerifyBody>, ApiError> {
    Ok(Json(s.authority.store().verify_audit().await?.into()))
}
