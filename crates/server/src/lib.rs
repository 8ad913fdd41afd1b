//! prov9's servers. Today: the Postgres wire protocol, read-only.
//!
//! [`PgServer`] puts a [`prov9_query::Engine`] on the Postgres wire through datafusion-postgres
//! (with its `pg_catalog` emulation, so psql's `\dt` and BI tools' catalog queries work). It is
//! shaped like mini-redis: an accept loop with a connection limit, a task per connection, and
//! graceful shutdown when the `shutdown` future resolves.
//!
//! Every statement passes [`ReadOnlyGuard`] first: DDL, DML, `COPY`, `CREATE EXTERNAL TABLE`
//! and `SET datafusion.*` are refused with SQLSTATE 42501, in both the simple and the extended
//! query protocol. The HTTP ingest listener comes with a later release.

mod error;
mod pg;
mod read_only_guard;
mod sqlstate;

pub use error::ServerError;
pub use pg::{PgServer, PgServerOptions};
pub use read_only_guard::ReadOnlyGuard;
pub use sqlstate::{SqlStateErrors, sqlstate};
