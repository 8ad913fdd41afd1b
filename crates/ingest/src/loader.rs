//! The bulk loader: NDJSON files (plain or gzip) and directories of them.
//!
//! Lines are parsed as they are read and normalised in batches of a bounded number of events,
//! each batch committed before the next is read, so memory stays bounded whatever the file size.
//! A bad line stops the load before its batch commits (earlier batches stay committed), unless
//! `max_errors` allows skipping it, in which case it goes to the rejects file.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use prov9_model::openlineage::Event;
use prov9_store::Warehouse;
use sha2::{Digest, Sha256};

use crate::changes::RowCounts;
use crate::normalize::{ParsedEvent, validate};
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
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            max_errors: 0,
            rejects_path: PathBuf::from("prov9-rejects.ndjson"),
            batch_events: 100_000,
            batch_bytes: 256 << 20,
        }
    }
}

/// Receives progress: the CLI draws a bar with it.
pub trait LoadProgress {
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
        write!(
            f,
            "loaded {} files: {} events read, {} new; {}; {} rejected",
            self.files, self.events_read, self.events_new, self.rows, self.rejects
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
}

impl Loader {
    /// Read the warehouse's state and get ready to load.
    pub async fn new(warehouse: Warehouse, options: LoadOptions) -> Result<Self, IngestError> {
        let state = WarehouseState::load(&warehouse).await?;
        Ok(Loader { warehouse, state, options, summary: LoadSummary::default(), batch: Vec::new(), batch_bytes: 0, rejects: None })
    }

    /// What has been committed so far (also after an error).
    pub fn summary(&self) -> &LoadSummary {
        &self.summary
    }

    /// Load files and directories (recursively: `.ndjson`, `.jsonl`, `.json`, each optionally `.gz`).
    pub async fn load_paths(&mut self, paths: &[PathBuf], progress: &dyn LoadProgress) -> Result<LoadSummary, IngestError> {
        let started = Instant::now();
        let mut files = Vec::new();
        for p in paths {
            collect_files(p, &mut files)?;
        }
        let total: u64 = files.iter().filter_map(|f| std::fs::metadata(f).ok()).map(|m| m.len()).sum();
        progress.start(total);
        for file in &files {
            self.load_file(file, progress).await?;
            self.summary.files += 1;
        }
        self.flush(progress).await?;
        self.summary.seconds = started.elapsed().as_secs_f64();
        Ok(self.summary.clone())
    }

    /// Load events given as text (the bundled demo, tests).
    pub async fn load_events(&mut self, events: impl IntoIterator<Item = RawEvent>) -> Result<LoadSummary, IngestError> {
        let started = Instant::now();
        for e in events {
            self.add_line(&e.text, e.source, &()).await?;
        }
        self.flush(&()).await?;
        self.summary.seconds = started.elapsed().as_secs_f64();
        Ok(self.summary.clone())
    }

    async fn load_file(&mut self, path: &Path, progress: &dyn LoadProgress) -> Result<(), IngestError> {
        let io = |source| IngestError::Io { path: path.to_path_buf(), source };
        let mut file = File::open(path).map_err(io)?;
        let mut magic = [0u8; 2];
        let gz = file.read(&mut magic).map_err(io)? == 2 && magic == [0x1f, 0x8b];
        drop(file);
        let counter = Arc::new(AtomicU64::new(0));
        let reader: Box<dyn BufRead> = {
            let raw = CountingFile { file: File::open(path).map_err(io)?, count: counter.clone() };
            if gz {
                Box::new(BufReader::with_capacity(1 << 20, flate2::read::MultiGzDecoder::new(raw)))
            } else {
                Box::new(BufReader::with_capacity(1 << 20, raw))
            }
        };
        let display = path.display().to_string();
        let mut reported = 0u64;
        for (i, line) in reader.lines().enumerate() {
            let line = line.map_err(|e| IngestError::Io { path: path.to_path_buf(), source: e })?;
            self.add_line(&line, format!("{display}:{}", i + 1), progress).await?;
            let read = counter.load(Ordering::Relaxed);
            if read > reported {
                progress.advance(read - reported);
                reported = read;
            }
        }
        Ok(())
    }

    async fn add_line(&mut self, line: &str, source: String, progress: &dyn LoadProgress) -> Result<(), IngestError> {
        let text = line.trim();
        if text.is_empty() {
            return Ok(());
        }
        self.summary.events_read += 1;
        match parse(text) {
            Ok((event, event_id)) => {
                if self.state.has_event(&event_id) {
                    return Ok(());
                }
                self.batch_bytes += text.len();
                self.batch.push(ParsedEvent { event, event_id, payload: text.to_string(), source });
                if self.batch.len() >= self.options.batch_events || self.batch_bytes >= self.options.batch_bytes {
                    self.flush(progress).await?;
                }
                Ok(())
            }
            Err(reason) => self.reject(text, source, reason),
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
        let io = |source| IngestError::Io { path: path.clone(), source };
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

    /// Normalise and commit the pending batch.
    async fn flush(&mut self, progress: &dyn LoadProgress) -> Result<(), IngestError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.batch);
        self.batch_bytes = 0;
        let mut normalizer = Normalizer::new(&mut self.state);
        normalizer
            .apply_batch(batch)
            .map_err(|(location, e)| IngestError::BadEvent { location, reason: e.to_string() })?;
        let changes = normalizer.finish();
        let events = changes.events.len();
        let rows = changes.commit(&self.warehouse).await?;
        self.summary.events_new += events;
        self.summary.rows.add(&rows);
        progress.committed(events, &rows);
        Ok(())
    }
}

/// Parse one line: the event, and its id (SHA-256 of the canonical JSON: keys sorted, no spaces).
fn parse(text: &str) -> Result<(Event, String), String> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
    let event = Event::from_json(&value).map_err(|e| e.to_string())?;
    validate(&event).map_err(|e| e.to_string())?;
    // serde_json's default map is ordered by key, so this is canonical.
    let canonical = value.to_string();
    let id = hex::encode(Sha256::digest(canonical.as_bytes()));
    Ok((event, id))
}

fn is_loadable(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("").to_ascii_lowercase();
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    [".ndjson", ".jsonl", ".json"].iter().any(|ext| name.ends_with(ext))
}

fn collect_files(path: &Path, out: &mut Vec<PathBuf>) -> Result<(), IngestError> {
    let io = |source| IngestError::Io { path: path.to_path_buf(), source };
    let meta = std::fs::metadata(path).map_err(io)?;
    if meta.is_file() {
        out.push(path.to_path_buf());
        return Ok(());
    }
    let before = out.len();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path).map_err(io)?.map(|e| e.map(|e| e.path())).collect::<Result<_, _>>().map_err(io)?;
    entries.sort();
    for entry in entries {
        if entry.is_dir() {
            collect_files(&entry, out)?;
        } else if is_loadable(&entry) {
            out.push(entry);
        }
    }
    if out.len() == before && before == 0 {
        return Err(IngestError::NothingToLoad { path: path.to_path_buf() });
    }
    Ok(())
}

/// A file that counts the bytes read from it, for the progress bar (compressed bytes for .gz).
struct CountingFile {
    file: File,
    count: Arc<AtomicU64>,
}

impl Read for CountingFile {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.file.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}
