//! `carecert-agent` — the identity agent on a staff workstation.
//!
//! Talks to smartcards through PKCS#11 (`token`), to carecert over HTTPS (`api` types),
//! and to the person at the keyboard (prompts on a terminal only; flags and environment
//! variables for scripts; `--json`). The server keeps the passcode count (soft tokens do
//! not), so every wrong passcode is reported, and a locked card is refused before the card
//! is even asked.
//!
//! Exit codes: 0 success; 1 refused or failed (the message says why and what to do);
//! 2 usage; 3 the server cannot be reached.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use base64::Engine as _;
use clap::{Parser, Subcommand};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use token::{Card, CardKeyRole, Module, TokenError};

mod local_api;

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// carecert-agent: your smartcard — status, passcode, unlock, renewal.
#[derive(Parser)]
#[command(name = "carecert-agent", version, about, long_about = None, propagate_version = true)]
struct Cli {
    /// carecert service URL
    #[arg(long, global = true, env = "CARECERT_SERVER", default_value = "https://127.0.0.1:8443")]
    server: String,
    /// The carecert root certificate (PEM)
    #[arg(long, global = true, env = "CARECERT_CA_FILE")]
    ca_file: Option<PathBuf>,
    /// PKCS#11 module of the card readers
    #[arg(
        long,
        global = true,
        env = "CARECERT_PKCS11_MODULE",
        default_value = "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so"
    )]
    module: PathBuf,
    /// Which card, when more than one is inserted (its serial)
    #[arg(long, global = true, env = "CARECERT_CARD")]
    card: Option<String>,
    /// Print JSON instead of text
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Card commands.
    #[command(subcommand)]
    Card(CardCmd),
    /// Log in with the card (passcode): announces a coming expiry.
    Login(PasscodeArgs),
    /// Watch cards: prints an event line when a card is inserted or removed.
    Run {
        /// How often to look at the readers, in milliseconds
        #[arg(long, default_value_t = 150)]
        poll_ms: u64,
        /// Address of the local API the portal's pages call (loopback only)
        #[arg(long, default_value = "127.0.0.1:8477")]
        listen: std::net::SocketAddr,
        /// Web origin allowed to ask for login tickets (repeatable), e.g. https://portal.example.nhs.uk
        #[arg(long = "portal-origin")]
        portal_origins: Vec<String>,
        #[command(flatten)]
        passcode: PasscodeArgs,
    },
}

#[derive(Subcommand)]
enum CardCmd {
    /// The card in the reader and what carecert knows about it.
    Status,
    /// Change the passcode (6 to 8 digits).
    ChangePasscode {
        #[command(flatten)]
        passcode: PasscodeArgs,
        /// File holding the new passcode (or CARECERT_NEW_PASSCODE; asked twice on a terminal)
        #[arg(long)]
        new_passcode_file: Option<PathBuf>,
    },
    /// Unlock a locked card: send a one-time code (--via email|sms|voice), then enter it
    /// (--code); or with a sponsor's card in a second reader (--via sponsor); or at the RA
    /// (--via ra, with the RA's admin token).
    Unlock {
        /// email, sms, voice, sponsor or ra
        #[arg(long)]
        via: Option<String>,
        /// The one-time code received (or CARECERT_UNLOCK_CODE)
        #[arg(long, env = "CARECERT_UNLOCK_CODE")]
        code: Option<String>,
        /// File holding the new passcode (or CARECERT_NEW_PASSCODE; asked twice on a terminal)
        #[arg(long)]
        new_passcode_file: Option<PathBuf>,
        /// The sponsor's card serial (second reader)
        #[arg(long)]
        sponsor_card: Option<String>,
        /// File holding the sponsor's passcode (or CARECERT_SPONSOR_PASSCODE)
        #[arg(long)]
        sponsor_passcode_file: Option<PathBuf>,
        /// Identity documents checked (RA)
        #[arg(long)]
        documents: Option<String>,
        /// RA admin token (or CARECERT_ADMIN_TOKEN)
        #[arg(long, env = "CARECERT_ADMIN_TOKEN", hide_env_values = true)]
        admin_token: Option<String>,
    },
    /// Renew both certificates (90 days before expiry; remotely twice, then at the RA).
    Renew {
        #[command(flatten)]
        passcode: PasscodeArgs,
        /// RA renewal face to face (identity checked; allowed when expired), with the RA's admin token
        #[arg(long)]
        ra: bool,
        /// Identity documents checked (RA)
        #[arg(long)]
        documents: Option<String>,
        /// RA admin token (or CARECERT_ADMIN_TOKEN)
        #[arg(long, env = "CARECERT_ADMIN_TOKEN", hide_env_values = true)]
        admin_token: Option<String>,
    },
    /// RA: issue a blank card to a user face to face (keys are made on the card).
    Issue {
        /// The holder's UID
        #[arg(long)]
        uid: String,
        /// Identity documents checked
        #[arg(long)]
        documents: String,
        /// Card batch
        #[arg(long, default_value = "default")]
        batch: String,
        /// Label written on the card
        #[arg(long, default_value = "carecert card")]
        label: String,
        /// File holding the holder's first passcode (or CARECERT_NEW_PASSCODE; asked twice on a terminal)
        #[arg(long)]
        new_passcode_file: Option<PathBuf>,
        /// RA admin token (or CARECERT_ADMIN_TOKEN)
        #[arg(long, env = "CARECERT_ADMIN_TOKEN", hide_env_values = true)]
        admin_token: Option<String>,
    },
}

