//! Machine certificates end to end, with the real binaries over HTTPS against
//! `carecert serve` on SQLite: organisation and PIN letter → ecmt status / login /
//! request → RA approval → ecmt download → the message-store gate accepts the installed
//! files (curl) → backup → wipe → restore → accepted again → revoked → refused. Then the
//! one-step `ecmt renew` with automatic approval and renewal over mutual TLS with no PIN,
//! and bad input.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a failed assumption is a failed test

mod common;

use std::path::Path;
use std::process::Command;

use common::{Server, text};

/// POSTs a message to the gate with the given client certificate (or none); returns
/// (curl exit code, HTTP status, body).
fn gate(server: &Server, cert_key: Option<(&Path, &Path)>) -> (i32, u16, String) {
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "-o", "-", "-w", "\n%{http_code}", "--cacert"]).arg(server.root());
    if let Some((c, k)) = cert_key {
        cmd.arg("--cert").arg(c).arg("--key").arg(k);
    }
    cmd.args(["-X", "POST", "--data-binary", "prescription #1"]);
    let out = cmd.arg(format!("{}/message-store/messages", server.https)).output().unwrap();
    let t = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = t.rsplit_once('\n').unwrap_or(("", "0"));
    (out.status.code().unwrap_or(-1), code.trim().parse().unwrap_or(0), body.to_string())
}

fn json(o: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(o)))
}

fn ok(o: std::process::Output) -> std::process::Output {
    assert!(o.status.success(), "command failed: {}", text(&o));
    o
}

fn installed_serial(store: &Path) -> String {
    common::serial_of(&store.join("cert.pem"))
}

