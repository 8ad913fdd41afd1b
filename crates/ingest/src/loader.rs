//! The bulk loader: NDJSON files (plain or gzip) and directories of them.
//!
//! Lines are parsed as they are read (on a thread of their own, see `lines.rs`) and normalised
//! in batches of a bounded number of events. A batch commits (a task of its own) while the next
//! one is normalised, and at most one commit is in flight, so memory stays bounded whatever the
//! file size; three stages — parse, normalise, commit — keep both cores busy.
//! A bad line stops the load before its batch commits (earlier batches stay committed, the one
//! in flight included), unless `max_errors` allows skipping it, in which case it goes to the
//! rejects file.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use prov9_model::tables::EventRow;
use prov9_store::Warehouse;
use tokio::task::JoinHandle;

use crate::changes::{Changes, RowCounts};
use crate::lines::{Line, Parsed, ParsedLines, open_reader, parse_event, parse_text};
use crate::mlflow;
use crate::normalize::ParsedEvent;
use crate::{IngestError, Normalizer, WarehouseState};

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
    /// An MLflow store when a directory looks like one, OpenLineage files otherwise.
    #[default]
    Auto,
    /// OpenLineage events: NDJSON, JSON documents, optionally gzip.
    OpenLineage,
    /// MLflow file stores (`mlruns/` directories).
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

/// What one batch's commit added.
struct Committed {
    events: usize,
    rows: RowCounts,
    /// Every table's version right after the commit.
    table_versions: Vec<i64>,
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

