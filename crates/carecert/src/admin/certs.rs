//! `carecert admin cert`: issue, show, list and revoke certificates.

use std::path::PathBuf;

use anyhow::{Context, Result, anyhow};
use api::{CertStatus, Profile, RevocationReason};
use clap::Subcommand;
use client::Client;

use super::output::{Answer, date, print};

#[derive(Subcommand, Debug)]
pub(super) enum CertCmd {
    /// Issue a certificate from a PKCS#10 request (only its public key is used).
    Issue {
        /// The CSR file (PEM or DER), or - for standard input
        #[arg(long)]
        csr: PathBuf,
        /// Issuing CA
        #[arg(long, default_value = "systems")]
        ca: String,
        /// Profile
        #[arg(long, value_enum, default_value_t = Profile::SystemClient)]
        profile: Profile,
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
        /// Only certificates in this state
        #[arg(long, value_enum)]
        status: Option<CertStatus>,
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
        /// RFC 5280 reason
        #[arg(long, value_enum, default_value_t = RevocationReason::Unspecified)]
        reason: RevocationReason,
        /// Issuing CA, if the serial is ambiguous
        #[arg(long)]
        ca: Option<String>,
    },
}

fn parse_san(s: &str) -> Result<api::SanBody> {
    let (kind, value) = s
        .split_once(':')
        .ok_or_else(|| anyhow!("--san '{s}': write it as dns:NAME, ip:ADDR, email:ADDR or uri:URI"))?;
    let kind = kind.parse().map_err(|e| anyhow!("--san '{s}': {e}"))?;
    Ok(api::SanBody { kind, value: value.into() })
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

pub(super) async fn cert(client: &Client, cmd: CertCmd, json_out: bool) -> Result<()> {
    match cmd {
        CertCmd::Issue { csr, ca, profile, cn, org, ou, country, subject_serial, sans, days, out, chain_out } => {
            let csr = String::from_utf8(read_input(&csr)?).context("the CSR must be PEM text")?;
            let sans = sans.iter().map(|s| parse_san(s)).collect::<Result<Vec<_>>>()?;
            let body = api::IssueBody {
                ca,
                profile,
                csr,
                subject: api::SubjectBody {
                    common_name: cn,
                    organization: org,
                    organizational_unit: ou,
                    country,
                    serial_number: subject_serial,
                },
                sans,
                validity_days: days,
            };
            let v = client.issue_certificate(&body).await.answer()?;
            if let Some(p) = &chain_out {
                std::fs::write(p, &v.chain_pem).with_context(|| format!("cannot write {}", p.display()))?;
            }
            match &out {
                Some(p) => {
                    std::fs::write(p, &v.certificate_pem).with_context(|| format!("cannot write {}", p.display()))?;
                    print(json_out, &v, |v| {
                        format!(
                            "Issued {} serial {} (valid until {}), written to {}",
                            v.profile,
                            v.serial,
                            date(v.not_after),
                            p.display()
                        )
                    });
                }
                None if json_out => print(true, &v, |_| String::new()),
                None => print!("{}", v.certificate_pem),
            }
        }
        CertCmd::Show { serial, ca, pem } => {
            let v = client.certificate(&serial, &api::CaQuery { ca }).await.answer()?;
            if pem {
                print!("{}", v.certificate_pem.as_deref().unwrap_or_default());
            } else {
                print(json_out, &v, |v| {
                    let mut t = format!(
                        "Serial:   {}\nIssuer:   {}\nProfile:  {}\nSubject:  {}\nValid:    {} to {}\nStatus:   {}",
                        v.serial,
                        v.issuer,
                        v.profile,
                        v.subject,
                        date(v.not_before),
                        date(v.not_after),
                        v.status
                    );
                    if v.status == CertStatus::Revoked {
                        let reason = v.revocation_reason.map(RevocationReason::as_str).unwrap_or_default();
                        t.push_str(&format!(" ({reason}, {})", date(v.revoked_at)));
                    }
                    t
                });
            }
        }
        CertCmd::List { ca, status, subject, limit } => {
            let v = client.certificates(&api::ListQuery { ca, status, subject, limit: Some(limit) }).await.answer()?;
            print(json_out, &v, |v| {
                let mut t = format!(
                    "{:<34} {:<11} {:<15} {:<8} {:<18} SUBJECT",
                    "SERIAL", "CA", "PROFILE", "STATUS", "EXPIRES"
                );
                for c in v {
                    t.push_str(&format!(
                        "\n{:<34} {:<11} {:<15} {:<8} {:<18} {}",
                        c.serial,
                        c.issuer,
                        c.profile.as_str(),
                        c.status.as_str(),
                        date(c.not_after),
                        c.subject
                    ));
                }
                t
            });
        }
        CertCmd::Revoke { serial, reason, ca } => {
            let v = client.revoke(&serial, &api::RevokeBody { reason: Some(reason), ca }).await.answer()?;
            print(json_out, &v, |v| {
                format!(
                    "Revoked {}/{} ({}). OCSP answers revoked now; CRL number {} lists it.",
                    v.issuer, v.serial, v.reason, v.crl_number
                )
            });
        }
    }
    Ok(())
}
