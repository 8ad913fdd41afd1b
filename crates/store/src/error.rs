//! Errors of the store.

/// What went wrong reading or writing the warehouse.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("invalid warehouse location {location:?}: {reason}")]
    InvalidLocation { location: String, reason: String },
    /// A command that only reads or maintains a warehouse found none where it looked.
    #[error(
        "no warehouse at {location} (looked for {looked}). Load events with `prov9 load`, start `prov9 serve`, or point --data (PROV9_DATA) at an existing warehouse"
    )]
    NoWarehouse { location: String, looked: String },
    #[error("unknown table {0:?}")]
    UnknownTable(String),
    /// A bucket to read from (not a warehouse) could not be reached.
    #[error("{location}: {reason}")]
    Bucket { location: String, reason: String },
    #[error("table {table}: {source}")]
    Delta {
        table: String,
        #[source]
        source: Box<deltalake::DeltaTableError>,
    },
    #[error("table {table}: {source}")]
    DataFusion {
        table: String,
        #[source]
        source: Box<datafusion::error::DataFusionError>,
    },
    #[error("key index of {table}: {reason}")]
    KeyIndex { table: String, reason: String },
    #[error("warehouse commits: {0}")]
    CommitLog(String),
    #[error("live tail: {0}")]
    Tail(String),
    /// Time travel to before the oldest commit kept.
    #[error("{asked} is before the warehouse's history{}", match oldest {
        Some(t) => format!(" (it starts at {t}: older history was vacuumed or never recorded)"),
        None => String::new(),
    })]
    BeforeHistory {
        asked: chrono::DateTime<chrono::Utc>,
        oldest: Option<chrono::DateTime<chrono::Utc>>,
    },
    #[error(transparent)]
    Arrow(#[from] arrow::error::ArrowError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl StoreError {
    /// Another writer committed to the same table first (Delta's optimistic concurrency
    /// refused this commit): reading the table again and redoing the work succeeds.
    pub fn is_conflict(&self) -> bool {
        use deltalake::DeltaTableError;
        use deltalake::kernel::transaction::TransactionError;
        match self {
            StoreError::Delta { source, .. } => matches!(
                **source,
                DeltaTableError::VersionAlreadyExists(_)
                    | DeltaTableError::Transaction {
                        source: TransactionError::CommitConflict(_)
                            | TransactionError::MaxCommitAttempts(_)
                    }
            ),
            _ => false,
        }
    }

    pub(crate) fn delta(table: &str, source: deltalake::DeltaTableError) -> Self {
        StoreError::Delta {
            table: table.to_string(),
            source: Box::new(source),
        }
    }

    pub(crate) fn datafusion(table: &str, source: datafusion::error::DataFusionError) -> Self {
        StoreError::DataFusion {
            table: table.to_string(),
            source: Box::new(source),
        }
    }
}
