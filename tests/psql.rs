//! psql, the client every Postgres user reaches for first, against `prov9 serve --demo`.

use std::process::Command;

use crate::common::*;

pub fn psql(server: &Server, args: &[&str]) -> std::process::Output {
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

pub fn has_psql() -> bool {
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

#[test]
fn psql_meta_commands_copy_and_scripts() {
    if !has_psql() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("wh"), &["--demo"]);
    let copy_file = dir.path().join("runs.csv");
    let script = dir.path().join("script.sql");
    std::fs::write(
        &script,
        format!(
            r"\dv
\dn
\df
\l
\x on
SELECT run_id, state FROM runs ORDER BY run_id LIMIT 1;
\x off
\timing on
SELECT count(*) AS run_count FROM runs;
\timing off
\copy (SELECT run_id, state FROM runs ORDER BY run_id) TO '{}' WITH CSV HEADER
SELECT 'first' AS a; SELECT 'second' AS b;
",
            copy_file.display()
        ),
    )
    .unwrap();
    let out = psql(&server, &["-f", script.to_str().unwrap()]);
    let text = stdout(&out);
    let errors = stderr(&out);
    assert!(out.status.success(), "{errors}");
    assert!(
        !errors.contains("ERROR"),
        "a meta-command failed:\n{errors}"
    );
    let line_with = |needle: &str| text.lines().any(|l| l.contains(needle));
    assert!(
        line_with("lineage_nodes") && line_with("view"),
        "\\dv:\n{text}"
    );
    assert!(
        line_with("List of schemas") && line_with(" public "),
        "\\dn:\n{text}"
    );
    assert!(line_with("List of functions"), "\\df:\n{text}");
    assert!(line_with("List of databases"), "\\l:\n{text}");
    assert!(line_with("-[ RECORD 1 ]"), "\\x on:\n{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("state") && l.contains("COMPLETE")),
        "expanded row:\n{text}"
    );
    assert!(line_with("Time: "), "\\timing:\n{text}");
    assert!(
        line_with("first") && line_with("second"),
        "multi-statement line:\n{text}"
    );

    // \copy ran `COPY (…) TO STDOUT` and wrote the client-side file: same rows as a query.
    let copied = std::fs::read_to_string(&copy_file).expect("\\copy wrote the file");
    let mut lines = copied.lines();
    assert_eq!(lines.next(), Some("run_id,state"));
    let rows: Vec<&str> = lines.collect();
    let expected = sql_rows(
        &dir.path().join("wh"),
        "SELECT run_id, state FROM runs ORDER BY run_id",
    );
    assert_eq!(rows, expected);
    assert_eq!(rows.len(), 17);
}
