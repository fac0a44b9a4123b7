//! Runs the real `carecert` binary against a fresh data directory, and the real tools
//! (openssl, curl, sqlite3, pkilint) against it.
#![allow(dead_code)]

use std::io::{BufRead, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_carecert");

pub struct Server {
    pub dir: tempfile::TempDir,
    pub data: PathBuf,
    pub https: String,
    pub http: String,
    pub database: Option<String>,
    pub extra: Vec<String>,
    /// Environment variables for the server process (e.g. SOFTHSM2_CONF).
    pub env: Vec<(String, String)>,
    child: Option<Child>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Server {
    /// `carecert serve --dev` on SQLite.
    pub fn start() -> Self {
        Self::start_with(None)
    }

    /// `carecert serve --dev` on the given database URL (SQLite in the data dir if None).
    pub fn start_with(database: Option<String>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let mut s = Server {
            https: String::new(),
            http: String::new(),
            data,
            dir,
            database,
            extra: vec![],
            env: vec![],
            child: None,
        };
        s.launch();
        s
    }

    /// `carecert serve --dev` on the given database URL (SQLite if None) with extra arguments.
    pub fn start_db_args(database: Option<String>, extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let extra = extra.iter().map(|s| s.to_string()).collect();
        let mut s =
            Server { https: String::new(), http: String::new(), data, dir, database, extra, env: vec![], child: None };
        s.launch();
        s
    }

    /// `carecert serve --dev` on SQLite with extra arguments.
    pub fn start_args(extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let extra = extra.iter().map(|s| s.to_string()).collect();
        let mut s = Server {
            https: String::new(),
            http: String::new(),
            data,
            dir,
            database: None,
            extra,
            env: vec![],
            child: None,
        };
        s.launch();
        s
    }

    /// `carecert serve --dev` on a data directory prepared beforehand (e.g. by `carecert init`)
    /// inside `dir`, with extra arguments and environment.
    pub fn start_prepared(
        dir: tempfile::TempDir,
        data: PathBuf,
        database: Option<String>,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        let extra = extra.iter().map(|s| s.to_string()).collect();
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let mut s = Server { https: String::new(), http: String::new(), data, dir, database, extra, env, child: None };
        s.launch();
        s
    }

    pub fn launch(&mut self) {
        let (p1, p2) = (free_port(), free_port());
        self.https = format!("https://127.0.0.1:{p1}");
        self.http = format!("http://127.0.0.1:{p2}");
        let log = std::fs::File::create(self.dir.path().join("server.log")).unwrap();
        let mut cmd = Command::new(BIN);
        cmd.args(["serve", "--dev", "--data-dir"]).arg(&self.data);
        cmd.args(["--listen", &format!("127.0.0.1:{p1}"), "--http-listen", &format!("127.0.0.1:{p2}")]);
        if let Some(db) = &self.database {
            cmd.args(["--database", db]);
        }
        cmd.args(&self.extra);
        cmd.env_remove("CARECERT_CA_PASSPHRASE").env_remove("CARECERT_DATA_DIR");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let child = cmd.stdout(log.try_clone().unwrap()).stderr(log).spawn().unwrap();
        self.child = Some(child);
        let started = Instant::now();
        loop {
            let out = Command::new("curl").args(["-sf", &format!("{}/healthz", self.http)]).output().unwrap();
            if out.status.success() {
                break;
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("carecert serve exited ({status}): {}", self.log());
            }
            assert!(started.elapsed() < Duration::from_secs(60), "server did not start: {}", self.log());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SIGTERM: the server shuts down gracefully.
            let _ = Command::new("kill").arg(c.id().to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(15);
            while Instant::now() < deadline {
                if c.try_wait().unwrap().is_some() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Kills the server with SIGKILL (no shutdown of any kind) and waits for it to die.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap(); // SIGKILL on Unix
            c.wait().unwrap();
        }
    }

    /// The server process's id (e.g. to read /proc/PID/status).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn root(&self) -> PathBuf {
        self.data.join("ca/root.pem")
    }

    pub fn ca_pem(&self, name: &str) -> PathBuf {
        self.data.join(format!("ca/{name}.pem"))
    }

    pub fn token(&self) -> String {
        std::fs::read_to_string(self.data.join("admin-token")).unwrap().trim().to_string()
    }

    /// `carecert admin …` against this server.
    pub fn admin(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .arg("admin")
            .args(args)
            .args(["--server", &self.https, "--data-dir"])
            .arg(&self.data)
            .env_remove("CARECERT_ADMIN_TOKEN")
            .output()
            .unwrap()
    }

    /// `curl` to the admin API with the token; returns (HTTP status, body).
    pub fn api(&self, method: &str, path: &str, body: Option<&[u8]>, content_type: &str) -> (u16, String) {
        let body_file = self.path(&format!("body-{}", std::process::id()));
        let mut cmd = Command::new("curl");
        cmd.args(["-s", "-o", "-", "-w", "\n%{http_code}", "--cacert"]).arg(self.root());
        cmd.args(["-X", method, "-H", &format!("Authorization: Bearer {}", self.token())]);
        if let Some(b) = body {
            std::fs::write(&body_file, b).unwrap();
            cmd.args(["-H", &format!("Content-Type: {content_type}"), "--data-binary"])
                .arg(format!("@{}", body_file.display()));
        }
        let out = cmd.arg(format!("{}{path}", self.https)).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
        (code.trim().parse().unwrap_or(0), body.to_string())
    }

    /// A fresh P-256 key and CSR made by openssl; returns (key path, csr path).
    pub fn openssl_csr(&self, name: &str, key_args: &[&str]) -> (PathBuf, PathBuf) {
        let key = self.path(&format!("{name}.key"));
        let csr = self.path(&format!("{name}.csr"));
        let mut cmd = Command::new("openssl");
        cmd.args(["req", "-new", "-nodes", "-subj", "/CN=whatever-the-requester-says"]);
        cmd.args(key_args);
        cmd.arg("-keyout").arg(&key).arg("-out").arg(&csr);
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "openssl req: {}", String::from_utf8_lossy(&out.stderr));
        (key, csr)
    }

    /// Issues a certificate with `carecert admin cert issue`; returns its path and serial.
    pub fn issue(&self, name: &str, ca: &str, profile: &str, extra: &[&str]) -> (PathBuf, String) {
        let (_, csr) = self.openssl_csr(name, &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]);
        let cert = self.path(&format!("{name}.pem"));
        let mut args = vec![
            "cert",
            "issue",
            "--csr",
            csr.to_str().unwrap(),
            "--ca",
            ca,
            "--profile",
            profile,
            "--cn",
            name,
            "-o",
            cert.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let out = self.admin(&args);
        assert!(out.status.success(), "issue failed: {}\n{}", String::from_utf8_lossy(&out.stderr), self.log());
        (cert.clone(), serial_of(&cert))
    }

    pub fn sqlite_url(&self) -> String {
        format!("sqlite://{}", self.data.join("carecert.db").display())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

pub fn serial_of(cert: &Path) -> String {
    let out = Command::new("openssl").args(["x509", "-noout", "-serial", "-in"]).arg(cert).output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().trim_start_matches("serial=").to_string()
}

/// The URI of a certificate's CRL distribution point: the CRL a relying party fetches.
pub fn cdp_url(cert: &Path) -> String {
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-ext", "crlDistributionPoints", "-in"])
        .arg(cert)
        .output()
        .unwrap();
    let t = text(&out);
    t.lines()
        .find_map(|l| l.trim().strip_prefix("URI:"))
        .unwrap_or_else(|| panic!("no CRL distribution point in {}: {t}", cert.display()))
        .to_string()
}

pub fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// Runs `openssl ocsp` for `cert` against the server; returns its output.
pub fn ocsp(server: &Server, issuer: &Path, cert: &Path, extra: &[&str]) -> String {
    let out = Command::new("openssl")
        .args(["ocsp", "-url", &format!("{}/ocsp", server.http), "-issuer"])
        .arg(issuer)
        .arg("-cert")
        .arg(cert)
        .arg("-CAfile")
        .arg(server.root())
        .args(extra)
        .output()
        .unwrap();
    text(&out)
}

/// Finds a pkilint command: $CARECERT_PKILINT_DIR, then PATH.
pub fn pkilint(cmd: &str) -> PathBuf {
    if let Ok(dir) = std::env::var("CARECERT_PKILINT_DIR") {
        let p = Path::new(&dir).join(cmd);
        if p.exists() {
            return p;
        }
    }
    for dir in std::env::var("PATH").unwrap_or_default().split(':') {
        let p = Path::new(dir).join(cmd);
        if p.exists() {
            return p;
        }
    }
    panic!(
        "{cmd} (pkilint) is not installed: `pip install pkilint` and put it on PATH, or set CARECERT_PKILINT_DIR (.ci/run does this)"
    );
}

/// The `ecmt` binary, built beside `carecert` (scripts/test builds every binary first).
pub fn ecmt_bin() -> PathBuf {
    let p = Path::new(BIN).with_file_name("ecmt");
    assert!(p.exists(), "{} is missing: build it first with `cargo build -p ecmt` (scripts/test does)", p.display());
    p
}

impl Server {
    /// `ecmt …` against this server with the given store and environment.
    pub fn ecmt(&self, store: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(ecmt_bin());
        cmd.args(["--server", &self.https, "--ca-file"]).arg(self.root()).arg("--store").arg(store);
        cmd.args(args);
        for k in ["ECMT_PIN", "ECMT_EPOC", "ECMT_BACKUP_PASSWORD", "ECMT_SERVER", "ECMT_STORE", "ECMT_CA_FILE"] {
            cmd.env_remove(k);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.stdin(std::process::Stdio::null()).output().unwrap()
    }
}

/// A local SMTP server for the mail tests (unlock codes, expiry reminders): every message's
/// text goes to the channel.
pub fn smtp_server() -> (u16, std::sync::mpsc::Receiver<String>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut w = s.try_clone().unwrap();
                let mut r = std::io::BufReader::new(s);
                let _ = w.write_all(b"220 test.local ESMTP\r\n");
                let (mut line, mut data, mut in_data) = (String::new(), String::new(), false);
                loop {
                    line.clear();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    if in_data {
                        if line == ".\r\n" {
                            in_data = false;
                            let _ = tx.send(std::mem::take(&mut data));
                            let _ = w.write_all(b"250 queued\r\n");
                        } else {
                            data.push_str(&line);
                        }
                        continue;
                    }
                    let cmd = line.to_ascii_uppercase();
                    let reply: &[u8] = if cmd.starts_with("DATA") {
                        in_data = true;
                        b"354 go ahead\r\n"
                    } else if cmd.starts_with("QUIT") {
                        let _ = w.write_all(b"221 bye\r\n");
                        return;
                    } else if cmd.starts_with("EHLO") || cmd.starts_with("HELO") {
                        b"250 test.local\r\n"
                    } else {
                        b"250 ok\r\n"
                    };
                    let _ = w.write_all(reply);
                }
            });
        }
    });
    (port, rx)
}
