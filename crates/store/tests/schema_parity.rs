//! The SQLite and the PostgreSQL migrations define the same schema: the same tables, the
//! same columns, compatible column types and the same nullability. Both migration sets are
//! applied to fresh databases (SQLite in memory; PostgreSQL at CARECERT_TEST_PG_URL, default
//! postgres://postgres@127.0.0.1:5432/postgres) and the catalogues are compared; a failure
//! lists every difference. Whatever migrations exist are applied, so a migration added to one
//! engine only fails here.
//!
//! PostgreSQL must be reachable (the test fails, never skips) unless CARECERT_SKIP_PG=1.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a failed assumption is a failed test

use std::collections::BTreeMap;

/// One column as both engines can describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Column {
    /// The declared type, as the engine reports it.
    declared: String,
    /// The type family (see [`family`]).
    family: &'static str,
    not_null: bool,
}

/// Table → column → description.
type Schema = BTreeMap<String, BTreeMap<String, Column>>;

/// The family of a column type, for comparing SQLite's declared types with PostgreSQL's
/// (SQLite's type affinity rules, §3.1 of its datatype page, applied to both).
fn family(declared: &str) -> &'static str {
    let t = declared.to_ascii_lowercase();
    if t.contains("bool") {
        "boolean"
    } else if t.contains("int") {
        "integer"
    } else if t.contains("char") || t.contains("text") || t.contains("clob") {
        "text"
    } else if t.contains("blob") || t.contains("bytea") {
        "bytes"
    } else if t.contains("real") || t.contains("floa") || t.contains("doub") || t.contains("numeric") {
        "number"
    } else if t.contains("json") {
        "json"
    } else if t.contains("time") || t.contains("date") {
        "time"
    } else {
        "other"
    }
}

fn column(declared: String, not_null: bool) -> Column {
    Column { family: family(&declared), declared, not_null }
}

async fn sqlite_schema() -> Schema {
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect("sqlite::memory:")
        .await
        .expect("open an in-memory SQLite database");
    sqlx::migrate!("./migrations/sqlite").run(&pool).await.expect("apply the SQLite migrations");
    // A PRIMARY KEY column that is not an INTEGER PRIMARY KEY accepts NULL in SQLite only
    // by a historical bug; carecert never stores one, and PostgreSQL makes it NOT NULL.
    let rows: Vec<(String, String, String, i64)> = sqlx::query_as(
        "SELECT m.name, p.name, p.type, (p.\"notnull\" OR p.pk > 0) \
         FROM sqlite_master m JOIN pragma_table_info(m.name) p \
         WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> '_sqlx_migrations' \
         ORDER BY m.name, p.cid",
    )
    .fetch_all(&pool)
    .await
    .expect("read the SQLite catalogue");
    let mut schema = Schema::new();
    for (table, name, declared, not_null) in rows {
        schema.entry(table).or_default().insert(name, column(declared, not_null != 0));
    }
    schema
}

async fn postgres_schema(url: &str) -> Schema {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await
        .expect("connect to the PostgreSQL test database");
    sqlx::migrate!("./migrations/postgres").run(&pool).await.expect("apply the PostgreSQL migrations");
    let rows: Vec<(String, String, String, bool)> = sqlx::query_as(
        "SELECT c.table_name::text, c.column_name::text, c.data_type::text, c.is_nullable = 'NO' \
         FROM information_schema.columns c \
         JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name \
         WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE' \
           AND c.table_name <> '_sqlx_migrations' \
         ORDER BY c.table_name, c.ordinal_position",
    )
    .fetch_all(&pool)
    .await
    .expect("read the PostgreSQL catalogue");
    pool.close().await;
    let mut schema = Schema::new();
    for (table, name, declared, not_null) in rows {
        schema.entry(table).or_default().insert(name, column(declared, not_null));
    }
    schema
}

/// Every difference between the two schemas, one line each.
fn differences(sqlite: &Schema, postgres: &Schema) -> Vec<String> {
    let mut out = Vec::new();
    for table in sqlite.keys().filter(|t| !postgres.contains_key(*t)) {
        out.push(format!("table {table}: only in the SQLite migrations"));
    }
    for table in postgres.keys().filter(|t| !sqlite.contains_key(*t)) {
        out.push(format!("table {table}: only in the PostgreSQL migrations"));
    }
    for (table, lite) in sqlite {
        let Some(pg) = postgres.get(table) else { continue };
        for name in lite.keys().filter(|c| !pg.contains_key(*c)) {
            out.push(format!("column {table}.{name}: only in the SQLite migrations"));
        }
        for name in pg.keys().filter(|c| !lite.contains_key(*c)) {
            out.push(format!("column {table}.{name}: only in the PostgreSQL migrations"));
        }
        for (name, l) in lite {
            let Some(p) = pg.get(name) else { continue };
            if l.family != p.family {
                out.push(format!(
                    "column {table}.{name}: type {} ({}) in SQLite but {} ({}) in PostgreSQL",
                    l.declared, l.family, p.declared, p.family
                ));
            }
            if l.not_null != p.not_null {
                let says = |n: bool| if n { "NOT NULL" } else { "nullable" };
                out.push(format!(
                    "column {table}.{name}: {} in SQLite but {} in PostgreSQL",
                    says(l.not_null),
                    says(p.not_null)
                ));
            }
        }
    }
    out
}

#[tokio::test]
async fn sqlite_and_postgres_migrations_define_the_same_tables_and_columns() {
    let dir = tempfile::tempdir().unwrap();
    let Some((url, _guard)) = testkit::database(testkit::Engine::Postgres, &dir) else { return };
    let sqlite = sqlite_schema().await;
    let postgres = postgres_schema(&url).await;
    assert!(!sqlite.is_empty(), "the SQLite migrations created no table");
    let diff = differences(&sqlite, &postgres);
    assert!(
        diff.is_empty(),
        "the SQLite and PostgreSQL migrations disagree ({} difference(s)):\n  {}",
        diff.len(),
        diff.join("\n  ")
    );
    let columns: usize = sqlite.values().map(BTreeMap::len).sum();
    eprintln!("schema parity: {} tables, {columns} columns, same on both engines", sqlite.len());
}

#[test]
fn a_difference_is_listed() {
    let mut a = Schema::new();
    a.entry("t".into()).or_default().insert("id".into(), column("BIGINT".into(), true));
    a.entry("t".into()).or_default().insert("extra".into(), column("TEXT".into(), false));
    a.entry("only_here".into()).or_default().insert("x".into(), column("TEXT".into(), true));
    let mut b = Schema::new();
    b.entry("t".into()).or_default().insert("id".into(), column("text".into(), false));
    let diff = differences(&a, &b);
    assert_eq!(
        diff,
        [
            "table only_here: only in the SQLite migrations",
            "column t.extra: only in the SQLite migrations",
            "column t.id: type BIGINT (integer) in SQLite but text (text) in PostgreSQL",
            "column t.id: NOT NULL in SQLite but nullable in PostgreSQL",
        ]
    );
    assert!(differences(&a, &a).is_empty());
}
