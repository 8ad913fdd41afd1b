//! MLflow tracking databases: the SQL schema MLflow's `SqlAlchemyStore` keeps in SQLite (the
//! default store since MLflow 3.7, `mlflow.db`) or PostgreSQL, read directly, no MLflow needed.
//!
//! The rows become the same [`Experiment`], [`Run`] and [`ModelRecord`] values the file store
//! gives, so both kinds of store turn into the same events (see [`super::events`]).
//!
//! | table | read as |
//! |---|---|
//! | `experiments` | experiments (deleted ones too) |
//! | `runs`, `params`, `tags` | runs with their params and tags |
//! | `metrics` | every point, per run and key, in time order |
//! | `datasets`, `inputs`, `input_tags` | dataset inputs of runs (MLflow ≥ 2.4) |
//! | `inputs` (RUN_INPUT -> MODEL_INPUT) | logged models runs used (MLflow 3) |
//! | `logged_models`, `logged_model_params` | logged models (MLflow 3) |
//! | `model_versions`, `registered_model_aliases` | registered versions, stage, aliases |
//!
//! [`source`] says where a database is, [`connection`] talks to either engine (every value as
//! text); this file maps MLflow's schema.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

mod connection;
mod source;

pub use source::DatabaseSource;

use super::events::MetricSeries;
use super::meta::Bad;
use super::models::{ModelRecord, flavor_of_mlmodel};
use super::run::{Input, ModelInput, Point, Run, Status};
use super::store::Experiment;
use connection::{Connection, Rows, quote};

/// Every revision of MLflow's tracking schema (its alembic `version_num`) up to MLflow 3.17.
const KNOWN_REVISIONS: &[&str] = &[
    "0584bdc529eb",
    "0a8213491aaa",
    "0c779009ac13",
    "17e22815139b",
    "181f10493468",
    "1971f2d9a75b",
    "1a0cddfcaa16",
    "1b5f0d9ad7c1",
    "1bd49d398cd23",
    "27a6a02d2cf1",
    "2b4d017a5e9b",
    "2c33131f4dae",
    "2d6e25af4d3e",
    "3500859a5d39",
    "39d1c3be5f05",
    "3da73c924c2f",
    "400f98739977",
    "4465047574b1",
    "451aebb31d03",
    "534353b11cbc",
    "5b0e9adcef9c",
    "5d2d30f0abce",
    "6953534de441",
    "6f8d9c3b2a1e",
    "71994744cf8e",
    "728d730b5ebd",
    "75868b020152",
    "76601a5f987d",
    "770bee3ae1dd",
    "7ac759974ad8",
    "7d34483879f0",
    "7f2a7d5fae7d",
    "84291f40a231",
    "867495a8f9d4",
    "89d3d66ed43f",
    "89d4b8295536",
    "90e64c465722",
    "97727af70f4d",
    "a1b2c3d4e5f6",
    "a5b4c3d2e1f0",
    "a8b9c0d1e2f3",
    "a8c4a736bde6",
    "acf3f17fdcc7",
    "ae8bbe7743c9",
    "b7c8d9e0f1a2",
    "b7e2c1a4d9f3",
    "b7e4c1a90f23",
    "bd07f7e963c5",
    "bda7b8c39065",
    "bf29a5ff90ea",
    "c1d2e3f4a5b6",
    "c3d6457b6d8a",
    "c3d9e7f1a2b4",
    "c48cb773bb87",
    "c8d9e0f1a2b3",
    "c9d4e5f6a7b8",
    "cbc13b556ace",
    "cc1f77228345",
    "cfd24bdc0731",
    "d0e1f2a3b4c5",
    "d3e4f5a6b7c8",
    "da6fb0208061",
    "dc11669786a5",
    "de4033877273",
    "df50e92ffc5e",
    "e1f2a3b4c5d6",
    "f5a4f2784254",
];

