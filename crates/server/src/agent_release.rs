//! The minimum `carecert-agent` release, held on every API call an agent makes.
//!
//! The agent names itself in `User-Agent: carecert-agent/VERSION`; a call from a release below
//! the minimum registered for the product `carecert-agent` (`carecert admin release add
//! --product carecert-agent V --minimum`) is refused with `426 agent_too_old`, naming the
//! minimum and this service's download page. Calls without that header (browsers, `ecmt`,
//! scripts) are not this layer's business; the per-batch minimum is still checked by `cards`
//! on login, renewal and issue. It must never change state: it reads the release registry.

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::{ApiError, AppState};

/// The product name of the agent in the release registry and in its `User-Agent`.
const AGENT: &str = "carecert-agent";

/// The version in `carecert-agent/VERSION …`, if this is the agent.
fn agent_version(req: &Request) -> Option<String> {
    let ua = req.headers().get(header::USER_AGENT)?.to_str().ok()?;
    let rest = ua.strip_prefix(AGENT)?.strip_prefix('/')?;
    Some(rest.split_whitespace().next().unwrap_or("").to_string())
}

/// Refuses an agent below the registered minimum release (see the module doc).
pub(crate) async fn require_minimum(State(s): State<AppState>, req: Request, next: Next) -> Response {
    if !req.uri().path().starts_with("/api/") {
        return next.run(req).await;
    }
    let Some(version) = agent_version(&req) else { return next.run(req).await };
    let check = match s.enrol.check_client(AGENT, &version).await {
        Ok(c) => c,
        Err(e) => {
            return ApiError::new(
                StatusCode::UPGRADE_REQUIRED,
                "agent_too_old",
                format!(
                    "this carecert-agent names itself {version:?}, which is not a release version ({e}): install the current agent from this service's download page (/download)"
                ),
            )
            .into_response();
        }
    };
    if !check.update_required {
        return next.run(req).await;
    }
    let host = req.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("this service");
    let minimum = check.minimum.unwrap_or_default();
    ApiError::new(
        StatusCode::UPGRADE_REQUIRED,
        "agent_too_old",
        format!(
            "carecert-agent {version} is no longer supported: this service needs carecert-agent {minimum} or newer. Download it from https://{host}/download and install it; nothing was changed"
        ),
    )
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(ua: &str) -> Request {
        axum::http::Request::builder().header(header::USER_AGENT, ua).body(axum::body::Body::empty()).unwrap()
    }

    #[test]
    fn only_the_agent_names_a_version() {
        assert_eq!(agent_version(&req("carecert-agent/1.2.3")).as_deref(), Some("1.2.3"));
        assert_eq!(agent_version(&req("carecert-agent/0.1.0 (linux)")).as_deref(), Some("0.1.0"));
        assert_eq!(agent_version(&req("curl/8.0")), None);
        assert_eq!(agent_version(&req("carecert-agentx/1.0")), None);
    }
}
