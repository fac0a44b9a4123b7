//! Issue 11, zero touch, end to end with the real binaries (`carecert serve --dev`, `ecmt`,
//! `openssl`, `systemd-analyze`, a local SMTP server):
//! - a CA withdrawn from the trust feed and the installed certificate revoked: `ecmt status`
//!   shows both, with what to do (the revocation comes from carecert's OCSP responder, its
//!   signature checked by ecmt);
//! - `ecmt renew --auto` does nothing outside the renewal window (silently), retries an
//!   unreachable service, and renews with no PIN and no input once the service's clock is in
//!   the window (test-only `--clock-offset-days`, refused without `--dev`), writing a backup;
//!   `ecmt service install` writes units that `systemd-analyze verify` accepts;
//! - expiry reminders on the right days for one organisation and one card holder, none after
//!   renewal, and none twice with two nodes on one PostgreSQL database.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a failed assumption is a failed test

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{Server, smtp_server, text};

fn ok(o: Output) -> Output {
    assert!(o.status.success(), "command failed: {}", text(&o));
    o
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(o)))
}

fn installed_serial(store: &Path) -> String {
    common::serial_of(&store.join("cert.pem"))
}

fn relaunch(server: &mut Server, extra: &[String]) {
    server.stop();
    server.extra = extra.to_vec();
    server.launch();
}

/// An organisation with automatic approval, enrolled with its PIN letter: `ecmt renew` has
/// installed its first certificate in `store`.
fn enrolled(server: &Server, store: &Path, epoc: &str, name: &str) {
    ok(server.admin(&["org", "add", "--epoc", epoc, "--name", name, "--approval", "automatic"]));
    let v = json(&ok(server.admin(&["--json", "pin", "issue", "--epoc", epoc])));
    let pin = v["pin"].as_str().unwrap().to_string();
    ok(server.ecmt(store, &["renew", "--epoc", epoc, "--accept-policy"], &[("ECMT_PIN", &pin)]));
}