    async fn read_paths(
        &mut self,
        paths: &[PathBuf],
        progress: &dyn LoadProgress,
    ) -> Result<(), IngestError> {
        let mut files = Vec::new();
        let mut stores = Vec::new();
        for p in paths {
            let mlflow = match self.options.format {
                InputFormat::Auto => mlflow::is_file_store(p),
                InputFormat::OpenLineage => false,
                InputFormat::Mlflow if mlflow::is_file_store(p) => true,
                InputFormat::Mlflow => {
                    return Err(IngestError::NotAnMlflowStore { path: p.clone() });
                }
            };
            if mlflow {
                let store = mlflow::FileStore::open(p).map_err(|source| IngestError::Io {
                    path: p.clone(),
                    source,
                })?;
                stores.push(store);
            } else {
                files_of(p, &mut files)?;
            }
        }
        let total: u64 = files
            .iter()
            .filter_map(|f| std::fs::metadata(f).ok())
            .map(|m| m.len())
            .sum::<u64>()
            + stores.iter().map(|s| s.bytes()).sum::<u64>();
        progress.start(total);
        // Runs of NDJSON files go through one reader thread, which reads on from one file into
        // the next while the loader commits; small `.json` documents are read whole, here.
        let mut rest = &files[..];
        while let Some(first) = rest.first() {
            if is_small_json_document(first) {
                self.load_document_file(first, progress).await?;
                rest = &rest[1..];
            } else {
                let run = rest
                    .iter()
                    .position(|f| is_small_json_document(f))
                    .unwrap_or(rest.len());
                self.load_lines(rest[..run].to_vec(), progress).await?;
                rest = &rest[run..];
            }
        }
        for store in &stores {
            self.load_mlflow(store, progress).await?;
        }
        self.flush(progress).await
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

    /// A `.json` file small enough to be one JSON document (or several), read whole; read as
    /// NDJSON when it turns out larger once decompressed.
    async fn load_document_file(
        &mut self,
        path: &Path,
        progress: &dyn LoadProgress,
    ) -> Result<(), IngestError> {
        let counter = Arc::new(AtomicU64::new(0));
        let mut bytes = Vec::new();
        open_reader(path, &counter)?
            .take(MAX_DOCUMENT_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|source| IngestError::Io {
                path: path.to_path_buf(),
                source,
            })?;
        if bytes.len() as u64 > MAX_DOCUMENT_BYTES {
            return self.load_lines(vec![path.to_path_buf()], progress).await;
        }
        progress.advance(counter.load(Ordering::Relaxed));
        let display = path.display().to_string();
        match String::from_utf8(bytes) {
            Ok(text) => self.load_document(&text, &display, progress).await?,
            Err(e) => self.reject(
                "",
                format!("{display}:1"),
                format!("not UTF-8 text: {}", e.utf8_error()),
            )?,
        }
        self.summary.files += 1;
        Ok(())
    }

    /// NDJSON files, in order, parsed on a thread of their own about one batch ahead.
    async fn load_lines(
        &mut self,
        paths: Vec<PathBuf>,
        progress: &dyn LoadProgress,
    ) -> Result<(), IngestError> {
        let mut parsed = ParsedLines::spawn(paths, self.options.batch_events)?;
        let mut reported = 0u64;
        while let Some(message) = parsed.next().await {
            match message? {
                Parsed::Lines(lines) => {
                    for line in lines {
                        self.add(line, progress).await?;
                    }
                }
                Parsed::EndOfFile => self.summary.files += 1,
            }
            let read = parsed.bytes_read();
            if read > reported {
                progress.advance(read - reported);
                reported = read;
            }
        }
        Ok(())
    }

    /// An MLflow store: each run's events go in whole or, when rejected, not at all.
    async fn load_mlflow(
        &mut self,
        store: &mlflow::FileStore,
        progress: &dyn LoadProgress,
    ) -> Result<(), IngestError> {
        for bad in &store.problems {
            self.reject("", bad.location.clone(), bad.reason.clone())?;
        }
        for experiment in &store.experiments {
            match mlflow::experiment_event(experiment) {
                Ok(e) => self.add_line(&e.text, e.source, progress).await?,
                Err(bad) => self.reject("", bad.location, bad.reason)?,
            }
        }
        // Registered versions name only their run; its experiment is the job.
        let mut experiment_of_run = HashMap::new();
        for run_dir in &store.runs {
            match mlflow::run_events(run_dir) {
                Ok((run, events)) => {
                    experiment_of_run.insert(run.run_id, run_dir.experiment.name.clone());
                    for e in events {
                        self.add_line(&e.text, e.source, progress).await?;
                    }
                    self.summary.mlflow_runs += 1;
                }
                Err(bad) => self.reject("", bad.location, bad.reason)?,
            }
            progress.advance(run_dir.bytes);
        }
        let logged = store
            .logged_models
            .iter()
            .map(|(experiment, path)| (path, mlflow::logged_model(&experiment.name, path)));
        let registered = store
            .registered_versions
            .iter()
            .map(|path| (path, mlflow::registered_version(path)));
        let models: Vec<_> = logged.chain(registered).collect();
        for (path, model) in models {
            let location = path.display().to_string();
            // A model is linked to its run, so it comes in with it: not when the run was
            // rejected (a later load brings both), nor when the store does not hold the run.
            let event = model.and_then(|m| {
                match m.run_id.as_ref().and_then(|r| experiment_of_run.get(r)) {
                    Some(experiment) => mlflow::model_event(experiment, &m, &location),
                    None => Ok(None),
                }
            });
            match event {
                Ok(Some(e)) => self.add_line(&e.text, e.source, progress).await?,
                Ok(None) => tracing::info!("{location}: its run is not loaded; skipped"),
                Err(bad) => self.reject("", bad.location, bad.reason)?,
            }
        }
        Ok(())
    }

    /// A `.json` file: one event (the OpenLineage client's file transport writes one per file,
    /// pretty-printed in its debug mode) or several, however laid out.
    async fn load_document(
        &mut self,
        text: &str,
        display: &str,
        progress: &dyn LoadProgress,
    ) -> Result<(), IngestError> {
        let mut values =
            serde_json::Deserializer::from_str(text).into_iter::<serde::de::IgnoredAny>();
        // Line numbers are counted as the values go by, never from the start again.
        let (mut counted_to, mut line) = (0usize, 1usize);
        loop {
            let start = values.byte_offset();
            match values.next() {
                None => return Ok(()),
                Some(Ok(_)) => {
                    let value = &text[start..values.byte_offset()];
                    let begins = start + (value.len() - value.trim_start().len());
                    line += text[counted_to..begins].matches('\n').count();
                    counted_to = begins;
                    self.add_line(value, format!("{display}:{line}"), progress)
                        .await?;
                }
                Some(Err(e)) => {
                    // The rest of the document cannot be read past a syntax error.
                    let location = format!("{display}:{}", e.line());
                    return self.reject(
                        text[start..].trim(),
                        location,
                        format!("invalid JSON: {e}"),
                    );
                }
            }
        }
    }

    async fn add_line(
        &mut self,
        line: &str,
        source: String,
        progress: &dyn LoadProgress,
    ) -> Result<(), IngestError> {
        match parse_text(line, source) {
            Some(line) => self.add(line, progress).await,
            None => Ok(()),
        }
    }

    /// Take one parsed line into the batch (unless stored already), or reject it.
    async fn add(&mut self, line: Line, progress: &dyn LoadProgress) -> Result<(), IngestError> {
        self.summary.events_read += 1;
        match line {
            Line::Event {
                event,
                event_id,
                text,
                source,
            } => {
                if self.state.has_event(&event_id) {
                    return Ok(());
                }
                self.batch_bytes += text.len();
                self.batch.push(ParsedEvent {
                    event,
                    event_id,
                    payload: text,
                    source,
                });
                if self.batch.len() >= self.options.batch_events
                    || self.batch_bytes >= self.options.batch_bytes
                {
                    self.flush(progress).await?;
                }
                Ok(())
            }
            Line::Bad {
                text,
                source,
                reason,
            } => self.reject(&text, source, reason),
        }
    }

    fn reject(&mut self, text: &str, location: String, reason: String) -> Result<(), IngestError> {
        if self.summary.rejects >= self.options.max_errors {
            // The batch holding the bad line is dropped: nothing of it commits.
            self.batch.clear();
            return Err(if self.options.max_errors == 0 {
                IngestError::BadEvent { location, reason }
            } else {
                IngestError::TooManyErrors {
                    location,
                    reason,
                    max_errors: self.options.max_errors,
                    rejects: self.options.rejects_path.display().to_string(),
                }
            });
        }
        let path = self.options.rejects_path.clone();
        let io = |source| IngestError::Io {
            path: path.clone(),
            source,
        };
        if self.rejects.is_none() {
            self.rejects = Some(File::create(&path).map_err(io)?);
            self.summary.rejects_path = Some(path.clone());
        }
        let record = serde_json::json!({ "location": location, "error": reason, "line": text });
        let file = self.rejects.as_mut().expect("opened above");
        writeln!(file, "{record}").map_err(io)?;
        self.summary.rejects += 1;
        Ok(())
    }

    /// Normalise the pending batch and start its commit once the previous one has landed.
    ///
    /// The batch is normalised while the previous batch commits. If another writer committed
    /// meanwhile (the state normalisation used may lack its rows), the state is read again and
    /// the batch normalised again from its events' text before it commits.
    async fn flush(&mut self, progress: &dyn LoadProgress) -> Result<(), IngestError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.batch);
        self.batch_bytes = 0;
        if self.committing.is_none() {
            self.read_other_writers().await?;
        }
        let began = Instant::now();
        let normalised = self.normalise(batch);
        tracing::debug!(elapsed = ?began.elapsed(), "batch normalised");
        if self.committing.is_some() {
            self.finish_commit(progress).await?;
            let changes = normalised?;
            let changes = if self.read_other_writers().await? {
                self.normalise(reparse(changes.events)?)?
            } else {
                changes
            };
            self.start_commit(changes);
        } else {
            self.start_commit(normalised?);
        }
        Ok(())
    }

    fn normalise(&mut self, batch: Vec<ParsedEvent>) -> Result<Changes, IngestError> {
        let mut normalizer = Normalizer::new(&mut self.state);
        normalizer
            .apply_batch(batch)
            .map_err(|(location, e)| IngestError::BadEvent {
                location,
                reason: e.to_string(),
            })?;
        Ok(normalizer.finish())
    }

    fn start_commit(&mut self, changes: Changes) {
        let warehouse = self.warehouse.clone();
        self.committing = Some(tokio::spawn(async move {
            let began = Instant::now();
            let events = changes.events.len();
            let rows = changes.commit(&warehouse).await?;
            // Our own commits moved the versions; recorded at once (without another round of
            // listings), so that a commit made later by another writer shows as a difference.
            let table_versions = table_versions(&warehouse, false).await?;
            tracing::debug!(events, elapsed = ?began.elapsed(), "batch committed");
            Ok(Committed {
                events,
                rows,
                table_versions,
            })
        }));
    }

    /// Wait for the commit in flight, if any, and count what it added.
    async fn finish_commit(&mut self, progress: &dyn LoadProgress) -> Result<(), IngestError> {
        let Some(commit) = self.committing.take() else {
            return Ok(());
        };
        let Committed {
            events,
            rows,
            table_versions,
        } = commit.await.map_err(IngestError::CommitTask)??;
        self.table_versions = table_versions;
        self.summary.events_new += events;
        self.summary.rows.add(&rows);
        progress.committed(events, &rows);
        Ok(())
    }

    /// Read the state again if another writer committed since this load last looked; true if
    /// it did.
    async fn read_other_writers(&mut self) -> Result<bool, IngestError> {
        let now = table_versions(&self.warehouse, true).await?;
        if now == self.table_versions {
            return Ok(false);
        }
        tracing::info!(
            "the warehouse changed under this load (another writer); reading its state again"
        );
        self.state = WarehouseState::load(&self.warehouse).await?;
        self.table_versions = now;
        Ok(true)
    }
}

