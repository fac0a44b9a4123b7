//! The admin API for certificates: issue, show, list and revoke; read and verify the audit
//! log. Bearer token of an administrator ([`Admin`]).

use api::{
    AuditCheckpointBody, AuditEntryBody, AuditQuery, AuditVerifyBody, CaQuery, CertificateBody, IssueBody, IssuedBody,
    ListQuery, RevokeBody, RevokedBody, SanBody, SanKind,
};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use types::Permission;

use crate::authz::{allow, issue_permission};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Admin, ApiJson};
use crate::state::AppState;

fn to_san(s: &SanBody) -> Result<pki::cert::San, ApiError> {
    use pki::cert::San;
    Ok(match s.kind {
        SanKind::Dns => San::Dns(s.value.clone()),
        SanKind::Ip => San::Ip(
            s.value
                .parse()
                .map_err(|_| ApiError::bad_request("invalid", format!("'{}' is not an IP address", s.value)))?,
        ),
        SanKind::Email => San::Email(s.value.clone()),
        SanKind::Uri => San::Uri(s.value.clone()),
    })
}

#[utoipa::path(post, path = "/api/v1/admin/certificates", tag = "admin", request_body = IssueBody,
    responses((status = 201, body = IssuedBody), (status = 400, description = "Bad CSR, weak key, bad signature, bad subject", body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 404, description = "Unknown CA", body = ErrorBody),
              (status = 413, body = ErrorBody), (status = 422, description = "Profile not issued by that CA", body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn issue(
    State(s): State<AppState>,
    a: Admin,
    ApiJson(body): ApiJson<IssueBody>,
) -> Result<Response, ApiError> {
    let subject = format!("{}/{}", body.ca, body.profile.as_str());
    let actor = allow(&s, a.op(), issue_permission(&body.ca, body.profile.as_str()), None, &subject).await?;
    let profile = pki::Profile::parse(body.profile.as_str())?;
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
            profile: wire_enum(issued.profile.name())?,
            not_before: issued.not_before,
            not_after: issued.not_after,
            certificate_pem: pki::cert::to_pem("CERTIFICATE", &issued.der),
            chain_pem,
        }),
    )
        .into_response())
}

/// A stored value of a closed set, as its wire enum (a value the wire does not know means the
/// database holds something it should not).
fn wire_enum<T: std::str::FromStr<Err = String>>(text: &str) -> Result<T, ApiError> {
    text.parse().map_err(|e: String| ApiError::from(store::StoreError::Corrupt(e)))
}

fn certificate_body(r: store::CertificateRecord) -> Result<CertificateBody, ApiError> {
    let (status, revoked_at, reason) = match r.status {
        store::CertStatus::Reserved => (api::CertStatus::Reserved, None, None),
        store::CertStatus::Failed => (api::CertStatus::Failed, None, None),
        store::CertStatus::Issued => (api::CertStatus::Issued, None, None),
        store::CertStatus::Revoked { at, reason } => (
            api::CertStatus::Revoked,
            Some(at),
            pki::RevocationReason::from_code(reason).and_then(|r| r.name().parse().ok()),
        ),
    };
    Ok(CertificateBody {
        issuer: r.issuer,
        serial: r.serial,
        profile: wire_enum(&r.profile)?,
        subject: r.subject,
        not_before: r.not_before,
        not_after: r.not_after,
        status,
        revoked_at,
        revocation_reason: reason,
        certificate_pem: r.der.map(|d| pki::cert::to_pem("CERTIFICATE", &d)),
    })
}

