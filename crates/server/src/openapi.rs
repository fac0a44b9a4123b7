//! The OpenAPI document, generated from the handlers' own types (utoipa).

use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

use crate::{admin, cards_api, enrol_api, portal_pages, public};

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
        cards_api::card_status, cards_api::login_challenge, cards_api::open_session, cards_api::passcode_failed,
        cards_api::send_code, cards_api::unlock, cards_api::sponsor_challenge, cards_api::sponsor_unlock,
        cards_api::start_renewal, cards_api::renew_certificate, cards_api::complete_renewal, cards_api::abort_renewal,
        cards_api::add_user, cards_api::show_user, cards_api::issue_card, cards_api::ra_unlock, cards_api::cancel_card,
        cards_api::ra_renewal, cards_api::add_sponsor, cards_api::set_batch, cards_api::add_web_account,
        portal_pages::ticket, portal_pages::presence,
    ),
    components(schemas(crate::ErrorBody)),
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

/// The whole API described, as JSON.
pub fn openapi_json() -> String {
    ApiDoc::openapi().to_pretty_json().unwrap_or_else(|_| "{}".into())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_document_describes_every_json_api_area() {
        let doc: serde_json::Value = serde_json::from_str(&super::openapi_json()).unwrap();
        let paths = doc["paths"].as_object().unwrap();
        for p in [
            "/ocsp",
            "/api/v1/admin/certificates",
            "/api/v1/sessions",
            "/api/v1/requests/{id}/certificate",
            "/api/v1/renewals",
            "/message-store/messages",
            "/api/v1/cards/{serial}/sessions",
            "/api/v1/cards/{serial}/unlock",
            "/api/v1/card-renewals/{id}/certificates",
            "/api/v1/admin/cards",
            "/api/v1/admin/web-accounts",
            "/api/v1/portal/tickets",
            "/api/v1/portal/presence",
        ] {
            assert!(paths.contains_key(p), "{p} missing from the OpenAPI document");
        }
        assert!(paths.len() >= 50, "{} paths", paths.len());
    }
}
