//! Operator accounts and API tokens: create, list, disable, revoke. Every route needs
//! [`Permission::ManageOperators`] (a `ca-admin`, or the bootstrap token of `carecert init`,
//! which is consumed by the first account or token it makes).

use api::{NewOperatorBody, NewOperatorView, NewTokenBody, NewTokenView, OperatorAccountView, TokenQuery, TokenView};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use types::Permission;

use crate::authz::allow;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Admin, ApiJson};
use crate::state::AppState;

fn wire_role(r: types::OperatorRole) -> Result<api::OperatorRole, ApiError> {
    r.as_str().parse().map_err(|e: String| ApiError::from(store::StoreError::Corrupt(e)))
}

fn account_view(a: &store::WebAccount) -> Result<Option<OperatorAccountView>, ApiError> {
    let Some(op) = a.operator() else { return Ok(None) };
    Ok(Some(OperatorAccountView {
        name: a.username.clone(),
        display_name: a.name.clone(),
        role: wire_role(op.role)?,
        organisations: op.scope.orgs().to_vec(),
        created_at: a.created_at,
        disabled_at: a.disabled_at,
    }))
}

fn token_view(t: store::OperatorToken) -> Result<TokenView, ApiError> {
    Ok(TokenView {
        id: t.id,
        account: t.account,
        role: wire_role(t.role)?,
        organisations: t.scope,
        label: t.label,
        created_by: t.created_by,
        created_at: t.created_at,
        expires_at: t.expires_at,
        revoked_at: t.revoked_at,
        used_at: t.used_at,
    })
}

#[utoipa::path(post, path = "/api/v1/admin/accounts", tag = "admin", request_body = NewOperatorBody,
    responses((status = 201, body = NewOperatorView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn create_account(
    State(s): State<AppState>,
    a: Admin,
    ApiJson(b): ApiJson<NewOperatorBody>,
) -> Result<Response, ApiError> {
    allow(&s, a.op(), Permission::ManageOperators, None, &format!("operator/{}", b.name)).await?;
    let role: types::OperatorRole = b.role.as_str().parse().map_err(|e: String| ApiError::bad_request("invalid", e))?;
    let (made, token) = s
        .web
        .create_operator(
            &a.0,
            portal::NewOperator {
                name: &b.name,
                display_name: b.display_name.as_deref().unwrap_or(""),
                role,
                orgs: b.organisations,
                password: b.password.as_deref(),
                uid: b.uid.as_deref(),
                token_days: b.token_days,
            },
        )
        .await?;
    let account = account_view(&made.account)?
        .ok_or_else(|| ApiError::from(store::StoreError::Corrupt("new operator account has no role".into())))?;
    let body = NewOperatorView {
        account,
        totp_uri: made.totp_uri,
        token: token.map(|t| NewTokenView { id: t.id, token: t.token, expires_at: t.expires_at }),
    };
    Ok((StatusCode::CREATED, [(axum::http::header::CACHE_CONTROL, "no-store")], Json(body)).into_response())
}

#[utoipa::path(get, path = "/api/v1/admin/accounts", tag = "admin",
    responses((status = 200, body = Vec<OperatorAccountView>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn list_accounts(
    State(s): State<AppState>,
    a: Admin,
) -> Result<Json<Vec<OperatorAccountView>>, ApiError> {
    allow(&s, a.op(), Permission::ManageOperators, None, "operators").await?;
    let mut out = Vec::new();
    for acc in s.web.operator_accounts().await? {
        if let Some(v) = account_view(&acc)? {
            out.push(v);
        }
    }
    Ok(Json(out))
}

#[utoipa::path(post, path = "/api/v1/admin/accounts/{name}/disable", tag = "admin",
    params(("name" = String, Path, description = "Account name")),
    responses((status = 204, description = "Disabled: its sessions and tokens stop working at once"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn disable_account(
    State(s): State<AppState>,
    a: Admin,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    allow(&s, a.op(), Permission::ManageOperators, None, &format!("operator/{name}")).await?;
    s.web.disable_account(a.op(), &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/admin/tokens", tag = "admin", request_body = NewTokenBody,
    responses((status = 201, body = NewTokenView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn create_token(
    State(s): State<AppState>,
    a: Admin,
    ApiJson(b): ApiJson<NewTokenBody>,
) -> Result<Response, ApiError> {
    allow(&s, a.op(), Permission::ManageOperators, None, &format!("operator/{}", b.account)).await?;
    let t = s.web.create_token(&a.0, &b.account, b.days, b.label.as_deref().unwrap_or("")).await?;
    let body = NewTokenView { id: t.id, token: t.token, expires_at: t.expires_at };
    Ok((StatusCode::CREATED, [(axum::http::header::CACHE_CONTROL, "no-store")], Json(body)).into_response())
}

#[utoipa::path(get, path = "/api/v1/admin/tokens", tag = "admin", params(TokenQuery),
    responses((status = 200, body = Vec<TokenView>), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn list_tokens(
    State(s): State<AppState>,
    a: Admin,
    Query(q): Query<TokenQuery>,
) -> Result<Json<Vec<TokenView>>, ApiError> {
    allow(&s, a.op(), Permission::ManageOperators, None, "tokens").await?;
    Ok(Json(s.web.operator_tokens(q.account.as_deref()).await?.into_iter().map(token_view).collect::<Result<_, _>>()?))
}

#[utoipa::path(post, path = "/api/v1/admin/tokens/{id}/revoke", tag = "admin",
    params(("id" = String, Path, description = "The token's handle (from the list)")),
    responses((status = 204, description = "Revoked: refused at once on every node"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn revoke_token(
    State(s): State<AppState>,
    a: Admin,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    allow(&s, a.op(), Permission::ManageOperators, None, &format!("token/{id}")).await?;
    s.web.revoke_token(a.op(), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
