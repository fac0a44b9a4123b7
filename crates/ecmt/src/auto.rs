//! `ecmt renew --auto`: zero-touch renewal for the systemd timer (`ecmt service install`).
//!
//! The renewal window is the **service's**: ecmt asks `GET /api/v1/renewals/window` over
//! mutual TLS with the installed certificate, and the service answers with its clock and its
//! `[enrolment] renewal_window_percent` — so a machine with a wrong clock still renews on time,
//! and the operator changes the window in one place. Outside the window: nothing is printed
//! and the exit status is 0 (`-v` says when it opens). Inside: the current policy version is
//! read from the update check (installing the timer is the standing acceptance), a new key is
//! made here and renewed over mutual TLS (no PIN, no input), and — when a backup password file
//! is configured — a fresh `.pfx` is written. Each action is one line on stderr (the journal).
//! An unreachable service is retried with back-off (`--retries`, doubling from
//! `--retry-delay-ms`, at most 5 min between tries); after the last try the exit status is 3.
//! Every run records its result in `STORE/auto-renew.json` for `ecmt service status`.

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use serde::{Deserialize, Serialize};

use crate::ops::Ecmt;

/// The `--auto` options of `ecmt renew`.
#[derive(clap::Args, Debug, Clone)]
pub struct AutoArgs {
    /// Zero touch (for the systemd timer): renew over mutual TLS only when the renewal window is
    /// open, silently do nothing otherwise; never asks anything
    #[arg(long)]
    pub auto: bool,
    /// With --auto: also say what was checked when nothing is due
    #[arg(long, short = 'v')]
    pub verbose: bool,
    /// With --auto: tries when the service cannot be reached
    #[arg(long, default_value_t = 5)]
    pub retries: u32,
    /// With --auto: first wait between tries in milliseconds (doubles each try, at most 5 minutes)
    #[arg(long, default_value_t = 30_000)]
    pub retry_delay_ms: u64,
    /// With --auto: file holding the backup password; a fresh .pfx is written after each renewal
    /// [default: STORE/backup-password when it exists]
    #[arg(long, env = "ECMT_BACKUP_PASSWORD_FILE")]
    pub backup_password_file: Option<PathBuf>,
    /// With --auto: folder for the fresh backups [default: STORE/backups]
    #[arg(long, env = "ECMT_BACKUP_DIR")]
    pub backup_dir: Option<PathBuf>,
}

/// The last run's result, in `STORE/auto-renew.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LastRun {
    /// When it ran (Unix seconds, this machine's clock).
    pub at: i64,
    /// `renewed`, `not-due` or `failed`.
    pub result: String,
    /// What happened, for a person.
    pub detail: String,
    /// The installed certificate after the run.
    pub serial: Option<String>,
    /// When renewal opens for it (service time), if known.
    pub opens_at: Option<i64>,
}

/// Where the last run is recorded.
pub fn state_file(e: &Ecmt) -> PathBuf {
    e.store.dir().join("auto-renew.json")
}

/// The last run, if any.
pub fn last_run(e: &Ecmt) -> Option<LastRun> {
    std::fs::read(state_file(e)).ok().and_then(|b| serde_json::from_slice(&b).ok())
}

fn record(e: &Ecmt, result: &str, detail: &str, serial: Option<String>, opens_at: Option<i64>) {
    let run = LastRun {
        at: time::OffsetDateTime::now_utc().unix_timestamp(),
        result: result.into(),
        detail: detail.into(),
        serial,
        opens_at,
    };
    if let Ok(data) = serde_json::to_vec_pretty(&run) {
        let _ = crate::local::write_atomic(&state_file(e), &data, 0o644);
    }
}

fn log(line: &str) {
    eprintln!("ecmt renew --auto: {line}");
}

fn when(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .map(|d| format!("{:04}-{:02}-{:02} {:02}:{:02} UTC", d.year(), d.month() as u8, d.day(), d.hour(), d.minute()))
        .unwrap_or_default()
}

fn unreachable(err: &anyhow::Error) -> bool {
    err.chain().any(|c| c.downcast_ref::<client::Error>().is_some_and(client::Error::is_unreachable))
}

/// Runs `f` until it succeeds, fails for another reason than an unreachable service, or
/// `a.retries` tries were made; waits between tries, doubling, at most 5 minutes.
async fn with_retries<T, F, Fut>(a: &AutoArgs, what: &str, mut f: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let tries = a.retries.max(1);
    let mut delay = Duration::from_millis(a.retry_delay_ms);
    let mut n = 1;
    loop {
        match f().await {
            Err(err) if unreachable(&err) && n < tries => {
                log(&format!(
                    "{what}: the service cannot be reached (try {n} of {tries}); trying again in {} s",
                    delay.as_secs_f64()
                ));
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(300));
                n += 1;
            }
            other => return other,
        }
    }
}

/// `ecmt renew --auto`.
pub async fn run(e: &Ecmt, a: &AutoArgs) -> Result<()> {
    let result = renew_if_due(e, a).await;
    if let Err(err) = &result {
        let serial = e.store.installed().ok().flatten().map(|i| i.info.serial);
        record(e, "failed", &format!("{err:#}"), serial, None);
        log(&format!("failed: {err:#}"));
    }
    result
}

async fn renew_if_due(e: &Ecmt, a: &AutoArgs) -> Result<()> {
    let current = e.store.installed()?.ok_or_else(|| {
        anyhow!("no certificate is installed: enrol once with `ecmt renew` and the PIN letter (as administrator)")
    })?;
    let client = e.mutual(&current)?;
    let client = &client;
    let window = with_retries(a, "checking the renewal window", || async move {
        client.renewal_window().await.map_err(anyhow::Error::from)
    })
    .await
    .context("checking the renewal window with the installed certificate")?;
    if !window.open {
        let detail = format!("certificate {} is not due: renewal opens {}", window.serial, when(window.opens_at));
        if a.verbose {
            log(&detail);
        }
        record(e, "not-due", &detail, Some(window.serial), Some(window.opens_at));
        return Ok(());
    }
    let info = with_retries(a, "reading the acceptable-use policy", || e.update_check()).await?;
    let inst = with_retries(a, "renewing", || e.renew_with_certificate(&info.policy.version)).await?;
    let detail = format!(
        "renewed certificate {} over mutual TLS: installed {} (expires {}), policy version {}",
        current.info.serial,
        inst.info.serial,
        when(inst.info.not_after),
        info.policy.version
    );
    log(&detail);
    let password_file = a.backup_password_file.clone().or_else(|| {
        let p = e.store.dir().join("backup-password");
        p.exists().then_some(p)
    });
    let mut outcome = detail;
    if let Some(pf) = password_file {
        let pw = std::fs::read_to_string(&pf)
            .with_context(|| format!("reading the backup password file {}", pf.display()))?;
        let pw = pw.trim_end_matches(['\r', '\n']);
        let dir = a.backup_dir.clone().unwrap_or_else(|| e.store.dir().join("backups"));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating the backup folder {}", dir.display()))?;
        let file = dir.join(format!("ecmt-{}.pfx", inst.info.serial));
        e.backup(&file, pw, pw).with_context(|| format!("writing the backup {}", file.display()))?;
        log(&format!("backup written to {} (copy it to a backed-up place)", file.display()));
        outcome.push_str(&format!("; backup {}", file.display()));
    }
    record(e, "renewed", &outcome, Some(inst.info.serial), None);
    Ok(())
}