/// The columns prov9 cannot do without, by table; everything else is read when present.
const REQUIRED: &[(&str, &[&str])] = &[
    ("experiments", &["experiment_id", "name", "lifecycle_stage"]),
    (
        "runs",
        &[
            "run_uuid",
            "experiment_id",
            "status",
            "start_time",
            "end_time",
            "lifecycle_stage",
        ],
    ),
    ("params", &["run_uuid", "key", "value"]),
    ("tags", &["run_uuid", "key", "value"]),
    ("metrics", &["run_uuid", "key", "value", "timestamp"]),
];

/// One table's columns, to select a column only where this schema revision has it.
struct Table {
    name: &'static str,
    columns: Vec<String>,
}

impl Table {
    fn exists(&self) -> bool {
        !self.columns.is_empty()
    }

    /// `column`, or NULL in its place on revisions without it.
    fn col(&self, column: &str) -> String {
        if self.columns.iter().any(|c| c == column) {
            column.to_string()
        } else {
            "NULL".to_string()
        }
    }
}

/// A tracking database, its experiments, runs and models read; metric points are read per run.
pub struct DatabaseStore {
    pub source: DatabaseSource,
    connection: Connection,
    pub experiments: Vec<Arc<Experiment>>,
    pub runs: Vec<(Arc<Experiment>, Run)>,
    /// Logged and registered models, with where each was read.
    pub models: Vec<(ModelRecord, String)>,
    /// Metric rows per run, for the progress bar.
    metric_rows: HashMap<String, u64>,
    metrics: Table,
}

/// What one metric row, or one run row, weighs on the progress bar (bytes, roughly).
const ROW_BYTES: u64 = 64;
const RUN_BYTES: u64 = 4096;

impl DatabaseStore {
    /// Connect, check the schema is MLflow's, and read everything but the metric points.
    pub async fn open(source: DatabaseSource) -> Result<DatabaseStore, Bad> {
        let name = source.display();
        let bad = |reason: String| Bad::new(&name, reason);
        let connection = Connection::open(&source).await.map_err(bad)?;
        let table = async |name: &'static str| -> Result<Table, Bad> {
            Ok(Table {
                name,
                columns: connection.columns(name).await.map_err(bad)?,
            })
        };
        let experiments = table("experiments").await?;
        let runs = table("runs").await?;
        if !experiments.exists() || !runs.exists() {
            let what = match &source {
                DatabaseSource::Sqlite(_) => "a SQLite database",
                DatabaseSource::Postgres(_) => "a PostgreSQL database",
            };
            return Err(bad(format!(
                "{what}, but not an MLflow tracking store (it has no `experiments` and `runs` \
                 tables); prov9 loads MLflow's tracking databases, its mlruns/ file store, and \
                 OpenLineage events as JSON"
            )));
        }
        let revision = connection
            .rows("SELECT version_num FROM alembic_version")
            .await
            .ok()
            .and_then(|rows| rows.into_iter().next())
            .and_then(|mut row| row.remove(0))
            .unwrap_or_else(|| "none".into());
        let known = KNOWN_REVISIONS.contains(&revision.as_str());
        let params = table("params").await?;
        let tags = table("tags").await?;
        let metrics = table("metrics").await?;
        for (table, required) in REQUIRED {
            let columns = match *table {
                "experiments" => &experiments,
                "runs" => &runs,
                "params" => &params,
                "tags" => &tags,
                _ => &metrics,
            };
            let missing: Vec<&str> = required
                .iter()
                .filter(|c| !columns.columns.iter().any(|have| have == *c))
                .copied()
                .collect();
            if !missing.is_empty() {
                return Err(bad(format!(
                    "MLflow schema revision {revision} ({}) has no {table}.{}; prov9 reads the \
                     revisions of MLflow 1.x to 3.17 (`mlflow db upgrade` brings an old database \
                     up to date)",
                    if known { "known" } else { "unknown to prov9" },
                    missing.join(", ")
                )));
            }
        }
        if !known {
            tracing::warn!(
                "{name}: MLflow schema revision {revision} is newer than prov9 knows (it knows \
                 MLflow up to 3.17); reading the columns it knows"
            );
        }

