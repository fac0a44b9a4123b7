//! `carecert.toml` with the real binaries: `check-config` on the shipped example and on a
//! broken file, and a changed helpdesk number reaching the ecmt denial message, the PIN
//! letter PDF and the portal refusal page of a running `carecert serve --config`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a failed assumption is a failed test

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{BIN, Server, text};

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../carecert.example.toml")
}

fn check(file: &Path, json: bool) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.arg("check-config").arg(file);
    if json {
        cmd.arg("--json");
    }
    cmd.env_remove("CARECERT_CONFIG").output().unwrap()
}

#[test]
fn the_shipped_example_is_valid() {
    let out = check(&example(), false);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().count(), 1, "one-line summary: {stdout}");
    assert!(stdout.contains("valid") && stdout.contains("Europe/London"), "{stdout}");
    let json: serde_json::Value = serde_json::from_slice(&check(&example(), true).stdout).unwrap();
    assert_eq!(json["valid"], true);
}

#[test]
fn a_broken_file_names_every_problem_with_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("carecert.toml");
    std::fs::write(
        &file,
        r#"
[server]
listen = "127.0.0.1:8443"
colour = "blue"

[clients]
download_page = "not a url"

[portal]
idle_timeout = "-15m"
"#,
    )
    .unwrap();
    let out = check(&file, false);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let msg = text(&out);
    for key in ["server.colour", "clients.download_page", "portal.idle_timeout"] {
        assert!(msg.contains(&format!("{key}: ")), "{key} is not named: {msg}");
    }
    assert!(msg.contains("must be positive") && msg.contains("unknown key"), "{msg}");

    let json: serde_json::Value = serde_json::from_slice(&check(&file, true).stdout).unwrap();
    assert_eq!(json["valid"], false);
    let keys: Vec<&str> = json["problems"].as_array().unwrap().iter().map(|p| p["key"].as_str().unwrap()).collect();
    assert_eq!(keys.len(), 3, "{json}");
    for key in ["server.colour", "clients.download_page", "portal.idle_timeout"] {
        assert!(keys.contains(&key), "{json}");
    }

    // serve refuses the same file, naming the same keys, before it touches anything.
    let data = dir.path().join("data");
    let serve = Command::new(BIN)
        .args(["serve", "--dev", "--config"])
        .arg(&file)
        .arg("--data-dir")
        .arg(&data)
        .env_remove("CARECERT_CA_PASSPHRASE")
        .output()
        .unwrap();
    assert_eq!(serve.status.code(), Some(1));
    let msg = text(&serve);
    assert!(msg.contains("server.colour") && msg.contains("portal.idle_timeout"), "{msg}");
    assert!(!data.exists(), "nothing was created");
}

const GENERAL: &str = "0300 555 0199";
const PHARMACY: &str = "0300 555 0101";
const GP: &str = "0300 555 0202";

#[test]
fn the_helpdesk_numbers_reach_ecmt_the_pin_letter_and_the_portal() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("carecert.toml");
    std::fs::write(
        &file,
        format!(
            "[helpdesk]\nname = \"Community Care Desk\"\nphone = \"{GENERAL}\"\nemail = \"\"\n\n\
             [helpdesk.phones]\npharmacy = \"{PHARMACY}\"\ngp = \"{GP}\"\n\n[display]\ntime_zone = \"Europe/London\"\n"
        ),
    )
    .unwrap();
    let server = Server::start_args(&["--config", file.to_str().unwrap()]);
    let ok = |o: Output| {
        assert!(o.status.success(), "command failed: {}", text(&o));
        o
    };

    // The PIN letter of a pharmacy names the pharmacy line.
    let epoc = "3330001";
    ok(server.admin(&["org", "add", "--epoc", epoc, "--name", "Mill Lane Pharmacy", "--kind", "pharmacy"]));
    let letter = server.path("letter.pdf");
    let v = ok(server.admin(&["--json", "pin", "issue", "--epoc", epoc, "--out", letter.to_str().unwrap()]));
    let v: serde_json::Value = serde_json::from_slice(&v.stdout).unwrap();
    let pin = v["pin"].as_str().unwrap().to_string();
    let pdf = Command::new("pdftotext").arg(&letter).arg("-").output().expect("pdftotext (poppler-utils)");
    let pdf = String::from_utf8_lossy(&pdf.stdout).to_string();
    assert!(pdf.contains(&format!("Community Care Desk ({PHARMACY})")), "letter: {pdf}");
    // Its dates are local (Europe/London: GMT or BST).
    assert!(pdf.contains(" GMT") || pdf.contains(" BST"), "letter: {pdf}");

    // A GP's letter names the GP line.
    ok(server.admin(&["org", "add", "--epoc", "3330002", "--name", "Bridge Surgery", "--kind", "gp"]));
    let gp_letter = server.path("gp.pdf");
    ok(server.admin(&["pin", "issue", "--epoc", "3330002", "--out", gp_letter.to_str().unwrap()]));
    let gp_pdf = Command::new("pdftotext").arg(&gp_letter).arg("-").output().unwrap();
    assert!(String::from_utf8_lossy(&gp_pdf.stdout).contains(GP));

    // ecmt: a denied request tells the pharmacy to call the pharmacy line.
    let store = server.path("store");
    ok(server.ecmt(&store, &["login", "--epoc", epoc], &[("ECMT_PIN", &pin)]));
    let r = ok(server.ecmt(&store, &["--json", "request", "--accept-policy"], &[]));
    let r: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    let id = r["id"].as_i64().unwrap().to_string();
    ok(server.admin(&["request", "deny", &id, "--reason", "unknown system"]));
    let denied = server.ecmt(&store, &["download", &id], &[]);
    assert_eq!(denied.status.code(), Some(1));
    let msg = text(&denied);
    assert!(msg.contains("unknown system") && msg.contains(PHARMACY), "{msg}");
    let listed = ok(server.ecmt(&store, &["--json", "requests"], &[]));
    assert!(text(&listed).contains(PHARMACY), "{}", text(&listed));

    // The portal's refusal page (where an unregistered card lands) names the general line.
    let page = Command::new("curl")
        .args(["-s", "--cacert"])
        .arg(server.root())
        .arg(format!("{}/portal/refused?msg=not_registered", server.https))
        .output()
        .unwrap();
    let page = String::from_utf8_lossy(&page.stdout);
    assert!(page.contains("not registered") && page.contains(&format!("Community Care Desk ({GENERAL})")), "{page}");
}

