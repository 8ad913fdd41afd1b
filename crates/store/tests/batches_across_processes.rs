//! A batch is a batch across processes too: another process sharing a local warehouse (`prov9
//! optimize`, `prov9 load` beside `prov9 serve`) never publishes a warehouse commit naming the
//! tables of a batch still being written. Two `Warehouse` handles on one directory behave as
//! two processes: each has its own history, in-process lock and table handles.

use std::collections::BTreeMap;
use std::time::Duration;

use prov9_model::tables::RunRow;
use prov9_store::{Warehouse, source};

fn run(i: usize) -> RunRow {
    RunRow {
        run_id: format!("run:{i}"),
        job_id: "job:ns:j".into(),
        parent_run_id: None,
        state: "COMPLETE".into(),
        started_at: chrono::DateTime::from_timestamp(1_767_225_600 + i as i64, 0),
        ended_at: None,
        code_version: None,
        parameters: None,
        environment: None,
        error_message: None,
        updated_at: None,
        root_run_id: None,
        tags: None,
    }
}

/// The `runs` version the newest warehouse commit names, as a third process opening now sees it.
async fn published_runs_version(location: &str) -> i64 {
    let reader = Warehouse::open(location).await.unwrap();
    let snapshot = reader.snapshot().await.unwrap();
    snapshot.commit.as_ref().unwrap().versions["runs"]
}

#[tokio::test]
async fn another_process_never_publishes_a_half_written_batch() {
    let dir = tempfile::tempdir().unwrap();
    let location = dir.path().to_str().unwrap();
    let writer = Warehouse::open(location).await.unwrap();
    writer
        .append_published("runs", vec![RunRow::to_batch(&[run(0)])])
        .await
        .unwrap();
    let before = published_runs_version(location).await;

    // A batch is under way: its table is committed, its warehouse commit not yet written.
    let batch = writer.batch_lock().await;
    writer
        .append("runs", vec![RunRow::to_batch(&[run(1)])])
        .await
        .unwrap();

    // Another process (opened now, so it has read the half-written version) does maintenance
    // and publishes, as `prov9 optimize` does after compacting a table.
    let other = Warehouse::open(location).await.unwrap();
    let maintenance = tokio::spawn(async move {
        let _batch = other.batch_lock().await;
        other
            .publish(source::MAINTENANCE, BTreeMap::new(), None, None)
            .await
            .unwrap();
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        published_runs_version(location).await,
        before,
        "another process published the rows of a batch still being written"
    );
    assert!(!maintenance.is_finished(), "it waited for the batch");

    writer
        .publish(source::LOAD, BTreeMap::new(), None, None)
        .await
        .unwrap();
    drop(batch);
    tokio::time::timeout(Duration::from_secs(10), maintenance)
        .await
        .expect("the other process went on once the batch was published")
        .unwrap();
    assert_eq!(published_runs_version(location).await, before + 1);
}
