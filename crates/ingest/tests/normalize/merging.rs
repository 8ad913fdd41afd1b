//! A run's, a job's and a dataset's events merge into one row each, across batches.

use prov9_model::tables::{DatasetRow, JobRow};
use prov9_store::Warehouse;
use serde_json::{Value, json};

use crate::common::*;

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
