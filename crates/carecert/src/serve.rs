//! `carecert serve` (and the arguments `carecert init` shares; `init.rs` runs it).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use ca::{Authority, AuthorityConfig, CaError, SystemClock};
use clap::Args;
use store::Store;

use crate::config::{self, Config, Settings};
pub use crate::init::{bootstrap_token, init};
use crate::init::{create_dev_operator, run_init, write_ca_files};
use crate::paths;

/// Options shared by `serve` and `init`.
#[derive(Args, Debug, Clone)]
pub struct CommonArgs {
    /// Data directory (database, CA certificates, TLS files) [default: ~/.local/share/carecert]
    #[arg(long, env = "CARECERT_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Database URL: sqlite://PATH or postgres://USER@HOST/DB [default: sqlite in the data directory]
    #[arg(long, env = "CARECERT_DATABASE_URL")]
    pub database: Option<String>,
    /// File holding the passphrase that encrypts the CA keys (or set CARECERT_CA_PASSPHRASE)
    #[arg(long)]
    pub ca_passphrase_file: Option<PathBuf>,
    /// Where the CA and OCSP-responder keys live: a PKCS#11 URI (RFC 7512) naming a token,
    /// e.g. pkcs11:token=carecert?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/etc/carecert/hsm-pin
    /// [default: encrypted with the CA passphrase, in the database]
    #[arg(long, env = "CARECERT_KEY_STORE")]
    pub key_store: Option<String>,
}

/// `carecert serve`. Every option below except `--dev`, `--log-format` and `--config` overrides
/// the matching key of the configuration file (flags win over environment variables, which win
/// over the file, which wins over the defaults shown by `carecert.example.toml`).
#[derive(Args, Debug)]
pub struct ServeArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// The configuration file (carecert.toml); without it, the defaults
    #[arg(long, env = "CARECERT_CONFIG")]
    pub config: Option<PathBuf>,
    /// Demo mode: create a demo CA, passphrase and admin token in the data directory on first start
    #[arg(long)]
    pub dev: bool,
    /// HTTPS address (API, admin API, metrics, and everything public) [default: 127.0.0.1:8443]
    #[arg(long, env = "CARECERT_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Plain HTTP address (/healthz, /ca, /crl, /ocsp only) [default: 127.0.0.1:8080]
    #[arg(long, env = "CARECERT_HTTP_LISTEN")]
    pub http_listen: Option<SocketAddr>,
    /// Base URL relying parties use to reach the plain HTTP listener (AIA, CRL distribution
    /// points) [default: the one recorded at init]
    #[arg(long, env = "CARECERT_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// HTTPS certificate chain (PEM); without it carecert issues one for itself from `systems`
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// HTTPS private key (PEM)
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Extra DNS name for the self-issued HTTPS certificate (repeatable; fully qualified names,
    /// e.g. ca.example.nhs.uk — "localhost" is not a valid certificate name, use 127.0.0.1)
    #[arg(long = "tls-name")]
    pub tls_names: Vec<String>,
    /// Log format
    #[arg(long, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// SMTP relay for card unlock codes, HOST:PORT (STARTTLS required unless --smtp-tls says otherwise)
    #[arg(long, env = "CARECERT_SMTP")]
    pub smtp: Option<String>,
    /// SMTP transport security: starttls, tls, or none (none: test environment or --dev only)
    /// [default: starttls; with --dev: none]
    #[arg(long, value_parser = ["starttls", "tls", "none"], env = "CARECERT_SMTP_TLS")]
    pub smtp_tls: Option<String>,
    /// Sender address of unlock-code emails [default: carecert <noreply@carecert.invalid>]
    #[arg(long, env = "CARECERT_SMTP_FROM")]
    pub smtp_from: Option<String>,
    /// HTTP gateway for SMS and text-to-voice unlock codes (POST JSON {channel, to, text})
    #[arg(long, env = "CARECERT_TEXT_GATEWAY")]
    pub text_gateway: Option<String>,
    /// Which environment this deployment is: live, or test (with --allow-cidr) [default: live]
    #[arg(long, value_parser = ["live", "test"], env = "CARECERT_ENVIRONMENT")]
    pub environment: Option<String>,
    /// A test deployment admits only these networks (repeatable CIDR, e.g. 10.20.0.0/16)
    #[arg(long = "allow-cidr")]
    pub allow_cidrs: Vec<String>,
    /// The local carecert-agent the portal's pages ask for smartcard login tickets
    /// [default: http://127.0.0.1:8477]
    #[arg(long, env = "CARECERT_AGENT_URL")]
    pub agent_url: Option<String>,
    /// Web sessions (portal, RA console) end after this many seconds without a request [default: 900]
    #[arg(long)]
    pub idle_timeout_secs: Option<u64>,
    /// Lifetime of smartcard certificates in days (renewal opens 90 days before expiry) [default: 730]
    #[arg(long)]
    pub card_certificate_days: Option<u32>,
    /// Time zone for dates shown to people (IANA name) [default: Europe/London]
    #[arg(long, env = "CARECERT_TIME_ZONE")]
    pub time_zone: Option<String>,
    /// Testing only, and only with --dev: run the service's clock this many days ahead (expiry,
    /// renewal windows, reminders)
    #[arg(long, hide = true, default_value_t = 0)]
    pub clock_offset_days: i64,
    /// Email domain unlock codes may be sent to (repeatable) [default: nhs.net]
    #[arg(long = "unlock-email-domain")]
    pub unlock_email_domains: Vec<String>,
}