#[test]
fn ecmt_status_shows_a_withdrawn_trust_certificate_and_the_revoked_installed_one() {
    let server = Server::start();
    let store = server.path("store");
    enrolled(&server, &store, "6660001", "Riverside Dental");
    let serial = installed_serial(&store);

    // Before: good (OCSP), every CA trusted.
    let before = text(&ok(server.ecmt(&store, &["status"], &[])));
    // (364 or 365 whole days, depending on how far into the current second the check runs.)
    assert!(
        before.contains("Certificate check (carecert OCSP): good, not revoked; expires in 364 days")
            || before.contains("Certificate check (carecert OCSP): good, not revoked; expires in 365 days"),
        "{before}"
    );
    assert!(before.contains("Renewal opens "), "{before}");
    assert!(before.contains("Trust certificates: root, smartcards, systems"), "{before}");
    assert!(!before.contains("WITHDRAWN"), "{before}");
    assert!(store.join("trust/smartcards.pem").exists());

    // The RA withdraws a CA: refused without a reason, for the root, for an unknown CA, twice.
    let no_reason = server.admin(&["trust", "withdraw", "smartcards", "--reason", " "]);
    assert!(!no_reason.status.success() && text(&no_reason).contains("give a reason"), "{}", text(&no_reason));
    let root = server.admin(&["trust", "withdraw", "root", "--reason", "no"]);
    assert!(!root.status.success() && text(&root).contains("root CA cannot be withdrawn"), "{}", text(&root));
    let unknown = server.admin(&["trust", "withdraw", "nosuchca", "--reason", "gone"]);
    assert!(!unknown.status.success() && text(&unknown).contains("not found"), "{}", text(&unknown));
    let reason = "retired: replaced by smartcards-2027";
    let w = ok(server.admin(&["trust", "withdraw", "smartcards", "--reason", reason]));
    assert!(text(&w).contains("Withdrew CA smartcards"), "{}", text(&w));
    let again = server.admin(&["trust", "withdraw", "smartcards", "--reason", reason]);
    assert!(!again.status.success() && text(&again).contains("withdrawn already"), "{}", text(&again));
    // ... and revokes the installed certificate.
    ok(server.admin(&["cert", "revoke", &serial, "--ca", "systems", "--reason", "keyCompromise"]));

    let after = text(&ok(server.ecmt(&store, &["status"], &[])));
    assert!(after.contains("WITHDRAWN trust certificate: smartcards on "), "{after}");
    assert!(after.contains(reason), "{after}");
    assert!(after.contains("Trust certificates: root, systems ("), "{after}");
    assert!(!store.join("trust/smartcards.pem").exists(), "the withdrawn CA left the trust store");
    assert!(after.contains("CERTIFICATE REVOKED on ") && after.contains("(reason: keyCompromise)"), "{after}");
    assert!(
        after.contains("What to do: call the carecert helpdesk")
            && after.contains("for a new PIN letter, then run `ecmt renew --with-pin`"),
        "{after}"
    );
    assert!(after.contains("destroy every backup (.pfx)"), "{after}");

    // Shown again on the next check (the feed has moved on; the machine remembers), and as JSON.
    let v = json(&ok(server.ecmt(&store, &["--json", "status"], &[])));
    assert_eq!(v["trust"]["certificate_check"]["status"], "revoked", "{v}");
    assert_eq!(v["trust"]["certificate_check"]["reason"], "keyCompromise", "{v}");
    assert_eq!(v["trust"]["withdrawn"][0]["name"], "smartcards", "{v}");
    assert_eq!(v["trust"]["withdrawn"][0]["reason"], reason, "{v}");
    assert_eq!(v["trust"]["new"], serde_json::json!([]), "{v}");
    // The withdrawal is audited.
    let audit = text(&ok(server.admin(&["audit", "list", "--limit", "50"])));
    assert!(audit.contains("trust.withdrawn"), "{audit}");
}

