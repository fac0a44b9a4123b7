//! Roles on both engines: a role is exactly one role, so `clinician,ra`, `ra ` and ` ra`
//! are refused with a message naming the allowed roles and no account is created; roles
//! are stored as a list of role texts; the migration converts comma-joined lists.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a failed assumption is a failed test

use std::sync::Arc;

use portal::{PortalError, Role, Web, WebConfig};
use testkit::{DbGuard, Engine, database, on_both_engines};
use types::ManualClock;

const NOW: i64 = 1_795_000_000; // 2026-11-17

struct World {
    _dir: tempfile::TempDir,
    _db: DbGuard,
    url: String,
    store: store::Store,
    web: Web,
}

async fn world(engine: Engine) -> Option<World> {
    let dir = tempfile::tempdir().unwrap();
    let (url, guard) = database(engine, &dir)?;
    let store = store::Store::open(&url).await.unwrap();
    let web = Web::new(store.clone(), Arc::new(ManualClock::new(NOW)), WebConfig::default());
    Some(World { _dir: dir, _db: guard, url, store, web })
}

/// What the portal administrator's form does with the role field: `portal:` and the text
/// typed, parsed as exactly one role.
fn portal_form_role(typed: &str) -> Result<Role, portal::RoleError> {
    format!("portal:{}", typed.strip_prefix("portal:").unwrap_or(typed)).parse()
}

async fn role_lists_and_padded_roles_are_refused_and_create_nothing(engine: Engine) {
    let Some(w) = world(engine).await else { return };
    for typed in ["clinician,ra", "ra ", " ra", "clinician, ra", ""] {
        // As the admin API and the CLI send it (the whole role text) …
        let e = typed.parse::<Role>().unwrap_err();
        assert!(e.to_string().contains("ra, operator or portal:NAME"), "{typed:?}: {e}");
        // … and as the portal administrator's form sends it.
        let e = portal_form_role(typed).unwrap_err();
        assert!(e.to_string().contains("is not a role"), "{typed:?}: {e}");
    }
    assert!(w.store.web_account("mallory").await.unwrap().is_none(), "no account was created");
    // No roles at all: refused by the service too.
    let e = w.web.add_account("mallory", "M", Some("66"), &[], None, "web:pam").await.unwrap_err();
    assert!(matches!(e, PortalError::BadInput(ref m) if m.contains("at least one role")), "{e}");
    assert!(w.store.web_account("mallory").await.unwrap().is_none());
}

async fn roles_are_stored_as_a_list_of_single_roles(engine: Engine) {
    let Some(w) = world(engine).await else { return };
    let roles = [portal_form_role("clinician").unwrap(), Role::portal_admin(), portal_form_role("clinician").unwrap()];
    let a = w.web.add_account("ada", "Dr Ada Jones", Some("12"), &roles, None, "admin:admin").await.unwrap();
    assert_eq!(a.account.roles.len(), 2, "duplicates dropped");
    let back = w.store.web_account("ada").await.unwrap().unwrap();
    assert_eq!(back.roles, a.account.roles);
    assert_eq!(serde_json::to_string(&back.roles).unwrap(), r#"["portal:clinician","portal:admin"]"#);
    // A card UID finds the same account.
    assert_eq!(w.store.web_account_by_uid("12").await.unwrap().unwrap().username, "ada");
}

/// Runs `sql` on the database behind `url`.
async fn raw(url: &str, sql: &str) {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string())).execute(&pool).await.unwrap();
    pool.close().await;
}

async fn the_migration_turns_comma_joined_roles_into_lists(engine: Engine) {
    let Some(w) = world(engine).await else { return };
    // Rows as the old code wrote them.
    raw(
        &w.url,
        "INSERT INTO web_accounts (username, name, uid, roles, created_at) VALUES \
         ('old1', 'Old One', NULL, 'portal:clinician,portal:admin', 1), \
         ('old2', 'Old Two', NULL, 'ra,', 1), \
         ('new1', 'New One', NULL, '[\"operator\"]', 1)",
    )
    .await;
    // Reading a comma-joined list without the migration is refused, never split.
    let e = w.store.web_account("old1").await.unwrap_err();
    assert!(matches!(e, store::StoreError::Corrupt(_)), "{e}");
    let migration = match engine {
        Engine::Sqlite => include_str!("../../store/migrations/sqlite/0007_roles_json.sql"),
        Engine::Postgres => include_str!("../../store/migrations/postgres/0007_roles_json.sql"),
    };
    raw(&w.url, migration).await;
    let roles = |u: &'static str| {
        let store = w.store.clone();
        async move { store.web_account(u).await.unwrap().unwrap().roles.iter().map(|r| r.to_string()).collect::<Vec<_>>() }
    };
    assert_eq!(roles("old1").await, ["portal:clinician", "portal:admin"]);
    assert_eq!(roles("old2").await, ["ra"]);
    assert_eq!(roles("new1").await, ["operator"], "lists are left alone");
}

async fn sessions_open_only_with_a_role_of_the_account_for_the_area(engine: Engine) {
    let Some(w) = world(engine).await else { return };
    let a = w
        .web
        .add_account("pam", "Pam", None, &[Role::portal_admin()], Some("a long enough password"), "admin:admin")
        .await
        .unwrap();
    let login = w.web.password_login(portal::Area::Portal, "pam", "a long enough password", None, None).await.unwrap();
    assert_eq!(login.role, "portal:admin");
    // A role the account does not hold, or a list smuggled in as one role: no session.
    for asked in ["ra", "portal:admin,ra", "portal:clinician"] {
        let e = w.web.open(portal::Area::Portal, &a.account, asked.parse().ok().as_ref(), None).await;
        assert!(matches!(e, Err(PortalError::NoRole)) || asked.parse::<Role>().is_err(), "{asked}");
        let e = w.web.choose_role(&login.token, asked).await.unwrap_err();
        assert!(matches!(e, PortalError::NoRole), "{asked}: {e}");
    }
    let s = w.web.session(portal::Area::Portal, &login.token).await.unwrap();
    assert_eq!(s.role, Role::portal_admin());
    // The RA console is not opened by a portal role.
    let e = w.web.password_login(portal::Area::Ra, "pam", "a long enough password", Some("123456"), None).await;
    assert!(e.is_err());
}

on_both_engines!(
    role_lists_and_padded_roles_are_refused_and_create_nothing,
    roles_are_stored_as_a_list_of_single_roles,
    the_migration_turns_comma_joined_roles_into_lists,
    sessions_open_only_with_a_role_of_the_account_for_the_area,
);
