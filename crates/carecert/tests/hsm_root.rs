//! Issue 13 part B with the real binaries: CA keys on a PKCS#11 token (SoftHSM2 in a private
//! token directory), the root off line (its key only in a root directory the serving
//! configuration never names), rotation of `systems`, responder renewal, failed reservations
//! — checked with openssl, pkcs11-tool, sqlite3 and pkilint.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{BIN, Server, cdp_url, ocsp, pkilint, text};

const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
const USER_PIN: &str = "87654321";
const PASSPHRASE: &str = "correct horse battery staple";

/// A SoftHSM2 token in its own directory, a passphrase file, a data directory and a root
/// directory side by side (the root directory stands for the offline machine's media).
struct Deployment {
    dir: tempfile::TempDir,
    conf: PathBuf,
    uri: String,
}

impl Deployment {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let tokens = dir.path().join("tokens");
        std::fs::create_dir_all(&tokens).unwrap();
        let conf = dir.path().join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!("directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n", tokens.display()),
        )
        .unwrap();
        let out = Command::new("softhsm2-util")
            .args(["--init-token", "--free", "--label", "carecert-ca", "--so-pin", "12345678", "--pin", USER_PIN])
            .env("SOFTHSM2_CONF", &conf)
            .output()
            .expect("softhsm2-util (Debian package softhsm2)");
        assert!(out.status.success(), "{}", text(&out));
        let pin = dir.path().join("hsm-pin");
        std::fs::write(&pin, format!("{USER_PIN}\n")).unwrap();
        std::fs::write(dir.path().join("passphrase"), PASSPHRASE).unwrap();
        let uri = format!("pkcs11:token=carecert-ca?module-path={MODULE}&pin-source=file:{}", pin.display());
        Deployment { dir, conf, uri }
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn root_dir(&self) -> PathBuf {
        self.dir.path().join("offline-root")
    }

    fn passphrase(&self) -> PathBuf {
        self.dir.path().join("passphrase")
    }

    /// Runs `carecert ARGS` with the token's configuration in the environment.
    fn carecert(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .args(args)
            .env("SOFTHSM2_CONF", &self.conf)
            .env_remove("CARECERT_CA_PASSPHRASE")
            .env_remove("CARECERT_KEY_STORE")
            .env_remove("CARECERT_DATA_DIR")
            .output()
            .unwrap()
    }

    fn init(&self) {
        let data = self.data();
        let out = self.carecert(&[
            "init",
            "--data-dir",
            data.to_str().unwrap(),
            "--ca-passphrase-file",
            self.passphrase().to_str().unwrap(),
            "--key-store",
            &self.uri,
            "--root-dir",
            self.root_dir().to_str().unwrap(),
        ]);
        assert!(out.status.success(), "init: {}", text(&out));
        assert!(text(&out).contains("Root key: off line"), "{}", text(&out));
    }

    /// `carecert serve` on this deployment (the harness adds --dev; the CA exists already, so
    /// --dev changes nothing about the keys).
    fn serve(self) -> (Server, DeploymentFiles) {
        let files = DeploymentFiles {
            conf: self.conf.clone(),
            uri: self.uri.clone(),
            root_dir: self.root_dir(),
            passphrase: self.passphrase(),
        };
        let data = self.data();
        let conf = self.conf.to_str().unwrap().to_string();
        let pass = self.passphrase().to_str().unwrap().to_string();
        let uri = self.uri.clone();
        let s = Server::start_prepared(
            self.dir,
            data,
            None,
            &["--ca-passphrase-file", &pass, "--key-store", &uri],
            &[("SOFTHSM2_CONF", &conf)],
        );
        // `carecert init` leaves a bootstrap token that can only make operator accounts: make
        // the ca-admin these tests act as, and keep its token where `admin` looks for one (366
        // days, the longest a token may last: one test moves the service clock 340 days on).
        let ops = s.data.join("ops-token");
        let out = s.admin(&[
            "account",
            "create",
            "ops",
            "--role",
            "ca-admin",
            "--days",
            "366",
            "--token-out",
            ops.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "account create: {}", text(&out));
        std::fs::rename(&ops, s.data.join("admin-token")).unwrap();
        (s, files)
    }
}

