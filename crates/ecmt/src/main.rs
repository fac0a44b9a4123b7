//! `ecmt` — the client certificate manager for pharmacy, GP, dental and ophthalmic systems.
//!
//! Thin: parses the command line, asks on a terminal only, prints text or `--json`. What
//! it does lives in `ops` (shared with the `ui` screens); the local store in `local`; the
//! HTTPS client is the `client` crate.
//!
//! Exit codes: 0 success; 1 the operation failed (the message says why and what to do);
//! 2 command-line usage; 3 the server cannot be reached (nothing local was changed).
#![forbid(unsafe_code)]

mod access;
mod auto;
mod health;
mod local;
mod ops;
mod service;
mod ui;
mod update;
mod words;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};
use clap::{Parser, Subcommand};
use serde_json::json;

use crate::local::{Installed, LocalStore};
use crate::ops::{EXIT_UNREACHABLE, Ecmt};

/// ecmt: request, install, back up and renew this system's carecert certificate.
#[derive(Parser)]
#[command(name = "ecmt", version, about, long_about = None, propagate_version = true)]
struct Cli {
    /// carecert service URL
    #[arg(long, global = true, env = "ECMT_SERVER", default_value = "https://127.0.0.1:8443")]
    server: String,
    /// The carecert root certificate (PEM), needed once; later taken from the store's trust feed
    #[arg(long, global = true, env = "ECMT_CA_FILE")]
    ca_file: Option<PathBuf>,
    /// The system certificate store, which the practice system reads [default: /var/lib/ecmt].
    /// Changing it needs administrator rights (root, or write access to it)
    #[arg(long, global = true, env = "ECMT_STORE")]
    store: Option<PathBuf>,
    /// Use this user's own store (~/.local/share/ecmt) instead of the system store: for tests
    /// and programs that read the certificate from the user's home
    #[arg(long, global = true, conflicts_with = "store")]
    user_store: bool,
    /// The organisation's default backup folder, where the backup file chooser starts
    /// [default: /var/backups/ecmt, or ~/ecmt-backups with --user-store]
    #[arg(long, global = true, env = "ECMT_BACKUP_DIR")]
    backup_dir: Option<PathBuf>,
    /// Time zone of the times shown (IANA name)
    #[arg(long, global = true, env = "ECMT_TIME_ZONE", default_value = words::DEFAULT_TIME_ZONE)]
    time_zone: String,
    /// Print JSON instead of text
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Update check, installed certificate and days to expiry.
    Status,
    /// Log on with the organisation code (EPOC) and the PIN from the letter.
    Login(LoginArgs),
    /// End the session.
    Logout,
    /// List this organisation's certificate requests.
    Requests,
    /// Make a new key on this machine and request a certificate for it.
    Request(PolicyArgs),
    /// Download and install an approved certificate (default: the newest one waiting).
    Download {
        /// Request ID
        id: Option<i64>,
    },
    /// Back up the installed key and certificate to a password-protected .pfx file.
    Backup {
        /// The file to write
        #[arg(long, short)]
        out: PathBuf,
        #[command(flatten)]
        password: PasswordArgs,
    },
    /// Install a key and certificate from a .pfx backup.
    Restore {
        /// The backup file
        #[arg(long = "in", short)]
        input: PathBuf,
        #[command(flatten)]
        password: PasswordArgs,
    },
    /// The one-step journey: new key, request, wait for approval, download, install, backup.
    /// With a valid certificate installed it renews over mutual TLS and needs no PIN.
    Renew(RenewArgs),
    /// The interactive screens (Welcome, Logon, Main Menu, Backup).
    Ui,
    /// Download, verify (SHA-256 and the release signature) and install a newer ecmt,
    /// keeping the current program as <name>.old.
    Update(update::UpdateArgs),
    /// The systemd timer for zero-touch renewal (`ecmt renew --auto`): install, status.
    #[command(subcommand)]
    Service(service::ServiceCmd),
}

#[derive(clap::Args)]
struct LoginArgs {
    /// Organisation code
    #[arg(long, env = "ECMT_EPOC")]
    epoc: Option<String>,
    /// File holding the PIN (or set ECMT_PIN; asked for on a terminal otherwise)
    #[arg(long)]
    pin_file: Option<PathBuf>,
}

