//! Point lookups skip data files by their bloom filters.

use datafusion::prelude::SessionContext;
use prov9_model::tables::JobRow;
use prov9_store::Warehouse;

fn jobs(ids: impl Iterator<Item = usize>) -> Vec<JobRow> {
    ids.map(|i| JobRow {
        job_id: format!("job:ns:j{i:05}"),
        namespace: "ns".into(),
        name: format!("j{i:05}"),
        job_type: "other".into(),
        description: None,
        source_code_location: None,
    })
    .collect()
}

#[tokio::test]
async fn a_lookup_reads_only_row_groups_whose_bloom_filter_may_hold_the_id() {
    let dir = tempfile::tempdir().unwrap();
    let wh = Warehouse::open(dir.path().to_str().unwrap()).await.unwrap();
    // Two commits whose id ranges interleave: min/max statistics cannot tell them apart.
    let even = JobRow::to_batch(&jobs((0..2000).step_by(2)));
    let odd = JobRow::to_batch(&jobs((1..2000).step_by(2)));
    wh.append("jobs", vec![even]).await.unwrap();
    wh.append("jobs", vec![odd]).await.unwrap();

    let ctx = SessionContext::new();
    ctx.register_table(
        "jobs",
        std::sync::Arc::new(wh.live_table("jobs").await.unwrap()),
    )
    .unwrap();
    let lookup = "SELECT name FROM jobs WHERE job_id = 'job:ns:j01001'";
    let rows = ctx.sql(lookup).await.unwrap().collect().await.unwrap();
    let names = datafusion::arrow::util::pretty::pretty_format_batches(&rows)
        .unwrap()
        .to_string();
    assert!(names.contains("j01001") && rows.iter().map(|b| b.num_rows()).sum::<usize>() == 1);

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