        let mut store = DatabaseStore {
            source,
            connection,
            experiments: Vec::new(),
            runs: Vec::new(),
            models: Vec::new(),
            metric_rows: HashMap::new(),
            metrics,
        };
        let experiments_by_id = store.read_experiments(&experiments).await?;
        store.read_runs(&runs, &experiments_by_id).await?;
        store.read_models(&experiments_by_id).await?;
        for row in store
            .query("SELECT run_uuid, count(*) FROM metrics GROUP BY run_uuid")
            .await?
        {
            if let [Some(run), Some(count)] = &row[..] {
                store
                    .metric_rows
                    .insert(run.clone(), count.parse().unwrap_or(0));
            }
        }
        Ok(store)
    }

    async fn query(&self, sql: &str) -> Result<Rows, Bad> {
        self.connection
            .rows(sql)
            .await
            .map_err(|e| Bad::new(self.source.display(), e))
    }

    /// Where a row was read: `mlflow.db:runs/<id>`.
    fn at(&self, table: &str, key: &str) -> String {
        format!("{}:{table}/{key}", self.source.display())
    }

    async fn read_experiments(
        &mut self,
        table: &Table,
    ) -> Result<HashMap<String, Arc<Experiment>>, Bad> {
        let sql = format!(
            "SELECT experiment_id, name, lifecycle_stage, {} FROM experiments ORDER BY experiment_id",
            table.col("creation_time")
        );
        let mut by_id = HashMap::new();
        for row in self.query(&sql).await? {
            let [Some(id), Some(name), stage, created] = &row[..] else {
                continue;
            };
            let location = self.at(table.name, id);
            let experiment = Arc::new(Experiment {
                id: id.clone(),
                name: name.clone(),
                deleted: stage.as_deref() == Some("deleted"),
                created: millis(created, &location, "creation_time")?,
                dir: PathBuf::new(),
                location,
            });
            by_id.insert(id.clone(), experiment.clone());
            self.experiments.push(experiment);
        }
        Ok(by_id)
    }

    async fn read_runs(
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
    async fn key_values(
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
    async fn inputs(&self) -> Result<HashMap<String, Vec<Input>>, Bad> {
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
    async fn input_models(&self) -> Result<HashMap<String, Vec<ModelInput>>, Bad> {
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

    async fn columns(&self, table: &str) -> Result<Vec<String>, Bad> {
        self.connection
            .columns(table)
            .await
            .map_err(|e| Bad::new(self.source.display(), e))
    }

    /// Logged models (MLflow 3) and registered model versions.
    async fn read_models(
        &mut self,
        experiments: &HashMap<String, Arc<Experiment>>,
    ) -> Result<(), Bad> {
        let logged = Table {
            name: "logged_models",
            columns: self.columns("logged_models").await?,
        };
        if logged.exists() {
            let mut params: HashMap<String, BTreeMap<String, String>> = HashMap::new();
            if !self.columns("logged_model_params").await?.is_empty() {
                for row in self
                    .query("SELECT model_id, param_key, param_value FROM logged_model_params")
                    .await?
                {
                    if let [Some(model), Some(key), value] = &row[..] {
                        params
                            .entry(model.clone())
                            .or_default()
                            .insert(key.clone(), value.clone().unwrap_or_default());
                    }
                }
            }
            let sql = format!(
                "SELECT model_id, experiment_id, name, {}, {}, {} FROM logged_models ORDER BY model_id",
                logged.col("source_run_id"),
                logged.col("creation_timestamp_ms"),
                logged.col("artifact_location"),
            );
            for row in self.query(&sql).await? {
                let [
                    Some(id),
                    Some(experiment_id),
                    Some(name),
                    run,
                    created,
                    artifacts,
                ] = &row[..]
                else {
                    continue;
                };
                let location = self.at("logged_models", id);
                let Some(experiment) = experiments.get(experiment_id) else {
                    continue;
                };
                // The flavor is in the MLmodel file, when the artifacts are on this machine.
                let framework = artifacts
                    .as_deref()
                    .map(|a| a.strip_prefix("file://").unwrap_or(a))
                    .filter(|a| a.starts_with('/'))
                    .and_then(|a| flavor_of_mlmodel(&Path::new(a).join("MLmodel")));
                let model = ModelRecord {
                    name: format!("{}/{name}", experiment.name),
                    version: id.clone(),
                    run_id: run.clone(),
                    created: millis(created, &location, "creation_timestamp_ms")?,
                    framework,
                    artifact_uri: artifacts.clone(),
                    hyperparameters: params.remove(id).unwrap_or_default(),
                    details: BTreeMap::new(),
                };
                self.models.push((model, location));
            }
        }

        let versions = Table {
            name: "model_versions",
            columns: self.columns("model_versions").await?,
        };
        if !versions.exists() {
            return Ok(());
        }
        let mut aliases: HashMap<(String, String), Vec<String>> = HashMap::new();
        if !self.columns("registered_model_aliases").await?.is_empty() {
            for row in self
                .query("SELECT name, version, alias FROM registered_model_aliases ORDER BY alias")
                .await?
            {
                if let [Some(name), Some(version), Some(alias)] = &row[..] {
                    aliases
                        .entry((name.clone(), version.clone()))
                        .or_default()
                        .push(alias.clone());
                }
            }
        }
        let sql = format!(
            "SELECT name, version, {}, {}, {}, {}, {}, {}, {} FROM model_versions \
             ORDER BY name, version",
            versions.col("run_id"),
            versions.col("creation_time"),
            versions.col("current_stage"),
            versions.col("description"),
            versions.col("status"),
            versions.col("storage_location"),
            versions.col("source"),
        );
        for row in self.query(&sql).await? {
            let [
                Some(name),
                Some(version),
                run,
                created,
                stage,
                description,
                status,
                storage,
                source,
            ] = &row[..]
            else {
                continue;
            };
            let location = self.at("model_versions", &format!("{name}/{version}"));
            let mut details = BTreeMap::new();
            let logged_model = source
                .as_deref()
                .and_then(|s| s.strip_prefix("models:/"))
                .filter(|id| id.starts_with("m-"));
            for (key, value) in [
                ("stage", stage.as_deref()),
                ("loggedModelId", logged_model),
                ("description", description.as_deref()),
                ("status", status.as_deref()),
            ] {
                if let Some(v) = value {
                    details.insert(key.to_string(), v.to_string());
                }
            }
            if let Some(list) = aliases.remove(&(name.clone(), version.clone())) {
                details.insert("aliases".into(), list.join(","));
            }
            let model = ModelRecord {
                name: name.clone(),
                version: version.clone(),
                run_id: run.clone(),
                created: millis(created, &location, "creation_time")?,
                framework: None,
                artifact_uri: storage.clone().or(source.clone()),
                hyperparameters: BTreeMap::new(),
                details,
            };
            self.models.push((model, location));
        }
        Ok(())
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

    /// Bytes the progress bar counts for the whole store (an estimate by rows).
    pub fn bytes(&self) -> u64 {
        self.runs
            .iter()
            .map(|(_, run)| self.bytes_of(&run.run_id))
            .sum()
    }

    /// The part of [`DatabaseStore::bytes`] one run stands for.
    pub fn bytes_of(&self, run_id: &str) -> u64 {
        RUN_BYTES + ROW_BYTES * self.metric_rows.get(run_id).copied().unwrap_or(0)
    }
}

/// `d.column`, or NULL on revisions without it.
fn prefixed(table: &Table, alias: &str, column: &str) -> String {
    match table.col(column).as_str() {
        "NULL" => "NULL".into(),
        c => format!("{alias}.{c}"),
    }
}

/// Milliseconds since the epoch, as MLflow stores times.
fn millis(value: &Option<String>, location: &str, field: &str) -> Result<Option<i64>, Bad> {
    value
        .as_deref()
        .map(|v| {
            v.parse::<i64>()
                .or_else(|_| v.parse::<f64>().map(|f| f as i64))
                .map_err(|_| Bad::new(location, format!("`{field}`: not a time in ms: {v:?}")))
        })
        .transpose()
}

fn number(value: &Option<String>, location: &str, field: &str) -> Result<f64, Bad> {
    let v = value
        .as_deref()
        .ok_or_else(|| Bad::new(location, format!("`{field}` is empty")))?;
    v.parse()
        .map_err(|_| Bad::new(location, format!("`{field}`: not a number: {v:?}")))
}
