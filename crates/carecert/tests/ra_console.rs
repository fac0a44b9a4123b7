//! The RA console's pages with curl (a cookie jar, no JavaScript): password login, the
//! request queue (approve, deny with a reason), the audit log with its verification state,
//! cookie flags, CSRF and cross-origin refusal, oversized forms, idle timeout, logout.
//! (Browser tests in Chromium live in web-tests/.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a failed assumption is a failed test

mod common;

use std::process::Command;

use common::{Server, text};

struct Browser<'a> {
    server: &'a Server,
    jar: std::path::PathBuf,
}

impl Browser<'_> {
    /// (status, headers, body)
    fn req(&self, method: &str, path: &str, form: Option<&str>, origin: Option<&str>) -> (u16, String, String) {
        let mut cmd = Command::new("curl");
        cmd.args(["-s", "-D", "-", "-o", "-", "-w", "\n%{http_code}", "--cacert"]).arg(self.server.root());
        cmd.arg("-b").arg(&self.jar).arg("-c").arg(&self.jar).args(["-X", method]);
        if let Some(f) = form {
            cmd.args(["-H", "Content-Type: application/x-www-form-urlencoded", "--data-binary", f]);
        }
        if let Some(o) = origin {
            cmd.args(["-H", &format!("Origin: {o}")]);
        }
        let out = cmd.arg(format!("{}{path}", self.server.https)).output().unwrap();
        let t = String::from_utf8_lossy(&out.stdout).to_string();
        let (rest, code) = t.rsplit_once('\n').unwrap();
        let (head, body) = rest.split_once("\r\n\r\n").unwrap_or((rest, ""));
        (code.trim().parse().unwrap_or(0), head.to_string(), body.to_string())
    }
}

fn csrf_of(page: &str) -> String {
    let i = page.find("name=\"csrf\" value=\"").expect("a csrf field") + 19;
    page[i..i + 64].to_string()
}

/// The authenticator code for `secret` (base32) at `offset` seconds from now.
fn totp_code(secret: &str, offset: i64) -> String {
    let t = totp_rs::Builder::new().with_secret(totp_rs::Secret::try_from_base32(secret).unwrap()).build().unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    t.generate((now + offset) as u64).to_string()
}

fn login(b: &Browser, password: &str, code: &str) -> (u16, String) {
    let (status, head, _) =
        b.req("POST", "/ra/login", Some(&format!("username=alice&password={password}&code={code}")), None);
    (status, head)
}

/// Adds the RA account `alice` and returns its second-factor secret.
fn add_alice(server: &Server) -> String {
    let o = Command::new(common::BIN)
        .args([
            "admin",
            "--json",
            "account",
            "add",
            "--username",
            "alice",
            "--name",
            "Alice RA",
            "--role",
            "ra",
            "--server",
            &server.https,
            "--data-dir",
        ])
        .arg(&server.data)
        .env("CARECERT_ACCOUNT_PASSWORD", "correct horse battery")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["totp_uri"].as_str().unwrap().starts_with("otpauth://totp/"), "{v}");
    v["totp_secret"].as_str().unwrap().to_string()
}

