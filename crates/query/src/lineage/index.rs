//! The lineage index: `lineage_edges` held in memory as a [`Graph`], shared by every session and
//! brought up to date with the table's newest commit before each use.
//!
//! `lineage_edges` only ever grows (ingest appends, never rewrites), so catching up reads just the
//! data files added since the last look; should a file disappear (a compaction, a vacuum), the
//! index is rebuilt from scratch.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Int64Type, TimeUnit};
use prov9_store::Warehouse;
use tokio::sync::{Mutex, RwLock, RwLockReadGuard};

use super::graph::Graph;
use crate::QueryError;

const TABLE: &str = "lineage_edges";

#[derive(Default)]
struct Indexed {
    graph: Graph,
    version: Option<i64>,
    files: HashSet<String>,
}

pub struct LineageIndex {
    warehouse: Warehouse,
    indexed: RwLock<Indexed>,
    /// One catch-up at a time; readers keep reading the graph meanwhile.
    refreshing: Mutex<()>,
    /// Times the graph was rebuilt from scratch (edge numbers changed).
    rebuilds: AtomicU64,
}

impl std::fmt::Debug for LineageIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LineageIndex")
    }
}

impl LineageIndex {
    pub fn new(warehouse: Warehouse) -> Self {
        LineageIndex {
            warehouse,
            indexed: RwLock::new(Indexed::default()),
            refreshing: Mutex::new(()),
            rebuilds: AtomicU64::new(0),
        }
    }

    /// Catch up with the newest commit of `lineage_edges`.
    pub async fn refresh(&self) -> Result<(), QueryError> {
        self.catch_up(true).await
    }

    /// Catch up with the version of `lineage_edges` this process last read (a scan of the table
    /// just picked up the newest commit): no second listing of the log.
    pub async fn refresh_to_known(&self) -> Result<(), QueryError> {
        self.catch_up(false).await
    }

    async fn catch_up(&self, fresh: bool) -> Result<(), QueryError> {
        let _one_at_a_time = self.refreshing.lock().await;
        let since = self.indexed.read().await.version;
        let Some((version, files)) = self.warehouse.files_since(TABLE, since, fresh).await? else {
            return Ok(());
        };
        let (rebuild, new_files) = {
            let indexed = self.indexed.read().await;
            let current: HashSet<&String> = files.iter().collect();
            let rebuild = indexed.files.iter().any(|f| !current.contains(f));
            let new_files: Vec<String> = files
                .iter()
                .filter(|f| rebuild || !indexed.files.contains(*f))
                .cloned()
                .collect();
            (rebuild, new_files)
        };
        let batches = self.warehouse.read_files(TABLE, &new_files).await?;
        let mut indexed = self.indexed.write().await;
        if rebuild {
            *indexed = Indexed::default();
            self.rebuilds.fetch_add(1, Ordering::Relaxed);
        }
        for batch in &batches {
            add_batch(&mut indexed.graph, batch)?;
        }
        indexed.graph.link_new_edges();
        indexed.files.extend(new_files);
        indexed.version = Some(version);
        tracing::debug!(
            version,
            edges = indexed.graph.edge_count(),
            nodes = indexed.graph.node_count(),
            "lineage index current"
        );
        Ok(())
    }

    /// How often the graph was rebuilt, which renumbers its edges (read it under
    /// [`LineageIndex::graph`]: a rebuild holds the write lock).
    pub fn rebuilds(&self) -> u64 {
        self.rebuilds.load(Ordering::Relaxed)
    }

    /// The graph as of the last refresh.
    pub async fn graph(&self) -> RwLockReadGuard<'_, Graph> {
        RwLockReadGuard::map(self.indexed.read().await, |i| &i.graph)
    }

    /// Refresh, then read.
    pub async fn current(&self) -> Result<RwLockReadGuard<'_, Graph>, QueryError> {
        self.refresh().await?;
        Ok(self.graph().await)
    }
}

fn add_batch(graph: &mut Graph, batch: &RecordBatch) -> Result<(), QueryError> {
    let text = |name: &str| -> Result<Arc<dyn Array>, QueryError> {
        let column = batch
            .column_by_name(name)
            .ok_or_else(|| QueryError::Index(format!("{TABLE} has no column {name}")))?;
        Ok(cast(column, &DataType::Utf8)?)
    };
    let (src, dst, edge_type, run) = (
        text("src")?,
        text("dst")?,
        text("edge_type")?,
        text("run_id")?,
    );
    let (src, dst, edge_type, run) = (
        src.as_string::<i32>(),
        dst.as_string::<i32>(),
        edge_type.as_string::<i32>(),
        run.as_string::<i32>(),
    );
    let time = batch
        .column_by_name("event_time")
        .ok_or_else(|| QueryError::Index(format!("{TABLE} has no column event_time")))?;
    let time = cast(time, &DataType::Timestamp(TimeUnit::Microsecond, None))?;
    let time = cast(&time, &DataType::Int64)?;
    let time = time.as_primitive::<Int64Type>();
    for i in 0..batch.num_rows() {
        if src.is_null(i) || dst.is_null(i) {
            continue;
        }
        graph.add_edge(
            src.value(i),
            dst.value(i),
            if edge_type.is_null(i) {
                ""
            } else {
                edge_type.value(i)
            },
            (!run.is_null(i)).then(|| run.value(i)),
            if time.is_null(i) { 0 } else { time.value(i) },
        );
    }
    Ok(())
}
