//! The `.slt` files of `sql/slt/` over the wire: a `prov9 serve --demo` (the app in this process) and tokio-postgres, once
//! in the simple query protocol and once in the extended one (Parse/Bind/Execute, binary
//! results), like DataFusion's `sqllogictest` postgres engine.
//!
//! `sql/slt/*.slt` also run in the engine (crates/query/tests/sqllogictest.rs), so a result is
//! formatted here as that runner formats Arrow values (`true`, `2026-11-01T10:00:00Z`, `NULL`,
//! `(empty)`), and the same expected output holds in both. `sql/slt/wire/*.slt` run here only:
//! what only a server has (SQLSTATEs, SET/SHOW, transactions, cursors, COPY TO STDOUT).
//!
//! Records are labelled: the engine name `wire` (the engine runner's is `engine`) and the
//! protocol, `simple` or `extended`, for `onlyif`/`skipif`. An error reads
//! `SQLSTATE <code>: <message>`, so a file pins the code with `statement error SQLSTATE 42501`
//! (or sqllogictest's own `statement error (42501)`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use sqllogictest::{DBOutput, DefaultColumnType};
use tokio_postgres::types::{FromSql, Type};
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

use crate::common::*;

/// No statement of these files runs for long; one that hangs fails instead of stalling the test.
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Protocol {
    Simple,
    Extended,
}

impl Protocol {
    fn label(self) -> &'static str {
        match self {
            Protocol::Simple => "simple",
            Protocol::Extended => "extended",
        }
    }
}

struct WireDb {
    client: Client,
    protocol: Protocol,
}

#[derive(Debug)]
enum WireError {
    Postgres(tokio_postgres::Error),
    /// Something the runner itself could not do (a statement that hung, a value it cannot show).
    Runner(String),
}

impl From<tokio_postgres::Error> for WireError {
    fn from(e: tokio_postgres::Error) -> Self {
        WireError::Postgres(e)
    }
}

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WireError::Postgres(e) => match e.as_db_error() {
                Some(db) => write!(f, "SQLSTATE {}: {}", db.code().code(), db.message()),
                // Not an error the server sent: never a match for `SQLSTATE …`.
                None => write!(f, "client error: {e:?}"),
            },
            WireError::Runner(message) => write!(f, "runner error: {message}"),
        }
    }
}

impl std::error::Error for WireError {}

async fn connect(conn: &str, protocol: Protocol) -> Result<WireDb, WireError> {
    let (client, connection) = tokio_postgres::connect(conn, NoTls).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(WireDb { client, protocol })
}

/// `COPY … TO STDOUT`: tokio-postgres reads it through `copy_out` (in the extended protocol
/// whatever the runner's), and each line is a row of one column.
fn is_copy_to_stdout(sql: &str) -> bool {
    let lower = sql.to_ascii_lowercase();
    lower.trim_start().starts_with("copy") && lower.contains("to stdout")
}

