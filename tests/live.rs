//! Live for months: events acknowledged over HTTP survive kill -9; one consistent snapshot;
//! time travel (`prov9.as_of`, `prov9 sql --as-of`) answers as a warehouse loaded with only the
//! events committed before that moment; maintenance (`prov9 optimize`, `prov9 vacuum`) changes
//! no answer.

use std::path::Path;
use std::time::Duration;

use crate::common::*;

/// Answers compared across warehouses: counts per table, a lineage function, a recursive
/// query over `lineage_edges`, a point lookup.
/// `NODE` is a dataset version of the demo's first half (table functions take literals).
const QUERIES: &[&str] = &[
    "SELECT count(*) FROM events",
    "SELECT count(*) FROM runs",
    "SELECT state, count(*) FROM runs GROUP BY state ORDER BY state",
    "SELECT count(*) FROM dataset_versions",
    "SELECT count(*) FROM lineage_edges",
    "SELECT node_id FROM lineage_nodes ORDER BY node_id",
    "SELECT count(*) FROM lineage_downstream('NODE')",
    "WITH RECURSIVE down(node) AS (SELECT 'NODE' UNION SELECT e.dst FROM lineage_edges e JOIN down d ON e.src = d.node) SELECT count(*) FROM down",
    "SELECT state FROM runs WHERE run_id = (SELECT min(run_id) FROM runs)",
];

/// The first dataset version of the demo, by time.
fn node() -> String {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("wh");
    load(&data, &demo_file());
    sql_rows(
        &data,
        "SELECT version_id FROM dataset_versions ORDER BY created_at, version_id LIMIT 1",
    )
    .remove(0)
}

fn queries() -> Vec<String> {
    let node = node();
    QUERIES.iter().map(|q| q.replace("NODE", &node)).collect()
}

fn answers(data: &Path, extra: &[&str]) -> Vec<Vec<String>> {
    queries()
        .iter()
        .map(|q| {
            let mut args = vec!["sql", "--format", "csv"];
            args.extend_from_slice(extra);
            args.push(q);
            let out = run(data, &args);
            assert!(out.status.success(), "{q}: {}", stderr(&out));
            stdout(&out).lines().skip(1).map(str::to_string).collect()
        })
        .collect()
}

