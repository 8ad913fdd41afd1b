//! `prov9 load` end to end: load, query, reload (idempotent), bad lines.

use crate::common::*;

#[test]
fn load_query_and_reload_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("wh");
    let demo = demo_file();
    let lines = std::fs::read_to_string(&demo).unwrap().lines().count();

    let out = run(&data, &["load", demo.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let summary = stdout(&out);
    assert!(
        summary.contains(&format!("{lines} events read, {lines} new")),
        "{summary}"
    );

    assert_eq!(
        sql_rows(&data, "SELECT count(*) FROM events"),
        vec![lines.to_string()]
    );
    // Every run's START and terminal event merged into one row.
    let runs = sql_rows(&data, "SELECT count(*) FROM runs")[0]
        .parse::<usize>()
        .unwrap();
    assert_eq!(runs * 2, lines);
    assert_eq!(
        sql_rows(
            &data,
            "SELECT state, count(*) FROM runs GROUP BY state ORDER BY state"
        ),
        vec!["COMPLETE,16", "FAIL,1"]
    );

    let before = snapshot(&data);
    let again = run(&data, &["load", demo.to_str().unwrap()]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(
        stdout(&again).contains(&format!("{lines} events read, 0 new")),
        "{}",
        stdout(&again)
    );
    assert!(
        before == snapshot(&data),
        "reloading the same file changed the warehouse"
    );
}

#[test]
fn loads_directories_and_gzip() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("history");
    std::fs::create_dir_all(input.join("2026/11")).unwrap();
    let text = std::fs::read_to_string(demo_file()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let (first, second) = lines.split_at(lines.len() / 2);
    std::fs::write(input.join("2026/a.ndjson"), first.join("\n")).unwrap();
    let gz = std::fs::File::create(input.join("2026/11/b.jsonl.gz")).unwrap();
    let mut enc = flate2::write::GzEncoder::new(gz, flate2::Compression::default());
    std::io::Write::write_all(&mut enc, second.join("\n").as_bytes()).unwrap();
    enc.finish().unwrap();
    std::fs::write(input.join("README.txt"), "not an event file").unwrap();

    let data = dir.path().join("wh");
    let out = run(&data, &["load", input.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("loaded 2 files"),
        "{}",
        stdout(&out)
    );
    assert_eq!(
        sql_rows(&data, "SELECT count(*) FROM events"),
        vec![lines.len().to_string()]
    );
}

#[test]
fn a_bad_line_is_named_and_loses_nothing_committed() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(demo_file()).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let good = lines.clone();
    lines[19] = lines[19].replacen("\"runId\":", "\"runId\":17,\"x\":", 1);
    let bad = dir.path().join("bad.ndjson");
    std::fs::write(&bad, lines.join("\n")).unwrap();
    let data = dir.path().join("wh");

    // Batches of 10: lines 1-10 commit, the batch holding line 20 does not.
    let out = run(
        &data,
        &["load", "--batch-size", "10", bad.to_str().unwrap()],
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "{}:20: run.runId: expected a string",
            bad.display()
        )),
        "{err}"
    );
    assert_eq!(sql_rows(&data, "SELECT count(*) FROM events"), vec!["10"]);

    // Fixing the line and loading again completes the load without doubling anything.
    std::fs::write(&bad, good.join("\n")).unwrap();
    let out = run(
        &data,
        &["load", "--batch-size", "10", bad.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        sql_rows(&data, "SELECT count(*) FROM events"),
        vec![good.len().to_string()]
    );
    assert_eq!(
        sql_rows(&data, "SELECT count(*), count(DISTINCT run_id) FROM runs"),
        vec![format!("{0},{0}", good.len() / 2)]
    );
}

#[test]
fn max_errors_skips_bad_lines_into_a_rejects_file() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(demo_file()).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let n = lines.len();
    lines[2] = "{not json".to_string();
    let bad = dir.path().join("bad.ndjson");
    std::fs::write(&bad, lines.join("\n")).unwrap();
    let data = dir.path().join("wh");
    let rejects = dir.path().join("rejects.ndjson");

    let out = run(
        &data,
        &[
            "load",
            "--max-errors",
            "1",
            "--rejects",
            rejects.to_str().unwrap(),
            bad.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("1 rejected"), "{}", stdout(&out));
    assert_eq!(
        sql_rows(&data, "SELECT count(*) FROM events"),
        vec![(n - 1).to_string()]
    );
    let rejected = std::fs::read_to_string(&rejects).unwrap();
    let record: serde_json::Value = serde_json::from_str(rejected.lines().next().unwrap()).unwrap();
    assert_eq!(record["location"], format!("{}:3", bad.display()));
    assert_eq!(record["line"], "{not json");
    assert!(
        record["error"]
            .as_str()
            .unwrap()
            .starts_with("invalid JSON")
    );

    // Two bad lines with --max-errors 1: the load fails.
    lines[5] = "[]".to_string();
    std::fs::write(&bad, lines.join("\n")).unwrap();
    let out = run(
        &dir.path().join("wh2"),
        &[
            "load",
            "--max-errors",
            "1",
            "--rejects",
            rejects.to_str().unwrap(),
            bad.to_str().unwrap(),
        ],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(":6: $: an OpenLineage event must be a JSON object"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn bad_sql_is_an_error_with_nonzero_exit() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("wh");
    // A mistyped --data: refused, saying where it looked, and nothing is created there.
    for args in [
        &["sql", "SELECT count(*) FROM runs"][..],
        &["optimize", "--no-progress"][..],
        &["vacuum", "--no-progress"][..],
    ] {
        let out = run(&data, args);
        assert!(!out.status.success(), "{args:?}");
        let said = stderr(&out);
        assert!(
            said.contains("no warehouse at") && said.contains("events/_delta_log"),
            "{args:?}: {said}"
        );
    }
    assert!(
        !data.exists(),
        "a reading command created {}",
        data.display()
    );

    let out = run(
        &data,
        &["load", "--no-progress", demo_file().to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run(&data, &["sql", "SELECT nope FROM runs"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("nope"), "{}", stderr(&out));
    let out = run(&data, &["sql", "SELECT count(*) FROM runz"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(r#"relation "runz" does not exist"#),
        "{}",
        stderr(&out)
    );
    let out = run(&data, &["sql", "DROP TABLE runs"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("read-only"), "{}", stderr(&out));
}

#[test]
fn a_csv_file_is_told_what_prov9_loads() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("runs.ndjson");
    std::fs::write(&csv, "run_id,state\nr1,COMPLETE\n").unwrap();
    let out = run(&dir.path().join("wh"), &["load", csv.to_str().unwrap()]);
    assert!(!out.status.success());
    let said = stderr(&out);
    assert!(
        said.contains(&format!("{}:1: not JSON", csv.display()))
            && said.contains("OpenLineage events as JSON, one object per line"),
        "{said}"
    );
}

#[test]
fn sql_output_formats() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("wh");
    assert!(
        run(&data, &["load", demo_file().to_str().unwrap()])
            .status
            .success()
    );
    let q = "SELECT name, job_type FROM jobs WHERE name = 'train_churn_model'";
    let table = stdout(&run(&data, &["sql", q]));
    assert!(
        table.contains("| train_churn_model | training |") && table.contains("(1 row)"),
        "{table}"
    );
    let json = stdout(&run(&data, &["sql", "--format", "json", q]));
    let v: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(v["job_type"], "training");
}

#[test]
fn a_line_that_is_not_utf8_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(demo_file()).unwrap();
    let mut bytes = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if i == 3 {
            bytes.extend_from_slice(&[0xff, 0xfe, b'{']);
        } else {
            bytes.extend_from_slice(line.as_bytes());
        }
        bytes.push(b'\n');
    }
    let bad = dir.path().join("latin1.ndjson");
    std::fs::write(&bad, bytes).unwrap();
    let out = run(&dir.path().join("wh"), &["load", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(&format!("{}:4: not UTF-8 text", bad.display())),
        "{}",
        stderr(&out)
    );
}
