//! `carecert admin …`: operator commands against a running server's admin API.

use std::path::PathBuf;

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::paths;

/// `carecert admin`.
#[derive(Args, Debug)]
pub struct AdminArgs {
    /// Server URL
    #[arg(long, global = true, env = "CARECERT_SERVER", default_value = "https://127.0.0.1:8443")]
    server: String,
    /// Admin token [default: DATA_DIR/admin-token]
    #[arg(long, global = true, env = "CARECERT_ADMIN_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Root certificate that the server's TLS certificate chains to [default: DATA_DIR/ca/root.pem]
    #[arg(long, global = true, env = "CARECERT_CA_FILE")]
    ca_file: Option<PathBuf>,
    /// Data directory (where the defaults above are read from)
    #[arg(long, global = true, env = "CARECERT_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Print JSON instead of text
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    what: What,
}

// Parsed once per process: the size difference between variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
enum What {
    /// Certificates: issue, show, list, revoke.
    #[command(subcommand)]
    Cert(CertCmd),
    /// The audit log: list, verify.
    #[command(subcommand)]
    Audit(AuditCmd),
    /// Organisations: add, list, show, set.
    #[command(subcommand)]
    Org(crate::admin_enrol::OrgCmd),
    /// PIN letters: issue.
    #[command(subcommand)]
    Pin(crate::admin_enrol::PinCmd),
    /// Certificate requests (the RA queue): list, approve, deny.
    #[command(subcommand)]
    Request(crate::admin_enrol::RequestCmd),
    /// Client releases and minimum versions: add, list.
    #[command(subcommand)]
    Release(crate::admin_enrol::ReleaseCmd),
    /// Card holders: add, show.
    #[command(subcommand)]
    User(crate::admin_cards::UserCmd),
    /// Smartcards: unlock, cancel, status, batch.
    #[command(subcommand)]
    Card(crate::admin_cards::CardCmd),
    /// Sponsors' unlock authority: grant.
    #[command(subcommand)]
    Sponsor(crate::admin_cards::SponsorCmd),
    /// Web accounts (RA console, operators, portal): add.
    #[command(subcommand)]
    Account(crate::admin_cards::AccountCmd),
}

