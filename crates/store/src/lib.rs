//! prov9's storage layer: the tables of the public schema v1 as Delta Lake tables.
//!
//! A warehouse is a location (`./prov9-data`, `file:///…`, `s3://bucket/prefix`, `memory://`)
//! holding one Delta table per table of [`prov9_model::tables`], each under `<location>/<table>/`.
//! Tables are created on first open. Every [`Warehouse::append`] or [`Warehouse::upsert`] is one
//! Delta commit of one table; a batch of several tables becomes visible when
//! [`Warehouse::publish`] writes its [`WarehouseCommit`] under `<location>/_prov9/commits/`,
//! naming every table's version, so it is visible entirely or not at all.
//!
//! Readers get a [`LiveTable`] per table: a DataFusion `TableProvider` that reads the query's
//! pinned [`Snapshot`] — the newest warehouse commit (from this process or any other writer of
//! the same location) plus the live [`Tail`] of rows acknowledged but not yet folded in, or a
//! past commit for time travel. A scan that pins a table's primary key (`WHERE run_id = '…'`)
//! reads just those rows through an in-memory key index (`key_index.rs`) instead of opening
//! every data file. [`Warehouse::optimize`] and [`Warehouse::vacuum`] keep the tables compact.

mod commit_log;
mod error;
mod key_index;
mod key_lookup;
mod live_table;
mod location;
mod maintenance;
mod object_file;
mod object_stores;
mod row_cache;
mod snapshot;
mod tail;
mod warehouse;
mod writer_properties;

pub use commit_log::{WarehouseCommit, source};
pub use snapshot::Snapshot;
pub use tail::{Tail, TailBuilder, TailTable};

pub use error::StoreError;
pub use live_table::LiveTable;
pub use location::WarehouseLocation;
pub use maintenance::{MaintenanceOptions, MaintenanceReport, TableMaintenance};
pub use object_stores::{SCHEMES as BUCKET_SCHEMES, bucket_at};
pub use warehouse::{BatchGuard, Warehouse};
