//! Smartcards end to end with the real binaries: `carecert serve` (SQLite, SMTP relay and
//! SMS gateway pointed at receivers in this test), `carecert-agent` on SoftHSM2 tokens,
//! and the real tools (`pkcs11-tool`, `openssl verify`, `openssl ocsp`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a failed assumption is a failed test

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::mpsc;
use std::time::Duration;

use common::{Server, smtp_server, text};

const SOFTHSM: &str = "/usr/lib/softhsm/libsofthsm2.so";

/// A local SMS / voice gateway: every JSON body goes to the channel.
fn text_gateway() -> (String, mpsc::Receiver<serde_json::Value>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/send", l.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            loop {
                let n = s.read(&mut chunk).unwrap_or(0);
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
                let t = String::from_utf8_lossy(&buf).to_string();
                if let Some((head, body)) = t.split_once("\r\n\r\n") {
                    let len: usize = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap())
                        })
                        .unwrap_or(0);
                    if body.len() >= len {
                        let _ = tx.send(serde_json::from_str(&body[..len]).unwrap());
                        let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
                        break;
                    }
                }
            }
        }
    });
    (url, rx)
}

fn code_in(t: &str) -> String {
    let i = t.find("code is ").expect("a code in the message") + 8;
    t[i..i + 8].to_string()
}

struct Desk {
    server: Server,
    conf: PathBuf,
    state: PathBuf,
    /// The workstation's machine certificate and key (an enrolled workstation), if any.
    workstation: Option<(PathBuf, PathBuf)>,
}

impl Desk {
    /// A desk for `server`: a private SoftHSM2 token directory and agent state directory.
    fn new(server: Server) -> Self {
        assert!(Path::new(SOFTHSM).exists(), "SoftHSM2 is missing: install the Debian package softhsm2");
        let tokens = server.path("tokens");
        std::fs::create_dir(&tokens).unwrap();
        let conf = server.path("softhsm2.conf");
        let text =
            format!("directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n", tokens.display());
        std::fs::write(&conf, text).unwrap();
        let state = server.path("state");
        Desk { server, conf, state, workstation: None }
    }

    /// Enrols this desk's workstation: an organisation with automatic approval, a PIN
    /// letter, `ecmt renew` (the real client) installs its machine certificate; the agent
    /// then presents it over mutual TLS (--client-cert/--client-key).
    fn enrol_workstation(&mut self, epoc: &str) {
        let s = &self.server;
        let o = s.admin(&[
            "org",
            "add",
            "--epoc",
            epoc,
            "--name",
            "Desk Pharmacy",
            "--kind",
            "gp",
            "--approval",
            "automatic",
        ]);
        assert!(o.status.success(), "{}", text(&o));
        let o = s.admin(&["--json", "pin", "issue", "--epoc", epoc]);
        assert!(o.status.success(), "{}", text(&o));
        let pin = serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()["pin"].as_str().unwrap().to_string();
        let store = s.path("workstation");
        let o = s.ecmt(&store, &["renew", "--epoc", epoc, "--accept-policy"], &[("ECMT_PIN", &pin)]);
        assert!(o.status.success(), "ecmt renew: {}", text(&o));
        self.workstation = Some((store.join("cert.pem"), store.join("key.pem")));
    }

