//! The machine-certificate API (`ecmt` speaks it), the RA's part of the admin API for
//! organisations, requests and releases, and the message-store gate (mutual TLS).

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use enrol::{CertRequest, CertificateBundle, Organisation, Release};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::error::{ApiError, ErrorBody, GateRefusal};
use types::Permission;

use crate::authz::{allow, request_org};
use crate::extract::{Admin, ApiJson, ClientLeaf, OrgSession};
use crate::state::AppState;

/// Largest message the gate takes.
pub const MAX_MESSAGE_BYTES: usize = 1024 * 1024;

pub(crate) fn org_view(o: &Organisation) -> api::OrganisationView {
    api::OrganisationView {
        epoc: o.epoc.clone(),
        name: o.name.clone(),
        kind: match o.kind {
            store::OrgKind::Pharmacy => api::OrgKind::Pharmacy,
            store::OrgKind::Gp => api::OrgKind::Gp,
            store::OrgKind::Dental => api::OrgKind::Dental,
            store::OrgKind::Ophthalmic => api::OrgKind::Ophthalmic,
        },
        status: match o.status {
            store::OrgStatus::Active => api::OrgStatus::Active,
            store::OrgStatus::Suspended => api::OrgStatus::Suspended,
            store::OrgStatus::Closed => api::OrgStatus::Closed,
        },
        approval: match o.approval {
            store::ApprovalPolicy::Automatic => api::Approval::Automatic,
            store::ApprovalPolicy::RaQueue => api::Approval::RaQueue,
        },
    }
}

fn request_view(r: &CertRequest, helpdesk: &str) -> api::RequestView {
    api::RequestView {
        id: r.id,
        epoc: r.epoc.clone(),
        status: match r.status {
            store::RequestStatus::Pending => api::RequestStatus::Pending,
            store::RequestStatus::Approved => api::RequestStatus::Approved,
            store::RequestStatus::Downloaded => api::RequestStatus::Downloaded,
            store::RequestStatus::Installed => api::RequestStatus::Installed,
            store::RequestStatus::Denied => api::RequestStatus::Denied,
            store::RequestStatus::Cancelled => api::RequestStatus::Cancelled,
        },
        channel: match r.channel {
            store::RequestChannel::Pin => api::RequestChannel::Pin,
            store::RequestChannel::Certificate => api::RequestChannel::Certificate,
        },
        created_at: r.created_at,
        decided_at: r.decided_at,
        deny_reason: r.deny_reason.clone(),
        serial: r.serial.clone(),
        message: enrol::request_message(r, helpdesk),
        helpdesk: helpdesk.to_string(),
    }
}

fn release_view(r: &Release) -> api::ReleaseView {
    api::ReleaseView {
        version: r.version.clone(),
        minimum: r.minimum,
        url: r.url.clone(),
        sha256: r.sha256.clone(),
        notes: r.notes.clone(),
        signature: r.signature.clone(),
        key_id: r.key_id.clone(),
    }
}

fn bundle_view(b: &CertificateBundle) -> api::CertificateDownload {
    api::CertificateDownload {
        request_id: b.request_id,
        serial: b.serial.clone(),
        certificate_pem: pki::cert::to_pem("CERTIFICATE", &b.der),
        chain_pem: b.chain.iter().map(|c| pki::cert::to_pem("CERTIFICATE", c)).collect(),
        root_pem: pki::cert::to_pem("CERTIFICATE", &b.root),
        not_before: b.not_before,
        not_after: b.not_after,
    }
}

#[utoipa::path(post, path = "/api/v1/sessions", tag = "ecmt", request_body = api::LoginRequest,
    responses((status = 201, body = api::LoginResponse),
              (status = 401, description = "Wrong EPOC or PIN (the same answer for both)", body = ErrorBody),
              (status = 426, description = "Client below the minimum version", body = ErrorBody),
              (status = 429, description = "Locked out after too many wrong PINs", body = ErrorBody)))]
pub(crate) async fn login(
    State(s): State<AppState>,
    ApiJson(b): ApiJson<api::LoginRequest>,
) -> Result<Response, ApiError> {
    let done = s.enrol.login(&b.epoc, &b.pin, &b.client.product, &b.client.version).await?;
    Ok((
        StatusCode::CREATED,
        Json(api::LoginResponse {
            token: done.token,
            expires_at: done.expires_at,
            organisation: org_view(&done.organisation),
        }),
    )
        .into_response())
}

