//! Postgres functions that clients call when they connect and reflect, and that neither
//! DataFusion nor datafusion-postgres provide (or provide in a form clients cannot parse).

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, BooleanArray, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{ScalarValue, plan_err};
use datafusion::error::Result;
use datafusion::execution::SessionStateBuilder;
use datafusion::logical_expr::planner::TypePlanner;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature,
    Volatility, create_udf,
};
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::DataType as SqlDataType;

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

/// `has_table_privilege` and its kin: true for what a read-only server grants (SELECT on
/// tables, USAGE on schemas, CONNECT on the database), false for every write. The privilege is
/// the last argument; a comma-separated list asks for any of them, as in Postgres.
#[derive(Debug, PartialEq, Eq, Hash)]
struct ReadOnlyPrivilege {
    name: &'static str,
    signature: Signature,
}

fn granted(privileges: &str) -> bool {
    privileges.split(',').any(|p| {
        matches!(
            p.trim().to_ascii_uppercase().as_str(),
            "SELECT" | "USAGE" | "CONNECT"
        )
    })
}

impl ScalarUDFImpl for ReadOnlyPrivilege {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let privileges = cast(
            arrays.last().expect("signature has arguments"),
            &DataType::Utf8,
        )?;
        let privileges = datafusion::common::cast::as_string_array(&privileges)?;
        let answers: BooleanArray = (0..rows)
            .map(|i| privileges.is_valid(i).then(|| granted(privileges.value(i))))
            .collect();
        Ok(ColumnarValue::Array(Arc::new(answers)))
    }
}

/// `json_build_object(key, value, ...)` as JSON text (SQLAlchemy's column reflection calls it).
#[derive(Debug, PartialEq, Eq, Hash)]
struct JsonBuildObject {
    signature: Signature,
}

impl ScalarUDFImpl for JsonBuildObject {
    fn name(&self) -> &str {
        "json_build_object"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        if !args.args.len().is_multiple_of(2) {
            return plan_err!("json_build_object needs key/value pairs");
        }
        let rows = args.number_rows;
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let mut out = Vec::with_capacity(rows);
        for row in 0..rows {
            let mut object = serde_json::Map::new();
            for pair in arrays.chunks(2) {
                let key = ScalarValue::try_from_array(&pair[0], row)?;
                let value = ScalarValue::try_from_array(&pair[1], row)?;
                object.insert(json_key(&key), json_value(&value));
            }
            out.push(serde_json::Value::Object(object).to_string());
        }
        Ok(ColumnarValue::Array(Arc::new(StringArray::from(out))))
    }
}

fn json_key(key: &ScalarValue) -> String {
    match key.try_as_str() {
        Some(Some(s)) => s.to_string(),
        _ => key.to_string(),
    }
}

fn json_value(value: &ScalarValue) -> serde_json::Value {
    use serde_json::Value as J;
    if value.is_null() {
        return J::Null;
    }
    match value {
        ScalarValue::Boolean(Some(b)) => J::Bool(*b),
        ScalarValue::Int8(_)
        | ScalarValue::Int16(_)
        | ScalarValue::Int32(_)
        | ScalarValue::Int64(_)
        | ScalarValue::UInt8(_)
        | ScalarValue::UInt16(_)
        | ScalarValue::UInt32(_)
        | ScalarValue::UInt64(_)
        | ScalarValue::Float32(_)
        | ScalarValue::Float64(_) => value
            .to_string()
            .parse::<serde_json::Number>()
            .map(J::Number)
            .unwrap_or(J::Null),
        other => match other.try_as_str() {
            Some(Some(s)) => J::String(s.to_string()),
            _ => J::String(other.to_string()),
        },
    }
}

/// `json` and `jsonb` are text in prov9 (the JSON functions read text), so casts to them work.
#[derive(Debug)]
struct JsonAsText(Option<Arc<dyn TypePlanner>>);

impl TypePlanner for JsonAsText {
    fn plan_type_field(&self, sql_type: &SqlDataType) -> Result<Option<FieldRef>> {
        match sql_type {
            SqlDataType::JSON | SqlDataType::JSONB => {
                Ok(Some(Arc::new(Field::new("json", DataType::Utf8, true))))
            }
            other => match &self.0 {
                Some(next) => next.plan_type_field(other),
                None => Ok(None),
            },
        }
    }
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
    for name in [
        "has_table_privilege",
        "has_schema_privilege",
        "has_database_privilege",
        "has_any_column_privilege",
    ] {
        ctx.register_udf(ScalarUDF::new_from_impl(ReadOnlyPrivilege {
            name,
            signature: Signature::one_of(
                vec![TypeSignature::Any(2), TypeSignature::Any(3)],
                Volatility::Stable,
            ),
        }));
    }
    ctx.register_udf(ScalarUDF::new_from_impl(JsonBuildObject {
        signature: Signature::variadic_any(Volatility::Stable),
    }));
    let state = ctx.state_ref();
    let mut builder = SessionStateBuilder::new_from_existing(state.read().clone());
    let next = builder.type_planner().take();
    let with_json = builder
        .with_type_planner(Arc::new(JsonAsText(next)))
        .build();
    *state.write() = with_json;
    // Type lookups by name (psycopg's TypeInfo.fetch, which SQLAlchemy runs for hstore):
    // prov9 has no extension types, so every lookup finds nothing.
    ctx.register_udf(create_udf(
        "to_regtype",
        vec![DataType::Utf8],
        DataType::Int32,
        Volatility::Stable,
        Arc::new(|_| Ok(ColumnarValue::Scalar(ScalarValue::Int32(None)))),
    ));
    // One schema of user objects (public) and pg_catalog, both on the search path: every
    // collation and function is visible (psql's \df, SQLAlchemy's reflection).
    for name in ["pg_collation_is_visible", "pg_function_is_visible"] {
        ctx.register_udf(create_udf(
            name,
            vec![DataType::Int64],
            DataType::Boolean,
            Volatility::Stable,
            Arc::new(|_| Ok(ColumnarValue::Scalar(ScalarValue::Boolean(Some(true))))),
        ));
    }
    // psql's \df lists functions with these; pg_proc holds no signatures to print.
    for name in ["pg_get_function_result", "pg_get_function_arguments"] {
        ctx.register_udf(create_udf(
            name,
            vec![DataType::Int64],
            DataType::Utf8,
            Volatility::Stable,
            Arc::new(|_| Ok(ColumnarValue::Scalar(ScalarValue::Utf8(None)))),
        ));
    }
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
            .sql(
                "SELECT version(), current_setting('search_path'), \
                 pg_get_serial_sequence('runs', 'run_id'), \
                 has_table_privilege('runs', 'SELECT') AS can_read, \
                 has_table_privilege('alice', 'runs', 'INSERT, DELETE') AS can_write, \
                 json_build_object('a', 1, 'b', 'x', 'c', NULL) AS obj, \
                 CAST('{\"k\": 2}' AS JSONB) AS k",
            )
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
        let row = text.lines().nth(3).unwrap();
        assert!(
            row.contains("| true ") && row.contains("| false "),
            "{text}"
        );
        assert!(row.contains(r#"{"a":1,"b":"x","c":null}"#), "{text}");
        assert!(row.trim_end().ends_with(r#"| {"k": 2} |"#), "{text}");
    }
}
