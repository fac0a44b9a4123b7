//! The OpenAPI document, generated from the handlers' own types (utoipa).

use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

use crate::{admin, enrol_api, public};

#[derive(OpenApi)]
#[openapi(
    info(title = "carecert", description = "Certificate lifecycle platform: CA, OCSP, CRL and the admin API."),
    paths(
        public::healthz, public::ca_list, public::ca_file, public::crl_file, public::ocsp_post, public::ocsp_get, public::metrics,
        admin::issue, admin::list, admin::show, admin::revoke, admin::audit_list, admin::audit_verify,
        enrol_api::login, enrol_api::logout, enrol_api::updates, enrol_api::create_request, enrol_api::list_requests,
        enrol_api::show_request, enrol_api::download, enrol_api::installed, enrol_api::cancel, enrol_api::renew, enrol_api::gate,
        enrol_api::add_org, enrol_api::list_orgs, enrol_api::show_org, enrol_api::change_org, enrol_api::issue_pin,
        enrol_api::admin_requests, enrol_api::approve, enrol_api::deny, enrol_api::add_release, enrol_api::list_releases,
    ),
    components(schemas(crate::ErrorBody)),
    modifiers(&Bearer),
    tags((name = "public", description = "Served on HTTPS and (except metrics) plain HTTP"), (name = "admin", description = "Operators and RA staff; bearer token"), (name = "ecmt", description = "The machine-certificate client; session bearer token or mutual TLS"), (name = "message-store", description = "The gate: mutual TLS"))
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

/// The whole API described, as JSON.
pub fn openapi_json() -> String {
    ApiDoc::openapi().to_pretty_json().unwrap_or_else(|_| "{}".into())
}
