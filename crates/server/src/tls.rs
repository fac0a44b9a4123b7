//! The HTTPS listener's TLS: rustls configuration (TLS 1.2 and 1.3, ALPN h2 and http/1.1,
//! optional client certificates chained to carecert's root), and what the handshake hands to
//! handlers. The accept loop is in `listen.rs`.

use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use rustls::server::WebPkiClientVerifier;

use crate::ServerError;

/// PEM certificate chain and private key of the HTTPS listener.
#[derive(Clone)]
pub struct TlsFiles {
    /// Certificate chain, leaf first.
    pub chain_pem: String,
    /// PKCS#8 private key.
    pub key_pem: String,
}

impl std::fmt::Debug for TlsFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsFiles").finish_non_exhaustive()
    }
}

/// The TCP peer of an HTTPS request.
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub std::net::SocketAddr);

/// The client's certificate chain (leaf first), when it sent one that chains to carecert's
/// root. Empty when it sent none. Revocation is *not* checked by the handshake: endpoints
/// that rely on it check status with the CA.
#[derive(Debug, Clone, Default)]
pub struct ClientCertificates(pub Arc<Vec<CertificateDer<'static>>>);

pub(crate) fn server_config(
    files: &TlsFiles,
    client_roots: &[Vec<u8>],
) -> Result<Arc<rustls::ServerConfig>, ServerError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(files.chain_pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| ServerError::Tls(format!("certificate chain: {e}")))?;
    if chain.is_empty() {
        return Err(ServerError::Tls("the certificate file holds no certificate".into()));
    }
    let key = PrivateKeyDer::from_pem_slice(files.key_pem.as_bytes())
        .map_err(|e| ServerError::Tls(format!("private key: {e}")))?;
    let mut roots = rustls::RootCertStore::empty();
    for r in client_roots {
        roots.add(CertificateDer::from(r.clone())).map_err(|e| ServerError::Tls(format!("client root: {e}")))?;
    }
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()
        .map_err(|e| ServerError::Tls(format!("client verifier: {e}")))?;
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ServerError::Tls(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| ServerError::Tls(e.to_string()))?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}
