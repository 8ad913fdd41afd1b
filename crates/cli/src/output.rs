//! Printing query results: an aligned table, CSV or JSON lines.

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;

use crate::args::OutputFormat;

pub fn render(
    schema: &SchemaRef,
    batches: &[RecordBatch],
    format: OutputFormat,
) -> anyhow::Result<String> {
    Ok(match format {
        OutputFormat::Table => {
            let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
            let table = if batches.is_empty() {
                let empty = RecordBatch::new_empty(schema.clone());
                arrow::util::pretty::pretty_format_batches(&[empty])?
            } else {
                arrow::util::pretty::pretty_format_batches(batches)?
            };
            format!(
                "{table}\n({rows} row{})\n",
                if rows == 1 { "" } else { "s" }
            )
        }
        OutputFormat::Csv => {
            let mut out = Vec::new();
            {
                let mut writer = arrow::csv::WriterBuilder::new()
                    .with_header(true)
                    .build(&mut out);
                if batches.is_empty() {
                    writer.write(&RecordBatch::new_empty(schema.clone()))?;
                }
                for b in batches {
                    writer.write(b)?;
                }
            }
            String::from_utf8(out)?
        }
        OutputFormat::Json => {
            let mut out = Vec::new();
            {
                let mut writer = arrow::json::LineDelimitedWriter::new(&mut out);
                for b in batches {
                    writer.write(b)?;
                }
                writer.finish()?;
            }
            String::from_utf8(out)?
        }
    })
}
