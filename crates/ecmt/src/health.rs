//! Issue 11: what `ecmt status` (and the UI's splash) says about trust and the installed
//! certificate — trust certificates new in this update check and withdrawn ones (remembered
//! in `STORE/trust-withdrawn.json`, so they are shown until the next install), and whether
//! the installed certificate is good, revoked (with the reason and what to do) or expiring.
//!
//! Revocation is asked of carecert's OCSP responder over the same pinned HTTPS connection as
//! everything else (`POST /ocsp`), with a fresh nonce; the answer is believed only after
//! `pki::ocsp_check` has verified its signature (the issuing CA's key, or a responder
//! certificate that CA signed for OCSP), that it is about this certificate, and that it is fresh.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::local::Installed;
use crate::ops::Ecmt;

/// The installed certificate's standing.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum CertHealth {
    /// Not revoked; `days_left` to expiry; renewal opens at `renewal_opens` (when known).
    Good {
        /// Whole days left.
        days_left: i64,
        /// When renewal over mutual TLS opens (service time, Unix seconds), if known.
        renewal_opens: Option<i64>,
        /// Whether the renewal window is open.
        renewal_open: bool,
    },
    /// Revoked.
    Revoked {
        /// When (Unix seconds).
        at: i64,
        /// RFC 5280 reason name.
        reason: String,
    },
    /// The responder does not know it.
    Unknown,
    /// Past notAfter.
    Expired,
    /// The check could not be made.
    Unchecked {
        /// Why.
        why: String,
    },
}

/// Days before expiry from which status calls a good certificate "expiring".
pub const EXPIRING_DAYS: i64 = 30;

/// A withdrawal remembered by this machine.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Withdrawn {
    /// CA name.
    pub name: String,
    /// When (Unix seconds).
    pub at: i64,
    /// Why.
    pub reason: Option<String>,
}

fn withdrawn_file(e: &Ecmt) -> PathBuf {
    e.store.dir().join("trust-withdrawn.json")
}

/// Withdrawals this machine has seen, oldest first.
pub fn withdrawn(e: &Ecmt) -> Vec<Withdrawn> {
    std::fs::read(withdrawn_file(e)).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default()
}

/// Remembers the withdrawals in an update check (and forgets those of CAs added again).
pub fn remember(e: &Ecmt, info: &api::UpdateInfo) {
    let mut list = withdrawn(e);
    list.retain(|w| !info.trust.added.iter().any(|a| a.name == w.name));
    for w in &info.trust.withdrawn_details {
        if !list.iter().any(|x| x.name == w.name) {
            list.push(Withdrawn { name: w.name.clone(), at: w.at, reason: w.reason.clone() });
        }
    }
    for name in &info.trust.withdrawn {
        if !list.iter().any(|x| &x.name == name) {
            list.push(Withdrawn { name: name.clone(), at: 0, reason: None });
        }
    }
    if let Ok(data) = serde_json::to_vec_pretty(&list) {
        let _ = crate::local::write_atomic(&withdrawn_file(e), &data, 0o644);
    }
}

