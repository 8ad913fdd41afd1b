//! Lookups by primary key read rows through the key index, and answer exactly what a full scan
//! answers, across appends, rewrites (MERGE) and other writers' commits.

use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::prelude::SessionContext;
use prov9_model::tables::RunRow;
use prov9_store::Warehouse;

fn run(i: usize, state: &str) -> RunRow {
    RunRow {
        run_id: format!("run:{:08x}", i.wrapping_mul(0x9E37_79B9) % 0xFFFF_FFFF),
        job_id: format!("job:ns:j{}", i % 7),
        parent_run_id: i.is_multiple_of(3).then(|| format!("run:parent{i}")),
        state: state.into(),
        started_at: chrono::DateTime::from_timestamp(1_767_225_600 + i as i64, 0),
        ended_at: None,
        code_version: Some(format!("v{i}")),
        parameters: Some(format!("{{\"i\": {i}}}")),
        environment: None,
        error_message: None,
        updated_at: None,
        root_run_id: None,
        tags: None,
    }
}

async fn context(wh: &Warehouse) -> SessionContext {
    let ctx = SessionContext::new();
    ctx.register_table("runs", Arc::new(wh.live_table("runs").await.unwrap()))
        .unwrap();
    ctx
}

async fn query(ctx: &SessionContext, sql: &str) -> Vec<RecordBatch> {
    ctx.sql(sql).await.unwrap().collect().await.unwrap()
}

/// Rows as sorted text lines, to compare answers.
fn lines(batches: &[RecordBatch]) -> Vec<String> {
    let text = pretty_format_batches(batches).unwrap().to_string();
    let mut rows: Vec<String> = text
        .lines()
        .filter(|l| l.starts_with('|'))
        .skip(1)
        .map(str::to_string)
        .collect();
    rows.sort();
    rows
}

/// The same query, once through the key index and once through a full scan (the key wrapped
/// in an expression the index does not recognise).
async fn assert_same_as_scan(ctx: &SessionContext, select: &str, condition: &str) {
    let indexed = format!("{select} FROM runs WHERE {condition}");
    let plan = lines(&query(ctx, &format!("EXPLAIN {indexed}")).await).join("\n");
    assert!(plan.contains("KeyLookupExec: runs.run_id"), "{plan}");
    let scanned = format!(
        "{select} FROM runs WHERE {}",
        condition.replace("run_id", "concat(run_id, '')")
    );
    let plan = lines(&query(ctx, &format!("EXPLAIN {scanned}")).await).join("\n");
    assert!(!plan.contains("KeyLookupExec"), "{plan}");
    assert_eq!(
        lines(&query(ctx, &indexed).await),
        lines(&query(ctx, &scanned).await),
        "{indexed}"
    );
}