#[derive(Subcommand, Debug)]
enum CertCmd {
    /// Issue a certificate from a PKCS#10 request (only its public key is used).
    Issue {
        /// The CSR file (PEM or DER), or - for standard input
        #[arg(long)]
        csr: PathBuf,
        /// Issuing CA
        #[arg(long, default_value = "systems")]
        ca: String,
        /// Profile: system-client, tls-server, card-auth, card-sign, ocsp-responder
        #[arg(long, default_value = "system-client")]
        profile: String,
        /// Subject common name
        #[arg(long)]
        cn: String,
        /// Subject organisation
        #[arg(long)]
        org: Option<String>,
        /// Subject organisational unit
        #[arg(long)]
        ou: Option<String>,
        /// Subject country (two letters)
        #[arg(long)]
        country: Option<String>,
        /// Subject serialNumber (organisation code or user UID)
        #[arg(long)]
        subject_serial: Option<String>,
        /// Subject alternative name: dns:NAME, ip:ADDR, email:ADDR, uri:URI (repeatable)
        #[arg(long = "san")]
        sans: Vec<String>,
        /// Lifetime in days (default: the profile's)
        #[arg(long)]
        days: Option<u32>,
        /// Write the certificate (PEM) here instead of standard output
        #[arg(long, short)]
        out: Option<PathBuf>,
        /// Also write the issuing chain (PEM) here
        #[arg(long)]
        chain_out: Option<PathBuf>,
    },
    /// Show one certificate.
    Show {
        /// Serial (hex)
        serial: String,
        /// Issuing CA, if the serial is ambiguous
        #[arg(long)]
        ca: Option<String>,
        /// Print only the PEM
        #[arg(long)]
        pem: bool,
    },
    /// List certificates, newest first.
    List {
        /// Issuing CA
        #[arg(long)]
        ca: Option<String>,
        /// reserved, issued or revoked
        #[arg(long)]
        status: Option<String>,
        /// Text the subject contains
        #[arg(long)]
        subject: Option<String>,
        /// At most this many
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Revoke a certificate; OCSP answers "revoked" and a new CRL lists it when this returns.
    Revoke {
        /// Serial (hex)
        serial: String,
        /// keyCompromise, cACompromise, affiliationChanged, superseded, cessationOfOperation,
        /// certificateHold, privilegeWithdrawn, aACompromise, unspecified
        #[arg(long, default_value = "unspecified")]
        reason: String,
        /// Issuing CA, if the serial is ambiguous
        #[arg(long)]
        ca: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
enum AuditCmd {
    /// Show the newest audit entries.
    List {
        /// How many
        #[arg(long, default_value_t = 20)]
        limit: i64,
    },
    /// Recompute the hash chain and report the first broken entry (exit code 1 if broken).
    Verify {
        /// Read the database directly instead of asking the server (sqlite://… or postgres://…)
        #[arg(long)]
        database: Option<String>,
    },
}

pub(crate) struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    fn new(args: &AdminArgs) -> Result<Self> {
        let data_dir = paths::data_dir(args.data_dir.as_deref())?;
        let token = match &args.token {
            Some(t) => t.clone(),
            None => {
                let f = data_dir.join("admin-token");
                std::fs::read_to_string(&f)
                    .with_context(|| format!("no admin token: pass --token, set CARECERT_ADMIN_TOKEN, or create {} (carecert init / serve --dev do)", f.display()))?
                    .trim()
                    .to_string()
            }
        };
        let ca_file = args.ca_file.clone().unwrap_or_else(|| data_dir.join("ca/root.pem"));
        let mut builder = reqwest::Client::builder().timeout(std::time::Duration::from_secs(60));
        if args.server.starts_with("https://") {
            let pem = std::fs::read(&ca_file)
                .with_context(|| format!("cannot read the root certificate {} (pass --ca-file)", ca_file.display()))?;
            let cert = reqwest::Certificate::from_pem(&pem).context("the --ca-file is not a PEM certificate")?;
            builder = builder.tls_certs_only([cert]);
        }
        Ok(Self { http: builder.build()?, base: args.server.trim_end_matches('/').to_string(), token })
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<Value> {
        let resp = req.bearer_auth(&self.token).send().await.map_err(|e| {
            anyhow!(
                "cannot reach the carecert server at {}: {e} — is `carecert serve` running? (--server URL)",
                self.base
            )
        })?;
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            let msg = body.get("message").and_then(Value::as_str).unwrap_or("no explanation given");
            bail!("{msg} (HTTP {})", status.as_u16());
        }
        Ok(body)
    }

    pub(crate) async fn get(&self, path: &str) -> Result<Value> {
        self.send(self.http.get(format!("{}{path}", self.base))).await
    }

    pub(crate) async fn patch(&self, path: &str, body: &Value) -> Result<Value> {
        self.send(self.http.patch(format!("{}{path}", self.base)).json(body)).await
    }

    pub(crate) async fn post(&self, path: &str, body: &Value) -> Result<Value> {
        self.send(self.http.post(format!("{}{path}", self.base)).json(body)).await
    }
}

fn parse_san(s: &str) -> Result<Value> {
    let (kind, value) = s
        .split_once(':')
        .ok_or_else(|| anyhow!("--san '{s}': write it as dns:NAME, ip:ADDR, email:ADDR or uri:URI"))?;
    Ok(json!({"type": kind, "value": value}))
}

fn read_input(path: &PathBuf) -> Result<Vec<u8>> {
    if path.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf)?;
        Ok(buf)
    } else {
        std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
    }
}

