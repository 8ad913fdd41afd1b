//! The public schema v1: one row struct per table, in column order.
//!
//! JSON-valued columns (`parameters`, `schema`, `quality`, …) hold JSON text, so that Postgres
//! clients see `text` and `parameters->>'learning_rate'` works through the JSON functions.
//! The reference for users is `sql/schema.sql`; a test keeps the two in step.

use chrono::{DateTime, Utc};

use crate::define_table;

define_table! {
    /// One raw event, verbatim; `event_id` is the SHA-256 of its canonical JSON.
    EventRow => "events" {
        event_id: String,
        event_time: DateTime<Utc>,
        event_type: String,
        /// Where the event came from: `<path>:<line>` of a loaded file, or `demo:<line>`.
        source: String,
        run_id: Option<String>,
        job_id: Option<String>,
        producer: Option<String>,
        payload: String,
        ingested_at: DateTime<Utc>,
    }
}

define_table! {
    /// A job (an Airflow task, a Dagster asset, a training script).
    JobRow => "jobs" {
        job_id: String,
        namespace: String,
        name: String,
        /// ingestion, preprocessing, training, evaluation, deployment or other.
        job_type: String,
        description: Option<String>,
        source_code_location: Option<String>,
        // Columns added after schema v1's first release go last: a warehouse written before
        // gains them at the end when it is opened (crates/store: `Warehouse::open`).
        /// `jobType` facet: BATCH or STREAMING.
        processing_type: Option<String>,
        /// `jobType` facet: the producer (AIRFLOW, DBT, SPARK, …).
        integration: Option<String>,
        /// `jobType` facet: the job's kind within its integration (DAG, TASK, QUERY, MODEL, …).
        integration_job_type: Option<String>,
        /// `ownership` facet: JSON `[{"name", "type"}]`.
        owners: Option<String>,
        /// `tags` facet: JSON `[{"key", "value", "source"}]`.
        tags: Option<String>,
        /// `sql` facet: the query.
        sql: Option<String>,
        /// `sourceCode` facet: the language and the code.
        source_code_language: Option<String>,
        source_code: Option<String>,
    }
}

define_table! {
    /// A run in its latest state.
    RunRow => "runs" {
        run_id: String,
        job_id: String,
        parent_run_id: Option<String>,
        /// The latest event type: START, RUNNING, COMPLETE, FAIL, ABORT or OTHER.
        state: String,
        started_at: Option<DateTime<Utc>>,
        ended_at: Option<DateTime<Utc>>,
        code_version: Option<String>,
        parameters: Option<String>,
        environment: Option<String>,
        error_message: Option<String>,
        /// The time of the newest event merged into this row.
        updated_at: Option<DateTime<Utc>>,
        /// `parent` facet: the root of the run's hierarchy (an Airflow DAG run for a task run).
        root_run_id: Option<String>,
        /// `tags` run facet: JSON `[{"key", "value", "source"}]`.
        tags: Option<String>,
    }
}

define_table! {
    /// A dataset, all versions together.
    DatasetRow => "datasets" {
        dataset_id: String,
        namespace: String,
        name: String,
        source_uri: Option<String>,
        format: Option<String>,
        description: Option<String>,
        /// `datasetType` facet: TABLE, VIEW, FILE, TOPIC, MODEL, …, with its subtype after a `/`.
        dataset_type: Option<String>,
        /// `ownership` facet: JSON `[{"name", "type"}]`.
        owners: Option<String>,
        /// `tags` facet: JSON `[{"key", "value", "source"}]`.
        tags: Option<String>,
    }
}

define_table! {
    /// One version of a dataset.
    DatasetVersionRow => "dataset_versions" {
        version_id: String,
        dataset_id: String,
        version: String,
        content_hash: Option<String>,
        created_at: DateTime<Utc>,
        created_by_run: Option<String>,
        previous_version_id: Option<String>,
        schema: Option<String>,
        row_count: Option<i64>,
        byte_size: Option<i64>,
        quality: Option<String>,
        /// Where `version` came from: `facet` (the producer's version facet), `run` (named after
        /// the producing run) or `unversioned` (read before prov9 saw it written).
        version_origin: String,
    }
}

