//! One MLflow run as the file store keeps it: `meta.yaml`, one file per param and tag, one
//! file of `TIMESTAMP VALUE STEP` lines per metric, and `inputs/` pointing at logged datasets.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::meta::{Bad, Meta};
use super::store::RunDir;

/// MLflow's run statuses, as the file store writes them (numbers) or its API names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Running,
    Scheduled,
    Finished,
    Failed,
    Killed,
}

impl Status {
    pub(super) fn parse(s: &str) -> Option<Status> {
        Some(match s {
            "1" | "RUNNING" => Status::Running,
            "2" | "SCHEDULED" => Status::Scheduled,
            "3" | "FINISHED" => Status::Finished,
            "4" | "FAILED" => Status::Failed,
            "5" | "KILLED" => Status::Killed,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Status::Running => "RUNNING",
            Status::Scheduled => "SCHEDULED",
            Status::Finished => "FINISHED",
            Status::Failed => "FAILED",
            Status::Killed => "KILLED",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Run {
    pub run_id: String,
    pub run_name: Option<String>,
    pub status: Status,
    pub start: Option<i64>,
    pub end: Option<i64>,
    pub user: Option<String>,
    pub source_type: Option<String>,
    pub source_name: Option<String>,
    pub source_version: Option<String>,
    pub entry_point: Option<String>,
    pub artifact_uri: Option<String>,
    pub deleted: bool,
    pub deleted_time: Option<i64>,
    pub params: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
    pub inputs: Vec<Input>,
    /// Logged models the run used (`log_inputs(models=…)`, an evaluation's model).
    pub input_models: Vec<ModelInput>,
    /// Metric name -> its file.
    pub metric_files: Vec<(String, PathBuf)>,
}

/// A logged model (MLflow 3) a run used, named as [`super::logged_model`] names it.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInput {
    /// `<experiment>/<model name>`.
    pub name: String,
    pub model_id: String,
}

/// A dataset logged with `mlflow.log_input`, as one run used it.
#[derive(Debug, Clone)]
pub struct Input {
    pub name: String,
    pub digest: String,
    pub source_type: Option<String>,
    /// JSON text, e.g. `{"uri": "s3://bucket/train.parquet"}`.
    pub source: Option<String>,
    /// JSON text, e.g. `{"mlflow_colspec": [{"type": "double", "name": "amount"}]}`.
    pub schema: Option<String>,
    /// JSON text, e.g. `{"num_rows": 2, "num_elements": 4}`.
    pub profile: Option<String>,
    /// `mlflow.data.context`: training, validation, …
    pub context: Option<String>,
}

/// One line of a metric file.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub timestamp: i64,
    pub value: f64,
    pub step: i64,
    pub line: usize,
}

impl Run {
    pub fn read(dir: &RunDir) -> Result<Run, Bad> {
        let meta = Meta::read(&dir.dir.join("meta.yaml"))?;
        let status_text = meta.required("status")?;
        let status = Status::parse(&status_text).ok_or_else(|| {
            Bad::new(
                meta.path().display(),
                format!("`status`: unknown run status {status_text:?}"),
            )
        })?;
        let deleted = meta.text("lifecycle_stage").as_deref() == Some("deleted");
        Ok(Run {
            run_id: meta.required("run_id")?,
            run_name: meta.text("run_name"),
            status,
            start: meta.millis("start_time")?,
            end: meta.millis("end_time")?,
            user: meta.text("user_id"),
            source_type: meta.text("source_type"),
            source_name: meta.text("source_name"),
            source_version: meta.text("source_version"),
            entry_point: meta.text("entry_point_name"),
            artifact_uri: meta.text("artifact_uri"),
            deleted: deleted || dir.experiment.deleted,
            deleted_time: meta.millis("deleted_time")?,
            params: values_under(&dir.dir.join("params"))?,
            tags: values_under(&dir.dir.join("tags"))?,
            inputs: inputs(&dir.dir, &dir.experiment.dir)?,
            input_models: input_models(&dir.dir, &dir.experiment.dir)?,
            metric_files: files_under(&dir.dir.join("metrics"))
                .map_err(|e| Bad::new(dir.dir.join("metrics").display(), e.to_string()))?,
        })
    }
}

/// Files under a directory, named by their path below it with `/` (MLflow keys may hold `/`).
fn files_under(dir: &Path) -> std::io::Result<Vec<(String, PathBuf)>> {
    fn walk(dir: &Path, prefix: &str, out: &mut Vec<(String, PathBuf)>) -> std::io::Result<()> {
        let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let name = format!("{prefix}{}", e.file_name().to_string_lossy());
            if e.file_type()?.is_dir() {
                walk(&e.path(), &format!("{name}/"), out)?;
            } else {
                out.push((name, e.path()));
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    match walk(dir, "", &mut out) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(out),
        other => other.map(|_| out),
    }
}

/// Params or tags: one file per key holding the value.
pub(super) fn values_under(dir: &Path) -> Result<BTreeMap<String, String>, Bad> {
    let mut out = BTreeMap::new();
    for (key, path) in files_under(dir).map_err(|e| Bad::new(dir.display(), e.to_string()))? {
        let value = std::fs::read(&path).map_err(|e| Bad::new(path.display(), e.to_string()))?;
        let value = String::from_utf8(value).map_err(|e| {
            Bad::new(
                path.display(),
                format!("not UTF-8 text: {}", e.utf8_error()),
            )
        })?;
        out.insert(key, value);
    }
    Ok(out)
}

fn inputs(run_dir: &Path, experiment_dir: &Path) -> Result<Vec<Input>, Bad> {
    let dir = run_dir.join("inputs");
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(out);
    };
    let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    paths.sort();
    for input_dir in paths {
        let link = Meta::read(&input_dir.join("meta.yaml"))?;
        // Inputs of other kinds (MLflow 3's logged-model inputs) are not datasets.
        if link.text("source_type").as_deref() != Some("DATASET") {
            continue;
        }
        let dataset_id = link.required("source_id")?;
        let dataset = Meta::read(
            &experiment_dir
                .join("datasets")
                .join(&dataset_id)
                .join("meta.yaml"),
        )?;
        out.push(Input {
            name: dataset.required("name")?,
            digest: dataset.required("digest")?,
            source_type: dataset.text("source_type"),
            source: dataset.text("source"),
            schema: dataset.text("schema"),
            profile: dataset.text("profile"),
            context: link.strings("tags").remove("mlflow.data.context"),
        });
    }
    Ok(out)
}

/// The logged models a run used: `inputs/<id>/meta.yaml` with `source_type: MODEL`. The model
/// is in its experiment's `models/` (usually the run's own; else another of the store's). A
/// model the store no longer holds is left out: its name is unknown.
fn input_models(run_dir: &Path, experiment_dir: &Path) -> Result<Vec<ModelInput>, Bad> {
    let Ok(entries) = std::fs::read_dir(run_dir.join("inputs")) else {
        return Ok(Vec::new());
    };
    let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    paths.sort();
    let mut out = Vec::new();
    for input_dir in paths {
        let link = Meta::read(&input_dir.join("meta.yaml"))?;
        if link.text("source_type").as_deref() != Some("MODEL") {
            continue;
        }
        let model_id = link.required("source_id")?;
        let store_root = experiment_dir.parent().unwrap_or(Path::new("."));
        let other_experiments = std::fs::read_dir(store_root)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path());
        let found = std::iter::once(experiment_dir.to_path_buf())
            .chain(other_experiments)
            .map(|dir| (dir.join("models").join(&model_id).join("meta.yaml"), dir))
            .find(|(meta, _)| meta.is_file());
        let Some((model_meta, model_experiment)) = found else {
            tracing::info!(
                "{}: logged model {model_id} is not in the store; input left out",
                input_dir.display()
            );
            continue;
        };
        let experiment = Meta::read(&model_experiment.join("meta.yaml"))?.required("name")?;
        let model = Meta::read(&model_meta)?.required("name")?;
        out.push(ModelInput {
            name: format!("{experiment}/{model}"),
            model_id,
        });
    }
    Ok(out)
}

/// Every point of a metric file. A line that is not `TIMESTAMP VALUE [STEP]` (a crash mid-write
/// truncates the last one) is an error naming the file and line, as MLflow itself refuses it.
pub fn read_metric(path: &Path) -> Result<Vec<Point>, Bad> {
    let text = std::fs::read(path).map_err(|e| Bad::new(path.display(), e.to_string()))?;
    let text = String::from_utf8(text).map_err(|e| {
        Bad::new(
            path.display(),
            format!("not UTF-8 text: {}", e.utf8_error()),
        )
    })?;
    let mut points = Vec::new();
    // Files from before MLflow 1.0 have no step (MLflow reads them as step 0); in a file that
    // has steps, a line without one was cut short.
    let mut fields_per_line = None;
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = || {
            Bad::new(
                format!("{}:{}", path.display(), i + 1),
                format!("expected `TIMESTAMP VALUE STEP`, found {line:?}"),
            )
        };
        let fields: Vec<&str> = line.split_whitespace().collect();
        if !(2..=3).contains(&fields.len())
            || *fields_per_line.get_or_insert(fields.len()) != fields.len()
        {
            return Err(bad());
        }
        points.push(Point {
            timestamp: fields[0].parse().map_err(|_| bad())?,
            value: fields[1].parse().map_err(|_| bad())?,
            step: match fields.get(2) {
                Some(s) => s.parse().map_err(|_| bad())?,
                None => 0,
            },
            line: i + 1,
        });
    }
    Ok(points)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_lines_and_their_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("loss");
        std::fs::write(
            &path,
            "1700000000000 0.5 0\n1700000000001 nan 1\n1700000000002 -inf 2\n",
        )
        .unwrap();
        let points = read_metric(&path).unwrap();
        assert_eq!(points.len(), 3);
        assert_eq!(points[0].value, 0.5);
        assert!(points[1].value.is_nan());
        assert_eq!((points[2].value, points[2].step), (f64::NEG_INFINITY, 2));
        // Before MLflow 1.0: no steps at all.
        std::fs::write(&path, "1700000000000 0.5\n1700000000001 0.25\n").unwrap();
        assert_eq!(read_metric(&path).unwrap()[1].step, 0);
        for cut in ["17000000", "1700000000001 0.25"] {
            std::fs::write(&path, format!("1700000000000 0.5 0\n{cut}")).unwrap();
            let e = read_metric(&path).unwrap_err();
            assert_eq!(e.location, format!("{}:2", path.display()));
            assert!(e.reason.contains("TIMESTAMP VALUE STEP"), "{e:?}");
        }
    }
}