#[test]
fn flags_override_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("carecert.toml");
    // The file's certificate lifetime is invalid; the flag replaces it, so serve starts.
    std::fs::write(&file, "[cards]\ncertificate_days = 0\n").unwrap();
    let out = check(&file, false);
    assert!(out.status.code() == Some(1) && text(&out).contains("cards.certificate_days"), "{}", text(&out));
    let server = Server::start_args(&["--config", file.to_str().unwrap(), "--card-certificate-days", "30"]);
    assert!(server.log().contains("Configuration:"), "{}", server.log());
    // (`serve --dev` without a file is what every other end-to-end test runs.)
}

#[test]
fn plaintext_smtp_and_an_http_text_gateway_are_refused_outside_test_and_dev() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("carecert.toml");
    let body = "[smtp]\nrelay = \"smtp.example.nhs.uk:25\"\ntls = \"none\"\n\n[text_gateway]\nurl = \"http://sms.example.nhs.uk/send\"\n";
    std::fs::write(&file, body).unwrap();
    let out = check(&file, false);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let msg = text(&out);
    assert!(msg.contains("smtp.tls: ") && msg.contains("in clear") && msg.contains("starttls"), "{msg}");
    assert!(msg.contains("text_gateway.url: ") && msg.contains("https://"), "{msg}");
    // serve refuses it too, before it starts (without --dev: a live deployment).
    let serve = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&file)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .env_remove("CARECERT_CA_PASSPHRASE")
        .output()
        .unwrap();
    assert!(!serve.status.success() && text(&serve).contains("smtp.tls"), "{}", text(&serve));
    // The same file in a test environment is accepted; STARTTLS (the default) is accepted anywhere.
    std::fs::write(&file, format!("[access]\nenvironment = \"test\"\nallow = [\"127.0.0.1/32\"]\n\n{body}")).unwrap();
    let out = check(&file, false);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    std::fs::write(&file, "[smtp]\nrelay = \"smtp.example.nhs.uk:587\"\n").unwrap();
    assert_eq!(check(&file, false).status.code(), Some(0));
}

#[test]
fn bad_reminder_days_and_interval_are_named_with_their_keys() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("carecert.toml");
    std::fs::write(&file, "[reminders]\nmachine_days = [60, 0]\ncard_days = []\ninterval = \"0s\"\n").unwrap();
    let out = check(&file, false);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let msg = text(&out);
    for key in ["reminders.machine_days: ", "reminders.card_days: ", "reminders.interval: "] {
        assert!(msg.contains(key), "{key} is not named: {msg}");
    }
    std::fs::write(&file, "[reminders]\nmachine_days = [45, 14, 3]\ncard_days = [60]\ninterval = \"15m\"\n").unwrap();
    let out = check(&file, false);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

/// The allocator settings are built into the binary (`.cargo/config.toml`) and an operator's
/// `MALLOC_CONF` is read at run time: jemalloc's own statistics, printed at exit, show both.
#[test]
fn the_allocator_is_jemalloc_with_the_documented_settings_and_malloc_conf_overrides_them() {
    let out =
        Command::new(BIN).arg("--version").env("MALLOC_CONF", "stats_print:true,dirty_decay_ms:0").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stats = String::from_utf8_lossy(&out.stderr);
    let built_in = stats.lines().find(|l| l.trim_start().starts_with("config.malloc_conf:")).unwrap_or_else(|| {
        panic!("no jemalloc statistics on stderr: is the global allocator still jemalloc?\n{stats}")
    });
    for setting in ["percpu_arena:percpu", "muzzy_decay_ms:0", "background_thread:true"] {
        assert!(built_in.contains(setting), "{setting} not built in: {built_in}");
    }
    assert!(stats.contains("opt.dirty_decay_ms: 0"), "MALLOC_CONF was not applied:\n{stats}");
    assert!(stats.contains("opt.muzzy_decay_ms: 0"), "{stats}");
}
