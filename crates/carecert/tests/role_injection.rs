//! Role injection through the portal administrator's form: a portal administrator who
//! registers a smartcard UID with `role=clinician,ra` (or `ra ` or ` ra`) is refused with a
//! message naming the allowed roles, and no account is created — roles are single values
//! and are stored as a list, so no text can carry a second role (here: the RA role) in.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a failed assumption is a failed test

mod common;

use std::process::Command;

use common::Server;

struct Browser<'a> {
    server: &'a Server,
    jar: std::path::PathBuf,
}

impl Browser<'_> {
    /// (status, headers, body)
    fn req(&self, method: &str, path: &str, form: Option<&str>) -> (u16, String, String) {
        let mut cmd = Command::new("curl");
        cmd.args(["-s", "-D", "-", "-o", "-", "-w", "\n%{http_code}", "--cacert"]).arg(self.server.root());
        cmd.arg("-b").arg(&self.jar).arg("-c").arg(&self.jar).args(["-X", method]);
        if let Some(f) = form {
            cmd.args(["-H", "Content-Type: application/x-www-form-urlencoded", "--data-binary", f]);
        }
        let out = cmd.arg(format!("{}{path}", self.server.https)).output().unwrap();
        let t = String::from_utf8_lossy(&out.stdout).to_string();
        let (rest, code) = t.rsplit_once('\n').unwrap();
        let (head, body) = rest.split_once("\r\n\r\n").unwrap_or((rest, ""));
        (code.trim().parse().unwrap_or(0), head.to_string(), body.to_string())
    }
}

fn csrf_of(page: &str) -> String {
    let i = page.find("name=\"csrf\" value=\"").expect("a csrf field") + 19;
    page[i..i + 64].to_string()
}

fn location(head: &str) -> String {
    head.lines()
        .find(|l| l.to_ascii_lowercase().starts_with("location:"))
        .map(|l| l[9..].trim().to_string())
        .unwrap_or_default()
}

fn accounts_named(server: &Server, username: &str) -> String {
    let out = Command::new("sqlite3")
        .arg(server.data.join("carecert.db"))
        .arg(format!("SELECT count(*) FROM web_accounts WHERE username = '{username}'"))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn a_portal_administrator_cannot_smuggle_the_ra_role_into_an_account() {
    let server = Server::start();
    let body = br#"{"username":"pam","name":"Pam Admin","roles":["portal:admin"],"password":"another long password"}"#;
    let (code, out) = server.api("POST", "/api/v1/admin/web-accounts", Some(body), "application/json");
    assert_eq!(code, 201, "{out}");
    // The admin API refuses a role list in one role, too.
    let bad = br#"{"username":"eve","name":"Eve","roles":["portal:clinician,ra"],"password":"another long password"}"#;
    let (code, out) = server.api("POST", "/api/v1/admin/web-accounts", Some(bad), "application/json");
    assert_eq!(code, 400, "{out}");
    assert!(out.contains("is not a role"), "{out}");
    assert_eq!(accounts_named(&server, "eve"), "0");

    let b = Browser { server: &server, jar: server.path("cookies") };
    let (code, head, _) = b.req("POST", "/portal/login", Some("username=pam&password=another%20long%20password"));
    assert_eq!(code, 303, "{head}");
    let (code, _, page) = b.req("GET", "/portal/admin/uids", None);
    assert_eq!(code, 200, "{page}");
    let csrf = csrf_of(&page);

    for role in ["clinician%2Cra", "ra%20", "%20ra", "clinician%2C%20ra"] {
        let form = format!("csrf={csrf}&uid=77&username=mallory&name=Mallory&role={role}");
        // Refused at once with the reason (not through the URL), naming the roles allowed.
        let (code, head, page) = b.req("POST", "/portal/admin/uids", Some(&form));
        assert_eq!(code, 400, "{role}: {head}");
        assert!(page.contains("is not a role") && page.contains("portal:NAME"), "{role}: {page}");
        assert_eq!(accounts_named(&server, "mallory"), "0", "{role}: no account was created");
    }

    // A single role still works.
    let form = format!("csrf={csrf}&uid=77&username=mallory&name=Mallory&role=clinician");
    let (code, head, _) = b.req("POST", "/portal/admin/uids", Some(&form));
    assert!(code == 303 && location(&head).contains("done="), "{head}");
    let out = Command::new("sqlite3")
        .arg(server.data.join("carecert.db"))
        .arg("SELECT roles FROM web_accounts WHERE username = 'mallory'")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), r#"["portal:clinician"]"#);
}
