//! The agent's passcode dialog and its local API's jobs, end to end: `carecert serve`,
//! `carecert-agent run --pinentry web-tests/lib/scripted-pinentry` on SoftHSM2 tokens (the
//! scripted pinentry speaks Assuan, answers from a file and logs what the agent asked), and
//! the local API driven over HTTP with curl, as the portal's pages do.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a failed assumption is a failed test

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{Server, smtp_server, text};
use serde_json::Value;

const SOFTHSM: &str = "/usr/lib/softhsm/libsofthsm2.so";
const PINENTRY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../web-tests/lib/scripted-pinentry");
const ORIGIN: &str = "https://portal.test";

fn agent_bin() -> PathBuf {
    let bin = Path::new(common::BIN).with_file_name("carecert-agent");
    assert!(bin.exists(), "{} is missing: build it with `cargo build --workspace --bins`", bin.display());
    bin
}

/// A workstation: a SoftHSM2 token directory, the agent's state, an enrolled machine
/// certificate (its wrong passcodes count), the scripted pinentry's answers and log.
struct Desk {
    server: Server,
    conf: PathBuf,
    state: PathBuf,
    workstation: Option<(PathBuf, PathBuf)>,
    answers: PathBuf,
    log: PathBuf,
}

impl Desk {
    fn new(server: Server) -> Self {
        assert!(Path::new(SOFTHSM).exists(), "SoftHSM2 is missing: install the Debian package softhsm2");
        let tokens = server.path("tokens");
        std::fs::create_dir(&tokens).unwrap();
        let conf = server.path("softhsm2.conf");
        let t = format!("directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n", tokens.display());
        std::fs::write(&conf, t).unwrap();
        let (state, answers, log) = (server.path("state"), server.path("answers"), server.path("pinentry.log"));
        Desk { server, conf, state, workstation: None, answers, log }
    }

    fn enrol_workstation(&mut self, epoc: &str) {
        let s = &self.server;
        let ok = |o: Output| assert!(o.status.success(), "{}", text(&o));
        ok(s.admin(&[
            "org",
            "add",
            "--epoc",
            epoc,
            "--name",
            "Dialog Surgery",
            "--kind",
            "gp",
            "--approval",
            "automatic",
        ]));
        let o = s.admin(&["--json", "pin", "issue", "--epoc", epoc]);
        assert!(o.status.success(), "{}", text(&o));
        let pin = serde_json::from_slice::<Value>(&o.stdout).unwrap()["pin"].as_str().unwrap().to_string();
        let store = s.path("workstation");
        ok(s.ecmt(&store, &["renew", "--epoc", epoc, "--accept-policy"], &[("ECMT_PIN", &pin)]));
        self.workstation = Some((store.join("cert.pem"), store.join("key.pem")));
    }

    fn command(&self, card: Option<&str>) -> Command {
        let mut cmd = Command::new(agent_bin());
        cmd.args(["--server", &self.server.https, "--ca-file"]).arg(self.server.root());
        cmd.args(["--module", SOFTHSM]);
        if let Some(c) = card {
            cmd.args(["--card", c]);
        }
        if let Some((cert, key)) = &self.workstation {
            cmd.arg("--client-cert").arg(cert).arg("--client-key").arg(key);
        }
        cmd.env("SOFTHSM2_CONF", &self.conf).env("XDG_STATE_HOME", &self.state);
        for (k, _) in std::env::vars() {
            if k.starts_with("CARECERT_") || k.starts_with("SCRIPTED_PINENTRY") {
                cmd.env_remove(k);
            }
        }
        cmd
    }

    /// A terminal command (no terminal: scripts' variables).
    fn agent(&self, card: Option<&str>, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = self.command(card);
        cmd.args(args).envs(env.iter().copied());
        cmd.stdin(Stdio::null()).output().unwrap()
    }

    /// Issues a card to `uid` at this desk; returns its serial.
    fn issue(&self, uid: &str, passcode: &str) -> String {
        let o = self.agent(
            None,
            &["--json", "card", "issue", "--uid", uid, "--documents", "passport", "--label", &format!("card-{uid}")],
            &[("CARECERT_ADMIN_TOKEN", &self.server.token()), ("CARECERT_NEW_PASSCODE", passcode)],
        );
        assert!(o.status.success(), "issue: {}", text(&o));
        let out = String::from_utf8_lossy(&o.stdout).to_string();
        let v: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
        v["card"].as_str().unwrap().to_string()
    }

