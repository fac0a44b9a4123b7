//! The smartcard API (`carecert-agent` speaks it) and the RA's card actions in the admin API.

use axum::Json;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use cards::{CardKeyRole, CardView, Channel, IssueCard, RenewalKind};
use types::Permission;

use crate::authz::{allow, card_org, user_org};
use crate::error::{ApiError, CardSessionRefusal, ErrorBody};
use crate::extract::{Admin, ApiJson, CardCaller, CardSession, RenewalToken, bearer};
use crate::handlers::wire::{card_record_view, card_status_view, new_web_account_view, user_view};
use crate::state::AppState;

fn b64(s: &str) -> Result<Vec<u8>, ApiError> {
    base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .map_err(|_| ApiError::bad_request("invalid", "the signature must be base64"))
}

fn view(v: CardView) -> api::CardStatusView {
    api::CardStatusView {
        serial: v.card.serial,
        uid: v.card.uid,
        status: card_status_view(v.card.status),
        auth_serial: v.card.auth_serial,
        sign_serial: v.card.sign_serial,
        tries_left: v.tries_left,
        not_after: v.card.not_after,
        days_to_expiry: v.days_to_expiry,
        renewal_open: v.renewal_open,
        remote_renewals_left: v.remote_renewals_left,
        message: v.message,
    }
}

fn same_card(session: &str, serial: &str) -> Result<(), ApiError> {
    if session != serial {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "wrong_card", "this card session belongs to another card"));
    }
    Ok(())
}

fn token_flags(f: Option<api::TokenPinFlags>) -> Option<cards::TokenFlags> {
    f.map(|f| cards::TokenFlags { count_low: f.count_low, final_try: f.final_try, locked: f.locked })
}

#[utoipa::path(get, path = "/api/v1/cards/{serial}", tag = "cards", responses((status = 200, description = "Whether the card can be used; nothing about its holder, passcode count or certificates", body = api::CardStateView), (status = 404, body = ErrorBody)))]
pub(crate) async fn card_status(
    State(s): State<AppState>,
    Path(serial): Path<String>,
) -> Result<Json<api::CardStateView>, ApiError> {
    let c = s.cards.state(&serial).await?;
    Ok(Json(api::CardStateView { serial: c.serial, status: card_status_view(c.status), message: c.message }))
}

#[utoipa::path(get, path = "/api/v1/cards/{serial}/details", tag = "cards", responses((status = 200, body = api::CardStatusView), (status = 401, body = ErrorBody), (status = 403, description = "The session belongs to another card", body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn card_details(
    State(s): State<AppState>,
    CardSession(card): CardSession,
    Path(serial): Path<String>,
) -> Result<Json<api::CardStatusView>, ApiError> {
    same_card(&card, &serial)?;
    Ok(Json(view(s.cards.view(&serial).await?)))
}

#[utoipa::path(post, path = "/api/v1/cards/{serial}/challenges", tag = "cards", responses((status = 200, body = api::ChallengeView), (status = 423, description = "Card locked", body = ErrorBody), (status = 429, description = "Too many challenges for this card or from this source; see Retry-After", body = ErrorBody)))]
pub(crate) async fn login_challenge(
    State(s): State<AppState>,
    CardCaller(source): CardCaller,
    Path(serial): Path<String>,
) -> Result<Json<api::ChallengeView>, ApiError> {
    Ok(Json(api::ChallengeView { nonce: s.cards.login_challenge(&serial, &source).await? }))
}

#[utoipa::path(post, path = "/api/v1/cards/{serial}/sessions", tag = "cards", request_body = api::CardLoginBody, responses((status = 200, body = api::CardSessionView), (status = 400, body = ErrorBody), (status = 426, description = "Agent too old for the card batch", body = ErrorBody)))]
pub(crate) async fn open_session(
    State(s): State<AppState>,
    Path(serial): Path<String>,
    ApiJson(b): ApiJson<api::CardLoginBody>,
) -> Result<Json<api::CardSessionView>, ApiError> {
    let (token, v) = s
        .cards
        .open_session(&serial, &b.nonce, &b64(&b.signature)?, &b.agent_version, token_flags(b.token_flags))
        .await?;
    Ok(Json(api::CardSessionView { token, card: view(v) }))
}