/// How logs are written.
#[derive(clap::ValueEnum, Debug, Clone, Copy)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// `carecert init`.
#[derive(Args, Debug)]
pub struct InitArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Base URL of the plain HTTP listener as relying parties reach it (goes into every certificate)
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub public_url: String,
    /// CA key algorithm: p256, p384, rsa2048, rsa3072, rsa4096
    #[arg(long, default_value = "p256")]
    pub key_algorithm: String,
    /// Organisation name in the CA certificates
    #[arg(long, default_value = "carecert")]
    pub organization: String,
    /// Keep the root off line: its key, certificate and ledger go to this directory (removable
    /// media for the offline machine, never the data directory); the database records no key
    /// for it, and its first ARL and OCSP answers are pre-signed at once
    #[arg(long)]
    pub root_dir: Option<PathBuf>,
    /// With --root-dir: days of ARL and OCSP answers pre-signed now
    #[arg(long, default_value_t = 30)]
    pub presign_days: u32,
    /// Print the result as JSON
    #[arg(long)]
    pub json: bool,
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,tower_http=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

pub(crate) async fn open_store(url: &str) -> Result<Store> {
    Store::open(url).await.with_context(|| format!("opening the database {}", redact(url)))
}

fn redact(url: &str) -> String {
    // postgres://user:password@host → postgres://user:***@host
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if url[s + 3..at].contains(':') => {
            let colon = s + 3 + url[s + 3..at].find(':').unwrap_or(0);
            format!("{}:***{}", &url[..colon], &url[at..])
        }
        _ => url.to_string(),
    }
}

/// The key SO PINs are sealed with: Argon2id of the CA passphrase with a random salt made
/// once and kept in the database (every node reads the same one), then HKDF.
pub(crate) async fn so_pin_seal_key(store: &Store, passphrase: &[u8]) -> Result<pki::seal::SealingKey> {
    let fresh = hex::encode(pki::random_bytes::<16>()?);
    let salt = store.setting_or_insert("so_pin_seal_salt", &fresh).await?;
    let salt = hex::decode(&salt).context("the stored so_pin_seal_salt is not hex")?;
    let passphrase = passphrase.to_vec();
    let key =
        tokio::task::spawn_blocking(move || pki::seal::SealingKey::derive_slow(&passphrase, &salt, "card-so-pin"))
            .await
            .context("deriving the SO-PIN sealing key")??;
    Ok(key)
}

