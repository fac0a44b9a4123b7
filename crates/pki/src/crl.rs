//! CRL encoding (RFC 5280 §5), written straight into one buffer.
//!
//! A CRL of a million entries must build in well under a second, so entries are encoded
//! into a single pre-sized `Vec<u8>` with no allocation per entry; only the signature
//! goes through the [`Signer`](crate::Signer). The DER is plain TLV writing of a fixed
//! structure; nothing cryptographic is done here.

use time::OffsetDateTime;

use crate::{CaIdentity, PkiError, RevocationReason};

/// One revoked certificate as it appears on a CRL.
#[derive(Debug, Clone, Copy)]
pub struct RevokedEntry<'a> {
    /// The serial's big-endian magnitude bytes.
    pub serial: &'a [u8],
    /// Revocation time, Unix seconds.
    pub revoked_at: i64,
    /// The reason; `Unspecified` is written as no reasonCode, as RFC 5280 §5.3.1 asks.
    pub reason: RevocationReason,
}

/// CRL entries already DER-encoded, in order: kept between the CRLs of one CA so that a new
/// CRL only encodes the entries added since the last (`ca::crl`'s kept list). Appending is
/// the only change; a list that loses entries is encoded again.
#[derive(Debug, Default, Clone)]
pub struct EncodedEntries {
    der: Vec<u8>,
    count: usize,
}

impl EncodedEntries {
    /// Appends one entry.
    pub fn push(&mut self, e: &RevokedEntry<'_>) -> Result<(), PkiError> {
        write_entry(&mut self.der, e)?;
        self.count += 1;
        Ok(())
    }

    /// How many entries.
    pub fn len(&self) -> usize {
        self.count
    }

    /// No entries.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Gives back the buffer's spare capacity (a list read once and then kept).
    pub fn shrink_to_fit(&mut self) {
        self.der.shrink_to_fit();
    }

    /// Keeps the entries for whose position (0, 1, …) `keep` says true, in order, in the
    /// same buffer: a kept list drops its expired entries without encoding the rest again,
    /// so it needs to keep nothing of an entry but its encoding and its notAfter.
    pub fn retain(&mut self, mut keep: impl FnMut(usize) -> bool) -> Result<(), PkiError> {
        let (mut read, mut write, mut index, mut kept) = (0usize, 0usize, 0usize, 0usize);
        while read < self.der.len() {
            let len = entry_len(&self.der[read..])
                .ok_or_else(|| PkiError::Invalid("a kept CRL entry is not a DER SEQUENCE".into()))?;
            if keep(index) {
                self.der.copy_within(read..read + len, write);
                write += len;
                kept += 1;
            }
            read += len;
            index += 1;
        }
        self.der.truncate(write);
        self.count = kept;
        Ok(())
    }
}

/// Builds and signs a complete v2 CRL (DER) for `ca`.
pub fn build_crl<'a>(
    ca: &CaIdentity,
    crl_number: u64,
    this_update: OffsetDateTime,
    next_update: OffsetDateTime,
    entries: impl IntoIterator<Item = RevokedEntry<'a>>,
) -> Result<Vec<u8>, PkiError> {
    let entries = entries.into_iter();
    // revokedCertificates content, ~46 bytes an entry.
    let mut encoded = EncodedEntries { der: Vec::with_capacity(entries.size_hint().0 * 48), count: 0 };
    for e in entries {
        encoded.push(&e)?;
    }
    build_crl_encoded(ca, crl_number, this_update, next_update, &[&encoded], None)
}

