//! Key pairs, the key policy, and the [`Signer`] abstraction.

use std::sync::Arc;

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use pkcs8::der::Decode;
use pkcs8::{EncryptedPrivateKeyInfo, LineEnding, PrivateKeyInfo};
use rcgen::{PublicKeyData, SigningKey};
use x509_parser::prelude::FromDer;
use x509_parser::public_key::PublicKey;
use x509_parser::x509::SubjectPublicKeyInfo;

use crate::PkiError;

/// PBKDF2 rounds used when encrypting a private key at rest.
///
/// OWASP (2021) asks at least 310,000 rounds of PBKDF2-HMAC-SHA256; CA keys are decrypted once at
/// start-up, so the cost is paid once per process.
pub const PBKDF2_ROUNDS: u32 = 310_000;

/// The kinds of public key carecert accepts and generates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyAlgorithm {
    /// ECDSA on NIST P-256 with SHA-256 (the default).
    EcdsaP256,
    /// ECDSA on NIST P-384 with SHA-384.
    EcdsaP384,
    /// RSA with the given modulus size, signing with PKCS#1 v1.5 and SHA-256.
    Rsa {
        /// Modulus size in bits.
        bits: u32,
    },
}

impl KeyAlgorithm {
    /// Smallest RSA modulus accepted.
    pub const MIN_RSA_BITS: u32 = 2048;
    /// Largest RSA modulus accepted (bounds the CPU an incoming key can cost).
    pub const MAX_RSA_BITS: u32 = 8192;

    /// Parses a name as used on command lines: `p256`, `p384`, `rsa2048`, `rsa3072`, `rsa4096`.
    pub fn parse(s: &str) -> Result<Self, PkiError> {
        match s.to_ascii_lowercase().replace(['-', '_'], "").as_str() {
            "p256" | "ecdsap256" | "ec" | "ecdsa" => Ok(Self::EcdsaP256),
            "p384" | "ecdsap384" => Ok(Self::EcdsaP384),
            "rsa2048" | "rsa" => Ok(Self::Rsa { bits: 2048 }),
            "rsa3072" => Ok(Self::Rsa { bits: 3072 }),
            "rsa4096" => Ok(Self::Rsa { bits: 4096 }),
            other => Err(PkiError::Invalid(format!(
                "unknown key algorithm '{other}': use p256, p384, rsa2048, rsa3072 or rsa4096"
            ))),
        }
    }

    /// A short name (`p256`, `rsa3072`, …).
    pub fn name(self) -> String {
        match self {
            Self::EcdsaP256 => "p256".into(),
            Self::EcdsaP384 => "p384".into(),
            Self::Rsa { bits } => format!("rsa{bits}"),
        }
    }

