//! `COPY (query) TO STDOUT` and `COPY table TO STDOUT`: the read half of COPY, which psql's
//! `\copy … to 'file'` uses to save results on the client's side. Copying to a server file
//! stays refused like every other write.

use std::sync::Arc;

use bytes::Bytes;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, GenericListArray, OffsetSizeTrait, RecordBatch, RecordBatchOptions,
    StringArray, StringBuilder,
};
use datafusion::arrow::csv::WriterBuilder;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{
    CopyLegacyCsvOption, CopyLegacyOption, CopyOption, CopySource, CopyTarget, Statement,
};
use datafusion_postgres::pgwire::api::results::{CopyResponse, Response};
use datafusion_postgres::pgwire::error::{PgWireError, PgWireResult};
use datafusion_postgres::pgwire::messages::copy::CopyData;
use futures::{StreamExt, stream};

use super::query::checked_plan;
use crate::sqlstate;

/// How the rows are written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyFormat {
    pub csv: bool,
    pub header: bool,
    pub delimiter: u8,
    pub null: String,
}

impl CopyFormat {
    fn text() -> Self {
        CopyFormat {
            csv: false,
            header: false,
            delimiter: b'\t',
            null: "\\N".to_string(),
        }
    }

    fn use_csv(&mut self) {
        if !self.csv {
            self.csv = true;
            self.delimiter = b',';
            self.null = String::new();
        }
    }
}

fn unsupported(what: &str) -> PgWireError {
    sqlstate::feature_not_supported(format!(
        "COPY … TO STDOUT: {what} is not supported (text and CSV are)"
    ))
}

/// Whether a statement is a `COPY … TO STDOUT`.
pub(crate) fn is_copy_to_stdout(statement: &Statement) -> bool {
    matches!(
        statement,
        Statement::Copy {
            to: true,
            target: CopyTarget::Stdout,
            ..
        }
    )
}

/// The query and format of a `COPY … TO STDOUT`.
fn parse(statement: &Statement) -> PgWireResult<(Statement, CopyFormat)> {
    let Statement::Copy {
        source,
        options,
        legacy_options,
        ..
    } = statement
    else {
        return Err(unsupported("this statement"));
    };
    let query = match source {
        CopySource::Query(q) => Statement::Query(q.clone()),
        CopySource::Table {
            table_name,
            columns,
        } => {
            let columns = if columns.is_empty() {
                "*".to_string()
            } else {
                columns
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let sql = format!("SELECT {columns} FROM {table_name}");
            datafusion::sql::sqlparser::parser::Parser::parse_sql(
                &datafusion::sql::sqlparser::dialect::PostgreSqlDialect {},
                &sql,
            )
            .map_err(|e| PgWireError::ApiError(Box::new(e)))?
            .pop()
            .ok_or_else(|| unsupported("an empty table name"))?
        }
    };
    let mut format = CopyFormat::text();
    for option in options {
        match option {
            CopyOption::Format(name) => match name.value.to_ascii_lowercase().as_str() {
                "csv" => format.use_csv(),
                "text" => {}
                other => return Err(unsupported(&format!("FORMAT {other}"))),
            },
            CopyOption::Header(h) => format.header = *h,
            CopyOption::Delimiter(c) if c.is_ascii() => format.delimiter = *c as u8,
            CopyOption::Null(n) => format.null = n.clone(),
            other => return Err(unsupported(&other.to_string())),
        }
    }
    for option in legacy_options {
        match option {
            CopyLegacyOption::Csv(csv) => {
                format.use_csv();
                for o in csv {
                    match o {
                        CopyLegacyCsvOption::Header => format.header = true,
                        other => return Err(unsupported(&other.to_string())),
                    }
                }
            }
            CopyLegacyOption::Delimiter(c) if c.is_ascii() => format.delimiter = *c as u8,
            CopyLegacyOption::Null(n) => format.null = n.clone(),
            other => return Err(unsupported(&other.to_string())),
        }
    }
    Ok((query, format))
}

/// One batch in COPY's text format: tab-separated, `\N` for NULL, backslash escapes.
fn text_rows(batch: &RecordBatch, format: &CopyFormat) -> Result<Vec<u8>, String> {
    let options = FormatOptions::default();
    let formatters = batch
        .columns()
        .iter()
        .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for row in 0..batch.num_rows() {
        for (i, (column, formatter)) in batch.columns().iter().zip(&formatters).enumerate() {
            if i > 0 {
                out.push(format.delimiter);
            }
            if column.is_null(row) {
                out.extend_from_slice(format.null.as_bytes());
                continue;
            }
            for c in formatter.value(row).to_string().chars() {
                match c {
                    '\\' => out.extend_from_slice(b"\\\\"),
                    '\n' => out.extend_from_slice(b"\\n"),
                    '\r' => out.extend_from_slice(b"\\r"),
                    '\t' => out.extend_from_slice(b"\\t"),
                    c if c as u32 == u32::from(format.delimiter) => {
                        out.push(b'\\');
                        out.push(format.delimiter);
                    }
                    c => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
                }
            }
        }
        out.push(b'\n');
    }
    Ok(out)
}

/// The batch with every list column as text in Postgres' array syntax (`{a,"b c",NULL}`), which
/// is what Postgres writes for arrays in both COPY formats: arrow's CSV writer takes no lists,
/// and its display form (`[a, b]`) is no array literal a client could read back.
fn with_array_literals(batch: &RecordBatch) -> Result<RecordBatch, String> {
    let is_list = |t: &DataType| matches!(t, DataType::List(_) | DataType::LargeList(_));
    if !batch
        .schema()
        .fields()
        .iter()
        .any(|f| is_list(f.data_type()))
    {
        return Ok(batch.clone());
    }
    let mut fields = Vec::new();
    let mut columns = Vec::new();
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        let literals = match column.data_type() {
            DataType::List(_) => array_literals(column.as_list::<i32>()),
            DataType::LargeList(_) => array_literals(column.as_list::<i64>()),
            _ => {
                fields.push(field.clone());
                columns.push(column.clone());
                continue;
            }
        };
        fields.push(Arc::new(Field::new(field.name(), DataType::Utf8, true)));
        columns.push(Arc::new(literals.map_err(|e| e.to_string())?) as ArrayRef);
    }
    let options = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
    RecordBatch::try_new_with_options(Arc::new(Schema::new(fields)), columns, &options)
        .map_err(|e| e.to_string())
}