/// Builds and signs a complete v2 CRL (DER) for `ca` from entries encoded before, listed
/// part after part. The entries are copied twice (into the signed part, then into the CRL),
/// nothing else grows with them but the hash of the signature.
///
/// `distribution_point`: `None` for a CRL of everything the CA revoked; `Some(url)` for a
/// CRL that covers only the end-entity certificates whose CRL distribution point is `url`
/// (a shard). Such a CRL carries a critical issuingDistributionPoint naming `url`, with
/// onlyContainsUserCerts (RFC 5280 §5.2.5), so that a relying party knows its scope.
pub fn build_crl_encoded(
    ca: &CaIdentity,
    crl_number: u64,
    this_update: OffsetDateTime,
    next_update: OffsetDateTime,
    parts: &[&EncodedEntries],
    distribution_point: Option<&str>,
) -> Result<Vec<u8>, PkiError> {
    if next_update <= this_update {
        return Err(PkiError::Invalid("nextUpdate must be after thisUpdate".into()));
    }
    let alg = ca.signer().algorithm().signature_algorithm_der();
    let exts = crl_extensions(&ca.key_id, crl_number, distribution_point)?;
    let count: usize = parts.iter().map(|p| p.count).sum();
    let mut times = Vec::with_capacity(34);
    write_time(&mut times, this_update.unix_timestamp())?;
    write_time(&mut times, next_update.unix_timestamp())?;
    let revoked_len: usize = parts.iter().map(|p| p.der.len()).sum();
    let revoked_part = if count > 0 { 1 + len_of_len(revoked_len) + revoked_len } else { 0 };
    let tbs_body_len =
        3 + alg.len() + ca.subject_der.len() + times.len() + revoked_part + 1 + len_of_len(exts.len()) + exts.len();

    let mut tbs = Vec::with_capacity(1 + len_of_len(tbs_body_len) + tbs_body_len);
    write_header(&mut tbs, 0x30, tbs_body_len);
    tbs.extend_from_slice(&[0x02, 0x01, 0x01]); // version v2
    tbs.extend_from_slice(alg);
    tbs.extend_from_slice(&ca.subject_der);
    tbs.extend_from_slice(&times);
    if count > 0 {
        write_header(&mut tbs, 0x30, revoked_len);
        for p in parts {
            tbs.extend_from_slice(&p.der);
        }
    }
    write_header(&mut tbs, 0xa0, exts.len());
    tbs.extend_from_slice(&exts);

    let signature = ca.signer().sign(&tbs)?;
    let mut body_len = tbs.len() + alg.len();
    let sig_bits_len = signature.len() + 1;
    body_len += 1 + len_of_len(sig_bits_len) + sig_bits_len;
    let mut out = Vec::with_capacity(body_len + 6);
    write_header(&mut out, 0x30, body_len);
    out.extend_from_slice(&tbs);
    out.extend_from_slice(alg);
    write_header(&mut out, 0x03, sig_bits_len);
    out.push(0);
    out.extend_from_slice(&signature);
    Ok(out)
}

fn write_entry(out: &mut Vec<u8>, e: &RevokedEntry<'_>) -> Result<(), PkiError> {
    let start = e.serial.iter().position(|b| *b != 0).unwrap_or(e.serial.len().saturating_sub(1));
    let mag = &e.serial[start..];
    if mag.is_empty() || mag.len() > 20 {
        return Err(PkiError::Invalid("a revoked serial must be 1 to 20 bytes".into()));
    }
    let pad = usize::from(mag[0] & 0x80 != 0);
    let int_len = 2 + pad + mag.len();
    let time_len = if is_utc_time(e.revoked_at)? { 15 } else { 17 };
    let ext_len = if e.reason == RevocationReason::Unspecified { 0 } else { 14 };
    write_header(out, 0x30, int_len + time_len + ext_len);
    out.push(0x02);
    out.push((pad + mag.len()) as u8);
    if pad == 1 {
        out.push(0);
    }
    out.extend_from_slice(mag);
    write_time(out, e.revoked_at)?;
    if ext_len > 0 {
        // Extensions ::= SEQUENCE { Extension { reasonCode, OCTET STRING { ENUMERATED } } }
        out.extend_from_slice(&[0x30, 0x0c, 0x30, 0x0a, 0x06, 0x03, 0x55, 0x1d, 0x15, 0x04, 0x03, 0x0a, 0x01]);
        out.push(e.reason.code());
    }
    Ok(())
}

fn crl_extensions(key_id: &[u8], crl_number: u64, distribution_point: Option<&str>) -> Result<Vec<u8>, PkiError> {
    let mut exts = Vec::with_capacity(64);
    // authorityKeyIdentifier { keyIdentifier [0] }
    let mut aki = Vec::with_capacity(key_id.len() + 4);
    write_header(&mut aki, 0x80, key_id.len());
    aki.extend_from_slice(key_id);
    let mut aki_seq = Vec::new();
    write_header(&mut aki_seq, 0x30, aki.len());
    aki_seq.extend_from_slice(&aki);
    push_extension(&mut exts, &[0x55, 0x1d, 0x23], &aki_seq, false);
    // cRLNumber INTEGER
    let n = crl_number.to_be_bytes();
    let start = n.iter().position(|b| *b != 0).unwrap_or(7);
    let mut int = vec![0x02];
    let pad = usize::from(n[start] & 0x80 != 0);
    int.push((8 - start + pad) as u8);
    if pad == 1 {
        int.push(0);
    }
    int.extend_from_slice(&n[start..]);
    push_extension(&mut exts, &[0x55, 0x1d, 0x14], &int, false);
    if let Some(url) = distribution_point {
        push_extension(&mut exts, &[0x55, 0x1d, 0x1c], &issuing_distribution_point(url)?, true);
    }
    let mut seq = Vec::with_capacity(exts.len() + 4);
    write_header(&mut seq, 0x30, exts.len());
    seq.extend_from_slice(&exts);
    Ok(seq)
}