#[tokio::test]
async fn lookups_by_key_match_a_full_scan_across_appends_rewrites_and_other_writers() {
    let dir = tempfile::tempdir().unwrap();
    let location = dir.path().to_str().unwrap();
    let wh = Warehouse::open(location).await.unwrap();
    let first: Vec<RunRow> = (0..3000).map(|i| run(i, "RUNNING")).collect();
    wh.append_published("runs", vec![RunRow::to_batch(&first)])
        .await
        .unwrap();
    let ctx = context(&wh).await;
    let id = |i: usize| run(i, "").run_id;

    let cases = |ids: &[String]| -> Vec<String> {
        vec![
            format!("run_id = '{}'", ids[0]),
            format!("'{}' = run_id", ids[1]),
            format!("run_id IN ('{}', '{}', 'run:missing')", ids[0], ids[2]),
            "run_id = 'run:missing'".to_string(),
            format!("run_id = '{}' AND state = 'COMPLETE'", ids[1]),
            // Two filters on the key: the lookup reads the keys both allow.
            format!(
                "run_id IN ('{}', '{}') AND run_id = '{}'",
                ids[2], ids[0], ids[0]
            ),
        ]
    };
    for condition in cases(&[id(0), id(1500), id(2999)]) {
        assert_same_as_scan(&ctx, "SELECT *", &condition).await;
        assert_same_as_scan(&ctx, "SELECT count(*)", &condition).await;
    }
    // The key compared with NULL matches nothing. DataFusion folds `run_id IN (NULL)` to NULL
    // after pushing it to the scan as a key filter: the scan answered every row.
    for condition in ["run_id IN (NULL)", "run_id = NULL", "NULL = run_id"] {
        let sql = format!("SELECT count(*) AS n FROM runs WHERE {condition}");
        assert_eq!(lines(&query(&ctx, &sql).await), ["| 0 |"], "{sql}");
    }
    // The lookup checks the keys of the rows it reads, so no filter is planned above it.
    let plan = format!("EXPLAIN SELECT state FROM runs WHERE run_id = '{}'", id(0));
    let plan = lines(&query(&ctx, &plan).await).join("\n");
    assert!(!plan.contains("FilterExec"), "{plan}");
    // Rows read are cached (row_cache.rs): the updates below must be seen all the same.
    let state_of = |i: usize| format!("SELECT state FROM runs WHERE run_id = '{}'", id(i));
    for i in [7, 1500] {
        let got = query(&ctx, &state_of(i)).await;
        assert_eq!(lines(&got), vec!["| RUNNING |".to_string()], "run {i}");
    }

    // A second commit, then a rewrite: updating some runs makes MERGE rewrite files.
    let second: Vec<RunRow> = (3000..4000).map(|i| run(i, "RUNNING")).collect();
    wh.append_published("runs", vec![RunRow::to_batch(&second)])
        .await
        .unwrap();
    let finished: Vec<RunRow> = [5, 1500, 3500]
        .iter()
        .map(|i| run(*i, "COMPLETE"))
        .collect();
    wh.upsert_published("runs", RunRow::to_batch(&finished), "run_id", None)
        .await
        .unwrap();
    let got = query(
        &ctx,
        &format!(
            "SELECT state, code_version FROM runs WHERE run_id = '{}'",
            id(1500)
        ),
    )
    .await;
    assert_eq!(
        lines(&got),
        vec!["| COMPLETE | v1500        |".to_string()],
        "one row, the updated one"
    );
    let got = query(&ctx, &state_of(1500)).await;
    assert_eq!(
        lines(&got),
        vec!["| COMPLETE |".to_string()],
        "a row read before"
    );
    for condition in cases(&[id(5), id(3500), id(3999)]) {
        assert_same_as_scan(&ctx, "SELECT *", &condition).await;
    }

    // Another process's commit is seen by the next lookup.
    let other = Warehouse::open(location).await.unwrap();
    other
        .upsert_published(
            "runs",
            RunRow::to_batch(&[run(7, "FAIL"), run(9000, "START")]),
            "run_id",
            None,
        )
        .await
        .unwrap();
    for (i, state) in [(7, "FAIL"), (9000, "START"), (8, "RUNNING")] {
        let got = query(&ctx, &state_of(i)).await;
        assert_eq!(lines(&got), vec![format!("| {state:<5} |")], "run {i}");
    }
    assert_same_as_scan(
        &ctx,
        "SELECT run_id, state",
        &format!("run_id IN ('{}', '{}')", id(7), id(9000)),
    )
    .await;
}

/// A lookup reads each column's dictionary page whole: the key has none, the others stay small;
/// and it decompresses the data page holding its row in every column: pages stay short.
#[tokio::test]
async fn data_files_keep_dictionaries_small_and_none_on_the_key() {
    use deltalake::parquet::file::reader::{FileReader, SerializedFileReader};
    use deltalake::parquet::file::serialized_reader::ReadOptionsBuilder;
    let dir = tempfile::tempdir().unwrap();
    let wh = Warehouse::open(dir.path().to_str().unwrap()).await.unwrap();
    let rows: Vec<RunRow> = (0..20_000).map(|i| run(i, "RUNNING")).collect();
    wh.append_published("runs", vec![RunRow::to_batch(&rows)])
        .await
        .unwrap();
    let file = std::fs::read_dir(dir.path().join("runs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "parquet"))
        .unwrap();
    let reader = SerializedFileReader::new(std::fs::File::open(&file).unwrap()).unwrap();
    for group in reader.metadata().row_groups() {
        for column in group.columns() {
            let name = column.column_path().string();
            match column.dictionary_page_offset() {
                None => {}
                Some(_) if name == "run_id" => panic!("the key column has a dictionary"),
                Some(start) => {
                    let size = column.data_page_offset() - start;
                    assert!(size <= 24 << 10, "{name}: {size}-byte dictionary");
                }
            }
        }
    }
    let options = ReadOptionsBuilder::new().with_page_index().build();
    let reader =
        SerializedFileReader::new_with_options(std::fs::File::open(&file).unwrap(), options)
            .unwrap();
    let metadata = reader.metadata();
    let offsets = metadata.offset_index().expect("an offset index");
    for (group, columns) in metadata.row_groups().iter().zip(offsets) {
        for (column, index) in group.columns().iter().zip(columns) {
            let starts: Vec<i64> = index
                .page_locations()
                .iter()
                .map(|p| p.first_row_index)
                .chain([group.num_rows()])
                .collect();
            let longest = starts.windows(2).map(|w| w[1] - w[0]).max().unwrap();
            let name = column.column_path().string();
            // The writer checks its 256-row limit between write batches (of levels, with
            // nulls): a page may run somewhat over, never to the 1,024 rows of other tables.
            assert!(longest < 512, "{name}: a page of {longest} rows");
        }
    }
}
