//! Settings of the Postgres endpoint: limits, users, TLS.

use std::path::PathBuf;
use std::time::Duration;

use prov9_query::session::Role;

use crate::scram::ScramVerifier;

/// Settings of the Postgres endpoint.
#[derive(Debug, Clone)]
pub struct PgServerOptions {
    /// Connections served at once; more get SQLSTATE 53300.
    pub max_connections: usize,
    /// How long running statements may go on after shutdown is asked for.
    pub shutdown_grace: Duration,
    /// Users who may log in with SCRAM-SHA-256. Without any, connections are trusted, which the
    /// caller allows only on a loopback address.
    pub users: Vec<User>,
    pub tls: Option<TlsConfig>,
    /// Default `statement_timeout` of every session; `None` for none.
    pub statement_timeout: Option<Duration>,
    /// Memory one connection's query may use before it fails.
    pub memory_limit: usize,
}

/// 2 GiB per connection: generous for lineage queries. The server-wide worst case is
/// `max_connections` times this; size the two together.
pub const DEFAULT_MEMORY_LIMIT: usize = 2 << 30;

impl Default for PgServerOptions {
    fn default() -> Self {
        PgServerOptions {
            max_connections: 100,
            shutdown_grace: Duration::from_secs(10),
            users: Vec::new(),
            tls: None,
            statement_timeout: None,
            memory_limit: DEFAULT_MEMORY_LIMIT,
        }
    }
}

/// A user of the Postgres endpoint.
#[derive(Debug, Clone)]
pub struct User {
    pub name: String,
    pub verifier: ScramVerifier,
    pub role: Role,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// Refuse connections that do not use TLS.
    pub require: bool,
}
