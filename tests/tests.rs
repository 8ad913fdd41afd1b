//! prov9's end-to-end tests, in one binary (as ripgrep's `tests/tests.rs`): one link instead of
//! one per file, and one place that lists them. Each module is one area, run against the real
//! binary (`prov9 …` spawned) or the whole app started in this process
//! ([`common::InProcess`]); outside clients (psql, psycopg, pgjdbc, node-postgres,
//! openlineage-python) skip loudly on a laptop without them and fail under `CI=true`.

mod common;

mod airflow;
mod clients;
mod crash;
mod dbt;
mod http_ingest;
mod job_hierarchy;
mod lineage_cli;
mod lineage_page;
mod live;
mod load;
mod marquez_api;
mod mlflow_import;
mod openlineage_client;
mod pgwire;
mod psql;
mod readme;
mod s3;
mod security;
mod shared_build;
mod slt_wire;
mod upgrade;
