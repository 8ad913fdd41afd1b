//! TLS for the Postgres endpoint (rustls), from the `[tls]` section of the config.

use std::sync::Arc;

use datafusion_postgres::pgwire::tokio::TlsAcceptor;
use datafusion_postgres::pgwire::tokio::tokio_rustls::rustls::{self, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::PgError;
use crate::options::TlsConfig;

/// Load the certificate chain and key; any problem is a start-up error, never plain text.
pub fn acceptor(config: &TlsConfig) -> Result<TlsAcceptor, PgError> {
    let tls_error = |message: String| PgError::Tls(message);
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&config.cert)
        .map_err(|e| tls_error(format!("certificate {}: {e}", config.cert.display())))?
        .collect::<Result<_, _>>()
        .map_err(|e| tls_error(format!("certificate {}: {e}", config.cert.display())))?;
    if certs.is_empty() {
        return Err(tls_error(format!(
            "certificate {}: no PEM certificate in the file",
            config.cert.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_file(&config.key)
        .map_err(|e| tls_error(format!("key {}: {e}", config.key.display())))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut server = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            tls_error(format!(
                "{} and {}: {e}",
                config.cert.display(),
                config.key.display()
            ))
        })?;
    // Postgres 17 clients may start TLS directly (sslnegotiation=direct) and then require ALPN.
    server.alpn_protocols = vec![b"postgresql".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(server)))
}
