//! prov9's servers: the Postgres wire protocol (read-only SQL) and HTTP (OpenLineage ingest).
//!
//! [`PgServer`] puts a [`prov9_query::Engine`] on the Postgres wire through datafusion-postgres
//! (with its `pg_catalog` emulation, so psql's `\dt` and BI tools' catalog queries work). It is
//! shaped like mini-redis: an accept loop with a connection limit, a task per connection, and
//! graceful shutdown when the `shutdown` future resolves.
//!
//! Each connection has its own DataFusion session ([`session`]): its own settings, memory budget
//! and statement control (cancel requests, `statement_timeout`), over the shared read-only
//! catalog. Clients authenticate with SCRAM-SHA-256 against users of the config file
//! ([`config`], [`scram`]), optionally over TLS.
//!
//! [`HttpServer`] takes OpenLineage events where Marquez does (`POST /api/v1/lineage`) and
//! commits them through a [`GroupCommitter`]: concurrent requests share one Delta commit, and
//! each is answered once its events are durable.
//!
//! Reads only, in three layers: [`ReadOnlyGuard`] refuses DDL, DML, `COPY … TO 'file'` and
//! `SET datafusion.*` (admins may tune their own session's execution settings) by statement and
//! by plan (SQLSTATE 42501); every physical plan is checked again by the connection's query
//! planner; and the catalog a connection sees cannot be changed. `COPY … TO STDOUT` is a read
//! and is served. Client compatibility — catalog functions, SQL rewrites, transactions — lives in
//! `pg_compat`, `rewrite` and `transactions`; `portal` runs the extended protocol's queries with
//! one optimiser pass each (datafusion-postgres's own path optimises twice), and lookups by key
//! with none; `run_checked` runs a simple-protocol query from the plan the guard checked
//! (datafusion-postgres would plan it again); `reusable_plans` keeps a connection's plans that
//! can run again unplanned (lineage table function calls); `deferred_flush` holds extended-protocol replies
//! until `Sync`, as Postgres does (pgwire writes each one to the socket).

mod cancel;
pub mod config;
mod control;
mod copy_out;
mod deferred_flush;
mod error;
mod group_commit;
mod guarded_planner;
mod http;
mod listen;
mod pg;
mod pg_compat;
mod portal;
mod read_only_catalog;
mod read_only_guard;
mod reusable_plans;
mod rewrite;
mod run_checked;
pub mod scram;
mod session;
mod sqlstate;
mod startup;
mod tls;
mod transactions;

pub use config::{Role, ServeConfig, User};
pub use control::Interrupted;
pub use error::ServerError;
pub use group_commit::{GroupCommitOptions, GroupCommitter, SubmitError};
pub use http::{DEFAULT_MAX_BODY_BYTES, HttpOptions, HttpServer, api_key_digest};
pub use pg::{DEFAULT_MEMORY_LIMIT, PgServer, PgServerOptions};
pub use read_only_guard::ReadOnlyGuard;
pub use sqlstate::{SqlStateErrors, sqlstate};