#[utoipa::path(delete, path = "/api/v1/sessions/current", tag = "ecmt", responses((status = 204), (status = 401, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn logout(
    State(s): State<AppState>,
    OrgSession(_ctx, token): OrgSession,
) -> Result<StatusCode, ApiError> {
    s.enrol.logout(&token).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Query of the update check.
#[derive(Debug, Deserialize, IntoParams)]
pub(crate) struct UpdateQuery {
    /// `ecmt` or `carecert-agent`.
    product: String,
    /// The client's version.
    version: String,
    /// The last trust-feed cursor the client saw (0 for everything).
    #[serde(default)]
    trust_cursor: i64,
}

#[utoipa::path(get, path = "/api/v1/updates", tag = "ecmt", params(UpdateQuery), responses((status = 200, body = api::UpdateInfo), (status = 400, body = ErrorBody)))]
pub(crate) async fn updates(
    State(s): State<AppState>,
    Query(q): Query<UpdateQuery>,
) -> Result<Json<api::UpdateInfo>, ApiError> {
    let u = s.enrol.update_check(&q.product, &q.version, q.trust_cursor).await?;
    let cfg = s.enrol.config();
    Ok(Json(api::UpdateInfo {
        latest: u.version.latest.as_ref().map(release_view),
        update_available: u.version.update_available,
        update_required: u.version.update_required,
        minimum_version: u.version.minimum,
        download_page: cfg.download_page.clone(),
        trust: api::TrustFeed {
            cursor: u.cursor,
            added: u.added.into_iter().map(|(name, pem)| api::TrustCa { name, pem }).collect(),
            withdrawn: u.withdrawn,
            withdrawn_details: u
                .withdrawn_details
                .into_iter()
                .map(|(name, at, reason)| api::TrustWithdrawal { name, at, reason })
                .collect(),
        },
        policy: api::PolicyView { version: cfg.policy_version.clone(), text: cfg.policy_text.clone() },
        helpdesk: cfg.helpdesk.clone(),
    }))
}

#[utoipa::path(post, path = "/api/v1/requests", tag = "ecmt", request_body = api::NewRequestBody,
    responses((status = 201, body = api::RequestView), (status = 400, description = "Bad CSR, weak key, policy not accepted", body = ErrorBody),
              (status = 401, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn create_request(
    State(s): State<AppState>,
    OrgSession(ctx, _token): OrgSession,
    ApiJson(b): ApiJson<api::NewRequestBody>,
) -> Result<Response, ApiError> {
    let r = s.enrol.create_request(&ctx, b.csr.as_bytes(), &b.policy_version, b.policy_accepted).await?;
    Ok((StatusCode::CREATED, Json(request_view(&r, s.enrol.config().helpdesk_for(ctx.organisation.kind))))
        .into_response())
}

#[utoipa::path(get, path = "/api/v1/requests", tag = "ecmt", responses((status = 200, body = Vec<api::RequestView>)), security(("bearer" = [])))]
pub(crate) async fn list_requests(
    State(s): State<AppState>,
    OrgSession(ctx, _token): OrgSession,
) -> Result<Json<Vec<api::RequestView>>, ApiError> {
    let h = s.enrol.config().helpdesk_for(ctx.organisation.kind);
    Ok(Json(s.enrol.requests_for(&ctx).await?.iter().map(|r| request_view(r, h)).collect()))
}

#[utoipa::path(get, path = "/api/v1/requests/{id}", tag = "ecmt", responses((status = 200, body = api::RequestView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn show_request(
    State(s): State<AppState>,
    OrgSession(ctx, _token): OrgSession,
    Path(id): Path<i64>,
) -> Result<Json<api::RequestView>, ApiError> {
    Ok(Json(request_view(&s.enrol.request_for(&ctx, id).await?, s.enrol.config().helpdesk_for(ctx.organisation.kind))))
}

#[utoipa::path(get, path = "/api/v1/requests/{id}/certificate", tag = "ecmt",
    responses((status = 200, body = api::CertificateDownload), (status = 409, description = "Pending, denied (with the reason) or installed already", body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn download(
    State(s): State<AppState>,
    OrgSession(ctx, _token): OrgSession,
    Path(id): Path<i64>,
) -> Result<Json<api::CertificateDownload>, ApiError> {
    Ok(Json(bundle_view(&s.enrol.download(&ctx, id).await?)))
}

#[utoipa::path(post, path = "/api/v1/requests/{id}/installed", tag = "ecmt", responses((status = 200, body = api::RequestView), (status = 409, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn installed(
    State(s): State<AppState>,
    OrgSession(ctx, _token): OrgSession,
    Path(id): Path<i64>,
) -> Result<Json<api::RequestView>, ApiError> {
    Ok(Json(request_view(
        &s.enrol.mark_installed(&ctx, id).await?,
        s.enrol.config().helpdesk_for(ctx.organisation.kind),
    )))
}

#[utoipa::path(post, path = "/api/v1/requests/{id}/cancel", tag = "ecmt", responses((status = 200, body = api::RequestView), (status = 409, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn cancel(
    State(s): State<AppState>,
    OrgSession(ctx, _token): OrgSession,
    Path(id): Path<i64>,
) -> Result<Json<api::RequestView>, ApiError> {
    Ok(Json(request_view(&s.enrol.cancel(&ctx, id).await?, s.enrol.config().helpdesk_for(ctx.organisation.kind))))
}

#[utoipa::path(post, path = "/api/v1/renewals", tag = "ecmt", request_body = api::NewRequestBody,
    description = "Renewal with the current certificate over mutual TLS: no PIN. Approved at once; the answer carries the new certificate.",
    responses((status = 201, body = api::CertificateDownload), (status = 401, description = "No client certificate", body = ErrorBody),
              (status = 403, description = "Certificate revoked, expired, unknown, or organisation not active", body = ErrorBody)))]