#[test]
fn pin_letter_to_gate_backup_restore_and_revocation() {
    let server = Server::start();
    let store = server.path("store");
    let epoc = "2220001";
    ok(server.admin(&["org", "add", "--epoc", epoc, "--name", "High Street Pharmacy", "--approval", "ra-queue"]));

    // The PIN letter, as PDF: pdftotext finds the EPOC and the expiry date.
    let letter = server.path("letter.pdf");
    let v = json(&ok(server.admin(&["--json", "pin", "issue", "--epoc", epoc, "--out", letter.to_str().unwrap()])));
    let pin = v["pin"].as_str().unwrap().to_string();
    let expires = v["expires_at"].as_i64().unwrap();
    let day = time::OffsetDateTime::from_unix_timestamp(expires).unwrap();
    let day = format!("{:04}-{:02}-{:02}", day.year(), day.month() as u8, day.day());
    let pdf =
        Command::new("pdftotext").arg(&letter).arg("-").output().expect("pdftotext (Debian package poppler-utils)");
    let pdf_text = String::from_utf8_lossy(&pdf.stdout);
    assert!(
        pdf.status.success() && pdf_text.contains(epoc) && pdf_text.contains(&day) && pdf_text.contains(&pin),
        "letter: {pdf_text}"
    );

    // ecmt status before anything is installed.
    let st = ok(server.ecmt(&store, &["status"], &[]));
    assert!(text(&st).contains("No certificate installed"), "{}", text(&st));

    // Log on; request without accepting the policy is refused; then accepted.
    let out = ok(server.ecmt(&store, &["login", "--epoc", epoc], &[("ECMT_PIN", &pin)]));
    assert!(text(&out).contains("High Street Pharmacy"));
    let refused = server.ecmt(&store, &["request"], &[]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(text(&refused).contains("--accept-policy"), "{}", text(&refused));
    let r = json(&ok(server.ecmt(&store, &["--json", "request", "--accept-policy"], &[])));
    assert_eq!(r["status"], "pending");
    let id = r["id"].as_i64().unwrap().to_string();
    // Not approved yet: download says so.
    let early = server.ecmt(&store, &["download", &id], &[]);
    assert!(!early.status.success() && text(&early).contains("waiting for approval"), "{}", text(&early));

    // The RA queue shows it; the RA approves.
    let queue = ok(server.admin(&["request", "list"]));
    assert!(text(&queue).contains(epoc));
    ok(server.admin(&["request", "approve", &id]));

    // Download installs; the gate accepts the installed files.
    let out = ok(server.ecmt(&store, &["download"], &[]));
    assert!(text(&out).contains("Installed certificate"), "{}", text(&out));
    let (cert, key) = (store.join("cert.pem"), store.join("key.pem"));
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&key).unwrap().permissions()) & 0o777;
    assert_eq!(mode, 0o600, "the private key is readable by its owner only");
    let serial = installed_serial(&store);
    let (_, code, body) = gate(&server, Some((&cert, &key)));
    assert_eq!(code, 202, "gate: {body}\n{}", server.log());
    assert!(body.contains(epoc) && body.contains(&serial), "{body}");
    // Without a certificate: refused (TLS allows it; the gate does not).
    let (rc, code, body) = gate(&server, None);
    assert_eq!(code, 401, "curl exit {rc}: {body}\n{}", server.log());
    // A second download after install is refused with what to do instead.
    let again = server.ecmt(&store, &["download", &id], &[]);
    assert!(!again.status.success());

    // Backup: the password rule names what is missing, and nothing is written.
    let pfx = server.path("backup.pfx");
    let weak = server.ecmt(&store, &["backup", "--out", pfx.to_str().unwrap()], &[("ECMT_BACKUP_PASSWORD", "short")]);
    assert_eq!(weak.status.code(), Some(1));
    let msg = text(&weak);
    assert!(msg.contains("at least 8 characters") && msg.contains("upper-case") && msg.contains("digit"), "{msg}");
    assert!(!pfx.exists());
    let pw = "Pharmacy2026";
    ok(server.ecmt(&store, &["backup", "--out", pfx.to_str().unwrap()], &[("ECMT_BACKUP_PASSWORD", pw)]));
    let info = Command::new("openssl")
        .args(["pkcs12", "-info", "-noout", "-in"])
        .arg(&pfx)
        .args(["-passin", &format!("pass:{pw}")])
        .output()
        .unwrap();
    assert!(info.status.success(), "openssl pkcs12 -info: {}", text(&info));

    // The machine dies: the store is wiped. Restore: wrong password and garbage are refused.
    std::fs::remove_dir_all(&store).unwrap();
    let wrong =
        server.ecmt(&store, &["restore", "--in", pfx.to_str().unwrap()], &[("ECMT_BACKUP_PASSWORD", "Wrong2026x")]);
    assert_eq!(wrong.status.code(), Some(1));
    assert!(text(&wrong).contains("password"), "{}", text(&wrong));
    let garbage = server.path("garbage.pfx");
    std::fs::write(&garbage, b"this is not a pkcs12 file").unwrap();
    let g = server.ecmt(&store, &["restore", "--in", garbage.to_str().unwrap()], &[("ECMT_BACKUP_PASSWORD", pw)]);
    assert_eq!(g.status.code(), Some(1));
    assert!(!store.join("cert.pem").exists(), "nothing installed by a failed restore");
    ok(server.ecmt(&store, &["restore", "--in", pfx.to_str().unwrap()], &[("ECMT_BACKUP_PASSWORD", pw)]));
    assert_eq!(installed_serial(&store), serial);
    let (_, code, body) = gate(&server, Some((&cert, &key)));
    assert_eq!(code, 202, "after restore: {body}");

    // Revoked: the gate refuses at once.
    ok(server.admin(&["cert", "revoke", &serial, "--ca", "systems", "--reason", "keyCompromise"]));
    let (_, code, body) = gate(&server, Some((&cert, &key)));
    assert_eq!(code, 403, "revoked: {body}");
    assert!(body.contains("revoked"), "{body}");

    // A denied request shows the reason and the helpdesk (the wiped store lost the session too).
    ok(server.ecmt(&store, &["login", "--epoc", epoc], &[("ECMT_PIN", &pin)]));
    let r = json(&ok(server.ecmt(&store, &["--json", "request", "--accept-policy"], &[])));
    let id = r["id"].as_i64().unwrap().to_string();
    ok(server.admin(&["request", "deny", &id, "--reason", "system not registered with the message store"]));
    let denied = server.ecmt(&store, &["download", &id], &[]);
    assert_eq!(denied.status.code(), Some(1));
    let msg = text(&denied);
    assert!(msg.contains("system not registered with the message store") && msg.contains("helpdesk"), "{msg}");
    let list = ok(server.ecmt(&store, &["requests"], &[]));
    assert!(text(&list).contains("denied"));

    // The audit chain holds every step and verifies.
    let audit = ok(server.admin(&["audit", "list", "--limit", "200"]));
    for action in [
        "pin.issued",
        "enrol.login",
        "request.created",
        "request.approved",
        "request.installed",
        "certificate.revoked",
        "request.denied",
    ] {
        assert!(text(&audit).contains(action), "audit lacks {action}");
    }
    ok(server.admin(&["audit", "verify"]));

    // A client below the minimum version is refused with the download page.
    ok(server.admin(&[
        "release",
        "add",
        "9.0.0",
        "--minimum",
        "--url",
        "https://downloads.example/ecmt-9.0.0.msi",
        "--sha256",
        &"cd".repeat(32),
    ]));
    let old = server.ecmt(&server.path("store-old"), &["login", "--epoc", epoc], &[("ECMT_PIN", &pin)]);
    assert_eq!(old.status.code(), Some(1));
    // It is told how to update (`ecmt update`) and where the download page is, which lists 9.0.0.
    assert!(
        text(&old).contains("ecmt update") && text(&old).contains(&format!("{}/download", server.https)),
        "{}",
        text(&old)
    );
    let page = Command::new("curl")
        .args(["-s", "--cacert"])
        .arg(server.root())
        .arg(format!("{}/download", server.https))
        .output()
        .unwrap();
    let page = String::from_utf8_lossy(&page.stdout);
    assert!(page.contains("9.0.0") && page.contains("https://downloads.example/ecmt-9.0.0.msi"), "{page}");
}

