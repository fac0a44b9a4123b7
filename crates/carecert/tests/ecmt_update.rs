//! `ecmt update` (issue 11, self-update) with the real binaries: the operator makes a
//! release-signing key (`carecert admin release-key generate`), registers its public half,
//! and registers releases from a file, signed (`release add --file --sign-with`); `carecert`
//! lists them on `/download` (HTML) and `/download.json` and serves the file; `ecmt update`
//! checks the SHA-256 and the signature against the key pinned on the machine and replaces its
//! own program, keeping the old one (`--rollback` puts it back). A tampered file, a bad
//! signature, a signature by another key and an unsigned release are refused and nothing is
//! replaced.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a failed assumption is a failed test

mod common;

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{Server, text};

fn ok(o: Output) -> Output {
    assert!(o.status.success(), "command failed: {}", text(&o));
    o
}

/// A server with a registered release-signing key; returns it, the private key and the .pub file.
fn server_with_key() -> (Server, PathBuf, PathBuf) {
    let server = Server::start();
    let key = server.path("release.key");
    let out = ok(server.admin(&["release-key", "generate", "--out", key.to_str().unwrap()]));
    let public = PathBuf::from(format!("{}.pub", key.display()));
    assert!(text(&out).contains("ed25519:"), "{}", text(&out));
    assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    ok(server.admin(&["release-key", "add", "--public-key", public.to_str().unwrap()]));
    (server, key, public)
}

/// A copy of `ecmt` in its own directory (the program `ecmt update` replaces).
fn installed_ecmt() -> (tempfile::TempDir, PathBuf, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("ecmt");
    std::fs::copy(common::ecmt_bin(), &exe).unwrap();
    let bytes = std::fs::read(&exe).unwrap();
    (dir, exe, bytes)
}

/// A "new version": the ecmt program with a marker appended (an ELF file still runs).
fn release_file(server: &Server, version: &str) -> (PathBuf, Vec<u8>) {
    let mut bytes = std::fs::read(common::ecmt_bin()).unwrap();
    bytes.extend_from_slice(format!("\nrelease {version}\n").as_bytes());
    let f = server.path(&format!("ecmt-{version}"));
    std::fs::write(&f, &bytes).unwrap();
    (f, bytes)
}

fn update(server: &Server, exe: &Path, public: &Path, extra: &[&str]) -> Output {
    Command::new(exe)
        .args(["--server", &server.https, "--ca-file"])
        .arg(server.root())
        .arg("--store")
        .arg(server.path("store"))
        .arg("update")
        .arg("--release-key")
        .arg(public)
        .args(extra)
        .env_remove("ECMT_RELEASE_KEY")
        .output()
        .unwrap()
}

fn curl(url: &str, server: &Server) -> Vec<u8> {
    let out = Command::new("curl").args(["-sf", "--cacert"]).arg(server.root()).arg(url).output().unwrap();
    assert!(out.status.success(), "curl {url}: {}", text(&out));
    out.stdout
}

/// Nothing but the program itself is in its directory (no .old, no temporary file).
fn untouched(dir: &Path, exe: &Path, original: &[u8]) {
    assert_eq!(std::fs::read(exe).unwrap(), original, "the program was replaced");
    let names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().to_string()).collect();
    assert_eq!(names, vec!["ecmt".to_string()], "files left beside the program");
}

#[test]
fn a_signed_release_is_verified_and_installed_keeping_the_old_program_for_rollback() {
    let (server, key, public) = server_with_key();
    let (file, new_bytes) = release_file(&server, "99.1.0.0");
    let out = ok(server.admin(&[
        "--json",
        "release",
        "add",
        "99.1.0.0",
        "--file",
        file.to_str().unwrap(),
        "--sign-with",
        key.to_str().unwrap(),
        "--notes",
        "four-part version",
    ]));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["version"], "99.1.0.0");
    assert_eq!(v["url"], "/download/ecmt/99.1.0.0/file");

    // The download page, as HTML and JSON, and the file it serves.
    let sha = pki::release::sha256_hex(&new_bytes);
    let html = String::from_utf8(curl(&format!("{}/download", server.https), &server)).unwrap();
    assert!(html.contains("99.1.0.0") && html.contains(&sha) && html.contains("ecmt update"), "{html}");
    let index: serde_json::Value =
        serde_json::from_slice(&curl(&format!("{}/download.json", server.https), &server)).unwrap();
    let r = &index["releases"][0];
    assert_eq!((r["version"].as_str(), r["sha256"].as_str()), (Some("99.1.0.0"), Some(sha.as_str())));
    assert!(r["signature"].as_str().unwrap().len() > 80 && r["key_id"].as_str().unwrap().len() == 16, "{r}");
    assert_eq!(curl(&format!("{}/download/ecmt/99.1.0.0/file", server.https), &server), new_bytes);

    // `ecmt update --check` says so and changes nothing; `ecmt update` installs it.
    let (dir, exe, original) = installed_ecmt();
    let out = ok(update(&server, &exe, &public, &["--check"]));
    assert!(text(&out).contains("ecmt 99.1.0.0 is available"), "{}", text(&out));
    untouched(dir.path(), &exe, &original);
    let out = ok(update(&server, &exe, &public, &[]));
    let t = text(&out);
    assert!(t.contains("updated from 0.1.0 to 99.1.0.0") && t.contains("verified") && t.contains(&sha), "{t}");
    assert_eq!(std::fs::read(&exe).unwrap(), new_bytes, "the program is the release");
    assert_eq!(std::fs::metadata(&exe).unwrap().permissions().mode() & 0o777, 0o755);
    let old = dir.path().join("ecmt.old");
    assert_eq!(std::fs::read(&old).unwrap(), original, "the old program is kept");
    let v = ok(Command::new(&exe).arg("--version").output().unwrap());
    assert!(text(&v).starts_with("ecmt "), "the new program runs: {}", text(&v));

    // Rollback puts the old one back (and keeps the one it replaced).
    let out = ok(Command::new(&exe).args(["update", "--rollback"]).output().unwrap());
    assert!(text(&out).contains("Rolled back"), "{}", text(&out));
    assert_eq!(std::fs::read(&exe).unwrap(), original);
    assert_eq!(std::fs::read(&old).unwrap(), new_bytes);
}

