//! The OpenAPI document is the route table's own description: these tests pin it.
//!
//! - `the_document_matches_the_snapshot`: the generated document equals `tests/openapi.json`.
//!   After a deliberate API change, update the snapshot with
//!   `UPDATE_SNAPSHOTS=1 cargo test -p server --test openapi_snapshot` and review the diff.
//! - `every_route_in_the_source_is_described`: a route added with a plain `.route("…")`
//!   anywhere in the crate (instead of `routes!()` in `openapi.rs`) fails unless it is a
//!   page of the HTML wing (`/ra…`, `/portal…`).
//! - `every_response_with_a_body_has_a_schema`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a failed assumption is a failed test

use std::path::{Path, PathBuf};

fn document() -> serde_json::Value {
    serde_json::from_str(&server::openapi_json()).expect("the document is JSON")
}

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn the_document_matches_the_snapshot() {
    let snapshot = crate_dir().join("tests/openapi.json");
    let now = server::openapi_json();
    if std::env::var("UPDATE_SNAPSHOTS").as_deref() == Ok("1") {
        std::fs::write(&snapshot, format!("{now}\n")).expect("write the snapshot");
        return;
    }
    let then = std::fs::read_to_string(&snapshot).unwrap_or_default();
    if then.trim_end() != now.trim_end() {
        let first = then.lines().zip(now.lines()).position(|(a, b)| a != b).unwrap_or(then.lines().count());
        let show = |text: &str| text.lines().skip(first.saturating_sub(3)).take(8).collect::<Vec<_>>().join("\n");
        panic!(
            "the OpenAPI document differs from the snapshot {} (first difference at line {}):\n--- snapshot\n{}\n--- now\n{}\n\n\
             If the API change is intended, update the snapshot and review its diff:\n    \
             UPDATE_SNAPSHOTS=1 cargo test -p server --test openapi_snapshot\n",
            snapshot.display(),
            first + 1,
            show(&then),
            show(&now),
        );
    }
}

/// Every `.route("PATH"` literal in the crate's sources, with the file it is in.
fn route_literals(dir: &Path, out: &mut Vec<(String, String)>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).expect("read src").flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            route_literals(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&p).expect("read a source file");
            // `.route(` possibly followed by a line break, then the path literal.
            let squeezed: String = text.split_whitespace().collect::<Vec<_>>().join("");
            for (i, _) in squeezed.match_indices(".route(\"") {
                let rest = &squeezed[i + ".route(\"".len()..];
                if let Some(end) = rest.find('"') {
                    out.push((rest[..end].to_string(), p.display().to_string()));
                }
            }
        }
    }
}

/// The document's form of an axum path: `{*rest}` is `{rest}`.
fn as_documented(path: &str) -> String {
    path.replace("{*", "{")
}

#[test]
fn every_route_in_the_source_is_described() {
    let doc = document();
    let paths = doc["paths"].as_object().expect("paths");
    let mut literals = Vec::new();
    route_literals(&crate_dir().join("src"), &mut literals);
    assert!(literals.iter().any(|(p, _)| p == "/ra/login"), "the scan finds the page routes: {literals:?}");
    let undescribed: Vec<_> = literals
        .iter()
        .filter(|(p, _)| !(p.starts_with("/ra") || p.starts_with("/portal") || p.starts_with("/assets/")))
        .filter(|(p, _)| !paths.contains_key(&as_documented(p)))
        .collect();
    assert!(
        undescribed.is_empty(),
        "routes served but missing from /api/v1/openapi.json: {undescribed:?}\n\
         register JSON handlers in crates/server/src/openapi.rs with `.routes(routes!(handler))`, \
         not with `.route(\"…\", …)`; only HTML pages under /ra and /portal and their files under /assets/ are routed by hand"
    );
}

#[test]
fn every_response_with_a_body_has_a_schema() {
    let doc = document();
    let mut missing = Vec::new();
    for (path, ops) in doc["paths"].as_object().expect("paths") {
        for (method, op) in ops.as_object().expect("operations") {
            for (status, resp) in op["responses"].as_object().into_iter().flatten() {
                if status == "204" {
                    assert!(resp.get("content").is_none(), "{method} {path} {status} has a body");
                    continue;
                }
                let schemas = resp["content"]
                    .as_object()
                    .map(|c| c.values().all(|m| m.get("schema").is_some()) && !c.is_empty())
                    .unwrap_or(false);
                if !schemas {
                    missing.push(format!("{method} {path} {status}"));
                }
            }
        }
    }
    assert!(missing.is_empty(), "responses without a schema: {missing:#?}");
}

#[test]
fn the_document_describes_every_json_api_area() {
    let doc = document();
    let paths = doc["paths"].as_object().expect("paths");
    for p in [
        "/ocsp",
        "/ocsp/{request}",
        "/api/v1/openapi.json",
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
}
