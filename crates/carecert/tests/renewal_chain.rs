//! Renewal over mutual TLS against the real server (issue 10, H5, done-when 4): refused
//! outside the renewal window (the last third of the lifetime by default); allowed once inside
//! it (the service clock is moved ahead with the test-only `--clock-offset-days`); a second
//! renewal from the superseded certificate is refused; revoking the first certificate for key
//! compromise revokes its successor too, and `openssl ocsp` says "revoked" for both.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a failed assumption is a failed test

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Server, text};

fn ok(o: std::process::Output) -> std::process::Output {
    assert!(o.status.success(), "command failed: {}", text(&o));
    o
}

/// A new P-256 key and a CSR for it.
fn new_csr(server: &Server, name: &str) -> PathBuf {
    let key = server.path(&format!("{name}.key"));
    let csr = server.path(&format!("{name}.csr"));
    ok(Command::new("openssl")
        .args(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=x"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&csr)
        .output()
        .unwrap());
    csr
}

/// `POST /api/v1/renewals` with the client certificate `cert`/`key`: (status, body).
fn renew(server: &Server, cert: &Path, key: &Path, csr: &Path) -> (u16, String) {
    let body = serde_json::json!({"csr": std::fs::read_to_string(csr).unwrap(), "policy_version": "2026-1", "policy_accepted": true});
    let out = Command::new("curl")
        .args(["-s", "-w", "\n%{http_code}", "--cacert"])
        .arg(server.root())
        .arg("--cert")
        .arg(cert)
        .arg("--key")
        .arg(key)
        .args(["-H", "Content-Type: application/json", "-d", &body.to_string()])
        .arg(format!("{}/api/v1/renewals", server.https))
        .output()
        .unwrap();
    let t = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = t.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

fn relaunch(server: &mut Server, extra: &[&str]) {
    server.stop();
    server.extra = extra.iter().map(|s| s.to_string()).collect();
    server.launch();
}

#[test]
fn renewal_window_once_per_certificate_and_key_compromise_revokes_the_successor() {
    let mut server = Server::start();
    let store = server.path("store");
    let epoc = "4440001";
    ok(server.admin(&["org", "add", "--epoc", epoc, "--name", "Hill Pharmacy", "--approval", "automatic"]));
    let v: serde_json::Value =
        serde_json::from_slice(&ok(server.admin(&["--json", "pin", "issue", "--epoc", epoc])).stdout).unwrap();
    let pin = v["pin"].as_str().unwrap().to_string();
    ok(server.ecmt(&store, &["renew", "--epoc", epoc, "--accept-policy"], &[("ECMT_PIN", &pin)]));
    let (s1_cert, s1_key) = (server.path("s1.pem"), server.path("s1.key"));
    std::fs::copy(store.join("cert.pem"), &s1_cert).unwrap();
    std::fs::copy(store.join("key.pem"), &s1_key).unwrap();
    let s1 = common::serial_of(&s1_cert);

    // A fresh certificate: outside the renewal window, refused with when it opens.
    let (code, body) = renew(&server, &s1_cert, &s1_key, &new_csr(&server, "early"));
    assert_eq!(code, 409, "{body}");
    assert!(body.contains("renewal_not_yet") && body.contains("renewal opens on"), "{body}");

    // 300 days on (of 365): inside the last third — renewed once.
    relaunch(&mut server, &["--clock-offset-days", "300"]);
    let (code, body) = renew(&server, &s1_cert, &s1_key, &new_csr(&server, "second"));
    assert_eq!(code, 201, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let s2 = v["serial"].as_str().unwrap().to_string();
    assert_ne!(s1, s2);
    let s2_cert = server.path("s2.pem");
    std::fs::write(&s2_cert, v["certificate_pem"].as_str().unwrap()).unwrap();

    // The superseded certificate (or a stolen copy of its key) cannot renew again.
    let (code, body) = renew(&server, &s1_cert, &s1_key, &new_csr(&server, "third"));
    assert_eq!(code, 409, "{body}");
    assert!(body.contains("already_renewed") && body.contains(&s1), "{body}");

    // Back to today's clock; revoke the first certificate for key compromise.
    relaunch(&mut server, &[]);
    let issuer = server.ca_pem("systems");
    for serial in [&s1, &s2] {
        let cert = if serial == &s1 { &s1_cert } else { &s2_cert };
        let o = common::ocsp(&server, &issuer, cert, &[]);
        assert!(o.contains(": good"), "{serial} is good before: {o}");
    }
    ok(server.admin(&["cert", "revoke", &s1, "--reason", "keyCompromise"]));
    for (serial, cert) in [(&s1, &s1_cert), (&s2, &s2_cert)] {
        let o = common::ocsp(&server, &issuer, cert, &[]);
        assert!(o.contains(": revoked") && o.contains("keyCompromise"), "{serial}: {o}");
    }
    // Each revocation is audited; the successor's names what it was renewed from.
    let audit = text(&ok(server.admin(&["--json", "audit", "list", "--limit", "50"])));
    assert!(audit.contains(&format!("systems/{s2}")) && audit.contains("renewed_from"), "{audit}");
}
