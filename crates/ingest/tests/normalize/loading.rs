//! Loading: idempotent by event id, and safe beside another writer.

use std::sync::atomic::{AtomicBool, Ordering};

use prov9_ingest::{LoadOptions, LoadProgress, Loader, RowCounts};
use prov9_model::column::ColumnValue;
use prov9_model::tables::{LineageEdgeRow, TABLE_NAMES};
use prov9_store::Warehouse;
use serde_json::Value;

use crate::common::*;

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
