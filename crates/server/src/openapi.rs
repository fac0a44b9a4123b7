//! The OpenAPI document, generated from the handlers' own types (utoipa).

use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

use crate::{admin, public};

#[derive(OpenApi)]
#[openapi(
    info(title = "carecert", description = "Certificate lifecycle platform: CA, OCSP, CRL and the admin API."),
    paths(
        public::healthz, public::ca_list, public::ca_file, public::crl_file, public::ocsp_post, public::ocsp_get, public::metrics,
        admin::issue, admin::list, admin::show, admin::revoke, admin::audit_list, admin::audit_verify,
    ),
    components(schemas(crate::ErrorBody)),
    modifiers(&Bearer),
    tags((name = "public", description = "Served on HTTPS and (except metrics) plain HTTP"), (name = "admin", description = "Operators; bearer token"))
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
