//! The CA core end to end: the real `carecert` binary, checked with openssl, curl,
//! sqlite3 and pkilint.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a failed assumption is a failed test

mod common;

use std::process::Command;

use common::*;

#[test]
fn openssl_csr_is_issued_and_openssl_verifies_the_chain() {
    let s = Server::start();
    let (cert, serial) =
        s.issue("pharmacy-1", "systems", "system-client", &["--org", "Test Pharmacy", "--subject-serial", "FA123"]);
    let out = Command::new("openssl")
        .args(["verify", "-CAfile"])
        .arg(s.root())
        .arg("-untrusted")
        .arg(s.ca_pem("systems"))
        .arg(&cert)
        .output()
        .unwrap();
    assert!(text(&out).contains(": OK"), "{}", text(&out));
    // The subject is carecert's, never the requester's.
    let subj = Command::new("openssl").args(["x509", "-noout", "-subject", "-in"]).arg(&cert).output().unwrap();
    let subj = text(&subj);
    assert!(subj.contains("CN = pharmacy-1") && subj.contains("O = Test Pharmacy"), "{subj}");
    assert!(!subj.contains("whatever-the-requester-says"), "{subj}");
    // The serial is 16 random bytes.
    assert_eq!(serial.len(), 32, "{serial}");
    // AIA and CDP are present.
    let ext = text(
        &Command::new("openssl")
            .args(["x509", "-noout", "-ext", "authorityInfoAccess,crlDistributionPoints", "-in"])
            .arg(&cert)
            .output()
            .unwrap(),
    );
    assert!(ext.contains("OCSP - URI:") && ext.contains("/ca/systems.cer"), "{ext}");
    // The CRL distribution point names one shard of the systems CA's CRL, served over HTTP.
    let cdp = cdp_url(&cert);
    let shard = cdp.strip_prefix(&format!("{}/crl/systems/", s.http)).and_then(|f| f.strip_suffix(".crl"));
    assert!(shard.is_some_and(|n| n.parse::<u16>().is_ok_and(|n| n < ca::DEFAULT_CRL_SHARDS)), "{cdp}");
    let out = Command::new("curl").args(["-sf", "-o"]).arg(s.path("shard.crl")).arg(&cdp).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn ocsp_turns_from_good_to_revoked_without_restart_and_the_crl_lists_the_serial() {
    let s = Server::start();
    let (cert, serial) = s.issue("gp-surgery", "systems", "system-client", &[]);
    let before = ocsp(&s, &s.ca_pem("systems"), &cert, &[]);
    assert!(before.contains("Response verify OK") && before.contains(": good"), "{before}");
    // The same answer over GET (RFC 6960 appendix A), as browsers and cached clients ask.
    let get = ocsp(&s, &s.ca_pem("systems"), &cert, &["-no_nonce", "-header", "Host=x"]);
    assert!(get.contains(": good"), "{get}");

    let out = s.admin(&["cert", "revoke", &serial, "--reason", "keyCompromise"]);
    assert!(out.status.success(), "{}", text(&out));

    let after = ocsp(&s, &s.ca_pem("systems"), &cert, &[]);
    assert!(after.contains("Response verify OK") && after.contains(": revoked"), "{after}");
    assert!(after.contains("Reason: keyCompromise"), "{after}");
    // The cached (no-nonce) answer was dropped too.
    let cached = ocsp(&s, &s.ca_pem("systems"), &cert, &["-no_nonce"]);
    assert!(cached.contains(": revoked"), "{cached}");

    // The CRL the certificate names lists it as soon as the revocation is answered.
    let crl = s.path("systems-shard.crl");
    let out = Command::new("curl").args(["-sf", "-o"]).arg(&crl).arg(cdp_url(&cert)).output().unwrap();
    assert!(out.status.success());
    let crl_text = text(
        &Command::new("openssl").args(["crl", "-inform", "DER", "-text", "-noout", "-in"]).arg(&crl).output().unwrap(),
    );
    assert!(crl_text.contains(&format!("Serial Number: {serial}")), "{crl_text}");
    assert!(crl_text.contains("Key Compromise"), "{crl_text}");
    assert!(crl_text.contains("Issuing Distribution Point") && crl_text.contains(&cdp_url(&cert)), "{crl_text}");
    // openssl's own CRL check: the shard's scope matches the certificate's distribution point,
    // so the certificate is found revoked; a certificate that names another shard is not
    // judged by this CRL at all.
    let pem = s.path("systems-shard.pem");
    assert!(
        Command::new("openssl")
            .args(["crl", "-inform", "DER", "-outform", "PEM", "-in"])
            .arg(&crl)
            .arg("-out")
            .arg(&pem)
            .status()
            .unwrap()
            .success()
    );
    let crl_check = |c: &std::path::Path| {
        text(
            &Command::new("openssl")
                .args(["verify", "-crl_check", "-CRLfile"])
                .arg(&pem)
                .arg("-CAfile")
                .arg(s.root())
                .arg("-untrusted")
                .arg(s.ca_pem("systems"))
                .arg(c)
                .output()
                .unwrap(),
        )
    };
    let checked = crl_check(&cert);
    assert!(checked.contains("certificate revoked"), "{checked}");
    let other = (0..8)
        .map(|i| s.issue(&format!("other-{i}"), "systems", "system-client", &[]).0)
        .find(|c| cdp_url(c) != cdp_url(&cert))
        .expect("eight certificates all in the same one of 128 shards");
    let out_of_scope = crl_check(&other);
    assert!(out_of_scope.contains("different CRL scope"), "{out_of_scope}");
    let verify = text(
        &Command::new("openssl")
            .args(["crl", "-inform", "DER", "-noout", "-in"])
            .arg(&crl)
            .arg("-CAfile")
            .arg(s.ca_pem("systems"))
            .output()
            .unwrap(),
    );
    assert!(verify.contains("verify OK"), "{verify}");

    // Revoking again changes nothing and says so.
    let again = s.admin(&["cert", "revoke", &serial]);
    assert!(!again.status.success());
    assert!(text(&again).contains("already revoked"), "{}", text(&again));
}

fn lint(cmd: &str, args: &[&str], file: &std::path::Path) {
    let out = Command::new(pkilint(cmd)).arg("lint").args(args).args(["-s", "ERROR"]).arg(file).output().unwrap();
    let t = text(&out);
    assert!(out.status.success() && t.trim().is_empty(), "{cmd} found errors in {}:\n{t}", file.display());
}

fn first_cert(pem: &std::path::Path, out: &std::path::Path) {
    let t = std::fs::read_to_string(pem).unwrap();
    let end = t.find("-----END CERTIFICATE-----").unwrap() + "-----END CERTIFICATE-----\n".len();
    std::fs::write(out, &t[..end.min(t.len())]).unwrap();
}

#[test]
fn pkilint_finds_no_errors_in_any_profile_crl_or_ocsp_response() {
    let s = Server::start();
    let mut certs = vec![s.root(), s.ca_pem("systems"), s.ca_pem("smartcards")];
    certs.push(s.issue("system", "systems", "system-client", &["--org", "Pharmacy"]).0);
    certs.push(s.issue("card-auth", "smartcards", "card-auth", &["--subject-serial", "123456789012"]).0);
    certs.push(s.issue("card-sign", "smartcards", "card-sign", &["--subject-serial", "123456789012"]).0);
    certs.push(s.issue("www", "systems", "tls-server", &["--san", "dns:www.example.nhs.uk"]).0);
    let tls = s.path("server-leaf.pem");
    first_cert(&s.data.join("tls/server.pem"), &tls);
    certs.push(tls);
    // The delegated OCSP responder certificate, as the server sends it.
    let list = s.admin(&["cert", "list", "--ca", "systems", "--json"]);
    let list: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    let responder =
        list.as_array().unwrap().iter().find(|c| c["profile"] == "ocsp-responder").expect("a responder certificate");
    let rpath = s.path("responder.pem");
    std::fs::write(&rpath, responder["certificate_pem"].as_str().unwrap()).unwrap();
    certs.push(rpath);
    for c in &certs {
        lint("lint_pkix_cert", &[], c);
    }

    // A CRL with an entry, and the root's ARL.
    let (victim, serial) = s.issue("victim", "systems", "system-client", &[]);
    assert!(s.admin(&["cert", "revoke", &serial, "--reason", "superseded"]).status.success());
    // The whole CRLs, the root's ARL, and the shard the revoked certificate names.
    let shard = cdp_url(&victim);
    for (name, kind, url) in [
        ("systems", "CRL", format!("{}/crl/systems.crl", s.http)),
        ("smartcards", "CRL", format!("{}/crl/smartcards.crl", s.http)),
        ("root", "ARL", format!("{}/crl/root.crl", s.http)),
        ("systems-shard", "CRL", shard),
    ] {
        let f = s.path(&format!("{name}.crl"));
        assert!(Command::new("curl").args(["-sf", "-o"]).arg(&f).arg(&url).status().unwrap().success());
        lint("lint_crl", &["-t", kind, "-p", "PKIX"], &f);
    }
    let listed = text(
        &Command::new("openssl")
            .args(["crl", "-inform", "DER", "-text", "-noout", "-in"])
            .arg(s.path("systems-shard.crl"))
            .output()
            .unwrap(),
    );
    assert!(listed.contains(&format!("Serial Number: {serial}")), "{listed}");

    // OCSP responses: good, revoked, with and without nonce.
    for (cert, extra) in [(&certs[3], vec![]), (&victim, vec![]), (&victim, vec!["-no_nonce"])] {
        let resp = s.path("resp.der");
        let mut args = vec!["-respout", resp.to_str().unwrap()];
        args.extend(extra);
        let out = ocsp(&s, &s.ca_pem("systems"), cert, &args);
        assert!(out.contains("Response verify OK"), "{out}");
        lint("lint_ocsp_response", &[], &resp);
    }
}

#[test]
fn bad_input_gets_a_clear_error_and_changes_nothing() {
    let s = Server::start();
    let count = |s: &Server| -> (usize, i64) {
        let (code, body) = s.api("GET", "/api/v1/admin/certificates?limit=10000", None, "");
        assert_eq!(code, 200, "{body}");
        let n = serde_json::from_str::<serde_json::Value>(&body).unwrap().as_array().unwrap().len();
        let (_, audit) = s.api("GET", "/api/v1/admin/audit/verify", None, "");
        let entries = serde_json::from_str::<serde_json::Value>(&audit).unwrap()["entries"].as_i64().unwrap();
        (n, entries)
    };
    let before = count(&s);
    let issue = |csr: &str| {
        let body = serde_json::json!({"ca": "systems", "profile": "system-client", "csr": csr, "subject": {"common_name": "x"}});
        s.api("POST", "/api/v1/admin/certificates", Some(body.to_string().as_bytes()), "application/json")
    };
    let expect = |(code, body): (u16, String), want_code: u16, want_error: &str| {
        assert_eq!(code, want_code, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_else(|_| panic!("not JSON: {body}"));
        assert_eq!(v["error"], want_error, "{body}");
        assert!(v["message"].as_str().unwrap().len() > 10, "{body}");
    };

    // garbage
    expect(issue("this is not a CSR"), 400, "malformed");
    // truncated
    let (_, csr) = s.openssl_csr("good", &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]);
    let der = Command::new("openssl").args(["req", "-outform", "DER", "-in"]).arg(&csr).output().unwrap().stdout;
    let b64 = |d: &[u8]| {
        use std::io::Write;
        let mut p = Command::new("openssl")
            .args(["base64", "-A"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        p.stdin.take().unwrap().write_all(d).unwrap();
        String::from_utf8(p.wait_with_output().unwrap().stdout).unwrap()
    };
    let truncated = format!(
        "-----BEGIN CERTIFICATE REQUEST-----\n{}\n-----END CERTIFICATE REQUEST-----\n",
        b64(&der[..der.len() / 2])
    );
    expect(issue(&truncated), 400, "malformed");
    // bad signature: flip a byte of the signature value (the last bytes of the DER)
    let mut bad = der.clone();
    let n = bad.len();
    bad[n - 3] ^= 0x55;
    let bad_pem = format!("-----BEGIN CERTIFICATE REQUEST-----\n{}\n-----END CERTIFICATE REQUEST-----\n", b64(&bad));
    expect(issue(&bad_pem), 400, "bad_signature");
    // RSA-1024
    let (_, weak) = s.openssl_csr("weak", &["-newkey", "rsa:1024"]);
    let (code, body) = issue(&std::fs::read_to_string(weak).unwrap());
    expect((code, body.clone()), 400, "weak_key");
    assert!(body.contains("2048"), "the message says what is needed: {body}");
    // oversized body
    let big = "A".repeat(100 * 1024);
    expect(issue(&big), 413, "too_large");
    // malformed JSON, wrong profile for the CA, unknown CA
    expect(s.api("POST", "/api/v1/admin/certificates", Some(b"{not json"), "application/json"), 400, "malformed_json");
    let good = std::fs::read_to_string(&csr).unwrap();
    let body = serde_json::json!({"ca": "smartcards", "profile": "system-client", "csr": good, "subject": {"common_name": "x"}});
    expect(
        s.api("POST", "/api/v1/admin/certificates", Some(body.to_string().as_bytes()), "application/json"),
        422,
        "profile_not_allowed",
    );
    let body =
        serde_json::json!({"ca": "nope", "profile": "system-client", "csr": good, "subject": {"common_name": "x"}});
    expect(
        s.api("POST", "/api/v1/admin/certificates", Some(body.to_string().as_bytes()), "application/json"),
        404,
        "unknown_ca",
    );
    // no token
    let out = Command::new("curl")
        .args(["-s", "--cacert"])
        .arg(s.root())
        .arg(format!("{}/api/v1/admin/certificates", s.https))
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"unauthorized\""));
    // revoking an unknown serial
    expect(
        s.api("POST", "/api/v1/admin/certificates/0A0B0C/revoke", Some(b"{}"), "application/json"),
        404,
        "not_found",
    );
    let cli = s.admin(&["cert", "revoke", "0A0B0C"]);
    assert_eq!(cli.status.code(), Some(1));
    assert!(text(&cli).contains("no certificate with serial 0A0B0C"), "{}", text(&cli));
    // a bad reason
    expect(
        s.api("POST", "/api/v1/admin/certificates/0A0B0C/revoke", Some(br#"{"reason":"boredom"}"#), "application/json"),
        400,
        "invalid",
    );

    // OCSP: garbage, truncated and oversized requests
    let post_ocsp = |body: &[u8]| -> (u16, Vec<u8>) {
        let f = s.path("ocsp-req");
        std::fs::write(&f, body).unwrap();
        let out = Command::new("curl")
            .args([
                "-s",
                "-o",
                "-",
                "-w",
                "%{http_code}",
                "-H",
                "Content-Type: application/ocsp-request",
                "--data-binary",
            ])
            .arg(format!("@{}", f.display()))
            .arg(format!("{}/ocsp", s.http))
            .output()
            .unwrap();
        let o = out.stdout;
        let code = String::from_utf8_lossy(&o[o.len() - 3..]).parse().unwrap();
        (code, o[..o.len() - 3].to_vec())
    };
    // malformedRequest is OCSPResponse { responseStatus 1 }: 30 03 0a 01 01
    assert_eq!(post_ocsp(b"garbage"), (200, vec![0x30, 0x03, 0x0a, 0x01, 0x01]));
    let req = s.path("req.der");
    let (cert, _) = (s.root(), ());
    let out = Command::new("openssl")
        .args(["ocsp", "-issuer"])
        .arg(s.root())
        .arg("-cert")
        .arg(&cert)
        .arg("-reqout")
        .arg(&req)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let req = std::fs::read(&req).unwrap();
    assert_eq!(post_ocsp(&req[..req.len() - 5]), (200, vec![0x30, 0x03, 0x0a, 0x01, 0x01]));
    assert_eq!(post_ocsp(&vec![0x30; 20_000]).0, 413);

    assert_eq!(count(&s), before, "nothing changed: no certificate, no audit entry");
}

#[test]
fn a_wrong_ca_passphrase_stops_the_server_with_a_clear_message() {
    let mut s = Server::start();
    s.stop();
    let out = Command::new(BIN)
        .args(["serve", "--data-dir"])
        .arg(&s.data)
        .args(["--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0"])
        .env("CARECERT_CA_PASSPHRASE", "not-the-passphrase")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let t = text(&out);
    assert!(t.contains("passphrase is wrong") && t.contains("CARECERT_CA_PASSPHRASE"), "{t}");
    // Nothing was touched: the right passphrase still works.
    s.launch();
}

#[test]
fn tampering_with_one_audit_row_is_detected() {
    let s = Server::start();
    s.issue("a", "systems", "system-client", &[]);
    s.issue("b", "systems", "system-client", &[]);
    let ok = s.admin(&["audit", "verify"]);
    assert!(ok.status.success() && text(&ok).contains("Audit chain OK"), "{}", text(&ok));
    // Someone with the database file edits entry 3, removing the append-only guard first.
    let db = s.data.join("carecert.db");
    let refused =
        Command::new("sqlite3").arg(&db).arg("UPDATE audit_log SET actor = 'mallory' WHERE seq = 3").output().unwrap();
    assert!(!refused.status.success(), "the trigger refuses updates");
    let out = Command::new("sqlite3")
        .arg(&db)
        .arg("DROP TRIGGER audit_log_no_update; UPDATE audit_log SET actor = 'mallory' WHERE seq = 3;")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let bad = s.admin(&["audit", "verify"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(text(&bad).contains("BROKEN at entry 3"), "{}", text(&bad));
    // The offline check (straight from the database) agrees.
    let offline = s.admin(&["audit", "verify", "--json", "--database", &s.sqlite_url()]);
    let v: serde_json::Value = serde_json::from_slice(&offline.stdout).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["first_broken_seq"], 3);
}

#[test]
fn ca_files_openapi_and_metrics_are_served() {
    let s = Server::start();
    let get = |url: String| {
        let out = Command::new("curl").args(["-sf", "--cacert"]).arg(s.root()).arg(url).output().unwrap();
        assert!(out.status.success());
        out.stdout
    };
    let pem = get(format!("{}/ca/systems.pem", s.http));
    assert_eq!(pem, std::fs::read(s.ca_pem("systems")).unwrap());
    let der = get(format!("{}/ca/systems.cer", s.http));
    assert_eq!(der[0], 0x30);
    let api: serde_json::Value = serde_json::from_slice(&get(format!("{}/api/v1/openapi.json", s.https))).unwrap();
    for p in [
        "/ocsp",
        "/crl/{file}",
        "/api/v1/admin/certificates",
        "/api/v1/admin/certificates/{serial}/revoke",
        "/api/v1/admin/audit/verify",
    ] {
        assert!(api["paths"].get(p).is_some(), "OpenAPI lacks {p}");
    }
    let issued = |m: &str| -> u64 {
        m.lines()
            .find_map(|l| l.strip_prefix("carecert_certificates_issued_total "))
            .and_then(|v| v.parse().ok())
            .unwrap()
    };
    // Metrics need the admin token: without it, 401 and no counts.
    let (status, body) = {
        let out = Command::new("curl")
            .args(["-s", "-w", "\n%{http_code}", "--cacert"])
            .arg(s.root())
            .arg(format!("{}/metrics", s.https))
            .output()
            .unwrap();
        let t = String::from_utf8_lossy(&out.stdout).to_string();
        let (b, c) = t.rsplit_once('\n').unwrap();
        (c.to_string(), b.to_string())
    };
    assert_eq!(status, "401", "{body}");
    assert!(!body.contains("carecert_certificates_issued_total"), "{body}");
    let metrics_text = || {
        let (code, body) = s.api("GET", "/metrics", None, "");
        assert_eq!(code, 200, "{body}");
        body
    };
    let before = issued(&metrics_text());
    s.issue("m", "systems", "system-client", &[]);
    let metrics = metrics_text();
    assert_eq!(issued(&metrics), before + 1, "{metrics}");
    assert!(metrics.contains("carecert_ocsp_cache_entries "), "{metrics}");
    // Admin API and metrics are not on the plain HTTP listener.
    let out = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}"])
        .arg(format!("{}/metrics", s.http))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "404");
}

#[test]
fn the_server_runs_on_postgresql_too() {
    if std::env::var("CARECERT_SKIP_PG").as_deref() == Ok("1") {
        eprintln!("CARECERT_SKIP_PG=1: skipped on purpose");
        return;
    }
    let admin =
        std::env::var("CARECERT_TEST_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let name = format!("carecert_e2e_{}", std::process::id());
    let out = Command::new("psql").args([admin.as_str(), "-qc", &format!("CREATE DATABASE {name}")]).output().unwrap();
    assert!(out.status.success(), "PostgreSQL must be reachable at {admin}: {}", text(&out));
    let url = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);
    {
        let s = Server::start_with(Some(url));
        let (cert, serial) = s.issue("pg", "systems", "system-client", &[]);
        assert!(ocsp(&s, &s.ca_pem("systems"), &cert, &[]).contains(": good"));
        assert!(s.admin(&["cert", "revoke", &serial, "--reason", "superseded"]).status.success());
        let after = ocsp(&s, &s.ca_pem("systems"), &cert, &[]);
        assert!(after.contains(": revoked") && after.contains("superseded"), "{after}");
        assert!(text(&s.admin(&["audit", "verify"])).contains("Audit chain OK"));
    }
    let _ = Command::new("psql")
        .args([admin.as_str(), "-qc", &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")])
        .output();
}
