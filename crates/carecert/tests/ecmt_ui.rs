//! `ecmt ui`, the interactive screens, driven for real in a pseudo-terminal (tmux) against
//! `carecert serve` on SQLite: Welcome → Logon (a wrong PIN first, then the right one,
//! masked) → Main Menu → Request Cert → the policy dialog → "I accept" → pending → the RA
//! approves → Refresh → approved → Download → installed → Backup (a weak password is
//! refused with the rule, then a good one; OpenSSL opens the file) → Logout → Restore (a
//! wrong password first) → Quit. Then: "UPDATE REQUIRED" on Welcome and the server refusing
//! the logon of a too-old client on the Logon screen.
//! And: without a terminal `ecmt ui` refuses.
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
        "'{}' --server '{}' --ca-file '{}' --store '{}' ui 2>'{}'; echo $? >'{}'",
        common::ecmt_bin().display(),
        server.https,
        server.root().display(),
        store.display(),
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
    let s = wait_for(&pane, "Main Menu", T);
    for want in ["UI Pharmacy", "Request ID", "Status", "Created", "Issued", "Refresh", "Request Cert", "Download"] {
        assert!(s.contains(want), "Main Menu lacks {want:?}:\n{s}");
    }

    // Request Cert: the policy dialog; only "I accept" requests.
    pane.keys(&["n"]);
    let s = wait_for(&pane, "I accept", T);
    assert!(s.contains("Acceptable-use policy") && s.contains(&policy_first_line), "{s}");
    pane.keys(&["Left", "Enter"]);
    let s = wait_for(&pane, "created (pending)", T);
    let before = &s[..s.find(" created (pending)").unwrap()];
    let id: String =
        before.chars().rev().take_while(char::is_ascii_digit).collect::<Vec<_>>().into_iter().rev().collect();
    assert!(!id.is_empty(), "no request ID on:\n{s}");
    wait_until(&pane, "a pending row", T, |s| has_row(s, &id, "pending"));

    // The RA approves; Refresh shows it; Download installs it.
    ok(server.admin(&["request", "approve", &id]));
    pane.keys(&["F5"]);
    wait_until(&pane, "an approved row", T, |s| has_row(s, &id, "approved"));
    pane.keys(&["d"]);
    let s = wait_for(&pane, "installed in", T);
    assert!(store.join("cert.pem").exists(), "no cert.pem after Download:\n{s}");
    let serial = common::serial_of(&store.join("cert.pem"));
    assert!(s.contains(&serial), "the message names the serial {serial}:\n{s}");
    wait_until(&pane, "an installed row", T, |s| has_row(s, &id, "installed"));

    // Backup: a weak password gets the rule, naming what is missing; then a good one.
    let pfx = server.path("ui-backup.pfx");
    pane.keys(&["b"]);
    wait_for(&pane, "Repeat password", T);
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
    assert!(s.contains("99.0.0") && s.contains(url), "{s}");
    pane.keys(&["l"]);
    wait_for(&pane, "EPOC", T);
    pane.type_text(epoc);
    pane.keys(&["Tab"]);
    pane.type_text(&pin);
    pane.keys(&["Enter"]);
    let s = wait_for(&pane, "no longer supported", T);
    assert!(s.contains("Logon") && !s.contains("Main Menu"), "{s}");
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