#[derive(clap::Args)]
pub(crate) struct PasscodeArgs {
    /// File holding the passcode (or CARECERT_PASSCODE; asked on a terminal otherwise)
    #[arg(long)]
    pub(crate) passcode_file: Option<PathBuf>,
}

#[derive(Debug)]
struct Unreachable(String);
impl std::fmt::Display for Unreachable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for Unreachable {}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            if e.chain().any(|c| c.downcast_ref::<Unreachable>().is_some()) {
                ExitCode::from(3)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

#[derive(Clone)]
pub(crate) struct Agent {
    http: reqwest::Client,
    base: String,
    module_path: PathBuf,
    card: Option<String>,
    json: bool,
}

fn tty() -> bool {
    prompt::on_terminal()
}

fn secret(file: Option<&PathBuf>, env: &str, prompt_text: &str) -> Result<String> {
    Ok(prompt::secret(file.map(PathBuf::as_path), env, prompt_text, "passcode")?)
}

fn new_passcode(file: Option<&PathBuf>) -> Result<String> {
    let p = if file.is_some() || std::env::var("CARECERT_NEW_PASSCODE").is_ok() {
        secret(file, "CARECERT_NEW_PASSCODE", "")?
    } else {
        let a = secret(None, "CARECERT_NEW_PASSCODE", "New passcode (6 to 8 digits): ")?;
        let b = secret(None, "CARECERT_NEW_PASSCODE", "Repeat the new passcode: ")?;
        if a != b {
            bail!("the two passcodes are not the same; nothing was changed");
        }
        a
    };
    if !(6..=8).contains(&p.len()) || !p.bytes().all(|b| b.is_ascii_digit()) {
        bail!("the passcode must be 6 to 8 digits; nothing was changed");
    }
    Ok(p)
}

fn subject_of(der: &[u8]) -> Result<Vec<u8>> {
    use x509_parser::prelude::FromDer;
    let (_, c) =
        x509_parser::certificate::X509Certificate::from_der(der).map_err(|e| anyhow!("bad certificate: {e}"))?;
    Ok(c.subject().as_raw().to_vec())
}

fn serial_of(der: &[u8]) -> Option<String> {
    pki::CertificateInfo::parse(der).ok().map(|i| i.serial)
}

impl Agent {
    async fn call<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&impl Serialize>,
        bearer: Option<&str>,
    ) -> Result<T> {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(b) = body {
            req = req.json(b);
        }
        if let Some(t) = bearer {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.map_err(|e| {
            anyhow::Error::new(Unreachable(format!(
                "cannot reach the carecert service at {}: {e}. Check the network; the card was not changed",
                self.base
            )))
        })?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        if !status.is_success() {
            let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
            let msg = v.get("message").and_then(|m| m.as_str()).unwrap_or("no explanation given");
            bail!("{msg}");
        }
        let text = if text.is_empty() { "null".to_string() } else { text };
        serde_json::from_str(&text).map_err(|e| anyhow!("the server's answer was not understood: {e}"))
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        self.call(reqwest::Method::GET, path, None::<&()>, None).await
    }

    pub(crate) async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
        bearer: Option<&str>,
    ) -> Result<T> {
        self.call(reqwest::Method::POST, path, Some(body), bearer).await
    }

    pub(crate) fn module(&self) -> Result<Module> {
        Ok(Module::open(&self.module_path)?)
    }

