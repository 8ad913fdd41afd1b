//! prov9's query engine: a DataFusion `SessionContext` over the warehouse.
//!
//! [`Engine::new`] registers every table of the warehouse (as [`prov9_store::LiveTable`]s, so
//! new commits are visible to the next query), the JSON functions and operators of
//! `datafusion-functions-json` (`parameters->>'learning_rate'`), and the views in `sql/views/`.
//! The [`lineage`] index answers the `lineage_upstream`, `lineage_downstream` and `lineage_path`
//! table functions from memory, kept current with every commit of `lineage_edges`.
//! A [`PointLookup`] (`SELECT … FROM runs WHERE run_id = $1`) is answered from the key index
//! without planning. [`Engine::query`] runs read-only SQL: prov9 is written to by ingest, never
//! through SQL; [`Engine::query_keys`] runs it for a [`KeySet`], by key lookups or a whole read,
//! whichever is cheaper.
//!
//! A [`session`] is one client connection's own DataFusion session over the shared catalog:
//! settings, memory budget, cancel and timeout, kept plans. [`exec_wrapper`] holds what plan
//! nodes wrapping one input share (checked children, forwarded statistics and pushdowns).
//!
//! This crate knows nothing of protocols; `prov9-pgwire` puts it on the Postgres wire.

mod commits_table;
mod engine;
mod error;
pub mod exec_wrapper;
mod key_set;
pub mod lineage;
mod options;
mod point_lookup;
mod read_only;
pub mod session;

pub use engine::{Engine, VIEWS};
pub use error::{QueryError, user_message};
pub use key_set::{ALWAYS_LOOKED_UP, KeySet};
pub use options::{Prov9Options, parse_time, resolve_time};
pub use point_lookup::PointLookup;
pub use read_only::{ReadOnlyViolation, check_read_only, read_only_options};

/// `text` as a SQL string literal, for queries built from names (a node id, a job name).
pub fn string_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}