/// The configuration in force: the file (if any), then environment variables and flags on top,
/// then checked as a whole (every problem at once, each with its key).
fn settings_for(args: &ServeArgs) -> Result<Settings> {
    let listing = |what: String, problems: Vec<config::Problem>| {
        let lines: Vec<String> = problems.iter().map(|p| format!("  {p}")).collect();
        anyhow::anyhow!("{what}:\n{}", lines.join("\n"))
    };
    let mut cfg = match &args.config {
        Some(path) => config::load(path).map_err(|p| listing(format!("{} has problems", path.display()), p))?,
        None => Config::default(),
    };
    let c = &args.common;
    let server = &mut cfg.server;
    set(&mut server.data_dir, c.data_dir.clone().map(Some));
    set(&mut server.database, c.database.clone().map(Some));
    set(&mut server.listen, args.listen.map(|a| a.to_string()));
    set(&mut server.http_listen, args.http_listen.map(|a| a.to_string()));
    set(&mut server.public_url, args.public_url.clone().map(Some));
    set(&mut server.agent_url, args.agent_url.clone());
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        (server.tls_cert, server.tls_key) = (Some(cert.clone()), Some(key.clone()));
    }
    if !args.tls_names.is_empty() {
        server.tls_names = args.tls_names.clone();
    }
    set(&mut cfg.access.environment, args.environment.clone());
    if !args.allow_cidrs.is_empty() {
        cfg.access.allow = args.allow_cidrs.clone();
    }
    set(&mut cfg.display.time_zone, args.time_zone.clone());
    set(&mut cfg.portal.idle_timeout, args.idle_timeout_secs.map(config::DurationText::seconds));
    set(&mut cfg.cards.certificate_days, args.card_certificate_days.map(i64::from));
    if !args.unlock_email_domains.is_empty() {
        cfg.cards.unlock_email_domains = args.unlock_email_domains.clone();
    }
    set(&mut cfg.smtp.relay, args.smtp.clone().map(Some));
    set(&mut cfg.smtp.from, args.smtp_from.clone());
    set(&mut cfg.smtp.tls, args.smtp_tls.clone().map(Some));
    cfg.dev = args.dev;
    set(&mut cfg.text_gateway.url, args.text_gateway.clone().map(Some));
    cfg.validate().map_err(|p| listing("the configuration (file, environment and flags) has problems".into(), p))
}

fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *slot = v;
    }
}

