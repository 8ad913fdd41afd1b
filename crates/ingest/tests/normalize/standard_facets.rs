//! The standard OpenLineage facets an Airflow DAG and a dbt project send, as columns and tables:
//! jobType, ownership, tags, sql, sourceCode, datasetType, parent with its root,
//! executionParameters, inputStatistics and dataQualityAssertions; datasets declared by runs
//! that never wrote them; and parent runs in the lineage graph.

use crate::common::*;
use prov9_model::tables::{
    DatasetRow, DatasetVersionRow, JobRow, LineageEdgeRow, QualityCheckRow, RunRow,
};
use prov9_store::Warehouse;
use serde_json::{Value, json};

fn job_type(kind: &str) -> Value {
    json!({"jobType": {"processingType": "BATCH", "integration": "AIRFLOW", "jobType": kind}})
}

/// A run event whose job carries `job_facets`.
fn event(
    kind: &str,
    time: &str,
    run: &str,
    job: &str,
    job_facets: Value,
    run_facets: Value,
) -> Value {
    let mut e = run_event(kind, time, run, job, json!([]), json!([]), run_facets);
    e["job"]["facets"] = job_facets;
    e
}

fn parent(run: &str, job: &str, root: &str) -> Value {
    json!({"parent": {"run": {"runId": run}, "job": {"namespace": "ns", "name": job},
                      "root": {"run": {"runId": root}, "job": {"namespace": "ns", "name": "dag"}}}})
}

/// An Airflow-shaped DAG run: the DAG, a task reading a CSV whose query run writes a table, a
/// failed task and a task whose START names an output its COMPLETE does not; then a dbt test run
/// checking the table.
fn dag_and_tests() -> Vec<Value> {
    let csv = json!({"namespace": "file", "name": "/data/raw.csv",
                     "facets": {"datasetType": {"datasetType": "FILE"}}});
    let table = json!({"namespace": "postgres://db:5432", "name": "shop.public.events",
                       "facets": {"datasetType": {"datasetType": "TABLE"},
                                  "ownership": {"owners": [{"name": "team:data", "type": "TEAM"}]},
                                  "tags": {"tags": [{"key": "pii", "value": "false", "source": "DBT"}]}}});
    let dag = event(
        "START",
        "2026-03-01T00:00:00Z",
        "dag1",
        "dag",
        json!({"jobType": job_type("DAG")["jobType"],
               "ownership": {"owners": [{"name": "team:ml"}]},
               "tags": {"tags": [{"key": "env", "value": "prod", "source": "AIRFLOW"}]}}),
        json!({"tags": {"tags": [{"key": "trigger", "value": "scheduled"}]}}),
    );
    let mut task = event(
        "COMPLETE",
        "2026-03-01T00:05:00Z",
        "task1",
        "dag.extract",
        job_type("TASK"),
        parent("dag1", "dag", "dag1"),
    );
    task["inputs"] = json!([csv]);
    let mut query = event(
        "COMPLETE",
        "2026-03-01T00:04:00Z",
        "q1",
        "dag.extract.query",
        json!({"jobType": job_type("QUERY")["jobType"],
               "sql": {"query": "INSERT INTO events SELECT * FROM raw"},
               "sourceCode": {"language": "python", "sourceCode": "print(1)"}}),
        parent("task1", "dag.extract", "dag1"),
    );
    query["outputs"] = json!([table]);
    let mut failed = event(
        "FAIL",
        "2026-03-01T00:06:00Z",
        "task2",
        "dag.load",
        job_type("TASK"),
        parent("dag1", "dag", "dag1"),
    );
    failed["outputs"] =
        json!([{"namespace": "postgres://db:5432", "name": "shop.public.failed_out"}]);
    let mut started = event(
        "START",
        "2026-03-01T00:07:00Z",
        "task3",
        "dag.report",
        job_type("TASK"),
        parent("dag1", "dag", "dag1"),
    );
    started["outputs"] =
        json!([{"namespace": "postgres://db:5432", "name": "shop.public.started_only"}]);
    let completed = event(
        "COMPLETE",
        "2026-03-01T00:08:00Z",
        "task3",
        "dag.report",
        job_type("TASK"),
        json!({}),
    );
    let mut test = event(
        "COMPLETE",
        "2026-03-01T01:00:00Z",
        "t1",
        "shop.test.events",
        json!({"jobType": {"processingType": "BATCH", "integration": "DBT", "jobType": "TEST"}}),
        json!({"executionParameters": {"parameters": [{"key": "target", "value": "prod"}]}}),
    );
    test["inputs"] = json!([{"namespace": "postgres://db:5432", "name": "shop.public.events",
        "inputFacets": {
            "inputStatistics": {"rowCount": 42, "size": 4096},
            "dataQualityAssertions": {"assertions": [
                {"assertion": "not_null", "success": false, "column": "user_id", "severity": "error", "failures": 3},
                {"assertion": "unique", "success": true, "column": "event_id"},
                {"assertion": "row_count_between", "success": true}]}}}]);
    vec![dag, task, query, failed, started, completed, test]
}