#[utoipa::path(post, path = "/api/v1/cards/{serial}/passcode-failures", tag = "cards", request_body = api::PasscodeFailureBody, responses((status = 200, description = "Counted toward the lock (enrolled workstation, mutual TLS) or only backing off this source", body = api::PasscodeFailureView), (status = 400, description = "No unused challenge issued to this source for this card", body = ErrorBody), (status = 403, description = "Workstation certificate refused", body = ErrorBody), (status = 423, body = ErrorBody)))]
pub(crate) async fn passcode_failed(
    State(s): State<AppState>,
    CardCaller(source): CardCaller,
    Path(serial): Path<String>,
    ApiJson(b): ApiJson<api::PasscodeFailureBody>,
) -> Result<Json<api::PasscodeFailureView>, ApiError> {
    let outcome = s.cards.passcode_failed(&serial, &b.nonce, &source, token_flags(b.token_flags)).await?;
    let message = outcome.message(&serial);
    Ok(Json(match outcome {
        cards::PasscodeFailure::Counted { left } => api::PasscodeFailureView {
            locked: false,
            counted: true,
            tries_left: Some(left),
            retry_after_seconds: None,
            message,
        },
        cards::PasscodeFailure::Locked => api::PasscodeFailureView {
            locked: true,
            counted: true,
            tries_left: Some(0),
            retry_after_seconds: None,
            message,
        },
        cards::PasscodeFailure::Throttled { retry_after } => api::PasscodeFailureView {
            locked: false,
            counted: false,
            tries_left: None,
            retry_after_seconds: Some(retry_after.as_secs().max(1)),
            message,
        },
    }))
}

#[utoipa::path(post, path = "/api/v1/cards/{serial}/unlock-codes", tag = "cards", request_body = api::UnlockCodeBody, responses((status = 200, body = api::CodeSentView), (status = 409, description = "The card is not locked", body = ErrorBody), (status = 422, description = "No such channel for this user", body = ErrorBody), (status = 429, description = "Codes sent recently for this card or to this address; see Retry-After", body = ErrorBody), (status = 502, body = ErrorBody), (status = 503, description = "Busy; see Retry-After", body = ErrorBody)))]
pub(crate) async fn send_code(
    State(s): State<AppState>,
    Path(serial): Path<String>,
    ApiJson(b): ApiJson<api::UnlockCodeBody>,
) -> Result<Json<api::CodeSentView>, ApiError> {
    let channel: Channel = b.channel.as_str().parse()?;
    Ok(Json(api::CodeSentView { sent_to: s.cards.send_unlock_code(&serial, channel).await? }))
}

#[utoipa::path(post, path = "/api/v1/cards/{serial}/unlock", tag = "cards", request_body = api::UnlockBody, responses((status = 200, body = api::UnlockedView), (status = 403, description = "Wrong, used, expired or exhausted code", body = ErrorBody), (status = 409, description = "The card is not locked", body = ErrorBody), (status = 503, description = "Busy; see Retry-After", body = ErrorBody)))]
pub(crate) async fn unlock(
    State(s): State<AppState>,
    Path(serial): Path<String>,
    ApiJson(b): ApiJson<api::UnlockBody>,
) -> Result<Json<api::UnlockedView>, ApiError> {
    let u = s.cards.unlock_with_code(&serial, &b.code).await?;
    Ok(Json(api::UnlockedView { serial: u.card_serial, so_pin: u.so_pin, so_pin_ticket: Some(u.so_pin_ticket) }))
}

#[utoipa::path(post, path = "/api/v1/cards/{serial}/sponsor-challenges", tag = "cards", responses((status = 200, body = api::ChallengeView), (status = 404, body = ErrorBody)))]
pub(crate) async fn sponsor_challenge(
    State(s): State<AppState>,
    Path(serial): Path<String>,
) -> Result<Json<api::ChallengeView>, ApiError> {
    Ok(Json(api::ChallengeView { nonce: s.cards.sponsor_challenge(&serial).await? }))
}

