//! The HTML wing: the RA console (`ra/`) and the portal (`portal.rs`), drawn in one page
//! shell (`layout.rs`), sharing the session extractors and form checks (`forms.rs`).
//! Pages keep their URLs, words and markup; the browser tests depend on them.

use axum::Router;

use crate::state::AppState;

pub(crate) mod download;
pub(crate) mod forms;
pub(crate) mod layout;
pub(crate) mod notice;
pub(crate) mod portal;
pub(crate) mod ra;

/// Every page route: the RA console and the portal.
pub(crate) fn router(agent_url: &str) -> Router<AppState> {
    Router::new().merge(ra::router()).merge(portal::router(agent_url))
}
