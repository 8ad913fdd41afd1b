//! prov9's Postgres front end: read-only SQL over the Postgres wire protocol.
//!
//! [`PgServer`] puts a [`prov9_query::Engine`] on the Postgres wire through datafusion-postgres
//! (with its `pg_catalog` emulation, so psql's `\dt` and BI tools' catalog queries work). It is
//! shaped like mini-redis: the caller binds the listener and holds a shutdown token; an accept
//! loop with a connection limit, a task per connection, and graceful shutdown.
//!
//! Each connection has its own DataFusion session ([`prov9_query::session`]): its own settings,
//! memory budget and statement control (cancel requests, `statement_timeout`), over the shared
//! read-only catalog. Clients authenticate with SCRAM-SHA-256 ([`scram`]) against the users of
//! [`PgServerOptions`], optionally over TLS.
//!
//! This crate depends on the query engine only, never on the writer (prov9-ingest,
//! prov9-store): readers cannot write, by the dependency graph. Within it, reads only, in three
//! layers: every statement is classified once (`statement`: query, cursor, settings,
//! transaction, `COPY … TO STDOUT`) and anything else is refused, as are plans that write and
//! `SET datafusion.*` (admins may tune their own session's execution settings), with SQLSTATE
//! 42501; every physical plan is checked again by the connection's query planner; and the
//! catalog a connection sees cannot be changed.
//!
//! A statement's path: `handlers` (datafusion-postgres's handlers after the text rewrites of
//! `rewrite`) → `statement` (the one hook: classify, then the family applies it) → `results`
//! (a checked plan into rows). `portal` runs the extended protocol's queries with one optimiser
//! pass each (datafusion-postgres's own path optimises twice), and lookups by key with none;
//! `deferred_flush` holds extended-protocol replies until `Sync`, as Postgres does (pgwire
//! writes each one to the socket); `pg_compat` adds the catalog functions clients call. Every
//! error a client sees is built in [`sqlstate`].

mod cancel;
mod connection;
mod deferred_flush;
mod describe;
mod error;
mod handlers;
mod options;
mod pg_compat;
mod portal;
mod results;
mod rewrite;
pub mod scram;
mod server;
pub mod sqlstate;
mod startup;
mod statement;
mod tls;

pub use error::PgError;
pub use options::{DEFAULT_MEMORY_LIMIT, PgServerOptions, TlsConfig, User};
pub use server::PgServer;
