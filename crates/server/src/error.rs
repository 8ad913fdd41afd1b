//! Errors of the servers.

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
    #[error("{0}")]
    Io(#[from] std::io::Error),
}
