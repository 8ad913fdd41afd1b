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
//! text), [`schema`] knows MLflow's revisions and columns; this file opens a store and reads its
//! experiments, [`runs`] and [`models`] the rest.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

mod connection;
mod models;
mod runs;
mod schema;
mod source;
mod tls;

pub use source::DatabaseSource;

use super::meta::Bad;
use super::models::ModelRecord;
use super::run::Run;
use super::store::Experiment;
use connection::{Connection, Rows};
use schema::{KNOWN_REVISIONS, REQUIRED, Table};

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

    async fn columns(&self, table: &str) -> Result<Vec<String>, Bad> {
        self.connection
            .columns(table)
            .await
            .map_err(|e| Bad::new(self.source.display(), e))
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
