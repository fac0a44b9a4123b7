//! `carecert bench …`: measurements that print numbers (the peer comparison lives in bench/run.sh).

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::Result;
use clap::{Args, Subcommand};

/// `carecert bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    #[command(subcommand)]
    what: What,
}

#[derive(Subcommand, Debug)]
enum What {
    /// Fill a database with N certificates (a fraction revoked) for scale measurements
    Seed(crate::bench_scale::SeedArgs),
    /// Time the queries that must stay fast on a large database (expiry, RA search, CRL)
    Queries(crate::bench_scale::QueriesArgs),
    /// Build and sign a CRL of N revoked entries in memory and print the time it took.
    Crl {
        /// Number of revoked entries
        #[arg(long, default_value_t = 100_000)]
        entries: usize,
        /// Repetitions (the best and the median are printed)
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// Print JSON: {"entries", "seconds" (best), "median_seconds", "bytes"}
        #[arg(long)]
        json: bool,
    },
    /// The token's own signing rate: make a P-256 key on the token `--key-store` names and
    /// sign N times (SHA-256 here, CKM_ECDSA there) from T threads, one session each
    HsmSign {
        /// The token, a PKCS#11 URI (as `carecert init --key-store`)
        #[arg(long, env = "CARECERT_KEY_STORE")]
        key_store: String,
        /// Signatures in all
        #[arg(long, default_value_t = 20_000)]
        signatures: usize,
        /// Threads signing at once
        #[arg(long, default_value_t = 2)]
        threads: usize,
        /// Print JSON: {"signatures", "threads", "seconds", "per_second"}
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(args: BenchArgs) -> Result<()> {
    match args.what {
        What::Seed(a) => crate::bench_scale::seed(a).await,
        What::Queries(a) => crate::bench_scale::queries(a).await,
        What::HsmSign { key_store, signatures, threads, json } => {
            let rate = tokio::task::spawn_blocking(move || hsm_sign(&key_store, signatures, threads.max(1))).await??;
            if json {
                println!(
                    "{}",
                    serde_json::json!({"signatures": signatures, "threads": threads, "seconds": rate.0, "per_second": rate.1})
                );
            } else {
                println!(
                    "HSM P-256 signatures: {signatures} in {:.3} s from {threads} threads: {:.0}/s",
                    rate.0, rate.1
                );
            }
            Ok(())
        }
        What::Crl { entries, runs, json } => {
            let bar = (!json && std::io::stderr().is_terminal()).then(|| {
                let b = indicatif::ProgressBar::new(runs as u64);
                b.set_style(
                    indicatif::ProgressStyle::with_template("{spinner} building CRLs {pos}/{len} {elapsed}")
                        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                );
                b.enable_steady_tick(Duration::from_millis(100));
                b
            });
            let mut times = Vec::new();
            let mut bytes = 0;
            for _ in 0..runs.max(1) {
                let (size, took) = tokio::task::spawn_blocking(move || ca::bench_crl(entries)).await??;
                bytes = size;
                times.push(took.as_secs_f64());
                if let Some(b) = &bar {
                    b.inc(1);
                }
            }
            if let Some(b) = bar {
                b.finish_and_clear();
            }
            times.sort_by(|a, b| a.total_cmp(b));
            let best = times[0];
            let median = times[times.len() / 2];
            if json {
                println!(
                    "{}",
                    serde_json::json!({"entries": entries, "seconds": best, "median_seconds": median, "bytes": bytes})
                );
            } else {
                println!("CRL with {entries} entries: best {best:.3} s, median {median:.3} s, {bytes} bytes DER");
            }
            Ok(())
        }
    }
}

/// Signs `n` times with a fresh key on the token, from `threads` threads; `(seconds, per second)`.
fn hsm_sign(uri: &str, n: usize, threads: usize) -> Result<(f64, f64)> {
    let keys = crate::keystore::open_hsm(uri, b"")?;
    let key = std::sync::Arc::new(keys.hsm().generate_p256("carecert bench key")?);
    let message = [0x5au8; 300];
    // One signature per thread first: sessions are opened outside the measurement.
    std::thread::scope(|s| {
        for _ in 0..threads {
            let key = key.clone();
            s.spawn(move || key.sign_sha256(&message));
        }
    });
    let started = std::time::Instant::now();
    let per = n.div_ceil(threads);
    let failures: usize = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let key = key.clone();
                s.spawn(move || (0..per).filter(|_| key.sign_sha256(&message).is_err()).count())
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or(per)).sum()
    });
    let seconds = started.elapsed().as_secs_f64();
    if failures > 0 {
        anyhow::bail!("{failures} of {} signatures failed on the token", per * threads);
    }
    Ok((seconds, (per * threads) as f64 / seconds))
}
