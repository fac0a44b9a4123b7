//! `ecmt service install | status`: the systemd timer that runs `ecmt renew --auto` twice a
//! day at a random minute (the units are `dist/systemd/` in the repository, compiled in).
//!
//! `install` writes `ecmt-renew.service` (ExecStart pointing at this ecmt) and
//! `ecmt-renew.timer` to the unit folder, and `/etc/ecmt/ecmt.env` with the server, store,
//! trust root and backup settings the service reads; then enables the timer. With `--root DIR`
//! (an image being built, or a test: no running systemd) every path is under DIR and the timer
//! is enabled the way `systemctl --root` does it — a `timers.target.wants` link.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::json;

use crate::auto;
use crate::ops::Ecmt;

const SERVICE: &str = include_str!("../../../dist/systemd/ecmt-renew.service");
const TIMER: &str = include_str!("../../../dist/systemd/ecmt-renew.timer");
const SERVICE_NAME: &str = "ecmt-renew.service";
const TIMER_NAME: &str = "ecmt-renew.timer";
const TEMPLATE_EXEC: &str = "/usr/local/bin/ecmt";
/// The timer's hours (UTC), as in `OnCalendar=` of the timer unit.
const HOURS: [u8; 2] = [0, 12];

/// `ecmt service …`.
#[derive(clap::Subcommand, Debug)]
pub enum ServiceCmd {
    /// Install and enable the systemd timer that runs `ecmt renew --auto` twice a day
    Install(InstallArgs),
    /// Whether the timer is installed, its next run, and the last result
    Status(WhereArgs),
}

/// Where the units go.
#[derive(clap::Args, Debug, Clone)]
pub struct WhereArgs {
    /// Alternate root directory (an image being built; tests): every path below is under it
    #[arg(long, default_value = "/")]
    pub root: PathBuf,
    /// Unit folder [default: ROOT/etc/systemd/system]
    #[arg(long)]
    pub unit_dir: Option<PathBuf>,
}

/// `ecmt service install`.
#[derive(clap::Args, Debug, Clone)]
pub struct InstallArgs {
    #[command(flatten)]
    pub place: WhereArgs,
    /// File holding the backup password: each renewal then writes a fresh .pfx
    #[arg(long)]
    pub backup_password_file: Option<PathBuf>,
    /// Folder for those backups [default: STORE/backups]
    #[arg(long)]
    pub backup_dir: Option<PathBuf>,
    /// Write the files but do not enable the timer
    #[arg(long)]
    pub no_enable: bool,
}

impl WhereArgs {
    fn live(&self) -> bool {
        self.root == Path::new("/")
    }
    fn under(&self, p: &str) -> PathBuf {
        self.root.join(p.trim_start_matches('/'))
    }
    fn unit_dir(&self) -> PathBuf {
        self.unit_dir.clone().unwrap_or_else(|| self.under("/etc/systemd/system"))
    }
    fn wants_link(&self) -> PathBuf {
        self.unit_dir().join("timers.target.wants").join(TIMER_NAME)
    }
}

/// A value for a systemd environment file, quoted.
fn env_value(v: &str) -> String {
    format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// The service unit with ExecStart pointing at `exe`.
pub fn service_unit(exe: &Path) -> Result<String> {
    let exe = exe.to_str().context("the path of ecmt is not UTF-8")?;
    if exe.chars().any(|c| c.is_whitespace() || c == '%' || c == '"' || c == '\'' || c == '\\') {
        bail!("the path of ecmt ({exe}) has spaces or special characters: install ecmt in /usr/local/bin first");
    }
    Ok(SERVICE.replace(TEMPLATE_EXEC, exe))
}

fn write(path: &Path, data: &str, mode: u32) -> Result<()> {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).with_context(|| format!("creating {} (run as administrator)", d.display()))?;
    }
    crate::local::write_atomic(path, data.as_bytes(), mode)
        .with_context(|| format!("writing {} (run as administrator)", path.display()))
}

