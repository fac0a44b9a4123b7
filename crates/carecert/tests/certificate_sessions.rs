//! A portal session the browser opened with the card's own TLS client certificate is bound to
//! the card (issue 14, done-when 4): the page carries a presence token that the agent watching
//! the card reports with; removal ends the session, and so do heartbeats stopping or no agent
//! ever watching. Every page request — not only the event stream — refuses the ended session.
//! The real `carecert serve` and `curl` (with the client certificate) throughout.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a failed assumption is a failed test

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Server, text};

fn curl(args: &[&str]) -> (u16, String, String) {
    let out =
        Command::new("curl").args(["-s", "-D", "-", "-o", "-", "-w", "\n%{http_code}"]).args(args).output().unwrap();
    let t = String::from_utf8_lossy(&out.stdout).to_string();
    let (rest, code) = t.rsplit_once('\n').unwrap_or(("", "0"));
    let (head, body) = rest.split_once("\r\n\r\n").unwrap_or((rest, ""));
    (code.trim().parse().unwrap_or(0), head.to_string(), body.to_string())
}

/// A card (serial `serial`) for UID `uid` whose authentication key the browser holds (a file
/// here, the card's middleware in life), issued through the RA API; returns (cert, key).
fn tls_card(server: &Server, uid: &str, serial: &str) -> (PathBuf, PathBuf) {
    let (auth_key, auth_csr) =
        server.openssl_csr(&format!("auth-{serial}"), &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]);
    let (_, sign_csr) =
        server.openssl_csr(&format!("sign-{serial}"), &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]);
    let body = serde_json::json!({
        "uid": uid, "card_serial": serial, "documents": "passport", "so_pin": "12345678",
        "auth_csr": std::fs::read_to_string(&auth_csr).unwrap(), "sign_csr": std::fs::read_to_string(&sign_csr).unwrap(),
        "agent_version": "1.0.0",
    });
    let (code, resp) = server.api("POST", "/api/v1/admin/cards", Some(body.to_string().as_bytes()), "application/json");
    assert_eq!(code, 201, "{resp}");
    let v: serde_json::Value = serde_json::from_str(&resp).unwrap();
    let cert = server.path(&format!("auth-{serial}.pem"));
    let pem = format!("{}{}", v["auth"]["certificate_pem"].as_str().unwrap(), v["chain_pem"].as_str().unwrap());
    std::fs::write(&cert, pem).unwrap();
    (cert, auth_key)
}

/// A browser holding one card's certificate: its own cookie jar.
struct Browser<'a> {
    server: &'a Server,
    jar: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

impl Browser<'_> {
    fn login(&self) -> String {
        let root = self.server.root();
        let (code, head, _) = curl(&[
            "--cacert",
            root.to_str().unwrap(),
            "-c",
            self.jar.to_str().unwrap(),
            "--cert",
            self.cert.to_str().unwrap(),
            "--key",
            self.key.to_str().unwrap(),
            "-X",
            "POST",
            &format!("{}/portal/login/certificate", self.server.https),
        ]);
        assert!(code == 303 && head.to_ascii_lowercase().contains("location: /portal/"), "{code} {head}");
        let (code, _, page) = self.get("/portal/");
        assert_eq!(code, 200, "{page}");
        presence_token(&page)
    }

    /// A page request with the session cookie and no event stream.
    fn get(&self, path: &str) -> (u16, String, String) {
        let root = self.server.root();
        curl(&[
            "--cacert",
            root.to_str().unwrap(),
            "-b",
            self.jar.to_str().unwrap(),
            &format!("{}{path}", self.server.https),
        ])
    }
}

/// The presence token the page hands to the agent (`#presence data-token`).
fn presence_token(page: &str) -> String {
    let at = page.find("id=\"presence\"").unwrap_or_else(|| panic!("no presence token on the page: {page}"));
    let rest = &page[at..];
    let start = rest.find("data-token=\"").unwrap() + "data-token=\"".len();
    let token = &rest[start..start + 129];
    assert!(token.len() == 129 && token.as_bytes()[64] == b'.', "{token}");
    token.to_string()
}