/// What stays needed once the deployment's directory belongs to the server.
struct DeploymentFiles {
    conf: PathBuf,
    uri: String,
    root_dir: PathBuf,
    passphrase: PathBuf,
}

impl DeploymentFiles {
    fn carecert(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .args(args)
            .env("SOFTHSM2_CONF", &self.conf)
            .env_remove("CARECERT_CA_PASSPHRASE")
            .env_remove("CARECERT_KEY_STORE")
            .env_remove("CARECERT_DATA_DIR")
            .output()
            .unwrap()
    }

    /// `pkcs11-tool --list-objects --type privkey` after a login.
    fn private_keys(&self) -> String {
        let out = Command::new("pkcs11-tool")
            .args(["--module", MODULE, "--token-label", "carecert-ca", "--login", "--pin", USER_PIN])
            .args(["--list-objects", "--type", "privkey"])
            .env("SOFTHSM2_CONF", &self.conf)
            .output()
            .expect("pkcs11-tool (Debian package opensc)");
        assert!(out.status.success(), "{}", text(&out));
        String::from_utf8_lossy(&out.stdout).to_string()
    }
}

fn sqlite(db: &Path, sql: &str) -> String {
    let out = Command::new("sqlite3").args(["-cmd", ".timeout 10000"]).arg(db).arg(sql).output().expect("sqlite3");
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn fetch(url: &str, out: &Path) {
    let ok = Command::new("curl").args(["-sf", "-o"]).arg(out).arg(url).status().unwrap().success();
    assert!(ok, "GET {url}");
}

fn openssl(args: &[&str]) -> String {
    text(&Command::new("openssl").args(args).output().unwrap())
}

fn lint(cmd: &str, args: &[&str], file: &Path) {
    let out = Command::new(pkilint(cmd)).arg("lint").args(args).args(["-s", "ERROR"]).arg(file).output().unwrap();
    let t = text(&out);
    assert!(out.status.success() && t.trim().is_empty(), "{cmd} found errors in {}:\n{t}", file.display());
}

/// Verifies `cert` to the root through `intermediate` with openssl.
fn verify(s: &Server, intermediate: &Path, cert: &Path) {
    let out = Command::new("openssl")
        .args(["verify", "-CAfile"])
        .arg(s.root())
        .arg("-untrusted")
        .arg(intermediate)
        .arg(cert)
        .output()
        .unwrap();
    assert!(text(&out).contains(": OK"), "{}", text(&out));
}

/// Fetches `/crl/NAME.crl`, checks its signature with openssl; returns its text.
fn crl_text(s: &Server, name: &str, issuer_chain: &[&Path]) -> String {
    crl_text_at(s, name, &format!("{}/crl/{name}.crl", s.http), issuer_chain)
}

/// Fetches the CRL at `url`'s path from this server (the certificates name the public URL
/// given at init) into NAME.crl, checks its signature with openssl; returns its text.
fn crl_text_at(s: &Server, name: &str, url: &str, issuer_chain: &[&Path]) -> String {
    let f = s.path(&format!("{name}.crl"));
    let path = url.splitn(4, '/').nth(3).unwrap_or_else(|| panic!("'{url}' has no path"));
    fetch(&format!("{}/{path}", s.http.trim_end_matches('/')), &f);
    let bundle = s.path(&format!("{name}-chain.pem"));
    let mut pem = String::new();
    for p in issuer_chain {
        pem.push_str(&std::fs::read_to_string(p).unwrap());
    }
    std::fs::write(&bundle, pem).unwrap();
    let out = openssl(&[
        "crl",
        "-inform",
        "DER",
        "-in",
        f.to_str().unwrap(),
        "-CAfile",
        bundle.to_str().unwrap(),
        "-noout",
        "-text",
    ]);
    assert!(out.contains("verify OK"), "{name}: {out}");
    out
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < Duration::from_secs(30), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn ca_keys_live_on_the_token_and_the_root_stays_off_line() {
    let d = Deployment::new();
    d.init();
    let data = d.data();
    let db = data.join("carecert.db");

    // The database records handles, never keys; the root has none at all.
    let refs =
        sqlite(&db, "SELECT name || '|' || key_ref || '|' || COALESCE(responder_key_ref, '') FROM cas ORDER BY name");
    let rows: Vec<&str> = refs.lines().collect();
    assert_eq!(rows.len(), 3, "{refs}");
    assert!(rows.contains(&"root|offline|"), "{refs}");
    for name in ["systems", "smartcards"] {
        let row = rows.iter().find(|r| r.starts_with(&format!("{name}|"))).unwrap();
        let parts: Vec<&str> = row.split('|').collect();
        assert!(
            parts[1].starts_with("pkcs11:token=carecert-ca;object=carecert%20") && parts[1].contains(";id="),
            "{row}"
        );
        assert!(parts[2].starts_with("pkcs11:token=carecert-ca;"), "{row}");
        assert!(!row.contains("PRIVATE KEY") && !row.contains("pin"), "{row}");
    }

    // The token holds the four keys as private, sensitive, never-extractable objects; no root key.
    let (s, f) = d.serve();
    let keys = f.private_keys();
    let blocks: Vec<&str> = keys.split("Private Key Object").skip(1).collect();
    assert_eq!(blocks.len(), 4, "{keys}");
    for b in &blocks {
        assert!(b.contains("always sensitive") && b.contains("never extractable"), "{b}");
        assert!(b.contains("Usage:") && b.contains("sign"), "{b}");
        assert!(!b.to_lowercase().contains("root"), "{b}");
    }
    // CKA_PRIVATE: without a login the token shows none of them.
    let anonymous = Command::new("pkcs11-tool")
        .args(["--module", MODULE, "--token-label", "carecert-ca", "--list-objects", "--type", "privkey"])
        .env("SOFTHSM2_CONF", &f.conf)
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&anonymous.stdout).contains("Private Key Object"), "{}", text(&anonymous));
    for label in [
        "carecert systems CA",
        "carecert smartcards CA",
        "carecert systems OCSP responder",
        "carecert smartcards OCSP responder",
    ] {
        assert!(keys.contains(label), "{label} missing:\n{keys}");
    }

    // No CA key file in the data directory (the only private key there is the HTTPS key); the
    // root key is in the root directory, outside it.
    for file in files_under(&s.data) {
        let body = std::fs::read(&file).unwrap();
        if String::from_utf8_lossy(&body).contains("PRIVATE KEY") {
            assert!(file.ends_with("tls/server.key"), "a private key in the data directory: {}", file.display());
        }
    }
    assert!(f.root_dir.join("root-key.pem").exists());
    assert!(!f.root_dir.starts_with(&s.data));
    // Nothing the serving process was started with names the root directory.
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", s.pid())).unwrap();
    let environ = std::fs::read(format!("/proc/{}/environ", s.pid())).unwrap();
    let root_dir = f.root_dir.to_str().unwrap();
    assert!(
        !String::from_utf8_lossy(&cmdline).contains(root_dir) && !String::from_utf8_lossy(&environ).contains(root_dir)
    );
    assert!(s.log().contains("CA keys:") && s.log().contains("token \"carecert-ca\""), "{}", s.log());

    // Issuance, revocation, CRL and OCSP through the token; everything verifies with openssl.
    let (cert, serial) = s.issue("pharmacy", "systems", "system-client", &["--org", "Pharmacy"]);
    verify(&s, &s.ca_pem("systems"), &cert);
    let good = ocsp(&s, &s.ca_pem("systems"), &cert, &[]);
    assert!(good.contains("Response verify OK") && good.contains(": good"), "{good}");
    let (victim, victim_serial) = s.issue("victim", "systems", "system-client", &[]);
    assert!(s.admin(&["cert", "revoke", &victim_serial, "--reason", "keyCompromise"]).status.success());
    let resp = s.path("revoked.der");
    let revoked = ocsp(&s, &s.ca_pem("systems"), &victim, &["-respout", resp.to_str().unwrap()]);
    assert!(revoked.contains("Response verify OK") && revoked.contains(": revoked"), "{revoked}");
    // The CRL the certificate names (its shard's) lists it as soon as the revocation is answered.
    let crl = crl_text_at(&s, "systems", &cdp_url(&victim), &[&s.ca_pem("systems"), &s.root()]);
    assert!(crl.contains(&victim_serial) && !crl.contains(&serial), "{crl}");

    // The root answers only from what it pre-signed: OCSP about an intermediate and the ARL.
    let inter = ocsp(&s, &s.root(), &s.ca_pem("systems"), &["-no_nonce"]);
    assert!(inter.contains("Response verify OK") && inter.contains(": good"), "{inter}");
    let arl = crl_text(&s, "root", &[&s.root()]);
    assert!(arl.contains("No Revoked Certificates"), "{arl}");
    // … and cannot sign anything on line.
    let refused = s.admin(&[
        "cert",
        "issue",
        "--csr",
        s.openssl_csr("rogue", &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]).1.to_str().unwrap(),
        "--ca",
        "root",
        "--profile",
        "issuing-ca",
        "--cn",
        "rogue",
    ]);
    assert!(!refused.status.success(), "{}", text(&refused));
    assert!(text(&refused).contains("off line") || text(&refused).contains("403"), "{}", text(&refused));

    // pkilint: the certificate, the CRL, the ARL and an OCSP response signed on the token.
    lint("lint_pkix_cert", &[], &cert);
    lint("lint_crl", &["-t", "CRL", "-p", "PKIX"], &s.path("systems.crl"));
    lint("lint_crl", &["-t", "ARL", "-p", "PKIX"], &s.path("root.crl"));
    lint("lint_ocsp_response", &[], &resp);

    // A second node with the same token configuration and the same database.
    let dir2 = tempfile::tempdir().unwrap();
    let data2 = dir2.path().join("data");
    let url = s.sqlite_url();
    let conf = f.conf.to_str().unwrap().to_string();
    let pass = f.passphrase.to_str().unwrap().to_string();
    let s2 = Server::start_prepared(
        dir2,
        data2,
        Some(url),
        &["--ca-passphrase-file", &pass, "--key-store", &f.uri],
        &[("SOFTHSM2_CONF", &conf)],
    );
    // The operator's token (in the shared database) works on either node.
    std::fs::write(s2.data.join("admin-token"), s.token()).unwrap();
    let (cert2, serial2) = s2.issue("second", "systems", "system-client", &[]);
    verify(&s2, &s2.ca_pem("systems"), &cert2);
    // Node 2 revokes what node 1 issued; node 1 answers revoked (maintenance picks it up).
    assert!(s2.admin(&["cert", "revoke", &serial, "--reason", "superseded"]).status.success());
    wait_for("node 1 to see node 2's revocation", || ocsp(&s, &s.ca_pem("systems"), &cert, &[]).contains(": revoked"));
    let on_one = ocsp(&s, &s.ca_pem("systems"), &cert2, &[]);
    assert!(on_one.contains("Response verify OK") && on_one.contains(": good"), "{on_one}");
    assert!(!serial2.is_empty());
}

