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

/// Every page route: the RA console, the portal and the files they use (`/assets/…`); `test`
/// puts the "TEST" banner on every page.
pub(crate) fn router(agent_url: &str, test: bool) -> Router<AppState> {
    Router::new()
        .merge(ra::router())
        .merge(portal::router(agent_url))
        .route("/assets/{*name}", axum::routing::get(layout::assets))
        .layer(axum::middleware::from_fn_with_state(test, layout::environment))
}
