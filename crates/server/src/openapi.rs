//! The one route table of the JSON API and its OpenAPI document.
//!
//! Every JSON handler is registered here through [`utoipa_axum::router::OpenApiRouter`] with
//! `routes!()`, which adds the handler's route to the axum router *and* its operation to the
//! document in one step: a JSON route cannot be served without being described. The
//! document is snapshot-tested (`tests/openapi.json`), and a test fails when a route is added
//! with a plain `.route(…)` anywhere in the crate outside the HTML wing.

use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::extract::MAX_JSON_BYTES;
use crate::handlers::enrol::MAX_MESSAGE_BYTES;
use crate::handlers::{admin, cards, enrol, operators, portal, public, releases, zerotouch};
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "carecert", description = "Certificate lifecycle platform: CA, OCSP, CRL and the admin API."),
    paths(public::ocsp_get),
    components(schemas(crate::error::ErrorBody)),
    modifiers(&Bearer),
    tags((name = "public", description = "Served on HTTPS and (except metrics) plain HTTP"), (name = "admin", description = "Operators and RA staff; bearer token"), (name = "ecmt", description = "The machine-certificate client; session bearer token or mutual TLS"), (name = "message-store", description = "The gate: mutual TLS"), (name = "cards", description = "The smartcard agent: card status, login, unlock, renewal, portal tickets"))
)]
struct ApiDoc;

struct Bearer;

impl utoipa::Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The public endpoints served on both listeners (RFC 5280 / RFC 6960 want plain HTTP).
pub(crate) fn public_routes() -> OpenApiRouter<AppState> {
    let (schemas, paths, ocsp_post) = routes!(public::ocsp_post);
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(public::healthz))
        .routes(routes!(public::ca_list))
        .routes(routes!(public::ca_file))
        .routes(routes!(public::crl_file))
        .routes(routes!(public::crl_shard_file))
        .routes((schemas, paths, ocsp_post.layer(DefaultBodyLimit::max(pki::ocsp::MAX_OCSP_REQUEST_BYTES))))
        // The base64 of an OCSP request may contain '/': the route takes the rest of the
        // path, which `routes!` cannot express; the operation is in `ApiDoc` above.
        .route("/ocsp/{*request}", get(public::ocsp_get))
}

/// Every JSON route, described. HTTPS only.
pub(crate) fn json_routes() -> OpenApiRouter<AppState> {
    let admin = OpenApiRouter::new()
        .routes(routes!(admin::issue, admin::list))
        .routes(routes!(admin::show))
        .routes(routes!(admin::revoke))
        .routes(routes!(admin::audit_list))
        .routes(routes!(admin::audit_verify))
        .routes(routes!(admin::audit_checkpoint))
        .routes(routes!(enrol::add_org, enrol::list_orgs))
        .routes(routes!(enrol::show_org, enrol::change_org))
        .routes(routes!(enrol::issue_pin))
        .routes(routes!(enrol::admin_requests))
        .routes(routes!(enrol::approve))
        .routes(routes!(enrol::deny))
        .routes(routes!(enrol::add_release, enrol::list_releases))
        .routes(routes!(releases::add_release_key, releases::list_release_keys))
        .routes(routes!(cards::add_user))
        .routes(routes!(cards::show_user))
        .routes(routes!(cards::issue_card))
        .routes(routes!(cards::ra_unlock))
        .routes(routes!(cards::cancel_card))
        .routes(routes!(cards::ra_renewal))
        .routes(routes!(cards::add_sponsor))
        .routes(routes!(cards::set_batch))
        .routes(routes!(cards::add_web_account))
        .routes(routes!(cards::show_card))
        .routes(routes!(operators::create_account, operators::list_accounts))
        .routes(routes!(operators::disable_account))
        .routes(routes!(operators::create_token, operators::list_tokens))
        .routes(routes!(operators::revoke_token))
        .routes(routes!(zerotouch::withdraw_trust))
        .routes(routes!(zerotouch::set_contact));
    let ecmt = OpenApiRouter::new()
        .routes(routes!(enrol::login))
        .routes(routes!(enrol::logout))
        .routes(routes!(enrol::updates))
        .routes(routes!(enrol::create_request, enrol::list_requests))
        .routes(routes!(enrol::show_request))
        .routes(routes!(enrol::download))
        .routes(routes!(enrol::installed))
        .routes(routes!(enrol::cancel))
        .routes(routes!(enrol::renew))
        .routes(routes!(zerotouch::renewal_window));
    let agent = OpenApiRouter::new()
        .routes(routes!(cards::card_status))
        .routes(routes!(cards::card_details))
        .routes(routes!(cards::login_challenge))
        .routes(routes!(cards::open_session))
        .routes(routes!(cards::passcode_failed))
        .routes(routes!(cards::send_code))
        .routes(routes!(cards::unlock))
        .routes(routes!(cards::sponsor_challenge))
        .routes(routes!(cards::sponsor_unlock))
        .routes(routes!(cards::replace_so_pin))
        .routes(routes!(cards::start_renewal))
        .routes(routes!(cards::renew_certificate))
        .routes(routes!(cards::complete_renewal))
        .routes(routes!(cards::abort_renewal))
        .routes(routes!(portal::ticket))
        .routes(routes!(portal::presence));
    let gate = OpenApiRouter::new().routes(routes!(enrol::gate)).layer(DefaultBodyLimit::max(MAX_MESSAGE_BYTES));
    let https_only = OpenApiRouter::new()
        .routes(routes!(public::metrics))
        .routes(routes!(public::openapi))
        .routes(routes!(releases::download_index))
        .merge(
            OpenApiRouter::new()
                .routes(routes!(crate::web::download::download_page))
                .routes(routes!(crate::web::download::release_file))
                .layer(axum::middleware::from_fn_with_state(
                    crate::web::layout::ra_headers(),
                    crate::web::layout::security_headers,
                )),
        );
    OpenApiRouter::new()
        .merge(admin)
        .merge(ecmt)
        .merge(agent)
        .layer(DefaultBodyLimit::max(MAX_JSON_BYTES))
        .merge(gate)
        .merge(https_only)
}

/// The whole API, routed and described: the public endpoints and every JSON route.
pub(crate) fn all_routes() -> OpenApiRouter<AppState> {
    public_routes().merge(json_routes())
}

/// The whole API described, as pretty JSON.
pub fn openapi_json() -> String {
    all_routes().into_openapi().to_pretty_json().unwrap_or_else(|_| "{}".into())
}
