//! Flood resistance against the real server (loopback only, bounded): an OCSP flood of random
//! serials leaves memory flat and real answers flowing; half-open connections are closed
//! within the configured timeouts while /healthz stays fast; the test allow-list closes
//! connections at accept.
//!
//! The two load tests take the machine: they run one at a time (a lock), not beside each other.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a failed assumption is a failed test

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Server, ocsp};

static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A config file with short timeouts and room for many connections from one source.
fn config(dir: &Path, extra: &str) -> std::path::PathBuf {
    let path = dir.join("carecert.toml");
    std::fs::write(
        &path,
        format!(
            "[limits]\nheader_read_timeout = \"2s\"\ntls_handshake_timeout = \"2s\"\nidle_timeout = \"2s\"\nmax_connections_per_source = 4000\n{extra}"
        ),
    )
    .unwrap();
    path
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

fn host_port(url: &str) -> String {
    url.split("://").nth(1).unwrap().to_string()
}

/// A tiny xorshift: random serials without a dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// The OCSP request for `cert` (SHA-1 CertID, no nonce) and where its serial's bytes are.
fn request_template(s: &Server, cert: &Path, serial_hex: &str) -> (Vec<u8>, usize, usize, bool) {
    let out = s.path("template.der");
    let o = std::process::Command::new("openssl")
        .args(["ocsp", "-no_nonce", "-issuer"])
        .arg(s.ca_pem("systems"))
        .arg("-cert")
        .arg(cert)
        .arg("-reqout")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", common::text(&o));
    let der = std::fs::read(&out).unwrap();
    let serial =
        hex::decode(if serial_hex.len() % 2 == 1 { format!("0{serial_hex}") } else { serial_hex.into() }).unwrap();
    let at = der.windows(serial.len()).position(|w| w == serial.as_slice()).expect("serial in the request");
    let sign_octet = at >= 2 && der[at - 1] == 0 && der[at - 2] as usize == serial.len() + 1;
    (der, at, serial.len(), sign_octet)
}

/// An OCSP response's status is `successful` (0).
fn successful(der: &[u8]) -> bool {
    // SEQUENCE (short or long length) then ENUMERATED 0.
    let i = match der.get(1) {
        Some(l) if *l < 0x80 => 2,
        Some(l) => 2 + (*l & 0x7f) as usize,
        None => return false,
    };
    der.get(i..i + 3) == Some(&[0x0a, 0x01, 0x00])
}

#[test]
fn an_ocsp_flood_of_random_serials_keeps_memory_flat_and_good_answers_flowing() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let cfg_dir = tempfile::tempdir().unwrap();
    let cfg = config(cfg_dir.path(), "");
    let s = Server::start_args(&["--config", cfg.to_str().unwrap()]);
    let (cert, serial) = s.issue("real", "systems", "system-client", &[]);
    let (template, at, len, sign_octet) = request_template(&s, &cert, &serial);
    assert!(ocsp(&s, &s.ca_pem("systems"), &cert, &["-no_nonce"]).contains(": good"));

    let url = format!("{}/ocsp", s.http);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let client = reqwest::Client::builder().pool_max_idle_per_host(1024).build().unwrap();
    const IN_FLIGHT: usize = 256;
    let flood = |total: usize, seed: u64| {
        let sent = Arc::new(AtomicUsize::new(0));
        let failed = Arc::new(AtomicUsize::new(0));
        rt.block_on(async {
            let mut tasks = vec![];
            for w in 0..IN_FLIGHT {
                let (client, url, template, sent, failed) =
                    (client.clone(), url.clone(), template.clone(), sent.clone(), failed.clone());
                tasks.push(tokio::spawn(async move {
                    let mut rng = Rng(seed ^ (w as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
                    let mut body = template;
                    while sent.fetch_add(1, Ordering::Relaxed) < total {
                        for b in &mut body[at..at + len] {
                            *b = rng.next() as u8;
                        }
                        // Keep the INTEGER's DER valid: positive, minimal.
                        body[at] = if sign_octet { body[at] | 0x80 } else { (body[at] & 0x7f).max(1) };
                        let ok = match client
                            .post(&url)
                            .header("content-type", "application/ocsp-request")
                            .body(body.clone())
                            .send()
                            .await
                        {
                            Ok(r) if r.status() == 200 => r.bytes().await.is_ok_and(|b| successful(&b)),
                            _ => false,
                        };
                        if !ok {
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
        });
        failed.load(Ordering::Relaxed)
    };

    // Warm up: connections, buffers and the allocator reach their working size.
    let cold = rss_kib(s.pid());
    assert_eq!(flood(5_000, 1), 0, "warm-up requests failed:\n{}", s.log());
    let warm = rss_kib(s.pid());

    // Good answers for the real certificate keep flowing during the flood.
    let done = Arc::new(AtomicBool::new(false));
    let goods = Arc::new(AtomicU64::new(0));
    let checker = {
        let (done, goods) = (done.clone(), goods.clone());
        let (http, root, issuer, cert) = (s.http.clone(), s.root(), s.ca_pem("systems"), cert.clone());
        std::thread::spawn(move || {
            let mut bad = vec![];
            while !done.load(Ordering::Relaxed) {
                let o = std::process::Command::new("openssl")
                    .args(["ocsp", "-no_nonce", "-url", &format!("{http}/ocsp"), "-issuer"])
                    .arg(&issuer)
                    .arg("-cert")
                    .arg(&cert)
                    .arg("-CAfile")
                    .arg(&root)
                    .output()
                    .unwrap();
                let t = common::text(&o);
                if t.contains(": good") {
                    goods.fetch_add(1, Ordering::Relaxed);
                } else {
                    bad.push(t);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            bad
        })
    };
    let t0 = Instant::now();
    let failed = flood(100_000, 2);
    let took = t0.elapsed();
    done.store(true, Ordering::Relaxed);
    let bad = checker.join().unwrap();
    let after = rss_kib(s.pid());
    eprintln!(
        "OCSP flood: 100000 random serials in {:.1} s ({:.0}/s), {IN_FLIGHT} in flight; RSS cold {cold} KiB, warm {warm} KiB, after {after} KiB (+{} KiB); {} good answers for the real certificate meanwhile",
        took.as_secs_f64(),
        100_000.0 / took.as_secs_f64(),
        after.saturating_sub(warm),
        goods.load(Ordering::Relaxed)
    );
    assert_eq!(failed, 0, "flood requests failed:\n{}", s.log());
    assert!(bad.is_empty(), "the real certificate's answers were not all good: {bad:?}");
    assert!(goods.load(Ordering::Relaxed) >= 3, "too few answers for the real certificate during the flood");
    assert!(after < warm + 32 * 1024, "RSS grew by {} KiB during the flood", after - warm);
    assert!(after < cold + 32 * 1024 + 64 * 1024, "RSS grew by {} KiB from cold", after - cold);
    // The cache holds the real certificate's answer only (unknown answers are not kept).
    let (code, metrics) = s.api("GET", "/metrics", None, "");
    assert_eq!(code, 200);
    let entries: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("carecert_ocsp_cache_entries "))
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!(entries <= 4, "{entries} cached OCSP answers after a flood of unknown serials");
}

/// Sends `GET /healthz` on a fresh connection; returns the time to the whole answer.
fn healthz(addr: &str) -> Duration {
    let t = Instant::now();
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut out = String::new();
    c.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    t.elapsed()
}

/// Whether the server has closed `c` (EOF or reset), without waiting.
fn closed(c: &mut TcpStream) -> bool {
    let mut b = [0u8; 64];
    match c.read(&mut b) {
        Ok(0) => true,
        Ok(_) => closed(c),
        Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
    }
}

#[test]
fn half_open_connections_are_closed_within_the_timeouts_and_healthz_stays_fast() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let cfg_dir = tempfile::tempdir().unwrap();
    let cfg = config(cfg_dir.path(), "");
    let s = Server::start_args(&["--config", cfg.to_str().unwrap()]);
    let (http, https) = (host_port(&s.http), host_port(&s.https));
    let timeout = Duration::from_secs(2);

    // 1,000 half-open connections: plain HTTP silent, plain HTTP with half a header, and
    // HTTPS without a TLS handshake.
    let t0 = Instant::now();
    let mut conns = vec![];
    for i in 0..1000 {
        let addr = if i % 5 == 4 { &https } else { &http };
        let mut c = TcpStream::connect(addr).unwrap();
        if i % 5 == 1 || i % 5 == 3 {
            c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").unwrap();
        }
        c.set_nonblocking(true).unwrap();
        conns.push((Instant::now(), c));
    }
    let opened = t0.elapsed();

    // Meanwhile /healthz answers at once, and no connection younger than the timeout (less
    // slack for this machine) has been closed: it is the timeout that closes them, not a cap.
    let mut slowest = Duration::ZERO;
    let mut probes = 0;
    let mut early = 0;
    let mut open: Vec<(Instant, TcpStream)> = vec![];
    while let Some((at, mut c)) = conns.pop() {
        if closed(&mut c) {
            if at.elapsed() < timeout - Duration::from_millis(300) {
                early += 1;
            }
        } else {
            open.push((at, c));
        }
    }
    // Every half-open connection is closed by the server within the timeout (plus slack for
    // the timer and this machine).
    let slack = Duration::from_millis(1500);
    let mut late = 0;
    let mut last_close = Duration::ZERO;
    while !open.is_empty() {
        open.retain_mut(|(at, c)| {
            if closed(c) {
                if at.elapsed() < timeout - Duration::from_millis(300) {
                    early += 1;
                }
                last_close = last_close.max(at.elapsed());
                false
            } else if at.elapsed() > timeout + slack {
                late += 1;
                false
            } else {
                true
            }
        });
        slowest = slowest.max(healthz(&http));
        probes += 1;
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!(
        "half-open: 1000 opened in {opened:?}; {early} closed before {:?} of age, {late} still open after {:?} of age; the slowest closed at {last_close:?} of age; /healthz slowest {slowest:?} over {probes} probes",
        timeout - Duration::from_millis(300),
        timeout + slack,
    );
    assert_eq!(late, 0, "{late} half-open connections were still open after {:?}", timeout + slack);
    assert_eq!(early, 0, "{early} connections were closed before the timeout: a cap, not the timeout");
    assert!(probes >= 10, "too few /healthz probes ({probes})");
    assert!(slowest < Duration::from_millis(100), "/healthz took {slowest:?} during the half-open flood");
}

#[test]
fn a_test_environment_closes_outside_addresses_at_accept_on_both_listeners() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let cfg_dir = tempfile::tempdir().unwrap();
    // Admits 127.0.0.1 (and its IPv4-mapped form) only: 127.0.0.2 is outside.
    let cfg = config(cfg_dir.path(), "[access]\nenvironment = \"test\"\nallow = [\"127.0.0.1/32\"]\n");
    let s = Server::start_args(&["--config", cfg.to_str().unwrap()]);
    let curl = |from: &str, url: String| {
        let o = std::process::Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5", "--interface", from, "--cacert"])
            .arg(s.root())
            .arg(url)
            .output()
            .unwrap();
        (o.status.code().unwrap_or(-1), String::from_utf8_lossy(&o.stdout).to_string())
    };
    assert_eq!(curl("127.0.0.1", format!("{}/healthz", s.http)).1, "200");
    assert_eq!(curl("127.0.0.1", format!("{}/healthz", s.https)).1, "200");
    for url in [format!("{}/healthz", s.http), format!("{}/ocsp/MAA=", s.http), format!("{}/healthz", s.https)] {
        let (rc, code) = curl("127.0.0.2", url.clone());
        // No HTTP status at all: the connection is closed before TLS or HTTP (curl 52/56/35).
        assert_eq!(code, "000", "{url} answered from outside the allow-list");
        assert_ne!(rc, 0, "{url}");
    }
}
