//! Normalisation and loading against a real (in-memory) Delta warehouse.

mod common;

use common::*;

use std::sync::atomic::{AtomicBool, Ordering};

use prov9_ingest::{LoadOptions, LoadProgress, Loader, RowCounts};
use prov9_model::column::ColumnValue;
use prov9_model::tables::{
    DatasetRow, DatasetVersionRow, JobRow, LineageEdgeRow, MetricRow, TABLE_NAMES,
};
use prov9_store::Warehouse;
use serde_json::{Value, json};

#[tokio::test]
async fn a_run_merges_across_batches_and_loads() {
    let wh = Warehouse::open("memory://").await.unwrap();
    let start = run_event(
        "START",
        "2026-01-01T00:00:00Z",
        "r1",
        "j",
        json!([]),
        json!([]),
        json!({"parent": {"run": {"runId": "p1"}, "job": {"namespace": "ns", "name": "dag"}}}),
    );
    let fail = run_event(
        "FAIL",
        "2026-01-01T00:05:00Z",
        "r1",
        "j",
        json!([]),
        json!([]),
        json!({"errorMessage": {"message": "boom", "programmingLanguage": "python"}}),
    );
    // One event per batch: the FAIL updates the stored row (a Delta MERGE), later loaders see it.
    load(&wh, std::slice::from_ref(&start), 1).await.unwrap();
    let summary = load(&wh, &[fail.clone(), start], 1).await.unwrap();
    assert_eq!(summary.events_new, 1);
    assert_eq!(summary.rows.get("runs"), 0, "an update is not a new row");
    let rows = runs(&wh).await;
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert_eq!(
        (
            r.run_id.as_str(),
            r.state.as_str(),
            r.error_message.as_deref()
        ),
        ("run:r1", "FAIL", Some("boom"))
    );
    assert_eq!(r.parent_run_id.as_deref(), Some("run:p1"));
    assert!(r.started_at.unwrap() < r.ended_at.unwrap());
    // A late RUNNING event does not undo the terminal state.
    let running = run_event(
        "RUNNING",
        "2026-01-01T00:01:00Z",
        "r1",
        "j",
        json!([]),
        json!([]),
        json!({}),
    );
    load(&wh, &[running], 10).await.unwrap();
    assert_eq!(runs(&wh).await[0].state, "FAIL");
    assert_eq!(count(&wh, "events").await, 3);
}

#[tokio::test]
async fn inputs_resolve_to_the_version_current_at_their_time() {
    let wh = Warehouse::open("memory://").await.unwrap();
    let out = |rows: i64| json!([{"namespace": "s3://b", "name": "raw", "outputFacets": {"outputStatistics": {"rowCount": rows}}}]);
    let input = json!([{"namespace": "s3://b", "name": "raw"}]);
    // Given out of order: resolution follows event time, not file order.
    let events = [
        run_event(
            "COMPLETE",
            "2026-01-02T01:00:00Z",
            "use2",
            "use",
            input.clone(),
            json!([]),
            json!({}),
        ),
        run_event(
            "COMPLETE",
            "2026-01-02T00:00:00Z",
            "make2",
            "make",
            json!([]),
            out(20),
            json!({}),
        ),
        run_event(
            "COMPLETE",
            "2026-01-01T00:00:00Z",
            "make1",
            "make",
            json!([]),
            out(10),
            json!({}),
        ),
        run_event(
            "COMPLETE",
            "2026-01-01T01:00:00Z",
            "use1",
            "use",
            input.clone(),
            json!([]),
            json!({}),
        ),
        run_event(
            "COMPLETE",
            "2025-12-31T00:00:00Z",
            "use0",
            "use",
            json!([{"namespace": "s3://b", "name": "ext"}]),
            json!([]),
            json!({}),
        ),
    ];
    load(&wh, &events, 100).await.unwrap();
    let v = |run: &str| format!("dataset:s3://b:raw@{run}");
    let e = edges(&wh).await;
    assert!(e.contains(&(v("make1"), "run:use1".into())), "{e:?}");
    assert!(e.contains(&(v("make2"), "run:use2".into())), "{e:?}");
    assert!(!e.contains(&(v("make1"), "run:use2".into())), "{e:?}");
    assert!(
        e.contains(&("dataset:s3://b:ext@unversioned".into(), "run:use0".into())),
        "{e:?}"
    );
    assert!(e.contains(&("run:make2".into(), v("make2"))), "{e:?}");

    let mut versions: Vec<DatasetVersionRow> = Vec::new();
    for b in wh.read("dataset_versions", &[]).await.unwrap() {
        versions.extend(DatasetVersionRow::from_batch(&b).unwrap());
    }
    let second = versions
        .iter()
        .find(|r| r.version_id == v("make2"))
        .unwrap();
    assert_eq!(
        second.previous_version_id.as_deref(),
        Some(v("make1").as_str())
    );
    assert_eq!(second.row_count, Some(20));
    assert_eq!(second.created_by_run.as_deref(), Some("run:make2"));
}