fn array_literals<O: OffsetSizeTrait>(
    list: &GenericListArray<O>,
) -> Result<StringArray, ArrowError> {
    let values = list.values();
    let formatter = ArrayFormatter::try_new(values.as_ref(), &FormatOptions::default())?;
    let mut out = StringBuilder::new();
    for row in 0..list.len() {
        if list.is_null(row) {
            out.append_null();
            continue;
        }
        let offsets = list.value_offsets();
        let (start, end) = (offsets[row].as_usize(), offsets[row + 1].as_usize());
        let mut text = String::from("{");
        for i in start..end {
            if i > start {
                text.push(',');
            }
            if values.is_null(i) {
                text.push_str("NULL");
            } else {
                push_array_element(&mut text, &formatter.value(i).to_string());
            }
        }
        text.push('}');
        out.append_value(text);
    }
    Ok(out.finish())
}

/// One element of an array literal, double-quoted when Postgres would quote it.
fn push_array_element(out: &mut String, value: &str) {
    let quoted = value.is_empty()
        || value.eq_ignore_ascii_case("null")
        || value
            .chars()
            .any(|c| matches!(c, '{' | '}' | ',' | '"' | '\\') || c.is_whitespace());
    if !quoted {
        out.push_str(value);
        return;
    }
    out.push('"');
    for c in value.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

fn csv_rows(batch: &RecordBatch, format: &CopyFormat, header: bool) -> Result<Vec<u8>, String> {
    let mut writer = WriterBuilder::new()
        .with_header(header)
        .with_delimiter(format.delimiter)
        .with_null(format.null.clone())
        .build(Vec::new());
    writer.write(batch).map_err(|e| e.to_string())?;
    Ok(writer.into_inner())
}

/// Run the query of a `COPY … TO STDOUT` (checked like any query) and stream its rows.
pub(crate) async fn copy_out(
    statement: &Statement,
    ctx: &SessionContext,
) -> PgWireResult<Response> {
    let (query, format) = parse(statement)?;
    let plan = checked_plan(query, ctx).await?;
    let schema = Arc::new(plan.schema().as_arrow().clone());
    let columns = schema.fields().len();
    let batches = ctx
        .execute_logical_plan(plan)
        .await
        .map_err(|e| PgWireError::ApiError(Box::new(e)))?
        .execute_stream()
        .await
        .map_err(|e| PgWireError::ApiError(Box::new(e)))?;
    let header = if format.header {
        let empty = RecordBatch::new_empty(schema);
        let line = if format.csv {
            with_array_literals(&empty).and_then(|empty| csv_rows(&empty, &format, true))
        } else {
            Ok(schema_line(&empty, &format))
        };
        Some(line)
    } else {
        None
    };
    let rows_format = format.clone();
    let rows = batches.map(move |batch| {
        let batch = batch.map_err(|e| PgWireError::ApiError(Box::new(e)))?;
        let bytes = with_array_literals(&batch).and_then(|batch| {
            if rows_format.csv {
                csv_rows(&batch, &rows_format, false)
            } else {
                text_rows(&batch, &rows_format)
            }
        });
        bytes
            .map(|b| CopyData::new(Bytes::from(b)))
            .map_err(|e| PgWireError::ApiError(e.into()))
    });
    let header = stream::iter(header.map(|line| {
        line.map(|b| CopyData::new(Bytes::from(b)))
            .map_err(|e| PgWireError::ApiError(e.into()))
    }));
    Ok(Response::CopyOut(CopyResponse::new(
        0,
        columns,
        header.chain(rows),
    )))
}

/// The header line of the text format: the column names.
fn schema_line(empty: &RecordBatch, format: &CopyFormat) -> Vec<u8> {
    let names: Vec<&str> = empty
        .schema_ref()
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect();
    let mut line = names
        .join(&(format.delimiter as char).to_string())
        .into_bytes();
    line.push(b'\n');
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::statement::parse as statement;

    #[test]
    fn options_old_and_new() {
        let (_, f) = parse(&statement("COPY (SELECT 1) TO STDOUT WITH CSV HEADER")).unwrap();
        assert!(f.csv && f.header && f.delimiter == b',');
        let (_, f) = parse(&statement(
            "COPY (SELECT 1) TO STDOUT (FORMAT csv, HEADER true)",
        ))
        .unwrap();
        assert!(f.csv && f.header);
        let (_, f) = parse(&statement("COPY runs TO STDOUT")).unwrap();
        assert_eq!(f, CopyFormat::text());
        assert!(parse(&statement("COPY (SELECT 1) TO STDOUT (FORMAT binary)")).is_err());
        assert!(is_copy_to_stdout(&statement("COPY (SELECT 1) TO STDOUT")));
        assert!(!is_copy_to_stdout(&statement(
            "COPY (SELECT 1) TO '/tmp/x'"
        )));
    }

    #[test]
    fn lists_are_array_literals_in_both_formats() {
        use datafusion::arrow::array::ListBuilder;
        let mut lists = ListBuilder::new(StringBuilder::new());
        lists.append_value([Some("a"), Some("b,c")]);
        lists.append_null();
        lists.append_value(Vec::<Option<&str>>::new());
        lists.append_value([Some(""), None, Some("x\"y"), Some("null")]);
        let batch = RecordBatch::try_from_iter([
            (
                "n",
                Arc::new(datafusion::arrow::array::Int64Array::from(vec![1, 2, 3, 4])) as ArrayRef,
            ),
            ("cols", Arc::new(lists.finish()) as ArrayRef),
        ])
        .unwrap();
        let batch = with_array_literals(&batch).unwrap();
        let mut csv = CopyFormat::text();
        csv.use_csv();
        // Postgres: {a,"b,c"} | NULL | {} | {"",NULL,"x\"y","null"}, then each format's quoting.
        assert_eq!(
            String::from_utf8(csv_rows(&batch, &csv, false).unwrap()).unwrap(),
            "1,\"{a,\"\"b,c\"\"}\"\n2,\n3,{}\n4,\"{\"\"\"\",NULL,\"\"x\\\"\"y\"\",\"\"null\"\"}\"\n"
        );
        assert_eq!(
            String::from_utf8(text_rows(&batch, &CopyFormat::text()).unwrap()).unwrap(),
            "1\t{a,\"b,c\"}\n2\t\\N\n3\t{}\n4\t{\"\",NULL,\"x\\\\\"y\",\"null\"}\n"
        );
    }

    #[test]
    fn text_format_escapes() {
        let batch = RecordBatch::try_from_iter([
            (
                "a",
                Arc::new(datafusion::arrow::array::StringArray::from(vec![
                    Some("x\ty\\z\nw"),
                    None,
                ])) as _,
            ),
            (
                "b",
                Arc::new(datafusion::arrow::array::Int64Array::from(vec![1, 2])) as _,
            ),
        ])
        .unwrap();
        let out = text_rows(&batch, &CopyFormat::text()).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "x\\ty\\\\z\\nw\t1\n\\N\t2\n"
        );
    }
}
