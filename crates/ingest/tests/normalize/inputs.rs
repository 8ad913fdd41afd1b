//! Which version of a dataset an input refers to: the one current at the event's time, once per
//! run, and the one that arrived late when the run first found none.

use prov9_model::tables::DatasetVersionRow;
use prov9_store::Warehouse;
use serde_json::json;

use crate::common::*;

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
