//! `carecert bench seed` and `carecert bench queries`: a database of millions of
//! certificates, and the time the queries that must stay fast at that size take.
//!
//! Seeding writes realistic rows straight into the tables (`store::Store::seed`): every
//! certificate has a serial as issuance gives it (`pki::Serial::ordered`: sorts by its
//! creation time), a subject naming its organisation, one year of validity, a creation time
//! spread evenly over the past `--years` in the order the rows are written, and the DER of a real
//! certificate of the CA (the same bytes for every row: a signature per row would make 10M
//! rows take an hour, and no measured query reads the DER). Machine certificates of
//! `systems` also get the installed request that links them to their organisation. It must
//! never run against a production database: it writes no audit entries.

use std::io::IsTerminal;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use store::{SeedCertificate, SeedOrganisation, Store};

/// `carecert bench seed`.
#[derive(Args, Debug)]
pub struct SeedArgs {
    /// The database (default: the SQLite file in --data-dir). It must be initialised
    /// (`carecert init` or one start of `carecert serve --dev`).
    #[arg(long, env = "CARECERT_DATABASE")]
    database: Option<String>,
    /// The data directory whose SQLite database to fill
    #[arg(long, env = "CARECERT_DATA_DIR", default_value = "carecert-data")]
    data_dir: std::path::PathBuf,
    /// Certificates to add
    #[arg(long, default_value_t = 1_000_000)]
    certs: u64,
    /// Fraction of them revoked (0 to 1)
    #[arg(long, default_value_t = 0.01)]
    revoked_fraction: f64,
    /// Organisations the machine certificates belong to (default: one per 1,000 certificates)
    #[arg(long)]
    orgs: Option<u64>,
    /// Creation times are spread over this many past years (validity: one year each)
    #[arg(long, default_value_t = 3)]
    years: u64,
    /// Rows per transaction
    #[arg(long, default_value_t = 50_000)]
    batch: u64,
    /// CRL shards per CA the certificates are spread over, as `[crl] shards` does for
    /// certificates issued (0: every certificate names its CA's whole CRL)
    #[arg(long, default_value_t = ca::DEFAULT_CRL_SHARDS)]
    crl_shards: u16,
    /// Print JSON: {"certs", "revoked", "orgs", "seconds", "per_second"}
    #[arg(long)]
    json: bool,
}

/// `carecert bench queries`.
#[derive(Args, Debug)]
pub struct QueriesArgs {
    /// The database (default: the SQLite file in --data-dir)
    #[arg(long, env = "CARECERT_DATABASE")]
    database: Option<String>,
    /// The data directory
    #[arg(long, env = "CARECERT_DATA_DIR", default_value = "carecert-data")]
    data_dir: std::path::PathBuf,
    /// Runs of each query (the best and the median are printed)
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Print JSON
    #[arg(long)]
    json: bool,
}

fn database(database: &Option<String>, data_dir: &std::path::Path) -> String {
    database.clone().unwrap_or_else(|| crate::paths::default_database(data_dir))
}

/// Deterministic pseudo-random numbers (splitmix64): the same seed gives the same database.
struct Mix(u64);
impl Mix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

fn epoc(i: u64) -> String {
    format!("FBS{:05}", i % 100_000)
}

