//! What a connection's user may do: the same roles for SQL sessions and the ingest endpoint.

use std::fmt;
use std::str::FromStr;

/// What a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Queries only.
    Reader,
    /// Queries, and sending lineage to the ingest endpoint.
    Writer,
    /// As writer, and may tune its own session (`SET datafusion.execution.*` and the like).
    Admin,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Reader => "reader",
            Role::Writer => "writer",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "reader" => Ok(Role::Reader),
            "writer" => Ok(Role::Writer),
            "admin" => Ok(Role::Admin),
            other => Err(format!(
                "unknown role {other:?} (expected reader, writer or admin)"
            )),
        }
    }
}