define_table! {
    /// One preprocessing step of a run (from the `prov9_preprocessing` facet).
    TransformationRow => "transformations" {
        run_id: String,
        step: Option<i64>,
        kind: String,
        name: String,
        parameters: Option<String>,
        input_columns: Vec<String>,
        output_columns: Vec<String>,
    }
}

define_table! {
    /// A trained model version (from the `prov9_training` facet).
    ModelVersionRow => "model_versions" {
        version_id: String,
        model_id: String,
        namespace: String,
        name: String,
        version: String,
        architecture: Option<String>,
        framework: Option<String>,
        hyperparameters: Option<String>,
        training_run_id: Option<String>,
        artifact_uri: Option<String>,
        created_at: DateTime<Utc>,
    }
}

define_table! {
    /// One metric point (from `prov9_evaluation`, `prov9_training` or `prov9_metrics`).
    MetricRow => "metrics" {
        run_id: String,
        model_version_id: Option<String>,
        dataset_version_id: Option<String>,
        key: String,
        value: Option<f64>,
        step: Option<i64>,
        timestamp: DateTime<Utc>,
    }
}

define_table! {
    /// A deployment of a model version (from the `prov9_deployment` facet).
    DeploymentRow => "deployments" {
        deployment_id: String,
        model_version_id: String,
        environment: String,
        target: Option<String>,
        details: Option<String>,
        deployed_at: DateTime<Utc>,
        retired_at: Option<DateTime<Utc>>,
        status: String,
        run_id: Option<String>,
    }
}

define_table! {
    /// An edge of the version-level lineage graph, in the direction data flows.
    LineageEdgeRow => "lineage_edges" {
        src: String,
        dst: String,
        /// input (dataset/model version -> run), output (run -> dataset/model version),
        /// deployed (model version -> deployment).
        edge_type: String,
        run_id: Option<String>,
        event_time: DateTime<Utc>,
    }
}

define_table! {
    /// A column-to-column edge (from the `columnLineage` facet).
    ColumnLineageRow => "column_lineage" {
        src_dataset_version: String,
        src_column: String,
        dst_dataset_version: String,
        dst_column: String,
        transformation: Option<String>,
        run_id: Option<String>,
    }
}

define_table! {
    /// One data quality assertion checked on a dataset version (`dataQualityAssertions` facet:
    /// dbt tests, Great Expectations, Soda).
    QualityCheckRow => "quality_checks" {
        dataset_version_id: String,
        /// The run that checked it (a dbt test run reads the model it tests).
        run_id: Option<String>,
        /// The check, as the producer names it: not_null, unique, accepted_values, …
        assertion: String,
        /// The producer's name for this one check (dbt's test name), where sent: tells apart two
        /// checks of one kind on one column.
        check_name: Option<String>,
        /// The column checked; NULL for a check of the whole dataset.
        column_name: Option<String>,
        success: Option<bool>,
        /// error or warn, where the producer says.
        severity: Option<String>,
        /// The rows that failed, where the producer says.
        failures: Option<i64>,
        /// What was found and what was expected, as sent (JSON text), where the producer says.
        actual: Option<String>,
        expected: Option<String>,
        checked_at: DateTime<Utc>,
    }
}

/// The names of all tables, in the order a batch commits them (`events` last, see the ingest
/// crate: an event is only known once everything derived from it is stored).
pub const TABLE_NAMES: [&str; 12] = [
    JobRow::NAME,
    RunRow::NAME,
    DatasetRow::NAME,
    DatasetVersionRow::NAME,
    TransformationRow::NAME,
    ModelVersionRow::NAME,
    MetricRow::NAME,
    DeploymentRow::NAME,
    LineageEdgeRow::NAME,
    ColumnLineageRow::NAME,
    QualityCheckRow::NAME,
    EventRow::NAME,
];

