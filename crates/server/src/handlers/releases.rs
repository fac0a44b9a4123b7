//! Self-update: the release-signing keys the operator registers (admin API) and the download
//! index `ecmt update` reads (`GET /download.json`; the HTML page is `web/download.rs`).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::authz::allow;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Admin, ApiJson};
use crate::state::AppState;
use types::Permission;

pub(crate) fn key_view(k: &enrol::ReleaseKey) -> api::ReleaseKeyView {
    api::ReleaseKeyView {
        key_id: k.key_id.clone(),
        product: k.product.clone(),
        public_key: k.public_key.clone(),
        created_at: k.created_at,
    }
}

/// Every release of both clients, newest first per product, and the registered keys.
pub(crate) async fn index(s: &AppState) -> Result<api::DownloadIndex, ApiError> {
    let mut releases = Vec::new();
    for product in ["ecmt", "carecert-agent"] {
        let mut rs: Vec<(Option<types::ClientVersion>, enrol::Release)> = s
            .enrol
            .releases(product)
            .await?
            .into_iter()
            .map(|r| (types::ClientVersion::parse(&r.version).ok(), r))
            .collect();
        rs.sort_by(|a, b| b.0.cmp(&a.0));
        releases.extend(rs.into_iter().map(|(_, r)| api::DownloadRelease {
            product: r.product,
            version: r.version,
            minimum: r.minimum,
            url: r.url,
            sha256: r.sha256,
            signature: r.signature,
            key_id: r.key_id,
            notes: r.notes,
            created_at: r.created_at,
        }));
    }
    let signing_keys = s.enrol.release_keys(None).await?.iter().map(key_view).collect();
    Ok(api::DownloadIndex { releases, signing_keys })
}

#[utoipa::path(get, path = "/download.json", tag = "public",
    responses((status = 200, description = "Every release with its SHA-256, signature and download URL (the HTML page is /download)", body = api::DownloadIndex)))]
pub(crate) async fn download_index(State(s): State<AppState>) -> Result<Json<api::DownloadIndex>, ApiError> {
    Ok(Json(index(&s).await?))
}

#[utoipa::path(post, path = "/api/v1/admin/release-keys", tag = "admin", request_body = api::NewReleaseKeyBody,
    responses((status = 201, body = api::ReleaseKeyView), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn add_release_key(
    State(s): State<AppState>,
    a: Admin,
    ApiJson(b): ApiJson<api::NewReleaseKeyBody>,
) -> Result<Response, ApiError> {
    let actor = allow(&s, a.op(), Permission::ManageReleases, None, "release keys").await?;
    let k = s.enrol.add_release_key(&b.product, &b.public_key, &actor).await?;
    Ok((StatusCode::CREATED, Json(key_view(&k))).into_response())
}

#[utoipa::path(get, path = "/api/v1/admin/release-keys", tag = "admin", responses((status = 200, body = Vec<api::ReleaseKeyView>)), security(("bearer" = [])))]
pub(crate) async fn list_release_keys(
    State(s): State<AppState>,
    a: Admin,
) -> Result<Json<Vec<api::ReleaseKeyView>>, ApiError> {
    allow(&s, a.op(), Permission::ManageReleases, None, "release keys").await?;
    Ok(Json(s.enrol.release_keys(None).await?.iter().map(key_view).collect()))
}