/// IssuingDistributionPoint ::= SEQUENCE { distributionPoint [0] { fullName [0] GeneralNames
/// { uniformResourceIdentifier [6] IA5String } }, onlyContainsUserCerts [1] TRUE }
fn issuing_distribution_point(url: &str) -> Result<Vec<u8>, PkiError> {
    if url.is_empty() || !url.is_ascii() || url.bytes().any(|b| b.is_ascii_control() || b == b' ') {
        return Err(PkiError::Invalid(format!("'{url}' cannot be a CRL distribution point (an ASCII URL is needed)")));
    }
    let mut uri = Vec::with_capacity(url.len() + 4);
    write_header(&mut uri, 0x86, url.len());
    uri.extend_from_slice(url.as_bytes());
    let mut full_name = Vec::with_capacity(uri.len() + 4);
    write_header(&mut full_name, 0xa0, uri.len());
    full_name.extend_from_slice(&uri);
    let mut dp = Vec::with_capacity(full_name.len() + 4);
    write_header(&mut dp, 0xa0, full_name.len());
    dp.extend_from_slice(&full_name);
    let only_user = [0x81, 0x01, 0xff];
    let mut idp = Vec::with_capacity(dp.len() + 8);
    write_header(&mut idp, 0x30, dp.len() + only_user.len());
    idp.extend_from_slice(&dp);
    idp.extend_from_slice(&only_user);
    Ok(idp)
}

fn push_extension(out: &mut Vec<u8>, oid: &[u8], value: &[u8], critical: bool) {
    let oid_len = 2 + oid.len();
    let crit_len = if critical { 3 } else { 0 };
    let oct_len = 1 + len_of_len(value.len()) + value.len();
    write_header(out, 0x30, oid_len + crit_len + oct_len);
    out.push(0x06);
    out.push(oid.len() as u8);
    out.extend_from_slice(oid);
    if critical {
        out.extend_from_slice(&[0x01, 0x01, 0xff]);
    }
    write_header(out, 0x04, value.len());
    out.extend_from_slice(value);
}

/// RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050.
fn is_utc_time(unix: i64) -> Result<bool, PkiError> {
    let t = OffsetDateTime::from_unix_timestamp(unix).map_err(|_| PkiError::Invalid("time out of range".into()))?;
    Ok((1950..2050).contains(&t.year()))
}

fn write_time(out: &mut Vec<u8>, unix: i64) -> Result<(), PkiError> {
    let t = OffsetDateTime::from_unix_timestamp(unix).map_err(|_| PkiError::Invalid("time out of range".into()))?;
    let year = t.year();
    if !(0..=9999).contains(&year) {
        return Err(PkiError::Invalid("time out of range".into()));
    }
    let mut buf = [0u8; 15];
    let mut i = 0;
    let mut two = |v: u32, buf: &mut [u8; 15]| {
        buf[i] = b'0' + (v / 10) as u8;
        buf[i + 1] = b'0' + (v % 10) as u8;
        i += 2;
    };
    let utc = (1950..2050).contains(&year);
    if utc {
        out.extend_from_slice(&[0x17, 13]);
        two((year % 100) as u32, &mut buf);
    } else {
        out.extend_from_slice(&[0x18, 15]);
        two((year / 100) as u32, &mut buf);
        two((year % 100) as u32, &mut buf);
    }
    two(u8::from(t.month()) as u32, &mut buf);
    two(t.day() as u32, &mut buf);
    two(t.hour() as u32, &mut buf);
    two(t.minute() as u32, &mut buf);
    two(t.second() as u32, &mut buf);
    buf[i] = b'Z';
    out.extend_from_slice(&buf[..=i]);
    Ok(())
}

/// The length (header included) of the DER SEQUENCE at the start of `der`, if it is one
/// that fits in `der`.
fn entry_len(der: &[u8]) -> Option<usize> {
    if *der.first()? != 0x30 {
        return None;
    }
    let first = usize::from(*der.get(1)?);
    let (header, body) = if first < 0x80 {
        (2, first)
    } else {
        let n = first & 0x7f;
        if n == 0 || n > 4 {
            return None;
        }
        let bytes = der.get(2..2 + n)?;
        (2 + n, bytes.iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b)))
    };
    let total = header.checked_add(body)?;
    (total <= der.len()).then_some(total)
}

