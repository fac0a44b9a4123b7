//! Pages fail closed: when a database query fails, the RA console shows an error page with a
//! 5xx status and a clear message — never a dashboard of zeros.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a failed assumption is a failed test

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use tower::ServiceExt;

const PASS: &[u8] = b"test passphrase";

/// A server over a fresh SQLite database, and an RA console session cookie.
async fn server(dir: &tempfile::TempDir) -> (axum::Router, String, String) {
    let url = format!("sqlite://{}/carecert.db", dir.path().display());
    let store = store::Store::open(&url).await.unwrap();
    let opts = ca::InitOptions {
        passphrase: PASS.to_vec(),
        public_url: "http://ca.test".into(),
        key_algorithm: pki::KeyAlgorithm::EcdsaP256,
        organization: "Test".into(),
        actor: "test".into(),
    };
    ca::init_hierarchy(&store, &ca::SystemClock, &opts).await.unwrap();
    let authority = ca::Authority::load(store.clone(), PASS, Arc::new(ca::SystemClock), ca::AuthorityConfig::default())
        .await
        .unwrap();
    let enrolment = enrol::Enrolment::new(
        store.clone(),
        authority.clone(),
        authority.clock().clone(),
        enrol::EnrolConfig::default(),
    );
    let cards = cards::Cards::new(
        store.clone(),
        authority.clone(),
        authority.clock().clone(),
        cards::CardsConfig::default(),
        PASS,
    )
    .unwrap();
    let web = portal::Web::new(store.clone(), authority.clock().clone(), portal::WebConfig::default());
    web.add_account("ra.one", "RA One", Some("4242"), &[portal::Role::Ra], None, "admin:test").await.unwrap();
    let ticket = web.issue_ticket("4242", "CARD-1").await.unwrap();
    let (login, _) = web.redeem_ticket(portal::Area::Ra, &ticket).await.unwrap();
    let state: server::AppState =
        server::Services::new(authority, store::StoreRead::new(store.clone()), enrolment, cards, web).into();
    (server::https_router(state), format!("__Host-carecert_ra={}", login.token), url)
}

async fn get(app: &axum::Router, path: &str, cookie: &str) -> (StatusCode, String) {
    let req = Request::get(path).header(header::COOKIE, cookie).body(Body::empty()).unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn the_dashboard_shows_an_error_page_not_zeros_when_the_database_fails() {
    let dir = tempfile::tempdir().unwrap();
    let (app, cookie, url) = server(&dir).await;

    let (status, body) = get(&app, "/ra/", &cookie).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains(r#"id="locked""#), "{body}");

    // The cards table disappears under the running server (a schema drift, a failed restore).
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::query("ALTER TABLE cards RENAME TO cards_gone").execute(&pool).await.unwrap();

    let (status, body) = get(&app, "/ra/", &cookie).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(body.contains("the database did not complete the request"), "{body}");
    assert!(!body.contains("Locked cards") && !body.contains("Pending requests"), "{body}");
}

#[tokio::test]
async fn the_organisations_page_shows_an_error_page_when_the_database_fails() {
    let dir = tempfile::tempdir().unwrap();
    let (app, cookie, url) = server(&dir).await;
    let (status, _) = get(&app, "/ra/orgs", &cookie).await;
    assert_eq!(status, StatusCode::OK);

    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::query("ALTER TABLE organisations RENAME TO organisations_gone").execute(&pool).await.unwrap();

    let (status, body) = get(&app, "/ra/orgs", &cookie).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(body.contains("the database did not complete the request"), "{body}");
    assert!(!body.contains("<tbody>"), "{body}");
}
