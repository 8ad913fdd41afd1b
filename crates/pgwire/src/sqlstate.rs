//! Every error a Postgres client sees, built here: named constructors for the SQLSTATEs prov9
//! answers itself, and the mapping of DataFusion's errors to the code Postgres would send.
//!
//! datafusion-postgres reports every DataFusion error as XX000 (internal_error). Clients and
//! people act on the class, so map what DataFusion tells us to the code Postgres would send.

use datafusion::common::SchemaError;
use datafusion::error::DataFusionError;
use datafusion_postgres::pgwire::api::{ClientInfo, ErrorHandler};
use datafusion_postgres::pgwire::error::{ErrorInfo, PgWireError};
use prov9_query::{QueryError, ReadOnlyViolation};

use prov9_query::session::Interrupted;

fn error(severity: &str, code: &str, message: impl Into<String>) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        severity.to_string(),
        code.to_string(),
        message.into(),
    )))
}

/// 42501: a statement that would write, refused for everyone.
pub fn insufficient_privilege(violation: ReadOnlyViolation) -> PgWireError {
    error("ERROR", "42501", violation.to_string())
}

/// 42601: a statement prov9 cannot take as written.
pub fn syntax_error(message: impl Into<String>) -> PgWireError {
    error("ERROR", "42601", message)
}

/// 42704: `SHOW` of a setting that does not exist.
pub fn unrecognized_parameter(name: &str) -> PgWireError {
    error(
        "ERROR",
        "42704",
        format!("unrecognized configuration parameter \"{name}\""),
    )
}

/// 0A000: a form of a statement prov9 does not support.
/// 22023: a setting's value that cannot be used.
pub fn invalid_parameter_value(message: impl Into<String>) -> PgWireError {
    error("ERROR", "22023", message)
}

pub fn feature_not_supported(message: impl Into<String>) -> PgWireError {
    error("ERROR", "0A000", message)
}

/// 25P02: a statement other than the end of a failed transaction.
pub fn in_failed_transaction() -> PgWireError {
    error(
        "ERROR",
        "25P02",
        "current transaction is aborted, commands ignored until end of transaction block",
    )
}

/// 25006: a transaction that asks to write.
pub fn read_only_transaction(message: impl Into<String>) -> PgWireError {
    error("ERROR", "25006", message)
}

/// FATAL 57P01: the server is shutting down.
pub fn admin_shutdown() -> PgWireError {
    error(
        "FATAL",
        "57P01",
        "terminating connection due to administrator command (the server is shutting down)",
    )
}

/// FATAL 28000: the connection does not meet the server's requirements (TLS).
pub fn invalid_authorization(message: impl Into<String>) -> PgWireError {
    error("FATAL", "28000", message)
}

/// FATAL 28P01: wrong password, or no such user (indistinguishable on purpose).
pub fn invalid_password(user: &str) -> PgWireError {
    error(
        "FATAL",
        "28P01",
        format!("password authentication failed for user \"{user}\""),
    )
}

/// FATAL 53300: the connection limit is reached.
pub fn too_many_connections(max_connections: usize) -> PgWireError {
    error(
        "FATAL",
        "53300",
        format!("sorry, too many clients already (max_connections = {max_connections})"),
    )
}

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
        // `prov9.as_of` unreadable, or before the warehouse's history.
        DataFusionError::External(e)
            if e.downcast_ref::<QueryError>()
                .is_some_and(QueryError::is_unusable_setting) =>
        {
            "22023"
        }
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
            Some(df) => (sqlstate(df), prov9_query::user_message(df)),
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
        *error = self::error("ERROR", code, message);
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
