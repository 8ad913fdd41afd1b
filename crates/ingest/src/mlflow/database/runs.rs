//! Runs: their rows, params and tags, the datasets and logged models they used, and each run's
//! metric points (read when its events are made, one run at a time).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::super::events::MetricSeries;
use super::super::meta::Bad;
use super::super::run::{Input, ModelInput, Point, Run, Status};
use super::super::store::Experiment;
use super::connection::quote;
use super::schema::{Table, prefixed};
use super::{DatabaseStore, millis};

impl DatabaseStore {
    pub(super) async fn read_runs(
        &mut self,
        table: &Table,
        experiments: &HashMap<String, Arc<Experiment>>,
    ) -> Result<(), Bad> {
        let sql = format!(
            "SELECT run_uuid, experiment_id, status, start_time, end_time, lifecycle_stage, \
             {}, {}, {}, {}, {}, {}, {}, {} FROM runs ORDER BY experiment_id, run_uuid",
            table.col("name"),
            table.col("user_id"),
            table.col("source_type"),
            table.col("source_name"),
            table.col("source_version"),
            table.col("entry_point_name"),
            table.col("artifact_uri"),
            table.col("deleted_time"),
        );
        let rows = self.query(&sql).await?;
        let mut params = self.key_values("params").await?;
        let mut tags = self.key_values("tags").await?;
        let mut inputs = self.inputs().await?;
        let mut input_models = self.input_models().await?;
        for row in rows {
            let [
                Some(run_id),
                Some(experiment_id),
                status,
                start,
                end,
                stage,
                run_name,
                user,
                source_type,
                source_name,
                source_version,
                entry_point,
                artifact_uri,
                deleted_time,
            ] = &row[..]
            else {
                continue;
            };
            let location = self.at("runs", run_id);
            let Some(experiment) = experiments.get(experiment_id) else {
                return Err(Bad::new(
                    location,
                    format!("experiment_id {experiment_id} is not in the experiments table"),
                ));
            };
            let status_text = status.as_deref().unwrap_or("");
            let status = Status::parse(status_text).ok_or_else(|| {
                Bad::new(
                    &location,
                    format!("`status`: unknown run status {status_text:?}"),
                )
            })?;
            // MLflow keeps the run name in a column and mirrors it in the `mlflow.runName` tag.
            let tags = tags.remove(run_id).unwrap_or_default();
            let run = Run {
                run_id: run_id.clone(),
                run_name: run_name
                    .clone()
                    .or_else(|| tags.get("mlflow.runName").cloned()),
                status,
                start: millis(start, &location, "start_time")?,
                end: millis(end, &location, "end_time")?,
                user: user.clone(),
                source_type: source_type.clone(),
                source_name: source_name.clone(),
                source_version: source_version.clone(),
                entry_point: entry_point.clone(),
                artifact_uri: artifact_uri.clone(),
                deleted: stage.as_deref() == Some("deleted") || experiment.deleted,
                deleted_time: millis(deleted_time, &location, "deleted_time")?,
                params: params.remove(run_id).unwrap_or_default(),
                tags,
                inputs: inputs.remove(run_id).unwrap_or_default(),
                input_models: input_models.remove(run_id).unwrap_or_default(),
                metric_files: Vec::new(),
            };
            self.runs.push((experiment.clone(), run));
        }
        Ok(())
    }

    /// `params` or `tags`: run -> key -> value.
    pub(super) async fn key_values(
        &self,
        table: &str,
    ) -> Result<HashMap<String, BTreeMap<String, String>>, Bad> {
        let mut out: HashMap<String, BTreeMap<String, String>> = HashMap::new();
        let sql = format!("SELECT run_uuid, key, value FROM {table}");
        for row in self.query(&sql).await? {
            if let [Some(run), Some(key), value] = &row[..] {
                out.entry(run.clone())
                    .or_default()
                    .insert(key.clone(), value.clone().unwrap_or_default());
            }
        }
        Ok(out)
    }

