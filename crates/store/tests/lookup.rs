//! Lookups by a secondary id (`runs.job_id`) skip data files by their bloom filters.

use datafusion::prelude::SessionContext;
use prov9_model::tables::RunRow;
use prov9_store::Warehouse;

/// One run per id, of job `j<id>`.
fn runs(ids: impl Iterator<Item = usize>) -> Vec<RunRow> {
    ids.map(|i| RunRow {
        run_id: format!("run:{i:05}"),
        job_id: format!("job:ns:j{i:05}"),
        parent_run_id: None,
        state: "COMPLETE".into(),
        started_at: None,
        ended_at: None,
        code_version: None,
        parameters: None,
        environment: None,
        error_message: None,
        updated_at: None,
        root_run_id: None,
        tags: None,
    })
    .collect()
}

#[tokio::test]
async fn a_lookup_reads_only_row_groups_whose_bloom_filter_may_hold_the_id() {
    let dir = tempfile::tempdir().unwrap();
    let wh = Warehouse::open(dir.path().to_str().unwrap()).await.unwrap();
    // Two commits whose id ranges interleave: min/max statistics cannot tell them apart.
    let even = RunRow::to_batch(&runs((0..2000).step_by(2)));
    let odd = RunRow::to_batch(&runs((1..2000).step_by(2)));
    wh.append_published("runs", vec![even]).await.unwrap();
    wh.append_published("runs", vec![odd]).await.unwrap();

    let ctx = SessionContext::new();
    ctx.register_table(
        "runs",
        std::sync::Arc::new(wh.live_table("runs").await.unwrap()),
    )
    .unwrap();
    let lookup = "SELECT run_id FROM runs WHERE job_id = 'job:ns:j01001'";
    let rows = ctx.sql(lookup).await.unwrap().collect().await.unwrap();
    let ids = datafusion::arrow::util::pretty::pretty_format_batches(&rows)
        .unwrap()
        .to_string();
    assert!(ids.contains("run:01001") && rows.iter().map(|b| b.num_rows()).sum::<usize>() == 1);

    let plan = ctx
        .sql(&format!("EXPLAIN ANALYZE {lookup}"))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let plan = datafusion::arrow::util::pretty::pretty_format_batches(&plan)
        .unwrap()
        .to_string();
    let metric = plan
        .split(", ")
        .find(|m| m.starts_with("row_groups_pruned_bloom_filter="))
        .unwrap_or_else(|| panic!("no bloom filter metric in\n{plan}"));
    assert_eq!(
        metric, "row_groups_pruned_bloom_filter=2 total \u{2192} 1 matched",
        "the even-numbered file must be skipped by its bloom filter:\n{plan}"
    );
}