fn systemctl(args: &[&str]) -> Result<()> {
    let out = std::process::Command::new("systemctl")
        .args(args)
        .output()
        .with_context(|| format!("running systemctl {}: is systemd installed?", args.join(" ")))?;
    if !out.status.success() {
        bail!("systemctl {} failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}

/// `ecmt service install`.
pub fn install(e: &Ecmt, a: &InstallArgs, json_out: bool) -> Result<()> {
    let exe = std::env::current_exe().context("finding the ecmt program")?;
    let exe = std::fs::canonicalize(&exe).unwrap_or(exe);
    let units = a.place.unit_dir();
    let service = units.join(SERVICE_NAME);
    let timer = units.join(TIMER_NAME);
    write(&service, &service_unit(&exe)?, 0o644)?;
    write(&timer, TIMER, 0o644)?;
    let mut env = String::from("# Written by `ecmt service install`; read by ecmt-renew.service.\n");
    env.push_str(&format!("ECMT_SERVER={}\n", env_value(&e.server)));
    env.push_str(&format!("ECMT_STORE={}\n", env_value(&absolute(e.store.dir()).display().to_string())));
    if let Some(ca) = &e.ca_file {
        env.push_str(&format!("ECMT_CA_FILE={}\n", env_value(&absolute(ca).display().to_string())));
    }
    if let Some(p) = &a.backup_password_file {
        if !p.exists() {
            bail!("the backup password file {} does not exist: create it (mode 0600) first", p.display());
        }
        env.push_str(&format!("ECMT_BACKUP_PASSWORD_FILE={}\n", env_value(&absolute(p).display().to_string())));
    }
    if let Some(d) = &a.backup_dir {
        env.push_str(&format!("ECMT_BACKUP_DIR={}\n", env_value(&absolute(d).display().to_string())));
    }
    let env_file = a.place.under("/etc/ecmt/ecmt.env");
    write(&env_file, &env, 0o600)?;
    let enabled = if a.no_enable {
        false
    } else if a.place.live() {
        systemctl(&["daemon-reload"])?;
        systemctl(&["enable", "--now", TIMER_NAME])?;
        true
    } else {
        // What `systemctl --root=DIR enable` does for a unit with WantedBy=timers.target.
        let link = a.place.wants_link();
        if let Some(d) = link.parent() {
            std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
        }
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(Path::new("/etc/systemd/system").join(TIMER_NAME), &link)
            .with_context(|| format!("enabling the timer: {}", link.display()))?;
        true
    };
    if json_out {
        println!(
            "{}",
            json!({"service": service, "timer": timer, "environment": env_file, "enabled": enabled, "exec": exe})
        );
    } else {
        println!("Installed {} and {}", service.display(), timer.display());
        println!("Settings in {} (server {}, store {})", env_file.display(), e.server, e.store.dir().display());
        if enabled {
            println!(
                "Enabled: `ecmt renew --auto` runs twice a day (00:00 and 12:00 UTC plus up to an hour at random); see `ecmt service status`"
            );
        } else {
            println!("Not enabled: run `systemctl enable --now {TIMER_NAME}`");
        }
    }
    Ok(())
}

/// The next time the timer's calendar fires after `now` (before the random delay).
pub fn next_calendar(now: i64) -> i64 {
    let day = now.div_euclid(86_400) * 86_400;
    (0..3)
        .flat_map(|d| HOURS.iter().map(move |h| day + d * 86_400 + i64::from(*h) * 3600))
        .find(|t| *t > now)
        .unwrap_or(now)
}

fn when(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .map(|d| format!("{:04}-{:02}-{:02} {:02}:{:02} UTC", d.year(), d.month() as u8, d.day(), d.hour(), d.minute()))
        .unwrap_or_default()
}

/// The next run as systemd reports it (live system only).
fn systemd_next() -> Option<String> {
    let out = std::process::Command::new("systemctl")
        .args(["show", TIMER_NAME, "--property=NextElapseUSecRealtime", "--value"])
        .output()
        .ok()?;
    let v = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !v.is_empty() && v != "n/a").then_some(v)
}

/// `ecmt service status`.
pub fn status(e: &Ecmt, w: &WhereArgs, json_out: bool) -> Result<()> {
    let units = w.unit_dir();
    let installed = units.join(SERVICE_NAME).exists() && units.join(TIMER_NAME).exists();
    let enabled = std::fs::symlink_metadata(w.wants_link()).is_ok();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let next = if w.live() { systemd_next() } else { None }
        .unwrap_or_else(|| format!("{} (plus up to an hour at random)", when(next_calendar(now))));
    let last = auto::last_run(e);
    if json_out {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "installed": installed, "enabled": enabled, "unit_dir": units,
                "next_run": if installed && enabled { Some(&next) } else { None },
                "last_run": last,
            }))?
        );
        return Ok(());
    }
    match (installed, enabled) {
        (false, _) => {
            println!("Timer: not installed in {} — run `ecmt service install` as administrator", units.display())
        }
        (true, false) => println!(
            "Timer: installed in {} but not enabled — run `systemctl enable --now {TIMER_NAME}`",
            units.display()
        ),
        (true, true) => {
            println!("Timer: installed in {} and enabled", units.display());
            println!("Next run: {next}");
        }
    }
    match last {
        Some(r) => println!("Last run: {} — {}: {}", when(r.at), r.result, r.detail),
        None => println!("Last run: none yet"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_calendar_fires_at_midnight_and_noon_utc() {
        let day = 20_000 * 86_400;
        assert_eq!(next_calendar(day), day + 12 * 3600);
        assert_eq!(next_calendar(day + 11 * 3600), day + 12 * 3600);
        assert_eq!(next_calendar(day + 12 * 3600), day + 86_400);
        assert!(TIMER.contains("OnCalendar=*-*-* 00,12:00:00 UTC"), "HOURS must follow the timer unit");
    }

    #[test]
    fn the_service_runs_this_ecmt_and_refuses_odd_paths() {
        let unit = service_unit(Path::new("/opt/ecmt/bin/ecmt")).unwrap();
        assert!(unit.contains("ExecStart=/opt/ecmt/bin/ecmt renew --auto"), "{unit}");
        assert!(service_unit(Path::new("/opt/my ecmt/ecmt")).is_err());
    }
}
