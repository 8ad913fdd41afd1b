//! Errors of the servers.

use std::path::PathBuf;

/// Why a server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("setting up pg_catalog: {0}")]
    Catalog(String),
    #[error("config file {}: {message}", path.display())]
    Config { path: PathBuf, message: String },
    #[error("TLS: {0}")]
    Tls(String),
    #[error(
        "refusing to listen on {addr} without users: anyone who can reach it could read the warehouse. Add [[users]] to a config file (prov9 serve --config prov9.toml; passwords from `prov9 hash-password`), or listen on loopback (127.0.0.1)"
    )]
    ExposedWithoutUsers { addr: String },
    #[error(
        "refusing to take lineage on {addr} without API keys: anyone who can reach it could write to the warehouse. Add [[api_keys]] to the config file (the key's SHA-256: printf %s \"$KEY\" | sha256sum), or listen on loopback (--http-listen 127.0.0.1:5000)"
    )]
    IngestExposedWithoutKeys { addr: String },
    #[error("starting ingest: {0}")]
    Ingest(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}
