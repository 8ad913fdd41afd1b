//! Errors of the query engine.

use datafusion::error::DataFusionError;

/// Why a query could not run.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The statement would change something; prov9 is read-only through SQL.
    #[error("{0}")]
    ReadOnly(#[from] crate::ReadOnlyViolation),
    /// A planning or execution error (syntax, unknown column, …).
    #[error("{0}")]
    DataFusion(#[from] DataFusionError),
    #[error("{0}")]
    Store(#[from] prov9_store::StoreError),
    #[error("{0}")]
    Arrow(#[from] arrow::error::ArrowError),
    /// A `SET prov9.…` value that cannot be used.
    #[error("{0}")]
    InvalidSetting(String),
    /// The lineage index could not read `lineage_edges`.
    #[error("lineage index: {0}")]
    Index(String),
    /// A bundled view failed to load: a bug in prov9, reported with the view's file name.
    #[error("view {file}: {source}")]
    View {
        file: &'static str,
        #[source]
        source: DataFusionError,
    },
}

impl QueryError {
    /// A session setting that cannot be used: `prov9.as_of` unreadable, or before the
    /// warehouse's history (SQLSTATE 22023 over the wire).
    pub fn is_unusable_setting(&self) -> bool {
        matches!(
            self,
            QueryError::InvalidSetting(_)
                | QueryError::Store(prov9_store::StoreError::BeforeHistory { .. })
        )
    }
}
