//! psql, the client every Postgres user reaches for first, against `prov9 serve --demo`.

mod common;

use std::process::Command;

use common::*;

fn psql(server: &Server, args: &[&str]) -> std::process::Output {
    Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &server.port.to_string(),
            "-U",
            "prov9",
            "-d",
            "prov9",
            "-X",
            "-v",
            "ON_ERROR_STOP=0",
        ])
        .args(args)
        .env("PGCONNECT_TIMEOUT", "10")
        .output()
        .expect("psql runs")
}

fn has_psql() -> bool {
    Command::new("psql")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
        || !missing_client("psql (Debian package postgresql-client)")
}

#[test]
fn psql_lists_describes_and_queries() {
    if !has_psql() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("wh"), &["--demo"]);

    let out = psql(&server, &["-c", r"\dt"]);
    let text = stdout(&out);
    assert!(out.status.success(), "{}", stderr(&out));
    for table in [
        "events",
        "jobs",
        "runs",
        "datasets",
        "dataset_versions",
        "transformations",
        "model_versions",
        "metrics",
        "deployments",
        "lineage_edges",
        "column_lineage",
    ] {
        assert!(
            text.lines()
                .any(|l| l.split('|').nth(1).is_some_and(|c| c.trim() == table)),
            "\\dt lacks {table}:\n{text}"
        );
    }

    let out = psql(&server, &["-c", r"\d runs"]);
    let text = stdout(&out);
    assert!(out.status.success(), "{}", stderr(&out));
    for column in [
        "run_id",
        "job_id",
        "parent_run_id",
        "state",
        "started_at",
        "ended_at",
        "error_message",
    ] {
        assert!(
            text.lines().any(|l| l.trim_start().starts_with(column)),
            "\\d runs lacks {column}:\n{text}"
        );
    }

    let upstream = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/sql/examples/upstream.sql"
    ))
    .unwrap();
    let out = psql(&server, &["-A", "-t", "-F", ",", "-c", &upstream]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    // churn@2 was trained on day 2's features, built from day 2's raw customers snapshot.
    assert!(
        text.contains("dataset_version,s3://acme-lake,raw/customers,snapshot-2026-11-02"),
        "{text}"
    );
    assert!(!text.contains("snapshot-2026-11-01"), "{text}");

    // An error in the middle of a script: reported, and the session goes on.
    let out = psql(
        &server,
        &[
            "-A",
            "-t",
            "-c",
            "SELECT 1",
            "-c",
            "SELECT nope",
            "-c",
            "SELECT 2",
        ],
    );
    assert!(
        stdout(&out).contains('1') && stdout(&out).contains('2'),
        "{}",
        stdout(&out)
    );
    assert!(stderr(&out).contains("nope"), "{}", stderr(&out));
}
