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
use crate::web::ra::ra_page_crumbs as page_crumbs;

has_csrf!(OrgForm, ReleaseForm);

pub(crate) async fn orgs(State(s): State<AppState>, RaUser(session): RaUser, notice: Notice) -> Response {
    let list = match s.enrol.organisations().await {
        Ok(l) => l,
        Err(e) => return failure_page(e),
    };
    page_crumbs(
        StatusCode::OK,
        "Organisations",
        Some(&session),
        &[("/ra/", "RA console")],
        html! {
            (notice)
            table.nhsuk-table {
                thead.nhsuk-table__head { tr.nhsuk-table__row { th.nhsuk-table__header { "EPOC" } th.nhsuk-table__header { "Name" } th.nhsuk-table__header { "Kind" } th.nhsuk-table__header { "Status" } th.nhsuk-table__header { "Approval" } th.nhsuk-table__header { "PIN letter" } } }
                tbody.nhsuk-table__body {
                    @for o in &list {
                        tr.nhsuk-table__row id=(format!("org-{}", o.epoc)) {
                            td.nhsuk-table__cell { (o.epoc) } td.nhsuk-table__cell { (o.name) } td.nhsuk-table__cell { (o.kind) } td.nhsuk-table__cell { (o.status) } td.nhsuk-table__cell { (o.approval) }
                            td.nhsuk-table__cell { form method="post" action=(format!("/ra/orgs/{}/pin-letter", o.epoc)) {
                                input type="hidden" name="csrf" value=(session.csrf_token);
                                button.nhsuk-button type="submit" { "Issue PIN letter (PDF)" }
                            } }
                        }
                    }
                }
            }
            h2 { "Add an organisation" }
            form method="post" action="/ra/orgs" {
                input type="hidden" name="csrf" value=(session.csrf_token);
                label.nhsuk-label { "EPOC " input.nhsuk-input name="epoc" required pattern="[0-9]{1,12}"; } " "
                label.nhsuk-label { "Name " input.nhsuk-input name="name" required maxlength="64"; } " "
                label.nhsuk-label { "Kind " select.nhsuk-select name="kind" { option { "pharmacy" } option { "gp" } option { "dental" } option { "ophthalmic" } } } " "
                label.nhsuk-label { "Approval " select.nhsuk-select name="approval" { option { "ra-queue" } option { "automatic" } } } " "
                button.nhsuk-button type="submit" { "Add" }
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
    page_crumbs(
        StatusCode::OK,
        "Releases and minimum versions",
        Some(&session),
        &[("/ra/", "RA console")],
        html! {
            (notice)
            table.nhsuk-table {
                thead.nhsuk-table__head { tr.nhsuk-table__row { th.nhsuk-table__header { "Product" } th.nhsuk-table__header { "Version" } th.nhsuk-table__header { "Minimum" } th.nhsuk-table__header { "Download" } th.nhsuk-table__header { "Notes" } } }
                tbody.nhsuk-table__body { @for r in &all { tr.nhsuk-table__row { td.nhsuk-table__cell { (r.product) } td.nhsuk-table__cell { (r.version) } td.nhsuk-table__cell { @if r.minimum { "yes" } } td.nhsuk-table__cell { (r.url) } td.nhsuk-table__cell { (r.notes) } } } }
            }
            h2 { "Register a release" }
            form method="post" action="/ra/releases" {
                input type="hidden" name="csrf" value=(session.csrf_token);
                label.nhsuk-label { "Product " select.nhsuk-select name="product" { option { "ecmt" } option { "carecert-agent" } } } " "
                label.nhsuk-label { "Version " input.nhsuk-input name="version" required placeholder="1.4.2"; } " "
                label.nhsuk-label { input type="checkbox" name="minimum" value="true"; " minimum supported" } " "
                label.nhsuk-label { "Download URL " input.nhsuk-input name="url" required; } " "
                label.nhsuk-label { "SHA-256 " input.nhsuk-input name="sha256" required pattern="[0-9a-fA-F]{64}"; } " "
                label.nhsuk-label { "Notes " input.nhsuk-input name="notes"; } " "
                button.nhsuk-button type="submit" { "Register" }
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