    /// The rcgen signature algorithm that signs with (and describes) this key.
    pub fn rcgen_alg(self) -> &'static rcgen::SignatureAlgorithm {
        match self {
            Self::EcdsaP256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            Self::EcdsaP384 => &rcgen::PKCS_ECDSA_P384_SHA384,
            Self::Rsa { .. } => &rcgen::PKCS_RSA_SHA256,
        }
    }

    /// DER of the `AlgorithmIdentifier` of signatures made with this key.
    pub fn signature_algorithm_der(self) -> &'static [u8] {
        match self {
            // ecdsa-with-SHA256, no parameters (RFC 5758 §3.2)
            Self::EcdsaP256 => &[0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02],
            // ecdsa-with-SHA384
            Self::EcdsaP384 => &[0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03],
            // sha256WithRSAEncryption, NULL parameters (RFC 4055)
            Self::Rsa { .. } => {
                &[0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x05, 0x00]
            }
        }
    }

    /// Classifies a SubjectPublicKeyInfo and applies the key policy: ECDSA on P-256 or
    /// P-384, or RSA from 2048 to 8192 bits with an odd public exponent ≥ 3.
    pub fn from_spki(spki_der: &[u8]) -> Result<Self, PkiError> {
        let (rest, spki) =
            SubjectPublicKeyInfo::from_der(spki_der).map_err(|e| PkiError::malformed("public key", e))?;
        if !rest.is_empty() {
            return Err(PkiError::malformed("public key", "trailing bytes after SubjectPublicKeyInfo"));
        }
        Self::from_parsed_spki(&spki)
    }

    pub(crate) fn from_parsed_spki(spki: &SubjectPublicKeyInfo<'_>) -> Result<Self, PkiError> {
        let parsed = spki.parsed().map_err(|e| PkiError::WeakKey(format!("unsupported public key: {e}")))?;
        match parsed {
            PublicKey::EC(_) => {
                let curve = spki
                    .algorithm
                    .parameters
                    .as_ref()
                    .and_then(|p| p.as_oid().ok())
                    .map(|o| o.to_id_string())
                    .unwrap_or_default();
                match curve.as_str() {
                    "1.2.840.10045.3.1.7" => Ok(Self::EcdsaP256),
                    "1.3.132.0.34" => Ok(Self::EcdsaP384),
                    "" => Err(PkiError::WeakKey("EC key without a named curve".into())),
                    other => Err(PkiError::WeakKey(format!("EC curve {other} is not accepted: use P-256 or P-384"))),
                }
            }
            PublicKey::RSA(rsa) => {
                let bits = rsa.key_size() as u32;
                if bits < Self::MIN_RSA_BITS {
                    return Err(PkiError::WeakKey(format!(
                        "RSA key of {bits} bits is too small: use at least {} bits (or ECDSA P-256)",
                        Self::MIN_RSA_BITS
                    )));
                }
                if bits > Self::MAX_RSA_BITS {
                    return Err(PkiError::WeakKey(format!(
                        "RSA key of {bits} bits is larger than the {} bits accepted",
                        Self::MAX_RSA_BITS
                    )));
                }
                let e = rsa.try_exponent().map_err(|_| PkiError::WeakKey("RSA exponent too large".into()))?;
                if e < 3 || e % 2 == 0 {
                    return Err(PkiError::WeakKey(format!("RSA public exponent {e} is not allowed")));
                }
                Ok(Self::Rsa { bits })
            }
            _ => Err(PkiError::WeakKey(format!(
                "key algorithm {} is not accepted: use ECDSA P-256, P-384 or RSA ≥ 2048",
                spki.algorithm.algorithm.to_id_string()
            ))),
        }
    }
}

/// Something that can make X.509 signatures: a key in memory, or a key in an HSM or card.
///
/// Signatures are returned as they appear in X.509 (DER `ECDSA-Sig-Value` for ECDSA,
/// the raw PKCS#1 v1.5 block for RSA).
pub trait Signer: Send + Sync {
    /// The key's algorithm (which also fixes the signature algorithm).
    fn algorithm(&self) -> KeyAlgorithm;
    /// The DER SubjectPublicKeyInfo of the key.
    fn public_key_spki(&self) -> &[u8];
    /// Signs `message` (the signer hashes it).
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, PkiError>;
    /// Whether signing happens in this process's memory (nothing outside it sees the
    /// signature until the process hands it out). A key on a token or card says `false`.
    fn in_process(&self) -> bool {
        false
    }
}

/// A key pair held in memory (aws-lc-rs through rcgen).
pub struct KeyPair {
    inner: rcgen::KeyPair,
    algorithm: KeyAlgorithm,
    spki: Vec<u8>,
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPair").field("algorithm", &self.algorithm).finish_non_exhaustive()
    }
}

