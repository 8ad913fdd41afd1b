//! The lineage index: `lineage_edges` held in memory as a [`Graph`], shared by every session and
//! brought up to date with the table's newest commit before each use.
//!
//! `lineage_edges` only ever grows (ingest appends, never rewrites), so catching up reads just the
//! data files added since the last look; should a file disappear (a compaction), the index is
//! rebuilt from scratch. Edges of the live tail (acknowledged, not yet folded into the table) are
//! added as they arrive and remembered, so that when the fold-in brings them in a data file they
//! are not added twice. A past snapshot (`prov9.as_of`) gets a graph of its own ([`LineageIndex::graph_at`]).

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::Mutex as SyncMutex;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Int64Type, TimeUnit};
use prov9_store::{Snapshot, Tail, Warehouse};
use tokio::sync::{Mutex, RwLock, RwLockReadGuard};

use super::graph::Graph;
use crate::QueryError;

const TABLE: &str = "lineage_edges";

#[derive(Default)]
struct Indexed {
    graph: Graph,
    version: Option<i64>,
    files: HashSet<String>,
    /// Edges added from the live tail and not yet seen in a data file.
    from_tail: HashSet<EdgeKey>,
    /// The tail last read (its id) and how many of its rows were added.
    tail_read: (u64, usize),
}

/// An edge as stored: src, dst, type, run, time.
type EdgeKey = (String, String, String, Option<String>, i64);

pub struct LineageIndex {
    warehouse: Warehouse,
    indexed: RwLock<Indexed>,
    /// One catch-up at a time; readers keep reading the graph meanwhile.
    refreshing: Mutex<()>,
    /// Times the graph was rebuilt from scratch (edge numbers changed).
    rebuilds: AtomicU64,
    /// The graph of the last past snapshot asked for: (warehouse commit id, graph).
    past: SyncMutex<Option<(u64, Arc<Graph>)>>,
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
            past: SyncMutex::new(None),
        }
    }

    /// Catch up with the newest warehouse commit and the live tail.
    pub async fn refresh(&self) -> Result<(), QueryError> {
        let snapshot = self.warehouse.snapshot().await?;
        self.catch_up(&snapshot).await
    }

    /// Catch up with the snapshot the query being planned pinned (a scan of the table just
    /// read it), or else the newest. A past snapshot leaves the index as it is.
    pub async fn refresh_to_pinned(&self) -> Result<(), QueryError> {
        match Snapshot::pinned() {
            Some(snapshot) if snapshot.past => Ok(()),
            Some(snapshot) => self.catch_up(&snapshot).await,
            None => self.refresh().await,
        }
    }

    /// The graph of `lineage_edges` in a past snapshot (built from its data files; the last
    /// one asked for is kept).
    pub async fn graph_at(&self, snapshot: &Snapshot) -> Result<Arc<Graph>, QueryError> {
        let id = snapshot.commit.as_ref().map_or(0, |c| c.id);
        if let Some((kept, graph)) = &*self.past.lock().expect("past graph lock")
            && *kept == id
        {
            return Ok(Arc::clone(graph));
        }
        let version = snapshot.version(TABLE);
        let files = match self.warehouse.files_since(TABLE, None, version).await? {
            Some((_, files)) => files,
            None => Vec::new(),
        };
        let mut graph = Graph::default();
        for batch in self.warehouse.read_files(TABLE, &files).await? {
            add_batch(&mut graph, &batch, None)?;
        }
        graph.link_new_edges();
        let graph = Arc::new(graph);
        *self.past.lock().expect("past graph lock") = Some((id, Arc::clone(&graph)));
        Ok(graph)
    }

    async fn catch_up(&self, snapshot: &Snapshot) -> Result<(), QueryError> {
        let _one_at_a_time = self.refreshing.lock().await;
        self.catch_up_table(snapshot.version(TABLE)).await?;
        self.add_tail(&snapshot.tail).await
    }

    /// Add the tail's edges not added yet: `lineage_edges` has no key, so its tail only grows
    /// while its builder lives (same id), and the rows after those already read are new.
    async fn add_tail(&self, tail: &Tail) -> Result<(), QueryError> {
        let Some(edges) = tail.table(TABLE) else {
            return Ok(());
        };
        let mut indexed = self.indexed.write().await;
        let (id, read) = indexed.tail_read;
        let mut skip = if id == tail.id() { read } else { 0 };
        if skip >= edges.rows() {
            return Ok(());
        }
        let Indexed {
            graph, from_tail, ..
        } = &mut *indexed;
        for batch in edges.batches() {
            let rows = batch.num_rows();
            if skip >= rows {
                skip -= rows;
                continue;
            }
            let unread = batch.slice(skip, rows - skip);
            skip = 0;
            add_batch(graph, &unread, Some(EdgeFilter::Remember(from_tail)))?;
        }
        graph.link_new_edges();
        indexed.tail_read = (tail.id(), edges.rows());
        Ok(())
    }

    async fn catch_up_table(&self, version: Option<i64>) -> Result<(), QueryError> {
        let since = self.indexed.read().await.version;
        if let (Some(since), Some(wanted)) = (since, version)
            && wanted <= since
        {
            return Ok(());
        }
        let Some((version, files)) = self.warehouse.files_since(TABLE, since, version).await?
        else {
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
            // The tail's edges come again with the next look at the tail.
            *indexed = Indexed::default();
            self.rebuilds.fetch_add(1, Ordering::Relaxed);
        }
        let Indexed {
            graph, from_tail, ..
        } = &mut *indexed;
        for batch in &batches {
            add_batch(graph, batch, Some(EdgeFilter::SkipSeen(from_tail)))?;
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

/// What [`add_batch`] does with the edges the tail brought.
enum EdgeFilter<'a> {
    /// Tail edges: remember each one added, skipping those already added.
    Remember(&'a mut HashSet<EdgeKey>),
    /// Table edges: skip those remembered (the fold-in brought them), forgetting them.
    SkipSeen(&'a mut HashSet<EdgeKey>),
}

fn add_batch(
    graph: &mut Graph,
    batch: &RecordBatch,
    mut filter: Option<EdgeFilter<'_>>,
) -> Result<(), QueryError> {
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
        let kind = if edge_type.is_null(i) {
            ""
        } else {
            edge_type.value(i)
        };
        let run_id = (!run.is_null(i)).then(|| run.value(i));
        let at = if time.is_null(i) { 0 } else { time.value(i) };
        let key = || {
            (
                src.value(i).to_string(),
                dst.value(i).to_string(),
                kind.to_string(),
                run_id.map(str::to_string),
                at,
            )
        };
        let skip = match &mut filter {
            // A tail rebuilt after a fold-in still holds edges added from the previous one.
            Some(EdgeFilter::Remember(seen)) => !seen.insert(key()),
            Some(EdgeFilter::SkipSeen(seen)) => !seen.is_empty() && seen.remove(&key()),
            None => false,
        };
        if skip {
            continue;
        }
        graph.add_edge(src.value(i), dst.value(i), kind, run_id, at);
    }
    Ok(())
}