#[utoipa::path(post, path = "/api/v1/cards/{serial}/sponsor-unlock", tag = "cards", request_body = api::SponsorUnlockBody, responses((status = 200, body = api::UnlockedView), (status = 403, description = "No authority, bad signature, replayed challenge", body = ErrorBody)))]
pub(crate) async fn sponsor_unlock(
    State(s): State<AppState>,
    Path(serial): Path<String>,
    ApiJson(b): ApiJson<api::SponsorUnlockBody>,
) -> Result<Json<api::UnlockedView>, ApiError> {
    let (_, der) = pki::CertificateInfo::parse_pem_or_der(b.sponsor_certificate.as_bytes())?;
    let u = s.cards.sponsor_unlock(&serial, &b.nonce, &der, &b64(&b.signature)?).await?;
    Ok(Json(api::UnlockedView { serial: u.card_serial, so_pin: u.so_pin, so_pin_ticket: Some(u.so_pin_ticket) }))
}

#[utoipa::path(post, path = "/api/v1/cards/{serial}/so-pin", tag = "cards", request_body = api::NewSoPinBody,
    description = "After a release (unlock), the agent sets a fresh SO PIN on the card and reports it with the release's ticket as the bearer; it is stored sealed.",
    responses((status = 204, description = "Stored"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn replace_so_pin(
    State(s): State<AppState>,
    RenewalToken(ticket): RenewalToken,
    Path(serial): Path<String>,
    ApiJson(b): ApiJson<api::NewSoPinBody>,
) -> Result<StatusCode, ApiError> {
    s.cards.replace_so_pin(&serial, &ticket, &b.so_pin).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/cards/{serial}/renewals", tag = "cards", request_body = api::StartRenewalBody, responses((status = 201, body = api::RenewalView), (status = 403, description = "Needs the RA", body = ErrorBody), (status = 409, description = "Window not open", body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn start_renewal(
    State(s): State<AppState>,
    CardSession(card): CardSession,
    Path(serial): Path<String>,
    ApiJson(b): ApiJson<api::StartRenewalBody>,
) -> Result<Response, ApiError> {
    same_card(&card, &serial)?;
    let id = s.cards.begin_renewal(&serial, &b.agent_version, &RenewalKind::Remote).await?;
    Ok((StatusCode::CREATED, Json(api::RenewalView { renewal_id: id, token: None })).into_response())
}

#[utoipa::path(post, path = "/api/v1/card-renewals/{id}/certificates", tag = "cards", request_body = api::RenewCertificateBody, responses((status = 200, body = api::CardCertificateView), (status = 409, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn renew_certificate(
    State(s): State<AppState>,
    RenewalToken(token): RenewalToken,
    Path(id): Path<i64>,
    ApiJson(b): ApiJson<api::RenewCertificateBody>,
) -> Result<Json<api::CardCertificateView>, ApiError> {
    let card = s.cards.renewal_session_card(&token, id).await.map_err(CardSessionRefusal)?;
    let role = match b.role.as_str() {
        "auth" => CardKeyRole::Auth,
        "sign" => CardKeyRole::Sign,
        o => return Err(ApiError::bad_request("invalid", format!("role '{o}': use auth or sign"))),
    };
    let i = s.cards.renew_certificate(&card, id, role, b.csr.as_bytes()).await?;
    Ok(Json(api::CardCertificateView {
        serial: i.serial,
        certificate_pem: pki::cert::to_pem("CERTIFICATE", &i.der),
        not_after: i.not_after,
    }))
}

#[utoipa::path(post, path = "/api/v1/card-renewals/{id}/complete", tag = "cards", responses((status = 200, body = api::CardStatusView), (status = 409, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn complete_renewal(
    State(s): State<AppState>,
    RenewalToken(token): RenewalToken,
    Path(id): Path<i64>,
) -> Result<Json<api::CardStatusView>, ApiError> {
    let card = s.cards.renewal_session_card(&token, id).await.map_err(CardSessionRefusal)?;
    let done = s.cards.complete_renewal(&card, id).await?;
    Ok(Json(view(s.cards.view(&done.serial).await?)))
}