    pub(crate) fn open_card(&self, module: &Module) -> Result<Card> {
        let info = module.find(self.card.as_deref())?;
        Ok(module.card(&info.serial)?)
    }

    fn say(&self, v: serde_json::Value, text: impl FnOnce() -> String) {
        if self.json {
            println!("{v}");
        } else {
            println!("{}", text());
        }
    }

    /// Logs in to the card and to carecert: refuses a locked card first; reports a wrong
    /// passcode; on success signs a challenge and opens a card session.
    pub(crate) async fn login(&self, card: &Card, passcode: &PasscodeArgs) -> Result<api::CardSessionView> {
        let serial = card.info().serial.clone();
        self.abort_interrupted(&serial).await;
        let view: api::CardStatusView = self.get(&format!("/api/v1/cards/{serial}")).await?;
        match view.status.as_str() {
            "locked" => bail!("{}", view.message),
            "cancelled" => bail!("{}", view.message),
            _ => {}
        }
        let pass = secret(passcode.passcode_file.as_ref(), "CARECERT_PASSCODE", "Card passcode: ")?;
        match card.login(&pass) {
            // Logged in: private objects are visible, so leftovers can be cleaned up.
            Ok(()) => self.reconcile(card, &view)?,
            Err(TokenError::WrongPasscode) | Err(TokenError::Locked) => {
                let f: api::PasscodeFailureView =
                    self.post(&format!("/api/v1/cards/{serial}/passcode-failures"), &json!({}), None).await?;
                bail!("{}", f.message);
            }
            Err(e) => return Err(e.into()),
        }
        let ch: api::ChallengeView = self.post(&format!("/api/v1/cards/{serial}/challenges"), &json!({}), None).await?;
        let sig = card.sign(CardKeyRole::Auth, false, ch.nonce.as_bytes())?;
        let s: api::CardSessionView = self
            .post(
                &format!("/api/v1/cards/{serial}/sessions"),
                &api::CardLoginBody {
                    nonce: ch.nonce,
                    signature: base64::engine::general_purpose::STANDARD.encode(sig),
                    agent_version: VERSION.into(),
                },
                None,
            )
            .await?;
        Ok(s)
    }

    /// A renewal this agent left open (it was killed): abort it, so carecert revokes what
    /// it issued.
    async fn abort_interrupted(&self, serial: &str) {
        let state = state_file(serial);
        if let Ok(text) = std::fs::read_to_string(&state)
            && let Ok(v) = serde_json::from_str::<serde_json::Value>(&text)
            && let (Some(id), Some(tok)) = (v["renewal_id"].as_i64(), v["token"].as_str())
        {
            self.abort_attempt(id, tok, "the agent stopped during the renewal", &state).await;
        }
    }

    /// Tells carecert to abort renewal `id` (it revokes what the attempt issued). The note
    /// in `state` is forgotten once the server answered — a refusal means the attempt ended
    /// anyway, and a stale attempt is also aborted when the next one starts — and kept while
    /// the server cannot be reached, so the next run tells it.
    async fn abort_attempt(&self, id: i64, token: &str, reason: &str, state: &std::path::Path) {
        let r: Result<serde_json::Value> = self
            .post(&format!("/api/v1/card-renewals/{id}/abort"), &api::AbortBody { reason: reason.into() }, Some(token))
            .await;
        if !matches!(&r, Err(e) if e.downcast_ref::<Unreachable>().is_some()) {
            let _ = std::fs::remove_file(state);
        }
    }

    /// Pending objects left by an interrupted renewal: promoted if carecert already
    /// completed that renewal (its current serials are the pending ones), else removed.
    fn reconcile(&self, card: &Card, view: &api::CardStatusView) -> Result<()> {
        let pending_auth = card.certificate(CardKeyRole::Auth, true).ok().flatten();
        let pending_sign = card.certificate(CardKeyRole::Sign, true).ok().flatten();
        let completed =
            pending_auth.as_deref().and_then(serial_of).is_some_and(|s| Some(&s) == view.auth_serial.as_ref())
                && pending_sign.as_deref().and_then(serial_of).is_some_and(|s| Some(&s) == view.sign_serial.as_ref());
        if completed {
            for role in CardKeyRole::BOTH {
                card.promote_pending(role)?;
            }
            eprintln!("note: finished installing a renewal that was interrupted");
        } else if card.discard_pending()? > 0 {
            eprintln!(
                "note: removed what an interrupted renewal left on the card; its certificates are revoked by carecert"
            );
        }
        Ok(())
    }
}

