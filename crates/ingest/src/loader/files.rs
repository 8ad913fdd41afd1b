//! Input files: which files a command-line path holds and in what format (OpenLineage NDJSON or
//! JSON documents, MLflow stores), read into the pipeline in order.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::bucket::Bucket;
use super::document::is_loadable_name;
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
        let (files, stores, database_sources, bucket_urls) = inputs(paths, self.options.format)?;
        let mut buckets = Vec::new();
        for url in &bucket_urls {
            buckets.push(Bucket::list(url).await?);
        }
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
            + databases.iter().map(|d| d.bytes()).sum::<u64>()
            + buckets.iter().map(|b| b.bytes()).sum::<u64>();
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
        for bucket in &buckets {
            self.load_bucket(bucket, progress).await?;
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
        self.load_document_bytes(bytes, &display, progress).await?;
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

    /// An MLflow file store: each run's events go in whole or, when rejected, not at all.
    async fn load_mlflow(
        &mut self,
        store: &mlflow::FileStore,
        progress: &dyn LoadProgress,
    ) -> Result<(), IngestError> {
        for bad in &store.problems {
            self.reject("", bad.location.clone(), bad.reason.clone())?;
        }
        self.add_mlflow_experiments(&store.experiments, progress)
            .await?;
        let mut experiment_of_run = HashMap::new();
        for run_dir in &store.runs {
            let run = mlflow::run_events(run_dir).map(|(run, events)| (run.run_id, events));
            self.add_mlflow_run(&run_dir.experiment, run, &mut experiment_of_run, progress)
                .await?;
            progress.advance(run_dir.bytes);
        }
        let logged = store.logged_models.iter().map(|(experiment, path)| {
            (
                path.display().to_string(),
                mlflow::logged_model(&experiment.name, path),
            )
        });
        let registered = store
            .registered_versions
            .iter()
            .map(|path| (path.display().to_string(), mlflow::registered_version(path)));
        let models: Vec<_> = logged.chain(registered).collect();
        self.add_mlflow_models(models, &experiment_of_run, progress)
            .await
    }

    /// An MLflow tracking database, as [`Loader::load_mlflow`] a file store.
    async fn load_mlflow_database(
        &mut self,
        store: &mlflow::DatabaseStore,
        progress: &dyn LoadProgress,
    ) -> Result<(), IngestError> {
        self.add_mlflow_experiments(&store.experiments, progress)
            .await?;
        let mut experiment_of_run = HashMap::new();
        let at = store.source.display();
        for (experiment, run) in &store.runs {
            let locations = mlflow::RunLocations {
                run: format!("{at}:runs/{}", run.run_id),
                model_history: format!("{at}:tags/{}/mlflow.log-model.history", run.run_id),
            };
            let events = match store.metrics(&run.run_id).await {
                Ok(metrics) => mlflow::events_of_run(experiment, run, &metrics, &locations),
                Err(bad) => Err(bad),
            };
            let run_events = events.map(|events| (run.run_id.clone(), events));
            self.add_mlflow_run(experiment, run_events, &mut experiment_of_run, progress)
                .await?;
            progress.advance(store.bytes_of(&run.run_id));
        }
        let models = store
            .models
            .iter()
            .map(|(m, at)| (at.clone(), Ok(m.clone())));
        self.add_mlflow_models(models.collect(), &experiment_of_run, progress)
            .await
    }

    async fn add_mlflow_experiments(
        &mut self,
        experiments: &[Arc<mlflow::Experiment>],
        progress: &dyn LoadProgress,
    ) -> Result<(), IngestError> {
        for experiment in experiments {
            match mlflow::experiment_event(experiment) {
                Ok(e) => self.add_line(&e.text, e.source, progress).await?,
                Err(bad) => self.reject("", bad.location, bad.reason)?,
            }
        }
        Ok(())
    }

    /// One run's events, or why it is rejected; a loaded run's experiment is remembered, since
    /// registered versions name only their run and its experiment is their job.
    async fn add_mlflow_run(
        &mut self,
        experiment: &mlflow::Experiment,
        run: Result<(String, Vec<crate::RawEvent>), mlflow::Bad>,
        experiment_of_run: &mut HashMap<String, String>,
        progress: &dyn LoadProgress,
    ) -> Result<(), IngestError> {
        match run {
            Ok((run_id, events)) => {
                experiment_of_run.insert(run_id, experiment.name.clone());
                for e in events {
                    self.add_line(&e.text, e.source, progress).await?;
                }
                self.summary.mlflow_runs += 1;
                Ok(())
            }
            Err(bad) => self.reject("", bad.location, bad.reason),
        }
    }

    /// Models, with where each was read. A model is linked to its run, so it comes in with it:
    /// not when the run was rejected (a later load brings both), nor when the store does not
    /// hold the run.
    async fn add_mlflow_models(
        &mut self,
        models: Vec<(String, Result<mlflow::ModelRecord, mlflow::Bad>)>,
        experiment_of_run: &HashMap<String, String>,
        progress: &dyn LoadProgress,
    ) -> Result<(), IngestError> {
        for (location, model) in models {
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
}

/// What each path holds, by `format`: the files of those holding OpenLineage events, in order,
/// the MLflow file stores, the MLflow tracking databases, and bucket prefixes of events.
type Inputs = (
    Vec<PathBuf>,
    Vec<mlflow::FileStore>,
    Vec<mlflow::DatabaseSource>,
    Vec<String>,
);

fn inputs(paths: &[PathBuf], format: InputFormat) -> Result<Inputs, IngestError> {
    let mut files = Vec::new();
    let mut stores = Vec::new();
    let mut databases = Vec::new();
    let mut buckets = Vec::new();
    for p in paths {
        let text = p.to_string_lossy();
        if is_bucket_url(&text) {
            if format == InputFormat::Mlflow {
                return Err(IngestError::NotAnMlflowStore { path: p.clone() });
            }
            buckets.push(text.into_owned());
            continue;
        }
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
    Ok((files, stores, databases, buckets))
}

/// `s3://…`, `gs://…`, `az://…` (and the other object store schemes a warehouse may use).
fn is_bucket_url(text: &str) -> bool {
    text.split_once("://")
        .is_some_and(|(scheme, _)| prov9_store::BUCKET_SCHEMES.contains(&scheme))
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
    is_loadable_name(path.file_name().and_then(|n| n.to_str()).unwrap_or(""))
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