pub async fn seed(a: SeedArgs) -> Result<()> {
    let url = database(&a.database, &a.data_dir);
    let store = Store::open(&url).await.with_context(|| format!("cannot open {url}"))?;
    let cas = store.cas().await?;
    let systems = cas.iter().find(|c| c.name.starts_with("systems")).context("no systems CA: initialise first")?;
    let smartcards =
        cas.iter().find(|c| c.name.starts_with("smartcards")).map_or(systems.name.clone(), |c| c.name.clone());
    let der = store
        .certificates(&store::CertificateFilter { issuer: Some(systems.name.clone()), limit: 1, ..Default::default() })
        .await?
        .into_iter()
        .find_map(|c| c.der)
        .unwrap_or_else(|| systems.cert_der.clone());
    let n_orgs = a.orgs.unwrap_or(a.certs / 1000).clamp(1, 99_999);
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let span = (a.years.max(1) * 365 * 86_400) as i64;
    let mut rng = Mix(0x5EED ^ a.certs);
    let started = Instant::now();
    let orgs: Vec<SeedOrganisation> = (0..n_orgs)
        .map(|i| SeedOrganisation { epoc: epoc(i), name: format!("Pharmacy {i} Ltd"), created_at: now - span })
        .collect();
    let mut first = Some(orgs);
    // A bar on a terminal; one line per batch when stderr is a file (CI logs, the bench).
    let bar = (!a.json && std::io::stderr().is_terminal()).then(|| {
        let b = indicatif::ProgressBar::new(a.certs);
        b.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} certificates, {per_sec}, {eta} left")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    });
    let (mut done, mut revoked) = (0u64, 0u64);
    let threshold = (a.revoked_fraction.clamp(0.0, 1.0) * u64::MAX as f64) as u64;
    while done < a.certs {
        let n = a.batch.max(1).min(a.certs - done);
        let mut rows = Vec::with_capacity(n as usize);
        for i in done..done + n {
            // Rows go in in the order they would have been issued (creation times spread
            // evenly over the span, a minute of jitter), with the serials issuance gives them
            // (`Serial::ordered`: they sort by time): the indices grow at their end as they
            // do in production, not at random places.
            let step = (i as i128 * span as i128 / a.certs.max(1) as i128) as i64;
            let created = (now - span + step + (rng.next() % 60) as i64).min(now);
            let not_after = created + 365 * 86_400;
            let rev = (rng.next() < threshold).then(|| {
                revoked += 1;
                ((created + (rng.next() % (365 * 86_400)) as i64).min(now), 4u8)
            });
            // Nine in ten are machine certificates of an organisation; the rest card certificates.
            let (issuer, profile, subject, org) = if i % 10 != 9 {
                let o = rng.next() % n_orgs;
                let e = epoc(o);
                let subject = format!("serialNumber={e},CN=EPOC {e},OU=pharmacy,O=Pharmacy {o} Ltd,C=GB");
                (systems.name.clone(), "system-client", subject, Some(e))
            } else {
                (smartcards.clone(), "card-auth", format!("CN=Card holder {i},O=NHS,C=GB"), None)
            };
            let serial = pki::Serial::ordered(created)?;
            rows.push(SeedCertificate {
                issuer,
                crl_shard: ca::crl_shard_of(&serial, a.crl_shards),
                serial: serial.to_hex(),
                profile: profile.into(),
                subject,
                spki_sha256: format!("{:016x}{:016x}{:016x}{:016x}", rng.next(), rng.next(), rng.next(), rng.next()),
                not_before: created,
                not_after,
                created_at: created,
                revoked: rev,
                epoc: org,
            });
        }
        store.seed(first.take().unwrap_or_default(), rows, der.clone()).await?;
        done += n;
        if let Some(b) = &bar {
            b.set_position(done);
        } else if !a.json {
            eprintln!(
                "seeded {done}/{} certificates ({:.0}/s)",
                a.certs,
                done as f64 / started.elapsed().as_secs_f64()
            );
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    store.analyze().await?;
    let seconds = started.elapsed().as_secs_f64();
    if a.json {
        println!(
            "{}",
            serde_json::json!({"certs": a.certs, "revoked": revoked, "orgs": n_orgs, "seconds": seconds, "per_second": a.certs as f64 / seconds})
        );
    } else {
        println!("seeded {} certificates ({revoked} revoked, {n_orgs} organisations) in {seconds:.1} s", a.certs);
    }
    Ok(())
}

/// Best and median of `runs` timings of `f`, in milliseconds, and its last result.
async fn time_ms<T, F, Fut>(runs: usize, mut f: F) -> Result<(f64, f64, T)>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let mut times = vec![];
    let mut last = None;
    for _ in 0..runs.max(1) {
        let t = Instant::now();
        last = Some(f().await?);
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(|a, b| a.total_cmp(b));
    let last = last.context("no run")?;
    Ok((times[0], times[times.len() / 2], last))
}

pub async fn queries(a: QueriesArgs) -> Result<()> {
    let url = database(&a.database, &a.data_dir);
    let store = Store::open(&url).await.with_context(|| format!("cannot open {url}"))?;
    let cas = store.cas().await?;
    let systems = cas.iter().find(|c| c.name.starts_with("systems")).context("no systems CA")?.name.clone();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let runs = a.runs;
    let mut out = serde_json::Map::new();
    let mut put = |k: &str, (best, median): (f64, f64), extra: serde_json::Value| {
        out.insert(k.into(), serde_json::json!({"best_ms": best, "median_ms": median, "result": extra}));
    };
    let s = &store;
    let systems = &systems;
    let (b, m, weeks) =
        time_ms(runs, || async move { Ok(s.certificates_expiring_per_week(None, now, 13).await?) }).await?;
    put("expiring_90d_dashboard", (b, m), serde_json::json!({"certificates": weeks.iter().sum::<i64>()}));
    let (b, m, list) =
        time_ms(runs, || async move { Ok(s.machine_certs_expiring(systems, now, now + 90 * 86_400).await?) }).await?;
    put("expiring_90d_reminders", (b, m), serde_json::json!({"organisations": list.len()}));
    let org = &epoc(7);
    let (b, m, found) =
        time_ms(runs, || async move { Ok(s.certificates_of_organisation(org, None, 200).await?) }).await?;
    put("ra_search_by_epoc", (b, m), serde_json::json!({"certificates": found.len()}));
    let (b, m, found) =
        time_ms(runs, || async move { Ok(s.certificates_of_organisation("Pharmacy 7 Ltd", None, 200).await?) }).await?;
    put("ra_search_by_org_name", (b, m), serde_json::json!({"certificates": found.len()}));
    let serial = &found.first().map(|c| c.serial.clone()).unwrap_or_else(|| "01".into());
    let (b, m, found) = time_ms(runs, || async move { Ok(s.certificates_by_serial(serial).await?) }).await?;
    put("ra_search_by_serial", (b, m), serde_json::json!({"certificates": found.len()}));
    for name in cas.iter().filter(|c| !c.name.starts_with("root")).map(|c| c.name.clone()) {
        let issuer = &name;
        let (b, m, (entries, bytes)) = time_ms(runs.min(3), || async move {
            let rows = s.revoked_for_crl(issuer, now).await?;
            let bytes = tokio::task::spawn_blocking(move || ca::bench_crl_rows(&rows)).await??;
            Ok((bytes.1, bytes.0))
        })
        .await?;
        put(&format!("crl_{name}"), (b, m), serde_json::json!({"entries": entries, "bytes": bytes}));
    }
    let counts = store.certificate_counts().await?;
    out.insert("counts".into(), serde_json::json!(counts.into_iter().collect::<std::collections::BTreeMap<_, _>>()));
    if a.json {
        println!("{}", serde_json::Value::Object(out));
    } else {
        for (k, v) in out {
            println!("{k}: {v}");
        }
    }
    Ok(())
}