pub(crate) async fn renew(
    State(s): State<AppState>,
    leaf: Result<ClientLeaf, ApiError>,
    ApiJson(b): ApiJson<api::NewRequestBody>,
) -> Result<Response, ApiError> {
    let ClientLeaf(leaf) = leaf?; // after the body: see `gate`
    let bundle = s.enrol.renew_with_certificate(&leaf, b.csr.as_bytes(), &b.policy_version, b.policy_accepted).await?;
    Ok((StatusCode::CREATED, Json(bundle_view(&bundle))).into_response())
}

#[utoipa::path(post, path = "/message-store/messages", tag = "message-store",
    description = "Mutual TLS. Accepts a message only from an unrevoked system certificate of an active organisation; says who the sender is.",
    request_body(content = String, content_type = "application/octet-stream"),
    responses((status = 202, body = api::GateReceipt), (status = 401, description = "No client certificate", body = ErrorBody),
              (status = 403, description = "Refused certificate", body = ErrorBody)))]
pub(crate) async fn gate(
    State(s): State<AppState>,
    leaf: Result<ClientLeaf, ApiError>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    // The body is read before a missing certificate is refused: answering while the client
    // is still sending would reset its HTTP/2 stream instead of giving it the 401.
    let ClientLeaf(leaf) = leaf?;
    let sender = s.enrol.identify(&leaf).await.map_err(GateRefusal)?;
    tracing::info!(epoc = %sender.organisation.epoc, serial = %sender.serial, bytes = body.len(), "message accepted");
    Ok((
        StatusCode::ACCEPTED,
        Json(api::GateReceipt {
            accepted: true,
            epoc: sender.organisation.epoc,
            name: sender.organisation.name,
            serial: sender.serial,
            bytes: body.len(),
        }),
    )
        .into_response())
}

// ------------------------------------------------------------------------- admin (RA)

fn parse_enum<T: std::str::FromStr<Err = String>>(what: &str, s: &str) -> Result<T, ApiError> {
    s.parse().map_err(|e: String| ApiError::bad_request("invalid", format!("{what}: {e}")))
}

