//! Query results as JSON rows: column name -> value, timestamps as ISO-8601 UTC (`…Z`), the
//! way Marquez writes `Instant`s.

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type, Int64Type, TimeUnit};
use chrono::{DateTime, SecondsFormat};
use prov9_query::Engine;
pub(crate) use prov9_query::string_literal as literal;
use serde_json::{Map, Value};

use super::ApiError;

pub(crate) type Row = Map<String, Value>;

/// Run a read-only query; its rows as JSON objects.
pub(crate) async fn query(engine: &Engine, sql: &str) -> Result<Vec<Row>, ApiError> {
    let (_, batches) = engine.query(sql).await.map_err(ApiError::internal)?;
    let mut rows = Vec::new();
    for batch in &batches {
        append(batch, &mut rows).map_err(ApiError::internal)?;
    }
    Ok(rows)
}

/// `(a, b, …)` of literals, for `IN`; `(NULL)` for none, which matches nothing.
pub(crate) fn literals<'a>(texts: impl IntoIterator<Item = &'a str>) -> String {
    let list: Vec<String> = texts.into_iter().map(literal).collect();
    if list.is_empty() {
        "(NULL)".into()
    } else {
        format!("({})", list.join(", "))
    }
}

/// Microseconds since 1970 as Marquez writes an `Instant`.
pub(crate) fn iso(micros: i64) -> Value {
    DateTime::from_timestamp_micros(micros)
        .map(|t| Value::String(t.to_rfc3339_opts(SecondsFormat::AutoSi, true)))
        .unwrap_or(Value::Null)
}

fn append(batch: &RecordBatch, rows: &mut Vec<Row>) -> Result<(), arrow::error::ArrowError> {
    let schema = batch.schema();
    let mut columns = Vec::with_capacity(batch.num_columns());
    for (field, array) in schema.fields().iter().zip(batch.columns()) {
        let values: Vec<Value> = match array.data_type() {
            DataType::Timestamp(_, _) => {
                let micros =
                    arrow::compute::cast(array, &DataType::Timestamp(TimeUnit::Microsecond, None))?;
                let micros = arrow::compute::cast(&micros, &DataType::Int64)?;
                let micros = micros.as_primitive::<Int64Type>();
                (0..array.len())
                    .map(|i| {
                        if micros.is_null(i) {
                            Value::Null
                        } else {
                            iso(micros.value(i))
                        }
                    })
                    .collect()
            }
            DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
            | DataType::UInt64 => {
                let ints = arrow::compute::cast(array, &DataType::Int64)?;
                let ints = ints.as_primitive::<Int64Type>();
                (0..array.len())
                    .map(|i| match ints.is_null(i) {
                        true => Value::Null,
                        false => Value::from(ints.value(i)),
                    })
                    .collect()
            }
            DataType::Float32 | DataType::Float64 => {
                let floats = arrow::compute::cast(array, &DataType::Float64)?;
                let floats = floats.as_primitive::<Float64Type>();
                (0..array.len())
                    .map(|i| match floats.is_null(i) {
                        true => Value::Null,
                        false => Value::from(floats.value(i)),
                    })
                    .collect()
            }
            DataType::Boolean => {
                let bools = array.as_boolean();
                (0..array.len())
                    .map(|i| match bools.is_null(i) {
                        true => Value::Null,
                        false => Value::Bool(bools.value(i)),
                    })
                    .collect()
            }
            _ => {
                let text = arrow::compute::cast(array, &DataType::Utf8)?;
                let text = text.as_string::<i32>();
                (0..array.len())
                    .map(|i| match text.is_null(i) {
                        true => Value::Null,
                        false => Value::String(text.value(i).to_string()),
                    })
                    .collect()
            }
        };
        columns.push((field.name().clone(), values));
    }
    for i in 0..batch.num_rows() {
        rows.push(
            columns
                .iter()
                .map(|(name, values)| (name.clone(), values[i].clone()))
                .collect(),
        );
    }
    Ok(())
}

/// A row's text column.
pub(crate) fn text<'a>(row: &'a Row, column: &str) -> Option<&'a str> {
    row.get(column).and_then(Value::as_str)
}

/// A row's column, `null` when missing.
pub(crate) fn value(row: &Row, column: &str) -> Value {
    row.get(column).cloned().unwrap_or(Value::Null)
}
