//! A bad event is rejected whole, with the field at fault.

use prov9_model::tables::TABLE_NAMES;
use prov9_store::Warehouse;
use serde_json::json;

use crate::common::*;

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