#[test]
fn ra_console_queue_audit_and_form_protection() {
    let server = Server::start_args(&["--idle-timeout-secs", "3"]);
    let secret = add_alice(&server);
    let b = Browser { server: &server, jar: server.path("cookies") };

    // Not logged in: to the login page. Wrong password: the same page with a message.
    let (code, head, _) = b.req("GET", "/ra/", None, None);
    assert!(code == 303 && head.contains("/ra/login"), "{code} {head}");
    let (code, head) = login(&b, "wrong-password-123", &totp_code(&secret, 0));
    assert!(code == 303 && head.contains("msg=login_failed"), "{head}");
    // The right password without the second factor, or with a wrong code: refused with the
    // same answer as a wrong password, so the form never confirms a guessed password.
    let (code, head) = login(&b, "correct%20horse%20battery", "");
    assert!(code == 303 && head.contains("msg=login_failed"), "{head}");
    let (code, head) = login(&b, "correct%20horse%20battery", "000000");
    assert!(code == 303 && head.contains("msg=login_failed"), "{head}");
    let used = totp_code(&secret, 0);
    let (code, head) = login(&b, "correct%20horse%20battery", &used);
    assert_eq!(code, 303, "{head}");
    let cookie = head.lines().find(|l| l.to_ascii_lowercase().starts_with("set-cookie")).expect("a session cookie");
    for flag in ["__Host-carecert_ra=", "Secure", "HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(flag), "{flag} in {cookie}");
    }

    // A pending request from an organisation in the RA queue.
    let ok = |args: &[&str]| {
        let o = server.admin(args);
        assert!(o.status.success(), "{}", text(&o));
        String::from_utf8_lossy(&o.stdout).to_string()
    };
    ok(&["org", "add", "--epoc", "6660001", "--name", "Queue Pharmacy"]);
    let pin: serde_json::Value = serde_json::from_str(&ok(&["--json", "pin", "issue", "--epoc", "6660001"])).unwrap();
    let store = server.path("ecmt");
    let login_out = server.ecmt(&store, &["login", "--epoc", "6660001"], &[("ECMT_PIN", pin["pin"].as_str().unwrap())]);
    assert!(login_out.status.success(), "{}", text(&login_out));
    let mut ids = vec![];
    for _ in 0..2 {
        let r = server.ecmt(&store, &["--json", "request", "--accept-policy"], &[]);
        let v: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
        ids.push(v["id"].as_i64().unwrap());
    }
    let (code, _, page) = b.req("GET", "/ra/requests", None, None);
    assert_eq!(code, 200);
    assert!(page.contains(&format!("request-{}", ids[0])) && page.contains("6660001"), "{page}");
    let csrf = csrf_of(&page);

    // Without the token, or from another origin: refused, nothing changed.
    let approve = format!("/ra/requests/{}/approve", ids[0]);
    let (code, _, _) = b.req("POST", &approve, Some("csrf=0000"), None);
    assert_eq!(code, 403);
    let (code, _, _) = b.req("POST", &approve, Some(&format!("csrf={csrf}")), Some("https://evil.example"));
    assert_eq!(code, 403);
    assert!(ok(&["request", "list"]).contains(&ids[0].to_string()), "still pending");
    // An oversized form is refused.
    let big = format!("csrf={csrf}&reason={}", "x".repeat(20_000));
    let (code, _, _) = b.req("POST", &format!("/ra/requests/{}/deny", ids[1]), Some(&big), None);
    assert_eq!(code, 413);

    // Approve one, deny the other with a reason.
    let (code, head, _) = b.req("POST", &approve, Some(&format!("csrf={csrf}")), None);
    assert!(code == 303 && head.contains("approved"), "{head}");
    let (code, _, _) = b.req(
        "POST",
        &format!("/ra/requests/{}/deny", ids[1]),
        Some(&format!("csrf={csrf}&reason=not+our+system")),
        None,
    );
    assert_eq!(code, 303);
    let approved = ok(&["request", "list", "--status", "approved"]);
    assert!(approved.contains(&ids[0].to_string()), "{approved}");
    let denied = ok(&["request", "list", "--status", "denied"]);
    assert!(denied.contains("not our system"), "{denied}");

    // The audit log page shows both decisions and the chain's state.
    let (code, _, page) = b.req("GET", "/ra/audit", None, None);
    assert_eq!(code, 200);
    assert!(
        page.contains("Chain verified")
            && page.contains("request.approved")
            && page.contains("request.denied")
            && page.contains("ra:alice"),
        "{page}"
    );

    // Idle for longer than the timeout: the session is over.
    std::thread::sleep(std::time::Duration::from_secs(4));
    let (code, head, _) = b.req("GET", "/ra/", None, None);
    assert!(code == 303 && head.contains("msg=session_ended"), "{head}");

    // A code works once; the next one logs in again; then log out.
    let (_, head) = login(&b, "correct%20horse%20battery", &used);
    assert!(head.contains("msg=login_failed"), "a replayed code is refused: {head}");
    login(&b, "correct%20horse%20battery", &totp_code(&secret, 30));
    let (_, _, page) = b.req("GET", "/ra/", None, None);
    let csrf = csrf_of(&page);
    let (code, head, _) = b.req("POST", "/ra/logout", Some(&format!("csrf={csrf}")), None);
    assert!(code == 303 && head.contains("msg=logged_out"), "{head}");
    let (code, head, _) = b.req("GET", "/ra/", None, None);
    // The logout deleted the cookie (its removal carries Secure and Path=/), so the console
    // sees no session at all.
    assert!(code == 303 && head.contains("msg=session_ended"), "{head}");
}

