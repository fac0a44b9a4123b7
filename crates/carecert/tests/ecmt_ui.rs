//! `ecmt ui`, the interactive screens, driven for real in a pseudo-terminal (tmux) against
//! `carecert serve` on SQLite: Welcome → Logon (a wrong PIN first, then the right one,
//! masked) → Main Menu → Request Cert → the policy dialog → "I accept" → pending → the RA
//! approves → Refresh → approved → Download → installed → Backup (a weak password is
//! refused with the rule, then a good one; OpenSSL opens the file) → Logout → Restore (a
//! wrong password first) → Quit. Then: "UPDATE REQUIRED" on Welcome and the server refusing
//! the logon of a too-old client on the Logon screen.
//! And: without a terminal `ecmt ui` refuses.
//!
//! Issue 11 (fidelity with the eCMT guides): Request and Download Cert from logon to the
//! backup offer — Yes → file chooser → password → a `.pfx` OpenSSL opens, No → a confirmation
//! without backup; the status words ("Pending", "Available for Download", "Installed",
//! "Denied — call <the helpdesk of the organisation's kind>"); the EPOC pre-filled at the
//! second logon; "Logon successful"; and the administrator refusal for a non-root user.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a failed assumption is a failed test

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{Server, text};

/// A detached tmux session on a private server socket; killed when dropped.
struct Pane {
    socket: PathBuf,
    name: String,
}

impl Pane {
    /// Starts `shell_command` in a new 120×40 session.
    fn start(dir: &Path, shell_command: &str) -> Pane {
        match Command::new("tmux").arg("-V").output() {
            Ok(o) if o.status.success() => {}
            _ => panic!("tmux is needed to drive `ecmt ui` in a terminal: install tmux (Debian package tmux)"),
        }
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
        let pane = Pane { socket: dir.join("tmux.sock"), name: format!("ecmt-ui-{}-{nanos}", std::process::id()) };
        let out = pane
            .tmux()
            .args(["new-session", "-d", "-x", "120", "-y", "40", "-s", &pane.name, shell_command])
            .output()
            .unwrap();
        assert!(out.status.success(), "tmux new-session: {}", text(&out));
        pane
    }

    fn tmux(&self) -> Command {
        let mut c = Command::new("tmux");
        c.arg("-u").arg("-S").arg(&self.socket).env("TERM", "xterm-256color").env_remove("TMUX");
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.tmux().args(args).output().unwrap()
    }