#[utoipa::path(post, path = "/api/v1/admin/organisations", tag = "admin", request_body = api::NewOrganisationBody,
    responses((status = 201, body = api::OrganisationView), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn add_org(
    State(s): State<AppState>,
    a: Admin,
    ApiJson(b): ApiJson<api::NewOrganisationBody>,
) -> Result<Response, ApiError> {
    let actor =
        allow(&s, a.op(), Permission::ManageOrganisations, Some(&b.epoc), &format!("organisation/{}", b.epoc)).await?;
    let kind = parse_enum("kind", b.kind.as_str())?;
    let approval = parse_enum("approval", b.approval.map(|a| a.as_str()).unwrap_or("ra-queue"))?;
    let org = s.enrol.add_organisation(&b.epoc, &b.name, kind, approval, &actor).await?;
    Ok((StatusCode::CREATED, Json(org_view(&org))).into_response())
}

#[utoipa::path(get, path = "/api/v1/admin/organisations", tag = "admin", responses((status = 200, body = Vec<api::OrganisationView>)), security(("bearer" = [])))]
pub(crate) async fn list_orgs(
    State(s): State<AppState>,
    a: Admin,
) -> Result<Json<Vec<api::OrganisationView>>, ApiError> {
    allow(&s, a.op(), Permission::ReadOrganisations, None, "organisations").await?;
    let scope = &a.op().scope;
    Ok(Json(s.enrol.organisations().await?.iter().filter(|o| scope.covers(&o.epoc)).map(org_view).collect()))
}

#[utoipa::path(get, path = "/api/v1/admin/organisations/{epoc}", tag = "admin", responses((status = 200, body = api::OrganisationView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn show_org(
    State(s): State<AppState>,
    a: Admin,
    Path(epoc): Path<String>,
) -> Result<Json<api::OrganisationView>, ApiError> {
    allow(&s, a.op(), Permission::ReadOrganisations, Some(&epoc), &format!("organisation/{epoc}")).await?;
    Ok(Json(org_view(&s.enrol.organisation(&epoc).await?)))
}

