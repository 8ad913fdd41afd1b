//! Query results as rows of JSON values, looked up by column name; timestamps as ISO-8601 UTC
//! (`…Z`), the way Marquez writes `Instant`s.

use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type, Int64Type, TimeUnit};
use chrono::{DateTime, SecondsFormat};
pub(crate) use prov9_query::string_literal as literal;
use prov9_query::{Engine, KeySet};
use serde_json::Value;

use super::ApiError;

/// One result row. The column names are shared by every row of a result: a map per row (its
/// tree, its copied names) was most of the cost of a 50,000-node lineage answer.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    columns: Arc<[String]>,
    values: Vec<Value>,
}

impl Row {
    fn get(&self, column: &str) -> Option<&Value> {
        let i = self.columns.iter().position(|c| c == column)?;
        self.values.get(i)
    }
}

/// Run a read-only query; its rows as JSON objects.
pub(crate) async fn query(engine: &Engine, sql: &str) -> Result<Vec<Row>, ApiError> {
    let (_, batches) = engine.query(sql).await.map_err(ApiError::internal)?;
    json_rows(&batches)
}

/// The keys to find in `table` (see [`Engine::key_set`]).
pub(crate) async fn key_set<'a>(
    engine: &Engine,
    table: &str,
    keys: impl IntoIterator<Item = &'a str>,
) -> Result<KeySet, ApiError> {
    engine
        .key_set(table, keys)
        .await
        .map_err(ApiError::internal)
}

/// [`query`] of `sql`, which restricts `key_column` by `keys.condition(…)`: only the rows of
/// `keys`, looked up by key or picked from a whole read, whichever is cheaper (a lineage graph
/// of 50,000 nodes names 25,000 runs).
pub(crate) async fn query_keys(
    engine: &Engine,
    sql: &str,
    keys: &KeySet,
    key_column: &str,
) -> Result<Vec<Row>, ApiError> {
    let (_, batches) = engine
        .query_keys(sql, keys, key_column)
        .await
        .map_err(ApiError::internal)?;
    json_rows(&batches)
}

fn json_rows(batches: &[RecordBatch]) -> Result<Vec<Row>, ApiError> {
    let mut rows = Vec::with_capacity(batches.iter().map(RecordBatch::num_rows).sum());
    for batch in batches {
        append(batch, &mut rows).map_err(ApiError::internal)?;
    }
    Ok(rows)
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
    for array in batch.columns() {
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
        columns.push(values.into_iter());
    }
    let names: Arc<[String]> = schema.fields().iter().map(|f| f.name().clone()).collect();
    for _ in 0..batch.num_rows() {
        rows.push(Row {
            columns: names.clone(),
            values: columns
                .iter_mut()
                .map(|values| values.next().unwrap_or(Value::Null))
                .collect(),
        });
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