#[tokio::test]
async fn loading_twice_adds_nothing() {
    let wh = Warehouse::open("memory://").await.unwrap();
    let mut loader = Loader::new(wh.clone(), LoadOptions::default())
        .await
        .unwrap();
    let first = loader
        .load_events(prov9_ingest::demo::events())
        .await
        .unwrap();
    assert!(first.rows.get("lineage_edges") > 0 && first.rows.get("transformations") > 0);
    let mut versions = Vec::new();
    for t in TABLE_NAMES {
        versions.push(wh.version(t).await.unwrap());
    }
    let mut again = Loader::new(wh.clone(), LoadOptions::default())
        .await
        .unwrap();
    let second = again
        .load_events(prov9_ingest::demo::events())
        .await
        .unwrap();
    assert_eq!((second.events_new, second.rows.total()), (0, 0));
    for (t, v) in TABLE_NAMES.iter().zip(versions) {
        assert_eq!(wh.version(t).await.unwrap(), v, "{t} got a commit");
    }
}

#[tokio::test]
async fn ml_facets_become_models_metrics_and_deployments() {
    let wh = Warehouse::open("memory://").await.unwrap();
    let model = json!({"name": "m", "version": "3"});
    let events = [
        run_event(
            "COMPLETE",
            "2026-01-01T00:00:00Z",
            "t",
            "train",
            json!([{"namespace": "n", "name": "feat"}]),
            json!([]),
            json!({"prov9_training": {"model": model, "framework": "torch", "hyperparameters": {"lr": 0.01}, "metrics": {"loss": 0.5}}}),
        ),
        run_event(
            "COMPLETE",
            "2026-01-01T01:00:00Z",
            "e",
            "eval",
            json!([{"namespace": "n", "name": "holdout"}]),
            json!([]),
            json!({"prov9_evaluation": {"model": model, "metrics": {"auc": 0.9, "f1": "0.8"}}}),
        ),
        run_event(
            "COMPLETE",
            "2026-01-01T02:00:00Z",
            "d",
            "deploy",
            json!([]),
            json!([]),
            json!({"prov9_deployment": {"model": model, "environment": "prod", "target": "k8s://x", "hardware": {"gpu": "T4"}}}),
        ),
    ];
    load(&wh, &events, 100).await.unwrap();
    assert_eq!(count(&wh, "model_versions").await, 1);
    assert_eq!(count(&wh, "metrics").await, 3);
    assert_eq!(count(&wh, "deployments").await, 1);
    let e = edges(&wh).await;
    let mv = "model:ns:m@3".to_string();
    assert!(e.contains(&("run:t".into(), mv.clone())));
    assert!(e.contains(&(mv.clone(), "run:e".into())));
    assert!(e.contains(&(mv.clone(), "deployment:prod:m@d".into())));
    let mut metrics = Vec::new();
    for b in wh.read("metrics", &[]).await.unwrap() {
        metrics.extend(MetricRow::from_batch(&b).unwrap());
    }
    let f1 = metrics.iter().find(|m| m.key == "f1").unwrap();
    assert_eq!(
        (f1.value, f1.run_id.as_str(), f1.model_version_id.as_deref()),
        (Some(0.8), "run:e", Some(mv.as_str()))
    );
    // The evaluation's only input is its evaluation dataset.
    assert_eq!(
        f1.dataset_version_id.as_deref(),
        Some("dataset:n:holdout@unversioned")
    );
}

#[tokio::test]
async fn a_bad_custom_facet_is_rejected_whole_with_its_field() {
    let wh = Warehouse::open("memory://").await.unwrap();
    let bad = run_event(
        "COMPLETE",
        "2026-01-01T00:00:00Z",
        "t",
        "train",
        json!([]),
        json!([]),
        json!({"prov9_evaluation": {"model": {"name": "m", "version": "1"}, "metrics": {"auc": "high"}}}),
    );
    let ok = run_event(
        "START",
        "2026-01-01T00:00:00Z",
        "t",
        "train",
        json!([]),
        json!([]),
        json!({}),
    );
    let err = load(&wh, &[ok, bad], 100).await.unwrap_err().to_string();
    assert_eq!(
        err,
        "test:2: run.facets.prov9_evaluation.metrics.auc: expected a number"
    );
    for t in TABLE_NAMES {
        assert_eq!(count(&wh, t).await, 0, "{t} has rows from a failed batch");
    }
}