    /// `carecert-agent …` on SoftHSM2 with this test's token directory.
    fn agent(&self, card: Option<&str>, args: &[&str], env: &[(&str, &str)]) -> Output {
        let bin = Path::new(common::BIN).with_file_name("carecert-agent");
        assert!(
            bin.exists(),
            "{} is missing: build it with `cargo build -p carecert-agent` (scripts/test does)",
            bin.display()
        );
        let mut cmd = Command::new(bin);
        cmd.args(["--server", &self.server.https, "--ca-file"]).arg(self.server.root());
        cmd.args(["--module", SOFTHSM]);
        if let Some(c) = card {
            cmd.args(["--card", c]);
        }
        if let Some((cert, key)) = &self.workstation {
            cmd.arg("--client-cert").arg(cert).arg("--client-key").arg(key);
        }
        cmd.args(args).env("SOFTHSM2_CONF", &self.conf).env("XDG_STATE_HOME", &self.state);
        for k in [
            "CARECERT_PASSCODE",
            "CARECERT_NEW_PASSCODE",
            "CARECERT_ADMIN_TOKEN",
            "CARECERT_UNLOCK_CODE",
            "CARECERT_CARD",
            "CARECERT_SPONSOR_PASSCODE",
            "CARECERT_CLIENT_CERT",
            "CARECERT_CLIENT_KEY",
        ] {
            cmd.env_remove(k);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.stdin(std::process::Stdio::null()).output().unwrap()
    }

    fn ok(&self, card: Option<&str>, args: &[&str], env: &[(&str, &str)]) -> String {
        let o = self.agent(card, args, env);
        assert!(o.status.success(), "carecert-agent {args:?} failed: {}\n{}", text(&o), self.server.log());
        text(&o)
    }

    fn pkcs11(&self, args: &[&str]) -> String {
        let o = Command::new("pkcs11-tool")
            .args(["--module", SOFTHSM])
            .args(args)
            .env("SOFTHSM2_CONF", &self.conf)
            .output()
            .expect("pkcs11-tool (Debian package opensc)");
        assert!(o.status.success(), "pkcs11-tool {args:?}: {}", text(&o));
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// The card's certificate `id` (01 auth, 02 sign, 81/82 pending) written to a PEM file.
    fn card_cert(&self, serial: &str, id: &str, name: &str) -> PathBuf {
        let der = self.server.path(&format!("{name}.der"));
        let pem = self.server.path(&format!("{name}.pem"));
        self.pkcs11(&[
            "--token-label",
            &label_of(serial),
            "--read-object",
            "--type",
            "cert",
            "--id",
            id,
            "-o",
            der.to_str().unwrap(),
        ]);
        let o = Command::new("openssl")
            .args(["x509", "-inform", "DER", "-in"])
            .arg(&der)
            .arg("-out")
            .arg(&pem)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
        pem
    }
}

fn label_of(serial: &str) -> String {
    // Cards in this test are labelled "card-<uid>" and issued in that order; the map is kept
    // by the test (see LABELS).
    LABELS.with(|m| m.borrow().iter().find(|(s, _)| s == serial).map(|(_, l)| l.clone()).unwrap())
}

thread_local! {
    static LABELS: std::cell::RefCell<Vec<(String, String)>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn issue(desk: &Desk, uid: &str, passcode: &str) -> String {
    let label = format!("card-{uid}");
    let out = desk.ok(
        None,
        &["--json", "card", "issue", "--uid", uid, "--documents", "passport", "--label", &label],
        &[("CARECERT_ADMIN_TOKEN", &desk.server.token()), ("CARECERT_NEW_PASSCODE", passcode)],
    );
    let v: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    let serial = v["card"].as_str().unwrap().to_string();
    LABELS.with(|m| m.borrow_mut().push((serial.clone(), label)));
    serial
}

fn cert_status(desk: &Desk, cert: &Path) -> String {
    common::ocsp(&desk.server, &desk.server.ca_pem("smartcards"), cert, &[])
}

#[test]
fn card_lifecycle_with_the_agent_on_softhsm() {
    assert!(Path::new(SOFTHSM).exists(), "SoftHSM2 is missing: install the Debian package softhsm2");
    let (smtp_port, mail) = smtp_server();
    let (gateway, texts) = text_gateway();
    let smtp = format!("127.0.0.1:{smtp_port}");
    let server = Server::start_args(&[
        "--smtp",
        &smtp,
        "--text-gateway",
        &gateway,
        "--unlock-email-domain",
        "nhs.net",
        "--card-certificate-days",
        "60",
    ]);
    let mut desk = Desk::new(server);
    // The desk is an enrolled workstation: its wrong passcodes count toward the lock.
    desk.enrol_workstation("4440001");
    let s = &desk.server;
    let admin = |args: &[&str]| {
        let o = s.admin(args);
        assert!(o.status.success(), "admin {args:?}: {}", text(&o));
        text(&o)
    };
    admin(&[
        "user",
        "add",
        "--uid",
        "12",
        "--name",
        "Dr Ada Jones",
        "--email",
        "ada.jones@nhs.net",
        "--mobile",
        "+447700900012",
        "--organisation",
        "RA1",
    ]);
    admin(&["user", "add", "--uid", "34", "--name", "Sam Sponsor", "--email", "sam@nhs.net", "--organisation", "RA1"]);

    // Issue: keys on the card, two certificates from the smartcards CA, openssl verifies.
    let card = issue(&desk, "12", "123456");
    let sponsor = issue(&desk, "34", "654321");
    let listing = desk.pkcs11(&["--token-label", "card-12", "--login", "--pin", "123456", "--list-objects"]);
    for l in ["carecert auth key", "carecert sign key", "carecert auth certificate", "carecert sign certificate"] {
        assert!(listing.contains(l), "{l} missing from {listing}");
    }
    assert_eq!(listing.matches("Private Key Object").count(), 2, "{listing}");
    assert_eq!(listing.matches("Certificate Object").count(), 2, "{listing}");
    let auth0 = desk.card_cert(&card, "01", "auth0");
    let sign0 = desk.card_cert(&card, "02", "sign0");
    for c in [&auth0, &sign0] {
        let o = Command::new("openssl")
            .args(["verify", "-CAfile"])
            .arg(s.root())
            .arg("-untrusted")
            .arg(s.ca_pem("smartcards"))
            .arg(c)
            .output()
            .unwrap();
        assert!(o.status.success() && text(&o).contains("OK"), "openssl verify: {}", text(&o));
    }

    // Log in; three wrong passcodes lock the card, with the tries shown; the right one is then refused.
    let out = desk.ok(Some(&card), &["login"], &[("CARECERT_PASSCODE", "123456")]);
    assert!(out.contains("Logged in"), "{out}");
    let lock = |c: &str| {
        for expect in ["2 tries left", "1 try left", "locked"] {
            let o = desk.agent(Some(c), &["login"], &[("CARECERT_PASSCODE", "999999")]);
            assert_eq!(o.status.code(), Some(1));
            assert!(text(&o).contains(expect), "expected '{expect}': {}", text(&o));
        }
        let o = desk.agent(Some(c), &["login"], &[("CARECERT_PASSCODE", "123456")]);
        assert!(!o.status.success() && text(&o).contains("locked"), "a locked card stays locked: {}", text(&o));
    };
    lock(&card);

    // Unlock by email: the code arrives over SMTP; a new passcode is set on the card.
    let out = desk.ok(Some(&card), &["card", "unlock", "--via", "email"], &[]);
    assert!(out.contains("ad***@nhs.net"), "{out}");
    let code = code_in(&mail.recv_timeout(Duration::from_secs(10)).expect("the unlock email"));
    let o = desk.agent(Some(&card), &["card", "unlock", "--code", "00000000"], &[("CARECERT_NEW_PASSCODE", "246810")]);
    assert!(!o.status.success() && text(&o).contains("2 tries left"), "{}", text(&o));
    desk.ok(Some(&card), &["card", "unlock", "--code", &code], &[("CARECERT_NEW_PASSCODE", "246810")]);
    desk.ok(Some(&card), &["login"], &[("CARECERT_PASSCODE", "246810")]);
    let o = desk.agent(Some(&card), &["card", "unlock", "--code", &code], &[("CARECERT_NEW_PASSCODE", "135790")]);
    assert!(!o.status.success() && text(&o).contains("not locked"), "codes only for locked cards: {}", text(&o));

    // Unlock by SMS through the gateway.
    let lock2 = |c: &str, right: &str| {
        for _ in 0..3 {
            let _ = desk.agent(Some(c), &["login"], &[("CARECERT_PASSCODE", "999999")]);
        }
        let o = desk.agent(Some(c), &["login"], &[("CARECERT_PASSCODE", right)]);
        assert!(text(&o).contains("locked"), "{}", text(&o));
    };
    lock2(&card, "246810");
    let o = desk.agent(Some(&card), &["card", "unlock", "--code", &code], &[("CARECERT_NEW_PASSCODE", "135790")]);
    assert!(!o.status.success() && text(&o).contains("used already"), "a code works once: {}", text(&o));
    desk.ok(Some(&card), &["card", "unlock", "--via", "sms"], &[]);
    let sms = texts.recv_timeout(Duration::from_secs(10)).expect("the SMS");
    assert_eq!(sms["to"], "+447700900012");
    desk.ok(
        Some(&card),
        &["card", "unlock", "--code", &code_in(sms["text"].as_str().unwrap())],
        &[("CARECERT_NEW_PASSCODE", "112233")],
    );

    // Unlock by a sponsor with a second card: refused without authority, then granted.
    lock2(&card, "112233");
    let sponsor_args = ["card", "unlock", "--via", "sponsor", "--sponsor-card", sponsor.as_str()];
    let o = desk.agent(
        Some(&card),
        &sponsor_args,
        &[("CARECERT_SPONSOR_PASSCODE", "654321"), ("CARECERT_NEW_PASSCODE", "445566")],
    );
    assert!(!o.status.success() && text(&o).contains("no unlock authority"), "{}", text(&o));
    admin(&["sponsor", "grant", "--uid", "34", "--organisation", "RA1"]);
    desk.ok(
        Some(&card),
        &sponsor_args,
        &[("CARECERT_SPONSOR_PASSCODE", "654321"), ("CARECERT_NEW_PASSCODE", "445566")],
    );
    let out = desk.ok(Some(&card), &["login"], &[("CARECERT_PASSCODE", "445566")]);
    assert!(out.contains("renew now"), "the coming expiry is announced at login: {out}");

    // Renew remotely twice (Pending → Writing → Done for each certificate); the third needs the RA.
    let pass = [("CARECERT_PASSCODE", "445566")];
    let out = desk.ok(Some(&card), &["card", "renew"], &pass);
    for step in [
        "authentication certificate: Pending",
        "authentication certificate: Writing",
        "authentication certificate: Done",
        "signing certificate: Done",
    ] {
        assert!(out.contains(step), "{step} in {out}");
    }
    let auth1 = desk.card_cert(&card, "01", "auth1");
    assert_ne!(common::serial_of(&auth1), common::serial_of(&auth0));
    assert!(cert_status(&desk, &auth0).contains("revoked"), "the replaced certificate is revoked");
    desk.ok(Some(&card), &["card", "renew"], &pass);
    let o = desk.agent(Some(&card), &["card", "renew"], &pass);
    assert!(!o.status.success() && text(&o).contains("RA, in person"), "{}", text(&o));
    let ra = [("CARECERT_PASSCODE", "445566"), ("CARECERT_ADMIN_TOKEN", &s.token())];
    desk.ok(Some(&card), &["card", "renew", "--ra", "--documents", "passport"], &ra);
    let listing = desk.pkcs11(&["--token-label", "card-12", "--login", "--pin", "445566", "--list-objects"]);
    assert_eq!(listing.matches("Certificate Object").count(), 2, "exactly two certificates after renewals: {listing}");

    // Fault: the agent dies between the two certificates. The next agent run aborts the
    // attempt (its certificate is revoked: OCSP says so), the card keeps exactly its old
    // objects, and a retry succeeds.
    let before = desk.card_cert(&card, "01", "before");
    let o = desk.agent(
        Some(&card),
        &["card", "renew"],
        &[("CARECERT_PASSCODE", "445566"), ("CARECERT_AGENT_TEST_EXIT_AFTER", "auth")],
    );
    assert_eq!(o.status.code(), Some(9), "the agent was killed: {}", text(&o));
    let orphan = desk.card_cert(&card, "81", "orphan");
    assert!(cert_status(&desk, &orphan).contains("good"));
    let o = desk.agent(Some(&card), &["card", "renew", "--ra", "--documents", "x"], &[("CARECERT_PASSCODE", "000000")]);
    assert!(!o.status.success());
    desk.ok(Some(&card), &["login"], &[("CARECERT_PASSCODE", "445566")]);
    assert!(cert_status(&desk, &orphan).contains("revoked"), "the interrupted attempt's certificate is revoked");
    let listing = desk.pkcs11(&["--token-label", "card-12", "--login", "--pin", "445566", "--list-objects"]);
    assert!(!listing.contains("pending"), "no stray objects: {listing}");
    assert_eq!(
        common::serial_of(&desk.card_cert(&card, "01", "after")),
        common::serial_of(&before),
        "old certificate kept"
    );
    desk.ok(Some(&card), &["card", "renew", "--ra", "--documents", "passport"], &ra);

    // Cancelled: both certificates revoked, the card refused.
    let auth_now = desk.card_cert(&card, "01", "auth-now");
    admin(&["card", "cancel", &card]);
    assert!(cert_status(&desk, &auth_now).contains("revoked"));
    let o = desk.agent(Some(&card), &["login"], &[("CARECERT_PASSCODE", "445566")]);
    assert!(!o.status.success() && text(&o).contains("cancelled"), "{}", text(&o));

    // Every step is in the audit log, and the chain verifies.
    let audit = admin(&["audit", "list", "--limit", "500"]);
    for a in [
        "card.issued",
        "card.locked",
        "card.unlocked",
        "card.renewal_started",
        "card.renewed",
        "card.renewal_aborted",
        "card.cancelled",
    ] {
        assert!(audit.contains(a), "audit lacks {a}");
    }
    admin(&["audit", "verify"]);
}

/// Starts `carecert-agent card renew` paused after the first certificate; returns the
/// child and the resume file.
fn paused_renewal(desk: &Desk, card: &str, passcode: &str) -> (std::process::Child, PathBuf) {
    let resume = desk.server.path(&format!("resume-{card}"));
    let _ = std::fs::remove_file(&resume);
    let _ = std::fs::remove_file(resume.with_extension("waiting"));
    let bin = Path::new(common::BIN).with_file_name("carecert-agent");
    let mut child = Command::new(bin)
        .args(["--server", &desk.server.https, "--ca-file"])
        .arg(desk.server.root())
        .args(["--module", SOFTHSM, "--card", card, "card", "renew"])
        .env("SOFTHSM2_CONF", &desk.conf)
        .env("XDG_STATE_HOME", &desk.state)
        .env("CARECERT_PASSCODE", passcode)
        .env("CARECERT_AGENT_TEST_PAUSE_AFTER", "auth")
        .env("CARECERT_AGENT_TEST_RESUME_FILE", &resume)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let waiting = resume.with_extension("waiting");
    for _ in 0..400 {
        if waiting.exists() {
            return (child, resume);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("the agent did not reach the pause: {}", desk.server.log());
}

#[test]
fn renewal_survives_a_pulled_card_and_a_server_failure() {
    let server = Server::start_args(&["--card-certificate-days", "60"]);
    let mut desk = Desk::new(server);
    let o = desk.server.admin(&["user", "add", "--uid", "77", "--name", "Dr Fault", "--organisation", "RA1"]);
    assert!(o.status.success(), "{}", text(&o));
    let card = issue(&desk, "77", "777777");
    let label = label_of(&card);
    let old_auth = common::serial_of(&desk.card_cert(&card, "01", "f-old-auth"));
    let old_sign = common::serial_of(&desk.card_cert(&card, "02", "f-old-sign"));
    let token_dir = std::fs::read_dir(desk.server.path("tokens")).unwrap().flatten().next().unwrap().path();
    let pass = [("CARECERT_PASSCODE", "777777")];

    // 1. The card is pulled between the two certificates.
    let (child, resume) = paused_renewal(&desk, &card, "777777");
    let orphan = desk.card_cert(&card, "81", "f-orphan1");
    let aside = desk.server.path("pulled-card");
    std::fs::rename(&token_dir, &aside).unwrap();
    std::fs::write(&resume, b"").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success(), "the renewal must fail without the card: {}", text(&out));
    assert!(text(&out).contains("aborted"), "{}", text(&out));
    assert!(cert_status(&desk, &orphan).contains("revoked"), "the attempt's certificate is revoked at once");
    std::fs::rename(&aside, &token_dir).unwrap();
    desk.ok(Some(&card), &["login"], &pass);
    let listing = desk.pkcs11(&["--token-label", &label, "--login", "--pin", "777777", "--list-objects"]);
    assert!(!listing.contains("pending"), "no stray objects after the card is back: {listing}");
    assert_eq!(common::serial_of(&desk.card_cert(&card, "01", "f-a1")), old_auth);
    assert_eq!(common::serial_of(&desk.card_cert(&card, "02", "f-s1")), old_sign);

    // 2. The server fails at the second certificate.
    let (child, resume) = paused_renewal(&desk, &card, "777777");
    let orphan = desk.card_cert(&card, "81", "f-orphan2");
    desk.server.stop();
    std::fs::write(&resume, b"").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(3), "server unreachable: {}", text(&out));
    desk.server.launch();
    desk.ok(Some(&card), &["login"], &pass);
    assert!(cert_status(&desk, &orphan).contains("revoked"), "aborted once the server is back");
    let listing = desk.pkcs11(&["--token-label", &label, "--login", "--pin", "777777", "--list-objects"]);
    assert!(!listing.contains("pending"), "{listing}");
    assert_eq!(common::serial_of(&desk.card_cert(&card, "01", "f-a2")), old_auth);

    // 3. A retry succeeds, and the remote count was not used by the failures.
    desk.ok(Some(&card), &["card", "renew"], &pass);
    assert_ne!(common::serial_of(&desk.card_cert(&card, "01", "f-a3")), old_auth);
    let status = desk.ok(Some(&card), &["--json", "card", "status", "--details"], &pass);
    assert!(status.contains("\"remote_renewals_left\":1"), "{status}");
}

#[test]
fn expired_cards_need_the_ra_old_agents_and_bad_passcodes_are_refused() {
    let server = Server::start_args(&["--card-certificate-days", "30"]);
    let mut desk = Desk::new(server);
    let admin = |s: &Server, args: &[&str]| {
        let o = s.admin(args);
        assert!(o.status.success(), "admin {args:?}: {}", text(&o));
    };
    admin(&desk.server, &["user", "add", "--uid", "88", "--name", "Dr Expiry", "--organisation", "RA1"]);
    let card = issue(&desk, "88", "888888");
    let pass = [("CARECERT_PASSCODE", "888888")];

    // A card batch that needs a newer agent: refused, naming the version.
    admin(&desk.server, &["card", "batch", "default", "--min-agent-version", "9.0.0"]);
    let o = desk.agent(Some(&card), &["login"], &pass);
    assert!(!o.status.success() && text(&o).contains("9.0.0"), "{}", text(&o));
    admin(&desk.server, &["card", "batch", "default", "--min-agent-version", "0.1.0"]);
    desk.ok(Some(&card), &["login"], &pass);

    // A new passcode that breaks the 6–8 digit rule is refused; the old one still works.
    let o = desk.agent(
        Some(&card),
        &["card", "change-passcode"],
        &[("CARECERT_PASSCODE", "888888"), ("CARECERT_NEW_PASSCODE", "12ab")],
    );
    assert!(!o.status.success() && text(&o).contains("6 to 8 digits"), "{}", text(&o));
    desk.ok(Some(&card), &["login"], &pass);

    // 31 days later (the service's clock moved): expired — refused remotely, renewed by the RA.
    desk.server.stop();
    desk.server.extra.extend(["--clock-offset-days".to_string(), "31".to_string()]);
    desk.server.launch();
    let o = desk.agent(Some(&card), &["card", "renew"], &pass);
    assert!(!o.status.success() && text(&o).contains("expired") && text(&o).contains("RA"), "{}", text(&o));
    let old = common::serial_of(&desk.card_cert(&card, "01", "e-old"));
    desk.ok(
        Some(&card),
        &["card", "renew", "--ra", "--documents", "passport"],
        &[("CARECERT_PASSCODE", "888888"), ("CARECERT_ADMIN_TOKEN", &desk.server.token())],
    );
    assert_ne!(common::serial_of(&desk.card_cert(&card, "01", "e-new")), old);
}

/// The scripted pinentry of the tests (answers from a file, Assuan on stdin/stdout).
const PINENTRY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../web-tests/lib/scripted-pinentry");

/// Runs `carecert-agent run` for the portal, its passcode dialog the scripted pinentry
/// answering `passcode`; returns the child.
fn agent_daemon(desk: &Desk, port: u16, origin: &str, passcode: &str) -> std::process::Child {
    let bin = Path::new(common::BIN).with_file_name("carecert-agent");
    let answers = desk.server.path("pinentry-answers");
    std::fs::write(&answers, format!("{passcode}\n").repeat(10)).unwrap();
    let mut child = Command::new(bin)
        .args(["--server", &desk.server.https, "--ca-file"])
        .arg(desk.server.root())
        .args([
            "--module",
            SOFTHSM,
            "--pinentry",
            PINENTRY,
            "run",
            "--poll-ms",
            "100",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--portal-origin",
            origin,
        ])
        .env("SOFTHSM2_CONF", &desk.conf)
        .env("XDG_STATE_HOME", &desk.state)
        .env("SCRIPTED_PINENTRY_ANSWERS", &answers)
        .env_remove("CARECERT_PASSCODE")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return child;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("the agent's API did not start");
}

fn curl(args: &[&str]) -> (u16, String, String) {
    let out =
        Command::new("curl").args(["-s", "-D", "-", "-o", "-", "-w", "\n%{http_code}"]).args(args).output().unwrap();
    let t = String::from_utf8_lossy(&out.stdout).to_string();
    let (rest, code) = t.rsplit_once('\n').unwrap_or(("", "0"));
    let (head, body) = rest.split_once("\r\n\r\n").unwrap_or((rest, ""));
    (code.trim().parse().unwrap_or(0), head.to_string(), body.to_string())
}

#[test]
fn portal_smartcard_login_roles_and_card_removal_within_a_second() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let agent_url = format!("http://127.0.0.1:{port}");
    let server = Server::start_args(&["--agent-url", &agent_url]);
    let desk = Desk::new(server);
    let s = &desk.server;
    let ok = |args: &[&str]| {
        let o = s.admin(args);
        assert!(o.status.success(), "{}", text(&o));
    };
    ok(&["user", "add", "--uid", "12", "--name", "Dr Ada Jones", "--organisation", "RA1"]);
    ok(&[
        "account",
        "add",
        "--username",
        "ada",
        "--name",
        "Dr Ada Jones",
        "--uid",
        "12",
        "--role",
        "portal:clinician",
        "--role",
        "portal:admin",
    ]);
    let card = issue(&desk, "12", "123456");
    let origin = s.https.clone();
    let mut daemon = agent_daemon(&desk, port, &origin, "123456");

    // Another origin may not ask the agent for a ticket.
    let (code, _, _) = curl(&["-X", "POST", "-H", "Origin: https://evil.example", &format!("{agent_url}/v1/ticket")]);
    assert_eq!(code, 403);
    // The portal's origin gets a one-time ticket (the card signed a challenge after the passcode).
    let (code, head, body) =
        curl(&["-X", "POST", "-H", &format!("Origin: {origin}"), &format!("{agent_url}/v1/ticket")]);
    assert_eq!(code, 200, "{body}");
    assert!(
        head.to_ascii_lowercase().contains(&format!("access-control-allow-origin: {}", origin.to_ascii_lowercase())),
        "{head}"
    );
    let ticket = serde_json::from_str::<serde_json::Value>(&body).unwrap()["ticket"].as_str().unwrap().to_string();

    // The browser redeems it: two roles, so the role page comes first.
    let jar = s.path("portal-cookies");
    let root = s.root();
    let base = |p: &str| format!("{}{p}", s.https);
    let post = |path: &str, form: &str| {
        curl(&[
            "--cacert",
            root.to_str().unwrap(),
            "-b",
            jar.to_str().unwrap(),
            "-c",
            jar.to_str().unwrap(),
            "-H",
            "Content-Type: application/x-www-form-urlencoded",
            "--data-binary",
            form,
            &base(path),
        ])
    };
    let get = |path: &str| {
        curl(&[
            "--cacert",
            root.to_str().unwrap(),
            "-b",
            jar.to_str().unwrap(),
            "-c",
            jar.to_str().unwrap(),
            &base(path),
        ])
    };
    let (code, head, _) = post("/portal/login/card", &format!("ticket={ticket}"));
    assert!(code == 303 && head.contains("/portal/role"), "{head}");
    let (_, _, page) = get("/portal/role");
    let i = page.find("name=\"csrf\" value=\"").unwrap() + 19;
    let csrf = page[i..i + 64].to_string();
    let (code, _, _) = post("/portal/role", &format!("csrf={csrf}&role=portal%3Aclinician"));
    assert_eq!(code, 303);
    let (code, _, page) = get("/portal/");
    assert!(code == 200 && page.contains("Dr Ada Jones") && page.contains(">clinician<"), "{page}");
    // A replayed ticket is refused.
    let (code, head, _) = curl(&[
        "--cacert",
        root.to_str().unwrap(),
        "--data-binary",
        &format!("ticket={ticket}"),
        &base("/portal/login/card"),
    ]);
    assert!(code == 303 && head.contains("/portal/refused"), "{head}");

    // The agent stops without a removal report (killed, or its network cut) and no page holds
    // an event stream open: the next page request, not only the stream, ends the session once
    // the heartbeat is overdue.
    let _ = daemon.kill();
    let _ = daemon.wait();
    std::thread::sleep(Duration::from_secs(portal::DEFAULT_HEARTBEAT_GRACE_SECS + 2));
    let (code, head, _) = get("/portal/");
    assert!(code == 303 && head.contains("logged-out"), "a page after the heartbeat stopped: {head}");
    // The agent is back: a new ticket, a new session.
    let mut daemon = agent_daemon(&desk, port, &origin, "123456");
    let (code, _, body) = curl(&["-X", "POST", "-H", &format!("Origin: {origin}"), &format!("{agent_url}/v1/ticket")]);
    assert_eq!(code, 200, "{body}");
    let ticket = serde_json::from_str::<serde_json::Value>(&body).unwrap()["ticket"].as_str().unwrap().to_string();
    let (code, head, _) = post("/portal/login/card", &format!("ticket={ticket}"));
    assert!(code == 303 && head.contains("/portal/role"), "{head}");
    let (_, _, page) = get("/portal/role");
    let i = page.find("name=\"csrf\" value=\"").unwrap() + 19;
    let csrf = page[i..i + 64].to_string();
    let (code, _, _) = post("/portal/role", &format!("csrf={csrf}&role=portal%3Aclinician"));
    assert_eq!(code, 303);

    // The page's event stream; the card is pulled; the stream says "ended" within a second.
    let mut sse = Command::new("curl")
        .args(["-s", "-N", "--cacert", root.to_str().unwrap(), "-b", jar.to_str().unwrap(), &base("/portal/events")])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(600));
    let token_dir = std::fs::read_dir(desk.server.path("tokens")).unwrap().flatten().next().unwrap().path();
    let pulled = std::time::Instant::now();
    std::fs::rename(&token_dir, desk.server.path("pulled")).unwrap();
    let mut out = sse.stdout.take().unwrap();
    let mut seen = String::new();
    let mut buf = [0u8; 256];
    while !seen.contains("event: ended") && pulled.elapsed() < Duration::from_secs(5) {
        let n = out.read(&mut buf).unwrap_or(0);
        if n == 0 {
            break;
        }
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    let took = pulled.elapsed();
    let _ = sse.kill();
    let _ = sse.wait();
    assert!(seen.contains("event: ended"), "the page is told the session ended: {seen}");
    assert!(took < Duration::from_secs(1), "card removal to logged-out took {took:?}");
    eprintln!("card removal → session ended in {took:?}");
    let (code, head, _) = get("/portal/");
    assert!(code == 303 && head.contains("logged-out"), "{head}");
    let _ = daemon.kill();
    let _ = daemon.wait();
    let _ = card;

    // A card whose UID is not registered for the portal: a clear refusal.
    ok(&["user", "add", "--uid", "99", "--name", "Not Registered", "--organisation", "RA1"]);
    let other = issue(&desk, "99", "999999");
    let _ = other;
    let mut daemon = agent_daemon(&desk, port, &origin, "999999");
    let (code, _, body) = curl(&["-X", "POST", "-H", &format!("Origin: {origin}"), &format!("{agent_url}/v1/ticket")]);
    let _ = daemon.kill();
    let _ = daemon.wait();
    assert!(code == 403 && body.contains("not registered") && body.contains("helpdesk"), "{code} {body}");
}

#[test]
fn a_browser_holding_the_card_certificate_logs_in_with_tls_client_authentication() {
    let server = Server::start();
    let ok = |args: &[&str]| {
        let o = server.admin(args);
        assert!(o.status.success(), "{}", text(&o));
    };
    ok(&["user", "add", "--uid", "31", "--name", "Dr Tls Browser", "--organisation", "RA1"]);
    ok(&[
        "account",
        "add",
        "--username",
        "tls",
        "--name",
        "Dr Tls Browser",
        "--uid",
        "31",
        "--role",
        "portal:clinician",
    ]);
    // A "card" whose keys the browser's middleware holds: issued through the RA API from CSRs.
    let (auth_key, auth_csr) = server.openssl_csr("auth", &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]);
    let (_, sign_csr) = server.openssl_csr("sign", &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]);
    let body = serde_json::json!({
        "uid": "31", "card_serial": "TLSCARD1", "documents": "passport", "so_pin": "12345678",
        "auth_csr": std::fs::read_to_string(&auth_csr).unwrap(), "sign_csr": std::fs::read_to_string(&sign_csr).unwrap(),
        "agent_version": "1.0.0",
    });
    let (code, resp) = server.api("POST", "/api/v1/admin/cards", Some(body.to_string().as_bytes()), "application/json");
    assert_eq!(code, 201, "{resp}");
    let v: serde_json::Value = serde_json::from_str(&resp).unwrap();
    let cert = server.path("auth-cert.pem");
    std::fs::write(
        &cert,
        format!("{}{}", v["auth"]["certificate_pem"].as_str().unwrap(), v["chain_pem"].as_str().unwrap()),
    )
    .unwrap();
    let jar = server.path("tls-cookies");
    let root = server.root();
    let login = |with_cert: bool| {
        let mut args = vec!["--cacert", root.to_str().unwrap(), "-c", jar.to_str().unwrap(), "-X", "POST"];
        if with_cert {
            args.extend(["--cert", cert.to_str().unwrap(), "--key", auth_key.to_str().unwrap()]);
        }
        let url = format!("{}/portal/login/certificate", server.https);
        let mut a: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        a.push(url);
        curl(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let (code, head, _) = login(false);
    assert!(code == 303 && head.contains("/portal/refused"), "without a certificate: {head}");
    let (code, head, _) = login(true);
    assert!(code == 303 && head.contains("Location: /portal/") || head.contains("location: /portal/"), "{head}");
    let (code, _, page) =
        curl(&["--cacert", root.to_str().unwrap(), "-b", jar.to_str().unwrap(), &format!("{}/portal/", server.https)]);
    assert!(code == 200 && page.contains("Dr Tls Browser"), "{page}");
    // Revoked: refused at once.
    ok(&["card", "cancel", "TLSCARD1"]);
    let (code, head, _) = login(true);
    assert!(code == 303 && head.contains("/portal/refused"), "{head}");
}

/// `curl` against the cards API without any client certificate (an unauthenticated caller);
/// returns (status, headers, body).
fn anonymous(server: &Server, method: &str, path: &str, body: Option<&str>) -> (u16, String, String) {
    let root = server.root();
    let url = format!("{}{path}", server.https);
    let mut args = vec!["--cacert", root.to_str().unwrap(), "-X", method];
    if let Some(b) = body {
        args.extend(["-H", "Content-Type: application/json", "--data-binary", b]);
    }
    args.push(&url);
    curl(&args)
}

/// [`anonymous`] from another address on this machine (127.0.0.2): the attacker is not at
/// the holder's workstation, and the per-source limits tell them apart.
fn from_elsewhere(server: &Server, method: &str, path: &str, body: Option<&str>) -> (u16, String, String) {
    let root = server.root();
    let url = format!("{}{path}", server.https);
    let mut args = vec!["--interface", "127.0.0.2", "--cacert", root.to_str().unwrap(), "-X", method];
    if let Some(b) = body {
        args.extend(["-H", "Content-Type: application/json", "--data-binary", b]);
    }
    args.push(&url);
    curl(&args)
}

/// Issue 10, done-when 1: 100 unauthenticated challenge requests and passcode-failure reports
/// for a card leave it usable by its holder (the agent with the right passcode logs in) and
/// get the attacking source 429s with Retry-After; the status anyone may read shows no UID
/// and no tries; a real wrong passcode typed three times through the agent on an enrolled
/// workstation (mutual TLS with its machine certificate) still locks the card.
#[test]
fn nobody_unauthenticated_locks_a_card_and_an_enrolled_workstation_still_does() {
    let server = Server::start();
    let mut desk = Desk::new(server);
    let o = desk.server.admin(&["user", "add", "--uid", "55", "--name", "Dr Flood Target", "--organisation", "RA1"]);
    assert!(o.status.success(), "{}", text(&o));
    let card = issue(&desk, "55", "555555");
    let s = &desk.server;

    // Before login, anyone learns only whether the card can be used.
    let (code, _, body) = anonymous(s, "GET", &format!("/api/v1/cards/{card}"), None);
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let mut keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["message", "serial", "status"], "no UID, no tries, no dates: {body}");
    assert!(!body.contains("55\"") && !body.contains("tries"), "{body}");
    let (code, _, _) = anonymous(s, "GET", &format!("/api/v1/cards/{card}/details"), None);
    assert_eq!(code, 401, "the full view needs a card session");

    // The flood: 100 challenge requests, each followed by a failure report (naming the
    // challenge when one was given, a made-up one otherwise).
    let (mut got, mut limited, mut with_retry_after, mut counted) = (0, 0, 0, 0);
    for _ in 0..100 {
        let (code, head, body) = from_elsewhere(s, "POST", &format!("/api/v1/cards/{card}/challenges"), None);
        let nonce = match code {
            200 => {
                got += 1;
                serde_json::from_str::<serde_json::Value>(&body).unwrap()["nonce"].as_str().unwrap().to_string()
            }
            429 => {
                limited += 1;
                with_retry_after += usize::from(head.to_ascii_lowercase().contains("retry-after:"));
                "00".repeat(32)
            }
            other => panic!("challenge: {other} {body}"),
        };
        let report = serde_json::json!({"nonce": nonce}).to_string();
        let (code, _, body) =
            from_elsewhere(s, "POST", &format!("/api/v1/cards/{card}/passcode-failures"), Some(&report));
        match code {
            200 => {
                let f: serde_json::Value = serde_json::from_str(&body).unwrap();
                assert_eq!((f["locked"].as_bool(), f["counted"].as_bool()), (Some(false), Some(false)), "{body}");
                counted += usize::from(f["counted"].as_bool() == Some(true));
            }
            400 => assert!(body.contains("challenge"), "{body}"),
            // The per-source limit on card endpoints (server `[limits]`) may answer first.
            429 => assert!(body.contains("rate_limited"), "{body}"),
            other => panic!("report: {other} {body}"),
        }
    }
    eprintln!("flood: {got} challenges issued, {limited} refused with 429 ({with_retry_after} with Retry-After)");
    // The back-off doubles from 2 s: over the few seconds the flood takes, at most a handful
    // of challenges are issued.
    assert!(got <= 4 && limited >= 96, "the source is throttled: {got} issued, {limited} refused");
    assert_eq!(with_retry_after, limited, "every 429 says when to retry");
    assert_eq!(counted, 0);
    let (_, _, body) = anonymous(s, "GET", &format!("/api/v1/cards/{card}"), None);
    assert!(body.contains("\"active\""), "still usable: {body}");

    // An agent on an unenrolled workstation (the holder's address, not the attacker's): its
    // wrong passcode is not counted, and it is told so.
    let o = desk.agent(Some(&card), &["login"], &[("CARECERT_PASSCODE", "999999")]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("not enrolled") || text(&o).contains("slowed down"), "{}", text(&o));

    // The holder on an enrolled workstation logs in: the flood was not theirs.
    desk.enrol_workstation("4440055");
    let s = &desk.server;
    let out = desk.ok(Some(&card), &["login"], &[("CARECERT_PASSCODE", "555555")]);
    assert!(out.contains("Logged in"), "{out}");
    let out = desk.ok(Some(&card), &["--json", "card", "status", "--details"], &[("CARECERT_PASSCODE", "555555")]);
    assert!(
        out.contains("\"uid\":\"55\"") && out.contains("\"tries_left\":3"),
        "after login the holder sees all: {out}"
    );

    // Three real wrong passcodes through the agent on the enrolled workstation lock it.
    for expect in ["2 tries left", "1 try left", "locked"] {
        let o = desk.agent(Some(&card), &["login"], &[("CARECERT_PASSCODE", "999999")]);
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        assert!(text(&o).contains(expect), "expected '{expect}': {}", text(&o));
    }
    let o = desk.agent(Some(&card), &["login"], &[("CARECERT_PASSCODE", "555555")]);
    assert!(!o.status.success() && text(&o).contains("locked"), "{}", text(&o));
    let (_, _, body) = anonymous(s, "GET", &format!("/api/v1/cards/{card}"), None);
    assert!(body.contains("\"locked\""), "{body}");
    let audit = text(&s.admin(&["audit", "list", "--limit", "500"]));
    assert_eq!(audit.matches("card.passcode_wrong").count(), 3, "only the workstation's failures are audited: {audit}");
}

/// `curl` with the workstation's certificate (mutual TLS); returns (status, headers, body).
fn from_workstation(desk: &Desk, path: &str, body: Option<&str>) -> (u16, String, String) {
    let s = &desk.server;
    let (cert, key) = desk.workstation.clone().unwrap();
    let root = s.root();
    let url = format!("{}{path}", s.https);
    let mut args = vec!["--cacert", root.to_str().unwrap(), "--cert", cert.to_str().unwrap(), "--key"];
    args.push(key.to_str().unwrap());
    args.extend(["-X", "POST"]);
    if let Some(b) = body {
        args.extend(["-H", "Content-Type: application/json", "--data-binary", b]);
    }
    args.push(&url);
    curl(&args)
}

/// Issue 10, done-when 2 (unlock codes) against the real server on `database`: a code is
/// refused for a card that is not locked; sending is throttled per card (429, Retry-After);
/// of 30 concurrent unlock attempts with wrong codes, and the right code sent after them, at
/// most 3 are judged and the right one is refused (the code is used up).
fn unlock_codes_hold_under_concurrency_on(database: Option<String>) {
    let (smtp_port, mail) = smtp_server();
    let smtp = format!("127.0.0.1:{smtp_port}");
    let server = Server::start_db_args(database, &["--smtp", &smtp, "--unlock-email-domain", "nhs.net"]);
    let mut desk = Desk::new(server);
    desk.enrol_workstation("4440077");
    let s = &desk.server;
    let o = s.admin(&[
        "user",
        "add",
        "--uid",
        "77",
        "--name",
        "Dr Race",
        "--email",
        "race@nhs.net",
        "--organisation",
        "RA1",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    // A card whose keys are software keys, issued through the RA API (no reader needed here).
    let (_, auth_csr) = s.openssl_csr("race-auth", &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]);
    let (_, sign_csr) = s.openssl_csr("race-sign", &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]);
    let body = serde_json::json!({
        "uid": "77", "card_serial": "RACE77", "documents": "passport", "so_pin": "12345678",
        "auth_csr": std::fs::read_to_string(&auth_csr).unwrap(), "sign_csr": std::fs::read_to_string(&sign_csr).unwrap(),
        "agent_version": "1.0.0",
    });
    let (code, resp) = s.api("POST", "/api/v1/admin/cards", Some(body.to_string().as_bytes()), "application/json");
    assert_eq!(code, 201, "{resp}");
    let email = serde_json::json!({"channel": "email"}).to_string();

    // Not locked: no code is sent, none is accepted.
    let (code, _, body) = anonymous(s, "POST", "/api/v1/cards/RACE77/unlock-codes", Some(&email));
    assert!(code == 409 && body.contains("not locked"), "{code} {body}");
    let (code, _, body) = anonymous(s, "POST", "/api/v1/cards/RACE77/unlock", Some(r#"{"code":"12345678"}"#));
    assert!(code == 409 && body.contains("not locked"), "{code} {body}");

    // Three wrong passcodes reported by the enrolled workstation lock it.
    for _ in 0..3 {
        let (code, _, body) = from_workstation(&desk, "/api/v1/cards/RACE77/challenges", None);
        assert_eq!(code, 200, "{body}");
        let nonce = serde_json::from_str::<serde_json::Value>(&body).unwrap()["nonce"].as_str().unwrap().to_string();
        let report = serde_json::json!({"nonce": nonce}).to_string();
        let (code, _, body) = from_workstation(&desk, "/api/v1/cards/RACE77/passcode-failures", Some(&report));
        assert!(code == 200 && body.contains("\"counted\":true"), "{code} {body}");
    }
    let (_, _, body) = anonymous(s, "GET", "/api/v1/cards/RACE77", None);
    assert!(body.contains("\"locked\""), "{body}");

    // A code is sent; the per-card burst (2) is then used up by a second send: 429.
    let (code, _, body) = anonymous(s, "POST", "/api/v1/cards/RACE77/unlock-codes", Some(&email));
    assert_eq!(code, 200, "{body}");
    let (code, _, _) = anonymous(s, "POST", "/api/v1/cards/RACE77/unlock-codes", Some(&email));
    assert_eq!(code, 200);
    let (code, head, body) = anonymous(s, "POST", "/api/v1/cards/RACE77/unlock-codes", Some(&email));
    assert!(code == 429 && head.to_ascii_lowercase().contains("retry-after:"), "{code} {head} {body}");
    let _first = mail.recv_timeout(Duration::from_secs(10)).expect("the first code");
    let right = code_in(&mail.recv_timeout(Duration::from_secs(10)).expect("the second code (the valid one)"));

    // 30 wrong codes at once, the right one 300 ms later.
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(31));
    let attempts: Vec<_> = (0..31)
        .map(|i| {
            let barrier = barrier.clone();
            let root = s.root();
            let url = format!("{}/api/v1/cards/RACE77/unlock", s.https);
            let guess = if i == 30 {
                right.clone()
            } else if format!("{i:08}") == right {
                "99999999".into()
            } else {
                format!("{i:08}")
            };
            std::thread::spawn(move || {
                barrier.wait();
                if i == 30 {
                    std::thread::sleep(Duration::from_millis(300));
                }
                let body = serde_json::json!({"code": guess}).to_string();
                let (code, _, body) = curl(&[
                    "--cacert",
                    root.to_str().unwrap(),
                    "-H",
                    "Content-Type: application/json",
                    "--data-binary",
                    &body,
                    &url,
                ]);
                (i, code, body)
            })
        })
        .collect();
    let (mut judged, mut unjudged) = (0, 0);
    for a in attempts {
        let (i, code, body) = a.join().unwrap();
        assert_ne!(code, 200, "attempt {i} unlocked the card: {body}");
        if body.contains("not right") {
            judged += 1;
        } else if body.contains("too many wrong codes") {
            unjudged += 1;
        } else {
            panic!("attempt {i}: {code} {body}");
        }
        if i == 30 {
            assert!(body.contains("too many wrong codes"), "the right code after three wrong ones is refused: {body}");
        }
    }
    eprintln!("31 concurrent unlock attempts: {judged} judged, {unjudged} refused unjudged");
    assert_eq!((judged, unjudged), (3, 28), "exactly the code's 3 tries were judged");
    let (_, _, body) = anonymous(s, "GET", "/api/v1/cards/RACE77", None);
    assert!(body.contains("\"locked\""), "{body}");
}

#[test]
fn unlock_codes_hold_under_concurrency_on_sqlite() {
    unlock_codes_hold_under_concurrency_on(None);
}

#[test]
fn unlock_codes_hold_under_concurrency_on_postgresql() {
    if std::env::var("CARECERT_SKIP_PG").as_deref() == Ok("1") {
        eprintln!("CARECERT_SKIP_PG=1: skipped on purpose");
        return;
    }
    let admin =
        std::env::var("CARECERT_TEST_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let name = format!("carecert_unlock_{}", std::process::id());
    let out = Command::new("psql").args([admin.as_str(), "-qc", &format!("CREATE DATABASE {name}")]).output().unwrap();
    assert!(out.status.success(), "PostgreSQL must be reachable at {admin}: {}", text(&out));
    let url = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);
    unlock_codes_hold_under_concurrency_on(Some(url));
    let _ = Command::new("psql")
        .args([admin.as_str(), "-qc", &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")])
        .output();
}