impl KeyPair {
    /// Generates a fresh key pair.
    pub fn generate(algorithm: KeyAlgorithm) -> Result<Self, PkiError> {
        let inner = match algorithm {
            KeyAlgorithm::EcdsaP256 | KeyAlgorithm::EcdsaP384 => rcgen::KeyPair::generate_for(algorithm.rcgen_alg()),
            KeyAlgorithm::Rsa { bits } => {
                let size = match bits {
                    2048 => rcgen::RsaKeySize::_2048,
                    3072 => rcgen::RsaKeySize::_3072,
                    4096 => rcgen::RsaKeySize::_4096,
                    other => {
                        return Err(PkiError::Invalid(format!(
                            "cannot generate RSA-{other}: choose 2048, 3072 or 4096"
                        )));
                    }
                };
                rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, size)
            }
        }
        .map_err(|e| PkiError::Signing(format!("key generation failed: {e}")))?;
        Self::from_rcgen(inner)
    }

    fn from_rcgen(inner: rcgen::KeyPair) -> Result<Self, PkiError> {
        let spki = inner.subject_public_key_info();
        let algorithm = KeyAlgorithm::from_spki(&spki)?;
        Ok(Self { inner, algorithm, spki })
    }

    /// A PKCS#10 request (DER) for this key, signed with it (proof of possession). The
    /// subject is informational: carecert's CA sets the subject from its own records.
    pub fn csr_der(&self, common_name: &str) -> Result<Vec<u8>, PkiError> {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new())
            .map_err(|e| PkiError::Invalid(format!("request parameters: {e}")))?;
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(rcgen::DnType::CommonName, common_name);
        let csr = params
            .serialize_request(&self.inner)
            .map_err(|e| PkiError::Signing(format!("signing the request: {e}")))?;
        Ok(csr.der().to_vec())
    }

    /// Reads an unencrypted PKCS#8 DER private key.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, PkiError> {
        let inner = rcgen::KeyPair::try_from(der).map_err(|e| PkiError::malformed("private key", e))?;
        Self::from_rcgen(inner)
    }

    /// Reads a PEM private key: PKCS#8 (`PRIVATE KEY`), or encrypted PKCS#8
    /// (`ENCRYPTED PRIVATE KEY`) when a passphrase is given.
    pub fn from_pem(pem_text: &str, passphrase: Option<&[u8]>) -> Result<Self, PkiError> {
        let block = pem::parse(pem_text).map_err(|e| PkiError::malformed("private key PEM", e))?;
        match block.tag() {
            "ENCRYPTED PRIVATE KEY" => {
                let pass = passphrase.ok_or_else(|| {
                    PkiError::Invalid("the private key is encrypted and no passphrase was given".into())
                })?;
                Self::from_encrypted_pkcs8_der(block.contents(), pass)
            }
            "PRIVATE KEY" => Self::from_pkcs8_der(block.contents()),
            other => Err(PkiError::malformed("private key PEM", format!("unexpected PEM label '{other}'"))),
        }
    }

    /// Decrypts an `EncryptedPrivateKeyInfo` (PKCS#8 / PBES2).
    pub fn from_encrypted_pkcs8_der(der: &[u8], passphrase: &[u8]) -> Result<Self, PkiError> {
        let enc =
            EncryptedPrivateKeyInfo::from_der(der).map_err(|e| PkiError::malformed("encrypted private key", e))?;
        let doc = enc.decrypt(passphrase).map_err(|_| PkiError::WrongPassphrase)?;
        Self::from_pkcs8_der(doc.as_bytes())
    }

    /// The unencrypted PKCS#8 DER. Handle with care.
    pub fn pkcs8_der(&self) -> &[u8] {
        self.inner.serialized_der()
    }

    /// The unencrypted PKCS#8 PEM (`PRIVATE KEY`). Handle with care.
    pub fn pkcs8_pem(&self) -> String {
        self.inner.serialize_pem()
    }

    /// The key encrypted with PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC) as
    /// `ENCRYPTED PRIVATE KEY` PEM, which `openssl pkey` reads with the passphrase.
    pub fn encrypted_pkcs8_pem(&self, passphrase: &[u8], rounds: u32) -> Result<String, PkiError> {
        let rng = SystemRandom::new();
        let mut salt = [0u8; 16];
        let mut iv = [0u8; 16];
        rng.fill(&mut salt).map_err(|_| PkiError::Signing("random generator failed".into()))?;
        rng.fill(&mut iv).map_err(|_| PkiError::Signing("random generator failed".into()))?;
        let params = pkcs8::pkcs5::pbes2::Parameters::pbkdf2_sha256_aes256cbc(rounds, &salt, &iv)
            .map_err(|e| PkiError::Invalid(e.to_string()))?;
        let info = PrivateKeyInfo::from_der(self.pkcs8_der()).map_err(|e| PkiError::malformed("private key", e))?;
        let doc = info
            .encrypt_with_params(params, passphrase)
            .map_err(|e| PkiError::Signing(format!("key encryption failed: {e}")))?;
        let pem = doc
            .to_pem("ENCRYPTED PRIVATE KEY", LineEnding::LF)
            .map_err(|e| PkiError::Signing(format!("PEM encoding failed: {e}")))?;
        Ok(pem.to_string())
    }

    /// Wraps the key for sharing between threads.
    pub fn into_signer(self) -> Arc<dyn Signer> {
        Arc::new(self)
    }
}

impl Signer for KeyPair {
    fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }
    fn public_key_spki(&self) -> &[u8] {
        &self.spki
    }
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, PkiError> {
        SigningKey::sign(&self.inner, message).map_err(|e| PkiError::Signing(e.to_string()))
    }
    fn in_process(&self) -> bool {
        true
    }
}

