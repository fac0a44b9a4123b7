#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! A 201 means stored: the server is killed with SIGKILL in the middle of an issuance load,
//! started again on the same database, and every certificate that was answered 201 must be
//! there, issued, with the very bytes that were handed out; the audit chain must verify.

mod common;

use std::collections::HashMap;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Server, text};

/// A load client: every certificate it was answered 201 for, as (serial, certificate PEM).
type Client = std::thread::JoinHandle<Vec<(String, String)>>;

/// Issues certificates from `threads` clients until told to stop.
fn load(s: &Server, threads: usize, stop: Arc<AtomicBool>, ok: Arc<AtomicUsize>) -> Vec<Client> {
    let (_, csr) = s.openssl_csr("durable", &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]);
    let body = serde_json::json!({
        "ca": "systems",
        "profile": "system-client",
        "csr": std::fs::read_to_string(csr).unwrap(),
        "subject": {"common_name": "durable"},
    });
    let body_file = s.path("issue-body.json");
    std::fs::write(&body_file, body.to_string()).unwrap();
    let url = format!("{}/api/v1/admin/certificates", s.https);
    let auth = format!("Authorization: Bearer {}", s.token());
    (0..threads)
        .map(|_| {
            let (stop, ok, url, auth, body_file) =
                (stop.clone(), ok.clone(), url.clone(), auth.clone(), body_file.clone());
            std::thread::spawn(move || {
                let mut answered = vec![];
                while !stop.load(Ordering::Relaxed) {
                    let out = Command::new("curl")
                        .args(["-sk", "--max-time", "10", "-o", "-", "-w", "\n%{http_code}", "-H", &auth])
                        .args(["-H", "Content-Type: application/json", "--data-binary"])
                        .arg(format!("@{}", body_file.display()))
                        .arg(&url)
                        .output()
                        .unwrap();
                    let text = String::from_utf8_lossy(&out.stdout).to_string();
                    let Some((body, code)) = text.rsplit_once('\n') else { continue };
                    // Only a whole answer hands a certificate over: a server killed between
                    // the status line and the body leaves curl with "201" and a cut body
                    // (curl exits non-zero), and that client holds no certificate.
                    if code.trim() == "201" && out.status.success() {
                        let v: serde_json::Value = serde_json::from_str(body).unwrap();
                        answered.push((
                            v["serial"].as_str().unwrap().to_string(),
                            v["certificate_pem"].as_str().unwrap().to_string(),
                        ));
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                }
                answered
            })
        })
        .collect()
}

fn killed_during_load_keeps_every_201(database: Option<String>) {
    let mut s = Server::start_with(database);
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicUsize::new(0));
    let clients = load(&s, 8, stop.clone(), ok.clone());
    // Let the load run until certificates are flowing, then kill mid-flight.
    let started = Instant::now();
    while ok.load(Ordering::Relaxed) < 60 {
        assert!(started.elapsed() < Duration::from_secs(120), "no issuance load: {}", s.log());
        std::thread::sleep(Duration::from_millis(20));
    }
    s.kill9();
    stop.store(true, Ordering::Relaxed);
    let answered: Vec<(String, String)> = clients.into_iter().flat_map(|h| h.join().unwrap()).collect();
    assert!(answered.len() >= 60, "only {} certificates were answered 201", answered.len());

    // Start again on the same data directory and database.
    s.launch();
    let (code, body) = s.api("GET", "/api/v1/admin/certificates?status=issued&limit=10000", None, "");
    assert_eq!(code, 200, "{body}");
    let stored: HashMap<String, String> = serde_json::from_str::<serde_json::Value>(&body)
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["serial"].as_str().unwrap().to_string(), c["certificate_pem"].as_str().unwrap_or("").to_string()))
        .collect();
    for (serial, pem) in &answered {
        let kept =
            stored.get(serial).unwrap_or_else(|| panic!("certificate {serial} was answered 201 but is not stored"));
        assert_eq!(kept, pem, "certificate {serial} is stored with other bytes than were answered");
    }
    let verify = s.admin(&["audit", "verify"]);
    assert!(text(&verify).contains("Audit chain OK"), "{}", text(&verify));
    eprintln!("{} certificates answered 201 before SIGKILL; all stored with the same bytes", answered.len());
}

#[test]
fn sqlite_keeps_every_certificate_answered_201_across_sigkill() {
    killed_during_load_keeps_every_201(None);
}

#[test]
fn postgres_keeps_every_certificate_answered_201_across_sigkill() {
    if std::env::var("CARECERT_SKIP_PG").as_deref() == Ok("1") {
        eprintln!("CARECERT_SKIP_PG=1: skipped on purpose");
        return;
    }
    let admin =
        std::env::var("CARECERT_TEST_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let name = format!("carecert_kill9_{}", std::process::id());
    let out = Command::new("psql").args([admin.as_str(), "-qc", &format!("CREATE DATABASE {name}")]).output().unwrap();
    assert!(out.status.success(), "PostgreSQL must be reachable at {admin}: {}", text(&out));
    let url = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);
    killed_during_load_keeps_every_201(Some(url));
    let _ = Command::new("psql")
        .args([admin.as_str(), "-qc", &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")])
        .output();
}
