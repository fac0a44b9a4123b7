//! `carecert admin release-key`: the release-signing keys of self-update. `generate` makes an
//! Ed25519 key pair on this machine (the private key never leaves it); `add` registers the
//! public key with the server; `list` shows the registered ones. Releases are then signed
//! with `carecert admin release add … --file BINARY --sign-with KEY`.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Subcommand;
use client::Client;

use super::output::{Answer, date, print};

#[derive(Subcommand, Debug)]
pub(super) enum ReleaseKeyCmd {
    /// Make a release-signing key pair: the private key to --out (mode 0600), the public key
    /// printed (and written to OUT.pub) for `release-key add` and for each client's pin.
    Generate {
        /// Where to write the private key (PEM)
        #[arg(long, short)]
        out: PathBuf,
    },
    /// Register a release-signing public key (`ed25519:BASE64`, or a file holding it).
    Add {
        /// ecmt or carecert-agent
        #[arg(long, default_value = "ecmt")]
        product: String,
        /// The public key, or the path of a file holding it
        #[arg(long)]
        public_key: String,
    },
    /// List the registered release-signing keys.
    List,
}

/// `release-key generate`: local only, no server.
pub(super) fn generate(out: &Path, json_out: bool) -> Result<()> {
    let (key, pem) = pki::release::ReleaseSigningKey::generate()?;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(out)
        .with_context(|| format!("cannot create {} (it must not exist yet)", out.display()))?;
    f.write_all(pem.as_bytes()).and_then(|()| f.sync_all()).with_context(|| format!("writing {}", out.display()))?;
    let public = key.public_key();
    let pub_file = PathBuf::from(format!("{}.pub", out.display()));
    std::fs::write(&pub_file, format!("{}\n", public.to_text()))
        .with_context(|| format!("writing {}", pub_file.display()))?;
    let v = serde_json::json!({"key_id": public.key_id(), "public_key": public.to_text(), "private_key_file": out, "public_key_file": pub_file});
    print(json_out, &v, |_| {
        format!(
            "Release-signing key {} written to {} (keep it offline and backed up).\nPublic key (also in {}):\n{}\nRegister it: carecert admin release-key add --public-key {}\nPin it on each client: copy {} to /var/lib/ecmt/trust/release-key.pub",
            public.key_id(),
            out.display(),
            pub_file.display(),
            public.to_text(),
            pub_file.display(),
            pub_file.display()
        )
    });
    Ok(())
}

pub(super) async fn release_key(c: &Client, cmd: ReleaseKeyCmd, json_out: bool) -> Result<()> {
    match cmd {
        ReleaseKeyCmd::Generate { out } => generate(&out, json_out)?,
        ReleaseKeyCmd::Add { product, public_key } => {
            let text = if public_key.starts_with("ed25519:") {
                public_key
            } else {
                std::fs::read_to_string(&public_key)
                    .with_context(|| format!("{public_key} is neither ed25519:BASE64 nor a readable file"))?
            };
            let line = text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or_default().to_string();
            let v = c.add_release_key(&api::NewReleaseKeyBody { product, public_key: line }).await.answer()?;
            print(json_out, &v, |v| format!("Registered release-signing key {} for {}", v.key_id, v.product));
        }
        ReleaseKeyCmd::List => {
            let v = c.release_keys().await.answer()?;
            print(json_out, &v, |v| {
                let mut t = format!("{:<16} {:<15} {:<18} PUBLIC KEY", "KEY ID", "PRODUCT", "REGISTERED");
                for k in v {
                    t.push_str(&format!(
                        "\n{:<16} {:<15} {:<18} {}",
                        k.key_id,
                        k.product,
                        date(k.created_at),
                        k.public_key
                    ));
                }
                t
            });
        }
    }
    Ok(())
}