/// Adapts any [`Signer`] to rcgen's signing traits.
#[derive(Clone)]
pub(crate) struct RcgenSigner {
    signer: Arc<dyn Signer>,
    subject_public_key: Vec<u8>,
}

impl RcgenSigner {
    pub(crate) fn new(signer: Arc<dyn Signer>) -> Result<Self, PkiError> {
        let subject_public_key = PublicKeyBits::from_spki(signer.public_key_spki())?.bits;
        Ok(Self { signer, subject_public_key })
    }
}

impl PublicKeyData for RcgenSigner {
    fn der_bytes(&self) -> &[u8] {
        &self.subject_public_key
    }
    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        self.signer.algorithm().rcgen_alg()
    }
    fn subject_public_key_info(&self) -> Vec<u8> {
        self.signer.public_key_spki().to_vec()
    }
}

impl SigningKey for RcgenSigner {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        self.signer.sign(msg).map_err(|_| rcgen::Error::RemoteKeyError)
    }
}

/// A subject's public key as rcgen wants it: the algorithm and the BIT STRING contents.
#[derive(Debug, Clone)]
pub(crate) struct PublicKeyBits {
    pub(crate) algorithm: KeyAlgorithm,
    pub(crate) bits: Vec<u8>,
    pub(crate) spki: Vec<u8>,
}

impl PublicKeyBits {
    pub(crate) fn from_spki(spki_der: &[u8]) -> Result<Self, PkiError> {
        let (_, spki) = SubjectPublicKeyInfo::from_der(spki_der).map_err(|e| PkiError::malformed("public key", e))?;
        let algorithm = KeyAlgorithm::from_parsed_spki(&spki)?;
        Ok(Self { algorithm, bits: spki.subject_public_key.data.to_vec(), spki: spki_der.to_vec() })
    }
}

impl PublicKeyData for PublicKeyBits {
    fn der_bytes(&self) -> &[u8] {
        &self.bits
    }
    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        self.algorithm.rcgen_alg()
    }
    fn subject_public_key_info(&self) -> Vec<u8> {
        self.spki.clone()
    }
}

/// Verifies `signature` (DER ECDSA, or PKCS#1 v1.5 for RSA; SHA-256 for P-256 and RSA,
/// SHA-384 for P-384) over `message` with the public key `spki_der` — how a card proves it
/// holds its key (a sponsor's unlock, a portal login).
pub fn verify_signature(spki_der: &[u8], message: &[u8], signature: &[u8]) -> Result<(), PkiError> {
    use aws_lc_rs::signature::{
        ECDSA_P256_SHA256_ASN1, ECDSA_P384_SHA384_ASN1, RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey,
        VerificationAlgorithm,
    };
    use x509_parser::prelude::FromDer;
    let (_, spki) = x509_parser::x509::SubjectPublicKeyInfo::from_der(spki_der)
        .map_err(|e| PkiError::malformed("public key", e))?;
    let alg: &'static dyn VerificationAlgorithm = match KeyAlgorithm::from_parsed_spki(&spki)? {
        KeyAlgorithm::EcdsaP256 => &ECDSA_P256_SHA256_ASN1,
        KeyAlgorithm::EcdsaP384 => &ECDSA_P384_SHA384_ASN1,
        KeyAlgorithm::Rsa { .. } => &RSA_PKCS1_2048_8192_SHA256,
    };
    UnparsedPublicKey::new(alg, spki.subject_public_key.data.as_ref())
        .verify(message, signature)
        .map_err(|_| PkiError::BadSignature)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encrypted_key_round_trips_and_wrong_passphrase_is_refused() {
        let key = KeyPair::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let pem = key.encrypted_pkcs8_pem(b"correct horse", 1000).unwrap();
        assert!(pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
        let back = KeyPair::from_pem(&pem, Some(b"correct horse")).unwrap();
        assert_eq!(back.public_key_spki(), key.public_key_spki());
        let err = KeyPair::from_pem(&pem, Some(b"wrong")).unwrap_err();
        assert!(matches!(err, PkiError::WrongPassphrase), "{err}");
    }

    #[test]
    fn generated_keys_are_classified() {
        for alg in [KeyAlgorithm::EcdsaP256, KeyAlgorithm::EcdsaP384, KeyAlgorithm::Rsa { bits: 2048 }] {
            let key = KeyPair::generate(alg).unwrap();
            assert_eq!(KeyAlgorithm::from_spki(key.public_key_spki()).unwrap(), alg);
        }
    }
}
