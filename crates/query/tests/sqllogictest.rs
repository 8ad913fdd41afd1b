//! Runs the `.slt` files in `sql/slt/` against an engine over the bundled demo warehouse.
//!
//! Like DataFusion's own `sqllogictest/test_files`: each file pins the results of SQL a user
//! would write (the schema, lineage queries, JSON access, read-only errors). The same files run
//! over the wire too (tests/slt_wire.rs, which also runs `sql/slt/wire/`); records for one side
//! only are labelled `onlyif engine` / `onlyif wire`. Errors here are the engine's message alone
//! (the wire runner's carry `SQLSTATE <code>: ` before it).

use std::path::PathBuf;

use arrow::array::Array;
use arrow::datatypes::DataType;
use arrow::record_batch::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use async_trait::async_trait;
use prov9_ingest::{LoadOptions, Loader};
use prov9_query::{Engine, QueryError};
use prov9_store::Warehouse;
use sqllogictest::{DBOutput, DefaultColumnType};

struct Prov9Db {
    engine: Engine,
}

#[derive(Debug)]
struct DbError(QueryError);

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl std::error::Error for DbError {}

fn cell(array: &dyn Array, row: usize) -> String {
    if array.is_null(row) {
        return "NULL".to_string();
    }
    let options = FormatOptions::default();
    let formatter =
        ArrayFormatter::try_new(array, &options).expect("every column type can be displayed");
    let text = formatter.value(row).to_string();
    if text.is_empty() {
        "(empty)".to_string()
    } else {
        text
    }
}

fn column_type(dt: &DataType) -> DefaultColumnType {
    match dt {
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 | DataType::UInt64 => {
            DefaultColumnType::Integer
        }
        DataType::Float32 | DataType::Float64 => DefaultColumnType::FloatingPoint,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => DefaultColumnType::Text,
        _ => DefaultColumnType::Any,
    }
}

#[async_trait]
impl sqllogictest::AsyncDB for Prov9Db {
    type Error = DbError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, DbError> {
        let (schema, batches) = self.engine.query(sql).await.map_err(DbError)?;
        let types = schema
            .fields()
            .iter()
            .map(|f| column_type(f.data_type()))
            .collect();
        let mut rows = Vec::new();
        for batch in &batches {
            rows.extend((0..batch.num_rows()).map(|r| row(batch, r)));
        }
        Ok(DBOutput::Rows { types, rows })
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "engine"
    }
}

fn row(batch: &RecordBatch, r: usize) -> Vec<String> {
    batch
        .columns()
        .iter()
        .map(|c| cell(c.as_ref(), r))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn slt_files_over_the_demo() {
    let warehouse = Warehouse::open("memory://").await.unwrap();
    let mut loader = Loader::new(warehouse.clone(), LoadOptions::default())
        .await
        .unwrap();
    loader
        .load_events(prov9_ingest::demo::events())
        .await
        .unwrap();
    let engine = Engine::new(&warehouse).await.unwrap();

    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../sql/slt");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "slt"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .slt files in {}", dir.display());
    // `COPY … TO '$OUTSIDE/…'` in the files: a directory that must stay empty.
    let outside = tempfile::tempdir().unwrap();
    for file in files {
        let engine = engine.clone();
        let mut runner = sqllogictest::Runner::new(move || {
            let engine = engine.clone();
            async move { Ok(Prov9Db { engine }) }
        });
        runner.set_var("OUTSIDE".to_string(), outside.path().display().to_string());
        if let Err(e) = runner.run_file_async(&file).await {
            panic!("{}: {e}", file.display());
        }
    }
    assert!(
        std::fs::read_dir(outside.path()).unwrap().next().is_none(),
        "a statement wrote a file"
    );
}