    /// Named keys (`Enter`, `Tab`, `F5`, `C-u`, or single characters).
    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", &self.name];
        args.extend_from_slice(keys);
        let out = self.run(&args);
        assert!(out.status.success(), "tmux send-keys {keys:?}: {}", text(&out));
    }

    /// Literal text.
    fn type_text(&self, s: &str) {
        let out = self.run(&["send-keys", "-t", &self.name, "-l", s]);
        assert!(out.status.success(), "tmux send-keys -l: {}", text(&out));
    }

    fn capture(&self) -> String {
        let out = self.run(&["capture-pane", "-p", "-t", &self.name]);
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    /// The screen with lines the terminal wrapped joined again (for plain text output).
    fn capture_joined(&self) -> String {
        let out = self.run(&["capture-pane", "-p", "-J", "-t", &self.name]);
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    fn alive(&self) -> bool {
        self.run(&["has-session", "-t", &self.name]).status.success()
    }
}

impl Drop for Pane {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

/// Captures the pane every 100 ms until `pred` holds; panics with the last capture.
fn wait_until(pane: &Pane, what: &str, timeout: Duration, pred: impl Fn(&str) -> bool) -> String {
    let started = Instant::now();
    loop {
        let screen = pane.capture();
        if pred(&screen) {
            return screen;
        }
        if started.elapsed() > timeout {
            panic!("timed out after {timeout:?} waiting for {what}; the screen was:\n{screen}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until the pane shows `text`.
fn wait_for(pane: &Pane, text: &str, timeout: Duration) -> String {
    wait_until(pane, &format!("{text:?}"), timeout, |s| s.contains(text))
}

/// A table row (inside the Main Menu border) showing request `id` with `status`.
fn has_row(screen: &str, id: &str, status: &str) -> bool {
    screen.lines().any(|l| {
        let words: Vec<&str> = l.split_whitespace().collect();
        l.trim_start().starts_with('│') && words.contains(&id) && words.contains(&status)
    })
}

const T: Duration = Duration::from_secs(20);

/// `ecmt ui` against `server` with `store`, in a new pane. Its stderr and exit status go
/// to files beside the server's data.
fn start_ui(server: &Server, store: &Path) -> Pane {
    let command = format!(
        "'{}' --server '{}' --ca-file '{}' --store '{}' --backup-dir '{}' ui 2>'{}'; echo $? >'{}'",
        common::ecmt_bin().display(),
        server.https,
        server.root().display(),
        store.display(),
        server.path("backups").display(),
        server.path("ui.stderr").display(),
        server.path("ui.exit").display()
    );
    Pane::start(server.dir.path(), &command)
}

/// Presses Q (from Welcome or the Main Menu); the program ends with status 0 and the
/// tmux session with it.
fn quit(server: &Server, pane: &Pane) {
    pane.keys(&["q"]);
    wait_until(pane, "the session to end", T, |_| !pane.alive());
    let code = std::fs::read_to_string(server.path("ui.exit")).unwrap_or_default();
    assert_eq!(
        code.trim(),
        "0",
        "ecmt ui exit status; stderr: {}",
        std::fs::read_to_string(server.path("ui.stderr")).unwrap_or_default()
    );
}

fn issue_pin(server: &Server, epoc: &str) -> String {
    let v: serde_json::Value =
        serde_json::from_slice(&ok(server.admin(&["--json", "pin", "issue", "--epoc", epoc])).stdout).unwrap();
    v["pin"].as_str().expect("pin in the JSON").to_string()
}

fn ok(o: Output) -> Output {
    assert!(o.status.success(), "command failed: {}", text(&o));
    o
}

#[test]
fn ecmt_ui_logon_request_download_backup_in_a_terminal() {
    let server = Server::start();
    let epoc = "5550001";
    ok(server.admin(&["org", "add", "--epoc", epoc, "--name", "UI Pharmacy", "--approval", "ra-queue"]));
    let pin = issue_pin(&server, epoc);
    // The policy text the server will show (read with the command line, another store).
    let status: serde_json::Value =
        serde_json::from_slice(&ok(server.ecmt(&server.path("other-store"), &["--json", "status"], &[])).stdout)
            .unwrap();
    let policy_first_line = status["update"]["policy"]["text"].as_str().unwrap().lines().next().unwrap().to_string();

    let store = server.path("store");
    let started = Instant::now();
    let pane = start_ui(&server, &store);

    // Welcome: title, status, choices.
    let s = wait_for(&pane, "Up to date", T);
    for want in
        ["ecmt — Client Certificate Management", "Welcome", "No certificate installed", "Logon", "Restore", "About"]
    {
        assert!(s.contains(want), "Welcome lacks {want:?}:\n{s}");
    }

    // Logon: a wrong PIN is refused on the same screen; the PIN field is masked.
    pane.keys(&["l"]);
    wait_for(&pane, "EPOC", T);
    pane.type_text(epoc);
    pane.keys(&["Tab"]);
    pane.type_text("WRONG-PIN-1");
    pane.keys(&["Enter"]);
    let s = wait_for(&pane, "is not right", T);
    assert!(s.contains("Logon") && !s.contains("WRONG-PIN-1"), "{s}");
    pane.type_text(&pin);
    let stars = "*".repeat(pin.chars().count());
    let s = wait_for(&pane, &stars, T);
    assert!(!s.contains(&pin), "the PIN is shown in clear:\n{s}");
    pane.keys(&["Enter"]);
    let s = wait_for(&pane, "Logon successful", T);
    for want in
        ["Main Menu", "UI Pharmacy", "Request ID", "Status", "Created", "Issued", "Refresh", "Request Cert", "Download"]
    {
        assert!(s.contains(want), "Main Menu lacks {want:?}:\n{s}");
    }

    // Request Cert: the policy dialog; only "I accept" requests.
    pane.keys(&["n"]);
    let s = wait_for(&pane, "I accept", T);
    assert!(s.contains("Acceptable-use policy") && s.contains(&policy_first_line), "{s}");
    pane.keys(&["Left", "Enter"]);
    let s = wait_for(&pane, "created (Pending)", T);
    let before = &s[..s.find(" created (Pending)").unwrap()];
    let id: String =
        before.chars().rev().take_while(char::is_ascii_digit).collect::<Vec<_>>().into_iter().rev().collect();
    assert!(!id.is_empty(), "no request ID on:\n{s}");
    wait_until(&pane, "a Pending row", T, |s| has_row(s, &id, "Pending"));

    // The RA approves; Refresh shows it; Download installs it.
    ok(server.admin(&["request", "approve", &id]));
    pane.keys(&["F5"]);
    let s = wait_until(&pane, "an Available for Download row", T, |s| has_row(s, &id, "Available"));
    assert!(s.contains("Available for Download"), "{s}");
    pane.keys(&["d"]);
    let s = wait_for(&pane, "installed in", T);
    assert!(store.join("cert.pem").exists(), "no cert.pem after Download:\n{s}");
    let serial = common::serial_of(&store.join("cert.pem"));
    assert!(s.contains(&serial), "the message names the serial {serial}:\n{s}");
    wait_until(&pane, "an Installed row", T, |s| has_row(s, &id, "Installed"));

    // Backup: a weak password gets the rule, naming what is missing; then a good one.
    let pfx = server.path("ui-backup.pfx");
    pane.keys(&["b"]);
    wait_for(&pane, "Repeat Password", T);
    pane.keys(&["BTab", "C-u"]);
    pane.type_text(pfx.to_str().unwrap());
    pane.keys(&["Tab"]);
    pane.type_text("short");
    pane.keys(&["Tab"]);
    pane.type_text("short");
    pane.keys(&["Enter"]);
    let s = wait_for(&pane, "at least 8 characters", T);
    assert!(s.contains("upper-case") && s.contains("digit") && !s.contains("lower-case"), "{s}");
    assert!(!pfx.exists(), "a weak password wrote a file");
    let pw = "Pharmacy2026";
    pane.type_text(pw);
    pane.keys(&["Tab"]);
    pane.type_text(pw);
    pane.keys(&["Enter"]);
    let s = wait_for(&pane, "Backed up certificate", T);
    assert!(s.contains(pfx.to_str().unwrap()) && !s.contains(pw), "{s}");
    assert!(pfx.exists());
    let info = Command::new("openssl")
        .args(["pkcs12", "-info", "-nokeys", "-in"])
        .arg(&pfx)
        .args(["-passin", &format!("pass:{pw}")])
        .output()
        .unwrap();
    assert!(info.status.success(), "openssl pkcs12 -info: {}", text(&info));

    // Logout: back to Welcome, which shows the installed certificate; Quit ends the program.
    pane.keys(&["o"]);
    let s = wait_for(&pane, "Logged off", T);
    assert!(s.contains("Welcome") && s.contains(&serial) && s.contains("not logged on"), "{s}");

    // Restore (from Welcome): a wrong password is refused in the dialog; the right one installs.
    pane.keys(&["r"]);
    wait_for(&pane, "from a .pfx backup file", T);
    pane.type_text(pfx.to_str().unwrap());
    pane.keys(&["Tab"]);
    pane.type_text("Wrong2026x");
    pane.keys(&["Enter"]);
    let s = wait_for(&pane, "Check the password", T);
    assert!(s.contains("nothing was installed"), "{s}");
    pane.type_text(pw);
    pane.keys(&["Enter"]);
    wait_for(&pane, &format!("Restored certificate {serial}"), T);
    quit(&server, &pane);
    eprintln!("ecmt ui journey took {:?}", started.elapsed());
}

#[test]
fn ecmt_ui_says_update_required_and_the_server_refuses_logon() {
    let server = Server::start();
    let epoc = "5550002";
    ok(server.admin(&["org", "add", "--epoc", epoc, "--name", "Old Client Surgery", "--approval", "ra-queue"]));
    let pin = issue_pin(&server, epoc);
    let url = "https://downloads.example/ecmt-99.0.0";
    let sha = "ab".repeat(32);
    ok(server.admin(&["release", "add", "99.0.0", "--minimum", "--url", url, "--sha256", &sha]));

    let pane = start_ui(&server, &server.path("store"));
    let s = wait_for(&pane, "UPDATE REQUIRED", T);
    let all = joined(&s);
    assert!(all.contains("99.0.0") && all.contains("run `sudo ecmt update`"), "{s}");
    assert!(all.contains(&format!("{}/download", server.https)), "the download page is offered:\n{s}");
    pane.keys(&["l"]);
    wait_for(&pane, "EPOC", T);
    pane.type_text(epoc);
    pane.keys(&["Tab"]);
    pane.type_text(&pin);
    pane.keys(&["Enter"]);
    let s = wait_for(&pane, "no longer supported", T);
    assert!(s.contains("Logon") && !s.contains("Main Menu"), "{s}");
    assert!(joined(&s).contains("ecmt update"), "the refusal offers `ecmt update`:\n{s}");
    // The command line says the same, with the download page.
    let out = server.ecmt(&server.path("cli-store"), &["login", "--epoc", epoc], &[("ECMT_PIN", &pin)]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("sudo ecmt update") && text(&out).contains(&format!("{}/download", server.https)),
        "{}",
        text(&out)
    );
    pane.keys(&["Escape"]);
    wait_for(&pane, "Welcome", T);
    quit(&server, &pane);
}

#[test]
fn ecmt_ui_refuses_without_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(common::ecmt_bin())
        .args(["--server", "https://127.0.0.1:9", "--store"])
        .arg(dir.path().join("store"))
        .arg("ui")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("ecmt ui needs a terminal; use the other commands in scripts"), "{}", text(&out));
}

/// The words and numbers of the source documents (001: "NHS PDS Helpdesk (0131 275 6600) for
/// Pharmacy & GP practices", "NHS PDS Dental Helpdesk (0345 034 2458) for Dental & Ophthalmic").
const GUIDE_CONFIG: &str = "[helpdesk]\nname = \"NHS PDS Helpdesk\"\nphone = \"0131 275 6600\"\nemail = \"\"\n\n\
    [helpdesk.phones]\ndental = \"0345 034 2458\"\nophthalmic = \"0345 034 2458\"\n\n[display]\ntime_zone = \"Europe/London\"\n";

fn guide_server() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("carecert.toml");
    std::fs::write(&file, GUIDE_CONFIG).unwrap();
    let server = Server::start_args(&["--config", file.to_str().unwrap()]);
    drop(dir); // read at start-up
    server
}

/// Logon from Welcome with `pin`, typing the EPOC only when `epoc` is given; ends on the
/// "Logon successful" dialog, closed with OK.
fn logon(pane: &Pane, epoc: Option<&str>, pin: &str) -> String {
    pane.keys(&["l"]);
    wait_for(pane, "PIN from your PIN letter", T);
    if let Some(e) = epoc {
        pane.type_text(e);
        pane.keys(&["Tab"]);
    }
    pane.type_text(pin);
    pane.keys(&["Enter"]);
    let s = wait_for(pane, "Logon successful", T);
    pane.keys(&["Enter"]);
    wait_until(pane, "the Main Menu without the dialog", T, |s| {
        s.contains("Main Menu") && !s.contains("Logon successful")
    });
    s
}

/// The text of a screen's boxes as one line (a dialog wraps long sentences at spaces).
fn joined(s: &str) -> String {
    s.lines()
        .map(|l| l.trim_matches(|c: char| c == '│' || c.is_whitespace()))
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The request ID in "request N is Pending" on the progress dialog.
fn pending_id(s: &str) -> String {
    let at = s.find(" is Pending").unwrap_or_else(|| panic!("no pending request on:\n{s}"));
    s[..at].chars().rev().take_while(char::is_ascii_digit).collect::<Vec<_>>().into_iter().rev().collect()
}

#[test]
fn request_and_download_cert_with_a_backup_to_a_chosen_pfx_and_the_epoc_prefilled_next_time() {
    let server = guide_server();
    let epoc = "5550011";
    ok(server.admin(&["org", "add", "--epoc", epoc, "--name", "Journey Pharmacy", "--approval", "ra-queue"]));
    let pin = issue_pin(&server, epoc);
    let store = server.path("store");
    let backups = server.path("backups");
    let pane = start_ui(&server, &store);
    wait_for(&pane, "Up to date", T);

    logon(&pane, Some(epoc), &pin);
    let s = pane.capture();
    assert!(s.contains("Request and Download Cert (c)") && s.contains("Restore (t)") && s.contains("About (a)"), "{s}");

    // Request and Download Cert: the policy, then progress; the RA approves while it waits.
    pane.keys(&["c"]);
    wait_for(&pane, "I accept", T);
    pane.keys(&["Left", "Enter"]);
    let s = wait_for(&pane, "waiting for the Registration Authority", T);
    let id = pending_id(&s);
    assert!(s.contains("Request and Download Cert") && s.contains(&format!("Request {id} made: Pending")), "{s}");
    ok(server.admin(&["request", "approve", &id]));
    let s = wait_for(&pane, "Do you want to back up the new certificate now?", T);
    assert!(s.contains("downloaded and installed successfully") && s.contains("Yes") && s.contains("No"), "{s}");
    assert!(s.contains(&format!("Request {id}: Available for Download")), "{s}");
    let serial = common::serial_of(&store.join("cert.pem"));

    // Yes → the chooser, in the organisation's backup folder; a name without .pfx.
    pane.keys(&["Enter"]);
    let s = wait_for(&pane, "Look in:", T);
    assert!(s.contains(backups.to_str().unwrap()), "the chooser starts in the backup folder:\n{s}");
    pane.type_text("mybackup");
    pane.keys(&["Enter"]);
    let pfx = backups.join("mybackup.pfx");
    let s = wait_for(&pane, "Repeat Password", T);
    assert!(s.contains("Backup Certificate") && s.contains(pfx.to_str().unwrap()), ".pfx is added:\n{s}");
    let pw = "Journey2026x";
    pane.type_text(pw);
    pane.keys(&["Tab"]);
    pane.type_text(pw);
    pane.keys(&["Enter"]);
    let s = joined(&wait_for(&pane, "Confirmation", T));
    for want in [
        format!("Downloaded: the certificate of request {id}"),
        format!("Installed: certificate {serial}"),
        format!("Backed up to {}", pfx.display()),
        "backed-up area".to_string(),
    ] {
        assert!(s.contains(&want), "the confirmation lacks {want:?}:\n{s}");
    }
    assert!(!s.contains(pw), "{s}");
    let info = Command::new("openssl")
        .args(["pkcs12", "-info", "-nokeys", "-in"])
        .arg(&pfx)
        .args(["-passin", &format!("pass:{pw}")])
        .output()
        .unwrap();
    assert!(info.status.success(), "openssl pkcs12 -info: {}", text(&info));
    assert!(text(&info).to_lowercase().contains("journey pharmacy"), "{}", text(&info));
    let wrong = Command::new("openssl")
        .args(["pkcs12", "-info", "-nokeys", "-in"])
        .arg(&pfx)
        .args(["-passin", "pass:Wrong2026x"])
        .output()
        .unwrap();
    assert!(!wrong.status.success(), "a wrong password opened the backup");
    pane.keys(&["Enter"]);
    wait_until(&pane, "an Installed row", T, |s| has_row(s, &id, "Installed") && !s.contains("Confirmation"));

    // About and Restore from the Main Menu too.
    pane.keys(&["a"]);
    wait_for(&pane, "Store directory", T);
    pane.keys(&["Escape"]);
    pane.keys(&["t"]);
    wait_for(&pane, "from a .pfx backup file", T);
    pane.keys(&["Escape"]);
    wait_until(&pane, "the Main Menu", T, |s| s.contains("Main Menu") && !s.contains("from a .pfx backup file"));

    // Second logon: the EPOC is pre-filled; only the PIN is typed.
    pane.keys(&["o"]);
    wait_for(&pane, "Logged off", T);
    pane.keys(&["l"]);
    let s = wait_for(&pane, "PIN from your PIN letter", T);
    assert!(s.lines().any(|l| l.contains("EPOC") && l.contains(epoc)), "EPOC not pre-filled:\n{s}");
    pane.type_text(&pin);
    pane.keys(&["Enter"]);
    let s = wait_for(&pane, "Logon successful", T);
    assert!(s.contains("Journey Pharmacy"), "{s}");
    pane.keys(&["Enter"]);
    wait_until(&pane, "the Main Menu", T, |s| s.contains("Main Menu") && !s.contains("Logon successful"));
    quit(&server, &pane);
}

#[test]
fn request_and_download_cert_without_backup_and_the_status_words_users_know() {
    let server = guide_server();
    let epoc = "5550012";
    ok(server.admin(&[
        "org",
        "add",
        "--epoc",
        epoc,
        "--name",
        "Smile Dental",
        "--kind",
        "dental",
        "--approval",
        "automatic",
    ]));
    let pin = issue_pin(&server, epoc);
    let store = server.path("store");
    let pane = start_ui(&server, &store);
    wait_for(&pane, "Up to date", T);
    logon(&pane, Some(epoc), &pin);

    // Approved at once: straight to the offer; No → a confirmation without a backup.
    pane.keys(&["c"]);
    wait_for(&pane, "I accept", T);
    pane.keys(&["Left", "Enter"]);
    wait_for(&pane, "Do you want to back up the new certificate now?", T);
    pane.keys(&["n"]);
    let s = joined(&wait_for(&pane, "Confirmation", T));
    assert!(s.contains("Downloaded: the certificate of request") && s.contains("Installed: certificate"), "{s}");
    assert!(s.contains("No backup was made") && !s.contains("Backed up to"), "{s}");
    assert!(store.join("cert.pem").exists());
    let backups = server.path("backups");
    assert!(!backups.exists() || std::fs::read_dir(&backups).unwrap().next().is_none(), "a backup was written");
    pane.keys(&["Enter"]);
    wait_until(&pane, "the Main Menu", T, |s| s.contains("Installed") && !s.contains("Confirmation"));

    // Request Cert alone: approved at once → "Available for Download".
    pane.keys(&["n"]);
    wait_for(&pane, "I accept", T);
    pane.keys(&["Left", "Enter"]);
    let s = wait_for(&pane, "created (Available for Download)", T);
    let before = &s[..s.find(" created (Available").unwrap()];
    let available: String =
        before.chars().rev().take_while(char::is_ascii_digit).collect::<Vec<_>>().into_iter().rev().collect();
    wait_until(&pane, "an Available for Download row", T, |s| has_row(s, &available, "Available"));

    // Through the RA: "Pending", then "Denied — call" the dental helpdesk.
    ok(server.admin(&["org", "set", epoc, "--approval", "ra-queue"]));
    pane.keys(&["n"]);
    wait_for(&pane, "I accept", T);
    pane.keys(&["Left", "Enter"]);
    let s = wait_for(&pane, "created (Pending)", T);
    let before = &s[..s.find(" created (Pending)").unwrap()];
    let denied: String =
        before.chars().rev().take_while(char::is_ascii_digit).collect::<Vec<_>>().into_iter().rev().collect();
    wait_until(&pane, "a Pending row", T, |s| has_row(s, &denied, "Pending"));
    ok(server.admin(&["request", "deny", &denied, "--reason", "duplicate request"]));
    pane.keys(&["F5"]);
    let s = wait_until(&pane, "a Denied row", T, |s| has_row(s, &denied, "Denied"));
    let joined: String = s.lines().map(|l| l.trim_matches(|c| c == '│' || c == ' ')).collect::<Vec<_>>().join(" ");
    assert!(joined.contains("Denied — call NHS PDS Helpdesk (0345 034 2458)"), "the dental helpdesk is named:\n{s}");
    quit(&server, &pane);

    // The command line uses the same words.
    let out = ok(server.ecmt(&store, &["requests"], &[]));
    let t = text(&out);
    for want in ["Installed", "Available for Download", "Denied — call NHS PDS Helpdesk (0345 034 2458)"] {
        assert!(t.contains(want), "`ecmt requests` lacks {want:?}:\n{t}");
    }
    assert!(t.contains(" GMT") || t.contains(" BST"), "times are local:\n{t}");
}

#[test]
fn a_non_administrator_is_refused_with_how_to_run_it() {
    // As root (CI): run ecmt as `nobody`, from a directory nobody can read.
    let bin_dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(bin_dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let bin = bin_dir.path().join("ecmt");
    std::fs::copy(common::ecmt_bin(), &bin).unwrap();
    let system_store = Path::new("/var/lib/ecmt");
    let existed = system_store.exists();
    let command = format!(
        "runuser -u nobody -- '{}' --server https://127.0.0.1:9 ui; echo \"exit status $?\"; sleep 60",
        bin.display()
    );
    let pane = Pane::start(bin_dir.path(), &command);
    wait_for(&pane, "exit status", T);
    let s = pane.capture_joined();
    let joined: String = s.lines().map(str::trim).collect::<Vec<_>>().join(" ");
    for want in [
        "ecmt must be run as administrator",
        "/var/lib/ecmt",
        "sudo ecmt --server https://127.0.0.1:9 ui",
        "--user-store",
        "Nothing was changed",
        "exit status 1",
    ] {
        assert!(joined.contains(want), "the refusal lacks {want:?}:\n{s}");
    }
    assert_eq!(system_store.exists(), existed, "the refusal created the system store");

    // The same user with --user-store and a home it can write is not refused.
    let home = tempfile::tempdir().unwrap();
    std::fs::set_permissions(home.path(), std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let out = Command::new("runuser")
        .args(["-u", "nobody", "--", "env"])
        .arg("-u")
        .arg("XDG_DATA_HOME")
        .arg(format!("HOME={}", home.path().display()))
        .arg(&bin)
        .args(["--user-store", "--server", "https://127.0.0.1:9", "--ca-file", "/nonexistent", "status"])
        .output()
        .unwrap();
    assert!(!text(&out).contains("administrator"), "{}", text(&out));
    assert!(home.path().join(".local/share/ecmt").is_dir(), "{}", text(&out));
}