/// The demo pipeline in two parts, as two files.
fn demo_in_two(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let text = std::fs::read_to_string(demo_file()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let (a, b) = lines.split_at(lines.len() / 2);
    let (first, second) = (dir.join("first.ndjson"), dir.join("second.ndjson"));
    std::fs::write(&first, a.join("\n")).unwrap();
    std::fs::write(&second, b.join("\n")).unwrap();
    (first, second)
}

fn load(data: &Path, file: &Path) {
    let out = run(data, &["load", "--no-progress", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn as_of_answers_as_the_warehouse_was_and_maintenance_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = demo_in_two(dir.path());
    let only_first = dir.path().join("only-first");
    load(&only_first, &first);
    let expected_then = answers(&only_first, &[]);

    let data = dir.path().join("wh");
    load(&data, &first);
    std::thread::sleep(Duration::from_millis(1100));
    let then = chrono::Utc::now().to_rfc3339();
    std::thread::sleep(Duration::from_millis(1100));
    load(&data, &second);
    let now = answers(&data, &[]);
    assert_ne!(
        now, expected_then,
        "the second half must change some answer"
    );
    assert_eq!(answers(&data, &["--as-of", &then]), expected_then);

    // prov9_commits lists the loads with the rows they added.
    let commits = sql_rows(
        &data,
        "SELECT source, rows_added > 0 FROM prov9_commits ORDER BY commit_id",
    );
    assert_eq!(commits, ["created,false", "load,true", "load,true"]);

    // Compaction rewrites every table's files: no answer changes, past or present.
    let out = run(&data, &["optimize", "--no-progress"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // Two loads left two files per table written: each table is compacted into one.
    let said = stdout(&out);
    let compacted: usize = said
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{said}"));
    assert!(compacted >= 2, "{said}");
    assert_eq!(answers(&data, &[]), now);
    assert_eq!(answers(&data, &["--as-of", &then]), expected_then);

    // The same over the wire: SET, SHOW, RESET.
    {
        let server = Server::start(&data, &[]);
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            let client = connect(server.port).await;
            let count = |rows: Vec<tokio_postgres::SimpleQueryMessage>| {
                simple_rows(&rows)[0][0].clone().unwrap()
            };
            let events_now = count(client.simple_query(QUERIES[0]).await.unwrap());
            client
                .simple_query(&format!("SET prov9.as_of = '{then}'"))
                .await
                .unwrap();
            let shown = count(client.simple_query("SHOW prov9.as_of").await.unwrap());
            assert_eq!(shown, then);
            for (query, expected) in queries().iter().zip(&expected_then) {
                let rows = simple_rows(&client.simple_query(query).await.unwrap());
                let got: Vec<String> = rows
                    .into_iter()
                    .map(|r| {
                        r.into_iter()
                            .map(Option::unwrap_or_default)
                            .collect::<Vec<_>>()
                            .join(",")
                    })
                    .collect();
                assert_eq!(&got, expected, "{query} as of {then}");
            }
            let bad = client
                .simple_query("SET prov9.as_of = 'yesterday'")
                .await
                .unwrap_err();
            assert_eq!(bad.code().map(|c| c.code()), Some("22023"), "{bad}");
            client.simple_query("RESET prov9.as_of").await.unwrap();
            assert_eq!(
                count(client.simple_query(QUERIES[0]).await.unwrap()),
                events_now
            );
        });
    }

    // Vacuum with no retention: the present stays, the past before it is gone, said clearly.
    let out = run(&data, &["vacuum", "--retention", "0s", "--no-progress"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(answers(&data, &[]), now);
    let out = run(
        &data,
        &["sql", "--as-of", &then, "SELECT count(*) FROM events"],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("before the warehouse's history"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_stored_row_updated_in_the_live_tail_reads_its_new_state() {
    // A run's START is folded into the tables; its COMPLETE waits in the live tail, and every
    // read of runs (and of jobs, whose row the COMPLETE also changes) must show the tail's row
    // instead of the stored one.
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("wh"), &["--fold-every", "200ms"]);
    let event = |kind: &str, minute: u32, facets: &str| {
        format!(
            r#"{{"eventType":"{kind}","eventTime":"2026-03-01T00:{minute:02}:00Z","producer":"t","run":{{"runId":"01937a4c-0000-7000-8000-0000000000a1"}},"job":{{"namespace":"n","name":"j","facets":{{{facets}}}}},"inputs":[],"outputs":[]}}"#
        )
    };
    let (status, body) = post(server.http_port, &[], &event("START", 0, ""));
    assert_eq!(status, 201, "{body}");
    let folded = "SELECT count(*) FROM prov9_commits WHERE source = 'http'";
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while server_csv(server.port, folded) == ["0"] {
        assert!(std::time::Instant::now() < deadline, "no fold-in");
        std::thread::sleep(Duration::from_millis(100));
    }
    let complete = event(
        "COMPLETE",
        1,
        r#""jobType":{"processingType":"BATCH","integration":"AIRFLOW","jobType":"TASK"}"#,
    );
    let (status, body) = post(server.http_port, &[], &complete);
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        server_csv(
            server.port,
            "SELECT r.state, j.integration FROM runs r JOIN jobs j USING (job_id)"
        ),
        ["COMPLETE,AIRFLOW"]
    );
    assert_eq!(server_csv(server.port, "SELECT count(*) FROM runs"), ["1"]);
}

#[test]
fn acknowledged_events_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("wh");
    let events: Vec<String> = std::fs::read_to_string(demo_file())
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    {
        let server = Server::start(&data, &[]);
        for event in &events {
            let (status, body) = post(server.http_port, &[], event);
            assert_eq!(status, 201, "{body}");
        }
        // Visible at once on a new connection, though not folded into the tables yet.
        let seen = server_rows(server.port, "SELECT count(*) FROM events");
        assert_eq!(seen[0].as_deref(), Some(events.len().to_string().as_str()));
        // Dropping the server kills it (SIGKILL): no shutdown, no fold-in.
    }
    let server = Server::start(&data, &[]);
    let seen = server_rows(
        server.port,
        "SELECT count(*), count(DISTINCT event_id) FROM events",
    );
    assert_eq!(seen[0].as_deref(), Some(events.len().to_string().as_str()));
    drop(server);
    // Folded in at the restart: another process reading the tables sees them too.
    assert_eq!(
        sql_rows(&data, "SELECT count(DISTINCT event_id) FROM events"),
        [events.len().to_string()]
    );
    assert_eq!(
        answers(&data, &[]),
        {
            let bulk = dir.path().join("bulk");
            load(&bulk, &demo_file());
            answers(&bulk, &[])
        },
        "the live warehouse answers as the same events loaded in bulk"
    );
}

#[test]
fn a_serving_warehouses_indexes_follow_compaction_and_vacuum() {
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = demo_in_two(dir.path());
    let data = dir.path().join("wh");
    load(&data, &first);
    load(&data, &second);
    let server = Server::start(&data, &["--no-maintenance"]);
    let ask = || -> Vec<Vec<String>> {
        queries()
            .iter()
            .map(|q| server_csv(server.port, q))
            .collect()
    };
    // The key index, row cache and lineage index are built from the files as loaded.
    let before = ask();
    assert_eq!(before, answers(&data, &[]));
    // Another process rewrites every table's files, then deletes the old ones.
    for args in [
        &["optimize", "--no-progress"][..],
        &["vacuum", "--retention", "0s", "--no-progress"][..],
    ] {
        let out = run(&data, args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        assert_eq!(ask(), before, "after {args:?}");
    }
}