#[test]
fn event_ids_hash_the_canonical_json() {
    // Computed independently: Python's json.dumps(e, sort_keys=True, separators=(",", ":"),
    // ensure_ascii=False), then SHA-256.
    let pretty = r#"{ "producer": "p", "run": {"runId": "r1", "facets": {}},
        "job": {"namespace": "ns", "name": "j", "facets": {"b": 1, "a": [true, null, "x\u00e9"]}},
        "eventType": "START", "eventTime": "2026-01-01T00:00:00Z" }"#;
    let value: Value = serde_json::from_str(pretty).unwrap();
    assert_eq!(
        prov9_ingest::event_id(&value),
        "95c56921bfb2cd849cf6f4b6a187f7b4cd613e186b0a9a0da86164f601971a3f"
    );
}

#[tokio::test]
async fn an_input_resolves_once_per_run() {
    let wh = Warehouse::open("memory://").await.unwrap();
    let out = json!([{"namespace": "n", "name": "d"}]);
    let input = json!([{"namespace": "n", "name": "d"}]);
    let events = [
        run_event(
            "COMPLETE",
            "2026-01-01T00:00:00Z",
            "p1",
            "make",
            json!([]),
            out.clone(),
            json!({}),
        ),
        run_event(
            "START",
            "2026-01-01T01:00:00Z",
            "c",
            "use",
            input.clone(),
            json!([]),
            json!({}),
        ),
        // A new version lands while the consumer runs; its COMPLETE still read the first one.
        run_event(
            "COMPLETE",
            "2026-01-01T01:30:00Z",
            "p2",
            "make",
            json!([]),
            out,
            json!({}),
        ),
        run_event(
            "COMPLETE",
            "2026-01-01T02:00:00Z",
            "c",
            "use",
            input,
            json!([]),
            json!({}),
        ),
    ];
    // Across batches too: the choice survives in lineage_edges.
    load(&wh, &events[..2], 100).await.unwrap();
    load(&wh, &events[2..], 100).await.unwrap();
    let into_c: Vec<String> = edges(&wh)
        .await
        .into_iter()
        .filter(|(_, d)| d == "run:c")
        .map(|(s, _)| s)
        .collect();
    assert_eq!(into_c, vec!["dataset:n:d@p1".to_string()]);
}

#[tokio::test]
async fn an_input_named_before_its_version_arrived_links_to_it() {
    // Arrival order, one batch (one HTTP request) each, as dbt-ol sends: the consumer's START,
    // then the producer's COMPLETE with an earlier time, then the consumer's end.
    let wh = Warehouse::open("memory://").await.unwrap();
    let d = json!([{"namespace": "n", "name": "d"}]);
    let arrivals = [
        run_event(
            "START",
            "2026-01-01T01:00:00Z",
            "c",
            "use",
            d.clone(),
            json!([]),
            json!({}),
        ),
        run_event(
            "COMPLETE",
            "2026-01-01T00:30:00Z",
            "p1",
            "make",
            json!([]),
            d.clone(),
            json!({}),
        ),
        run_event(
            "RUNNING",
            "2026-01-01T01:10:00Z",
            "c",
            "use",
            d.clone(),
            json!([]),
            json!({}),
        ),
        run_event(
            "COMPLETE",
            "2026-01-01T02:00:00Z",
            "c",
            "use",
            d.clone(),
            json!([]),
            json!({}),
        ),
    ];
    for event in &arrivals[..3] {
        load(&wh, std::slice::from_ref(event), 100).await.unwrap();
    }
    // A new loader (the state read back from the warehouse) keeps the re-linked version.
    let version_2 = run_event(
        "COMPLETE",
        "2026-01-01T00:45:00Z",
        "p2",
        "make",
        json!([]),
        d,
        json!({}),
    );
    load(&wh, &[version_2, arrivals[3].clone()], 100)
        .await
        .unwrap();
    let into_c: Vec<String> = edges(&wh)
        .await
        .into_iter()
        .filter(|(_, d)| d == "run:c")
        .map(|(s, _)| s)
        .collect();
    // The first edge stays; the version written before the START is linked, and only it (p2's
    // version, also before the START, arrived after the run was re-linked).
    assert_eq!(
        into_c,
        vec![
            "dataset:n:d@p1".to_string(),
            "dataset:n:d@unversioned".to_string()
        ]
    );
}