#[utoipa::path(get, path = "/api/v1/admin/certificates", tag = "admin", params(ListQuery),
    responses((status = 200, body = [CertificateBody]), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn list(
    State(s): State<AppState>,
    a: Admin,
    Query(q): Query<ListQuery>,
) -> Result<Json<Vec<CertificateBody>>, ApiError> {
    allow(&s, a.op(), Permission::ReadCertificates, None, "certificates").await?;
    let rows = s
        .read
        .certificates(&store::CertificateFilter {
            issuer: q.ca,
            status: q.status.map(|st| st.as_str().to_string()),
            subject_contains: q.subject,
            limit: q.limit.unwrap_or(100),
        })
        .await?;
    Ok(Json(rows.into_iter().map(certificate_body).collect::<Result<_, _>>()?))
}

#[utoipa::path(get, path = "/api/v1/admin/certificates/{serial}", tag = "admin",
    params(("serial" = String, Path, description = "Serial in hex"), CaQuery),
    responses((status = 200, body = CertificateBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn show(
    State(s): State<AppState>,
    a: Admin,
    Path(serial): Path<String>,
    Query(q): Query<CaQuery>,
) -> Result<Json<CertificateBody>, ApiError> {
    allow(&s, a.op(), Permission::ReadCertificates, None, "certificates").await?;
    let serial = pki::cert::normalize_serial_hex(&serial)
        .ok_or_else(|| ApiError::bad_request("invalid", format!("'{serial}' is not a serial number in hex")))?;
    let mut rows = s.read.certificates_by_serial(&serial).await?;
    if let Some(ca) = &q.ca {
        rows.retain(|r| &r.issuer == ca);
    }
    match rows.len() {
        0 => Err(ApiError::not_found(format!("no certificate with serial {serial}"))),
        1 => Ok(Json(certificate_body(rows.remove(0))?)),
        _ => Err(ApiError::new(
            StatusCode::CONFLICT,
            "ambiguous_serial",
            format!("serial {serial} exists under more than one CA: add ?ca=NAME"),
        )),
    }
}

#[utoipa::path(post, path = "/api/v1/admin/certificates/{serial}/revoke", tag = "admin",
    params(("serial" = String, Path, description = "Serial in hex")), request_body = RevokeBody,
    responses((status = 200, body = RevokedBody), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, description = "Already revoked, or never issued", body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn revoke(
    State(s): State<AppState>,
    a: Admin,
    Path(serial): Path<String>,
    ApiJson(body): ApiJson<RevokeBody>,
) -> Result<Json<RevokedBody>, ApiError> {
    let actor = allow(&s, a.op(), Permission::RevokeCertificates, None, &format!("certificate/{serial}")).await?;
    let reason = match &body.reason {
        None => pki::RevocationReason::Unspecified,
        Some(r) => pki::RevocationReason::parse(r.as_str()).ok_or_else(|| {
            let names: Vec<_> = pki::RevocationReason::SELECTABLE.iter().map(|r| r.name()).collect();
            ApiError::bad_request("invalid", format!("reason '{r}' unknown: use one of {}", names.join(", ")))
        })?,
    };
    let r = s.authority.revoke(ca::RevokeRequest { ca: body.ca, serial, reason, actor }).await?;
    Ok(Json(RevokedBody {
        issuer: r.issuer,
        serial: r.serial,
        reason: wire_enum(r.reason.name())?,
        revoked_at: r.revoked_at,
        crl_number: r.crl_number,
    }))
}

#[utoipa::path(get, path = "/api/v1/admin/audit", tag = "admin", params(AuditQuery),
    responses((status = 200, body = [AuditEntryBody]), (status = 401, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn audit_list(
    State(s): State<AppState>,
    a: Admin,
    Query(q): Query<AuditQuery>,
) -> Result<Json<Vec<AuditEntryBody>>, ApiError> {
    allow(&s, a.op(), Permission::ReadAudit, None, "audit").await?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let rows = match q.after {
        Some(after) => s.read.audit_entries(after, limit).await?,
        None => s.read.recent_audit_entries(limit).await?,
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

fn audit_verify_body(v: store::AuditVerification) -> AuditVerifyBody {
    AuditVerifyBody {
        ok: v.first_broken.is_none(),
        entries: v.entries,
        first_broken_seq: v.first_broken.as_ref().map(|b| b.seq),
        problem: v.first_broken.map(|b| b.problem),
        head_seq: v.head_seq,
    }
}

#[utoipa::path(get, path = "/api/v1/admin/audit/verify", tag = "admin",
    responses((status = 200, body = AuditVerifyBody), (status = 401, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn audit_verify(State(s): State<AppState>, a: Admin) -> Result<Json<AuditVerifyBody>, ApiError> {
    allow(&s, a.op(), Permission::ReadAudit, None, "audit").await?;
    Ok(Json(audit_verify_body(s.read.verify_audit().await?)))
}

#[utoipa::path(post, path = "/api/v1/admin/audit/checkpoints", tag = "admin",
    responses((status = 201, description = "The audit chain's head, signed by the root CA", body = AuditCheckpointBody),
              (status = 401, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn audit_checkpoint(State(s): State<AppState>, a: Admin) -> Result<Response, ApiError> {
    let actor = allow(&s, a.op(), Permission::SignCheckpoints, None, "audit").await?;
    use base64::Engine as _;
    let c = s.authority.audit_checkpoint(&actor).await?;
    let body = AuditCheckpointBody {
        format: ca::CHECKPOINT_FORMAT.into(),
        seq: c.seq,
        head_hash: c.head_hash,
        at_ms: c.at_ms,
        signer: c.signer,
        signature: base64::engine::general_purpose::STANDARD.encode(&c.signature),
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}
