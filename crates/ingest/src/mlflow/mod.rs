//! Import of MLflow's stores: its tracking database (SQLite, PostgreSQL; [`database`]) and its
//! file store (`mlruns/`; [`store`]): experiments, runs, params, tags, every metric point, logged
//! datasets and models, registered model versions.
//!
//! Either store is read directly (no MLflow needed) and translated into OpenLineage events with
//! prov9's facets ([`events`] says how), which the loader then normalises like any other input:
//! one protocol, one set of rules, every record traceable to an event in `events`. Deleted runs
//! and experiments are imported and marked (`runs.environment->'mlflow'->>'lifecycleStage'`).

mod database;
mod events;
mod meta;
mod models;
mod run;
mod store;

pub use database::{DatabaseSource, DatabaseStore};
pub use events::{RunLocations, events_of_run, experiment_event, model_event, run_events};
pub use meta::Bad;
pub use models::{ModelRecord, logged_model, registered_version};
pub use store::{Experiment, FileStore, is_file_store};
