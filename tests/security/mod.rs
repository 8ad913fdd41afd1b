//! Security and limits, end to end: passwords and the config file ([`auth`]), TLS ([`tls`]),
//! roles, memory and time limits, cancel, the connection limit and graceful shutdown
//! ([`limits`]) — against a real `prov9 serve`, with tokio-postgres, psql and openssl. The
//! read-only guarantee (every refused statement, in both protocols) is pinned in
//! sql/slt/read_only.slt, which tests/slt_wire.rs runs over the wire.

mod auth;
mod limits;
mod tls;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::*;
use tokio::task::JoinHandle;
use tokio_postgres::{Client, NoTls};

/// Runs far longer than any test: only a cancel or a timeout ends it.
const ENDLESS: &str =
    "SELECT count(DISTINCT v % 1000003) FROM generate_series(1, 2000000000) AS t(v)";

// ---------------------------------------------------------------------------------------------
// Helpers

/// `prov9 hash-password` with `input` on stdin.
fn hash_password(input: &str) -> Output {
    let mut child = prov9()
        .arg("hash-password")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("prov9 hash-password starts");
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(input.as_bytes())
        .expect("stdin takes the password");
    child.wait_with_output().expect("prov9 hash-password runs")
}

/// The SCRAM verifier of a password, as `prov9 hash-password` prints it.
fn verifier(password: &str) -> String {
    let out = hash_password(&format!("{password}\n"));
    assert!(out.status.success(), "hash-password: {}", stderr(&out));
    stdout(&out).trim().to_string()
}

/// Write `prov9.toml` in `dir`: top-level settings, then `[[users]]` (name, password, role) with
/// verifiers from `prov9 hash-password`, then `tail` (e.g. a `[tls]` section).
fn write_config(dir: &Path, top: &str, users: &[(&str, &str, &str)], tail: &str) -> PathBuf {
    let mut text = format!("{top}\n");
    for (name, password, role) in users {
        text.push_str(&format!(
            "[[users]]\nname = \"{name}\"\npassword = \"{}\"\nrole = \"{role}\"\n\n",
            verifier(password)
        ));
    }
    text.push_str(tail);
    let path = dir.join("prov9.toml");
    std::fs::write(&path, text).expect("config written");
    path
}

fn conn_str(port: u16, user: &str, password: &str) -> String {
    format!(
        "host=127.0.0.1 port={port} user={user} password={password} dbname=prov9 connect_timeout=10"
    )
}

/// Connect without TLS; the connection's task is returned so a test can wait for it to end.
async fn open(conn: &str) -> Result<(Client, JoinHandle<()>), tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(conn, NoTls).await?;
    let task = tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok((client, task))
}

async fn connect(conn: &str) -> Client {
    open(conn).await.expect("connects").0
}

/// The SQLSTATE of an error, if the server sent one.
fn code(err: &tokio_postgres::Error) -> Option<&str> {
    err.code().map(|c| c.code())
}

/// The server's message, or else what the client says went wrong (`Display` says only "db error").
fn message(err: &tokio_postgres::Error) -> String {
    match err.as_db_error() {
        Some(db) => db.message().to_string(),
        None => format!("{err:?}"),
    }
}

/// The single value of a one-row, one-column answer over the simple protocol.
async fn simple_value(client: &Client, sql: &str) -> Option<String> {
    let rows = simple_rows(&client.simple_query(sql).await.expect(sql));
    assert_eq!(rows.len(), 1, "{sql}: {rows:?}");
    rows[0][0].clone()
}

/// `sql` over the simple protocol, then over the extended one (Parse/Bind/Execute).
async fn both_protocols(client: &Client, sql: &str) -> [Result<(), tokio_postgres::Error>; 2] {
    let simple = client.simple_query(sql).await.map(|_| ());
    let extended = client.query(sql, &[]).await.map(|_| ());
    [simple, extended]
}

/// `sql` must fail with `expected` over both protocols.
async fn refused(client: &Client, sql: &str, expected: &str) {
    for (result, protocol) in both_protocols(client, sql)
        .await
        .into_iter()
        .zip(["simple", "extended"])
    {
        let err = result.expect_err(&format!("{sql} ({protocol}) was allowed"));
        assert_eq!(code(&err), Some(expected), "{sql} ({protocol}): {err:?}");
    }
}

/// A statement that should be stopped (timeout, cancel): fail the test rather than hang if not.
async fn stopped<T>(statement: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(20), statement)
        .await
        .expect("the statement was not stopped within 20 s")
}

async fn count_runs(client: &Client) -> i64 {
    client
        .query_one("SELECT count(*) FROM runs", &[])
        .await
        .expect("the connection is usable")
        .get(0)
}

fn has_tool(tool: &str, version_flag: &str, what: &str) -> bool {
    Command::new(tool)
        .arg(version_flag)
        .output()
        .is_ok_and(|o| o.status.success())
        || !missing_client(what)
}

fn has_psql() -> bool {
    has_tool(
        "psql",
        "--version",
        "psql (Debian package postgresql-client)",
    )
}

fn has_openssl() -> bool {
    has_tool("openssl", "version", "openssl (Debian package openssl)")
}

/// psql against a keyword/value connection string, never prompting for a password.
fn psql(conninfo: &str, password: Option<&str>, args: &[&str]) -> Output {
    let mut cmd = Command::new("psql");
    cmd.args([
        "-X",
        "-w",
        "-A",
        "-t",
        "-v",
        "ON_ERROR_STOP=1",
        "-d",
        conninfo,
    ])
    .args(args)
    .env("PGCONNECT_TIMEOUT", "10")
    .env_remove("PGPASSWORD")
    .env_remove("PGSSLMODE");
    if let Some(p) = password {
        cmd.env("PGPASSWORD", p);
    }
    cmd.output().expect("psql runs")
}

/// A self-signed certificate and key for localhost, `server.crt` and `server.key` in `dir`.
fn self_signed(dir: &Path) {
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.crt",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
        ])
        .current_dir(dir)
        .output()
        .expect("openssl runs");
    assert!(out.status.success(), "openssl: {}", stderr(&out));
}

// ---------------------------------------------------------------------------------------------
// 1. hash-password