#[derive(clap::Args)]
struct PolicyArgs {
    /// Accept the acceptable-use policy without being asked (shown by `ecmt status`)
    #[arg(long)]
    accept_policy: bool,
}

#[derive(clap::Args)]
struct PasswordArgs {
    /// File holding the backup password (or set ECMT_BACKUP_PASSWORD; asked twice on a terminal otherwise)
    #[arg(long)]
    password_file: Option<PathBuf>,
}

#[derive(clap::Args)]
struct RenewArgs {
    #[command(flatten)]
    policy: PolicyArgs,
    #[command(flatten)]
    login: LoginArgs,
    /// Use the PIN letter even when a valid certificate is installed
    #[arg(long)]
    with_pin: bool,
    /// How long to wait for the RA's approval, in seconds
    #[arg(long, default_value_t = 600)]
    wait: u64,
    /// Write a backup here after installing (password as for `ecmt backup`)
    #[arg(long)]
    backup: Option<PathBuf>,
    #[command(flatten)]
    password: PasswordArgs,
    #[command(flatten)]
    auto: auto::AutoArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            if e.chain().any(|c| c.downcast_ref::<client::Error>().is_some_and(client::Error::is_unreachable)) {
                ExitCode::from(EXIT_UNREACHABLE)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

fn tty() -> bool {
    prompt::on_terminal()
}

fn secret(file: Option<&PathBuf>, env: &str, prompt_text: &str, what: &str) -> Result<String> {
    Ok(prompt::secret(file.map(PathBuf::as_path), env, prompt_text, what)?)
}

fn ask(prompt: &str) -> Result<String> {
    eprint!("{prompt}");
    let mut s = String::new();
    std::io::stdin().read_line(&mut s)?;
    Ok(s.trim().to_string())
}

fn backup_password(p: &PasswordArgs) -> Result<(String, String)> {
    if p.password_file.is_some() || std::env::var("ECMT_BACKUP_PASSWORD").is_ok() {
        let pw = secret(p.password_file.as_ref(), "ECMT_BACKUP_PASSWORD", "", "backup password")?;
        return Ok((pw.clone(), pw));
    }
    if !tty() {
        bail!("no backup password given and no terminal to ask on: set ECMT_BACKUP_PASSWORD or pass --password-file");
    }
    let a = rpassword::prompt_password("Backup password (8+ characters, upper and lower case, a digit): ")?;
    let b = rpassword::prompt_password("Repeat the password: ")?;
    Ok((a, b))
}

/// A time for people: local in the configured zone, with the zone's abbreviation.
fn fmt_time(t: i64) -> String {
    words::local_time(t)
}

/// What the minimum-version refusal offers: `ecmt update`, and the download page.
fn update_required_text(e: &Ecmt, minimum: Option<String>) -> String {
    format!(
        "ecmt {} is no longer supported (the minimum is {}): run `sudo ecmt update` to download, verify and install the current version, or download it from {}/download",
        ops::VERSION,
        minimum.unwrap_or_default(),
        e.server.trim_end_matches('/')
    )
}

fn days_left(i: &Installed) -> i64 {
    (i.info.not_after - time::OffsetDateTime::now_utc().unix_timestamp()).div_euclid(86_400)
}

fn installed_json(i: &Installed) -> serde_json::Value {
    json!({
        "serial": i.info.serial, "subject": i.info.subject, "not_after": i.info.not_after,
        "days_left": days_left(i), "key_file": i.dir.join("key.pem"), "cert_file": i.dir.join("cert.pem"),
    })
}

fn installed_text(i: &Installed, store: &LocalStore) -> String {
    format!(
        "Installed certificate {}\n  subject  {}\n  expires  {} ({} days)\n  files    {}/cert.pem, {}/key.pem",
        i.info.serial,
        i.info.subject,
        fmt_time(i.info.not_after),
        days_left(i),
        store.dir().display(),
        store.dir().display()
    )
}

async fn policy_ok(e: &Ecmt, args: &PolicyArgs) -> Result<String> {
    let info = e.update_check().await?;
    if args.accept_policy {
        return Ok(info.policy.version);
    }
    if !tty() {
        bail!(
            "the acceptable-use policy (version {}) must be accepted: read it with `ecmt status`, then pass --accept-policy",
            info.policy.version
        );
    }
    eprintln!("\nAcceptable-use policy (version {}):\n\n{}\n", info.policy.version, info.policy.text);
    let a = ask("Type 'I accept' to accept it: ")?;
    if !a.eq_ignore_ascii_case("i accept") {
        bail!("the policy was not accepted; nothing was requested");
    }
    Ok(info.policy.version)
}

async fn ensure_login(e: &Ecmt, l: &LoginArgs) -> Result<()> {
    if e.session().is_some() {
        return Ok(());
    }
    login(e, l, false).await
}

async fn login(e: &Ecmt, l: &LoginArgs, json_out: bool) -> Result<()> {
    let info = e.update_check().await?;
    if info.update_required {
        bail!("{}", update_required_text(e, info.minimum_version));
    }
    // The EPOC of the last logon is remembered and offered again.
    let last = e.store.state().last_epoc;
    let epoc = match (&l.epoc, last) {
        (Some(v), _) => v.clone(),
        (None, Some(last)) if tty() => {
            let a = ask(&format!("Organisation code (EPOC) [{last}]: "))?;
            if a.is_empty() { last } else { a }
        }
        (None, None) if tty() => ask("Organisation code (EPOC): ")?,
        (None, Some(last)) => last,
        (None, None) => bail!("no EPOC given and no terminal to ask on: pass --epoc or set ECMT_EPOC"),
    };
    let pin = secret(l.pin_file.as_ref(), "ECMT_PIN", "PIN from the letter: ", "PIN")?;
    let r = e.login(&epoc, &pin).await?;
    if json_out {
        println!("{}", json!({"epoc": r.organisation.epoc, "name": r.organisation.name, "expires_at": r.expires_at}));
    } else {
        println!(
            "Logon successful. Logged on as {} (EPOC {}) until {}",
            r.organisation.name,
            r.organisation.epoc,
            fmt_time(r.expires_at)
        );
    }
    Ok(())
}

async fn run(cli: Cli) -> Result<()> {
    words::set_time_zone(&cli.time_zone)?;
    let (dir, kind) = access::choose(cli.store.clone(), cli.user_store)?;
    let store = LocalStore::open(&dir)?;
    let backup_dir = cli.backup_dir.clone().unwrap_or_else(|| match kind {
        access::StoreKind::System => PathBuf::from("/var/backups/ecmt"),
        access::StoreKind::User => dirs::home_dir().unwrap_or_else(|| PathBuf::from(".")).join("ecmt-backups"),
    });
    let e = Ecmt { server: cli.server.clone(), ca_file: cli.ca_file.clone(), store };
    let json_out = cli.json;
    match cli.command {
        Command::Status => status(&e, json_out).await,
        Command::Login(l) => login(&e, &l, json_out).await,
        Command::Logout => {
            e.logout().await?;
            if !json_out {
                println!("Logged off.");
            }
            Ok(())
        }
        Command::Requests => {
            let rs = e.requests().await?;
            if json_out {
                println!("{}", serde_json::to_string_pretty(&rs)?);
            } else {
                println!("{:>6}  {:<22} {:<21} {:<21} NOTE", "ID", "STATUS", "CREATED", "ISSUED");
                for r in rs {
                    let issued =
                        if r.serial.is_some() { r.decided_at.map(fmt_time).unwrap_or_default() } else { String::new() };
                    let note = match r.status {
                        api::RequestStatus::Denied => format!("{} — {}", words::status_word(&r), r.message),
                        _ => r.message.clone(),
                    };
                    println!(
                        "{:>6}  {:<22} {:<21} {:<21} {}",
                        r.id,
                        words::status_short(&r),
                        fmt_time(r.created_at),
                        issued,
                        note
                    );
                }
            }
            Ok(())
        }
        Command::Request(p) => {
            let version = policy_ok(&e, &p).await?;
            let r = e.create_request(&version).await?;
            if json_out {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                println!("Request {} created ({}): {}", r.id, words::status_word(&r), r.message);
            }
            Ok(())
        }
        Command::Download { id } => {
            let id = match id {
                Some(i) => i,
                None => newest_waiting(&e).await?,
            };
            let inst = e.download(id).await?;
            if json_out {
                println!("{}", installed_json(&inst));
            } else {
                println!("{}", installed_text(&inst, &e.store));
                println!("Make a backup now: ecmt backup --out FILE.pfx");
            }
            Ok(())
        }
        Command::Backup { out, password } => {
            let (a, b) = backup_password(&password)?;
            let inst = e.backup(&out, &a, &b)?;
            let out = ops::with_pfx(&out);
            if json_out {
                println!("{}", json!({"file": out, "serial": inst.info.serial}));
            } else {
                println!(
                    "Backed up certificate {} to {} (keep the password safe: it is not stored).\n{}",
                    inst.info.serial,
                    out.display(),
                    ops::BACKUP_ADVICE
                );
            }
            Ok(())
        }
        Command::Restore { input, password } => {
            let pw = secret(
                password.password_file.as_ref(),
                "ECMT_BACKUP_PASSWORD",
                "Backup password: ",
                "backup password",
            )?;
            let inst = e.restore(&input, &pw)?;
            if json_out {
                println!("{}", installed_json(&inst));
            } else {
                println!("Restored.\n{}", installed_text(&inst, &e.store));
            }
            Ok(())
        }
        Command::Renew(r) if r.auto.auto => auto::run(&e, &r.auto).await,
        Command::Renew(r) => renew(&e, r, json_out).await,
        Command::Ui => ui::run(e, backup_dir).await,
        Command::Update(a) => update::run(&e, a, json_out).await,
        Command::Service(service::ServiceCmd::Install(a)) => service::install(&e, &a, json_out),
        Command::Service(service::ServiceCmd::Status(w)) => service::status(&e, &w, json_out),
    }
}

async fn newest_waiting(e: &Ecmt) -> Result<i64> {
    let rs = e.requests().await?;
    rs.iter()
        .find(|r| {
            matches!(r.status, api::RequestStatus::Approved | api::RequestStatus::Downloaded)
                && e.store.pending_key(r.id).is_some()
        })
        .map(|r| r.id)
        .ok_or_else(|| anyhow!("no approved request is waiting for this machine: see `ecmt requests`"))
}

async fn status(e: &Ecmt, json_out: bool) -> Result<()> {
    let installed = e.store.installed()?;
    let update = e.update_check().await;
    let session = e.session();
    if let Ok(u) = &update {
        health::remember(e, u);
    }
    let cert_health = match (&installed, &update) {
        (Some(i), Ok(_)) => Some(health::check(e, i).await),
        (Some(_), Err(_)) => Some(health::CertHealth::Unchecked { why: "the carecert service did not answer".into() }),
        (None, _) => None,
    };
    if json_out {
        let (u, err) = match &update {
            Ok(u) => (serde_json::to_value(u)?, None),
            Err(err) => (serde_json::Value::Null, Some(err.to_string())),
        };
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "version": ops::VERSION, "server": e.server, "store": e.store.dir(),
                "update": u, "server_error": err,
                "installed": installed.as_ref().map(installed_json),
                "previous": e.store.previous().ok().flatten().map(|p| installed_json(&p)),
                "session": session.as_ref().map(|s| json!({"epoc": s.epoc, "name": s.name, "expires_at": s.expires_at})),
                "trust": health::json(e, update.as_ref().ok(), cert_health.as_ref()),
            }))?
        );
    } else {
        println!("ecmt {}  server {}  store {}", ops::VERSION, e.server, e.store.dir().display());
        match &update {
            Ok(u) if u.update_required => {
                println!("UPDATE REQUIRED: {}", update_required_text(e, u.minimum_version.clone()))
            }
            Ok(u) if u.update_available => println!(
                "Update available: ecmt {} — install it with `sudo ecmt update` (or from {}/download)",
                u.latest.as_ref().map(|r| r.version.clone()).unwrap_or_default(),
                e.server.trim_end_matches('/')
            ),
            Ok(u) => {
                println!("Up to date. Acceptable-use policy version {}. Helpdesk: {}", u.policy.version, u.helpdesk)
            }
            Err(err) => println!("Server: {err}"),
        }
        match &installed {
            Some(i) => println!("{}", installed_text(i, &e.store)),
            None => println!("No certificate installed: run `ecmt renew` with your PIN letter."),
        }
        let helpdesk = update.as_ref().map(|u| u.helpdesk.clone()).unwrap_or_else(|_| "the helpdesk".into());
        for line in cert_health.iter().flat_map(|h| health::lines(h, &helpdesk)) {
            println!("{line}");
        }
        for line in health::trust_lines(e, update.as_ref().ok()) {
            println!("{line}");
        }
        match &session {
            Some(s) => println!("Logged on as {} (EPOC {}) until {}", s.name, s.epoc, fmt_time(s.expires_at)),
            None => println!("Not logged on."),
        }
    }
    match update {
        Err(err) => Err(err),
        Ok(_) => Ok(()),
    }
}

