//! Point lookups answered without planning return exactly what DataFusion's plan of the same
//! query returns, and nothing but that shape is taken for one.

use arrow::array::RecordBatch;
use arrow::util::pretty::pretty_format_batches;
use datafusion::common::{ParamValues, ScalarValue};
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use prov9_model::tables::RunRow;
use prov9_query::{Engine, PointLookup};
use prov9_store::Warehouse;

fn run(i: usize, state: &str) -> RunRow {
    RunRow {
        run_id: format!("run:{i:05}"),
        job_id: format!("job:ns:j{}", i % 7),
        parent_run_id: i.is_multiple_of(3).then(|| format!("run:{:05}", i / 3)),
        state: state.into(),
        started_at: chrono::DateTime::from_timestamp(1_767_225_600 + i as i64, 0),
        ended_at: None,
        code_version: Some(format!("v{i}")),
        parameters: i.is_multiple_of(2).then(|| format!("{{\"i\": {i}}}")),
        environment: None,
        error_message: None,
        updated_at: None,
        root_run_id: None,
        tags: None,
    }
}

/// `sql` planned as a prepared statement is, with `params` bound: not optimised.
async fn bound_plan(ctx: &SessionContext, sql: &str, params: Vec<ScalarValue>) -> LogicalPlan {
    ctx.state()
        .create_logical_plan(sql)
        .await
        .unwrap()
        .replace_params_with_values(&ParamValues::List(
            params.into_iter().map(Into::into).collect(),
        ))
        .unwrap()
}

fn text(batches: &[RecordBatch]) -> String {
    pretty_format_batches(batches).unwrap().to_string()
}

fn key(i: usize) -> ScalarValue {
    ScalarValue::Utf8(Some(run(i, "").run_id))
}

#[tokio::test]
async fn lookups_by_key_answer_what_the_planned_query_answers() {
    let wh = Warehouse::open("memory://").await.unwrap();
    let rows: Vec<RunRow> = (0..2000).map(|i| run(i, "RUNNING")).collect();
    wh.append_published("runs", vec![RunRow::to_batch(&rows)])
        .await
        .unwrap();
    // A rewrite (MERGE) moves run 10 to a new file: the lookup must read the new row only.
    wh.upsert_published(
        "runs",
        RunRow::to_batch(&[run(10, "COMPLETE")]),
        "run_id",
        None,
    )
    .await
    .unwrap();
    let engine = Engine::new(&wh).await.unwrap();
    let ctx = engine.context();

    let lookups: Vec<(&str, Vec<ScalarValue>, usize)> = vec![
        ("SELECT * FROM runs WHERE run_id = $1", vec![key(10)], 1),
        ("SELECT * FROM runs WHERE $1 = run_id", vec![key(1999)], 1),
        (
            "SELECT state, run_id, parameters FROM runs r WHERE r.run_id = $1",
            vec![key(4)],
            1,
        ),
        (
            "SELECT run_id, started_at FROM runs WHERE run_id IN ($1, $2, 'run:none')",
            vec![key(3), key(10)],
            2,
        ),
        ("SELECT * FROM runs WHERE run_id = $1", vec![key(5000)], 0),
        (
            "SELECT state FROM runs WHERE run_id = $1",
            vec![ScalarValue::Utf8(None)],
            0,
        ),
    ];
    for (sql, params, expected_rows) in lookups {
        let plan = bound_plan(ctx, sql, params).await;
        let lookup = PointLookup::recognise(&plan).unwrap_or_else(|| panic!("{sql}: {plan}"));
        let fast = lookup.rows().await.unwrap();
        let planned = ctx
            .execute_logical_plan(plan.clone())
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let count: usize = fast.iter().map(RecordBatch::num_rows).sum();
        assert_eq!(count, expected_rows, "{sql}");
        assert_eq!(text(&fast), text(&planned), "{sql}");
        for (fast, planned) in fast.iter().zip(&planned) {
            assert_eq!(fast.schema(), planned.schema(), "{sql}: names and types");
        }
    }
    let updated = bound_plan(
        ctx,
        "SELECT state FROM runs WHERE run_id = $1",
        vec![key(10)],
    )
    .await;
    let rows = PointLookup::recognise(&updated)
        .unwrap()
        .rows()
        .await
        .unwrap();
    assert_eq!(
        text(&rows),
        "+----------+\n| state    |\n+----------+\n| COMPLETE |\n+----------+"
    );

    // A later commit is seen by the next lookup, as by a planned query.
    wh.upsert_published("runs", RunRow::to_batch(&[run(10, "FAIL")]), "run_id", None)
        .await
        .unwrap();
    let rows = PointLookup::recognise(&updated)
        .unwrap()
        .rows()
        .await
        .unwrap();
    assert!(text(&rows).contains("| FAIL  |"), "{}", text(&rows));
}

#[tokio::test]
async fn only_plain_lookups_by_key_skip_planning() {
    let wh = Warehouse::open("memory://").await.unwrap();
    let engine = Engine::new(&wh).await.unwrap();
    let ctx = engine.context();
    for sql in [
        "SELECT upper(state) FROM runs WHERE run_id = $1",
        "SELECT state AS s FROM runs WHERE run_id = $1",
        "SELECT state FROM runs WHERE run_id = $1 AND state = 'FAIL'",
        "SELECT state FROM runs WHERE run_id = $1 OR state = 'FAIL'",
        "SELECT state FROM runs WHERE concat(run_id, '') = $1",
        "SELECT state FROM runs WHERE job_id = $1",
        "SELECT state FROM runs WHERE run_id = $1 LIMIT 1",
        "SELECT state FROM runs WHERE run_id = $1 ORDER BY state",
        "SELECT count(*) FROM runs WHERE run_id = $1",
        "SELECT DISTINCT state FROM runs WHERE run_id = $1",
        "SELECT r.state FROM runs r JOIN jobs j ON r.job_id = j.job_id WHERE r.run_id = $1",
        "SELECT src FROM lineage_edges WHERE src = $1",
    ] {
        let plan = bound_plan(ctx, sql, vec![key(1)]).await;
        assert!(PointLookup::recognise(&plan).is_none(), "{sql}: {plan}");
    }
}