#[tokio::test]
async fn standard_facets_fill_their_columns() {
    let wh = Warehouse::open("memory://").await.unwrap();
    load(&wh, &dag_and_tests(), 100).await.unwrap();

    let jobs = rows(&wh, "jobs", JobRow::from_batch).await;
    let job = |name: &str| jobs.iter().find(|j| j.name == name).unwrap().clone();
    let dag = job("dag");
    assert_eq!(
        (
            dag.processing_type.as_deref(),
            dag.integration.as_deref(),
            dag.integration_job_type.as_deref()
        ),
        (Some("BATCH"), Some("AIRFLOW"), Some("DAG"))
    );
    let owners: Value = serde_json::from_str(dag.owners.as_deref().unwrap()).unwrap();
    assert_eq!(owners[0]["name"], "team:ml");
    let tags: Value = serde_json::from_str(dag.tags.as_deref().unwrap()).unwrap();
    assert_eq!(
        (tags[0]["key"].as_str(), tags[0]["value"].as_str()),
        (Some("env"), Some("prod"))
    );
    let query = job("dag.extract.query");
    assert_eq!(query.integration_job_type.as_deref(), Some("QUERY"));
    assert_eq!(
        query.sql.as_deref(),
        Some("INSERT INTO events SELECT * FROM raw")
    );
    assert_eq!(
        (
            query.source_code_language.as_deref(),
            query.source_code.as_deref()
        ),
        (Some("python"), Some("print(1)"))
    );
    assert_eq!(job("shop.test.events").integration.as_deref(), Some("DBT"));

    let runs = rows(&wh, "runs", RunRow::from_batch).await;
    let run = |id: &str| runs.iter().find(|r| r.run_id == id).unwrap().clone();
    let q1 = run("run:q1");
    assert_eq!(q1.parent_run_id.as_deref(), Some("run:task1"));
    assert_eq!(q1.root_run_id.as_deref(), Some("run:dag1"));
    assert!(run("run:dag1").tags.unwrap().contains("scheduled"));
    let parameters: Value = serde_json::from_str(&run("run:t1").parameters.unwrap()).unwrap();
    assert_eq!(parameters, json!({"target": "prod"}));

    let datasets = rows(&wh, "datasets", DatasetRow::from_batch).await;
    let dataset = |name: &str| datasets.iter().find(|d| d.name == name).cloned();
    assert_eq!(
        dataset("/data/raw.csv").unwrap().dataset_type.as_deref(),
        Some("FILE")
    );
    let table = dataset("shop.public.events").unwrap();
    assert_eq!(table.dataset_type.as_deref(), Some("TABLE"));
    assert!(table.owners.unwrap().contains("team:data"));
    assert!(table.tags.unwrap().contains("pii"));
    // Declared by a failed run and by a START its COMPLETE contradicts: known, never written.
    let versions = rows(&wh, "dataset_versions", DatasetVersionRow::from_batch).await;
    for name in ["shop.public.failed_out", "shop.public.started_only"] {
        let d = dataset(name).unwrap_or_else(|| panic!("{name} is recorded"));
        assert!(
            !versions.iter().any(|v| v.dataset_id == d.dataset_id),
            "{name} was never written"
        );
    }

    // The test run's input facets describe the version the query run wrote.
    let written = "dataset:postgres://db:5432:shop.public.events@q1";
    let version = versions.iter().find(|v| v.version_id == written).unwrap();
    assert_eq!(
        (version.row_count, version.byte_size),
        (Some(42), Some(4096))
    );
    assert!(version.quality.as_deref().unwrap().contains("not_null"));
}