#[test]
fn renew_auto_is_silent_outside_the_window_and_renews_inside_it_with_no_input() {
    // Production cannot move the clock: --clock-offset-days needs --dev.
    let tmp = tempfile::tempdir().unwrap();
    let prod = Command::new(common::BIN)
        .args(["serve", "--clock-offset-days", "5", "--data-dir"])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert!(!prod.status.success() && text(&prod).contains("--clock-offset-days is for tests only"), "{}", text(&prod));

    let mut server = Server::start();
    let store = server.path("store");
    enrolled(&server, &store, "7770001", "Meadow Pharmacy");
    let first = installed_serial(&store);
    let pw_file = server.path("backup-password");
    std::fs::write(&pw_file, "Meadow2026\n").unwrap();
    let backups = server.path("backups");
    let env =
        [("ECMT_BACKUP_PASSWORD_FILE", pw_file.to_str().unwrap()), ("ECMT_BACKUP_DIR", backups.to_str().unwrap())];

    // Fresh certificate: not due. Nothing printed, exit 0, nothing changed.
    let quiet = server.ecmt(&store, &["renew", "--auto"], &env);
    assert!(quiet.status.success(), "{}", text(&quiet));
    assert!(quiet.stdout.is_empty() && quiet.stderr.is_empty(), "silent when not due: {}", text(&quiet));
    assert_eq!(installed_serial(&store), first);
    assert!(!backups.exists());
    let verbose = ok(server.ecmt(&store, &["renew", "--auto", "-v"], &env));
    assert!(text(&verbose).contains(&format!("certificate {first} is not due: renewal opens ")), "{}", text(&verbose));

    // The timer: installed under an alternate root, enabled, and the units verify.
    let root = server.path("root");
    let st = text(&ok(server.ecmt(&store, &["service", "status", "--root", root.to_str().unwrap()], &[])));
    assert!(st.contains("Timer: not installed"), "{st}");
    let out = ok(server.ecmt(
        &store,
        &["service", "install", "--root", root.to_str().unwrap(), "--backup-password-file", pw_file.to_str().unwrap()],
        &[],
    ));
    assert!(text(&out).contains("Enabled"), "{}", text(&out));
    let units = root.join("etc/systemd/system");
    let (service, timer) = (units.join("ecmt-renew.service"), units.join("ecmt-renew.timer"));
    let unit = std::fs::read_to_string(&service).unwrap();
    assert!(
        unit.contains(&format!("ExecStart={} renew --auto", common::ecmt_bin().canonicalize().unwrap().display())),
        "{unit}"
    );
    assert!(std::fs::symlink_metadata(units.join("timers.target.wants/ecmt-renew.timer")).is_ok(), "enabled");
    let envfile = std::fs::read_to_string(root.join("etc/ecmt/ecmt.env")).unwrap();
    assert!(envfile.contains(&format!("ECMT_SERVER=\"{}\"", server.https)), "{envfile}");
    assert!(envfile.contains("ECMT_BACKUP_PASSWORD_FILE="), "{envfile}");
    let verify = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&service)
        .arg(&timer)
        .output()
        .expect("systemd-analyze (Debian package systemd)");
    assert!(verify.status.success(), "systemd-analyze verify: {}", text(&verify));
    // The repository's units are what was installed (but for the program's path).
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dist/systemd");
    assert_eq!(
        std::fs::read_to_string(repo.join("ecmt-renew.timer")).unwrap(),
        std::fs::read_to_string(&timer).unwrap()
    );
    let st = text(&ok(server.ecmt(&store, &["service", "status", "--root", root.to_str().unwrap()], &[])));
    assert!(st.contains("installed in") && st.contains("and enabled"), "{st}");
    assert!(st.contains("Next run: ") && (st.contains(" 00:00 UTC") || st.contains(" 12:00 UTC")), "{st}");
    assert!(st.contains("— not-due: certificate"), "{st}");

    // The service cannot be reached: retried with back-off, then exit 3; nothing changed.
    server.stop();
    let started = Instant::now();
    let down = server.ecmt(&store, &["renew", "--auto", "--retries", "3", "--retry-delay-ms", "200"], &env);
    assert_eq!(down.status.code(), Some(3), "{}", text(&down));
    let log = text(&down);
    assert!(
        log.contains("(try 1 of 3); trying again in 0.2 s") && log.contains("(try 2 of 3); trying again in 0.4 s"),
        "{log}"
    );
    assert!(started.elapsed() >= Duration::from_millis(600), "it waited between tries");
    assert_eq!(installed_serial(&store), first);

    // The service's clock moved into the renewal window (day 250 of 365; the last third):
    // renewed over mutual TLS with no PIN and no input (stdin is closed), one line per action.
    relaunch(&mut server, &["--clock-offset-days".into(), "250".into()]);
    let renewed = server.ecmt(&store, &["renew", "--auto"], &env);
    assert!(renewed.status.success(), "{}\n{}", text(&renewed), server.log());
    assert!(renewed.stdout.is_empty(), "nothing on stdout: {}", text(&renewed));
    let lines: Vec<String> = String::from_utf8_lossy(&renewed.stderr).lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    let second = installed_serial(&store);
    assert_ne!(second, first);
    assert!(
        lines[0].contains(&format!("renewed certificate {first} over mutual TLS: installed {second}")),
        "{lines:?}"
    );
    let pfx = backups.join(format!("ecmt-{second}.pfx"));
    assert!(lines[1].contains(&format!("backup written to {}", pfx.display())), "{lines:?}");
    let info = Command::new("openssl")
        .args(["pkcs12", "-info", "-noout", "-in"])
        .arg(&pfx)
        .args(["-passin", "pass:Meadow2026"])
        .output()
        .unwrap();
    assert!(info.status.success(), "openssl opens the fresh backup: {}", text(&info));
    let st = text(&ok(server.ecmt(&store, &["service", "status", "--root", root.to_str().unwrap()], &[])));
    assert!(st.contains(&format!("— renewed: renewed certificate {first}")), "{st}");

    // (The new certificate starts 250 days from now, so this machine's TLS stack cannot present
    // it until then: the silent case was shown above with the first certificate.)
}