    fn login_works(&self, card: &str, passcode: &str) -> bool {
        self.agent(Some(card), &["login"], &[("CARECERT_PASSCODE", passcode)]).status.success()
    }

    /// `carecert-agent run --pinentry scripted-pinentry` for `card`; returns it and its URL.
    fn daemon(&self, card: &str) -> (Child, String) {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut cmd = self.command(Some(card));
        cmd.args(["--pinentry", PINENTRY, "run", "--poll-ms", "100", "--listen", &format!("127.0.0.1:{port}")]);
        cmd.args(["--portal-origin", ORIGIN]);
        cmd.env("SCRIPTED_PINENTRY_ANSWERS", &self.answers).env("SCRIPTED_PINENTRY_LOG", &self.log);
        let err = std::fs::File::create(self.server.path("agent.err")).unwrap();
        let mut child = cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(err).spawn().unwrap();
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return (child, format!("http://127.0.0.1:{port}"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("the agent's API did not start: {}", std::fs::read_to_string(self.server.path("agent.err")).unwrap());
    }

    /// What the dialog will "type", one line per passcode asked (`CANCEL` presses Cancel).
    fn answer(&self, lines: &[&str]) {
        std::fs::write(&self.answers, lines.iter().map(|l| format!("{l}\n")).collect::<String>()).unwrap();
        let _ = std::fs::remove_file(&self.log);
    }

    /// What the agent asked the dialog: (command, text) in order.
    fn asked(&self) -> Vec<(String, String)> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .map(|v| {
                let t = v["text"].as_str().or(v["answer"].as_str()).unwrap_or("").to_string();
                (v["command"].as_str().unwrap().to_string(), t)
            })
            .collect()
    }

    fn answers_left(&self) -> usize {
        std::fs::read_to_string(&self.answers).unwrap_or_default().lines().filter(|l| !l.trim().is_empty()).count()
    }
}

/// `curl` the local API as the portal's page would (its Origin); returns (status, body).
fn local(method: &str, url: &str, body: Option<&Value>) -> (u16, String) {
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "-o", "-", "-w", "\n%{http_code}", "-X", method, "-H", &format!("Origin: {ORIGIN}")]);
    if let Some(b) = body {
        cmd.args(["-H", "Content-Type: application/json", "--data-binary", &b.to_string()]);
    }
    let out = cmd.arg(url).output().unwrap();
    let t = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = t.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

/// Starts a job; returns its id.
fn start_job(api: &str, job: Value) -> String {
    let (code, body) = local("POST", &format!("{api}/v1/jobs"), Some(&job));
    assert_eq!(code, 202, "{body}");
    serde_json::from_str::<Value>(&body).unwrap()["job"].as_str().unwrap().to_string()
}