#[utoipa::path(post, path = "/api/v1/card-renewals/{id}/abort", tag = "cards", request_body = api::AbortBody, responses((status = 204, description = "Done"), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn abort_renewal(
    State(s): State<AppState>,
    RenewalToken(token): RenewalToken,
    Path(id): Path<i64>,
    ApiJson(b): ApiJson<api::AbortBody>,
) -> Result<StatusCode, ApiError> {
    let card = s.cards.renewal_session_card(&token, id).await.map_err(CardSessionRefusal)?;
    s.cards.abort_renewal(&card, id, &b.reason).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ------------------------------------------------------------------------- RA

#[utoipa::path(post, path = "/api/v1/admin/users", tag = "admin", request_body = api::NewUserBody, responses((status = 201, body = api::UserView), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn add_user(
    State(s): State<AppState>,
    a: Admin,
    ApiJson(b): ApiJson<api::NewUserBody>,
) -> Result<Response, ApiError> {
    let actor =
        allow(&s, a.op(), Permission::ManageCardHolders, Some(&b.organisation), &format!("user/{}", b.uid)).await?;
    let u = s
        .cards
        .add_user(
            &b.uid,
            &b.name,
            b.email.as_deref(),
            b.mobile.as_deref(),
            b.landline.as_deref().map(|l| (l, b.landline_voice)),
            &b.roles,
            &b.organisation,
            &actor,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(user_view(u))).into_response())
}

#[utoipa::path(get, path = "/api/v1/admin/users/{uid}", tag = "admin", responses((status = 200, body = api::UserCardsView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn show_user(
    State(s): State<AppState>,
    a: Admin,
    Path(uid): Path<String>,
) -> Result<Json<api::UserCardsView>, ApiError> {
    let org = user_org(&s, &uid).await?;
    allow(&s, a.op(), Permission::ManageCardHolders, Some(&org), &format!("user/{uid}")).await?;
    let u = s.cards.user(&uid).await?;
    let cards = s.read.cards_of(&uid).await?;
    Ok(Json(api::UserCardsView { user: user_view(u), cards: cards.into_iter().map(card_record_view).collect() }))
}

#[utoipa::path(post, path = "/api/v1/admin/cards", tag = "admin", request_body = api::IssueCardBody,
    description = "Issues a card face to face. The bearer is an operator token with the right to issue cards, or a desk ticket (`desk-…`) the RA console minted for the identity check: it issues one card, to the UID, with the documents and batch the RA recorded, within 10 minutes.",
    responses((status = 201, body = api::IssuedCardView), (status = 400, body = ErrorBody), (status = 401, description = "No operator token, or a desk ticket that is unknown, used or expired", body = ErrorBody), (status = 403, description = "Not allowed, or the desk ticket was made for another holder, other documents or batch", body = ErrorBody), (status = 409, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn issue_card(
    State(s): State<AppState>,
    caller: IssueCaller,
    ApiJson(b): ApiJson<api::IssueCardBody>,
) -> Result<Response, ApiError> {
    let org = user_org(&s, &b.uid).await?;
    let subject = format!("card/{}", b.card_serial);
    let req = IssueCard {
        uid: b.uid,
        card_serial: b.card_serial,
        batch: b.batch,
        ra: String::new(),
        documents: b.documents,
        so_pin: b.so_pin,
        auth_csr: b.auth_csr.into_bytes(),
        sign_csr: b.sign_csr.into_bytes(),
        agent_version: b.agent_version,
    };
    let issued = match caller {
        IssueCaller::Operator(a) => {
            let actor = allow(&s, a.op(), Permission::IssueCards, Some(&org), &subject).await?;
            s.cards.issue_card(IssueCard { ra: actor, ..req }).await?
        }
        IssueCaller::Desk(token) => {
            let ticket = s.cards.claim_desk_ticket(&token, &req.uid, &req.documents, &req.batch).await?;
            if let Err(e) = desk_ra_allowed(&s, &ticket, Permission::IssueCards, &org, &subject).await {
                s.cards.release_desk_ticket(&ticket).await?;
                return Err(e);
            }
            s.cards.issue_with_ticket(&ticket, req).await?
        }
    };
    let cert = |i: &ca::Issued| api::CardCertificateView {
        serial: i.serial.clone(),
        certificate_pem: pki::cert::to_pem("CERTIFICATE", &i.der),
        not_after: i.not_after,
    };
    let chain_pem = issued.auth.chain.iter().map(|c| pki::cert::to_pem("CERTIFICATE", c)).collect();
    Ok((
        StatusCode::CREATED,
        Json(api::IssuedCardView { auth: cert(&issued.auth), sign: cert(&issued.sign), chain_pem }),
    )
        .into_response())
}

#[utoipa::path(get, path = "/api/v1/admin/cards/{serial}", tag = "admin", responses((status = 200, body = api::CardStatusView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn show_card(
    State(s): State<AppState>,
    a: Admin,
    Path(serial): Path<String>,
) -> Result<Json<api::CardStatusView>, ApiError> {
    let org = card_org(&s, &serial).await?;
    allow(&s, a.op(), Permission::ManageCardHolders, Some(&org), &format!("card/{serial}")).await?;
    Ok(Json(view(s.cards.view(&serial).await?)))
}

#[utoipa::path(post, path = "/api/v1/admin/cards/{serial}/unlock", tag = "admin", request_body = api::IdentityCheckBody, responses((status = 200, body = api::UnlockedView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn ra_unlock(
    State(s): State<AppState>,
    a: Admin,
    Path(serial): Path<String>,
    ApiJson(b): ApiJson<api::IdentityCheckBody>,
) -> Result<Json<api::UnlockedView>, ApiError> {
    let org = card_org(&s, &serial).await?;
    let actor = allow(&s, a.op(), Permission::UnlockCards, Some(&org), &format!("card/{serial}")).await?;
    let u = s.cards.ra_unlock(&serial, &actor, &b.documents).await?;
    Ok(Json(api::UnlockedView { serial: u.card_serial, so_pin: u.so_pin, so_pin_ticket: Some(u.so_pin_ticket) }))
}

