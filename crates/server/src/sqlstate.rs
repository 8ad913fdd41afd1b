//! Errors to SQLSTATEs, at the protocol edge.
//!
//! datafusion-postgres reports every DataFusion error as XX000 (internal_error). Clients and
//! people act on the class, so map what DataFusion tells us to the code Postgres would send.

use datafusion::common::SchemaError;
use datafusion::error::DataFusionError;
use datafusion_postgres::pgwire::api::{ClientInfo, ErrorHandler};
use datafusion_postgres::pgwire::error::{ErrorInfo, PgWireError};
use prov9_query::ReadOnlyViolation;

use crate::control::Interrupted;

/// The SQLSTATE Postgres would use for a DataFusion error.
pub fn sqlstate(error: &DataFusionError) -> &'static str {
    match error.find_root() {
        DataFusionError::SQL(..) => "42601",
        DataFusionError::SchemaError(e, _) => match e.as_ref() {
            SchemaError::FieldNotFound { .. } => "42703",
            SchemaError::AmbiguousReference { .. } => "42702",
            SchemaError::DuplicateQualifiedField { .. }
            | SchemaError::DuplicateUnqualifiedField { .. } => "42701",
        },
        DataFusionError::NotImplemented(_) => "0A000",
        DataFusionError::ResourcesExhausted(_) => "53200",
        // "table function 'x' not found" is a missing function, as Postgres reports it.
        DataFusionError::Plan(msg)
            if msg.contains("table function") && msg.contains("not found") =>
        {
            "42883"
        }
        DataFusionError::Plan(msg) if msg.contains("not found") => "42P01",
        DataFusionError::Plan(msg)
            if msg.contains("No function matches") || msg.contains("Invalid function") =>
        {
            "42883"
        }
        DataFusionError::Plan(_) => "42000",
        DataFusionError::ArrowError(e, _) => match e.as_ref() {
            arrow::error::ArrowError::DivideByZero => "22012",
            arrow::error::ArrowError::CastError(_) | arrow::error::ArrowError::ParseError(_) => {
                "22P02"
            }
            arrow::error::ArrowError::ComputeError(_)
            | arrow::error::ArrowError::ArithmeticOverflow(_) => "22003",
            _ => "XX000",
        },
        DataFusionError::External(e) if e.is::<ReadOnlyViolation>() => "42501",
        DataFusionError::External(e) if e.is::<Interrupted>() => "57014",
        DataFusionError::Execution(msg) if msg.contains("Divide by zero") => "22012",
        DataFusionError::Execution(msg) if msg.to_ascii_lowercase().contains("cast") => "22P02",
        _ => "XX000",
    }
}

/// Rewrites DataFusion errors into Postgres errors with a proper SQLSTATE.
#[derive(Debug, Default, Clone, Copy)]
pub struct SqlStateErrors;

impl ErrorHandler for SqlStateErrors {
    fn on_error<C: ClientInfo>(&self, _client: &C, error: &mut PgWireError) {
        let PgWireError::ApiError(inner) = error else {
            return;
        };
        let (code, message) = match inner.downcast_ref::<DataFusionError>() {
            Some(df) => (sqlstate(df), df.strip_backtrace()),
            None => {
                let text = inner.to_string();
                let code = if text.starts_with("sql parser error") {
                    "42601"
                } else {
                    "XX000"
                };
                (code, text)
            }
        };
        tracing::debug!(code, "query failed: {message}");
        *error = PgWireError::UserError(Box::new(ErrorInfo::new(
            "ERROR".to_string(),
            code.to_string(),
            message,
        )));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_common_errors() {
        let ctx = datafusion::prelude::SessionContext::new();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let code = |sql: &str| rt.block_on(async { sqlstate(&ctx.sql(sql).await.unwrap_err()) });
        assert_eq!(code("SELEC 1"), "42601");
        assert_eq!(code("SELECT nope FROM (SELECT 1 AS a)"), "42703");
        assert_eq!(code("SELECT * FROM missing_table"), "42P01");
        assert_eq!(code("SELECT no_such_fn(1)"), "42883");
        assert_eq!(code("SELECT * FROM no_such_table_fn(1)"), "42883");
    }
}