/// `carecert serve`.
pub async fn serve(args: ServeArgs) -> Result<()> {
    init_logging(args.log_format);
    if args.clock_offset_days != 0 && !args.dev {
        bail!("--clock-offset-days is for tests only and needs --dev: a production service must run on the real clock");
    }
    let settings = settings_for(&args)?;
    raise_open_files(&settings.limits);
    let data_dir = paths::data_dir(settings.data_dir.as_deref())?;
    paths::ensure_private_dir(&data_dir)?;
    let dev_pass = data_dir.join("ca-passphrase");
    let passphrase = paths::ca_passphrase(
        args.common.ca_passphrase_file.as_deref(),
        args.dev.then_some(dev_pass.as_path()),
        args.dev,
    )?;
    let database = settings.database.clone().unwrap_or_else(|| paths::default_database(&data_dir));
    let store = open_store(&database).await?;

    let mut fresh_token = None;
    if store.cas().await?.is_empty() {
        if !args.dev {
            bail!("{}", CaError::NotInitialised);
        }
        let public_url = settings.public_url.clone().unwrap_or_else(|| format!("http://{}", settings.http_listen));
        tracing::info!(data_dir = %data_dir.display(), "first start with --dev: creating a demo CA");
        let placement = ca::KeyPlacement {
            keys: crate::keystore::key_store(args.common.key_store.as_deref(), &passphrase)?,
            offline_root: None,
            presign_days: 0,
        };
        run_init(&store, &passphrase, &public_url, pki::KeyAlgorithm::EcdsaP256, "carecert Demo", &placement).await?;
        fresh_token = Some(create_dev_operator(&store, &data_dir).await?);
    }

    let config = AuthorityConfig {
        public_url: settings.public_url.clone(),
        ocsp_cache_entries: settings.ocsp_cache_entries,
        crl_shards: settings.crl.shards,
        whole_crl_delay: settings.crl.whole_crl_delay,
        crl_validity: settings.crl.validity,
        crl_refresh: settings.crl.refresh,
        ..Default::default()
    };
    let clock: Arc<dyn ca::Clock> = if args.clock_offset_days != 0 {
        // Test-only: a moved clock issues certificates dated in the future and renews keys early.
        if !args.dev && settings.environment() != "test" {
            bail!("--clock-offset-days is for tests only: it needs --dev or access.environment = \"test\"; remove it");
        }
        tracing::warn!(days = args.clock_offset_days, "the service clock is offset for testing");
        Arc::new(ca::OffsetClock(args.clock_offset_days * 86_400))
    } else {
        Arc::new(SystemClock)
    };
    let keys = crate::keystore::key_store(args.common.key_store.as_deref(), &passphrase)?;
    let authority = Authority::load_with_keys(store.clone(), keys, clock, config).await?;
    write_ca_files(&authority, &data_dir)?;
    let tls = tls_files(&authority, &settings, &data_dir).await?;

    // One bound on Argon2 work for the node: enrolment logons and web logins share it.
    let permits = settings.hash_permits();
    let wait = settings.logins.password_hash_wait;
    let enrol_config =
        enrol::EnrolConfig { hash_gate: enrol::HashGate::new(permits.clone(), wait), ..settings.enrol_config() };
    let enrolment = enrol::Enrolment::new(store.clone(), authority.clone(), authority.clock().clone(), enrol_config);
    let cards = cards::Cards::with_seal_key(
        store.clone(),
        authority.clone(),
        authority.clock().clone(),
        cards_config(&settings, args.dev)?,
        so_pin_seal_key(&store, &passphrase).await?,
    )?;
    let card_purge = cards.spawn_purge();
    let web_config = portal::WebConfig { hash_gate: portal::HashGate::new(permits, wait), ..settings.web_config() };
    let web = portal::Web::new(store.clone(), authority.clock().clone(), web_config);
    let mut services =
        server::Services::new(authority.clone(), store::StoreRead::new(store.clone()), enrolment, cards, web);
    services.agent_url = settings.agent_url.clone();
    services.access = settings.access();
    services.limits = settings.limits.clone();
    let state = server::AppState::from(services);
    let bound =
        server::bind(state, &server::ServerConfig { listen: settings.listen, http_listen: settings.http_listen, tls })
            .await?;
    let maintenance = authority.spawn_maintenance();
    let purge = spawn_purge(store.clone(), authority.clock().clone(), settings.logins.forget_after);
    let reminders = spawn_reminders(&store, authority.clock(), &settings)?;

    let https = bound.https_addr();
    let http = bound.http_addr();
    println!("carecert is serving ({} environment)", settings.environment());
    println!("  HTTPS (API, admin, metrics): https://{https}/");
    println!("  HTTP  (OCSP, CRL, CA certs): http://{http}/  (relying parties use {})", authority.public_url());
    println!("  OpenAPI:                     https://{https}/api/v1/openapi.json");
    println!("  Root certificate:            {}", data_dir.join("ca/root.pem").display());
    println!("  Database:                    {}", redact(&database));
    println!("  CA keys:                     {}", authority.key_store());
    if let Some(path) = &args.config {
        println!("  Configuration:               {}", path.display());
    }
    if args.dev {
        println!("  Admin token file:            {} (operator dev, ca-admin)", data_dir.join("admin-token").display());
        if let Some(t) = &fresh_token {
            println!("  Admin token (shown once):    {t}");
        }
        println!("  CA passphrase file (demo):   {}", dev_pass.display());
        println!("Try: curl --cacert {} https://{https}/ca", data_dir.join("ca/root.pem").display());
    }
    bound.serve(shutdown_signal()).await;
    maintenance.abort();
    purge.abort();
    card_purge.abort();
    if let Some(r) = reminders {
        r.abort();
    }
    tracing::info!("stopped");
    Ok(())
}

/// Raises the open-file soft limit to the hard limit: every connection is a descriptor, and
/// the usual soft limit (1024) is below the connection cap. Warns when the cap cannot fit.
fn raise_open_files(limits: &server::Limits) {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => {
            let needed = 2 * limits.max_connections as u64 + 256;
            if n < needed {
                tracing::warn!(
                    open_files = n,
                    needed,
                    "the open-file limit is below what limits.max_connections needs on two listeners; lower limits.max_connections or raise the hard limit (LimitNOFILE=)"
                );
            } else {
                tracing::debug!(open_files = n, "open-file limit");
            }
        }
        Err(e) => tracing::warn!(error = %e, "could not raise the open-file limit"),
    }
}

/// Every minute: forget quiet attempt counts (EPOC PINs, web logins) and delete portal
/// tickets, web sessions and ecmt sessions that expired or ended `forget_after` ago, so
/// unauthenticated requests cannot grow these tables without bound.
fn spawn_purge(
    store: Store,
    clock: Arc<dyn ca::Clock>,
    forget_after: std::time::Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let now = clock.now().unix_timestamp();
            match store.purge_expired(now, forget_after.as_secs() as i64).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(rows = n, "purged expired attempt counts, tickets and sessions"),
                Err(e) => tracing::warn!(error = %e, "purging expired rows failed; retrying in a minute"),
            }
        }
    })
}