#[tokio::test]
async fn quality_assertions_become_checks_once() {
    let wh = Warehouse::open("memory://").await.unwrap();
    let mut events = dag_and_tests();
    // The test run's assertions also on its START (ignored: results come with the end) and on a
    // later OTHER event (the same checks: recorded once). Two checks of one kind on one column
    // are told apart by their names.
    let test = events.last().unwrap().clone();
    let mut start = test.clone();
    start["eventType"] = json!("START");
    start["eventTime"] = json!("2026-03-01T00:59:00Z");
    start["inputs"][0]["inputFacets"]["dataQualityAssertions"]["assertions"][0]["success"] =
        json!(true);
    let mut other = test.clone();
    other["eventType"] = json!("OTHER");
    other["eventTime"] = json!("2026-03-01T01:01:00Z");
    let assertions = &mut events.last_mut().unwrap()["inputs"][0]["inputFacets"]["dataQualityAssertions"]
        ["assertions"];
    for (name, values) in [
        ("status_is_known", "[a, b]"),
        ("status_is_not_legacy", "[c]"),
    ] {
        assertions.as_array_mut().unwrap().push(json!({
            "assertion": "accepted_values", "column": "status", "success": true,
            "name": name, "expected": values}));
    }
    other["inputs"][0]["inputFacets"]["dataQualityAssertions"]["assertions"] = assertions.clone();
    // A test run that only ever started: no results.
    let mut unfinished = start.clone();
    unfinished["run"]["runId"] = json!("t2");
    events.extend([start, other, unfinished]);
    load(&wh, &events, 100).await.unwrap();
    // Loaded again, split differently: nothing is added twice.
    load(&wh, &events, 2).await.unwrap();
    let mut checks = rows(&wh, "quality_checks", QualityCheckRow::from_batch).await;
    checks.sort_by(|a, b| (&a.assertion, &a.check_name).cmp(&(&b.assertion, &b.check_name)));
    let summary: Vec<_> = checks
        .iter()
        .map(|c| {
            (
                c.assertion.as_str(),
                c.check_name.as_deref(),
                c.column_name.as_deref(),
                c.success,
                c.severity.as_deref(),
                c.failures,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                "accepted_values",
                Some("status_is_known"),
                Some("status"),
                Some(true),
                None,
                None
            ),
            (
                "accepted_values",
                Some("status_is_not_legacy"),
                Some("status"),
                Some(true),
                None,
                None
            ),
            (
                "not_null",
                None,
                Some("user_id"),
                Some(false),
                Some("error"),
                Some(3)
            ),
            ("row_count_between", None, None, Some(true), None, None),
            ("unique", None, Some("event_id"), Some(true), None, None),
        ]
    );
    for c in &checks {
        assert_eq!(
            c.dataset_version_id,
            "dataset:postgres://db:5432:shop.public.events@q1"
        );
        assert_eq!(c.run_id.as_deref(), Some("run:t1"));
    }
}

#[tokio::test]
async fn a_parent_run_is_upstream_of_its_children() {
    let wh = Warehouse::open("memory://").await.unwrap();
    load(&wh, &dag_and_tests(), 100).await.unwrap();
    let edges: Vec<(String, String, String)> =
        rows(&wh, "lineage_edges", LineageEdgeRow::from_batch)
            .await
            .into_iter()
            .map(|e| (e.src, e.dst, e.edge_type))
            .collect();
    let has = |src: &str, dst: &str, kind: &str| {
        edges.contains(&(src.to_string(), dst.to_string(), kind.to_string()))
    };
    // The CSV the task read -> the task -> its query run -> the table the query wrote.
    assert!(
        has(
            "dataset:file:/data/raw.csv@unversioned",
            "run:task1",
            "input"
        ),
        "{edges:?}"
    );
    assert!(has("run:task1", "run:q1", "parent"), "{edges:?}");
    assert!(
        has(
            "run:q1",
            "dataset:postgres://db:5432:shop.public.events@q1",
            "output"
        ),
        "{edges:?}"
    );
    assert!(has("run:dag1", "run:task1", "parent"), "{edges:?}");
    let parents = edges.iter().filter(|e| e.2 == "parent").count();
    assert_eq!(parents, 4, "dag -> 3 tasks, task -> query: {edges:?}");
}