#[test]
fn ra_console_organisations_pin_letters_dashboard_and_cards() {
    let server = Server::start();
    let secret = add_alice(&server);
    let b = Browser { server: &server, jar: server.path("cookies") };
    login(&b, "correct%20horse%20battery", &totp_code(&secret, 0));
    let (_, _, page) = b.req("GET", "/ra/orgs", None, None);
    let csrf = csrf_of(&page);

    // Add an organisation through the form; a bad EPOC is refused with a message.
    // (The refusal is shown at once with its reason, never carried in the URL.)
    let (code, _, page) =
        b.req("POST", "/ra/orgs", Some(&format!("csrf={csrf}&epoc=12ab&name=X&kind=gp&approval=ra-queue")), None);
    assert!(code == 400 && page.contains("role=\"alert\""), "{code} {page}");
    let (code, head, _) = b.req(
        "POST",
        "/ra/orgs",
        Some(&format!("csrf={csrf}&epoc=7770001&name=Hill+Dental&kind=dental&approval=automatic")),
        None,
    );
    assert!(code == 303 && head.contains("done="), "{head}");
    let (_, _, page) = b.req("GET", "/ra/orgs", None, None);
    assert!(page.contains("org-7770001") && page.contains("Hill Dental"), "{page}");

    // A PIN letter downloads as a PDF that names the EPOC.
    let pdf = server.path("letter.pdf");
    let out = Command::new("curl")
        .args(["-s", "-D", "-", "-o"])
        .arg(&pdf)
        .arg("--cacert")
        .arg(server.root())
        .arg("-b")
        .arg(&b.jar)
        .args([
            "-X",
            "POST",
            "-H",
            "Content-Type: application/x-www-form-urlencoded",
            "--data-binary",
            &format!("csrf={csrf}"),
        ])
        .arg(format!("{}/ra/orgs/7770001/pin-letter", server.https))
        .output()
        .unwrap();
    let head = String::from_utf8_lossy(&out.stdout);
    assert!(head.contains("application/pdf") && head.contains("pin-letter-7770001.pdf"), "{head}");
    let t = Command::new("pdftotext").arg(&pdf).arg("-").output().expect("pdftotext (poppler-utils)");
    assert!(String::from_utf8_lossy(&t.stdout).contains("7770001"));

    // The dashboard: pending count, locked cards, the 26-week chart.
    let (code, _, page) = b.req("GET", "/ra/", None, None);
    assert_eq!(code, 200);
    assert!(
        page.contains("id=\"pending\"") && page.contains("id=\"locked\"") && page.contains("id=\"expiry-chart\""),
        "{page}"
    );
    assert_eq!(page.matches("<rect").count(), 52, "26 weeks × 2 series");

    // Cards: an unknown serial says so.
    let (code, _, page) = b.req("GET", "/ra/cards?serial=NOPE", None, None);
    assert!(code == 200 && page.contains("not registered"), "{page}");
    let audit = server.admin(&["audit", "list", "--limit", "50"]);
    assert!(text(&audit).contains("pin.issued") && text(&audit).contains("ra:alice"));
}
