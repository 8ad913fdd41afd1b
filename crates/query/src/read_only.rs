//! Read-only SQL: what a query may not do.

use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SQLOptions;

/// A statement refused because it would write (DDL, DML, `COPY … TO`, `SET`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "permission denied: prov9 is read-only through SQL ({0}); data arrives through `prov9 load` or OpenLineage ingest"
)]
pub struct ReadOnlyViolation(pub String);

/// DataFusion options that refuse DDL (CREATE [EXTERNAL] TABLE/VIEW, DROP), DML (INSERT, COPY)
/// and statements (SET, transactions) at planning time.
pub fn read_only_options() -> SQLOptions {
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
}

/// Check a plan against [`read_only_options`].
pub fn check_read_only(plan: &LogicalPlan) -> Result<(), ReadOnlyViolation> {
    read_only_options()
        .verify_plan(plan)
        .map_err(|e| ReadOnlyViolation(e.strip_backtrace()))
}
