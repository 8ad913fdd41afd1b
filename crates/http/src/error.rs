//! Why the HTTP endpoint could not start or stopped.

use prov9_ingest::IngestError;

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("starting ingest: {0}")]
    StartIngest(#[source] IngestError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}