/// Polls `GET /v1/jobs/ID` until its state is one of `states`.
fn wait_job(api: &str, id: &str, states: &[&str]) -> Value {
    let start = Instant::now();
    loop {
        let (code, body) = local("GET", &format!("{api}/v1/jobs/{id}"), None);
        assert_eq!(code, 200, "{body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        if states.contains(&v["state"].as_str().unwrap()) {
            return v;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "job {id} stuck: {v}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The last event's data.
fn last(v: &Value) -> &Value {
    &v["events"].as_array().unwrap().last().unwrap()["data"]
}

fn admin_ok(s: &Server, args: &[&str]) {
    let o = s.admin(args);
    assert!(o.status.success(), "admin {args:?}: {}", text(&o));
}

#[test]
fn passcode_dialog_changes_the_passcode_cancel_changes_nothing_wrong_then_right_and_unlock() {
    let (smtp_port, mail) = smtp_server();
    let smtp = format!("127.0.0.1:{smtp_port}");
    let server = Server::start_args(&["--smtp", &smtp, "--unlock-email-domain", "nhs.net"]);
    let mut desk = Desk::new(server);
    desk.enrol_workstation("4440021");
    let s = &desk.server;
    admin_ok(
        s,
        &["user", "add", "--uid", "21", "--name", "Dr Dee Dialog", "--email", "dee@nhs.net", "--organisation", "RA1"],
    );
    admin_ok(s, &["user", "add", "--uid", "24", "--name", "Sam Sponsor", "--organisation", "RA1"]);
    admin_ok(s, &["sponsor", "grant", "--uid", "24", "--organisation", "RA1"]);
    let card = desk.issue("21", "111111");
    let sponsor = desk.issue("24", "242424");

    // A terminal command with --pinentry asks in the dialog too.
    desk.answer(&["111111"]);
    let answers = desk.answers.to_str().unwrap().to_string();
    let o = desk.agent(Some(&card), &["--pinentry", PINENTRY, "login"], &[("SCRIPTED_PINENTRY_ANSWERS", &answers)]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(desk.answers_left(), 0, "the login's passcode came from the dialog");

    let (mut daemon, api) = desk.daemon(&card);

    // The page sees the card, never a passcode.
    let (code, body) = local("GET", &format!("{api}/v1/card"), None);
    assert_eq!(code, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["serial"], card.as_str());
    assert_eq!(v["label"], "card-21");
    assert_eq!(v["present"], true);

    // Cancel in the dialog: the job fails `cancelled`, nothing changed (the old passcode works).
    desk.answer(&["CANCEL"]);
    let id = start_job(&api, serde_json::json!({"task": "change-passcode"}));
    let v = wait_job(&api, &id, &["done", "failed"]);
    assert_eq!(v["state"], "failed", "{v}");
    assert_eq!(last(&v)["error"], "cancelled", "{v}");
    assert_eq!(last(&v)["unchanged"], true, "{v}");
    assert!(desk.login_works(&card, "111111"), "the passcode is unchanged after Cancel");

    // Wrong, then right, then the new passcode twice: changed; the dialog named the card,
    // its holder and the tries left, and showed the failure.
    desk.answer(&["999999", "111111", "222222", "222222"]);
    let id = start_job(&api, serde_json::json!({"task": "change-passcode"}));
    let v = wait_job(&api, &id, &["done", "failed"]);
    assert_eq!(v["state"], "done", "{v}\n{}", desk.server.log());
    assert_eq!(last(&v)["changed"], true);
    assert_eq!(desk.answers_left(), 0);
    let asked = desk.asked();
    let descs: Vec<&String> = asked.iter().filter(|(c, _)| c == "SETDESC").map(|(_, t)| t).collect();
    assert!(
        descs.iter().all(|d| d.contains(&card) && d.contains("card-21") && d.contains("Dr Dee Dialog")),
        "{descs:?}"
    );
    assert!(descs.iter().any(|d| d.contains("2 tries left")), "{descs:?}");
    assert!(
        asked.iter().any(|(c, t)| c == "SETERROR" && t == "Wrong passcode — 2 tries left"),
        "the second dialog shows the failure: {asked:?}"
    );
    assert!(!desk.login_works(&card, "111111"), "the old passcode is refused");
    assert!(desk.login_works(&card, "222222"), "the new passcode works");

    // Three wrong passcodes typed into the dialog lock the card (the card locks on the 3rd).
    desk.answer(&["999999", "999999", "999999", "222222"]);
    let id = start_job(&api, serde_json::json!({"task": "change-passcode"}));
    let v = wait_job(&api, &id, &["done", "failed"]);
    assert_eq!(last(&v)["error"], "locked", "{v}");
    assert_eq!(desk.answers_left(), 1, "no fourth dialog after the lock");
    let asked = desk.asked();
    assert!(asked.iter().any(|(c, t)| c == "SETERROR" && t == "Wrong passcode — 1 try left"), "{asked:?}");

    // Unlock with the emailed code: the new passcode is chosen in the dialog (twice).
    let o = desk.agent(Some(&card), &["card", "unlock", "--via", "email"], &[]);
    assert!(o.status.success(), "{}", text(&o));
    let m = mail.recv_timeout(Duration::from_secs(10)).expect("the unlock email");
    let i = m.find("code is ").expect("a code in the message") + 8;
    let code = m[i..i + 8].to_string();
    // Cancel first: the code is not used up, the card stays locked.
    desk.answer(&["CANCEL"]);
    let id = start_job(&api, serde_json::json!({"task": "unlock", "code": code}));
    let v = wait_job(&api, &id, &["done", "failed"]);
    assert_eq!(last(&v)["error"], "cancelled", "{v}");
    desk.answer(&["333333", "333333"]);
    let id = start_job(&api, serde_json::json!({"task": "unlock", "code": code}));
    let v = wait_job(&api, &id, &["done", "failed"]);
    assert_eq!(v["state"], "done", "{v}");
    assert_eq!(last(&v)["unlocked"], true);
    assert_eq!(last(&v)["serial"], card.as_str());
    assert!(desk.login_works(&card, "333333"), "the unlocked card has its new passcode");

    // Locked again; a sponsor unlocks it with their own card in a second reader: the
    // sponsor's passcode, then the holder's new passcode twice, all in the dialog.
    desk.answer(&["999999", "999999", "999999"]);
    let id = start_job(&api, serde_json::json!({"task": "change-passcode"}));
    assert_eq!(last(&wait_job(&api, &id, &["done", "failed"]))["error"], "locked");
    let (code, body) = local("GET", &format!("{api}/v1/card?all=1"), None);
    assert_eq!(code, 200, "{body}");
    let all: Value = serde_json::from_str(&body).unwrap();
    let serials: Vec<&str> = all["cards"].as_array().unwrap().iter().map(|c| c["serial"].as_str().unwrap()).collect();
    assert!(serials.contains(&card.as_str()) && serials.contains(&sponsor.as_str()), "{body}");
    desk.answer(&["242424", "474747", "474747"]);
    let id = start_job(&api, serde_json::json!({"task": "sponsor-unlock", "card": card, "sponsor_card": sponsor}));
    let v = wait_job(&api, &id, &["done", "failed"]);
    assert_eq!(v["state"], "done", "{v}\n{}", desk.server.log());
    assert_eq!(last(&v)["serial"], card.as_str());
    let asked = desk.asked();
    let descs: Vec<&String> = asked.iter().filter(|(c, _)| c == "SETDESC").map(|(_, t)| t).collect();
    assert!(descs[0].contains(&sponsor) && descs[0].contains("Sam Sponsor"), "the sponsor's card first: {descs:?}");
    assert!(descs[1].contains(&card) && descs[1].contains("Dr Dee Dialog"), "then the holder's: {descs:?}");
    assert!(desk.login_works(&card, "474747"), "the sponsor-unlocked card has its new passcode");

    // A presence token the server does not know: the watch job fails with the server's code.
    let id = start_job(&api, serde_json::json!({"task": "watch", "presence_token": "not-a-token"}));
    let v = wait_job(&api, &id, &["done", "failed"]);
    assert_eq!(v["state"], "failed", "{v}");
    assert_ne!(last(&v)["error"], "refused", "the server's own refusal code: {v}");

    // Another origin is refused; an unknown job is not found.
    let o = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Origin: https://evil.example"])
        .arg(format!("{api}/v1/card"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout), "403");
    assert_eq!(local("GET", &format!("{api}/v1/jobs/nope"), None).0, 404);
    let _ = daemon.kill();
    let _ = daemon.wait();
}

/// The SSE stream of a job, read by curl until it ends (or `limit`).
fn sse(api: &str, id: &str, limit: Duration) -> (Child, std::thread::JoinHandle<String>) {
    let mut child = Command::new("curl")
        .args(["-s", "-N", "-H", &format!("Origin: {ORIGIN}"), &format!("{api}/v1/jobs/{id}/events")])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let start = Instant::now();
        let mut seen = String::new();
        let mut buf = [0u8; 4096];
        while start.elapsed() < limit {
            let n = out.read(&mut buf).unwrap_or(0);
            if n == 0 {
                break;
            }
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
            if seen.contains("event: done") || seen.contains("event: failed") {
                break;
            }
        }
        seen
    });
    (child, reader)
}

fn cert_serial(desk: &Desk, card: &str, id: &str, name: &str) -> String {
    let der = desk.server.path(&format!("{name}.der"));
    let o = Command::new("pkcs11-tool")
        .args(["--module", SOFTHSM, "--token-label", &format!("card-{card}"), "--read-object", "--type", "cert"])
        .args(["--id", id, "-o"])
        .arg(&der)
        .env("SOFTHSM2_CONF", &desk.conf)
        .output()
        .expect("pkcs11-tool (Debian package opensc)");
    assert!(o.status.success(), "{}", text(&o));
    let o = Command::new("openssl")
        .args(["x509", "-inform", "DER", "-noout", "-serial", "-in"])
        .arg(&der)
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).trim().trim_start_matches("serial=").to_ascii_lowercase()
}

#[test]
fn renewal_job_reports_each_certificate_pauses_for_next_and_a_cancelled_or_interrupted_one_changes_nothing() {
    let server = Server::start_args(&["--card-certificate-days", "60"]);
    let desk = Desk::new(server);
    admin_ok(&desk.server, &["user", "add", "--uid", "22", "--name", "Dr Ren Ewal", "--organisation", "RA1"]);
    let card = desk.issue("22", "444444");
    let old_auth = cert_serial(&desk, "22", "01", "old-auth");
    let (mut daemon, api) = desk.daemon(&card);

    // A renewal cancelled at the "Next" pause: failed, unchanged; the card keeps its certificate.
    desk.answer(&["444444"]);
    let id = start_job(&api, serde_json::json!({"task": "renew", "pause_between": true}));
    let v = wait_job(&api, &id, &["waiting", "done", "failed"]);
    assert_eq!(v["state"], "waiting", "{v}");
    assert_eq!(local("POST", &format!("{api}/v1/jobs/{id}/cancel"), None).0, 204);
    let v = wait_job(&api, &id, &["done", "failed"]);
    assert_eq!(last(&v)["error"], "cancelled", "{v}");
    assert_eq!(last(&v)["unchanged"], true, "{v}");
    assert_eq!(cert_serial(&desk, "22", "01", "kept-auth"), old_auth, "the old certificate is still on the card");
    let o = Command::new("pkcs11-tool")
        .args(["--module", SOFTHSM, "--token-label", "card-22", "--list-objects"])
        .env("SOFTHSM2_CONF", &desk.conf)
        .output()
        .unwrap();
    assert!(o.status.success() && !text(&o).contains("pending"), "the pending objects are discarded: {}", text(&o));

    // The next renewal: a live subscriber sees every step; "Next" resumes between the two.
    desk.answer(&["CANCEL"]);
    let id = start_job(&api, serde_json::json!({"task": "renew", "pause_between": true}));
    let v = wait_job(&api, &id, &["done", "failed"]);
    assert_eq!(last(&v)["error"], "cancelled", "Cancel in the passcode dialog aborts the renewal: {v}");
    desk.answer(&["444444"]);
    let id = start_job(&api, serde_json::json!({"task": "renew", "pause_between": true}));
    let (mut curl, live) = sse(&api, &id, Duration::from_secs(60));
    let v = wait_job(&api, &id, &["waiting", "done", "failed"]);
    assert_eq!(v["state"], "waiting", "{v}");
    let so_far: Vec<Value> = v["events"].as_array().unwrap().iter().map(|e| e["data"].clone()).collect();
    let step = |c: &str, s: &str| serde_json::json!({"certificate": c, "state": s});
    assert_eq!(
        so_far,
        vec![
            serde_json::json!({"step": "creating"}),
            step("authentication", "Pending"),
            step("authentication", "Writing"),
            step("authentication", "Done"),
            serde_json::json!({"for": "next"}),
        ],
        "{v}"
    );
    // A busy agent refuses a second job.
    assert_eq!(local("POST", &format!("{api}/v1/jobs"), Some(&serde_json::json!({"task": "change-passcode"}))).0, 409);
    assert_eq!(local("POST", &format!("{api}/v1/jobs/{id}/next"), None).0, 204);
    let v = wait_job(&api, &id, &["done", "failed"]);
    assert_eq!(v["state"], "done", "{v}\n{}", desk.server.log());
    let result = last(&v).clone();
    let new_auth = cert_serial(&desk, "22", "01", "new-auth");
    assert_ne!(new_auth, old_auth);
    assert_eq!(
        result["auth_serial"].as_str().unwrap().to_ascii_lowercase().trim_start_matches('0'),
        new_auth.trim_start_matches('0')
    );
    let live = live.join().unwrap();
    let _ = curl.kill();
    let _ = curl.wait();
    // The live stream, and a late subscriber's replay, in order.
    let order = [
        "event: step\ndata: {\"step\":\"creating\"}",
        "event: step\ndata: {\"certificate\":\"authentication\",\"state\":\"Pending\"}",
        "event: step\ndata: {\"certificate\":\"authentication\",\"state\":\"Done\"}",
        "event: waiting\ndata: {\"for\":\"next\"}",
        "event: step\ndata: {\"certificate\":\"signing\",\"state\":\"Pending\"}",
        "event: step\ndata: {\"certificate\":\"signing\",\"state\":\"Writing\"}",
        "event: step\ndata: {\"certificate\":\"signing\",\"state\":\"Done\"}",
        "event: done\ndata: {",
    ];
    let (mut late_curl, late) = sse(&api, &id, Duration::from_secs(10));
    let late = late.join().unwrap();
    let _ = late_curl.kill();
    let _ = late_curl.wait();
    for seen in [&live, &late] {
        let mut at = 0;
        for o in order {
            let i = seen[at..].find(o).unwrap_or_else(|| panic!("{o:?} missing (in order) from:\n{seen}"));
            at += i + o.len();
        }
    }
    assert!(desk.login_works(&card, "444444"), "the renewed card logs in");

    // The card is pulled between the two certificates: failed, unchanged; put back (SoftHSM2
    // shows a token moved back only to a new process: the agent restarts), the card still
    // holds the certificate of the renewal before, and the retry succeeds.
    desk.answer(&["444444"]);
    let id = start_job(&api, serde_json::json!({"task": "renew", "pause_between": true}));
    assert_eq!(wait_job(&api, &id, &["waiting", "done", "failed"])["state"], "waiting");
    let token_dir = std::fs::read_dir(desk.server.path("tokens"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| std::fs::read_dir(p).map(|d| d.count() > 1).unwrap_or(false))
        .unwrap();
    let aside = desk.server.path("pulled");
    std::fs::rename(&token_dir, &aside).unwrap();
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(local("POST", &format!("{api}/v1/jobs/{id}/next"), None).0, 204);
    let v = wait_job(&api, &id, &["done", "failed"]);
    assert_eq!(v["state"], "failed", "{v}");
    assert_eq!(last(&v)["error"], "no_card", "{v}");
    assert_eq!(last(&v)["unchanged"], true, "{v}");
    let _ = daemon.kill();
    let _ = daemon.wait();
    std::fs::rename(&aside, &token_dir).unwrap();
    assert_eq!(cert_serial(&desk, "22", "01", "after-pull"), new_auth, "the card keeps its certificate");
    let (mut daemon, api) = desk.daemon(&card);
    desk.answer(&["444444"]);
    let id = start_job(&api, serde_json::json!({"task": "renew", "pause_between": false}));
    let v = wait_job(&api, &id, &["done", "failed"]);
    assert_eq!(v["state"], "done", "the retry succeeds: {v}\n{}", desk.server.log());
    assert_ne!(cert_serial(&desk, "22", "01", "retried"), new_auth);
    let _ = daemon.kill();
    let _ = daemon.wait();
}

#[test]
fn run_refuses_a_stored_passcode_without_the_test_flag() {
    for (env, file) in [
        (Some(("CARECERT_PASSCODE", "123456")), false),
        (None, true),
        (Some(("CARECERT_NEW_PASSCODE", "123456")), false),
    ] {
        let mut cmd = Command::new(agent_bin());
        for (k, _) in std::env::vars() {
            if k.starts_with("CARECERT_") {
                cmd.env_remove(k);
            }
        }
        cmd.args(["--module", SOFTHSM, "run", "--listen", "127.0.0.1:1"]);
        if let Some((k, v)) = env {
            cmd.env(k, v);
        }
        if file {
            cmd.args(["--passcode-file", "/dev/null"]);
        }
        let o = cmd.stdin(Stdio::null()).output().unwrap();
        let t = text(&o);
        assert_eq!(o.status.code(), Some(1), "{t}");
        assert!(t.contains("does not take a stored passcode"), "{t}");
        assert!(
            t.contains("--insecure-test-passcode") && t.contains("--pinentry"),
            "names the flag and the dialog: {t}"
        );
    }
}

#[test]
fn an_agent_below_the_minimum_release_is_refused_on_every_call() {
    let server = Server::start();
    let desk = Desk::new(server);
    admin_ok(&desk.server, &["user", "add", "--uid", "23", "--name", "Dr Old Agent", "--organisation", "RA1"]);
    let card = desk.issue("23", "555555");
    assert!(desk.login_works(&card, "555555"));
    let sha = "ab".repeat(32);
    admin_ok(
        &desk.server,
        &[
            "release",
            "add",
            "--product",
            "carecert-agent",
            "99.0.0",
            "--minimum",
            "--url",
            "https://example.org/a",
            "--sha256",
            &sha,
        ],
    );
    for args in [&["card", "status"][..], &["login"][..]] {
        let o = desk.agent(Some(&card), args, &[("CARECERT_PASSCODE", "555555")]);
        let t = text(&o);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {t}");
        assert!(
            t.contains("99.0.0") && t.contains("/download"),
            "{args:?} names the version and the download page: {t}"
        );
    }
    // The code on the wire, and a caller that is not the agent is not this rule's business.
    let url = format!("{}/api/v1/cards/{card}", desk.server.https);
    let root = desk.server.root();
    let get = |ua: &str| {
        let o = Command::new("curl")
            .args(["-s", "--cacert", root.to_str().unwrap(), "-A", ua, "-w", "\n%{http_code}", &url])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).to_string()
    };
    let old = get("carecert-agent/0.1.0");
    assert!(old.ends_with("426") && old.contains("agent_too_old"), "{old}");
    assert!(get("curl/8").ends_with("200"));
}

#[test]
fn the_ra_desk_issues_a_blank_card_through_a_job_with_the_first_passcode_in_the_dialog() {
    let server = Server::start();
    let desk = Desk::new(server);
    admin_ok(&desk.server, &["user", "add", "--uid", "25", "--name", "Dr New Card", "--organisation", "RA1"]);
    // The desk's agent runs with the RA officer's card; the blank card is in another reader.
    admin_ok(&desk.server, &["user", "add", "--uid", "26", "--name", "Rae Officer", "--organisation", "RA1"]);
    let officer = desk.issue("26", "262626");
    let (mut daemon, api) = desk.daemon(&officer);
    let issue = serde_json::json!({
        "task": "issue", "uid": "25", "documents": "passport 123", "label": "card-25",
        "desk_ticket": desk.server.token(),
    });
    // Cancel: the blank card stays blank.
    desk.answer(&["CANCEL"]);
    let id = start_job(&api, issue.clone());
    let v = wait_job(&api, &id, &["done", "failed"]);
    assert_eq!(last(&v)["error"], "cancelled", "{v}");
    assert_eq!(last(&v)["unchanged"], true, "{v}");
    // Mismatched, then matching: the holder's first passcode typed twice.
    desk.answer(&["252525", "252526", "252525", "252525"]);
    let id = start_job(&api, issue);
    let v = wait_job(&api, &id, &["done", "failed"]);
    assert_eq!(v["state"], "done", "{v}\n{}", desk.server.log());
    let data: Vec<Value> = v["events"].as_array().unwrap().iter().map(|e| e["data"].clone()).collect();
    assert_eq!(data[0], serde_json::json!({"step": "creating"}));
    for c in ["authentication", "signing"] {
        let states: Vec<&str> =
            data.iter().filter(|d| d["certificate"] == c).map(|d| d["state"].as_str().unwrap()).collect();
        assert_eq!(states, ["Pending", "Writing", "Done"], "{c}: {v}");
    }
    let result = last(&v);
    let serial = result["card"].as_str().unwrap().to_string();
    assert!(result["auth"].is_string() && result["sign"].is_string(), "{v}");
    assert!(
        desk.asked().iter().any(|(c, t)| c == "SETERROR" && t.contains("not the same")),
        "the mismatch is shown: {:?}",
        desk.asked()
    );
    let _ = daemon.kill();
    let _ = daemon.wait();
    assert!(desk.login_works(&serial, "252525"), "the new card logs in with its first passcode");
    let o = Command::new("pkcs11-tool")
        .args(["--module", SOFTHSM, "--token-label", "card-25", "--login", "--pin", "252525", "--list-objects"])
        .env("SOFTHSM2_CONF", &desk.conf)
        .output()
        .unwrap();
    assert_eq!(text(&o).matches("Private Key Object").count(), 2, "{}", text(&o));
    assert_eq!(text(&o).matches("Certificate Object").count(), 2, "{}", text(&o));
}

#[test]
fn the_user_service_unit_verifies() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dist/systemd/carecert-agent.service");
    let unit = std::fs::read_to_string(&repo).unwrap();
    assert!(unit.contains("carecert-agent run --portal-origin ") && !unit.contains("CARECERT_PASSCODE="), "{unit}");
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("carecert-agent.service");
    std::fs::write(&copy, unit.replace("/usr/local/bin/carecert-agent", agent_bin().to_str().unwrap())).unwrap();
    let o = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&copy)
        .output()
        .expect("systemd-analyze (Debian package systemd)");
    assert!(o.status.success(), "systemd-analyze verify: {}", text(&o));
}
