//! Postgres functions that clients call when they connect and reflect, and that neither
//! DataFusion nor datafusion-postgres provide (or provide in a form clients cannot parse).

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::{ColumnarValue, Volatility, create_udf};
use datafusion::prelude::SessionContext;

/// The Postgres version prov9 speaks as; what `server_version` says at startup too.
pub const SERVER_VERSION: &str = "16.6";

/// `version()`: clients (SQLAlchemy, DBeaver, pgAdmin) parse "PostgreSQL X.Y" out of it.
fn version_text() -> String {
    format!(
        "PostgreSQL {SERVER_VERSION} (prov9 {}, Apache DataFusion {}) on {}-{}",
        env!("CARGO_PKG_VERSION"),
        datafusion::DATAFUSION_VERSION,
        std::env::consts::ARCH,
        std::env::consts::OS
    )
}

/// The answer of `current_setting(name)` for settings clients ask about.
fn setting(name: &str) -> Option<&'static str> {
    Some(match name.to_ascii_lowercase().as_str() {
        "search_path" => "public",
        "server_version" => SERVER_VERSION,
        "server_version_num" => "160006",
        "server_encoding" | "client_encoding" => "UTF8",
        "standard_conforming_strings" => "on",
        "timezone" => "UTC",
        "datestyle" => "ISO, MDY",
        "default_transaction_read_only" | "transaction_read_only" => "on",
        "max_identifier_length" => "63",
        "integer_datetimes" => "on",
        _ => return None,
    })
}

fn current_setting(args: &[ColumnarValue]) -> Result<ColumnarValue> {
    Ok(match &args[0] {
        ColumnarValue::Scalar(s) => {
            let name = s.try_as_str().flatten().unwrap_or_default();
            ColumnarValue::Scalar(ScalarValue::Utf8(setting(name).map(str::to_string)))
        }
        ColumnarValue::Array(a) => {
            let names = datafusion::common::cast::as_string_array(a)?;
            let values: StringArray = names.iter().map(|n| n.and_then(setting)).collect();
            ColumnarValue::Array(Arc::new(values) as ArrayRef)
        }
    })
}

/// Register the functions on the engine's context (every connection's session inherits them).
pub fn register(ctx: &SessionContext) {
    let version = version_text();
    ctx.register_udf(create_udf(
        "version",
        vec![],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(move |_| {
            Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(
                version.clone(),
            ))))
        }),
    ));
    ctx.register_udf(create_udf(
        "current_setting",
        vec![DataType::Utf8],
        DataType::Utf8,
        Volatility::Stable,
        Arc::new(current_setting),
    ));
    // Type lookups by name (psycopg's TypeInfo.fetch, which SQLAlchemy runs for hstore):
    // prov9 has no extension types, so every lookup finds nothing.
    ctx.register_udf(create_udf(
        "to_regtype",
        vec![DataType::Utf8],
        DataType::Int32,
        Volatility::Stable,
        Arc::new(|_| Ok(ColumnarValue::Scalar(ScalarValue::Int32(None)))),
    ));
    // No sequences in prov9: every column's answer is NULL, as for a column without a default.
    ctx.register_udf(create_udf(
        "pg_get_serial_sequence",
        vec![DataType::Utf8, DataType::Utf8],
        DataType::Utf8,
        Volatility::Stable,
        Arc::new(|_| Ok(ColumnarValue::Scalar(ScalarValue::Utf8(None)))),
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn clients_find_what_they_parse() {
        let ctx = SessionContext::new();
        register(&ctx);
        let batches = ctx
            .sql("SELECT version(), current_setting('search_path'), pg_get_serial_sequence('runs', 'run_id')")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let text = datafusion::arrow::util::pretty::pretty_format_batches(&batches)
            .unwrap()
            .to_string();
        assert!(text.contains("PostgreSQL 16.6 (prov9"), "{text}");
        assert!(text.contains("| public "), "{text}");
    }
}
