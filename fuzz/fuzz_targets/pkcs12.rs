//! Fuzz target: a PKCS#12 file as `ecmt` and the admin CLI read it, through
//! `pki::pkcs12::read`. The seed files are protected with the password below, so mutated
//! inputs get past the MAC check often enough to reach the bag parsing.
#![forbid(unsafe_code)]

/// The password of every file in `corpus/pkcs12`.
const PASSWORD: &str = "fuzz";

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let _ = pki::pkcs12::read(data, PASSWORD);
    });
}
