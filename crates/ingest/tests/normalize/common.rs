//! What the ingest crate's test files share: events built in a line, and a warehouse read back.

#![allow(dead_code)] // each test file uses some of these

use prov9_ingest::{IngestError, LoadOptions, Loader, RawEvent};
use prov9_model::tables::{LineageEdgeRow, RunRow};
use prov9_store::Warehouse;
use serde_json::{Value, json};

pub fn raw(events: &[Value]) -> Vec<RawEvent> {
    events
        .iter()
        .enumerate()
        .map(|(i, e)| RawEvent {
            text: e.to_string(),
            source: format!("test:{}", i + 1),
        })
        .collect()
}

pub fn run_event(
    kind: &str,
    time: &str,
    run: &str,
    job: &str,
    inputs: Value,
    outputs: Value,
    facets: Value,
) -> Value {
    json!({"eventType": kind, "eventTime": time, "producer": "test",
           "run": {"runId": run, "facets": facets}, "job": {"namespace": "ns", "name": job},
           "inputs": inputs, "outputs": outputs})
}

pub async fn load(
    warehouse: &Warehouse,
    events: &[Value],
    batch_events: usize,
) -> Result<prov9_ingest::LoadSummary, IngestError> {
    let options = LoadOptions {
        batch_events,
        ..LoadOptions::default()
    };
    let mut loader = Loader::new(warehouse.clone(), options).await?;
    loader.load_events(raw(events)).await
}

pub async fn runs(warehouse: &Warehouse) -> Vec<RunRow> {
    let mut rows: Vec<RunRow> = Vec::new();
    for b in warehouse.read("runs", &[]).await.unwrap() {
        rows.extend(RunRow::from_batch(&b).unwrap());
    }
    rows.sort_by(|a, b| a.run_id.cmp(&b.run_id));
    rows
}

pub async fn edges(warehouse: &Warehouse) -> Vec<(String, String)> {
    let mut rows: Vec<(String, String)> = Vec::new();
    for b in warehouse.read("lineage_edges", &[]).await.unwrap() {
        rows.extend(
            LineageEdgeRow::from_batch(&b)
                .unwrap()
                .into_iter()
                .map(|e| (e.src, e.dst)),
        );
    }
    rows.sort();
    rows
}

pub async fn count(warehouse: &Warehouse, table: &str) -> i64 {
    let batches = warehouse.read(table, &[]).await.unwrap();
    batches.iter().map(|b| b.num_rows() as i64).sum()
}

/// Every row of `table`, read back through its row struct's `from_batch`.
pub async fn rows<R>(
    warehouse: &Warehouse,
    table: &str,
    from_batch: fn(&arrow::record_batch::RecordBatch) -> Result<Vec<R>, prov9_model::ModelError>,
) -> Vec<R> {
    let mut out = Vec::new();
    for b in warehouse.read(table, &[]).await.unwrap() {
        out.extend(from_batch(&b).unwrap());
    }
    out
}
