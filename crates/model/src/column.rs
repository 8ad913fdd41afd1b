//! Typed columns: how a Rust field becomes an Arrow column and is read back.
//!
//! [`define_table!`](crate::define_table) uses [`ColumnValue`] to give every row struct of
//! [`tables`](crate::tables) an Arrow schema, a `to_batch` and a `from_batch`, so the mapping of a
//! table is written once, as the struct itself.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int64Array, ListArray, StringArray,
    StringBuilder, TimestampMicrosecondArray,
};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{
    DataType, Field, Float64Type, Int64Type, TimeUnit, TimestampMicrosecondType,
};
use chrono::{DateTime, Utc};

/// The time zone every timestamp column carries.
pub const UTC: &str = "UTC";

/// A Rust type that is stored as one Arrow column.
pub trait ColumnValue: Sized {
    fn data_type() -> DataType;
    fn nullable() -> bool;
    /// The column of `values` (iterated twice by text columns: once to size their buffer).
    fn build<'a>(values: impl Iterator<Item = &'a Self> + Clone) -> ArrayRef
    where
        Self: 'a;
    /// Read row `i` of `array`; `None` if the array has another type.
    fn read(array: &dyn Array, i: usize) -> Option<Self>;
}

fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some(UTC.into()))
}

impl ColumnValue for String {
    fn data_type() -> DataType {
        DataType::Utf8
    }
    fn nullable() -> bool {
        false
    }
    fn build<'a>(values: impl Iterator<Item = &'a Self> + Clone) -> ArrayRef {
        Arc::new(string_array(values.map(|s| Some(s.as_str()))))
    }
    fn read(array: &dyn Array, i: usize) -> Option<Self> {
        Some(read_str(array, i)?.unwrap_or_default())
    }
}

impl ColumnValue for Option<String> {
    fn data_type() -> DataType {
        DataType::Utf8
    }
    fn nullable() -> bool {
        true
    }
    fn build<'a>(values: impl Iterator<Item = &'a Self> + Clone) -> ArrayRef {
        Arc::new(string_array(values.map(|s| s.as_deref())))
    }
    fn read(array: &dyn Array, i: usize) -> Option<Self> {
        read_str(array, i)
    }
}

/// A text column built in buffers of its exact size. (`collect` starts from 1 KiB and doubles:
/// the `events` payloads of a bulk-load batch, 100 MB, were copied about 17 times, each time into
/// memory the kernel had to zero first.)
fn string_array<'a>(values: impl Iterator<Item = Option<&'a str>> + Clone) -> StringArray {
    let (rows, bytes) = values
        .clone()
        .fold((0, 0), |(n, b), s| (n + 1, b + s.map_or(0, str::len)));
    let mut builder = StringBuilder::with_capacity(rows, bytes);
    builder.extend(values);
    builder.finish()
}

fn read_str(array: &dyn Array, i: usize) -> Option<Option<String>> {
    let value = match array.data_type() {
        DataType::Utf8 => {
            (!array.is_null(i)).then(|| array.as_string::<i32>().value(i).to_string())
        }
        DataType::LargeUtf8 => {
            (!array.is_null(i)).then(|| array.as_string::<i64>().value(i).to_string())
        }
        DataType::Utf8View => {
            (!array.is_null(i)).then(|| array.as_string_view().value(i).to_string())
        }
        _ => return None,
    };
    Some(value)
}

impl ColumnValue for Option<i64> {
    fn data_type() -> DataType {
        DataType::Int64
    }
    fn nullable() -> bool {
        true
    }
    fn build<'a>(values: impl Iterator<Item = &'a Self> + Clone) -> ArrayRef {
        Arc::new(values.copied().collect::<Int64Array>())
    }
    fn read(array: &dyn Array, i: usize) -> Option<Self> {
        let a = array.as_primitive_opt::<Int64Type>()?;
        Some((!a.is_null(i)).then(|| a.value(i)))
    }
}

impl ColumnValue for Option<f64> {
    fn data_type() -> DataType {
        DataType::Float64
    }
    fn nullable() -> bool {
        true
    }
    fn build<'a>(values: impl Iterator<Item = &'a Self> + Clone) -> ArrayRef {
        Arc::new(values.copied().collect::<Float64Array>())
    }
    fn read(array: &dyn Array, i: usize) -> Option<Self> {
        let a = array.as_primitive_opt::<Float64Type>()?;
        Some((!a.is_null(i)).then(|| a.value(i)))
    }
}

impl ColumnValue for Option<bool> {
    fn data_type() -> DataType {
        DataType::Boolean
    }
    fn nullable() -> bool {
        true
    }
    fn build<'a>(values: impl Iterator<Item = &'a Self> + Clone) -> ArrayRef {
        Arc::new(values.copied().collect::<BooleanArray>())
    }
    fn read(array: &dyn Array, i: usize) -> Option<Self> {
        let a = array.as_boolean_opt()?;
        Some((!a.is_null(i)).then(|| a.value(i)))
    }
}

