//! Import of MLflow's file store (`mlruns/`): experiments, runs, params, tags, every metric
//! point, logged datasets and models, registered model versions.
//!
//! The store is read directly (no MLflow needed) and translated into OpenLineage events with
//! prov9's facets ([`events`] says how), which the loader then normalises like any other input:
//! one protocol, one set of rules, every record traceable to an event in `events`. Deleted runs
//! and experiments are imported and marked (`runs.environment->'mlflow'->>'lifecycleStage'`).

mod events;
mod meta;
mod models;
mod run;
mod store;

pub use events::{experiment_event, model_event, run_events};
pub use models::{logged_model, registered_version};
pub use store::{FileStore, is_file_store};