#[test]
fn a_tampered_file_a_bad_signature_another_key_and_an_unsigned_release_are_refused_and_nothing_is_replaced() {
    let (server, key, public) = server_with_key();
    let (dir, exe, original) = installed_ecmt();

    // The server refuses to register a signature that does not verify.
    let (file, _) = release_file(&server, "99.2.0.0");
    let bad = server.admin(&[
        "release",
        "add",
        "99.2.0.0",
        "--file",
        file.to_str().unwrap(),
        "--signature",
        &"QUFB".repeat(22),
    ]);
    assert!(!bad.status.success() && text(&bad).contains("does not verify"), "{}", text(&bad));

    // A file changed after it was signed and registered: the SHA-256 does not match.
    ok(server.admin(&[
        "release",
        "add",
        "99.2.0.0",
        "--file",
        file.to_str().unwrap(),
        "--sign-with",
        key.to_str().unwrap(),
    ]));
    let mut f = std::fs::OpenOptions::new().append(true).open(&file).unwrap();
    std::io::Write::write_all(&mut f, b"tampered").unwrap();
    drop(f);
    let out = update(&server, &exe, &public, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("tampered with; nothing was replaced"), "{}", text(&out));
    untouched(dir.path(), &exe, &original);

    // A second registered key signs 99.0.5.0; this machine pins only the first.
    let other = server.path("other.key");
    ok(server.admin(&["release-key", "generate", "--out", other.to_str().unwrap()]));
    ok(server.admin(&["release-key", "add", "--public-key", &format!("{}.pub", other.display())]));
    let (file5, _) = release_file(&server, "99.0.5.0");
    ok(server.admin(&[
        "release",
        "add",
        "99.0.5.0",
        "--file",
        file5.to_str().unwrap(),
        "--sign-with",
        other.to_str().unwrap(),
    ]));
    let out = update(&server, &exe, &public, &["--to", "99.0.5.0"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("but this machine trusts only key"), "{}", text(&out));
    untouched(dir.path(), &exe, &original);

    // A bad signature in the server's database (a compromised server): it does not verify.
    let (file3, _) = release_file(&server, "99.3.0.0");
    ok(server.admin(&[
        "release",
        "add",
        "99.3.0.0",
        "--file",
        file3.to_str().unwrap(),
        "--sign-with",
        key.to_str().unwrap(),
    ]));
    let index: serde_json::Value =
        serde_json::from_slice(&curl(&format!("{}/download.json", server.https), &server)).unwrap();
    let other_sig =
        index["releases"].as_array().unwrap().iter().find(|r| r["version"] == "99.0.5.0").unwrap()["signature"]
            .as_str()
            .unwrap()
            .to_string();
    let db = server.data.join("carecert.db");
    let sql = format!("UPDATE releases SET signature = '{other_sig}' WHERE version = '99.3.0.0'");
    ok(Command::new("sqlite3").arg(&db).arg(&sql).output().unwrap());
    let out = update(&server, &exe, &public, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("does not verify") && text(&out).contains("nothing was replaced"), "{}", text(&out));
    untouched(dir.path(), &exe, &original);

    // An unsigned release (registered the old way, with a URL) is not installed.
    ok(server.admin(&[
        "release",
        "add",
        "99.4.0.0",
        "--url",
        "https://downloads.example/ecmt",
        "--sha256",
        &"ab".repeat(32),
    ]));
    let out = update(&server, &exe, &public, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("is not signed"), "{}", text(&out));
    untouched(dir.path(), &exe, &original);

    // Without a pinned key nothing is installed either.
    let out = Command::new(&exe)
        .args(["--server", &server.https, "--ca-file"])
        .arg(server.root())
        .arg("--store")
        .arg(server.path("store"))
        .args(["update", "--to", "99.3.0.0"])
        .env_remove("ECMT_RELEASE_KEY")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("no release-signing key is pinned"), "{}", text(&out));
    untouched(dir.path(), &exe, &original);
}