impl ColumnValue for Option<DateTime<Utc>> {
    fn data_type() -> DataType {
        timestamp_type()
    }
    fn nullable() -> bool {
        true
    }
    fn build<'a>(values: impl Iterator<Item = &'a Self> + Clone) -> ArrayRef {
        let array: TimestampMicrosecondArray =
            values.map(|t| t.map(|t| t.timestamp_micros())).collect();
        Arc::new(array.with_timezone(UTC))
    }
    fn read(array: &dyn Array, i: usize) -> Option<Self> {
        let a = array.as_primitive_opt::<TimestampMicrosecondType>()?;
        Some(
            (!a.is_null(i))
                .then(|| DateTime::from_timestamp_micros(a.value(i)))
                .flatten(),
        )
    }
}

impl ColumnValue for DateTime<Utc> {
    fn data_type() -> DataType {
        timestamp_type()
    }
    fn nullable() -> bool {
        false
    }
    fn build<'a>(values: impl Iterator<Item = &'a Self> + Clone) -> ArrayRef {
        let array: TimestampMicrosecondArray = values.map(|t| Some(t.timestamp_micros())).collect();
        Arc::new(array.with_timezone(UTC))
    }
    fn read(array: &dyn Array, i: usize) -> Option<Self> {
        Option::<DateTime<Utc>>::read(array, i).map(|t| t.unwrap_or_default())
    }
}

/// A list of strings (column names); stored as `List<Utf8>`, a Postgres `text[]`.
impl ColumnValue for Vec<String> {
    fn data_type() -> DataType {
        DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)))
    }
    fn nullable() -> bool {
        true
    }
    fn build<'a>(values: impl Iterator<Item = &'a Self> + Clone) -> ArrayRef {
        let lists: Vec<&Vec<String>> = values.collect();
        let offsets = OffsetBuffer::from_lengths(lists.iter().map(|l| l.len()));
        let items = string_array(
            lists
                .iter()
                .flat_map(|l| l.iter().map(|s| Some(s.as_str()))),
        );
        Arc::new(ListArray::new(
            Arc::new(Field::new("item", DataType::Utf8, true)),
            offsets,
            Arc::new(items),
            None,
        ))
    }
    fn read(array: &dyn Array, i: usize) -> Option<Self> {
        let list = array.as_list_opt::<i32>()?;
        if list.is_null(i) {
            return Some(Vec::new());
        }
        let items = list.value(i);
        (0..items.len())
            .map(|j| String::read(items.as_ref(), j))
            .collect()
    }
}

/// Declare a table of the public schema: a row struct whose fields are its columns, in order.
///
/// Generates `NAME`, `schema()`, `to_batch(&[Self])` and `from_batch(&RecordBatch)`.
#[macro_export]
macro_rules! define_table {
    (
        $(#[$meta:meta])*
        $row:ident => $name:literal {
            $( $(#[$fmeta:meta])* $field:ident : $ty:ty ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq)]
        pub struct $row {
            $( $(#[$fmeta])* pub $field: $ty, )*
        }

        impl $row {
            /// The table's name in schema `public`.
            pub const NAME: &'static str = $name;

            /// The table's Arrow schema.
            pub fn schema() -> ::arrow::datatypes::SchemaRef {
                use $crate::column::ColumnValue;
                ::std::sync::Arc::new(::arrow::datatypes::Schema::new(vec![
                    $( ::arrow::datatypes::Field::new(
                        stringify!($field),
                        <$ty as ColumnValue>::data_type(),
                        <$ty as ColumnValue>::nullable(),
                    ), )*
                ]))
            }

            /// Rows to one RecordBatch.
            pub fn to_batch(rows: &[Self]) -> ::arrow::record_batch::RecordBatch {
                use $crate::column::ColumnValue;
                let columns: Vec<::arrow::array::ArrayRef> = vec![
                    $( <$ty as ColumnValue>::build(rows.iter().map(|r| &r.$field)), )*
                ];
                ::arrow::record_batch::RecordBatch::try_new(Self::schema(), columns)
                    .expect("columns are built from the schema they are checked against")
            }

            /// A RecordBatch read from storage back to rows (columns are found by name).
            pub fn from_batch(
                batch: &::arrow::record_batch::RecordBatch,
            ) -> Result<Vec<Self>, $crate::ModelError> {
                use $crate::column::ColumnValue;
                $( let $field = batch.column_by_name(stringify!($field)).ok_or_else(|| {
                    $crate::ModelError::Schema { table: $name, reason: format!("missing column {}", stringify!($field)) }
                })?; )*
                (0..batch.num_rows())
                    .map(|i| {
                        Ok(Self { $( $field: <$ty as ColumnValue>::read($field.as_ref(), i).ok_or_else(|| {
                            $crate::ModelError::Schema {
                                table: $name,
                                reason: format!("column {} has type {}", stringify!($field), $field.data_type()),
                            }
                        })?, )* })
                    })
                    .collect()
            }
        }
    };
}