/// The expiry reminder task (issue 11), unless `[reminders] enabled = false`. Without an SMTP
/// relay the passes only log what is due.
fn spawn_reminders(
    store: &Store,
    clock: &Arc<dyn ca::Clock>,
    settings: &Settings,
) -> Result<Option<tokio::task::JoinHandle<()>>> {
    if !settings.reminders.enabled {
        return Ok(None);
    }
    let mailer: Option<Arc<dyn cards::Messenger>> = match &settings.smtp {
        Some((host, port)) => {
            Some(Arc::new(crate::notify::SmtpMailer::new(host, *port, &settings.smtp_from, settings.smtp_tls)?))
        }
        None => None,
    };
    let cards = settings.cards_config();
    let job = crate::reminders::ReminderJob {
        store: store.clone(),
        clock: clock.clone(),
        mailer,
        settings: settings.reminders.clone(),
        enrol: settings.enrol_config(),
        max_remote_renewals: cards.max_remote_renewals,
        card_renewal_window_days: (cards.renewal_window.as_secs() / 86_400) as i64,
        node: crate::reminders::node_name(),
    };
    Ok(Some(job.spawn()))
}

/// Where unlock codes go: SMTP and the text gateway when configured; in `--dev` without
/// them, a dev outbox that logs instead of sending.
fn cards_config(settings: &Settings, dev: bool) -> Result<cards::CardsConfig> {
    let mut cfg = settings.cards_config();
    if let Some((host, port)) = &settings.smtp {
        cfg.mailer =
            Some(Arc::new(crate::notify::SmtpMailer::new(host, *port, &settings.smtp_from, settings.smtp_tls)?));
    }
    if let Some(url) = &settings.text_gateway {
        cfg.texter = Some(Arc::new(crate::notify::HttpTextGateway::new(url)?));
    }
    if dev {
        let outbox: Arc<dyn cards::Messenger> = Arc::new(cards::Outbox::default());
        cfg.mailer.get_or_insert_with(|| outbox.clone());
        cfg.texter.get_or_insert(outbox);
    }
    Ok(cfg)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

/// The HTTPS certificate: given files, else the one carecert issued itself (re-issued when
/// missing, unreadable, for other names, or within 30 days of expiry).
async fn tls_files(authority: &Authority, settings: &Settings, data_dir: &Path) -> Result<server::TlsFiles> {
    if let Some((c, k)) = &settings.tls_files {
        return Ok(server::TlsFiles {
            chain_pem: std::fs::read_to_string(c).with_context(|| format!("reading {}", c.display()))?,
            key_pem: std::fs::read_to_string(k).with_context(|| format!("reading {}", k.display()))?,
        });
    }
    let cert_path = data_dir.join("tls/server.pem");
    let key_path = data_dir.join("tls/server.key");
    // No "localhost": it is not a valid domain name in a certificate (RFC 5280 / pkilint).
    let mut names = vec!["127.0.0.1".to_string(), "::1".to_string()];
    names.extend(settings.tls_names.iter().cloned());
    let host = settings.listen.ip();
    if !host.is_unspecified() && !names.contains(&host.to_string()) {
        names.push(host.to_string());
    }
    if let (Ok(chain_pem), Ok(key_pem)) = (std::fs::read_to_string(&cert_path), std::fs::read_to_string(&key_path)) {
        let still_good = pki::CertificateInfo::parse_pem_or_der(chain_pem.as_bytes())
            .map(|(info, _)| info.not_after - time::OffsetDateTime::now_utc().unix_timestamp() > 30 * 86_400)
            .unwrap_or(false);
        let names_file = std::fs::read_to_string(data_dir.join("tls/names")).unwrap_or_default();
        if still_good && names_file.trim() == names.join(",") {
            return Ok(server::TlsFiles { chain_pem, key_pem });
        }
    }
    let sans = names
        .iter()
        .map(|n| match n.parse() {
            Ok(ip) => pki::cert::San::Ip(ip),
            Err(_) => pki::cert::San::Dns(n.clone()),
        })
        .collect();
    let (chain_pem, key_pem) = ca::issue_tls_server_key(authority, sans).await?;
    paths::write_atomic(&cert_path, chain_pem.as_bytes(), 0o644)?;
    paths::write_atomic(&key_path, key_pem.as_bytes(), 0o600)?;
    paths::write_atomic(&data_dir.join("tls/names"), names.join(",").as_bytes(), 0o644)?;
    Ok(server::TlsFiles { chain_pem, key_pem })
}