/// The trust certificates in the store.
pub fn trusted(e: &Ecmt) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(e.store.dir().join("trust"))
        .map(|rd| {
            rd.flatten()
                .filter_map(|f| f.file_name().to_str().and_then(|n| n.strip_suffix(".pem")).map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Checks the installed certificate: OCSP at carecert, then (when good) the renewal window
/// as the service sees it.
pub async fn check(e: &Ecmt, inst: &Installed) -> CertHealth {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    if inst.info.not_after <= now {
        return CertHealth::Expired;
    }
    let Some(issuer) = inst.chain.first() else {
        return CertHealth::Unchecked { why: "the issuing CA's certificate is not in the store".into() };
    };
    let query = match pki::ocsp_check::request(&inst.leaf, issuer) {
        Ok(q) => q,
        Err(err) => return CertHealth::Unchecked { why: err.to_string() },
    };
    let answer = match e.anonymous() {
        Ok(c) => c.ocsp(query.der.clone()).await.map_err(anyhow::Error::from),
        Err(err) => Err(err),
    };
    let answer = match answer {
        Ok(a) => a,
        Err(err) => return CertHealth::Unchecked { why: format!("{err:#}") },
    };
    match pki::ocsp_check::check_response(&query, &answer, now) {
        Err(err) => CertHealth::Unchecked { why: err.to_string() },
        Ok(c) => match c.status {
            pki::ocsp::OcspStatus::Revoked { at, reason } => {
                CertHealth::Revoked { at, reason: reason.map(|r| r.name()).unwrap_or("unspecified").to_string() }
            }
            pki::ocsp::OcspStatus::Unknown => CertHealth::Unknown,
            pki::ocsp::OcspStatus::Good => {
                let window = match e.mutual(inst) {
                    Ok(c) => c.renewal_window().await.ok(),
                    Err(_) => None,
                };
                CertHealth::Good {
                    days_left: (inst.info.not_after - now).div_euclid(86_400),
                    renewal_opens: window.as_ref().map(|w| w.opens_at),
                    renewal_open: window.is_some_and(|w| w.open),
                }
            }
        },
    }
}

fn when(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .map(|d| format!("{:04}-{:02}-{:02} {:02}:{:02} UTC", d.year(), d.month() as u8, d.day(), d.hour(), d.minute()))
        .unwrap_or_default()
}

/// What to do about a certificate in this state, for a person.
pub fn lines(h: &CertHealth, helpdesk: &str) -> Vec<String> {
    let pin_letter =
        format!("What to do: call {helpdesk} for a new PIN letter, then run `ecmt renew --with-pin` as administrator");
    match h {
        CertHealth::Good { days_left, renewal_opens, renewal_open } => {
            let mut v =
                vec![format!("Certificate check (carecert OCSP): good, not revoked; expires in {days_left} days")];
            if *renewal_open {
                v.push(
                    "EXPIRING: the renewal window is open. What to do: run `ecmt renew` as administrator (no PIN needed), or let the timer do it (`ecmt service install`)"
                        .into(),
                );
            } else if *days_left <= EXPIRING_DAYS {
                v.push(format!(
                    "EXPIRING in {days_left} days. What to do: run `ecmt renew` as administrator (no PIN needed while it is valid)"
                ));
            } else if let Some(o) = renewal_opens {
                v.push(format!(
                    "Renewal opens {}: `ecmt renew` then needs no PIN (the timer from `ecmt service install` does it by itself)",
                    when(*o)
                ));
            }
            v
        }
        CertHealth::Revoked { at, reason } => {
            let mut v = vec![
                format!("CERTIFICATE REVOKED on {} (reason: {reason}): the message store refuses it", when(*at)),
                pin_letter,
            ];
            if reason == "keyCompromise" {
                v.push("The key may be known to others: destroy every backup (.pfx) of this certificate".into());
            }
            v
        }
        CertHealth::Unknown => vec![
            "CERTIFICATE UNKNOWN to carecert's responder: it was not issued by this carecert service".into(),
            pin_letter,
        ],
        CertHealth::Expired => vec!["CERTIFICATE EXPIRED: the message store refuses it".into(), pin_letter],
        CertHealth::Unchecked { why } => {
            vec![format!("Certificate check: not possible now ({why}); `ecmt status` tries again")]
        }
    }
}

/// The trust part of `ecmt status`: new (in this check) and withdrawn trust certificates.
pub fn trust_lines(e: &Ecmt, info: Option<&api::UpdateInfo>) -> Vec<String> {
    let mut v =
        vec![format!("Trust certificates: {} (in {})", trusted(e).join(", "), e.store.dir().join("trust").display())];
    if let Some(i) = info
        && !i.trust.added.is_empty()
    {
        let names: Vec<&str> = i.trust.added.iter().map(|a| a.name.as_str()).collect();
        v.push(format!("New trust certificates: {} (installed)", names.join(", ")));
    }
    for w in withdrawn(e) {
        let on = if w.at > 0 { format!(" on {}", when(w.at)) } else { String::new() };
        v.push(format!(
            "WITHDRAWN trust certificate: {}{on} — {}. ecmt removed it from this machine; certificates it issued are no longer trusted. Nothing else to do",
            w.name,
            w.reason.as_deref().unwrap_or("no reason given")
        ));
    }
    v
}

/// The JSON form for `ecmt status --json`.
pub fn json(e: &Ecmt, info: Option<&api::UpdateInfo>, h: Option<&CertHealth>) -> serde_json::Value {
    json!({
        "trusted": trusted(e),
        "new": info.map(|i| i.trust.added.iter().map(|a| a.name.clone()).collect::<Vec<_>>()).unwrap_or_default(),
        "withdrawn": withdrawn(e),
        "certificate_check": h,
    })
}

/// What the UI's splash adds: the certificate's standing when it needs attention, and trust
/// certificates new in this check or withdrawn.
pub async fn splash_lines(e: &Ecmt, inst: Option<&Installed>, info: Option<&api::UpdateInfo>) -> Vec<String> {
    if let Some(u) = info {
        remember(e, u);
    }
    let mut v = Vec::new();
    if let Some(i) = inst {
        let h = check(e, i).await;
        let helpdesk = info.map(|u| u.helpdesk.clone()).unwrap_or_else(|| "the helpdesk".into());
        match &h {
            CertHealth::Good { renewal_open: false, days_left, .. } if *days_left > EXPIRING_DAYS => {}
            CertHealth::Unchecked { .. } if info.is_none() => {}
            _ => v.extend(lines(&h, &helpdesk).into_iter().filter(|l| !l.starts_with("Certificate check"))),
        }
    }
    v.extend(trust_lines(e, info).into_iter().skip(1));
    v
}