#[tokio::test]
async fn a_model_seen_first_in_an_evaluation_gets_its_training_facts() {
    let wh = Warehouse::open("memory://").await.unwrap();
    let model = json!({"name": "m", "version": "1"});
    let eval = run_event(
        "COMPLETE",
        "2026-01-02T00:00:00Z",
        "e",
        "eval",
        json!([]),
        json!([]),
        json!({"prov9_evaluation": {"model": model, "dataset": {"namespace": "n", "name": "holdout"}, "metrics": {"auc": 0.7}}}),
    );
    let train = run_event(
        "COMPLETE",
        "2026-01-01T00:00:00Z",
        "t",
        "train",
        json!([]),
        json!([]),
        json!({"prov9_training": {"model": model, "framework": "torch"}}),
    );
    load(&wh, &[eval], 100).await.unwrap();
    load(&wh, &[train], 100).await.unwrap();
    let batches = wh.read("model_versions", &[]).await.unwrap();
    let rows: Vec<_> = batches
        .iter()
        .flat_map(|b| prov9_model::tables::ModelVersionRow::from_batch(b).unwrap())
        .collect();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (
            rows[0].framework.as_deref(),
            rows[0].training_run_id.as_deref()
        ),
        (Some("torch"), Some("run:t"))
    );
    // The evaluation dataset is an input of the evaluation run.
    assert!(
        edges(&wh)
            .await
            .contains(&("dataset:n:holdout@unversioned".into(), "run:e".into()))
    );
}

#[tokio::test]
async fn a_bad_job_type_is_rejected_in_job_events_too() {
    let wh = Warehouse::open("memory://").await.unwrap();
    let job_event = json!({"eventTime": "2026-01-01T00:00:00Z", "job": {"namespace": "ns", "name": "j", "facets": {"prov9_job": {"jobType": "cooking"}}}});
    let err = load(&wh, &[job_event], 100).await.unwrap_err().to_string();
    assert!(
        err.starts_with(
            "test:1: job.facets.prov9_job.jobType: \"cooking\" is not one of ingestion"
        ),
        "{err}"
    );
}

#[tokio::test]
async fn a_loader_notices_another_writer_and_adds_nothing_twice() {
    let wh = Warehouse::open("memory://").await.unwrap();
    // Both loaders read the (empty) state before either commits.
    let mut first = Loader::new(wh.clone(), LoadOptions::default())
        .await
        .unwrap();
    let mut second = Loader::new(wh.clone(), LoadOptions::default())
        .await
        .unwrap();
    let a = first
        .load_events(prov9_ingest::demo::events())
        .await
        .unwrap();
    let b = second
        .load_events(prov9_ingest::demo::events())
        .await
        .unwrap();
    assert!(a.events_new > 0);
    assert_eq!(
        (b.events_new, b.rows.total()),
        (0, 0),
        "the second loader wrote what the first had"
    );
    assert_eq!(count(&wh, "events").await, a.events_new as i64);
    assert_eq!(
        count(&wh, "lineage_edges").await,
        a.rows.get("lineage_edges") as i64
    );
}

#[tokio::test]
async fn a_run_started_batches_ago_is_completed_in_place() {
    // r1 starts in the first file, r2 in the second; both complete in the third batch. The
    // MERGE of `runs` reads only files holding rows updated since the oldest stored row it
    // replaces (r1's start): a bound taken from r2 would skip r1's file and store r1 twice.
    let dir = tempfile::tempdir().unwrap();
    let wh = Warehouse::open(&dir.path().display().to_string())
        .await
        .unwrap();
    let event = |kind: &str, time: &str, run: &str| {
        run_event(kind, time, run, "j", json!([]), json!([]), json!({}))
    };
    load(&wh, &[event("START", "2026-01-01T00:00:00Z", "r1")], 10)
        .await
        .unwrap();
    load(&wh, &[event("START", "2026-01-02T00:00:00Z", "r2")], 10)
        .await
        .unwrap();
    let completes = [
        event("COMPLETE", "2026-01-03T00:00:00Z", "r2"),
        event("COMPLETE", "2026-01-03T00:00:01Z", "r1"),
    ];
    load(&wh, &completes, 10).await.unwrap();
    let states: Vec<(String, String)> = runs(&wh)
        .await
        .into_iter()
        .map(|r| (r.run_id, r.state))
        .collect();
    assert_eq!(
        states,
        [
            ("run:r1".to_string(), "COMPLETE".to_string()),
            ("run:r2".to_string(), "COMPLETE".to_string())
        ]
    );
}

