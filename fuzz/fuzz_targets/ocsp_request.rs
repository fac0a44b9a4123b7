//! Fuzz target: a DER OCSP request as the responder receives it (POST body or the
//! base64 of a GET path), through `pki::ocsp::parse_request` — what `ca::ocsp` calls
//! before it looks anything up.
#![forbid(unsafe_code)]

fn main() {
    afl::fuzz!(|data: &[u8]| {
        if let Ok(parsed) = pki::ocsp::parse_request(data) {
            // What the responder reads next from every query.
            for q in &parsed.queries {
                let _ = (q.hash, q.serial_hex.len(), q.cert_id.issuer_name_hash.as_bytes().len());
            }
        }
    });
}
