//! Self-update: the download index, the release file, and the admin calls for release keys.

use crate::{Client, Error};

impl Client {
    /// `GET /download.json`: every release with its SHA-256 and signature.
    pub async fn download_index(&self) -> Result<api::DownloadIndex, Error> {
        self.get(&["download.json"]).await
    }

    /// The bytes at `url`: a path on this server (`/download/…`) or an absolute URL (fetched
    /// with the same TLS settings: an https URL elsewhere must chain to the same root).
    pub async fn fetch_file(&self, url: &str) -> Result<Vec<u8>, Error> {
        let full = if url.starts_with('/') { format!("{}{url}", self.base) } else { url.to_string() };
        let unreachable = |cause| Error::Unreachable { url: full.clone(), cause, hint: self.hint.clone() };
        let resp = self.http.get(&full).send().await.map_err(unreachable)?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(unreachable)?;
        if !status.is_success() {
            return Err(crate::error::refused(status.as_u16(), &body));
        }
        Ok(body.to_vec())
    }

    /// `POST /api/v1/admin/release-keys`.
    pub async fn add_release_key(&self, body: &api::NewReleaseKeyBody) -> Result<api::ReleaseKeyView, Error> {
        self.post(&["api", "v1", "admin", "release-keys"], body).await
    }

    /// `GET /api/v1/admin/release-keys`.
    pub async fn release_keys(&self) -> Result<Vec<api::ReleaseKeyView>, Error> {
        self.get(&["api", "v1", "admin", "release-keys"]).await
    }
}