#[tokio::test]
async fn later_events_refine_known_jobs_and_datasets() {
    // A dataset keeps the first source and format it was given and takes the newest
    // description; a job's type is set once, when it was `other`. Within a batch and across
    // batches (where the stored row is merged) alike.
    let event = |time: &str, run: &str, job_type: Option<&str>, dataset_facets: Value| {
        let job_facets = match job_type {
            Some(t) => json!({"prov9_job": {"jobType": t}}),
            None => json!({}),
        };
        json!({"eventType": "COMPLETE", "eventTime": time, "producer": "test",
               "run": {"runId": run, "facets": {}},
               "job": {"namespace": "ns", "name": "j", "facets": job_facets},
               "inputs": [{"namespace": "s3://b", "name": "d", "facets": dataset_facets}],
               "outputs": []})
    };
    let facets = |uri: &str, format: &str, description: &str| {
        json!({"dataSource": {"uri": uri}, "storage": {"fileFormat": format},
               "documentation": {"description": description}})
    };
    let events = [
        event("2026-01-01T00:00:00Z", "r1", None, json!({})),
        event(
            "2026-01-01T00:01:00Z",
            "r2",
            Some("training"),
            facets("s3://b/d", "parquet", "first"),
        ),
        event(
            "2026-01-01T00:02:00Z",
            "r3",
            Some("evaluation"),
            facets("s3://elsewhere/d", "csv", "second"),
        ),
        event("2026-01-01T00:03:00Z", "r4", None, json!({})),
    ];
    for batch_events in [1, 10] {
        let wh = Warehouse::open("memory://").await.unwrap();
        load(&wh, &events, batch_events).await.unwrap();
        let mut datasets = Vec::new();
        for b in wh.read("datasets", &[]).await.unwrap() {
            datasets.extend(DatasetRow::from_batch(&b).unwrap());
        }
        let d: Vec<_> = datasets
            .iter()
            .map(|d| {
                (
                    d.source_uri.as_deref(),
                    d.format.as_deref(),
                    d.description.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            d,
            [(Some("s3://b/d"), Some("parquet"), Some("second"))],
            "batches of {batch_events}"
        );
        let mut jobs = Vec::new();
        for b in wh.read("jobs", &[]).await.unwrap() {
            jobs.extend(JobRow::from_batch(&b).unwrap());
        }
        let types: Vec<&str> = jobs.iter().map(|j| j.job_type.as_str()).collect();
        assert_eq!(types, ["training"], "batches of {batch_events}");
    }
}

/// Another writer (a process of its own: its own warehouse handle and runtime) loads the demo
/// when the load under test has committed its first batch — while its second batch is being
/// normalised against a state that lacks what the other writer adds.
struct OtherWriterAfterFirstCommit {
    warehouse: String,
    wrote: AtomicBool,
}

impl LoadProgress for OtherWriterAfterFirstCommit {
    fn committed(&self, _events: usize, _rows: &RowCounts) {
        if self.wrote.swap(true, Ordering::SeqCst) {
            return;
        }
        let location = self.warehouse.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let wh = Warehouse::open(&location).await.unwrap();
                let mut other = Loader::new(wh, LoadOptions::default()).await.unwrap();
                other
                    .load_events(prov9_ingest::demo::events())
                    .await
                    .unwrap()
            })
        })
        .join()
        .unwrap();
    }
}