fn len_of_len(len: usize) -> usize {
    match len {
        0..=0x7f => 1,
        0x80..=0xff => 2,
        0x100..=0xffff => 3,
        0x1_0000..=0xff_ffff => 4,
        _ => 5,
    }
}

fn write_header(out: &mut Vec<u8>, tag: u8, len: usize) {
    out.push(tag);
    match len {
        0..=0x7f => out.push(len as u8),
        0x80..=0xff => out.extend_from_slice(&[0x81, len as u8]),
        0x100..=0xffff => out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]),
        0x1_0000..=0xff_ffff => out.extend_from_slice(&[0x83, (len >> 16) as u8, (len >> 8) as u8, len as u8]),
        _ => out.extend_from_slice(&[0x84, (len >> 24) as u8, (len >> 16) as u8, (len >> 8) as u8, len as u8]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::test_ca;
    use x509_parser::prelude::*;

    #[test]
    fn entries_encoded_before_give_the_same_crl_entries() {
        let ca = test_ca();
        let now = OffsetDateTime::from_unix_timestamp(1_790_000_000).unwrap();
        let serials: Vec<[u8; 16]> = (0..50u8).map(|i| [0x80 | i; 16]).collect();
        let entry = |i: usize| RevokedEntry {
            serial: &serials[i],
            revoked_at: 1_789_000_000 + i as i64,
            reason: if i.is_multiple_of(2) { RevocationReason::Superseded } else { RevocationReason::Unspecified },
        };
        let mut kept = EncodedEntries::default();
        for i in 0..serials.len() {
            kept.push(&entry(i)).unwrap();
        }
        assert_eq!(kept.len(), 50);
        let next = now + ::time::Duration::days(1);
        let a = build_crl(&ca, 3, now, next, (0..serials.len()).map(entry)).unwrap();
        let b = build_crl_encoded(&ca, 3, now, next, &[&kept], None).unwrap();
        let (_, crl_a) = CertificateRevocationList::from_der(&a).unwrap();
        let (rest, cb) = CertificateRevocationList::from_der(&b).unwrap();
        assert!(rest.is_empty());
        // Same signed content (the ECDSA signatures differ), and the signature verifies.
        assert_eq!(crl_a.tbs_cert_list.as_ref(), cb.tbs_cert_list.as_ref());
        let (_, ca_cert) = X509Certificate::from_der(&ca.cert_der).unwrap();
        cb.verify_signature(ca_cert.public_key()).unwrap();
        assert_eq!(cb.iter_revoked_certificates().count(), 50);
        let empty = build_crl_encoded(&ca, 4, now, next, &[&EncodedEntries::default()], None).unwrap();
        let (_, ce) = CertificateRevocationList::from_der(&empty).unwrap();
        assert_eq!(ce.iter_revoked_certificates().count(), 0);
    }

    #[test]
    fn retained_entries_equal_the_kept_ones_encoded_afresh() {
        let serials: Vec<Vec<u8>> = (0..40u8).map(|i| vec![i; 1 + usize::from(i % 20)]).collect();
        let entry = |i: usize| RevokedEntry {
            serial: &serials[i],
            // both time forms (UTCTime before 2050, GeneralizedTime after) and both lengths
            revoked_at: if i.is_multiple_of(3) { 2_600_000_000 } else { 1_789_000_000 } + i as i64,
            reason: if i.is_multiple_of(2) { RevocationReason::KeyCompromise } else { RevocationReason::Unspecified },
        };
        let mut all = EncodedEntries::default();
        for i in 0..serials.len() {
            all.push(&entry(i)).unwrap();
        }
        let keep = |i: usize| i % 4 != 1 && i != 39;
        all.retain(keep).unwrap();
        let mut fresh = EncodedEntries::default();
        for i in (0..serials.len()).filter(|i| keep(*i)) {
            fresh.push(&entry(i)).unwrap();
        }
        assert_eq!(all.len(), fresh.len());
        assert_eq!(all.len(), 29);
        assert_eq!(all.der, fresh.der);
        all.retain(|_| false).unwrap();
        assert!(all.is_empty() && all.der.is_empty());
        let mut broken = EncodedEntries { der: vec![0x30, 0x05, 0x02], count: 1 };
        assert!(broken.retain(|_| true).is_err(), "an entry longer than the buffer is refused");
    }

    #[test]
    fn a_shard_lists_its_parts_in_order_and_names_its_distribution_point() {
        let ca = test_ca();
        let now = OffsetDateTime::from_unix_timestamp(1_790_000_000).unwrap();
        let next = now + ::time::Duration::days(1);
        let serials: Vec<[u8; 16]> = (0..30u8).map(|i| [0x10 + i; 16]).collect();
        let (mut a, mut b) = (EncodedEntries::default(), EncodedEntries::default());
        for (i, s) in serials.iter().enumerate() {
            let e = RevokedEntry { serial: s, revoked_at: 1_789_000_000, reason: RevocationReason::Superseded };
            if i < 10 { a.push(&e) } else { b.push(&e) }.unwrap();
        }
        let url = "http://pki.example.nhs.uk/crl/systems/7.crl";
        let der = build_crl_encoded(&ca, 9, now, next, &[&a, &EncodedEntries::default(), &b], Some(url)).unwrap();
        let (rest, crl) = CertificateRevocationList::from_der(&der).unwrap();
        assert!(rest.is_empty());
        let listed: Vec<&[u8]> = crl.iter_revoked_certificates().map(|r| r.raw_serial()).collect();
        assert_eq!(listed, serials.iter().map(|s| &s[..]).collect::<Vec<_>>());
        let (_, ca_cert) = X509Certificate::from_der(&ca.cert_der).unwrap();
        crl.verify_signature(ca_cert.public_key()).unwrap();
        let idp = crl
            .extensions()
            .iter()
            .find(|e| e.oid == x509_parser::oid_registry::OID_X509_EXT_ISSUER_DISTRIBUTION_POINT)
            .expect("a shard names its distribution point");
        assert!(idp.critical, "issuingDistributionPoint is critical (RFC 5280 5.2.5)");
        let ParsedExtension::IssuingDistributionPoint(p) = idp.parsed_extension() else {
            panic!("issuingDistributionPoint did not parse: {:?}", idp.parsed_extension())
        };
        assert!(p.only_contains_user_certs && !p.only_contains_ca_certs && !p.indirect_crl);
        let Some(DistributionPointName::FullName(names)) = &p.distribution_point else { panic!("no fullName") };
        assert!(matches!(names.as_slice(), [GeneralName::URI(u)] if *u == url));
        // The whole CRL has no such extension; a URL that is not one is refused.
        let whole = build_crl_encoded(&ca, 10, now, next, &[&a, &b], None).unwrap();
        let (_, w) = CertificateRevocationList::from_der(&whole).unwrap();
        assert!(
            w.extensions().iter().all(|e| e.oid != x509_parser::oid_registry::OID_X509_EXT_ISSUER_DISTRIBUTION_POINT)
        );
        assert!(build_crl_encoded(&ca, 11, now, next, &[&a], Some("http://bad url")).is_err());
    }

    #[test]
    fn crl_parses_and_lists_entries_with_reasons() {
        let ca = test_ca();
        let now = OffsetDateTime::from_unix_timestamp(1_790_000_000).unwrap();
        let serials: Vec<[u8; 16]> = (0..300u32)
            .map(|i| {
                let mut s = [0x42u8; 16];
                s[12..].copy_from_slice(&i.to_be_bytes());
                if i % 2 == 0 {
                    s[0] = 0x85
                } // high bit: needs a leading zero
                s
            })
            .collect();
        let entries = serials.iter().enumerate().map(|(i, s)| RevokedEntry {
            serial: s,
            revoked_at: 1_789_000_000 + i as i64,
            reason: if i % 3 == 0 { RevocationReason::KeyCompromise } else { RevocationReason::Unspecified },
        });
        let der = build_crl(&ca, 7, now, now + ::time::Duration::days(1), entries).unwrap();
        let (rest, crl) = CertificateRevocationList::from_der(&der).unwrap();
        assert!(rest.is_empty());
        assert_eq!(crl.iter_revoked_certificates().count(), 300);
        assert_eq!(crl.crl_number().map(|n| n.to_string()), Some("7".into()));
        let first = crl.iter_revoked_certificates().next().unwrap();
        assert_eq!(first.raw_serial()[0], 0, "high-bit serial gets a leading zero");
        assert_eq!(&first.raw_serial()[1..], &serials[0][..]);
        assert_eq!(first.reason_code().map(|(_, r)| r.0), Some(1));
        // the signature verifies under the CA's key
        let (_, ca_cert) = X509Certificate::from_der(&ca.cert_der).unwrap();
        crl.verify_signature(ca_cert.public_key()).unwrap();
    }

    #[test]
    fn empty_crl_omits_the_revoked_list() {
        let ca = test_ca();
        let now = OffsetDateTime::from_unix_timestamp(1_790_000_000).unwrap();
        let der = build_crl(&ca, 1, now, now + ::time::Duration::days(1), []).unwrap();
        let (_, crl) = CertificateRevocationList::from_der(&der).unwrap();
        assert_eq!(crl.iter_revoked_certificates().count(), 0);
    }
}
