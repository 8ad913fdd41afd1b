//! Input files: which files a command-line path holds and in what format (OpenLineage NDJSON or
//! JSON documents, MLflow stores), read into the pipeline in order.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{InputFormat, LoadProgress, Loader};
use crate::IngestError;
use crate::lines::{Parsed, ParsedLines, open_reader};
use crate::mlflow;

impl Loader {
    /// The paths' files (runs of NDJSON files through the reader thread, small `.json`
    /// documents whole), then their MLflow stores; then the last batch is flushed.
    pub(super) async fn read_paths(
        &mut self,
        paths: &[PathBuf],
        progress: &dyn LoadProgress,
    ) -> Result<(), IngestError> {
        let (files, stores, database_sources) = inputs(paths, self.options.format)?;
        let mut databases = Vec::new();
        for source in database_sources {
            let display = source.display();
            let store = mlflow::DatabaseStore::open(source).await.map_err(|bad| {
                IngestError::MlflowDatabase {
                    location: if bad.location == display {
                        display.clone()
                    } else {
                        bad.location
                    },
                    reason: bad.reason,
                }
            })?;
            databases.push(store);
        }
        let total: u64 = files
            .iter()
            .filter_map(|f| std::fs::metadata(f).ok())
            .map(|m| m.len())
            .sum::<u64>()
            + stores.iter().map(|s| s.bytes()).sum::<u64>()
            + databases.iter().map(|d| d.bytes()).sum::<u64>();
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
        for database in &databases {
            self.load_mlflow_database(database, progress).await?;
        }
        self.flush(progress).await
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

    /// An MLflow tracking database, as [`Loader::load_mlflow`] a file store.
    async fn load_mlflow_database(
        &mut self,
        store: &mlflow::DatabaseStore,
        progress: &dyn LoadProgress,
    ) -> Result<(), IngestError> {
        for experiment in &store.experiments {
            match mlflow::experiment_event(experiment) {
                Ok(e) => self.add_line(&e.text, e.source, progress).await?,
                Err(bad) => self.reject("", bad.location, bad.reason)?,
            }
        }
        let mut experiment_of_run = HashMap::new();
        for (experiment, run) in &store.runs {
            let locations = mlflow::RunLocations {
                run: format!("{}:runs/{}", store.source.display(), run.run_id),
                model_history: format!(
                    "{}:tags/{}/mlflow.log-model.history",
                    store.source.display(),
                    run.run_id
                ),
            };
            let events = match store.metrics(&run.run_id).await {
                Ok(metrics) => mlflow::events_of_run(experiment, run, &metrics, &locations),
                Err(bad) => Err(bad),
            };
            match events {
                Ok(events) => {
                    experiment_of_run.insert(run.run_id.clone(), experiment.name.clone());
                    for e in events {
                        self.add_line(&e.text, e.source, progress).await?;
                    }
                    self.summary.mlflow_runs += 1;
                }
                Err(bad) => self.reject("", bad.location, bad.reason)?,
            }
            progress.advance(store.bytes_of(&run.run_id));
        }
        for (model, location) in &store.models {
            let experiment = model.run_id.as_ref().and_then(|r| experiment_of_run.get(r));
            let event = match experiment {
                Some(experiment) => mlflow::model_event(experiment, model, location),
                None => Ok(None),
            };
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
}

/// What each path holds, by `format`: the files of those holding OpenLineage events, in order,
/// the MLflow file stores, and the MLflow tracking databases.
type Inputs = (
    Vec<PathBuf>,
    Vec<mlflow::FileStore>,
    Vec<mlflow::DatabaseSource>,
);

fn inputs(paths: &[PathBuf], format: InputFormat) -> Result<Inputs, IngestError> {
    let mut files = Vec::new();
    let mut stores = Vec::new();
    let mut databases = Vec::new();
    for p in paths {
        if format != InputFormat::OpenLineage {
            let database =
                mlflow::DatabaseSource::of(p).map_err(|bad| IngestError::MlflowDatabase {
                    location: bad.location,
                    reason: bad.reason,
                })?;
            if let Some(database) = database {
                databases.push(database);
                continue;
            }
        }
        let mlflow = match format {
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
    Ok((files, stores, databases))
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
    if let Some(store) = mlflow_artifacts(path, &entries) {
        return Err(IngestError::MlflowArtifacts {
            path: path.to_path_buf(),
            store,
        });
    }
    for entry in entries {
        if entry.is_dir() {
            collect_files(&entry, out)?;
        } else if is_loadable(&entry) {
            out.push(entry);
        }
    }
    Ok(())
}

/// Whether a directory holds MLflow artifacts (a model's `MLmodel`, a run's or a logged model's
/// `artifacts/`), whose JSON files are not events: then what to load instead.
fn mlflow_artifacts(dir: &Path, entries: &[PathBuf]) -> Option<String> {
    let name_of = |p: &Path| {
        p.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let is_owner = |p: &Path| {
        let name = name_of(p);
        name.starts_with("m-") || (name.len() == 32 && name.bytes().all(|b| b.is_ascii_hexdigit()))
    };
    let artifacts = entries.iter().any(|e| name_of(e) == "MLmodel")
        || (name_of(dir) == "artifacts" && dir.parent().is_some_and(is_owner));
    if !artifacts {
        return None;
    }
    // The tracking store is usually next to the artifact root: mlflow.db beside mlruns/.
    let store = dir
        .ancestors()
        .skip(1)
        .map(|a| a.join("mlflow.db"))
        .find(|db| db.is_file())
        .map(|db| db.display().to_string())
        .unwrap_or_else(|| "the tracking store (mlflow.db, sqlite:///…, postgresql://…)".into());
    Some(store)
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
