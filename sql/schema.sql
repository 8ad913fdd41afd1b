-- Provenance-9 public schema, version 1.
--
-- This file is the reference for the tables in schema `public`; a test checks it against the
-- code (crates/model/src/tables.rs), column by column. Tables are Delta Lake tables under the
-- warehouse location (<location>/<table>/), so Spark, Trino, DuckDB and Polars read them too.
-- Tables may gain columns (at the end; a warehouse written before gains them, NULL for its old
-- rows, the first time a newer prov9 opens it); none loses one without a note in the changelog.
--
-- Node ids (the values of *_id columns and of lineage_edges.src / dst) are readable strings:
--   job:<namespace>:<name>                     a job
--   run:<runId>                                a run (the OpenLineage runId)
--   dataset:<namespace>:<name>                 a dataset
--   dataset:<namespace>:<name>@<version>       a dataset version
--   model:<namespace>:<name>                   a model
--   model:<namespace>:<name>@<version>         a model version
--   deployment:<environment>:<model>@<runId>   a deployment
-- Namespaces may contain ':' (postgres://db:5432), so ids are for joining, not parsing:
-- the parts are in their own columns, and lineage_nodes (sql/views/) names every node.
--
-- JSON-valued columns hold JSON text: use ->, ->> and the json_* functions on them.
-- Timestamps are UTC (TIMESTAMP WITH TIME ZONE over the wire).

-- Every distinct event, verbatim. event_id = SHA-256 of the canonical JSON (keys sorted, no
-- whitespace), so the same event loaded twice is stored once.
CREATE TABLE events (
    event_id      VARCHAR NOT NULL,
    event_time    TIMESTAMP NOT NULL,
    event_type    VARCHAR NOT NULL,   -- START, RUNNING, COMPLETE, ABORT, FAIL, OTHER, RUN, DATASET, JOB
    source        VARCHAR NOT NULL,   -- file:line it was loaded from, or demo:line
    run_id        VARCHAR,
    job_id        VARCHAR,
    producer      VARCHAR,
    payload       VARCHAR NOT NULL,   -- the event as received (JSON text)
    ingested_at   TIMESTAMP NOT NULL
);

CREATE TABLE jobs (
    job_id                VARCHAR NOT NULL,
    namespace             VARCHAR NOT NULL,
    name                  VARCHAR NOT NULL,
    job_type              VARCHAR NOT NULL,  -- ingestion, preprocessing, training, evaluation, deployment, other
    description           VARCHAR,           -- documentation facet
    source_code_location  VARCHAR,           -- sourceCodeLocation facet (url)
    processing_type       VARCHAR,           -- jobType facet: BATCH, STREAMING
    integration           VARCHAR,           -- jobType facet: AIRFLOW, DBT, SPARK, ...
    integration_job_type  VARCHAR,           -- jobType facet: DAG, TASK, QUERY, MODEL, ...
    owners                VARCHAR,           -- JSON: ownership facet [{"name", "type"}]
    tags                  VARCHAR,           -- JSON: tags facet [{"key", "value", "source"}]
    sql                   VARCHAR,           -- sql facet (query)
    source_code_language  VARCHAR,           -- sourceCode facet
    source_code           VARCHAR            -- sourceCode facet
);

-- One row per run in its latest state; every state change stays in events.
CREATE TABLE runs (
    run_id         VARCHAR NOT NULL,
    job_id         VARCHAR NOT NULL,
    parent_run_id  VARCHAR,              -- parent facet
    state          VARCHAR NOT NULL,     -- START, RUNNING, COMPLETE, FAIL, ABORT, OTHER
    started_at     TIMESTAMP,            -- time of the START event
    ended_at       TIMESTAMP,            -- time of the COMPLETE / FAIL / ABORT event
    code_version   VARCHAR,              -- sourceCodeLocation.version (a commit)
    parameters     VARCHAR,              -- JSON: prov9_run.parameters, else training
                                         -- hyperparameters, else executionParameters (key: value)
    environment    VARCHAR,              -- JSON: prov9_run.environment + processing_engine;
                                         -- MLflow imports: {"mlflow": {…, lifecycleStage}, "tags": {…}}
    error_message  VARCHAR,              -- errorMessage facet
    updated_at     TIMESTAMP,            -- time of the newest event merged in
    root_run_id    VARCHAR,              -- parent facet's root (the DAG run of a task's query run)
    tags           VARCHAR               -- JSON: tags run facet [{"key", "value", "source"}]
);

-- Every dataset an event names, written or not (a failed run's outputs are here, with no
-- version).
CREATE TABLE datasets (
    dataset_id    VARCHAR NOT NULL,
    namespace     VARCHAR NOT NULL,
    name          VARCHAR NOT NULL,
    source_uri    VARCHAR,   -- dataSource facet
    format        VARCHAR,   -- storage facet (fileFormat)
    description   VARCHAR,   -- documentation facet
    dataset_type  VARCHAR,   -- datasetType facet: TABLE, VIEW, FILE, MODEL, ... (/subType)
    owners        VARCHAR,   -- JSON: ownership facet [{"name", "type"}]
    tags          VARCHAR    -- JSON: tags facet [{"key", "value", "source"}]
);

