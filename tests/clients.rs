//! The clients users bring, run for real against `prov9 serve --demo`: psycopg 3, SQLAlchemy and
//! pandas, the queries Grafana, Metabase and DBeaver send, pgjdbc, and node-postgres.
//!
//! Each client has a script under tests/clients/ that checks its own behaviour (parameters,
//! prepared statements, types, cursors, transactions, errors, catalog reflection) and exits
//! non-zero on the first broken expectation; `tests/clients/run_all.sh` runs them all by hand.
//! A missing client skips loudly on a laptop and fails under CI=true.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;

fn clients_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients")
}

fn available(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Run one client script against a fresh demo server and require that every check passes.
fn run_client(dir: &str, program: &str, args: &[&str]) {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(&data.path().join("wh"), &["--demo"]);
    let out = Command::new(program)
        .args(args)
        .current_dir(clients_dir().join(dir))
        .env("PGHOST", "127.0.0.1")
        .env("PGPORT", server.port.to_string())
        .env("PGUSER", "prov9")
        .env("PGDATABASE", "prov9")
        .env_remove("PGPASSWORD")
        .output()
        .expect("client runs");
    let report = format!("{}{}", stdout(&out), stderr(&out));
    eprintln!("{report}");
    assert!(out.status.success(), "{program} {args:?} failed:\n{report}");
    assert!(
        report.contains(" passed, 0 failed"),
        "no summary line:\n{report}"
    );
}

fn python_clients() -> bool {
    available("python3", &["-c", "import psycopg, sqlalchemy, pandas"])
        || !missing_client(
            "psycopg, SQLAlchemy and pandas (pip install -r tests/clients/python/requirements.txt)",
        )
}

#[test]
fn psycopg() {
    if python_clients() {
        run_client("python", "python3", &["test_psycopg.py"]);
    }
}

#[test]
fn sqlalchemy_and_pandas() {
    if python_clients() {
        run_client("python", "python3", &["test_sqlalchemy.py"]);
    }
}

#[test]
fn grafana_metabase_dbeaver_catalog_queries() {
    if python_clients() {
        run_client("python", "python3", &["test_bi_catalog.py"]);
    }
}

const PGJDBC: &str = "/usr/share/java/postgresql.jar";

#[test]
fn pgjdbc() {
    if !(available("java", &["-version"]) && Path::new(PGJDBC).exists())
        && missing_client("Java 17 and pgjdbc (apt-get install libpostgresql-jdbc-java)")
    {
        return;
    }
    run_client("jdbc", "java", &["-cp", PGJDBC, "ClientTest.java"]);
}

#[test]
fn node_postgres() {
    if !(available("node", &["--version"]) && clients_dir().join("node/node_modules/pg").exists())
        && missing_client("node-postgres (cd tests/clients/node && npm ci)")
    {
        return;
    }
    run_client("node", "node", &["test_pg.js"]);
}
