//! HTTP hardening against the real server, with curl and openssl as an outsider would use
//! them: per-source rate limits (429 with Retry-After; another source still served; OCSP never
//! limited), security headers on pages and the API, no URL text on pages, the logout cookie
//! that browsers do delete, 413 over HTTP/2, serials over 20 octets refused, and (with sslyze)
//! only TLS 1.2 and 1.3 offered.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a failed assumption is a failed test

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Server, text};

/// `curl` with the server's root; returns (status, headers, body).
fn curl(s: &Server, args: &[&str]) -> (u16, String, String) {
    let headers = s.path(&format!("headers-{}", rand_suffix()));
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "-o", "-", "-w", "\n%{http_code}", "-D"]).arg(&headers).arg("--cacert").arg(s.root());
    let out = cmd.args(args).output().unwrap();
    let t = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = t.rsplit_once('\n').unwrap_or(("", "0"));
    let h = std::fs::read_to_string(&headers).unwrap_or_default().to_ascii_lowercase();
    (code.trim().parse().unwrap_or(0), h, body.to_string())
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
}

fn header<'a>(headers: &'a str, name: &str) -> Option<&'a str> {
    headers.lines().rev().find_map(|l| l.strip_prefix(&format!("{name}:")).map(str::trim))
}

fn config(dir: &Path, text: &str) -> PathBuf {
    let p = dir.join("carecert.toml");
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn unauthenticated_endpoints_are_rate_limited_per_source() {
    let dir = tempfile::tempdir().unwrap();
    let cfg =
        config(dir.path(), "[limits]\nlogin_per_minute = 6\nlogin_burst = 5\ncard_per_minute = 6\ncard_burst = 5\n");
    let s = Server::start_args(&["--config", cfg.to_str().unwrap()]);
    // A different EPOC each time: the per-EPOC lock (also a 429) must not be what answers.
    let n = std::cell::Cell::new(0);
    let login = |from: &str| {
        n.set(n.get() + 1);
        let body = format!(r#"{{"epoc":"{}","pin":"wrong-pin-0000","client_version":"9.9.9"}}"#, 1_000_000 + n.get());
        curl(
            &s,
            &[
                "--interface",
                from,
                "-H",
                "content-type: application/json",
                "--data",
                &body,
                &format!("{}/api/v1/sessions", s.https),
            ],
        )
    };
    // The burst passes (refused for the wrong PIN, not for the rate) ...
    for i in 0..5 {
        let (code, _, body) = login("127.0.0.1");
        assert_ne!(code, 429, "request {i} was rate limited: {body}");
    }
    // ... the next one from the same source is 429 with Retry-After ...
    let (code, headers, body) = login("127.0.0.1");
    assert_eq!(code, 429, "{body}");
    let wait: u64 = header(&headers, "retry-after").expect("Retry-After").parse().unwrap();
    assert!((1..=60).contains(&wait), "Retry-After: {wait}");
    assert!(body.contains("\"rate_limited\""), "{body}");
    // ... and another source is still served.
    let (code, _, body) = login("127.0.0.2");
    assert_ne!(code, 429, "another source was limited: {body}");

    // The card endpoints before a card session: the same.
    let card = |from: &str| {
        curl(
            &s,
            &["--interface", from, "-X", "POST", &format!("{}/api/v1/cards/0011223344/passcode-failures", s.https)],
        )
    };
    for _ in 0..5 {
        assert_ne!(card("127.0.0.1").0, 429);
    }
    let (code, headers, _) = card("127.0.0.1");
    assert_eq!(code, 429);
    assert!(header(&headers, "retry-after").is_some());
    assert_ne!(card("127.0.0.3").0, 429);

    // A login page: an HTML 429 page (same source, logins already used up).
    let (code, headers, body) = curl(
        &s,
        &["--interface", "127.0.0.1", "--data", "username=a&password=b", &format!("{}/portal/login", s.https)],
    );
    assert_eq!(code, 429, "{body}");
    assert!(header(&headers, "content-type").unwrap().starts_with("text/html"), "{headers}");
    assert!(body.contains("Too many attempts"), "{body}");
    assert!(header(&headers, "retry-after").is_some());

    // OCSP is never limited: public and cacheable.
    for _ in 0..30 {
        let (code, _, _) = curl(&s, &["--interface", "127.0.0.1", &format!("{}/ocsp/MAA=", s.http)]);
        assert_eq!(code, 200);
    }
}

#[test]
fn pages_and_api_carry_the_security_headers_and_no_url_text() {
    let s = Server::start();
    for path in ["/portal/login", "/ra/login", "/portal/logged-out", "/api/v1/openapi.json", "/ca"] {
        let (code, h, _) = curl(&s, &[&format!("{}{path}", s.https)]);
        assert_eq!(code, 200, "{path}");
        assert_eq!(header(&h, "x-content-type-options"), Some("nosniff"), "{path}: {h}");
        assert!(header(&h, "strict-transport-security").is_some_and(|v| v.starts_with("max-age=")), "{path}: {h}");
        let csp = header(&h, "content-security-policy").unwrap_or_else(|| panic!("{path}: no CSP: {h}"));
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(csp.contains("default-src 'none'"), "{path}: {csp}");
        assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "{path}: {csp}");
        assert!(header(&h, "referrer-policy").is_some(), "{path}: {h}");
    }
    // The pages' stylesheets are files carecert serves itself (NHS.UK frontend, no CDN), allowed
    // as 'self'; no inline style or script anywhere (the page script is /portal/app.js).
    for path in ["/ra/login", "/portal/login", "/portal/logged-out"] {
        let (_, h, body) = curl(&s, &[&format!("{}{path}", s.https)]);
        let csp = header(&h, "content-security-policy").unwrap().to_string();
        assert!(csp.contains("style-src 'self'"), "{path}: {csp}");
        assert!(
            !body.contains("<style") && !body.contains("<script>") && !body.contains(" style="),
            "{path}: inline script or style: {body}"
        );
        for sheet in body.split("rel=\"stylesheet\" href=\"").skip(1).filter_map(|r| r.split('"').next()) {
            assert!(sheet.starts_with("/assets/"), "{path}: stylesheet from elsewhere: {sheet}");
            let (code, h, css) = curl(&s, &[&format!("{}{sheet}", s.https)]);
            assert_eq!(code, 200, "{sheet}");
            assert!(header(&h, "content-type").is_some_and(|v| v.starts_with("text/css")), "{sheet}: {h}");
            assert!(css.len() > 100, "{sheet} is empty");
        }
    }
    // Plain HTTP: nosniff and a CSP, no HSTS (it means nothing there).
    let (code, h, _) = curl(&s, &[&format!("{}/ocsp/MAA=", s.http)]);
    assert_eq!(code, 200);
    assert_eq!(header(&h, "x-content-type-options"), Some("nosniff"), "{h}");
    assert!(header(&h, "strict-transport-security").is_none(), "{h}");

    // Text in the URL is not shown; codes show their fixed text.
    let spoof = "Your%20card%20is%20locked%20%E2%80%94%20call%2001234%20567890";
    for path in [
        format!("/portal/refused?msg={spoof}"),
        format!("/portal/logged-out?msg={spoof}"),
        format!("/portal/login?msg={spoof}"),
        format!("/ra/login?msg={spoof}"),
    ] {
        let (_, _, body) = curl(&s, &[&format!("{}{path}", s.https)]);
        assert!(!body.contains("01234") && !body.contains("is locked"), "{path} reflects the URL: {body}");
    }
    let (_, _, body) = curl(&s, &[&format!("{}/portal/logged-out?msg=logged_out", s.https)]);
    assert!(body.contains("You have logged out."), "{body}");
    let (_, _, body) = curl(&s, &[&format!("{}/portal/refused?msg=not_registered", s.https)]);
    assert!(body.contains("not registered") && body.contains("helpdesk"), "{body}");

    // Logout: the removal cookie carries the attributes of the session cookie, so browsers
    // delete it.
    let account =
        br#"{"username":"pat","name":"Pat Password","roles":["portal:reception"],"password":"a long enough password"}"#;
    let (code, out) = s.api("POST", "/api/v1/admin/web-accounts", Some(account), "application/json");
    assert_eq!(code, 201, "{out}");
    let jar = s.path("jar");
    let jar_s = jar.to_str().unwrap();
    let (code, _, _) = curl(
        &s,
        &[
            "-c",
            jar_s,
            "--data",
            "username=pat&password=a%20long%20enough%20password",
            &format!("{}/portal/login", s.https),
        ],
    );
    assert_eq!(code, 303);
    let (_, _, home) = curl(&s, &["-b", jar_s, &format!("{}/portal/", s.https)]);
    let csrf = home.split("name=\"csrf\" value=\"").nth(1).and_then(|r| r.split('"').next()).expect("csrf").to_string();
    let (code, h, _) =
        curl(&s, &["-b", jar_s, "--data", &format!("csrf={csrf}"), &format!("{}/portal/logout", s.https)]);
    assert_eq!(code, 303);
    let removal = header(&h, "set-cookie").expect("a removal cookie");
    assert!(removal.starts_with("__host-carecert_portal=;"), "{removal}");
    for attr in ["secure", "path=/", "max-age=0", "httponly", "samesite=strict"] {
        assert!(removal.contains(attr), "the removal cookie lacks {attr}: {removal}");
    }
    assert!(header(&h, "location").unwrap().ends_with("/portal/logged-out?msg=logged_out"), "{h}");
}

#[test]
fn oversized_bodies_over_http2_get_413_on_every_limited_route() {
    let s = Server::start();
    let big = |n: usize| {
        let p = s.path(&format!("big-{n}"));
        std::fs::write(&p, vec![b'a'; n]).unwrap();
        format!("@{}", p.display())
    };
    // Bodies well past the HTTP/2 flow-control window (1 MiB): the client is still sending
    // when the server has decided, which is when a reset used to replace the answer.
    let body = big(10 * 1024 * 1024);
    for (path, content_type) in [
        ("/api/v1/sessions", "application/json"),
        ("/api/v1/renewals", "application/json"),
        ("/api/v1/admin/certificates", "application/json"),
        ("/portal/login", "application/x-www-form-urlencoded"),
        ("/ra/login", "application/x-www-form-urlencoded"),
        ("/ocsp", "application/ocsp-request"),
        ("/message-store/messages", "application/octet-stream"),
    ] {
        let (code, h, out) = curl(
            &s,
            &[
                "--http2",
                "-H",
                &format!("content-type: {content_type}"),
                "-H",
                &format!("authorization: Bearer {}", s.token()),
                "--data-binary",
                &body,
                &format!("{}{path}", s.https),
            ],
        );
        assert!(h.starts_with("http/2"), "{path}: not HTTP/2: {h}");
        assert_eq!(code, 413, "{path} over HTTP/2: {h}{out}");
    }
}

#[test]
fn ocsp_serials_longer_than_20_octets_are_malformed_requests() {
    let s = Server::start();
    let run = |serial: &str| {
        let o = Command::new("openssl")
            .args(["ocsp", "-no_nonce", "-url", &format!("{}/ocsp", s.http), "-issuer"])
            .arg(s.ca_pem("systems"))
            .args(["-serial", serial, "-CAfile"])
            .arg(s.root())
            .output()
            .unwrap();
        text(&o).to_lowercase()
    };
    let long = format!("0x{}", "7f".repeat(21));
    assert!(run(&long).contains("malformedrequest"), "{}", run(&long));
    let ok = format!("0x{}", "7f".repeat(20));
    let out = run(&ok);
    assert!(out.contains(": unknown"), "a 20-octet serial is a fair question: {out}");
}

/// Finds sslyze: $CARECERT_SSLYZE, then PATH.
fn sslyze() -> PathBuf {
    if let Ok(p) = std::env::var("CARECERT_SSLYZE") {
        return PathBuf::from(p);
    }
    for dir in std::env::var("PATH").unwrap_or_default().split(':') {
        let p = Path::new(dir).join("sslyze");
        if p.exists() {
            return p;
        }
    }
    panic!("sslyze is not installed: scripts/test installs it (pip install sslyze) and sets CARECERT_SSLYZE");
}

#[test]
fn sslyze_sees_only_tls_12_and_13_and_hsts() {
    let s = Server::start();
    let out = s.path("sslyze.json");
    let target = s.https.trim_start_matches("https://").to_string();
    let o = Command::new(sslyze())
        .args(["--sslv2", "--sslv3", "--tlsv1", "--tlsv1_1", "--tlsv1_2", "--tlsv1_3", "--http_headers", "--quiet"])
        .arg("--json_out")
        .arg(&out)
        .arg(&target)
        .output()
        .unwrap();
    assert!(o.status.success(), "sslyze: {}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let scan = &v["server_scan_results"][0];
    assert_eq!(scan["scan_status"], "COMPLETED", "{scan}");
    let r = &scan["scan_result"];
    let accepted = |k: &str| {
        assert_eq!(r[k]["status"], "COMPLETED", "{k}: {}", r[k]);
        r[k]["result"]["accepted_cipher_suites"].as_array().map(Vec::len).unwrap_or(0)
    };
    for k in ["ssl_2_0_cipher_suites", "ssl_3_0_cipher_suites", "tls_1_0_cipher_suites", "tls_1_1_cipher_suites"] {
        assert_eq!(accepted(k), 0, "{k} accepted");
    }
    assert!(accepted("tls_1_2_cipher_suites") > 0);
    assert!(accepted("tls_1_3_cipher_suites") > 0);
    let hsts = &r["http_headers"]["result"]["strict_transport_security_header"];
    assert!(hsts["max_age"].as_u64().is_some_and(|a| a >= 31_536_000), "HSTS: {}", r["http_headers"]);
}