#[test]
fn one_step_renew_then_renewal_over_mutual_tls_without_a_pin() {
    // Renewal with the certificate right after issue: a window of the whole lifetime (the
    // default, the last third, is tested in renewal_chain.rs).
    let cfg_dir = tempfile::tempdir().unwrap();
    let cfg = cfg_dir.path().join("carecert.toml");
    std::fs::write(&cfg, "[enrolment]\nrenewal_window_percent = 100\n").unwrap();
    let server = Server::start_args(&["--config", cfg.to_str().unwrap()]);
    let store = server.path("store");
    let epoc = "3330001";
    ok(server.admin(&[
        "org",
        "add",
        "--epoc",
        epoc,
        "--name",
        "Valley Surgery",
        "--kind",
        "gp",
        "--approval",
        "automatic",
    ]));
    let v = json(&ok(server.admin(&["--json", "pin", "issue", "--epoc", epoc])));
    let pin = v["pin"].as_str().unwrap().to_string();

    // One step: login, key, request (approved automatically), download, install, backup.
    let pfx = server.path("renew.pfx");
    let out = ok(server.ecmt(
        &store,
        &["renew", "--epoc", epoc, "--accept-policy", "--backup", pfx.to_str().unwrap()],
        &[("ECMT_PIN", &pin), ("ECMT_BACKUP_PASSWORD", "Surgery2026")],
    ));
    assert!(text(&out).contains("Installed certificate"), "{}", text(&out));
    assert!(pfx.exists());
    let first = installed_serial(&store);
    let old_cert = server.path("old-cert.pem");
    let old_key = server.path("old-key.pem");
    std::fs::copy(store.join("cert.pem"), &old_cert).unwrap();
    std::fs::copy(store.join("key.pem"), &old_key).unwrap();

    // Renewal with the installed certificate: no PIN, no session.
    ok(server.ecmt(&store, &["logout"], &[]));
    let out = ok(server.ecmt(&store, &["renew", "--accept-policy"], &[]));
    assert!(text(&out).contains("Installed certificate"), "{}", text(&out));
    let second = installed_serial(&store);
    assert_ne!(first, second, "a new certificate was installed");
    // The new one is accepted at once; the old one stays valid until it expires or is revoked.
    let (_, code, body) = gate(&server, Some((&store.join("cert.pem"), &store.join("key.pem"))));
    assert_eq!(code, 202, "new certificate: {body}");
    assert!(body.contains(&second));
    let (_, code, body) = gate(&server, Some((&old_cert, &old_key)));
    assert_eq!(code, 202, "old certificate: {body}");
    // The previous generation is kept in the store.
    assert_eq!(common::serial_of(&store.join("previous/leaf.pem")), first);

    // Renewal over mutual TLS reusing the current key is refused.
    let csr = server.path("reuse.csr");
    let made = Command::new("openssl")
        .args(["req", "-new", "-subj", "/CN=x", "-key"])
        .arg(store.join("key.pem"))
        .arg("-out")
        .arg(&csr)
        .output()
        .unwrap();
    assert!(made.status.success());
    let body = serde_json::json!({"csr": std::fs::read_to_string(&csr).unwrap(), "policy_version": "2026-1", "policy_accepted": true});
    let out = Command::new("curl")
        .args(["-s", "-w", "\n%{http_code}", "--cacert"])
        .arg(server.root())
        .arg("--cert")
        .arg(store.join("cert.pem"))
        .arg("--key")
        .arg(store.join("key.pem"))
        .args(["-H", "Content-Type: application/json", "-d", &body.to_string()])
        .arg(format!("{}/api/v1/renewals", server.https))
        .output()
        .unwrap();
    let t = String::from_utf8_lossy(&out.stdout);
    assert!(t.ends_with("400") && t.contains("key_reused"), "{t}");
}