#[utoipa::path(post, path = "/api/v1/admin/cards/{serial}/cancel", tag = "admin", request_body = api::CancelCardBody, responses((status = 204, description = "Done"), (status = 410, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn cancel_card(
    State(s): State<AppState>,
    a: Admin,
    Path(serial): Path<String>,
    ApiJson(b): ApiJson<api::CancelCardBody>,
) -> Result<StatusCode, ApiError> {
    let org = card_org(&s, &serial).await?;
    let actor = allow(&s, a.op(), Permission::CancelCards, Some(&org), &format!("card/{serial}")).await?;
    let name = b.reason.map(|r| r.as_str()).unwrap_or("affiliationChanged");
    let reason = pki::RevocationReason::parse(name)
        .ok_or_else(|| ApiError::bad_request("invalid", format!("'{name}' is not an RFC 5280 revocation reason")))?;
    s.cards.cancel_card(&serial, &actor, reason).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/admin/cards/{serial}/renewals", tag = "admin", request_body = api::IdentityCheckBody,
    description = "Starts an RA (in-person) renewal. The bearer is an operator token with the right to renew cards, or a renewal desk ticket (`desk-…`) the RA console minted for the identity check of this card: it starts one renewal of this card, within 10 minutes; the documents recorded are the ticket's.",
    responses((status = 201, body = api::RenewalView), (status = 401, description = "No operator token, or a desk ticket that is unknown, used or expired", body = ErrorBody), (status = 403, description = "Not allowed, or the desk ticket was made for another card or for issuing", body = ErrorBody), (status = 409, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn ra_renewal(
    State(s): State<AppState>,
    caller: IssueCaller,
    Path(serial): Path<String>,
    ApiJson(b): ApiJson<api::IdentityCheckBody>,
) -> Result<Response, ApiError> {
    let org = card_org(&s, &serial).await?;
    let subject = format!("card/{serial}");
    let version = b.agent_version.clone().unwrap_or_else(|| "0.0.0".into());
    let id = match caller {
        IssueCaller::Operator(a) => {
            let actor = allow(&s, a.op(), Permission::RenewCards, Some(&org), &subject).await?;
            s.cards.begin_renewal(&serial, &version, &RenewalKind::Ra { ra: actor, documents: b.documents }).await?
        }
        IssueCaller::Desk(token) => {
            let ticket = s.cards.claim_desk_renewal(&token, &serial).await?;
            if let Err(e) = desk_ra_allowed(&s, &ticket, Permission::RenewCards, &org, &subject).await {
                s.cards.release_desk_ticket(&ticket).await?;
                return Err(e);
            }
            s.cards.begin_renewal_with_ticket(&ticket, &version).await?
        }
    };
    let token = s.cards.ra_session(&serial, id).await?;
    Ok((StatusCode::CREATED, Json(api::RenewalView { renewal_id: id, token: Some(token) })).into_response())
}

#[utoipa::path(post, path = "/api/v1/admin/sponsors", tag = "admin", request_body = api::SponsorBody, responses((status = 204, description = "Done"), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn add_sponsor(
    State(s): State<AppState>,
    a: Admin,
    ApiJson(b): ApiJson<api::SponsorBody>,
) -> Result<StatusCode, ApiError> {
    let subject = format!("user/{}", b.uid);
    let holder_org = user_org(&s, &b.uid).await?;
    allow(&s, a.op(), Permission::GrantSponsors, Some(&holder_org), &subject).await?;
    let actor = allow(&s, a.op(), Permission::GrantSponsors, Some(&b.organisation), &subject).await?;
    s.cards.grant_sponsor(&b.uid, &b.organisation, &actor).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/admin/card-batches", tag = "admin", request_body = api::CardBatchBody, responses((status = 204, description = "Done"), (status = 400, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn set_batch(
    State(s): State<AppState>,
    a: Admin,
    ApiJson(b): ApiJson<api::CardBatchBody>,
) -> Result<StatusCode, ApiError> {
    let actor = allow(&s, a.op(), Permission::ManageCardBatches, None, &format!("card_batch/{}", b.batch)).await?;
    s.cards.set_batch(&b.batch, &b.min_agent_version, &actor).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/admin/web-accounts", tag = "admin", request_body = api::NewWebAccountBody, responses((status = 201, body = api::NewWebAccountView), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn add_web_account(
    State(s): State<AppState>,
    a: Admin,
    ApiJson(b): ApiJson<api::NewWebAccountBody>,
) -> Result<Response, ApiError> {
    let roles = b
        .roles
        .iter()
        .map(|r| r.parse::<portal::Role>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ApiError::bad_request("invalid", e.to_string()))?;
    // Portal roles are the portal admin's; a role that opens the RA console is an operator's
    // (made with `carecert admin account create`), so it needs the right to manage operators.
    let permission = if roles.iter().any(|r| portal::Area::Ra.admits(r)) {
        Permission::ManageOperators
    } else {
        Permission::ManageWebAccounts
    };
    let actor = allow(&s, a.op(), permission, None, &format!("web_account/{}", b.username)).await?;
    let a = s.web.add_account(&b.username, &b.name, b.uid.as_deref(), &roles, b.password.as_deref(), &actor).await?;
    Ok((StatusCode::CREATED, Json(new_web_account_view(a))).into_response())
}

/// Who issues (or renews in person) a card: an operator with an API token, or the desk's card
/// agent with the desk ticket the RA console minted for the identity check (told apart by the
/// `desk-` prefix; the ticket's purpose and scope are checked by `cards`).
pub(crate) enum IssueCaller {
    /// An operator token.
    Operator(Admin),
    /// A desk ticket.
    Desk(String),
}

impl FromRequestParts<AppState> for IssueCaller {
    type Rejection = ApiError;
    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(t) = bearer(parts).filter(|t| t.starts_with(cards::DESK_TICKET_PREFIX)) {
            return Ok(IssueCaller::Desk(t.to_string()));
        }
        Ok(IssueCaller::Operator(Admin::from_request_parts(parts, state).await?))
    }
}

/// The RA who recorded a desk ticket's identity check must still be an enabled operator
/// allowed to issue (or renew) cards for the holder's organisation when the agent uses the
/// ticket.
async fn desk_ra_allowed(
    s: &AppState,
    ticket: &cards::DeskTicket,
    permission: Permission,
    org: &str,
    subject: &str,
) -> Result<(), ApiError> {
    let account = s.web.operator_accounts().await?.into_iter().find(|a| a.username == ticket.ra_account);
    let op = account.filter(|a| a.disabled_at.is_none()).and_then(|a| a.operator()).ok_or_else(|| {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "the RA who recorded this identity check can no longer issue or renew cards: another RA must record it again",
        )
    })?;
    allow(s, &op, permission, Some(org), subject).await.map(|_| ())
}