impl WireDb {
    async fn run_statement(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, WireError> {
        if is_copy_to_stdout(sql) {
            return self.copy_out(sql).await;
        }
        match self.protocol {
            Protocol::Simple => self.simple(sql).await,
            Protocol::Extended => self.extended(sql).await,
        }
    }

    async fn copy_out(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, WireError> {
        let stream = self.client.copy_out(sql).await?;
        let mut stream = std::pin::pin!(stream);
        let mut data = Vec::new();
        while let Some(chunk) = stream.next().await {
            data.extend_from_slice(&chunk?);
        }
        let text = String::from_utf8(data).map_err(|e| WireError::Runner(e.to_string()))?;
        let rows = text.lines().map(|l| vec![l.to_string()]).collect();
        Ok(DBOutput::Rows {
            types: vec![DefaultColumnType::Text],
            rows,
        })
    }

    /// One Query message; the rows arrive as text, and their types from a Describe of the same
    /// statement (the simple protocol's RowDescription carries them, but tokio-postgres keeps
    /// only the names).
    async fn simple(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, WireError> {
        let messages = self.client.simple_query(sql).await?;
        let mut described = false;
        let mut rows = Vec::new();
        let (mut count, mut statements) = (0, 0);
        for m in &messages {
            match m {
                SimpleQueryMessage::RowDescription(_) => described = true,
                SimpleQueryMessage::Row(row) => {
                    rows.push((0..row.len()).map(|i| row.get(i)).collect::<Vec<_>>())
                }
                SimpleQueryMessage::CommandComplete(n) => {
                    count = *n;
                    statements += 1;
                }
                _ => {}
            }
        }
        // Several statements in one message (what `batch_execute` sends): their rows are not
        // one result, and cannot be described.
        if !described || statements > 1 {
            return Ok(DBOutput::StatementComplete(count));
        }
        let types: Vec<Type> = match self.client.prepare(sql).await {
            Ok(statement) => statement
                .columns()
                .iter()
                .map(|c| c.type_().clone())
                .collect(),
            Err(e) => {
                return Err(WireError::Runner(format!(
                    "the statement ran, but a Describe of it failed: {}",
                    WireError::Postgres(e)
                )));
            }
        };
        let rows = rows
            .iter()
            .map(|row| {
                row.iter()
                    .enumerate()
                    .map(|(i, value)| text_cell(types.get(i), *value))
                    .collect()
            })
            .collect();
        Ok(DBOutput::Rows {
            types: types.iter().map(column_type).collect(),
            rows,
        })
    }

    /// Parse and Describe, then Bind and Execute: rows in binary, decoded by their types.
    async fn extended(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, WireError> {
        let statement = self.client.prepare(sql).await?;
        if statement.columns().is_empty() {
            let count = self.client.execute(&statement, &[]).await?;
            return Ok(DBOutput::StatementComplete(count));
        }
        let types: Vec<Type> = statement
            .columns()
            .iter()
            .map(|c| c.type_().clone())
            .collect();
        let mut rows = Vec::new();
        for row in self.client.query(&statement, &[]).await? {
            let mut cells = Vec::with_capacity(types.len());
            for (i, ty) in types.iter().enumerate() {
                cells.push(binary_cell(&row, i, ty)?);
            }
            rows.push(cells);
        }
        Ok(DBOutput::Rows {
            types: types.iter().map(column_type).collect(),
            rows,
        })
    }
}

#[async_trait]
impl sqllogictest::AsyncDB for WireDb {
    type Error = WireError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, WireError> {
        match tokio::time::timeout(STATEMENT_TIMEOUT, self.run_statement(sql)).await {
            Ok(result) => result,
            Err(_) => Err(WireError::Runner(format!(
                "no answer within {STATEMENT_TIMEOUT:?}"
            ))),
        }
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "wire"
    }

    async fn sleep(dur: Duration) {
        tokio::time::sleep(dur).await;
    }

    fn error_sql_state(err: &WireError) -> Option<String> {
        match err {
            WireError::Postgres(e) => e.code().map(|c| c.code().to_string()),
            WireError::Runner(_) => None,
        }
    }
}

fn column_type(ty: &Type) -> DefaultColumnType {
    match *ty {
        Type::INT2 | Type::INT4 | Type::INT8 => DefaultColumnType::Integer,
        Type::FLOAT4 | Type::FLOAT8 => DefaultColumnType::FloatingPoint,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => DefaultColumnType::Text,
        _ => DefaultColumnType::Any,
    }
}

/// NULL and the empty string, as the engine runner shows them.
fn shown(value: Option<String>) -> String {
    match value {
        None => "NULL".to_string(),
        Some(v) if v.is_empty() => "(empty)".to_string(),
        Some(v) => v,
    }
}

/// A float as Arrow displays it: `1.0`, `0.861`.
fn float(v: f64) -> String {
    format!("{v:?}")
}

fn timestamptz(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

fn timestamp(t: chrono::NaiveDateTime) -> String {
    format!("{t:?}")
}

/// A value of the simple protocol (Postgres text) as the engine runner shows it.
fn text_cell(ty: Option<&Type>, value: Option<&str>) -> String {
    let Some(text) = value else {
        return shown(None);
    };
    let converted = match ty {
        Some(&Type::BOOL) => match text {
            "t" => Some("true".to_string()),
            "f" => Some("false".to_string()),
            _ => None,
        },
        Some(&Type::FLOAT4 | &Type::FLOAT8) => text.parse::<f64>().ok().map(float),
        Some(&Type::TIMESTAMPTZ) => {
            chrono::DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f%#z")
                .ok()
                .map(|t| timestamptz(t.with_timezone(&chrono::Utc)))
        }
        Some(&Type::TIMESTAMP) => {
            chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f")
                .ok()
                .map(timestamp)
        }
        _ => None,
    };
    shown(Some(converted.unwrap_or_else(|| text.to_string())))
}

/// Any value's raw bytes, for the types decoded here by hand.
struct Raw(Vec<u8>);

impl<'a> FromSql<'a> for Raw {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(raw.to_vec()))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// A binary NUMERIC (digits in base 10000) as decimal text, as Postgres writes it.
fn numeric(raw: &[u8]) -> Option<String> {
    let word = |i: usize| -> Option<u16> {
        raw.get(2 * i..2 * i + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
    };
    let (ndigits, weight, sign, dscale) = (
        word(0)? as usize,
        word(1)? as i16,
        word(2)?,
        word(3)? as usize,
    );
    match sign {
        0xC000 => return Some("NaN".to_string()),
        0x0000 | 0x4000 => {}
        _ => return None,
    }
    let digits: Vec<u16> = (0..ndigits).map(|i| word(4 + i)).collect::<Option<_>>()?;
    let mut int = String::new();
    for w in 0..=weight.max(-1) {
        let d = digits.get(w as usize).copied().unwrap_or(0);
        if int.is_empty() {
            if d != 0 {
                int = d.to_string();
            }
        } else {
            int.push_str(&format!("{d:04}"));
        }
    }
    if int.is_empty() {
        int.push('0');
    }
    let mut frac = String::new();
    let mut w = weight as i32 + 1;
    while frac.len() < dscale {
        let d = if w < 0 {
            0
        } else {
            digits.get(w as usize).copied().unwrap_or(0)
        };
        frac.push_str(&format!("{d:04}"));
        w += 1;
    }
    frac.truncate(dscale);
    let sign = if sign == 0x4000 { "-" } else { "" };
    Some(if dscale == 0 {
        format!("{sign}{int}")
    } else {
        format!("{sign}{int}.{frac}")
    })
}

/// A value of the extended protocol (binary) as the engine runner shows it.
fn binary_cell(row: &tokio_postgres::Row, i: usize, ty: &Type) -> Result<String, WireError> {
    let value: Option<String> = match *ty {
        Type::BOOL => row.try_get::<_, Option<bool>>(i)?.map(|v| v.to_string()),
        Type::INT2 => row.try_get::<_, Option<i16>>(i)?.map(|v| v.to_string()),
        Type::INT4 => row.try_get::<_, Option<i32>>(i)?.map(|v| v.to_string()),
        Type::INT8 => row.try_get::<_, Option<i64>>(i)?.map(|v| v.to_string()),
        Type::FLOAT4 => row
            .try_get::<_, Option<f32>>(i)?
            .map(|v| float(f64::from(v))),
        Type::FLOAT8 => row.try_get::<_, Option<f64>>(i)?.map(float),
        Type::TIMESTAMPTZ => row
            .try_get::<_, Option<chrono::DateTime<chrono::Utc>>>(i)?
            .map(timestamptz),
        Type::TIMESTAMP => row
            .try_get::<_, Option<chrono::NaiveDateTime>>(i)?
            .map(timestamp),
        Type::DATE => row
            .try_get::<_, Option<chrono::NaiveDate>>(i)?
            .map(|d| d.to_string()),
        Type::NUMERIC => match row.try_get::<_, Option<Raw>>(i)? {
            None => None,
            Some(Raw(bytes)) => Some(numeric(&bytes).ok_or_else(|| {
                WireError::Runner(format!("column {i}: a NUMERIC that does not decode"))
            })?),
        },
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN | Type::JSON => {
            row.try_get::<_, Option<String>>(i)?
        }
        ref other => {
            return Err(WireError::Runner(format!(
                "column {i}: the runner cannot show {other} in binary; cast it to text"
            )));
        }
    };
    Ok(shown(value))
}

fn slt_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "slt"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .slt files in {}", dir.display());
    files
}

/// Every file of `sql/slt/` and `sql/slt/wire/`, each on a fresh connection to one server;
/// failures are collected, so one run shows them all. The server's files must not change, and
/// nothing may appear in the directory the files try to COPY into.
async fn run_all(protocol: Protocol) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("wh");
    let outside = dir.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    let server = InProcess::start(&data, true);
    let before = snapshot(&data);
    let slt = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sql/slt");
    let mut files = slt_files(&slt);
    files.extend(slt_files(&slt.join("wire")));

    let mut failures = Vec::new();
    for file in &files {
        let conn = server.conn_str();
        let mut runner = sqllogictest::Runner::new(move || {
            let conn = conn.clone();
            async move { connect(&conn, protocol).await }
        });
        runner.add_label(protocol.label());
        // `COPY … TO '$OUTSIDE/…'` in the files: a directory this test watches.
        runner.set_var("OUTSIDE".to_string(), outside.display().to_string());
        if let Err(e) = runner.run_file_async(file).await {
            failures.push(format!("{}: {e}", file.display()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} protocol:\n{}",
        protocol.label(),
        failures.join("\n\n")
    );
    assert!(
        std::fs::read_dir(&outside).unwrap().next().is_none(),
        "a statement wrote a file on the server"
    );
    assert!(before == snapshot(&data), "the warehouse changed");
}

#[tokio::test(flavor = "multi_thread")]
async fn slt_files_over_the_simple_protocol() {
    run_all(Protocol::Simple).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn slt_files_over_the_extended_protocol() {
    run_all(Protocol::Extended).await;
}