/// The columns of a table that users look rows up by (`WHERE run_id = …`): data files carry a
/// Parquet bloom filter for each, so a lookup reads only the row groups that may hold the value.
pub fn lookup_columns(table: &str) -> &'static [&'static str] {
    match table {
        "events" => &["event_id", "run_id"],
        "jobs" => &["job_id"],
        "runs" => &["run_id", "job_id"],
        "datasets" => &["dataset_id"],
        "dataset_versions" => &["version_id", "dataset_id"],
        "model_versions" => &["version_id", "training_run_id"],
        "metrics" => &["run_id"],
        "deployments" => &["deployment_id", "model_version_id"],
        "lineage_edges" => &["src", "dst", "run_id"],
        "quality_checks" => &["dataset_version_id", "run_id"],
        _ => &[],
    }
}

/// The column identifying a table's rows, for the tables that have one: point lookups by it
/// (`WHERE run_id = '…'`) go through an in-memory index of where each key's row is.
pub fn primary_key(table: &str) -> Option<&'static str> {
    Some(match table {
        "events" => "event_id",
        "jobs" => "job_id",
        "runs" => "run_id",
        "datasets" => "dataset_id",
        "dataset_versions" => "version_id",
        "model_versions" => "version_id",
        "deployments" => "deployment_id",
        _ => return None,
    })
}

/// The key by which later events replace a table's rows (jobs, runs, datasets and versions are
/// refined as a run progresses); the other tables only ever gain rows.
pub fn replaced_by_key(table: &str) -> Option<&'static str> {
    Some(match table {
        "jobs" => "job_id",
        "runs" => "run_id",
        "datasets" => "dataset_id",
        "dataset_versions" | "model_versions" => "version_id",
        _ => return None,
    })
}

/// The Arrow schema of a table by name.
pub fn schema_of(table: &str) -> Option<arrow::datatypes::SchemaRef> {
    Some(match table {
        "events" => EventRow::schema(),
        "jobs" => JobRow::schema(),
        "runs" => RunRow::schema(),
        "datasets" => DatasetRow::schema(),
        "dataset_versions" => DatasetVersionRow::schema(),
        "transformations" => TransformationRow::schema(),
        "model_versions" => ModelVersionRow::schema(),
        "metrics" => MetricRow::schema(),
        "deployments" => DeploymentRow::schema(),
        "lineage_edges" => LineageEdgeRow::schema(),
        "column_lineage" => ColumnLineageRow::schema(),
        "quality_checks" => QualityCheckRow::schema(),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip_through_arrow() {
        let t = DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap();
        let rows = vec![
            TransformationRow {
                run_id: "run:1".into(),
                step: Some(0),
                kind: "cleaning".into(),
                name: "drop nulls".into(),
                parameters: Some("{}".into()),
                input_columns: vec!["a".into(), "b".into()],
                output_columns: vec![],
            },
            TransformationRow {
                run_id: "run:2".into(),
                step: None,
                kind: "k".into(),
                name: "n".into(),
                parameters: None,
                input_columns: vec![],
                output_columns: vec!["c".into()],
            },
        ];
        assert_eq!(
            TransformationRow::from_batch(&TransformationRow::to_batch(&rows)).unwrap(),
            rows
        );
        let runs = vec![RunRow {
            run_id: "r".into(),
            job_id: "j".into(),
            parent_run_id: None,
            state: "FAIL".into(),
            started_at: Some(t),
            ended_at: None,
            code_version: None,
            parameters: None,
            environment: None,
            error_message: Some("boom".into()),
            updated_at: Some(t),
            root_run_id: Some("run:root".into()),
            tags: None,
        }];
        assert_eq!(RunRow::from_batch(&RunRow::to_batch(&runs)).unwrap(), runs);
    }

    #[test]
    fn every_table_has_a_schema() {
        for name in TABLE_NAMES {
            assert!(schema_of(name).is_some(), "{name}");
        }
        assert_eq!(TABLE_NAMES.last(), Some(&"events"));
        for name in TABLE_NAMES {
            let schema = schema_of(name).unwrap();
            for column in lookup_columns(name) {
                assert!(schema.field_with_name(column).is_ok(), "{name}.{column}");
            }
            if let Some(key) = primary_key(name) {
                let field = schema.field_with_name(key).unwrap();
                assert!(!field.is_nullable(), "{name}.{key} is a key");
            }
        }
    }
}