fn state_file(serial: &str) -> PathBuf {
    dirs::state_dir()
        .or_else(dirs::data_dir)
        .unwrap_or_else(|| PathBuf::from("."))
        .join("carecert-agent")
        .join(format!("renewal-{serial}.json"))
}

async fn run(cli: Cli) -> Result<()> {
    let mut b = reqwest::Client::builder().timeout(Duration::from_secs(30));
    if cli.server.starts_with("https://") {
        let ca = cli
            .ca_file
            .clone()
            .ok_or_else(|| anyhow!("pass the carecert root certificate with --ca-file (or CARECERT_CA_FILE)"))?;
        let pem = std::fs::read(&ca).with_context(|| format!("cannot read {}", ca.display()))?;
        b = b.tls_certs_only([reqwest::Certificate::from_pem(&pem).context("--ca-file is not a PEM certificate")?]);
    }
    let agent = Agent {
        http: b.build()?,
        base: cli.server.trim_end_matches('/').to_string(),
        module_path: cli.module.clone(),
        card: cli.card.clone(),
        json: cli.json,
    };
    match cli.command {
        Command::Login(p) => {
            let module = agent.module()?;
            let card = agent.open_card(&module)?;
            let s = agent.login(&card, &p).await?;
            agent.say(serde_json::to_value(&s.card)?, || {
                format!("Logged in with card {}. {}", s.card.serial, s.card.message)
            });
        }
        Command::Card(CardCmd::Status) => {
            let module = agent.module()?;
            let info = module.find(agent.card.as_deref())?;
            let view: api::CardStatusView = agent.get(&format!("/api/v1/cards/{}", info.serial)).await?;
            agent.say(json!({"card": info.serial, "label": info.label, "server": view}), || {
                format!(
                    "Card {} ({}): {}, {} passcode tries left. {}",
                    info.serial, info.label, view.status, view.tries_left, view.message
                )
            });
        }
        Command::Card(CardCmd::ChangePasscode { passcode, new_passcode_file }) => {
            let module = agent.module()?;
            let card = agent.open_card(&module)?;
            agent.login(&card, &passcode).await?;
            let old = secret(passcode.passcode_file.as_ref(), "CARECERT_PASSCODE", "Current passcode: ")?;
            let new = new_passcode(new_passcode_file.as_ref())?;
            card.change_passcode(&old, &new)?;
            agent.say(json!({"changed": true}), || "Passcode changed.".into());
        }
        Command::Card(CardCmd::Unlock {
            via,
            code,
            new_passcode_file,
            sponsor_card,
            sponsor_passcode_file,
            documents,
            admin_token,
        }) => {
            unlock(&agent, via, code, new_passcode_file, sponsor_card, sponsor_passcode_file, documents, admin_token)
                .await?;
        }
        Command::Card(CardCmd::Renew { passcode, ra, documents, admin_token }) => {
            renew(&agent, &passcode, ra, documents, admin_token).await?;
        }
        Command::Card(CardCmd::Issue { uid, documents, batch, label, new_passcode_file, admin_token }) => {
            let token = admin_token.ok_or_else(|| {
                anyhow!("issuing a card needs the RA's admin token (--admin-token or CARECERT_ADMIN_TOKEN)")
            })?;
            let module = agent.module()?;
            let so_pin = hex::encode(pki::random_bytes::<12>()?);
            let serial = module.init_blank(&so_pin, &label)?;
            let card = module.card(&serial)?;
            let passcode = new_passcode(new_passcode_file.as_ref())?;
            card.login_so(&so_pin)?;
            card.set_passcode_as_so(&passcode)?;
            card.logout();
            card.login(&passcode)?;
            let mut csrs = Vec::new();
            for role in CardKeyRole::BOTH {
                card.generate_key_pair(role, false)?;
                csrs.push(pki::cert::to_pem("CERTIFICATE REQUEST", &card.csr(role, false, &format!("UID {uid}"))?));
            }
            let issued: api::IssuedCardView = agent
                .post(
                    "/api/v1/admin/cards",
                    &api::IssueCardBody {
                        uid: uid.clone(),
                        card_serial: serial.clone(),
                        batch,
                        documents,
                        so_pin,
                        auth_csr: csrs[0].clone(),
                        sign_csr: csrs[1].clone(),
                        agent_version: VERSION.into(),
                    },
                    Some(&token),
                )
                .await?;
            for (role, c) in [(CardKeyRole::Auth, &issued.auth), (CardKeyRole::Sign, &issued.sign)] {
                let (_, der) = pki::CertificateInfo::parse_pem_or_der(c.certificate_pem.as_bytes())?;
                card.write_certificate(role, false, &der, &subject_of(&der)?)?;
            }
            agent.say(json!({"card": serial, "auth": issued.auth.serial, "sign": issued.sign.serial}), || {
                format!(
                    "Issued card {serial} to UID {uid}: authentication {}, signing {}",
                    issued.auth.serial, issued.sign.serial
                )
            });
        }
        Command::Run { poll_ms, listen, portal_origins, passcode } => {
            local_api::run(agent, poll_ms, listen, portal_origins, passcode.passcode_file).await?;
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn unlock(
    agent: &Agent,
    via: Option<String>,
    code: Option<String>,
    new_passcode_file: Option<PathBuf>,
    sponsor_card: Option<String>,
    sponsor_passcode_file: Option<PathBuf>,
    documents: Option<String>,
    admin_token: Option<String>,
) -> Result<()> {
    let module = agent.module()?;
    let card = agent.open_card(&module)?;
    let serial = card.info().serial.clone();
    let unlocked: api::UnlockedView = match (via.as_deref(), code) {
        (Some(ch @ ("email" | "sms" | "voice")), None) => {
            let sent: api::CodeSentView = agent
                .post(
                    &format!("/api/v1/cards/{serial}/unlock-codes"),
                    &api::UnlockCodeBody { channel: ch.into() },
                    None,
                )
                .await?;
            agent.say(json!({"sent_to": sent.sent_to}), || {
                format!("A one-time code was sent to {}. It is valid for 10 minutes: run `carecert-agent card unlock --code CODE`", sent.sent_to)
            });
            return Ok(());
        }
        (_, Some(code)) => {
            agent.post(&format!("/api/v1/cards/{serial}/unlock"), &api::UnlockBody { code }, None).await?
        }
        (Some("sponsor"), None) => {
            let sponsor_serial = sponsor_card
                .ok_or_else(|| anyhow!("name the sponsor's card with --sponsor-card SERIAL (second reader)"))?;
            let sponsor = module.card(&sponsor_serial)?;
            let pass = secret(sponsor_passcode_file.as_ref(), "CARECERT_SPONSOR_PASSCODE", "Sponsor's passcode: ")?;
            sponsor.login(&pass).map_err(|e| anyhow!("the sponsor's card: {e}"))?;
            let ch: api::ChallengeView =
                agent.post(&format!("/api/v1/cards/{serial}/sponsor-challenges"), &json!({}), None).await?;
            let sig = sponsor.sign(CardKeyRole::Auth, false, ch.nonce.as_bytes())?;
            let cert = sponsor
                .certificate(CardKeyRole::Auth, false)?
                .ok_or_else(|| anyhow!("the sponsor's card holds no certificate"))?;
            agent
                .post(
                    &format!("/api/v1/cards/{serial}/sponsor-unlock"),
                    &api::SponsorUnlockBody {
                        nonce: ch.nonce,
                        sponsor_certificate: pki::cert::to_pem("CERTIFICATE", &cert),
                        signature: base64::engine::general_purpose::STANDARD.encode(sig),
                    },
                    None,
                )
                .await?
        }
        (Some("ra"), None) => {
            let token =
                admin_token.ok_or_else(|| anyhow!("an RA unlock needs the RA's admin token (--admin-token)"))?;
            let documents = documents.ok_or_else(|| anyhow!("record the identity documents checked (--documents)"))?;
            agent
                .post(
                    &format!("/api/v1/admin/cards/{serial}/unlock"),
                    &api::IdentityCheckBody { documents, agent_version: None },
                    Some(&token),
                )
                .await?
        }
        _ => bail!(
            "say how to unlock: --via email|sms|voice (then --code), --via sponsor --sponsor-card SERIAL, or --via ra"
        ),
    };
    let new = new_passcode(new_passcode_file.as_ref())?;
    card.login_so(&unlocked.so_pin)?;
    card.set_passcode_as_so(&new)?;
    card.logout();
    agent.say(json!({"unlocked": serial}), || format!("Card {serial} is unlocked and has its new passcode."));
    Ok(())
}

async fn renew(
    agent: &Agent,
    passcode: &PasscodeArgs,
    ra: bool,
    documents: Option<String>,
    admin_token: Option<String>,
) -> Result<()> {
    let module = agent.module()?;
    let card = agent.open_card(&module)?;
    let serial = card.info().serial.clone();
    agent.abort_interrupted(&serial).await;
    let state = state_file(&serial);
    let (renewal, token) = if ra {
        let admin = admin_token.ok_or_else(|| anyhow!("an RA renewal needs the RA's admin token (--admin-token)"))?;
        let documents = documents.ok_or_else(|| anyhow!("record the identity documents checked (--documents)"))?;
        let view: api::CardStatusView = agent.get(&format!("/api/v1/cards/{serial}")).await?;
        let pass = secret(passcode.passcode_file.as_ref(), "CARECERT_PASSCODE", "Card passcode: ")?;
        card.login(&pass)?;
        agent.reconcile(&card, &view)?;
        let r: api::RenewalView = agent
            .post(
                &format!("/api/v1/admin/cards/{serial}/renewals"),
                &api::IdentityCheckBody { documents, agent_version: Some(VERSION.into()) },
                Some(&admin),
            )
            .await?;
        let t = r.token.clone().ok_or_else(|| anyhow!("the server sent no renewal token"))?;
        (r, t)
    } else {
        let s = agent.login(&card, passcode).await?;
        let r: api::RenewalView = agent
            .post(
                &format!("/api/v1/cards/{serial}/renewals"),
                &api::StartRenewalBody { agent_version: VERSION.into() },
                Some(&s.token),
            )
            .await?;
        (r, s.token)
    };
    let id = renewal.renewal_id;
    if let Some(dir) = state.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let _ = std::fs::write(&state, json!({"renewal_id": id, "token": token}).to_string());
    let result = renew_steps(agent, &card, id, &token).await;
    match result {
        Ok(view) => {
            let _ = std::fs::remove_file(&state);
            agent.say(serde_json::to_value(&view)?, || format!("Card {serial} renewed. {}", view.message));
            Ok(())
        }
        Err(e) => {
            let _ = card.discard_pending();
            agent.abort_attempt(id, &token, &format!("{e:#}"), &state).await;
            Err(e.context("the renewal was aborted: the card keeps its current certificates; try again"))
        }
    }
}

async fn renew_steps(agent: &Agent, card: &Card, id: i64, token: &str) -> Result<api::CardStatusView> {
    let bar = indicatif::ProgressBar::new_spinner();
    let fail_after = std::env::var("CARECERT_AGENT_TEST_EXIT_AFTER").ok();
    for role in CardKeyRole::BOTH {
        let name = if role == CardKeyRole::Auth { "auth" } else { "sign" };
        let step = |s: &str| {
            if agent.json {
                println!("{}", json!({"renewal": id, "certificate": name, "state": s}));
            } else if tty() {
                bar.println(format!("{name} certificate: {s}"));
            } else {
                println!("{name} certificate: {s}");
            }
        };
        step("Pending");
        card.generate_key_pair(role, true)?;
        let csr = pki::cert::to_pem("CERTIFICATE REQUEST", &card.csr(role, true, "renewal")?);
        step("Writing");
        let c: api::CardCertificateView = agent
            .post(
                &format!("/api/v1/card-renewals/{id}/certificates"),
                &api::RenewCertificateBody { role: name.into(), csr },
                Some(token),
            )
            .await?;
        let (_, der) = pki::CertificateInfo::parse_pem_or_der(c.certificate_pem.as_bytes())?;
        card.write_certificate(role, true, &der, &subject_of(&der)?)?;
        step("Done");
        if fail_after.as_deref() == Some(name) {
            // Fault injection for tests: the agent "dies" between the two certificates.
            std::process::exit(9);
        }
        if let (Ok(at), Ok(resume)) =
            (std::env::var("CARECERT_AGENT_TEST_PAUSE_AFTER"), std::env::var("CARECERT_AGENT_TEST_RESUME_FILE"))
            && at == name
        {
            // Fault injection for tests: wait here (the test pulls the card or stops the
            // server), then go on.
            let resume = PathBuf::from(resume);
            let _ = std::fs::write(resume.with_extension("waiting"), b"");
            for _ in 0..1200 {
                if resume.exists() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    let view: api::CardStatusView =
        agent.post(&format!("/api/v1/card-renewals/{id}/complete"), &json!({}), Some(token)).await?;
    for role in CardKeyRole::BOTH {
        card.promote_pending(role)?;
    }
    bar.finish_and_clear();
    Ok(view)
}

#[cfg(test)]
mod cli_tests {
    #[test]
    fn the_command_line_definition_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