#[tokio::test]
async fn a_load_notices_another_writer_while_its_previous_batch_commits() {
    let dir = tempfile::tempdir().unwrap();
    let location = dir.path().join("warehouse").display().to_string();
    let input = dir.path().join("demo.ndjson");
    std::fs::write(&input, prov9_ingest::demo::PIPELINE_NDJSON).unwrap();
    let wh = Warehouse::open(&location).await.unwrap();
    let options = LoadOptions {
        batch_events: 4,
        ..LoadOptions::default()
    };
    let other = OtherWriterAfterFirstCommit {
        warehouse: location,
        wrote: AtomicBool::new(false),
    };
    let mut loader = Loader::new(wh.clone(), options).await.unwrap();
    let summary = loader.load_paths(&[input], &other).await.unwrap();
    assert!(other.wrote.load(Ordering::SeqCst));
    assert_eq!(
        summary.events_new, 4,
        "only the first batch is this load's: the other writer stored the rest"
    );
    let demo_events = prov9_ingest::demo::events().count();
    assert_eq!(count(&wh, "events").await, demo_events as i64);
    for (table, key) in [
        ("events", "event_id"),
        ("jobs", "job_id"),
        ("runs", "run_id"),
        ("datasets", "dataset_id"),
        ("dataset_versions", "version_id"),
        ("model_versions", "version_id"),
    ] {
        let mut ids = Vec::new();
        for b in wh.read(table, &[key]).await.unwrap() {
            ids.extend((0..b.num_rows()).map(|i| String::read(b.column(0), i).unwrap()));
        }
        let distinct: std::collections::HashSet<&String> = ids.iter().collect();
        assert_eq!(distinct.len(), ids.len(), "{table}: a {key} stored twice");
    }
    let mut edges = Vec::new();
    for b in wh.read("lineage_edges", &[]).await.unwrap() {
        for e in LineageEdgeRow::from_batch(&b).unwrap() {
            edges.push((e.src, e.dst, e.edge_type));
        }
    }
    let distinct: std::collections::HashSet<_> = edges.iter().collect();
    assert_eq!(distinct.len(), edges.len(), "a lineage edge stored twice");
}

#[tokio::test]
async fn metric_history_and_other_events_leave_the_run_state_alone() {
    let wh = Warehouse::open("memory://").await.unwrap();
    let points = json!({"prov9_metrics": {"points": [
        {"key": "loss", "value": 0.5, "step": 0, "timestamp": "2026-01-01T00:00:01Z"},
        {"key": "loss", "value": "NaN", "step": 1, "timestamp": "2026-01-01T00:00:02Z"},
        {"key": "loss", "value": 0.5, "step": 0, "timestamp": "2026-01-01T00:00:01Z"},
    ]}});
    let events = [
        run_event(
            "START",
            "2026-01-01T00:00:00Z",
            "r1",
            "train",
            json!([]),
            json!([]),
            json!({}),
        ),
        // Metric points logged after the start, arriving as OTHER: the run is still STARTed.
        run_event(
            "OTHER",
            "2026-01-01T00:00:02Z",
            "r1",
            "train",
            json!([]),
            json!([]),
            points,
        ),
    ];
    load(&wh, &events, 10).await.unwrap();
    let r = runs(&wh).await;
    assert_eq!(r[0].state, "START");
    let mut metrics: Vec<MetricRow> = Vec::new();
    for b in wh.read("metrics", &[]).await.unwrap() {
        metrics.extend(MetricRow::from_batch(&b).unwrap());
    }
    metrics.sort_by_key(|m| m.step);
    // The repeated point is one point; NaN travels as a string.
    assert_eq!(metrics.len(), 2);
    assert_eq!((metrics[0].value, metrics[0].step), (Some(0.5), Some(0)));
    assert!(metrics[1].value.unwrap().is_nan());

    // A COMPLETE ends it, and a later OTHER (a model logged after the end) does not reopen it.
    let model = json!({"prov9_training": {"model": {"name": "m", "version": "1"}}});
    let events = [
        run_event(
            "COMPLETE",
            "2026-01-01T00:01:00Z",
            "r1",
            "train",
            json!([]),
            json!([]),
            json!({}),
        ),
        run_event(
            "OTHER",
            "2026-01-01T00:02:00Z",
            "r1",
            "train",
            json!([]),
            json!([]),
            model,
        ),
    ];
    load(&wh, &events, 10).await.unwrap();
    let r = runs(&wh).await;
    assert_eq!(r[0].state, "COMPLETE");
    assert_eq!(count(&wh, "model_versions").await, 1);

    // A bad point rejects its event whole, naming the field.
    let bad = json!({"prov9_metrics": {"points": [
        {"key": "auc", "value": 0.9, "timestamp": "2026-01-01T00:00:03Z"},
        {"key": "auc", "value": "high", "timestamp": "2026-01-01T00:00:04Z"},
    ]}});
    let events = [run_event(
        "OTHER",
        "2026-01-01T00:03:00Z",
        "r1",
        "train",
        json!([]),
        json!([]),
        bad,
    )];
    let err = load(&wh, &events, 10).await.unwrap_err().to_string();
    assert_eq!(
        err,
        "test:1: run.facets.prov9_metrics.points.auc.value: expected a number"
    );
    assert_eq!(count(&wh, "metrics").await, 2);
}