pub(crate) fn print(json_out: bool, v: &Value, text: impl FnOnce(&Value) -> String) {
    if json_out {
        println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
    } else {
        println!("{}", text(v));
    }
}

pub(crate) fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

pub(crate) fn date(v: &Value, k: &str) -> String {
    v.get(k)
        .and_then(Value::as_i64)
        .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok())
        .map(|t| {
            format!("{:04}-{:02}-{:02} {:02}:{:02}Z", t.year(), u8::from(t.month()), t.day(), t.hour(), t.minute())
        })
        .unwrap_or_default()
}

pub async fn run(args: AdminArgs) -> Result<()> {
    let json_out = args.json;
    if let What::Audit(AuditCmd::Verify { database: Some(url) }) = &args.what {
        let store = store::Store::open(url).await.context("opening the database")?;
        let v = store.verify_audit().await?;
        let ok = v.first_broken.is_none();
        let out = json!({"ok": ok, "entries": v.entries, "first_broken_seq": v.first_broken.as_ref().map(|b| b.seq), "problem": v.first_broken.as_ref().map(|b| b.problem.clone())});
        report_verify(json_out, &out);
        return if ok { Ok(()) } else { Err(anyhow!("the audit chain is broken")) };
    }
    let client = Client::new(&args)?;
    match args.what {
        What::Cert(CertCmd::Issue {
            csr,
            ca,
            profile,
            cn,
            org,
            ou,
            country,
            subject_serial,
            sans,
            days,
            out,
            chain_out,
        }) => {
            let csr = String::from_utf8(read_input(&csr)?).context("the CSR must be PEM text")?;
            let sans = sans.iter().map(|s| parse_san(s)).collect::<Result<Vec<_>>>()?;
            let body = json!({
                "ca": ca, "profile": profile, "csr": csr,
                "subject": {"common_name": cn, "organization": org, "organizational_unit": ou, "country": country, "serial_number": subject_serial},
                "sans": sans, "validity_days": days,
            });
            let v = client.post("/api/v1/admin/certificates", &body).await?;
            if let Some(p) = &chain_out {
                std::fs::write(p, s(&v, "chain_pem")).with_context(|| format!("cannot write {}", p.display()))?;
            }
            match &out {
                Some(p) => {
                    std::fs::write(p, s(&v, "certificate_pem"))
                        .with_context(|| format!("cannot write {}", p.display()))?;
                    print(json_out, &v, |v| {
                        format!(
                            "Issued {} serial {} (valid until {}), written to {}",
                            s(v, "profile"),
                            s(v, "serial"),
                            date(v, "not_after"),
                            p.display()
                        )
                    });
                }
                None if json_out => print(true, &v, |_| String::new()),
                None => print!("{}", s(&v, "certificate_pem")),
            }
        }
        What::Cert(CertCmd::Show { serial, ca, pem }) => {
            let q = ca.map(|c| format!("?ca={c}")).unwrap_or_default();
            let v = client.get(&format!("/api/v1/admin/certificates/{serial}{q}")).await?;
            if pem {
                print!("{}", s(&v, "certificate_pem"));
            } else {
                print(json_out, &v, |v| {
                    let mut t = format!(
                        "Serial:   {}\nIssuer:   {}\nProfile:  {}\nSubject:  {}\nValid:    {} to {}\nStatus:   {}",
                        s(v, "serial"),
                        s(v, "issuer"),
                        s(v, "profile"),
                        s(v, "subject"),
                        date(v, "not_before"),
                        date(v, "not_after"),
                        s(v, "status")
                    );
                    if s(v, "status") == "revoked" {
                        t.push_str(&format!(" ({}, {})", s(v, "revocation_reason"), date(v, "revoked_at")));
                    }
                    t
                });
            }
        }
        What::Cert(CertCmd::List { ca, status, subject, limit }) => {
            let mut q = vec![format!("limit={limit}")];
            if let Some(c) = ca {
                q.push(format!("ca={c}"));
            }
            if let Some(st) = status {
                q.push(format!("status={st}"));
            }
            if let Some(sub) = subject {
                q.push(format!("subject={}", sub.replace(' ', "%20").replace('&', "%26")));
            }
            let v = client.get(&format!("/api/v1/admin/certificates?{}", q.join("&"))).await?;
            print(json_out, &v, |v| {
                let mut t = format!(
                    "{:<34} {:<11} {:<15} {:<8} {:<18} SUBJECT",
                    "SERIAL", "CA", "PROFILE", "STATUS", "EXPIRES"
                );
                for c in v.as_array().into_iter().flatten() {
                    t.push_str(&format!(
                        "\n{:<34} {:<11} {:<15} {:<8} {:<18} {}",
                        s(c, "serial"),
                        s(c, "issuer"),
                        s(c, "profile"),
                        s(c, "status"),
                        date(c, "not_after"),
                        s(c, "subject")
                    ));
                }
                t
            });
        }
        What::Cert(CertCmd::Revoke { serial, reason, ca }) => {
            let v = client
                .post(&format!("/api/v1/admin/certificates/{serial}/revoke"), &json!({"reason": reason, "ca": ca}))
                .await?;
            print(json_out, &v, |v| {
                format!(
                    "Revoked {}/{} ({}). OCSP answers revoked now; CRL number {} lists it.",
                    s(v, "issuer"),
                    s(v, "serial"),
                    s(v, "reason"),
                    v.get("crl_number").and_then(Value::as_i64).unwrap_or_default()
                )
            });
        }
        What::Audit(AuditCmd::List { limit }) => {
            let v = client.get(&format!("/api/v1/admin/audit?limit={limit}")).await?;
            print(json_out, &v, |v| {
                let mut t = String::new();
                for e in v.as_array().into_iter().flatten() {
                    let at = e.get("at_ms").and_then(Value::as_i64).unwrap_or_default() / 1000;
                    t.push_str(&format!(
                        "{:>6} {} {:<14} {:<26} {} {}\n",
                        e.get("seq").and_then(Value::as_i64).unwrap_or_default(),
                        date(&json!({"t": at}), "t"),
                        s(e, "actor"),
                        s(e, "action"),
                        s(e, "subject"),
                        e.get("details").map(|d| d.to_string()).unwrap_or_default()
                    ));
                }
                t.trim_end().to_string()
            });
        }
        What::Org(c) => crate::admin_enrol::org(&client, c, json_out).await?,
        What::Pin(c) => crate::admin_enrol::pin(&client, c, json_out).await?,
        What::Request(c) => crate::admin_enrol::request(&client, c, json_out).await?,
        What::Release(c) => crate::admin_enrol::release(&client, c, json_out).await?,
        What::User(c) => crate::admin_cards::user(&client, c, json_out).await?,
        What::Card(c) => crate::admin_cards::card(&client, c, json_out).await?,
        What::Sponsor(c) => crate::admin_cards::sponsor(&client, c, json_out).await?,
        What::Account(c) => crate::admin_cards::account(&client, c, json_out).await?,
        What::Audit(AuditCmd::Verify { .. }) => {
            let v = client.get("/api/v1/admin/audit/verify").await?;
            report_verify(json_out, &v);
            if v.get("ok") != Some(&Value::Bool(true)) {
                bail!("the audit chain is broken");
            }
        }
    }
    Ok(())
}

fn report_verify(json_out: bool, v: &Value) {
    print(json_out, v, |v| {
        let n = v.get("entries").and_then(Value::as_u64).unwrap_or_default();
        if v.get("ok") == Some(&Value::Bool(true)) {
            format!("Audit chain OK: {n} entries verified.")
        } else {
            format!(
                "Audit chain BROKEN at entry {}: {} ({n} entries before it verified).",
                v.get("first_broken_seq").and_then(Value::as_i64).unwrap_or_default(),
                s(v, "problem")
            )
        }
    });
}
