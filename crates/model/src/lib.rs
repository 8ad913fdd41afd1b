//! The prov9 data model, shared by every layer.
//!
//! * [`openlineage`] — OpenLineage events (spec 2-0-2) as they arrive: RunEvent, DatasetEvent and
//!   JobEvent, tolerant of unknown fields and facets.
//! * [`facets`] — the standard facets prov9 reads and prov9's own versioned ML facets
//!   (`prov9_training`, `prov9_evaluation`, `prov9_deployment`, `prov9_preprocessing`,
//!   `prov9_job`, `prov9_run`).
//! * [`ids`] — the readable node ids of the lineage graph (`dataset:<ns>:<name>@<version>`, …).
//! * [`tables`] — one row struct per table of the public schema v1, each able to turn a slice of
//!   rows into an Arrow `RecordBatch` and back ([`column`] holds that machinery).
//!
//! This crate knows nothing of storage or SQL: the store writes what it defines, the ingest crate
//! fills it.

pub mod column;
pub mod error;
pub mod facets;
pub mod hex;
pub mod ids;
pub mod openlineage;
pub mod tables;

pub use error::ModelError;
