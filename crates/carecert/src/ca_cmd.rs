//! `carecert ca …`: CA operations on a serving node's database (like `init`): ask the offline
//! root for a new intermediate (rotation), and import what the root signed.

use std::path::PathBuf;

use anyhow::{Context, Result};
use ca::SystemClock;
use clap::{Args, Subcommand};

use crate::paths;
use crate::serve::CommonArgs;

/// `carecert ca`.
#[derive(Args, Debug)]
pub struct CaArgs {
    #[command(flatten)]
    common: CommonArgs,
    #[command(subcommand)]
    what: What,
}

#[derive(Subcommand, Debug)]
enum What {
    /// Rotate an issuing CA, step 1: make the next CA's key (on the key store) and the
    /// request the offline root signs (`carecert root sign-intermediate`)
    Request {
        /// The CA to rotate: systems or smartcards
        family: String,
        /// Where to write the request
        #[arg(long, short = 'o')]
        out: PathBuf,
    },
    /// Import a bundle from the offline root (new intermediates, the ARL, pre-signed OCSP
    /// answers); restart the serving nodes to start issuing from a new intermediate
    Import {
        /// The bundle file
        bundle: PathBuf,
    },
}

pub async fn run(args: CaArgs) -> Result<()> {
    let data_dir = paths::data_dir(args.common.data_dir.as_deref())?;
    let passphrase = paths::ca_passphrase(args.common.ca_passphrase_file.as_deref(), None, false)?;
    let database = args.common.database.clone().unwrap_or_else(|| paths::default_database(&data_dir));
    let store = store::Store::open(&database).await.context("opening the database")?;
    let keys = crate::keystore::key_store(args.common.key_store.as_deref(), &passphrase)?;
    let requests = data_dir.join("ca-requests");
    match args.what {
        What::Request { family, out } => {
            let (request, key_ref) = ca::offline::request_intermediate(&store, keys.as_ref(), &family).await?;
            paths::ensure_private_dir(&requests)?;
            paths::write_atomic(&requests.join(format!("{}.key", request.name)), key_ref.as_bytes(), 0o600)?;
            paths::write_atomic(&out, serde_json::to_string_pretty(&request)?.as_bytes(), 0o644)?;
            println!(
                "Key of '{}' made ({}); take {} to the offline machine: carecert root --root-dir DIR sign-intermediate --request {} -o bundle.json",
                request.name,
                keys.describe(),
                out.display(),
                out.display()
            );
            Ok(())
        }
        What::Import { bundle } => {
            let b: ca::offline::RootBundle = serde_json::from_slice(
                &std::fs::read(&bundle).with_context(|| format!("reading {}", bundle.display()))?,
            )
            .with_context(|| format!("{} is not a root bundle", bundle.display()))?;
            let key_of = |name: &str| std::fs::read_to_string(requests.join(format!("{name}.key"))).ok();
            let added = ca::offline::import_bundle(&store, &SystemClock, keys, &b, &key_of, "operator").await?;
            for name in &added {
                let _ = std::fs::remove_file(requests.join(format!("{name}.key")));
            }
            if added.is_empty() {
                println!("Imported ARL #{} and {} pre-signed OCSP answers", b.arl.crl_number, b.ocsp.len());
            } else {
                println!(
                    "Imported {} (new issuance uses it after the serving nodes restart), ARL #{} and {} pre-signed OCSP answers",
                    added.join(", "),
                    b.arl.crl_number,
                    b.ocsp.len()
                );
            }
            Ok(())
        }
    }
}
