//! Fuzz target: a certificate request as the server receives it (PEM or DER), through
//! `pki::VerifiedCsr::parse` — the one place a CSR from outside is parsed (ecmt requests,
//! card issuance and renewal).
#![forbid(unsafe_code)]

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let _ = pki::VerifiedCsr::parse(data);
    });
}
