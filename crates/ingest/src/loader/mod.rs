//! The bulk loader: NDJSON files (plain or gzip), directories of them, bucket prefixes of
//! them, and MLflow stores.
//!
//! This file holds the public API: [`Loader`], its options, progress reports and summary. The
//! other files each hold one part of a load; they only call files further down this list:
//! * `files` — which files a path holds and in what format, read into the pipeline;
//! * `bucket` — objects under an `s3://`, `gs://` or `az://` prefix, read into the pipeline;
//! * `document` — a JSON document of events (a `.json` file, an object), into the pipeline;
//! * `pipeline` — the three-stage batch pipeline: parse, normalise, commit;
//! * `rejects` — bad input: written to the rejects file, or the load stops.

mod bucket;
mod document;
mod files;
mod pipeline;
mod rejects;

use std::fs::File;
use std::path::PathBuf;
use std::time::Instant;

use prov9_store::Warehouse;
use tokio::task::JoinHandle;

use crate::changes::RowCounts;
use crate::normalize::ParsedEvent;
use crate::{IngestError, WarehouseState};
use pipeline::Committed;
pub(crate) use pipeline::table_versions;

/// How a load behaves.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Bad lines to skip (into the rejects file) before the load fails; 0 = fail on the first.
    pub max_errors: usize,
    /// Where skipped lines go; default `prov9-rejects.ndjson` in the current directory.
    pub rejects_path: PathBuf,
    /// Events per batch (one commit per table per batch).
    pub batch_events: usize,
    /// Text bytes per batch, whichever limit is reached first.
    pub batch_bytes: usize,
    /// What the paths hold.
    pub format: InputFormat,
}

/// What `prov9 load` reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum InputFormat {
    /// An MLflow store when a path is one (a tracking database, a `mlruns/` directory),
    /// OpenLineage files otherwise.
    #[default]
    Auto,
    /// OpenLineage events: NDJSON, JSON documents, optionally gzip.
    OpenLineage,
    /// MLflow stores: tracking databases and `mlruns/` directories.
    Mlflow,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            max_errors: 0,
            rejects_path: PathBuf::from("prov9-rejects.ndjson"),
            batch_events: 100_000,
            batch_bytes: 256 << 20,
            format: InputFormat::Auto,
        }
    }
}

/// Receives progress: the CLI draws a bar with it.
pub trait LoadProgress: Send + Sync {
    /// Total input bytes (compressed size for .gz), known before reading starts.
    fn start(&self, _total_bytes: u64) {}
    /// More input bytes were read.
    fn advance(&self, _bytes: u64) {}
    /// A batch committed.
    fn committed(&self, _events: usize, _rows: &RowCounts) {}
}

/// Progress nobody watches.
impl LoadProgress for () {}

/// One event's text and where it came from.
#[derive(Debug, Clone)]
pub struct RawEvent {
    pub text: String,
    pub source: String,
}

/// What a load did.
#[derive(Debug, Default, Clone)]
pub struct LoadSummary {
    pub files: usize,
    /// Runs read from MLflow stores.
    pub mlflow_runs: usize,
    /// Events read (including those already stored).
    pub events_read: usize,
    /// Events not stored before.
    pub events_new: usize,
    pub rows: RowCounts,
    pub rejects: usize,
    pub rejects_path: Option<PathBuf>,
    pub seconds: f64,
}

impl std::fmt::Display for LoadSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.files, self.mlflow_runs) {
            (files, 0) => write!(f, "loaded {files} files")?,
            (0, runs) => write!(f, "loaded {runs} MLflow runs")?,
            (files, runs) => write!(f, "loaded {files} files and {runs} MLflow runs")?,
        }
        write!(
            f,
            ": {} events read, {} new; {}; {} rejected",
            self.events_read, self.events_new, self.rows, self.rejects
        )?;
        if let (true, Some(p)) = (self.rejects > 0, &self.rejects_path) {
            write!(f, " (see {})", p.display())?;
        }
        write!(f, "; {:.2}s", self.seconds)
    }
}

/// Loads events into a warehouse, idempotently.
pub struct Loader {
    warehouse: Warehouse,
    state: WarehouseState,
    options: LoadOptions,
    summary: LoadSummary,
    batch: Vec<ParsedEvent>,
    batch_bytes: usize,
    rejects: Option<File>,
    /// The Delta version of every table as `state` knows it: another writer's commit shows as a
    /// difference, and the state is read again (see [`Loader::flush`]).
    table_versions: Vec<i64>,
    /// The previous batch's commit, running while this batch is read and normalised.
    committing: Option<JoinHandle<Result<Committed, IngestError>>>,
}

impl Loader {
    /// Read the warehouse's state and get ready to load.
    pub async fn new(warehouse: Warehouse, options: LoadOptions) -> Result<Self, IngestError> {
        let table_versions = table_versions(&warehouse, true).await?;
        let state = WarehouseState::load(&warehouse).await?;
        Ok(Loader {
            warehouse,
            state,
            options,
            summary: LoadSummary::default(),
            batch: Vec::new(),
            batch_bytes: 0,
            rejects: None,
            table_versions,
            committing: None,
        })
    }

    /// What has been committed so far (also after an error).
    pub fn warehouse(&self) -> &Warehouse {
        &self.warehouse
    }

    /// Every table's version as the loader's state knows it.
    pub(crate) fn table_versions(&self) -> &[i64] {
        &self.table_versions
    }

    /// Whether the warehouse (as this loader knows it) holds the event.
    pub(crate) fn has_event(&self, event_id: &str) -> bool {
        self.state.has_event(event_id)
    }

    pub fn summary(&self) -> &LoadSummary {
        &self.summary
    }

    /// Load files and directories (recursively: `.ndjson`, `.jsonl`, `.json`, each optionally
    /// `.gz`) and MLflow stores.
    pub async fn load_paths(
        &mut self,
        paths: &[PathBuf],
        progress: &dyn LoadProgress,
    ) -> Result<LoadSummary, IngestError> {
        let started = Instant::now();
        let loaded = self.read_paths(paths, progress).await;
        // Whatever stopped the load, the batch in flight lands (or fails) before it returns.
        let committed = self.finish_commit(progress).await;
        loaded.and(committed)?;
        self.summary.seconds = started.elapsed().as_secs_f64();
        Ok(self.summary.clone())
    }

    /// Load events given as text (the bundled demo, tests).
    pub async fn load_events(
        &mut self,
        events: impl IntoIterator<Item = RawEvent>,
    ) -> Result<LoadSummary, IngestError> {
        let started = Instant::now();
        let mut loaded = Ok(());
        for e in events {
            loaded = self.add_line(&e.text, e.source, &()).await;
            if loaded.is_err() {
                break;
            }
        }
        if loaded.is_ok() {
            loaded = self.flush(&()).await;
        }
        let committed = self.finish_commit(&()).await;
        loaded.and(committed)?;
        self.summary.seconds = started.elapsed().as_secs_f64();
        Ok(self.summary.clone())
    }
}