#[test]
fn rotating_systems_keeps_the_old_ca_answering_until_its_certificates_expire() {
    let d = Deployment::new();
    d.init();
    let (mut s, f) = d.serve();
    let (old_cert, old_serial) = s.issue("before", "systems", "system-client", &[]);

    // Step 1 on the serving side: a key for systems-2 on the token, and the request.
    let request = s.path("systems-2.request.json");
    let data = s.data.to_str().unwrap().to_string();
    let pass = f.passphrase.to_str().unwrap().to_string();
    let out = f.carecert(&[
        "ca",
        "--data-dir",
        &data,
        "--ca-passphrase-file",
        &pass,
        "--key-store",
        &f.uri,
        "request",
        "systems",
        "-o",
        request.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "ca request: {}", text(&out));
    assert!(f.private_keys().contains("carecert systems-2 CA"));
    // Step 2 on the offline machine: the root signs it and pre-signs the ARL and OCSP answers.
    let bundle = s.path("bundle.json");
    let root_dir = f.root_dir.to_str().unwrap().to_string();
    let out = f.carecert(&[
        "root",
        "--root-dir",
        &root_dir,
        "--passphrase-file",
        &pass,
        "sign-intermediate",
        "--request",
        request.to_str().unwrap(),
        "-o",
        bundle.to_str().unwrap(),
        "--days",
        "7",
    ]);
    assert!(out.status.success(), "root sign-intermediate: {}", text(&out));
    // Step 3: import, restart; new issuance comes from systems-2.
    let out = f.carecert(&[
        "ca",
        "--data-dir",
        &data,
        "--ca-passphrase-file",
        &pass,
        "--key-store",
        &f.uri,
        "import",
        bundle.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "ca import: {}", text(&out));
    assert!(text(&out).contains("systems-2"), "{}", text(&out));
    s.stop();
    s.launch();
    let (new_cert, new_serial) = s.issue("after", "systems", "system-client", &[]);
    let issuer = openssl(&["x509", "-noout", "-issuer", "-in", new_cert.to_str().unwrap()]);
    assert!(issuer.contains("Systems CA 2"), "{issuer}");
    verify(&s, &s.ca_pem("systems-2"), &new_cert);
    verify(&s, &s.ca_pem("systems"), &old_cert);

    // Both answer OCSP and both revoke; each CRL lists its own.
    for (cert, ca) in [(&old_cert, "systems"), (&new_cert, "systems-2")] {
        let out = ocsp(&s, &s.ca_pem(ca), cert, &[]);
        assert!(out.contains("Response verify OK") && out.contains(": good"), "{ca}: {out}");
    }
    for serial in [&old_serial, &new_serial] {
        let out = s.admin(&["cert", "revoke", serial, "--ca", "systems", "--reason", "superseded"]);
        assert!(out.status.success(), "{}", text(&out));
    }
    for (cert, ca, serial) in [(&old_cert, "systems", &old_serial), (&new_cert, "systems-2", &new_serial)] {
        let out = ocsp(&s, &s.ca_pem(ca), cert, &[]);
        assert!(out.contains("Response verify OK") && out.contains(": revoked"), "{ca}: {out}");
        let crl = crl_text_at(&s, ca, &cdp_url(cert), &[&s.ca_pem(ca), &s.root()]);
        assert!(crl.contains(serial.as_str()), "{ca}: {crl}");
    }
    // The root's pre-signed answers cover the new intermediate.
    let inter = ocsp(&s, &s.root(), &s.ca_pem("systems-2"), &["-no_nonce"]);
    assert!(inter.contains("Response verify OK") && inter.contains(": good"), "{inter}");
    let inter = ocsp(&s, &s.root(), &s.ca_pem("systems"), &["-no_nonce"]);
    assert!(inter.contains("Response verify OK") && inter.contains(": good"), "{inter}");
    let arl = crl_text(&s, "root", &[&s.root()]);
    assert!(arl.contains("CRL Number") && arl.contains("No Revoked Certificates"), "{arl}");

    // Retiring the old intermediate for good, later: the root revokes it, the ARL lists it.
    let bundle2 = s.path("bundle2.json");
    let out = f.carecert(&[
        "root",
        "--root-dir",
        &root_dir,
        "--passphrase-file",
        &pass,
        "revoke",
        "systems",
        "-o",
        bundle2.to_str().unwrap(),
        "--days",
        "2",
    ]);
    assert!(out.status.success(), "root revoke: {}", text(&out));
    let out = f.carecert(&[
        "ca",
        "--data-dir",
        &data,
        "--ca-passphrase-file",
        &pass,
        "--key-store",
        &f.uri,
        "import",
        bundle2.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "ca import: {}", text(&out));
    let old_ca_serial = common::serial_of(&s.ca_pem("systems"));
    wait_for("the new ARL", || crl_text(&s, "root", &[&s.root()]).contains(&old_ca_serial));
}

#[test]
fn responder_certificates_renew_themselves_before_they_expire() {
    let d = Deployment::new();
    d.init();
    let (mut s, f) = d.serve();
    let (cert, _) = s.issue("pharmacy", "systems", "system-client", &[]);
    let responders = |s: &Server| -> Vec<String> {
        let out = s.admin(&["cert", "list", "--ca", "systems", "--json"]);
        let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        list.as_array()
            .unwrap()
            .iter()
            .filter(|c| c["profile"] == "ocsp-responder")
            .map(|c| c["serial"].as_str().unwrap().to_string())
            .collect()
    };
    let before = responders(&s);
    assert_eq!(before.len(), 1, "{before:?}");

    // A reservation that was never signed (a crash between reserve and sign) …
    let db = s.data.join("carecert.db");
    sqlite(
        &db,
        "INSERT INTO certificates (issuer, serial, profile, subject, spki_sha256, not_before, not_after, status, created_at) VALUES ('systems', '0ABCDEF0123456789', 'system-client', 'CN=lost', 'x', 0, 1, 'reserved', 1000)",
    );

    // 340 days on: inside the last 30 days of the responder's 365 (the test-only clock).
    s.stop();
    s.extra.extend(["--clock-offset-days".to_string(), "340".to_string()]);
    s.launch();
    wait_for("a renewed responder", || responders(&s).len() == 2);
    let after = responders(&s);
    let new_serial = after.iter().find(|x| !before.contains(x)).unwrap().clone();
    assert!(f.private_keys().matches("carecert systems OCSP responder").count() >= 2);

    // The answer is signed by the new responder and verifies (at the service's time).
    let at = (time_now() + 340 * 86_400 + 60).to_string();
    let out = ocsp(&s, &s.ca_pem("systems"), &cert, &["-attime", &at, "-validity_period", "40000000", "-resp_text"]);
    assert!(out.contains("Response verify OK") && out.contains(": good"), "{out}");
    let resp_serial = new_serial.trim_start_matches('0');
    assert!(out.to_uppercase().replace(':', "").contains(resp_serial), "responder {new_serial} not in:\n{out}");

    // … is marked failed by maintenance, with its audit entry.
    wait_for("the stale reservation to be marked failed", || {
        sqlite(&db, "SELECT status FROM certificates WHERE serial = '0ABCDEF0123456789'") == "failed"
    });
    assert_eq!(sqlite(&db, "SELECT COUNT(*) FROM audit_log WHERE action = 'certificate.failed'"), "1");
}

#[test]
fn a_moved_clock_is_refused_outside_tests() {
    let d = Deployment::new();
    d.init();
    let data = d.data();
    let out = d.carecert(&[
        "serve",
        "--data-dir",
        data.to_str().unwrap(),
        "--ca-passphrase-file",
        d.passphrase().to_str().unwrap(),
        "--key-store",
        &d.uri,
        "--clock-offset-days",
        "5",
    ]);
    assert!(!out.status.success());
    assert!(text(&out).contains("--clock-offset-days is for tests only"), "{}", text(&out));
}

#[test]
fn the_token_sign_rate_is_measured() {
    let d = Deployment::new();
    let out =
        d.carecert(&["bench", "hsm-sign", "--key-store", &d.uri, "--signatures", "400", "--threads", "2", "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["signatures"], 400);
    assert!(v["per_second"].as_f64().unwrap() > 10.0, "{v}");
}

fn time_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}