-- Versions: from the version facet (version_origin 'facet'); else, for the output of a
-- completed run, named after the run ('run'); an input never seen written and without a version
-- is the dataset's single 'unversioned' node. An input without a version resolves to the newest
-- version created at or before the event's time.
CREATE TABLE dataset_versions (
    version_id           VARCHAR NOT NULL,
    dataset_id           VARCHAR NOT NULL,
    version              VARCHAR NOT NULL,
    content_hash         VARCHAR,
    created_at           TIMESTAMP NOT NULL,
    created_by_run       VARCHAR,
    previous_version_id  VARCHAR,   -- the dataset's version before this one
    schema               VARCHAR,   -- JSON: schema facet fields
    row_count            BIGINT,    -- output/inputStatistics.rowCount, dataQualityMetrics.rowCount
    byte_size            BIGINT,    -- output/inputStatistics.size, dataQualityMetrics.bytes
    quality              VARCHAR,   -- JSON: dataQualityMetrics, dataQualityAssertions
    version_origin       VARCHAR NOT NULL  -- facet, run, unversioned
);

-- Preprocessing steps (prov9_preprocessing facet), in order.
CREATE TABLE transformations (
    run_id          VARCHAR NOT NULL,
    step            BIGINT,
    kind            VARCHAR NOT NULL,   -- cleaning, normalisation, feature_engineering, encoding, split, ...
    name            VARCHAR NOT NULL,
    parameters      VARCHAR,            -- JSON
    input_columns   VARCHAR[],
    output_columns  VARCHAR[]
);

-- Trained model versions (prov9_training facet).
CREATE TABLE model_versions (
    version_id       VARCHAR NOT NULL,
    model_id         VARCHAR NOT NULL,
    namespace        VARCHAR NOT NULL,
    name             VARCHAR NOT NULL,
    version          VARCHAR NOT NULL,
    architecture     VARCHAR,
    framework        VARCHAR,
    hyperparameters  VARCHAR,   -- JSON
    training_run_id  VARCHAR,
    artifact_uri     VARCHAR,
    created_at       TIMESTAMP NOT NULL
);

-- Metric points (prov9_evaluation, prov9_training and prov9_metrics facets; MLflow history).
CREATE TABLE metrics (
    run_id              VARCHAR NOT NULL,
    model_version_id    VARCHAR,
    dataset_version_id  VARCHAR,   -- the evaluation dataset version
    "key"               VARCHAR NOT NULL,
    value               DOUBLE,
    step                BIGINT,
    "timestamp"         TIMESTAMP NOT NULL
);

-- Deployments of model versions (prov9_deployment facet).
CREATE TABLE deployments (
    deployment_id     VARCHAR NOT NULL,
    model_version_id  VARCHAR NOT NULL,
    environment       VARCHAR NOT NULL,
    target            VARCHAR,
    details           VARCHAR,            -- JSON: runtime, hardware, packages, deployedBy
    deployed_at       TIMESTAMP NOT NULL,
    retired_at        TIMESTAMP,
    status            VARCHAR NOT NULL,   -- active (default), retired, ...
    run_id            VARCHAR
);

-- The version-level lineage graph, edges in the direction data flows:
--   input   dataset version -> run, model version -> evaluation run
--   output  run -> dataset version, run -> trained model version
--   deployed  model version -> deployment
--   parent  parent run -> child run (parent facet: an Airflow task -> its query runs), so the
--           upstream of what a child wrote reaches what its parent read; leave it out with
--           edge_type <> 'parent'
-- Version succession (previous_version_id) is not an edge.
CREATE TABLE lineage_edges (
    src         VARCHAR NOT NULL,
    dst         VARCHAR NOT NULL,
    edge_type   VARCHAR NOT NULL,
    run_id      VARCHAR,
    event_time  TIMESTAMP NOT NULL
);

-- Column-level lineage (columnLineage facet), version to version.
CREATE TABLE column_lineage (
    src_dataset_version  VARCHAR NOT NULL,
    src_column           VARCHAR NOT NULL,
    dst_dataset_version  VARCHAR NOT NULL,
    dst_column           VARCHAR NOT NULL,
    transformation       VARCHAR,   -- TYPE/SUBTYPE of each transformation, or the description
    run_id               VARCHAR
);

-- Data quality assertions (dataQualityAssertions facet: dbt tests, Great Expectations, Soda),
-- one row per assertion per run, on the dataset version the run read or wrote.
CREATE TABLE quality_checks (
    dataset_version_id  VARCHAR NOT NULL,
    run_id              VARCHAR,
    assertion           VARCHAR NOT NULL,   -- not_null, unique, accepted_values, ...
    check_name          VARCHAR,            -- the producer's name for the check (dbt's test name)
    column_name         VARCHAR,            -- NULL: the whole dataset
    success             BOOLEAN,
    severity            VARCHAR,            -- error, warn (where sent)
    failures            BIGINT,             -- rows that failed (where sent)
    actual              VARCHAR,            -- as sent
    expected            VARCHAR,            -- as sent
    checked_at          TIMESTAMP NOT NULL  -- the event's time
);
