//! `carecert init` and `carecert bootstrap-token`: a new CA hierarchy (keys in files or on a
//! PKCS#11 token, the root optionally off line) and the one-shot bootstrap token that makes the
//! first operator account; `serve --dev` reuses both for its demo CA.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use ca::{Authority, InitOptions, SystemClock};
use store::Store;

use crate::paths;
use crate::serve::{CommonArgs, InitArgs, open_store};

/// The operator-account service over `store` (for `init` and the first `serve --dev`).
pub(crate) fn operators(store: &Store) -> portal::Web {
    portal::Web::new(store.clone(), Arc::new(SystemClock), portal::WebConfig::default())
}

/// `carecert init`: the bootstrap token (creates operator accounts and tokens only, once,
/// within 24 hours), written to DATA_DIR/admin-token (0600).
pub(crate) async fn create_bootstrap_token(store: &Store, data_dir: &Path) -> Result<String> {
    let t = operators(store).create_bootstrap_token().await?;
    paths::write_atomic(&data_dir.join("admin-token"), format!("{}\n", t.token).as_bytes(), 0o600)?;
    Ok(t.token)
}

/// The first `serve --dev`: a named `ca-admin` account `dev`, made with a bootstrap token
/// (consumed), and its 90-day token written to DATA_DIR/admin-token (0600), so the README's
/// commands work as they are.
pub(crate) async fn create_dev_operator(store: &Store, data_dir: &Path) -> Result<String> {
    let web = operators(store);
    let boot = web.create_bootstrap_token().await?;
    let by = web.operator_for_token(&boot.token).await?;
    let (_, token) = web
        .create_operator(
            &by,
            portal::NewOperator {
                name: "dev",
                display_name: "Demo CA administrator (serve --dev)",
                role: types::OperatorRole::CaAdmin,
                orgs: vec![],
                password: None,
                uid: None,
                // A demo deployment's token lasts as long as a token may (366 days), so the
                // demo, and tests that move its clock on, keep working for a year.
                token_days: Some(portal::MAX_TOKEN_DAYS),
            },
        )
        .await?;
    let token = token.context("the dev operator's token was not made")?.token;
    paths::write_atomic(&data_dir.join("admin-token"), format!("{token}\n").as_bytes(), 0o600)?;
    Ok(token)
}

pub(crate) fn write_ca_files(authority: &Authority, data_dir: &Path) -> Result<()> {
    for (name, _, der) in authority.ca_certificates() {
        paths::write_atomic(
            &data_dir.join("ca").join(format!("{name}.pem")),
            pki::cert::to_pem("CERTIFICATE", &der).as_bytes(),
            0o644,
        )?;
    }
    Ok(())
}

/// `carecert bootstrap-token`: a fresh bootstrap token for an existing database.
pub async fn bootstrap_token(args: CommonArgs) -> Result<()> {
    let data_dir = paths::data_dir(args.data_dir.as_deref())?;
    paths::ensure_private_dir(&data_dir)?;
    let database = args.database.clone().unwrap_or_else(|| paths::default_database(&data_dir));
    let store = open_store(&database).await?;
    create_bootstrap_token(&store, &data_dir).await?;
    println!(
        "Bootstrap token written to {} (keep it secret): within 24 hours, use it once: carecert admin account create NAME --role ca-admin --token-out NAME.token",
        data_dir.join("admin-token").display()
    );
    Ok(())
}

/// `carecert init`.
pub async fn init(args: InitArgs) -> Result<()> {
    let data_dir = paths::data_dir(args.common.data_dir.as_deref())?;
    paths::ensure_private_dir(&data_dir)?;
    let key_algorithm = pki::KeyAlgorithm::parse(&args.key_algorithm)?;
    let passphrase = paths::ca_passphrase(args.common.ca_passphrase_file.as_deref(), None, false)?;
    let database = args.common.database.clone().unwrap_or_else(|| paths::default_database(&data_dir));
    let store = open_store(&database).await?;
    let keys = crate::keystore::key_store(args.common.key_store.as_deref(), &passphrase)?;
    let offline = match &args.root_dir {
        Some(dir) => Some(crate::root::prepare_root_dir(dir, &data_dir)?),
        None => None,
    };
    let placement = ca::KeyPlacement {
        keys,
        offline_root: offline.as_ref().map(|_| Arc::new(ca::FileKeys::new(&passphrase)) as Arc<dyn ca::KeyStore>),
        presign_days: args.presign_days,
    };
    let report = run_init(&store, &passphrase, &args.public_url, key_algorithm, &args.organization, &placement).await?;
    if let Some(dir) = &offline {
        crate::root::write_root_dir(dir, &report, &args.organization, &args.public_url)?;
    }
    create_bootstrap_token(&store, &data_dir).await?;
    for (name, pem) in &report.cas {
        paths::write_atomic(&data_dir.join("ca").join(format!("{name}.pem")), pem.as_bytes(), 0o644)?;
    }
    let root = data_dir.join("ca/root.pem");
    if args.json {
        println!(
            "{}",
            serde_json::json!({"cas": report.cas.iter().map(|(n, _)| n).collect::<Vec<_>>(), "root_certificate": root, "admin_token_file": data_dir.join("admin-token")})
        );
    } else {
        println!("Created CAs: {}", report.cas.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", "));
        println!("Root certificate: {}", root.display());
        println!("CA keys: {}", placement.keys.describe());
        if let Some(dir) = &offline {
            println!(
                "Root key: off line in {} (move it to the offline machine; `carecert serve` never needs it)",
                dir.display()
            );
        }
        println!(
            "Bootstrap token written to {} (keep it secret): within 24 hours, use it once to create the first\noperator account: carecert admin account create NAME --role ca-admin --token-out NAME.token",
            data_dir.join("admin-token").display()
        );
    }
    Ok(())
}

pub(crate) async fn run_init(
    store: &Store,
    passphrase: &[u8],
    public_url: &str,
    key_algorithm: pki::KeyAlgorithm,
    org: &str,
    placement: &ca::KeyPlacement,
) -> Result<ca::InitReport> {
    if !(public_url.starts_with("http://") || public_url.starts_with("https://")) {
        bail!("--public-url must start with http:// (relying parties fetch CRLs and OCSP over plain HTTP)");
    }
    let opts = InitOptions {
        passphrase: passphrase.to_vec(),
        public_url: public_url.to_string(),
        key_algorithm,
        organization: org.to_string(),
        actor: "operator".into(),
    };
    Ok(ca::init_hierarchy_with(store, &SystemClock, &opts, placement).await?)
}
