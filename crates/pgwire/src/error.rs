//! Why the Postgres endpoint could not start or stopped. (Errors sent to clients are built in
//! [`crate::sqlstate`].)

#[derive(Debug, thiserror::Error)]
pub enum PgError {
    #[error("setting up pg_catalog: {0}")]
    Catalog(String),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("no system randomness for the SCRAM mock secret")]
    NoRandomness,
    #[error("{0}")]
    Io(#[from] std::io::Error),
}
