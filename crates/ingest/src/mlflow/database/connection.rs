//! A connection to a tracking database, SQLite or PostgreSQL, that returns every value as text
//! (SQLite's own types, PostgreSQL's text format), so both engines share every query and every
//! conversion of the schema reader.

use std::sync::Mutex;

use super::source::DatabaseSource;

/// An open connection; every value comes back as text.
pub(super) enum Connection {
    Sqlite(Mutex<rusqlite::Connection>),
    Postgres(tokio_postgres::Client),
}

pub(super) type Rows = Vec<Vec<Option<String>>>;

/// What went wrong, in the words that say why: the server's message, or the error and its causes
/// (a TLS failure's "invalid peer certificate: UnknownIssuer" is in a cause).
fn reason(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return db.message().to_string();
    }
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

impl Connection {
    pub(super) async fn open(source: &DatabaseSource) -> Result<Connection, String> {
        match source {
            DatabaseSource::Sqlite(path) => {
                if !path.is_file() {
                    return Err("no such file".into());
                }
                // Read-only: MLflow may be writing to it; prov9 never does.
                let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
                    | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
                let connection = rusqlite::Connection::open_with_flags(path, flags)
                    .map_err(|e| e.to_string())?;
                Ok(Connection::Sqlite(Mutex::new(connection)))
            }
            DatabaseSource::Postgres(uri) => {
                let (config, tls) = super::tls::connect_config(uri)?;
                let (client, connection) = config
                    .connect(tls)
                    .await
                    .map_err(|e| format!("cannot connect: {}", reason(&e)))?;
                tokio::spawn(async move {
                    if let Err(e) = connection.await {
                        tracing::warn!("MLflow database connection: {e}");
                    }
                });
                Ok(Connection::Postgres(client))
            }
        }
    }

    pub(super) async fn rows(&self, sql: &str) -> Result<Rows, String> {
        match self {
            Connection::Sqlite(connection) => {
                let connection = connection.lock().map_err(|e| e.to_string())?;
                sqlite_rows(&connection, sql).map_err(|e| e.to_string())
            }
            Connection::Postgres(client) => {
                let messages = client.simple_query(sql).await.map_err(|e| {
                    e.as_db_error()
                        .map(|d| d.message().to_string())
                        .unwrap_or_else(|| e.to_string())
                })?;
                Ok(messages
                    .iter()
                    .filter_map(|m| match m {
                        tokio_postgres::SimpleQueryMessage::Row(row) => Some(
                            (0..row.len())
                                .map(|i| row.get(i).map(str::to_string))
                                .collect(),
                        ),
                        _ => None,
                    })
                    .collect())
            }
        }
    }

    /// The columns of `table`, empty when there is no such table.
    pub(super) async fn columns(&self, table: &str) -> Result<Vec<String>, String> {
        let sql = match self {
            Connection::Sqlite(_) => {
                format!("SELECT name FROM pragma_table_info({})", quote(table))
            }
            Connection::Postgres(_) => format!(
                "SELECT column_name FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND table_name = {}",
                quote(table)
            ),
        };
        Ok(self
            .rows(&sql)
            .await?
            .into_iter()
            .filter_map(|mut r| r.remove(0))
            .collect())
    }
}

fn sqlite_rows(connection: &rusqlite::Connection, sql: &str) -> rusqlite::Result<Rows> {
    use rusqlite::types::ValueRef;
    let mut statement = connection.prepare(sql)?;
    let width = statement.column_count();
    let rows = statement.query_map([], |row| {
        (0..width)
            .map(|i| {
                Ok(match row.get_ref(i)? {
                    ValueRef::Null => None,
                    ValueRef::Integer(v) => Some(v.to_string()),
                    // `{:?}` keeps an exponent (1.7976931348623157e308), which parses back exactly.
                    ValueRef::Real(v) => Some(format!("{v:?}")),
                    ValueRef::Text(t) | ValueRef::Blob(t) => {
                        Some(String::from_utf8_lossy(t).into_owned())
                    }
                })
            })
            .collect()
    })?;
    rows.collect()
}

/// A SQL string literal.
pub(super) fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}