#[utoipa::path(patch, path = "/api/v1/admin/organisations/{epoc}", tag = "admin", request_body = api::OrganisationChangeBody,
    responses((status = 200, body = api::OrganisationView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn change_org(
    State(s): State<AppState>,
    a: Admin,
    Path(epoc): Path<String>,
    ApiJson(b): ApiJson<api::OrganisationChangeBody>,
) -> Result<Json<api::OrganisationView>, ApiError> {
    let actor =
        allow(&s, a.op(), Permission::ManageOrganisations, Some(&epoc), &format!("organisation/{epoc}")).await?;
    let status = b.status.map(|v| parse_enum("status", v.as_str())).transpose()?;
    let approval = b.approval.map(|v| parse_enum("approval", v.as_str())).transpose()?;
    Ok(Json(org_view(&s.enrol.change_organisation(&epoc, status, approval, &actor).await?)))
}

#[utoipa::path(post, path = "/api/v1/admin/organisations/{epoc}/pins", tag = "admin",
    description = "Issues a PIN (shown this once) and its letter; older PINs of the organisation stop working.",
    responses((status = 201, body = api::PinLetterView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn issue_pin(
    State(s): State<AppState>,
    a: Admin,
    Path(epoc): Path<String>,
) -> Result<Response, ApiError> {
    let actor = allow(&s, a.op(), Permission::IssuePins, Some(&epoc), &format!("organisation/{epoc}")).await?;
    let p = s.enrol.issue_pin(&epoc, &actor).await?;
    Ok((
        StatusCode::CREATED,
        [(axum::http::header::CACHE_CONTROL, "no-store")],
        Json(api::PinLetterView {
            epoc: p.letter.epoc.clone(),
            pin: p.pin.expose().to_string(),
            expires_at: p.expires_at,
            letter_pdf_base64: base64::engine::general_purpose::STANDARD.encode(&p.pdf),
            letter_text: p.letter.text(),
        }),
    )
        .into_response())
}

/// Filter of the RA queue.
#[derive(Debug, Deserialize, IntoParams)]
pub(crate) struct RequestQuery {
    /// `pending`, `approved`, … (default: every state).
    #[serde(default)]
    status: Option<String>,
    /// Only this organisation.
    #[serde(default)]
    epoc: Option<String>,
    /// At most this many (default 100).
    #[serde(default)]
    limit: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/admin/requests", tag = "admin", params(RequestQuery), responses((status = 200, body = Vec<api::RequestView>)), security(("bearer" = [])))]
pub(crate) async fn admin_requests(
    State(s): State<AppState>,
    a: Admin,
    Query(q): Query<RequestQuery>,
) -> Result<Json<Vec<api::RequestView>>, ApiError> {
    allow(&s, a.op(), Permission::ReadRequests, q.epoc.as_deref(), "requests").await?;
    let status = match q.status.as_deref() {
        None | Some("") | Some("all") => vec![],
        Some(v) => vec![parse_enum("status", v)?],
    };
    let filter = store::RequestFilter { epoc: q.epoc, status, limit: q.limit.unwrap_or(100).clamp(1, 1000) };
    let h = &s.enrol.config().helpdesk;
    let scope = &a.op().scope;
    Ok(Json(
        s.enrol
            .list_requests(&filter)
            .await?
            .iter()
            .filter(|r| scope.covers(&r.epoc))
            .map(|r| request_view(r, h))
            .collect(),
    ))
}

#[utoipa::path(post, path = "/api/v1/admin/requests/{id}/approve", tag = "admin", responses((status = 200, body = api::RequestView), (status = 409, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn approve(
    State(s): State<AppState>,
    a: Admin,
    Path(id): Path<i64>,
) -> Result<Json<api::RequestView>, ApiError> {
    let org = request_org(&s, id).await?;
    let actor = allow(&s, a.op(), Permission::DecideRequests, Some(&org), &format!("request/{id}")).await?;
    Ok(Json(request_view(&s.enrol.approve(id, &actor).await?, &s.enrol.config().helpdesk)))
}

#[utoipa::path(post, path = "/api/v1/admin/requests/{id}/deny", tag = "admin", request_body = api::DenyBody,
    responses((status = 200, body = api::RequestView), (status = 409, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn deny(
    State(s): State<AppState>,
    a: Admin,
    Path(id): Path<i64>,
    ApiJson(b): ApiJson<api::DenyBody>,
) -> Result<Json<api::RequestView>, ApiError> {
    let org = request_org(&s, id).await?;
    let actor = allow(&s, a.op(), Permission::DecideRequests, Some(&org), &format!("request/{id}")).await?;
    Ok(Json(request_view(&s.enrol.deny(id, &actor, &b.reason).await?, &s.enrol.config().helpdesk)))
}

#[utoipa::path(post, path = "/api/v1/admin/releases", tag = "admin", request_body = api::NewReleaseBody,
    responses((status = 201, body = api::ReleaseView), (status = 400, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn add_release(
    State(s): State<AppState>,
    a: Admin,
    ApiJson(b): ApiJson<api::NewReleaseBody>,
) -> Result<Response, ApiError> {
    let actor = allow(&s, a.op(), Permission::ManageReleases, None, "releases").await?;
    let r = match &b.signature {
        Some(signature) => {
            let new = enrol::SignedRelease {
                product: &b.product,
                version: &b.version,
                minimum: b.minimum,
                url: &b.url,
                sha256: &b.sha256,
                notes: &b.notes,
                signature,
                file_path: b.file_path.as_deref(),
            };
            s.enrol.add_signed_release(new, &actor).await?
        }
        None if b.file_path.is_some() => {
            return Err(enrol::EnrolError::BadInput(enrol::InputProblem::Release(
                "a release served from a file must be signed: pass its signature (carecert admin release add … --sign-with KEY)".into(),
            ))
            .into());
        }
        None => s.enrol.add_release(&b.product, &b.version, b.minimum, &b.url, &b.sha256, &b.notes, &actor).await?,
    };
    Ok((StatusCode::CREATED, Json(release_view(&r))).into_response())
}

/// Which product's releases.
#[derive(Debug, Deserialize, IntoParams)]
pub(crate) struct ReleaseQuery {
    /// `ecmt` (default) or `carecert-agent`.
    #[serde(default)]
    product: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/admin/releases", tag = "admin", params(ReleaseQuery), responses((status = 200, body = Vec<api::ReleaseView>)), security(("bearer" = [])))]
pub(crate) async fn list_releases(
    State(s): State<AppState>,
    a: Admin,
    Query(q): Query<ReleaseQuery>,
) -> Result<Json<Vec<api::ReleaseView>>, ApiError> {
    allow(&s, a.op(), Permission::ReadOrganisations, None, "releases").await?;
    Ok(Json(s.enrol.releases(q.product.as_deref().unwrap_or("ecmt")).await?.iter().map(release_view).collect()))
}
