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
}

pub async fn run(args: BenchArgs) -> Result<()> {
    match args.what {
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