/// What the agent sends for the watched card: a heartbeat (`present`) or the removal.
fn report(server: &Server, token: &str, present: bool) -> (u16, String) {
    let root = server.root();
    let body = format!("{{\"present\": {present}}}");
    let (code, _, text) = curl(&[
        "--cacert",
        root.to_str().unwrap(),
        "-X",
        "POST",
        "-H",
        &format!("Authorization: Bearer {token}"),
        "-H",
        "Content-Type: application/json",
        "--data-binary",
        &body,
        &format!("{}/api/v1/portal/presence", server.https),
    ]);
    (code, text)
}

fn assert_refused(b: &Browser<'_>, why: &str) {
    let (code, head, body) = b.get("/portal/card");
    assert!(
        code == 303 && head.contains(&format!("/portal/logged-out?msg={why}")),
        "a page request after the end must be refused ({why}): {code} {head} {body}"
    );
}

#[test]
fn a_tls_certificate_session_ends_when_its_card_is_removed_or_nobody_watches_it() {
    let server = Server::start();
    let ok = |args: &[&str]| {
        let o = server.admin(args);
        assert!(o.status.success(), "{}", text(&o));
    };
    for (uid, name, user) in [("31", "Dr Tls Browser", "tls"), ("32", "Dr Never Watched", "unwatched")] {
        ok(&["user", "add", "--uid", uid, "--name", name, "--organisation", "RA1"]);
        ok(&["account", "add", "--username", user, "--name", name, "--uid", uid, "--role", "portal:clinician"]);
    }
    let (cert, key) = tls_card(&server, "31", "TLSCARD1");
    let (cert2, key2) = tls_card(&server, "32", "TLSCARD2");
    let watched = Browser { server: &server, jar: server.path("jar-1"), cert, key };
    let unwatched = Browser { server: &server, jar: server.path("jar-2"), cert: cert2, key: key2 };

    // No agent ever watches this one: it lives through the first-report grace only.
    let t0 = Instant::now();
    unwatched.login();

    // Watched: heartbeats keep it; the card pulled ends it at once, page request refused
    // with the reason (the event stream is not open at all).
    let token = watched.login();
    let (code, body) = report(&server, &token, true);
    assert_eq!(code, 204, "{body}");
    let (code, _, page) = watched.get("/portal/card");
    assert!(code == 200 && page.contains("TLSCARD1") && page.contains("Dr Tls Browser"), "{code} {page}");
    let (code, body) = report(&server, &token, false);
    assert_eq!(code, 204, "{body}");
    assert_refused(&watched, "card_removed");
    let (_, _, page) = watched.get("/portal/logged-out?msg=card_removed");
    assert!(page.contains("smartcard was removed"), "{page}");
    // The token of an ended session, and a forged one, report nothing.
    let (code, body) = report(&server, &token, true);
    assert_eq!(code, 401, "{body}");
    let forged = format!("{}.{}", &token[..64], "0".repeat(64));
    let (code, body) = report(&server, &forged, true);
    assert_eq!(code, 401, "{body}");

    // Heartbeats that stop after a first one: ended after the heartbeat grace (10 s).
    let token = watched.login();
    let (code, body) = report(&server, &token, true);
    assert_eq!(code, 204, "{body}");
    std::thread::sleep(Duration::from_secs(6));
    let (code, _, _) = watched.get("/portal/");
    assert_eq!(code, 200, "still within the heartbeat grace");
    std::thread::sleep(Duration::from_secs(6));
    assert_refused(&watched, "card_removed");

    // The unwatched session outlived the heartbeat grace (its first report may take longer:
    // the page has to load and hand the token to the agent), then ends unreported.
    assert!(t0.elapsed() < Duration::from_secs(25), "the test took too long to check the grace");
    let (code, _, _) = unwatched.get("/portal/");
    assert_eq!(code, 200, "a certificate session waits for its first report longer than the heartbeat grace");
    while t0.elapsed() < Duration::from_secs(31) {
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_refused(&unwatched, "card_removed");
}
