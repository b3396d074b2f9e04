//! TLS served directly (`--tls-cert`, `--tls-key`): the certificate chain
//! and key from PEM files, ALPN `h2` and `http/1.1`, and `reload` (SIGHUP)
//! swapping in new files for new connections while a bad pair is refused
//! and the old one kept.
//!
//! The crypto provider is rustls's `aws-lc-rs`, chosen explicitly: it is
//! the one already in cohort's dependency tree (reqwest's rustls uses it),
//! so the binary carries one crypto library, and it builds here with the C
//! compiler alone.

use arc_swap::ArcSwap;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio_rustls::TlsAcceptor;

/// The certificate being served and where it came from.
pub struct Tls {
    cert: PathBuf,
    key: PathBuf,
    current: ArcSwap<rustls::ServerConfig>,
}

impl Tls {
    /// Read both files; an unusable pair is an error naming the file and
    /// the reason (never the key's contents).
    pub fn load(cert: &Path, key: &Path) -> Result<Tls, String> {
        let config = build(cert, key)?;
        Ok(Tls {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            current: ArcSwap::from_pointee(config),
        })
    }

    /// Re-read both files. On success new connections get the new
    /// certificate (open ones keep theirs); on failure nothing changes.
    /// Counted in `cohort_tls_reloads_total{result="ok"|"error"}`.
    pub fn reload(&self) -> Result<(), String> {
        match build(&self.cert, &self.key) {
            Ok(config) => {
                self.current.store(Arc::new(config));
                metrics::counter!("cohort_tls_reloads_total", "result" => "ok").increment(1);
                Ok(())
            }
            Err(err) => {
                metrics::counter!("cohort_tls_reloads_total", "result" => "error").increment(1);
                Err(err)
            }
        }
    }

    /// An acceptor with the current certificate.
    pub fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.current.load_full())
    }
}

fn build(cert: &Path, key: &Path) -> Result<rustls::ServerConfig, String> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect())
        .map_err(|e| format!("{}: not a PEM certificate chain ({e})", cert.display()))?;
    if chain.is_empty() {
        return Err(format!("{}: holds no certificate", cert.display()));
    }
    // The error says what is wrong with the file, not what it holds.
    let private = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("{}: not a PEM private key ({e})", key.display()))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .map_err(|e| {
            format!(
                "{} and {}: not a usable certificate and key ({e})",
                cert.display(),
                key.display()
            )
        })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}