    /// Datasets each run used (`mlflow.log_input`), in the order of their input ids.
    pub(super) async fn inputs(&self) -> Result<HashMap<String, Vec<Input>>, Bad> {
        let mut out: HashMap<String, Vec<Input>> = HashMap::new();
        let datasets = Table {
            name: "datasets",
            columns: self.columns("datasets").await?,
        };
        let links = self.columns("inputs").await?;
        if !datasets.exists() || links.is_empty() {
            return Ok(out);
        }
        let has_tags = !self.columns("input_tags").await?.is_empty();
        let context = if has_tags {
            "(SELECT t.value FROM input_tags t WHERE t.input_uuid = i.input_uuid \
             AND t.name = 'mlflow.data.context')"
        } else {
            "NULL"
        };
        let sql = format!(
            "SELECT i.destination_id, d.name, d.digest, {}, {}, {}, {}, {context} \
             FROM inputs i JOIN datasets d ON d.dataset_uuid = i.source_id \
             WHERE i.source_type = 'DATASET' AND i.destination_type = 'RUN' \
             ORDER BY i.destination_id, i.input_uuid",
            prefixed(&datasets, "d", "dataset_source_type"),
            prefixed(&datasets, "d", "dataset_source"),
            prefixed(&datasets, "d", "dataset_schema"),
            prefixed(&datasets, "d", "dataset_profile"),
        );
        for row in self.query(&sql).await? {
            if let [
                Some(run),
                Some(name),
                Some(digest),
                source_type,
                source,
                schema,
                profile,
                context,
            ] = &row[..]
            {
                out.entry(run.clone()).or_default().push(Input {
                    name: name.clone(),
                    digest: digest.clone(),
                    source_type: source_type.clone(),
                    source: source.clone(),
                    schema: schema.clone(),
                    profile: profile.clone(),
                    context: context.clone(),
                });
            }
        }
        Ok(out)
    }

    /// Logged models each run used (`log_inputs(models=…)`: `inputs` rows RUN_INPUT ->
    /// MODEL_INPUT, MLflow 3), named `<experiment>/<model name>` as logged models are.
    pub(super) async fn input_models(&self) -> Result<HashMap<String, Vec<ModelInput>>, Bad> {
        let mut out: HashMap<String, Vec<ModelInput>> = HashMap::new();
        if self.columns("inputs").await?.is_empty()
            || self.columns("logged_models").await?.is_empty()
        {
            return Ok(out);
        }
        let sql = "SELECT i.source_id, i.destination_id, e.name, m.name \
             FROM inputs i JOIN logged_models m ON m.model_id = i.destination_id \
             JOIN experiments e ON e.experiment_id = m.experiment_id \
             WHERE i.source_type = 'RUN_INPUT' AND i.destination_type = 'MODEL_INPUT' \
             ORDER BY i.source_id, i.input_uuid";
        for row in self.query(sql).await? {
            if let [Some(run), Some(model_id), Some(experiment), Some(model)] = &row[..] {
                out.entry(run.clone()).or_default().push(ModelInput {
                    name: format!("{experiment}/{model}"),
                    model_id: model_id.clone(),
                });
            }
        }
        Ok(out)
    }

    /// Every metric point of a run, per key in time order (so that a run logging more later
    /// only adds to its last events).
    pub async fn metrics(&self, run_id: &str) -> Result<Vec<MetricSeries>, Bad> {
        let sql = format!(
            "SELECT key, value, timestamp, {}, {} FROM metrics WHERE run_uuid = {} \
             ORDER BY key, timestamp, {}, value",
            self.metrics.col("step"),
            self.metrics.col("is_nan"),
            quote(run_id),
            self.metrics.col("step"),
        );
        let mut out: Vec<MetricSeries> = Vec::new();
        for row in self.query(&sql).await? {
            let [Some(key), value, timestamp, step, is_nan] = &row[..] else {
                continue;
            };
            if out.last().is_none_or(|s| &s.key != key) {
                out.push(MetricSeries {
                    key: key.clone(),
                    points: Vec::new(),
                    location: self.at("metrics", &format!("{run_id}/{key}")),
                });
            }
            let series = out.last_mut().expect("pushed above");
            let line = series.points.len() + 1;
            let at = || format!("{}:{line}", series.location);
            // SQLite says 1, PostgreSQL t; the stored value of a NaN is 0.
            let nan = matches!(is_nan.as_deref(), Some("1" | "t" | "true"));
            let value = if nan {
                f64::NAN
            } else {
                number(value, &at(), "value")?
            };
            let timestamp = millis(timestamp, &at(), "timestamp")?
                .ok_or_else(|| Bad::new(at(), "`timestamp` is empty"))?;
            let step = match step {
                Some(s) => s
                    .parse()
                    .map_err(|_| Bad::new(at(), format!("`step`: not an integer: {s:?}")))?,
                None => 0,
            };
            series.points.push(Point {
                timestamp,
                value,
                step,
                line,
            });
        }
        Ok(out)
    }
}

fn number(value: &Option<String>, location: &str, field: &str) -> Result<f64, Bad> {
    let v = value
        .as_deref()
        .ok_or_else(|| Bad::new(location, format!("`{field}` is empty")))?;
    v.parse()
        .map_err(|_| Bad::new(location, format!("`{field}`: not a number: {v:?}")))
}
