//! Errors of the query engine.

use datafusion::error::DataFusionError;

/// Why a query could not run.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The statement would change something; prov9 is read-only through SQL.
    #[error("{0}")]
    ReadOnly(#[from] crate::ReadOnlyViolation),
    /// A planning or execution error (syntax, unknown column, …).
    /// Not a `#[source]`: the message already is the error's own, and a source chain printed
    /// after it would say it twice.
    #[error("{}", user_message(.0))]
    DataFusion(DataFusionError),
    #[error("{0}")]
    Store(#[from] prov9_store::StoreError),
    #[error("{0}")]
    Arrow(#[from] arrow::error::ArrowError),
    /// A `SET prov9.…` value that cannot be used.
    #[error("{0}")]
    InvalidSetting(String),
    /// A result picked by a [`crate::KeySet`] lacks the key's column: a bug in the caller's SQL.
    #[error("the result has no column {0} to pick keys by")]
    NoKeyColumn(String),
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

impl From<DataFusionError> for QueryError {
    fn from(error: DataFusionError) -> Self {
        QueryError::DataFusion(error)
    }
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

/// A DataFusion error as a user should read it: no backtrace, and no internal catalog names.
/// DataFusion says `table 'datafusion.public.runz' not found`; Postgres, and so prov9, says
/// `relation "runz" does not exist`.
pub fn user_message(error: &DataFusionError) -> String {
    const MISSING: (&str, &str) = ("table 'datafusion.public.", "' not found");
    let text = error.strip_backtrace();
    if let Some(at) = text.find(MISSING.0) {
        let rest = &text[at + MISSING.0.len()..];
        if let Some(end) = rest.find(MISSING.1) {
            return format!(
                "relation \"{}\" does not exist{}",
                &rest[..end],
                &rest[end + MISSING.1.len()..]
            );
        }
    }
    text.replace("datafusion.public.", "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_missing_table_is_named_as_the_user_wrote_it() {
        let ctx = datafusion::prelude::SessionContext::new();
        let error = ctx.sql("SELECT * FROM runz").await.unwrap_err();
        assert_eq!(user_message(&error), "relation \"runz\" does not exist");
    }
}
