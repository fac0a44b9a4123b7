//! Organisations (add, PIN letters) and client releases (minimum versions).

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;

use crate::error::ApiError;
use types::Permission;

use crate::authz::allow_session;
use crate::state::AppState;
use crate::web::forms::{CsrfForm, RaForm, RaUser, has_csrf, urlencode};
use crate::web::layout::{failure_page, form_refused};
use crate::web::notice::Notice;
use crate::web::ra::ra_page as page;

has_csrf!(OrgForm, ReleaseForm);

pub(crate) async fn orgs(State(s): State<AppState>, RaUser(session): RaUser, notice: Notice) -> Response {
    let list = match s.enrol.organisations().await {
        Ok(l) => l,
        Err(e) => return failure_page(e),
    };
    page(
        StatusCode::OK,
        "Organisations",
        Some(&session),
        html! {
            (notice)
            table {
                thead { tr { th { "EPOC" } th { "Name" } th { "Kind" } th { "Status" } th { "Approval" } th { "PIN letter" } } }
                tbody {
                    @for o in &list {
                        tr id=(format!("org-{}", o.epoc)) {
                            td { (o.epoc) } td { (o.name) } td { (o.kind) } td { (o.status) } td { (o.approval) }
                            td { form method="post" action=(format!("/ra/orgs/{}/pin-letter", o.epoc)) {
                                input type="hidden" name="csrf" value=(session.csrf_token);
                                button type="submit" { "Issue PIN letter (PDF)" }
                            } }
                        }
                    }
                }
            }
            h2 { "Add an organisation" }
            form method="post" action="/ra/orgs" {
                input type="hidden" name="csrf" value=(session.csrf_token);
                label { "EPOC " input name="epoc" required pattern="[0-9]{1,12}"; } " "
                label { "Name " input name="name" required maxlength="64"; } " "
                label { "Kind " select name="kind" { option { "pharmacy" } option { "gp" } option { "dental" } option { "ophthalmic" } } } " "
                label { "Approval " select name="approval" { option { "ra-queue" } option { "automatic" } } } " "
                button type="submit" { "Add" }
            }
        },
    )
}

#[derive(Deserialize)]
pub(crate) struct OrgForm {
    #[serde(default)]
    csrf: String,
    epoc: String,
    name: String,
    kind: String,
    approval: String,
}

pub(crate) async fn add_org(State(s): State<AppState>, RaForm(session, f): RaForm<OrgForm>) -> Response {
    let actor = match allow_session(
        &s,
        &session,
        Permission::ManageOrganisations,
        Some(&f.epoc),
        &format!("organisation/{}", f.epoc),
    )
    .await
    {
        Ok(a) => a,
        Err(e) => return form_refused(&session, e, "/ra/orgs"),
    };
    let result = match (f.kind.parse(), f.approval.parse()) {
        (Ok(kind), Ok(approval)) => {
            s.enrol.add_organisation(&f.epoc, &f.name, kind, approval, &actor).await.map_err(ApiError::from)
        }
        _ => Err(ApiError::bad_request("invalid", "choose a kind and an approval policy from the lists")),
    };
    match result {
        Ok(o) => Redirect::to(&format!("/ra/orgs?done=org_added&epoc={}", urlencode(&o.epoc))).into_response(),
        Err(e) => form_refused(&session, e, "/ra/orgs"),
    }
}

pub(crate) async fn pin_letter(
    State(s): State<AppState>,
    Path(epoc): Path<String>,
    RaForm(session, _form): RaForm<CsrfForm>,
) -> Response {
    let actor =
        match allow_session(&s, &session, Permission::IssuePins, Some(&epoc), &format!("organisation/{epoc}")).await {
            Ok(a) => a,
            Err(e) => return form_refused(&session, e, "/ra/orgs"),
        };
    match s.enrol.issue_pin(&epoc, &actor).await {
        Ok(p) => {
            let name = format!("attachment; filename=\"pin-letter-{}.pdf\"", p.letter.epoc);
            let mut resp = (StatusCode::OK, p.pdf).into_response();
            let h = resp.headers_mut();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/pdf"));
            if let Ok(v) = HeaderValue::from_str(&name) {
                h.insert(header::CONTENT_DISPOSITION, v);
            }
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            resp
        }
        Err(e) => form_refused(&session, e, "/ra/orgs"),
    }
}

pub(crate) async fn releases(State(s): State<AppState>, RaUser(session): RaUser, notice: Notice) -> Response {
    let mut all = Vec::new();
    for product in ["ecmt", "carecert-agent"] {
        match s.enrol.releases(product).await {
            Ok(r) => all.extend(r),
            Err(e) => return failure_page(e),
        }
    }
    page(
        StatusCode::OK,
        "Releases and minimum versions",
        Some(&session),
        html! {
            (notice)
            table {
                thead { tr { th { "Product" } th { "Version" } th { "Minimum" } th { "Download" } th { "Notes" } } }
                tbody { @for r in &all { tr { td { (r.product) } td { (r.version) } td { @if r.minimum { "yes" } } td { (r.url) } td { (r.notes) } } } }
            }
            h2 { "Register a release" }
            form method="post" action="/ra/releases" {
                input type="hidden" name="csrf" value=(session.csrf_token);
                label { "Product " select name="product" { option { "ecmt" } option { "carecert-agent" } } } " "
                label { "Version " input name="version" required placeholder="1.4.2"; } " "
                label { input type="checkbox" name="minimum" value="true"; " minimum supported" } " "
                label { "Download URL " input name="url" required; } " "
                label { "SHA-256 " input name="sha256" required pattern="[0-9a-fA-F]{64}"; } " "
                label { "Notes " input name="notes"; } " "
                button type="submit" { "Register" }
            }
        },
    )
}

#[derive(Deserialize)]
pub(crate) struct ReleaseForm {
    #[serde(default)]
    csrf: String,
    product: String,
    version: String,
    #[serde(default)]
    minimum: Option<String>,
    url: String,
    sha256: String,
    #[serde(default)]
    notes: String,
}

pub(crate) async fn add_release(State(s): State<AppState>, RaForm(session, f): RaForm<ReleaseForm>) -> Response {
    let actor = match allow_session(&s, &session, Permission::ManageReleases, None, "releases").await {
        Ok(a) => a,
        Err(e) => return form_refused(&session, e, "/ra/releases"),
    };
    match s.enrol.add_release(&f.product, &f.version, f.minimum.is_some(), &f.url, &f.sha256, &f.notes, &actor).await {
        Ok(r) => Redirect::to(&format!(
            "/ra/releases?done=release_added&product={}&version={}",
            urlencode(&r.product),
            urlencode(&r.version)
        ))
        .into_response(),
        Err(e) => form_refused(&session, e, "/ra/releases"),
    }
}
