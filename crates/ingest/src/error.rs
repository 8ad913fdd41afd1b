//! Errors of the ingest layer.

use std::path::PathBuf;

use prov9_store::StoreError;

/// Why a load or an event failed.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// A line (or event) could not be understood. `location` is `FILE:LINE` or the event's origin.
    #[error("{location}: {reason}")]
    BadEvent { location: String, reason: String },
    /// More bad lines than `--max-errors` allows.
    #[error(
        "{location}: {reason} (more than {max_errors} bad lines; rejected lines are in {rejects})"
    )]
    TooManyErrors {
        location: String,
        reason: String,
        max_errors: usize,
        rejects: String,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: no loadable files (expected .ndjson, .jsonl or .json, optionally .gz)")]
    NothingToLoad { path: PathBuf },
    #[error(
        "{path}: not an MLflow store (expected a tracking database, or experiment directories holding meta.yaml)"
    )]
    NotAnMlflowStore { path: PathBuf },
    /// An MLflow tracking database could not be read (not MLflow's, unknown schema, no
    /// connection). `location` is the database, or a table and key in it.
    #[error("{location}: {reason}")]
    MlflowDatabase { location: String, reason: String },
    #[error(
        "{path}: MLflow artifacts (model files and examples), not OpenLineage events; load \
         MLflow's tracking store instead: prov9 load {store}"
    )]
    MlflowArtifacts { path: PathBuf, store: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("reading {table} from the warehouse: {reason}")]
    CorruptTable { table: String, reason: String },
    #[error("the commit queue is full")]
    CommitQueueFull,
    #[error("the committer has stopped")]
    CommitterStopped,
    /// A group commit failed; every request in it gets the same reason.
    #[error("commit failed: {0}")]
    GroupCommit(String),
    /// The live ingest log could not be written or read.
    #[error("live ingest log: {0}")]
    Log(String),
    /// A batch's commit task did not finish (it panicked).
    #[error("committing a batch: {0}")]
    CommitTask(#[source] tokio::task::JoinError),
}

/// Times work that lost a commit race to another writer (a load batch, a start or recovery of
/// live ingest) is redone against the warehouse read again.
pub(crate) const RACE_ATTEMPTS: u32 = 5;

impl IngestError {
    /// A commit lost a race with another writer's; see [`StoreError::is_conflict`].
    pub fn is_conflict(&self) -> bool {
        matches!(self, IngestError::Store(e) if e.is_conflict())
    }
}