async fn renew(e: &Ecmt, r: RenewArgs, json_out: bool) -> Result<()> {
    let current = e.store.installed()?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let progress = indicatif::ProgressBar::new_spinner();
    progress.enable_steady_tick(Duration::from_millis(120));
    let installed = match current.filter(|c| c.info.not_after > now && !r.with_pin) {
        Some(c) => {
            let version = policy_ok(e, &r.policy).await?;
            progress.set_message(format!("renewing certificate {} over mutual TLS", c.info.serial));
            let inst = e.renew_with_certificate(&version).await;
            progress.finish_and_clear();
            inst?
        }
        None => {
            progress.finish_and_clear();
            ensure_login(e, &r.login).await?;
            let version = policy_ok(e, &r.policy).await?;
            let req = e.create_request(&version).await?;
            let progress = indicatif::ProgressBar::new_spinner();
            progress.enable_steady_tick(Duration::from_millis(120));
            let started = Instant::now();
            let mut view = req;
            loop {
                match view.status {
                    api::RequestStatus::Approved | api::RequestStatus::Downloaded => break,
                    api::RequestStatus::Pending => {}
                    _ => {
                        progress.finish_and_clear();
                        bail!("{}", view.message);
                    }
                }
                if started.elapsed() > Duration::from_secs(r.wait) {
                    progress.finish_and_clear();
                    bail!(
                        "request {} is still waiting for the RA after {} s; run `ecmt download {}` once it is approved",
                        view.id,
                        r.wait,
                        view.id
                    );
                }
                progress.set_message(format!(
                    "request {}: waiting for approval ({} s)",
                    view.id,
                    started.elapsed().as_secs()
                ));
                tokio::time::sleep(Duration::from_secs(2)).await;
                view = e.request_status(view.id).await?;
            }
            progress.set_message(format!("request {}: downloading and installing", view.id));
            let inst = e.download(view.id).await;
            progress.finish_and_clear();
            inst?
        }
    };
    if json_out {
        println!("{}", installed_json(&installed));
    } else {
        println!("{}", installed_text(&installed, &e.store));
    }
    let backup_to = match r.backup {
        Some(p) => Some(p),
        None if tty() && !json_out => {
            let a = ask("Make a backup now? Enter a file name (or leave empty to skip): ")?;
            (!a.is_empty()).then(|| PathBuf::from(a))
        }
        None => None,
    };
    match backup_to {
        Some(p) => {
            let (a, b) = backup_password(&r.password)?;
            e.backup(&p, &a, &b)?;
            if !json_out {
                println!("Backed up to {}\n{}", ops::with_pfx(&p).display(), ops::BACKUP_ADVICE);
            }
        }
        None if !json_out => println!("Make a backup: ecmt backup --out FILE.pfx"),
        None => {}
    }
    Ok(())
}

#[cfg(test)]
mod cli_tests {
    #[test]
    fn the_command_line_definition_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