/// Adds the RA account `alice` (password + authenticator); returns the authenticator secret.
fn add_ra_account(server: &Server) -> String {
    let o = Command::new(common::BIN)
        .args(["admin", "--json", "account", "add", "--username", "alice", "--name", "Alice RA", "--role", "ra"])
        .args(["--server", &server.https, "--data-dir"])
        .arg(&server.data)
        .env("CARECERT_ACCOUNT_PASSWORD", "correct horse battery")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    v["totp_secret"].as_str().unwrap().to_string()
}

/// Logs in to the RA console (the service's clock is `day` days ahead) and returns `/ra/`.
fn ra_dashboard(server: &Server, secret: &str, day: i64) -> String {
    let totp = totp_rs::Builder::new().with_secret(totp_rs::Secret::try_from_base32(secret).unwrap()).build().unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let code = totp.generate(now + day as u64 * 86_400).to_string();
    let jar = server.path("cookies");
    let curl = |args: &[&str]| {
        let out = Command::new("curl")
            .args(["-s", "--cacert"])
            .arg(server.root())
            .arg("-b")
            .arg(&jar)
            .arg("-c")
            .arg(&jar)
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    curl(&[
        "-X",
        "POST",
        "-H",
        "Content-Type: application/x-www-form-urlencoded",
        "--data-binary",
        &format!("username=alice&password=correct%20horse%20battery&code={code}"),
        &format!("{}/ra/login", server.https),
    ]);
    let page = curl(&[&format!("{}/ra/", server.https)]);
    assert!(page.contains("id=\"due\""), "the dashboard: {page}");
    page
}

/// Waits until `server` has finished `n` reminder passes since it was (re)launched; then
/// every message those passes sent is in the SMTP channel (sending completes within a pass).
fn passes(server: &Server, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while server.log().matches("expiry reminder pass done").count() < n {
        assert!(Instant::now() < deadline, "no reminder pass: {}", server.log());
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The messages waiting in the channel.
fn drain(mail: &mpsc::Receiver<String>) -> Vec<String> {
    mail.try_iter().collect()
}

/// A card for `uid`, issued through the RA API with software keys (no reader needed).
fn issue_card(server: &Server, uid: &str, serial: &str) {
    let (_, auth_csr) =
        server.openssl_csr(&format!("{serial}-auth"), &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]);
    let (_, sign_csr) =
        server.openssl_csr(&format!("{serial}-sign"), &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]);
    let body = serde_json::json!({
        "uid": uid, "card_serial": serial, "documents": "passport", "so_pin": "12345678",
        "auth_csr": std::fs::read_to_string(&auth_csr).unwrap(), "sign_csr": std::fs::read_to_string(&sign_csr).unwrap(),
        "agent_version": "1.0.0",
    });
    let (code, resp) = server.api("POST", "/api/v1/admin/cards", Some(body.to_string().as_bytes()), "application/json");
    assert_eq!(code, 201, "{resp}");
}

fn reminder_config(dir: &Path, extra: &str) -> String {
    let cfg = dir.join("carecert.toml");
    std::fs::write(&cfg, format!("[reminders]\ninterval = \"1s\"\n{extra}")).unwrap();
    cfg.to_str().unwrap().to_string()
}

#[test]
fn expiry_reminders_go_out_on_the_right_days_once_and_stop_after_renewal() {
    let (smtp_port, mail) = smtp_server();
    let smtp = format!("127.0.0.1:{smtp_port}");
    let cfg_dir = tempfile::tempdir().unwrap();
    let cfg = reminder_config(cfg_dir.path(), "");
    let base: Vec<String> =
        ["--smtp", &smtp, "--card-certificate-days", "100", "--config", &cfg].iter().map(|s| s.to_string()).collect();
    let at = |days: i64| {
        let mut v = base.clone();
        v.extend(["--clock-offset-days".to_string(), days.to_string()]);
        v
    };
    let mut server = Server::start_args(&base.iter().map(String::as_str).collect::<Vec<_>>());
    let store = server.path("store");
    let epoc = "8880001";
    enrolled(&server, &store, epoc, "Canal Street Pharmacy");
    let bad = server.admin(&["contact", "set", epoc, "not an address"]);
    assert!(!bad.status.success() && text(&bad).contains("is not an email address"), "{}", text(&bad));
    ok(server.admin(&["contact", "set", epoc, "manager@canal.example"]));
    ok(server.admin(&[
        "user",
        "add",
        "--uid",
        "55",
        "--name",
        "Dr Eve Stone",
        "--email",
        "eve.stone@nhs.net",
        "--organisation",
        "RA1",
    ]));
    issue_card(&server, "55", "CARD55");
    let cert = installed_serial(&store);
    let secret = add_ra_account(&server);

    // Day 0: nothing is due (card 100 days, machine 365 days).
    passes(&server, 2);
    assert!(drain(&mail).is_empty());

    // (service day, who gets the reminder, what it says)
    let card_days = [(11, "90"), (71, "30"), (94, "7")];
    for (day, threshold) in card_days {
        relaunch(&mut server, &at(day));
        passes(&server, 3);
        let got = drain(&mail);
        assert_eq!(got.len(), 1, "day {day}: exactly one message: {got:?}");
        let m = &got[0];
        assert!(m.contains("To: eve.stone@nhs.net"), "{m}");
        assert!(m.contains(&format!("This is the {threshold}-day reminder")), "day {day}: {m}");
        assert!(
            m.contains("Dear Dr Eve Stone") && m.contains("CARD55") && m.contains("carecert-agent card renew"),
            "{m}"
        );
    }
    // Day 304: the machine certificate has 61 days left — not yet; the card has expired.
    relaunch(&mut server, &at(304));
    passes(&server, 2);
    assert!(drain(&mail).is_empty());
    for (day, threshold) in [(305, "60"), (335, "30")] {
        relaunch(&mut server, &at(day));
        passes(&server, 3);
        let got = drain(&mail);
        assert_eq!(got.len(), 1, "day {day}: exactly one message: {got:?}");
        let m = &got[0];
        assert!(m.contains("To: manager@canal.example"), "{m}");
        assert!(m.contains(&format!("This is the {threshold}-day reminder")), "day {day}: {m}");
        assert!(
            m.contains("Organisation: EPOC 8880001") && m.contains("Canal Street Pharmacy") && m.contains(&cert),
            "{m}"
        );
        assert!(m.contains("ecmt renew") && m.contains("ecmt service status") && m.contains("--with-pin"), "{m}");
    }
    // The RA dashboard lists the organisation as due, with the days it was reminded.
    let page = ra_dashboard(&server, &secret, 335);
    let row = page.split("id=\"due-org-8880001\"").nth(1).expect("the organisation is listed as due");
    let row = &row[..row.find("</tr>").unwrap()];
    assert!(row.contains("manager@canal.example") && row.contains("60-day") && row.contains("30-day"), "{row}");
    // The practice renews (zero touch); at day 358 there is no 7-day reminder.
    ok(server.ecmt(&store, &["renew", "--auto"], &[]));
    assert_ne!(installed_serial(&store), cert);
    relaunch(&mut server, &at(358));
    passes(&server, 3);
    assert!(drain(&mail).is_empty(), "no reminder after renewal");

    // Each reminder was audited once.
    let audit = text(&ok(server.admin(&["--json", "audit", "list", "--limit", "500"])));
    assert_eq!(audit.matches("\"reminder.sent\"").count(), 5, "{audit}");
}

#[test]
fn two_nodes_on_postgresql_send_each_reminder_once() {
    if std::env::var("CARECERT_SKIP_PG").as_deref() == Ok("1") {
        eprintln!("CARECERT_SKIP_PG=1: skipped on purpose");
        return;
    }
    let admin =
        std::env::var("CARECERT_TEST_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let name = format!("carecert_remind_{}", std::process::id());
    let out = Command::new("psql").args([admin.as_str(), "-qc", &format!("CREATE DATABASE {name}")]).output().unwrap();
    assert!(out.status.success(), "PostgreSQL must be reachable at {admin}: {}", text(&out));
    let url = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);
    {
        let (smtp_port, mail) = smtp_server();
        let smtp = format!("127.0.0.1:{smtp_port}");
        let cfg_dir = tempfile::tempdir().unwrap();
        // Due on day 11: the machine certificates' 360-day and the cards' 90-day reminders.
        let cfg = reminder_config(cfg_dir.path(), "machine_days = [360, 30, 7]\n");
        let base = ["--smtp", &smtp, "--card-certificate-days", "100", "--config", &cfg];
        let mut a = Server::start_db_args(Some(url.clone()), &base);
        let orgs = ["9990001", "9990002", "9990003"];
        for (i, epoc) in orgs.iter().enumerate() {
            enrolled(&a, &a.path(&format!("store{i}")), epoc, &format!("Practice {i}"));
            ok(a.admin(&["contact", "set", epoc, &format!("practice{i}@example.org")]));
            let uid = format!("6{i}");
            ok(a.admin(&[
                "user",
                "add",
                "--uid",
                &uid,
                "--name",
                &format!("Holder {i}"),
                "--email",
                &format!("holder{i}@nhs.net"),
                "--organisation",
                "RA1",
            ]));
            issue_card(&a, &uid, &format!("PGCARD{i}"));
        }
        passes(&a, 1);
        assert!(drain(&mail).is_empty());

        // Both nodes on day 11, passes every second, racing for the same reminders.
        let pass_file = a.data.join("ca-passphrase");
        let mut args: Vec<String> = base.iter().map(|s| s.to_string()).collect();
        args.extend(["--clock-offset-days".into(), "11".into()]);
        let mut b_args = args.clone();
        b_args.extend(["--ca-passphrase-file".into(), pass_file.to_str().unwrap().into()]);
        // Started together, so their first passes overlap.
        a.stop();
        let b = std::thread::scope(|scope| {
            let b = scope.spawn(|| {
                Server::start_db_args(Some(url.clone()), &b_args.iter().map(String::as_str).collect::<Vec<_>>())
            });
            a.extra = args.clone();
            a.launch();
            b.join().unwrap()
        });
        passes(&a, 5);
        passes(&b, 5);
        let got = drain(&mail);
        let mut to: Vec<String> =
            got.iter().map(|m| m.lines().find(|l| l.starts_with("To: ")).unwrap_or("").trim().to_string()).collect();
        to.sort();
        let mut want: Vec<String> =
            (0..3).flat_map(|i| [format!("To: holder{i}@nhs.net"), format!("To: practice{i}@example.org")]).collect();
        want.sort();
        assert_eq!(to, want, "each reminder exactly once across two nodes");
        // Both nodes took part in the race (each logged passes), and each reminder is audited once.
        let audit = text(&ok(a.admin(&["--json", "audit", "list", "--limit", "500"])));
        assert_eq!(audit.matches("\"reminder.sent\"").count(), 6, "{audit}");
        drop(b);
    }
    let _ = Command::new("psql")
        .args([admin.as_str(), "-qc", &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")])
        .output();
}