#[test]
fn unwritable_store_and_unreachable_server_give_clear_errors_and_keep_the_certificate() {
    let server = Server::start();
    // A store the user cannot write (as root, /sys refuses every new directory).
    let locked = if unsafe_is_root() {
        std::path::PathBuf::from("/sys/ecmt-store-test")
    } else {
        let p = server.path("ro");
        std::fs::create_dir(&p).unwrap();
        std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o500)).unwrap();
        p.join("store")
    };
    let out = server.ecmt(&locked, &["status"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("administrator"), "{}", text(&out));

    // Install a certificate, then stop the server: status says the server is unreachable
    // (exit 3) and the certificate is still installed and usable.
    let store = server.path("store");
    let epoc = "4440001";
    ok(server.admin(&[
        "org",
        "add",
        "--epoc",
        epoc,
        "--name",
        "Eye Care",
        "--kind",
        "ophthalmic",
        "--approval",
        "automatic",
    ]));
    let pin = json(&ok(server.admin(&["--json", "pin", "issue", "--epoc", epoc])))["pin"].as_str().unwrap().to_string();
    ok(server.ecmt(&store, &["renew", "--epoc", epoc, "--accept-policy"], &[("ECMT_PIN", &pin)]));
    let serial = installed_serial(&store);
    let mut server = server;
    server.stop();
    let out = server.ecmt(&store, &["status"], &[]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("cannot reach") && text(&out).contains(&serial), "{}", text(&out));
    let out = server.ecmt(&store, &["renew", "--accept-policy"], &[]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert_eq!(installed_serial(&store), serial, "the installed certificate is kept");
}

fn unsafe_is_root() -> bool {
    std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self").unwrap()) == 0
}