/// Events normalised against an outdated state, back as they were read (their text is kept
/// verbatim as the payload).
fn reparse(events: Vec<EventRow>) -> Result<Vec<ParsedEvent>, IngestError> {
    events
        .into_iter()
        .map(|row| {
            let (event, event_id) =
                parse_event(&row.payload).map_err(|reason| IngestError::BadEvent {
                    location: row.source.clone(),
                    reason,
                })?;
            Ok(ParsedEvent {
                event,
                event_id,
                payload: row.payload,
                source: row.source,
            })
        })
        .collect()
}

/// Every table's version: the newest in the store (`fresh`), or as this process last saw it.
async fn table_versions(warehouse: &Warehouse, fresh: bool) -> Result<Vec<i64>, IngestError> {
    let mut versions = Vec::with_capacity(prov9_model::tables::TABLE_NAMES.len());
    for table in prov9_model::tables::TABLE_NAMES {
        versions.push(if fresh {
            warehouse.version(table).await?
        } else {
            warehouse.known_version(table).await?
        });
    }
    Ok(versions)
}

/// `.json` files up to this size are read whole, as JSON documents; larger ones line by line.
const MAX_DOCUMENT_BYTES: u64 = 64 << 20;

/// A `.json` file of at most `MAX_DOCUMENT_BYTES` (compressed, when gzip).
fn is_small_json_document(path: &Path) -> bool {
    is_json_document(path) && std::fs::metadata(path).is_ok_and(|m| m.len() <= MAX_DOCUMENT_BYTES)
}

fn is_json_document(path: &Path) -> bool {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    name.ends_with(".json") || name.ends_with(".json.gz")
}

fn is_loadable(path: &Path) -> bool {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    [".ndjson", ".jsonl", ".json"]
        .iter()
        .any(|ext| name.ends_with(ext))
}

fn collect_files(path: &Path, out: &mut Vec<PathBuf>) -> Result<(), IngestError> {
    let io = |source| IngestError::Io {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if meta.is_file() {
        out.push(path.to_path_buf());
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(io)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(io)?;
    entries.sort();
    for entry in entries {
        if entry.is_dir() {
            collect_files(&entry, out)?;
        } else if is_loadable(&entry) {
            out.push(entry);
        }
    }
    Ok(())
}

/// Files of one command-line path; a directory without a loadable file is an error.
fn files_of(path: &Path, out: &mut Vec<PathBuf>) -> Result<(), IngestError> {
    let before = out.len();
    collect_files(path, out)?;
    if out.len() == before {
        return Err(IngestError::NothingToLoad {
            path: path.to_path_buf(),
        });
    }
    Ok(())
}
