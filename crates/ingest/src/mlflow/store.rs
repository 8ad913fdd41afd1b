//! The layout of an MLflow file store (`mlruns/`): experiments, their runs, logged models and
//! the model registry, listed without reading run contents.
//!
//! ```text
//! mlruns/<experiment id>/meta.yaml                       experiment
//! mlruns/<experiment id>/<run id>/meta.yaml              run (params/, tags/, metrics/, inputs/)
//! mlruns/<experiment id>/datasets/<dataset id>/meta.yaml dataset logged with mlflow.log_input
//! mlruns/<experiment id>/models/<model id>/meta.yaml     logged model (MLflow 3)
//! mlruns/.trash/<experiment id>/…                        deleted experiment
//! mlruns/models/<name>/version-<n>/meta.yaml             registered model version
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::meta::{Bad, Meta};

/// An experiment: becomes a job.
#[derive(Debug, Clone)]
pub struct Experiment {
    pub id: String,
    pub name: String,
    pub deleted: bool,
    pub created: Option<i64>,
    /// Its directory in a file store (datasets are found there); empty for a database.
    pub dir: PathBuf,
    /// Where it was read, for messages and `events.source`.
    pub location: String,
}

/// A run's directory and the bytes of its metadata and metric files (for progress).
#[derive(Debug, Clone)]
pub struct RunDir {
    pub experiment: Arc<Experiment>,
    pub dir: PathBuf,
    pub bytes: u64,
}

/// What `open` found, in a stable order.
#[derive(Debug, Default)]
pub struct FileStore {
    pub experiments: Vec<Arc<Experiment>>,
    pub runs: Vec<RunDir>,
    /// `meta.yaml` files of logged models, with their experiment.
    pub logged_models: Vec<(Arc<Experiment>, PathBuf)>,
    /// `meta.yaml` files of registered model versions.
    pub registered_versions: Vec<PathBuf>,
    /// Experiments that could not be read (their runs are not listed).
    pub problems: Vec<Bad>,
}

/// Whether a directory looks like an MLflow file store: an experiment directory (a numeric
/// name holding `meta.yaml`) or MLflow's `.trash`.
pub fn is_file_store(path: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(path) else {
        return false;
    };
    entries.flatten().any(|e| {
        let name = e.file_name();
        let name = name.to_string_lossy();
        (is_experiment_id(&name) && e.path().join("meta.yaml").is_file())
            || (name == ".trash" && e.path().is_dir())
    })
}

fn is_experiment_id(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit())
}

/// MLflow's run ids are uuid4 hex: 32 lowercase hex digits.
fn is_run_id(name: &str) -> bool {
    name.len() == 32 && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn subdirs(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            out.push(entry.path());
        }
    }
    out.sort();
    Ok(out)
}

fn name_of(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Total size of the files under a directory.
fn bytes_under(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => bytes_under(&e.path()),
            _ => e.metadata().map(|m| m.len()).unwrap_or(0),
        })
        .sum()
}

impl FileStore {
    pub fn open(root: &Path) -> std::io::Result<FileStore> {
        let mut store = FileStore::default();
        for dir in subdirs(root)? {
            let name = name_of(&dir);
            if name == ".trash" {
                for trashed in subdirs(&dir)? {
                    store.add_experiment(&trashed, true)?;
                }
            } else if name != "models" {
                store.add_experiment(&dir, false)?;
            }
        }
        let registry = root.join("models");
        if registry.is_dir() {
            for model in subdirs(&registry)? {
                for version in subdirs(&model)? {
                    if name_of(&version).starts_with("version-") {
                        store.registered_versions.push(version.join("meta.yaml"));
                    }
                }
            }
        }
        Ok(store)
    }

    fn add_experiment(&mut self, dir: &Path, trashed: bool) -> std::io::Result<()> {
        let meta_path = dir.join("meta.yaml");
        // Other directories (editor checkpoints, …) are not MLflow's unless they claim to be.
        if !is_experiment_id(&name_of(dir)) && !meta_path.is_file() {
            return Ok(());
        }
        let experiment = match read_experiment(dir, &meta_path, trashed) {
            Ok(e) => Arc::new(e),
            Err(bad) => {
                self.problems.push(bad);
                return Ok(());
            }
        };
        for sub in subdirs(dir)? {
            let name = name_of(&sub);
            if is_run_id(&name) {
                self.runs.push(RunDir {
                    experiment: experiment.clone(),
                    bytes: bytes_under(&sub.join("metrics")) + 4096,
                    dir: sub,
                });
            } else if name == "models" {
                for model in subdirs(&sub)? {
                    self.logged_models
                        .push((experiment.clone(), model.join("meta.yaml")));
                }
            }
        }
        self.experiments.push(experiment);
        Ok(())
    }

    /// Bytes the progress bar counts for the whole store.
    pub fn bytes(&self) -> u64 {
        self.runs.iter().map(|r| r.bytes).sum()
    }
}

fn read_experiment(dir: &Path, meta_path: &Path, trashed: bool) -> Result<Experiment, Bad> {
    let meta = Meta::read(meta_path)?;
    Ok(Experiment {
        id: meta.text("experiment_id").unwrap_or_else(|| name_of(dir)),
        name: meta.required("name")?,
        deleted: trashed || meta.text("lifecycle_stage").as_deref() == Some("deleted"),
        created: meta.millis("creation_time")?,
        dir: dir.to_path_buf(),
        location: meta_path.display().to_string(),
    })
}
